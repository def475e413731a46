/*
 * reqctx: request type and page from the request head.  See reqctx.h.
 */
#include "filters/reqctx.h"
#include "filters/lists.h"
#include "filters/url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int ieq(const char *a, const char *b)
{
	return a && strcasecmp(a, b) == 0;
}

static uint32_t from_dest(const char *d, const struct reqctx_fields *f)
{
	static const struct { const char *dest; uint32_t type; } t[] = {
		{"document", LISTS_T_DOCUMENT}, {"iframe", LISTS_T_SUBDOCUMENT}, {"frame", LISTS_T_SUBDOCUMENT},
		{"fencedframe", LISTS_T_SUBDOCUMENT}, {"script", LISTS_T_SCRIPT}, {"worker", LISTS_T_SCRIPT},
		{"sharedworker", LISTS_T_SCRIPT}, {"serviceworker", LISTS_T_SCRIPT},
		{"audioworklet", LISTS_T_SCRIPT}, {"paintworklet", LISTS_T_SCRIPT}, {"style", LISTS_T_STYLESHEET},
		{"xslt", LISTS_T_STYLESHEET}, {"image", LISTS_T_IMAGE}, {"font", LISTS_T_FONT},
		{"audio", LISTS_T_MEDIA}, {"video", LISTS_T_MEDIA}, {"track", LISTS_T_MEDIA},
		{"object", LISTS_T_OBJECT}, {"embed", LISTS_T_OBJECT}, {"manifest", LISTS_T_OTHER},
		{"report", LISTS_T_OTHER}, {"webidentity", LISTS_T_XHR},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (ieq(d, t[i].dest))
			return t[i].type;
	if (ieq(d, "empty")) {
		if (ieq(f->sec_fetch_mode, "websocket") || ieq(f->upgrade, "websocket"))
			return LISTS_T_WEBSOCKET;
		if (f->ping_to)
			return LISTS_T_PING;
		return LISTS_T_XHR;
	}
	return 0;
}

static uint32_t from_accept(const char *a)
{
	if (!a)
		return 0;
	/* the first media type is what the browser asks for */
	char first[64];
	size_t n = strcspn(a, ",;");
	if (n >= sizeof(first))
		n = sizeof(first) - 1;
	memcpy(first, a, n);
	first[n] = '\0';
	if (strncasecmp(first, "text/html", 9) == 0 || strncasecmp(first, "application/xhtml", 17) == 0)
		return LISTS_T_DOCUMENT;
	if (strncasecmp(first, "text/css", 8) == 0)
		return LISTS_T_STYLESHEET;
	if (strncasecmp(first, "image/", 6) == 0)
		return LISTS_T_IMAGE;
	if (strcasestr(first, "javascript") || strncasecmp(first, "application/ecmascript", 22) == 0)
		return LISTS_T_SCRIPT;
	if (strncasecmp(first, "font/", 5) == 0 || strncasecmp(first, "application/font", 16) == 0)
		return LISTS_T_FONT;
	if (strncasecmp(first, "video/", 6) == 0 || strncasecmp(first, "audio/", 6) == 0)
		return LISTS_T_MEDIA;
	if (strncasecmp(first, "application/json", 16) == 0)
		return LISTS_T_XHR;
	return 0;
}

uint32_t reqctx_type_from_extension(const char *url)
{
	struct url_parts p;
	size_t len = strlen(url);
	url_split(url, len, &p);
	size_t end = p.query_off != (size_t)-1 ? p.query_off : len;
	const char *hash = memchr(url + p.path_off, '#', end - p.path_off);
	if (hash)
		end = (size_t)(hash - url);
	size_t dot = end;
	while (dot > p.path_off && url[dot - 1] != '.' && url[dot - 1] != '/')
		dot--;
	if (dot <= p.path_off || url[dot - 1] != '.' || end - dot > 8)
		return 0;
	/* lower-cased, then compared by length and bytes: a strcasecmp per
	 * table entry was most of this function's cost */
	char ext[8];
	size_t n = end - dot;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)url[dot + i];
		ext[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
	}
	static const struct { const char *ext; unsigned char len; uint32_t type; } t[] = {
		{"js", 2, LISTS_T_SCRIPT}, {"mjs", 3, LISTS_T_SCRIPT}, {"css", 3, LISTS_T_STYLESHEET},
		{"png", 3, LISTS_T_IMAGE}, {"jpg", 3, LISTS_T_IMAGE}, {"jpeg", 4, LISTS_T_IMAGE},
		{"gif", 3, LISTS_T_IMAGE}, {"webp", 4, LISTS_T_IMAGE}, {"svg", 3, LISTS_T_IMAGE},
		{"ico", 3, LISTS_T_IMAGE}, {"bmp", 3, LISTS_T_IMAGE}, {"avif", 4, LISTS_T_IMAGE},
		{"woff", 4, LISTS_T_FONT}, {"woff2", 5, LISTS_T_FONT}, {"ttf", 3, LISTS_T_FONT},
		{"otf", 3, LISTS_T_FONT}, {"eot", 3, LISTS_T_FONT}, {"mp4", 3, LISTS_T_MEDIA},
		{"webm", 4, LISTS_T_MEDIA}, {"mp3", 3, LISTS_T_MEDIA}, {"ogg", 3, LISTS_T_MEDIA},
		{"m3u8", 4, LISTS_T_MEDIA}, {"m4a", 3, LISTS_T_MEDIA}, {"wav", 3, LISTS_T_MEDIA},
		{"html", 4, LISTS_T_DOCUMENT}, {"htm", 3, LISTS_T_DOCUMENT}, {"json", 4, LISTS_T_XHR},
		{"swf", 3, LISTS_T_OBJECT},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].len == n && t[i].ext[0] == ext[0] && memcmp(ext, t[i].ext, n) == 0)
			return t[i].type;
	return 0;
}

