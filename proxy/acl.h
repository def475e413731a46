/*
 * acl: who may use the proxy.  Config "allow CIDR" lines (default loopback
 * only: 127.0.0.1 and ::1), so quell is never an open proxy by default.
 * Also the loop check: an upstream address that is one of quell's own
 * listening addresses.
 */
#ifndef QUELL_ACL_H
#define QUELL_ACL_H

#include <sys/socket.h>

struct config;

/* 1 when the client address matches one of cfg's allow lines, else 0. */
int acl_allowed(const struct config *cfg, const struct sockaddr *client);

/* 1 when connecting to sa would reach one of cfg's listen addresses (same
 * port, and the same address, or a local address when quell listens on the
 * wildcard address), else 0. */
int acl_is_self(const struct config *cfg, const struct sockaddr *sa);

#endif
