/*
 * target: the request targets a forward proxy sees, parsed strictly and
 * within their bounds (the parser's slices are not NUL-terminated):
 * absolute-form URLs ("http://host:port/path?q"), authority-form
 * ("host:port" of CONNECT), and the authority written back for Host and
 * canonical URLs.  Host names are lower-cased; IPv6 literals come without
 * brackets.  Pure functions, unit-tested.
 */
#ifndef QUELL_TARGET_H
#define QUELL_TARGET_H

#include <stddef.h>

#define TARGET_HOST_MAX 256

/* Parses "host[:port]" or "[v6][:port]" (len bytes) into host (hostsz bytes,
 * NUL-terminated) and *port (def when absent).  Rejects empty or oversized
 * hosts, characters outside [A-Za-z0-9._-] (hex, ':' and '.' for IPv6),
 * ports outside 1..65535.  0/-1. */
int target_authority(const char *a, size_t len, char *host, size_t hostsz, int *port, int def);

/* Writes the authority as it goes in URLs and Host: brackets for IPv6, the
 * port only when it is not def. */
void target_authority_text(char *out, size_t n, const char *host, int port, int def);

/* Parses an absolute URL of scheme http (https = 0) or https (https = 1),
 * len bytes.  On success fills host/port and sets *path (origin-form,
 * "/" at least, fragment dropped) and *url (canonical: lower-case host,
 * default port omitted), both malloc'd for the caller.  Returns 0, or -1
 * with *why a static reason (user info, another scheme, bad authority). */
int target_parse_url(const char *u, size_t len, int https, char *host, size_t hostsz,
                     int *port, char **path, char **url, const char **why);

#endif
