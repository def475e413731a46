/*
 * resources: built-in redirect resources and block responses.  The bodies
 * are those of uBO's web_accessible_resources (the same bytes: a 1x1
 * transparent GIF, minimal PNGs, a silent MP3/MP4 header), kept small.
 */
#include "filters/resources.h"
#include "filters/lists.h"

#include <stdio.h>
#include <string.h>

static const unsigned char gif_1x1[] = {
	0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};
/* Transparent RGBA PNGs of the sizes uBO ships (valid CRCs, deflated IDAT). */
static const unsigned char png_2x2[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00, 0x00, 0x00, 0x72, 0xb6, 0x0d,
	0x24, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0x40, 0x07, 0x00,
	0x00, 0x12, 0x00, 0x01, 0xe4, 0x55, 0x8d, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
	0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_3x2[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x06, 0x00, 0x00, 0x00, 0x9d, 0x74, 0x66,
	0x1a, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60, 0xc0, 0x05, 0x00,
	0x00, 0x1a, 0x00, 0x01, 0x2f, 0x98, 0x97, 0xa6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
	0xae, 0x42, 0x60, 0x82,
};
static const unsigned char png_32x32[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
	0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x08, 0x06, 0x00, 0x00, 0x00, 0x73, 0x7a, 0x7a,
	0xf4, 0x00, 0x00, 0x00, 0x1a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xed, 0xc1, 0x01, 0x01, 0x00,
	0x00, 0x00, 0x82, 0x20, 0xff, 0xaf, 0x6e, 0x48, 0x40, 0x01, 0x00, 0x00, 0x00, 0xef, 0x06, 0x10,
	0x20, 0x00, 0x01, 0xc9, 0xb5, 0xc3, 0xb1, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
	0x42, 0x60, 0x82,
};
/* A 0.1 s silent MPEG-1 layer III frame sequence (uBO's noop-0.1s.mp3 head). */
static const unsigned char mp3_silent[] = {
	0xff, 0xfb, 0x10, 0xc4, 0x00, 0x03, 0xc0, 0x00, 0x01, 0xa4, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00,
	0x34, 0x80, 0x00, 0x00, 0x04, 0x4c, 0x41, 0x4d, 0x45, 0x33, 0x2e, 0x31, 0x30, 0x30, 0x55, 0x55,
	0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
};
/* An MP4 with only an ftyp box: players treat it as an empty, ended video. */
static const unsigned char mp4_empty[] = {
	0x00, 0x00, 0x00, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d, 0x00, 0x00, 0x02, 0x00,
	0x69, 0x73, 0x6f, 0x6d, 0x69, 0x73, 0x6f, 0x32,
};

#define TXT(s) (const unsigned char *)(s), sizeof(s) - 1
static const struct resources_item items[] = {
	{"noop.js", "application/javascript", TXT("(function() {\n    'use strict';\n})();\n")},
	{"1x1.gif", "image/gif", gif_1x1, sizeof(gif_1x1)},
	{"2x2.png", "image/png", png_2x2, sizeof(png_2x2)},
	{"3x2.png", "image/png", png_3x2, sizeof(png_3x2)},
	{"32x32.png", "image/png", png_32x32, sizeof(png_32x32)},
	{"noop.html", "text/html", TXT("<!DOCTYPE html>\n<html><head></head><body></body></html>\n")},
	{"noop.txt", "text/plain", TXT("")},
	{"empty", "text/plain", TXT("")},
	{"noop-0.1s.mp3", "audio/mpeg", mp3_silent, sizeof(mp3_silent)},
	{"noop-1s.mp4", "video/mp4", mp4_empty, sizeof(mp4_empty)},
	{"noop.css", "text/css", TXT("")},
	{"noop.json", "application/json", TXT("{}")},
	{"noop-vmap1.xml", "application/xml",
	 TXT("<vmap:VMAP xmlns:vmap=\"http://www.iab.net/videosuite/vmap\" version=\"1.0\"></vmap:VMAP>")},
	{"noop-vast2.xml", "application/xml", TXT("<VAST version=\"2.0\"></VAST>")},
	{"noop-vast3.xml", "application/xml", TXT("<VAST version=\"3.0\"></VAST>")},
	{"noop-vast4.xml", "application/xml", TXT("<VAST version=\"4.0\"></VAST>")},
	{"nooptext", "text/plain", TXT("")},
};

/* uBO's aliases (redirect-engine.js) and ABP's rewrite=abp-resource: names. */
static const struct { const char *alias, *name; } aliases[] = {
	{"noopjs", "noop.js"}, {"abp-resource:blank-js", "noop.js"}, {"blank-js", "noop.js"},
	{"1x1-transparent.gif", "1x1.gif"}, {"abp-resource:1x1-transparent-gif", "1x1.gif"},
	{"2x2-transparent.png", "2x2.png"}, {"abp-resource:2x2-transparent-png", "2x2.png"},
	{"3x2-transparent.png", "3x2.png"}, {"abp-resource:3x2-transparent-png", "3x2.png"},
	{"32x32-transparent.png", "32x32.png"}, {"abp-resource:32x32-transparent-png", "32x32.png"},
	{"noopframe", "noop.html"}, {"abp-resource:blank-html", "noop.html"}, {"blank-html", "noop.html"},
	{"abp-resource:blank-text", "noop.txt"}, {"blank-text", "noop.txt"},
	{"noopmp3-0.1s", "noop-0.1s.mp3"}, {"abp-resource:blank-mp3", "noop-0.1s.mp3"},
	{"noopmp4-1s", "noop-1s.mp4"}, {"abp-resource:blank-mp4", "noop-1s.mp4"},
	{"noopcss", "noop.css"}, {"abp-resource:blank-css", "noop.css"},
	{"noopjson", "noop.json"}, {"noopvmap-1.0", "noop-vmap1.xml"}, {"noopvmap-1.00", "noop-vmap1.xml"},
	{"noopvast-2.0", "noop-vast2.xml"}, {"noopvast-3.0", "noop-vast3.xml"}, {"noopvast-4.0", "noop-vast4.xml"},
	{"none", "empty"},
};

static const struct resources_item *by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (strlen(items[i].name) == len && memcmp(items[i].name, name, len) == 0)
			return &items[i];
	return NULL;
}

