/*
 * url: splits an absolute URL into scheme, host, port and path without
 * copying, and lowercases host names.  Shared by the filter engine (network
 * matching, party, domain= options), the request context and the proxy.
 *
 * The splitter is deliberately lenient, like a browser's address bar is for
 * the URLs filter lists see: it never allocates, never fails on odd
 * characters, and reports only what it could find.  It is not a validator.
 */
#ifndef QUELL_URL_H
#define QUELL_URL_H

#include <stddef.h>

struct url_parts {
	size_t scheme_len;   /* "https" (without ':'); 0 when the URL has no scheme */
	size_t host_off;     /* host: url[host_off .. host_off+host_len) */
	size_t host_len;     /* without brackets for IPv6 literals; 0 when absent */
	int port;            /* explicit port, or the scheme's default, or 0 */
	size_t path_off;     /* path+query+fragment start ('/', '?', '#' or end) */
	size_t query_off;    /* '?' position, or (size_t)-1 */
};

/* Splits url[0..len) (scheme://[userinfo@]host[:port]/path?query#frag).
 * A URL without "://" has no host (host_len 0).  Returns 0 when a host was
 * found, -1 otherwise (*out is still filled as far as possible). */
int url_split(const char *url, size_t len, struct url_parts *out);

/* Copies the host of url into dst (NUL-terminated, lowercased, trailing dot
 * dropped).  Returns the host length, or -1 when there is no host or it
 * does not fit in dstlen. */
int url_host(const char *url, size_t len, char *dst, size_t dstlen);

/* Lowercases ASCII letters of s[0..len) in place. */
void url_lower(char *s, size_t len);

/* 1 when host (lowercase) is host_or_parent itself or one of its
 * subdomains ("a.b.com" is under "b.com", "ab.com" is not). */
int url_host_is_under(const char *host, size_t hlen, const char *parent, size_t plen);

/* 1 when the host is an IPv4 or IPv6 literal (IPv6 without brackets). */
int url_host_is_ip(const char *host, size_t hlen);

#endif
