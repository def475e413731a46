/*
 * errpage: small readable error pages (see errpage.h).
 */
#include "proxy/errpage.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reason { int status; const char *text; };

static const struct reason reasons[] = {
	{ 100, "Continue" }, { 101, "Switching Protocols" },
	{ 200, "OK" }, { 204, "No Content" }, { 301, "Moved Permanently" },
	{ 302, "Found" }, { 304, "Not Modified" }, { 400, "Bad Request" },
	{ 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 408, "Request Timeout" }, { 411, "Length Required" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 417, "Expectation Failed" }, { 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
};

const char *errpage_reason(int status)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "Unknown";
}

/* Parses the q parameter of one Accept element ("text/html;q=0"):
 * returns 0 when q is zero, else 1. */
static int q_nonzero(const char *params, size_t len)
{
	const char *q = NULL;
	for (size_t i = 0; i + 1 < len; i++)
		if ((params[i] == 'q' || params[i] == 'Q') && params[i + 1] == '=' &&
		    (i == 0 || params[i - 1] == ';' || params[i - 1] == ' '))
			q = params + i + 2;
	if (!q)
		return 1;
	return strtod(q, NULL) > 0;
}

int errpage_wants_html(const char *accept)
{
	if (!accept)
		return 0;
	const char *p = accept;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ",");
		size_t type = strcspn(p, ";,");
		while (type && p[type - 1] == ' ')
			type--;
		if ((type == 9 && !strncasecmp(p, "text/html", 9)) ||
		    (type == 6 && !strncasecmp(p, "text/*", 6)))
			return q_nonzero(p + type, n - type);
		p += n;
	}
	return 0;
}

int errpage_escape(struct evbuffer *out, const char *text, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (text[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if (evbuffer_add(out, text + start, i - start) || evbuffer_add(out, rep, strlen(rep)))
			return -1;
		start = i + 1;
	}
	return evbuffer_add(out, text + start, len - start);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	"<meta name=\"viewport\" content=\"width=device-width\">"
	"<title>%d %s</title><style>body{font:16px/1.5 sans-serif;max-width:40em;"
	"margin:3em auto;padding:0 1em;color:#222}h1{font-size:1.4em}"
	"p.q{color:#888;font-size:.85em}</style></head>\n<body><h1>%d %s</h1>\n<p>";

int errpage_body(struct evbuffer *body, int status, const char *detail,
                 int html, const char **content_type)
{
	const char *reason = errpage_reason(status);
	if (!detail)
		detail = "";
	if (!html) {
		*content_type = "text/plain; charset=utf-8";
		return evbuffer_add_printf(body, "%d %s\n%s\n", status, reason, detail) < 0 ? -1 : 0;
	}
	*content_type = "text/html; charset=utf-8";
	if (evbuffer_add_printf(body, html_head, status, reason, status, reason) < 0 ||
	    errpage_escape(body, detail, strlen(detail)) ||
	    evbuffer_add_printf(body, "</p>\n<p class=\"q\">quell</p></body></html>\n") < 0)
		return -1;
	return 0;
}