const struct resources_item *resources_find(const char *name, size_t len)
{
	const struct resources_item *it = by_name(name, len);
	if (it)
		return it;
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strlen(aliases[i].alias) == len && memcmp(aliases[i].alias, name, len) == 0)
			return by_name(aliases[i].name, strlen(aliases[i].name));
	return NULL;
}

const struct resources_item *resources_for_type(uint32_t type)
{
	static const struct resources_item script = {"blocked.js", "application/javascript", TXT("")};
	static const struct resources_item css = {"blocked.css", "text/css", TXT("")};
	static const struct resources_item empty = {"blocked", "text/plain", TXT("")};
	if (type & LISTS_T_SCRIPT)
		return &script;
	if (type & LISTS_T_IMAGE)
		return by_name("1x1.gif", 7);
	if (type & LISTS_T_STYLESHEET)
		return &css;
	if (type & LISTS_T_SUBDOCUMENT)
		return by_name("noop.html", 9);
	return &empty;
}

size_t resources_html_escape(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t o = 0;
	if (dstlen == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (src[i]) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		}
		size_t n = rep ? strlen(rep) : 1;
		if (o + n + 1 > dstlen)
			break;
		if (rep) memcpy(dst + o, rep, n);
		else dst[o] = src[i];
		o += n;
	}
	dst[o] = '\0';
	return o;
}

size_t resources_block_page(char *dst, size_t dstlen, const char *url,
                            const char *rule, const char *list, unsigned line)
{
	char eu[1024], er[1024], el[256];
	resources_html_escape(eu, sizeof(eu), url ? url : "", url ? strlen(url) : 0);
	resources_html_escape(er, sizeof(er), rule ? rule : "", rule ? strlen(rule) : 0);
	resources_html_escape(el, sizeof(el), list ? list : "", list ? strlen(list) : 0);
	int n = snprintf(dst, dstlen,
	                 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	                 "<title>Blocked by quell</title></head>\n<body>\n"
	                 "<h1>Page blocked</h1>\n<p>quell blocked <code>%s</code>.</p>\n"
	                 "<p>Rule: <code>%s</code><br>List: %s, line %u</p>\n</body></html>\n",
	                 eu, er, el, line);
	if (n < 0)
		return 0;
	if ((size_t)n >= dstlen)
		return dstlen ? dstlen - 1 : 0;
	return (size_t)n;
}