uint32_t reqctx_type(const char *url, const struct reqctx_fields *f)
{
	uint32_t t = from_dest(f->sec_fetch_dest, f);
	if (t)
		return t;
	if (ieq(f->upgrade, "websocket"))
		return LISTS_T_WEBSOCKET;
	if (f->ping_to)
		return LISTS_T_PING;
	if ((t = from_accept(f->accept)))
		return t;
	if ((t = reqctx_type_from_extension(url)))
		return t;
	return LISTS_T_OTHER;
}

/* "scheme://host[:port]" of url into out. */
static int origin_of(const char *url, char *out, size_t len)
{
	struct url_parts p;
	if (url_split(url, strlen(url), &p) < 0 || p.path_off + 1 > len)
		return 0;
	memcpy(out, url, p.path_off);
	out[p.path_off] = '\0';
	return 1;
}

int reqctx_page(const char *url, uint32_t type, const struct reqctx_fields *f, char *page, size_t len)
{
	if (len == 0)
		return 0;
	page[0] = '\0';
	if (type == LISTS_T_DOCUMENT)
		return origin_of(url, page, len) ? (snprintf(page, len, "%s", url), 1) : 0;
	const char *src = f->referer && strstr(f->referer, "://") ? f->referer
	                : f->origin && strstr(f->origin, "://") ? f->origin : NULL;
	if (src) {
		size_t n = strlen(src);
		if (n + 1 > len)   /* only the host matters for filtering: keep the origin */
			return origin_of(src, page, len);
		memcpy(page, src, n + 1);
		return 1;
	}
	if (ieq(f->sec_fetch_site, "same-origin") || ieq(f->sec_fetch_site, "same-site") ||
	    ieq(f->sec_fetch_site, "none"))
		return origin_of(url, page, len);
	/* cross-site without a Referer (Referrer-Policy: no-referrer): the page
	 * is unknown but is another site.  A reserved name (RFC 2606) that no
	 * rule names makes $third-party rules apply and domain= rules not. */
	if (ieq(f->sec_fetch_site, "cross-site")) {
		snprintf(page, len, "%s", REQCTX_CROSS_SITE);
		return 1;
	}
	return 0;
}
