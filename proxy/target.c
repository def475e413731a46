/*
 * target: request targets (see target.h).  Hand-written: a URL library
 * (libcurl's curl_url, uriparser) would accept far more than a proxy should
 * forward and is not in the build's dependencies; the grammar needed here
 * is small.
 */
#include "proxy/target.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int host_char(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '.' || ch == '_';
}

/* Returns the port of "digits" (len bytes) or -1. */
static int parse_port(const char *s, size_t len)
{
	long p = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t k = 0; k < len; k++) {
		if (!isdigit((unsigned char)s[k]))
			return -1;
		p = p * 10 + (s[k] - '0');
	}
	return p >= 1 && p <= 65535 ? (int)p : -1;
}

int target_authority(const char *a, size_t len, char *host, size_t hostsz, int *port, int def)
{
	size_t hlen, i = 0;
	const char *h = a;
	if (len && a[0] == '[') {
		const char *end = memchr(a, ']', len);
		if (!end)
			return -1;
		h = a + 1;
		hlen = (size_t)(end - h);
		i = (size_t)(end - a) + 1;
		for (size_t k = 0; k < hlen; k++)
			if (!isxdigit((unsigned char)h[k]) && h[k] != ':' && h[k] != '.')
				return -1;
	} else {
		while (i < len && a[i] != ':')
			i++;
		hlen = i;
		for (size_t k = 0; k < hlen; k++)
			if (!host_char((unsigned char)h[k]))
				return -1;
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	for (size_t k = 0; k < hlen; k++)
		host[k] = (char)tolower((unsigned char)h[k]);
	host[hlen] = 0;
	*port = def;
	if (i == len)
		return 0;
	if (a[i] != ':' || (*port = parse_port(a + i + 1, len - i - 1)) < 0)
		return -1;
	return 0;
}

/* Appends s[0..len) to out (n bytes) at *at, cutting like snprintf. */
static void put(char *out, size_t n, size_t *at, const char *s, size_t len)
{
	if (*at + 1 >= n)
		return;
	if (len > n - 1 - *at)
		len = n - 1 - *at;
	memcpy(out + *at, s, len);
	*at += len;
}

/* Built by hand rather than with snprintf: it runs for every request, and
 * formatting cost more than the rest of the URL parse. */
void target_authority_text(char *out, size_t n, const char *host, int port, int def)
{
	size_t at = 0;
	int v6 = strchr(host, ':') != NULL;
	if (n == 0)
		return;
	if (v6)
		put(out, n, &at, "[", 1);
	put(out, n, &at, host, strlen(host));
	if (v6)
		put(out, n, &at, "]", 1);
	if (port != def) {
		char num[16], *d = num + sizeof num;
		unsigned v = port < 0 ? 0u - (unsigned)port : (unsigned)port;
		do
			*--d = (char)('0' + v % 10);
		while ((v /= 10));
		if (port < 0)
			*--d = '-';
		put(out, n, &at, ":", 1);
		put(out, n, &at, d, (size_t)(num + sizeof num - d));
	}
	out[at] = 0;
}

int target_parse_url(const char *u, size_t n, int https, char *host, size_t hostsz,
                     int *port, char **path, char **url, const char **why)
{
	const char *scheme = https ? "https://" : "http://";
	size_t slen = strlen(scheme), alen = 0;
	int def = https ? 443 : 80;
	*path = *url = NULL;
	*why = "malformed URL";
	if (!https && n >= 8 && !strncasecmp(u, "https://", 8)) {
		*why = "https URLs go through CONNECT";
		return -1;
	}
	if (n < slen || strncasecmp(u, scheme, slen) != 0) {
		*why = https ? "inside HTTPS, URLs are https" : "only http URLs can be proxied";
		return -1;
	}
	const char *a = u + slen, *end = u + n;
	while (a + alen < end && a[alen] != '/' && a[alen] != '?' && a[alen] != '#')
		alen++;
	if (memchr(a, '@', alen)) {
		*why = "user names in URLs are not supported";
		return -1;
	}
	if (target_authority(a, alen, host, hostsz, port, def) != 0)
		return -1;
	const char *p = a + alen, *hash = memchr(p, '#', (size_t)(end - p));
	size_t plen = (size_t)((hash ? hash : end) - p);
	plen = strnlen(p, plen);             /* as "%.*s" did */
	char auth[TARGET_HOST_MAX + 16];
	target_authority_text(auth, sizeof auth, host, *port, def);
	size_t authlen = strlen(auth);
	int slash = plen == 0 || p[0] != '/';
	size_t palen = (size_t)slash + plen;
	char *pa = malloc(palen + 1), *ur = malloc(slen + authlen + palen + 1);
	if (!pa || !ur) {
		free(pa);
		free(ur);
		*why = "out of memory";
		return -1;
	}
	if (slash)
		pa[0] = '/';
	memcpy(pa + slash, p, plen);
	pa[palen] = 0;
	memcpy(ur, scheme, slen);
	memcpy(ur + slen, auth, authlen);
	memcpy(ur + slen + authlen, pa, palen + 1);
	*path = pa;
	*url = ur;
	return 0;
}
