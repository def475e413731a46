/*
 * url: the lenient URL splitter.  Hand-written because libevent's
 * evhttp_uri_parse allocates and rejects characters real filter-list URLs
 * contain (spaces, '|', raw UTF-8), and it runs once per request on the hot
 * path, where an allocation-free scan is what we want.
 */
#include "filters/url.h"

#include <string.h>

static int default_port(const char *s, size_t n)
{
	if (n == 4 && strncasecmp(s, "http", 4) == 0) return 80;
	if (n == 5 && strncasecmp(s, "https", 5) == 0) return 443;
	if (n == 2 && strncasecmp(s, "ws", 2) == 0) return 80;
	if (n == 3 && strncasecmp(s, "wss", 3) == 0) return 443;
	if (n == 3 && strncasecmp(s, "ftp", 3) == 0) return 21;
	return 0;
}

int url_split(const char *url, size_t len, struct url_parts *out)
{
	memset(out, 0, sizeof(*out));
	out->query_off = (size_t)-1;
	size_t i = 0;
	while (i < len && (url[i] == '+' || url[i] == '-' || url[i] == '.' ||
	                   (url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
	                   (url[i] >= '0' && url[i] <= '9')))
		i++;
	if (i == 0 || i + 3 > len || url[i] != ':' || url[i + 1] != '/' || url[i + 2] != '/') {
		/* no authority: everything is path */
		out->path_off = 0;
		const char *q = memchr(url, '?', len);
		if (q) out->query_off = (size_t)(q - url);
		return -1;
	}
	out->scheme_len = i;
	size_t a = i + 3, end = a;
	while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
		end++;
	/* userinfo: the last '@' of the authority */
	for (size_t k = end; k > a; k--)
		if (url[k - 1] == '@') { a = k; break; }
	size_t hs = a, he = end;
	int port = default_port(url, i);
	if (hs < he && url[hs] == '[') {
		const char *rb = memchr(url + hs, ']', he - hs);
		if (rb) {
			he = (size_t)(rb - url);
			hs++;
			if (he + 1 < end && url[he + 1] == ':') {
				int p = 0;
				for (size_t k = he + 2; k < end && url[k] >= '0' && url[k] <= '9' && p < 65536; k++)
					p = p * 10 + (url[k] - '0');
				port = p;
			}
		}
	} else {
		const char *c = memchr(url + hs, ':', he - hs);
		if (c) {
			size_t k = (size_t)(c - url) + 1;
			he = (size_t)(c - url);
			int p = 0;
			for (; k < end && url[k] >= '0' && url[k] <= '9' && p < 65536; k++)
				p = p * 10 + (url[k] - '0');
			port = p;
		}
	}
	out->host_off = hs;
	out->host_len = he - hs;
	out->port = port;
	out->path_off = end;
	const char *q = end < len ? memchr(url + end, '?', len - end) : NULL;
	if (q) {
		const char *h = memchr(url + end, '#', (size_t)(q - (url + end)));
		if (!h) out->query_off = (size_t)(q - url);
	}
	return out->host_len ? 0 : -1;
}

int url_host(const char *url, size_t len, char *dst, size_t dstlen)
{
	struct url_parts p;
	if (url_split(url, len, &p) < 0)
		return -1;
	size_t n = p.host_len;
	if (n && url[p.host_off + n - 1] == '.')
		n--;
	if (n == 0 || n + 1 > dstlen)
		return -1;
	memcpy(dst, url + p.host_off, n);
	dst[n] = '\0';
	url_lower(dst, n);
	return (int)n;
}

void url_lower(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] + 32);
}

int url_host_is_under(const char *host, size_t hlen, const char *parent, size_t plen)
{
	if (plen == 0 || plen > hlen)
		return 0;
	if (memcmp(host + hlen - plen, parent, plen) != 0)
		return 0;
	return plen == hlen || host[hlen - plen - 1] == '.';
}

int url_host_is_ip(const char *host, size_t hlen)
{
	if (hlen == 0)
		return 0;
	if (memchr(host, ':', hlen))
		return 1;
	int dots = 0;
	for (size_t i = 0; i < hlen; i++) {
		if (host[i] == '.') dots++;
		else if (host[i] < '0' || host[i] > '9') return 0;
	}
	return dots == 3;
}
