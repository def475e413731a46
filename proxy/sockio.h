/*
 * sockio: reading a plain socket bufferevent in large pieces.
 *
 * libevent 2.1 reads at most 4 KiB per call on a socket (EVBUFFER_MAX_READ
 * in buffer.c), so a fast peer costs a loop pass, a read and often a write
 * per 4 KiB.  sockio_slurp() reads what the socket has, up to a bound,
 * straight into the bufferevent's input.  Used by conn.c (bodies) and
 * tunnel.c.  Not for TLS bufferevents (OpenSSL reads the socket itself).
 */
#ifndef QUELL_SOCKIO_H
#define QUELL_SOCKIO_H

#include <stddef.h>
#include <sys/types.h>

struct bufferevent;

/* Reads up to room bytes from bev's socket into its input buffer (whose end
 * a bufferevent keeps frozen: it is thawed around the read, as libevent does
 * around its own).  Returns the bytes read, 0 when there was nothing (or no
 * room; EOF included: libevent reports it on its next read, since an EOF
 * stays readable), or -1 on a socket error (errno set): an error is reported
 * once by the kernel, so the caller must act on it now. */
ssize_t sockio_slurp(struct bufferevent *bev, size_t room);

#endif
