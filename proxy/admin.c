/*
 * admin: quell's own pages (see admin.h).  The status page is built on
 * every request from the summed counters; it is small and never cached.
 */
#include "proxy/admin.h"
#include "proxy/errpage.h"
#include "proxy/headers.h"
#include "proxy/stats.h"

#include <event2/buffer.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The version string lives in main.o only (rebuilt on every make); main.c
 * defines quell_version.  Weak, so unit tests linking without main.o get
 * "unknown" instead of a link error. */
extern const char quell_version[] __attribute__((weak));

const char *admin_version(void)
{
	return quell_version ? quell_version : "unknown";
}

#define ADMIN_MAX_PAGES 32
#define ADMIN_MAX_SECTIONS 16

struct page {
	const char *path;
	const char *title;
	admin_page_fn fn;
};

static struct page pages[ADMIN_MAX_PAGES];
static int n_pages;
static admin_section_fn sections[ADMIN_MAX_SECTIONS];
static int n_sections;
static _Atomic time_t started;

int admin_register(const char *path, const char *title, admin_page_fn fn)
{
	if (n_pages == ADMIN_MAX_PAGES)
		return -1;
	pages[n_pages++] = (struct page){ path, title, fn };
	return 0;
}

int admin_register_section(admin_section_fn fn)
{
	if (n_sections == ADMIN_MAX_SECTIONS)
		return -1;
	sections[n_sections++] = fn;
	return 0;
}

void admin_started(void)
{
	atomic_store(&started, time(NULL));
}

int admin_is_admin_host(const char *host)
{
	return host && strcasecmp(host, ADMIN_HOST) == 0;
}

static long uptime_s(void)
{
	time_t t0 = atomic_load(&started);
	return t0 ? (long)(time(NULL) - t0) : 0;
}

/* The counters as "name value" lines: for scripts and tests. */
static int status_text(const struct admin_request *req, struct admin_reply *rep)
{
	headers_set(rep->headers, "Content-Type", "text/plain; charset=utf-8");
	evbuffer_add_printf(rep->body, "version %s\nuptime %ld\n", admin_version(), uptime_s());
	for (int c = 0; c < STATS__COUNT; c++)
		evbuffer_add_printf(rep->body, "%s %lld\n", stats_name(c), (long long)stats_sum(c));
	return 0;
}

static int status_html(const struct admin_request *req, struct admin_reply *rep)
{
	struct evbuffer *b = rep->body;
	long up = uptime_s();
	headers_set(rep->headers, "Content-Type", "text/html; charset=utf-8");
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
		"<title>quell</title><style>body{font:16px/1.5 sans-serif;max-width:44em;"
		"margin:2em auto;padding:0 1em}td{padding:0 1em 0 0}</style></head><body>\n"
		"<h1>quell</h1>\n<p>Version %s, up %ldd %02ld:%02ld:%02ld.</p>\n<table>\n",
		admin_version(), up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
	for (int c = 0; c < STATS__COUNT; c++)
		evbuffer_add_printf(b, "<tr><td>%s</td><td>%lld</td></tr>\n",
		                    stats_name(c), (long long)stats_sum(c));
	evbuffer_add_printf(b, "</table>\n");
	for (int i = 0; i < n_sections; i++)
		if (sections[i](b, req->cfg) != 0)
			return -1;
	if (n_pages) {
		evbuffer_add_printf(b, "<ul>\n");
		for (int i = 0; i < n_pages; i++) {
			evbuffer_add_printf(b, "<li><a href=\"%s\">", pages[i].path);
			errpage_escape(b, pages[i].title, strlen(pages[i].title));
			evbuffer_add_printf(b, "</a></li>\n");
		}
		evbuffer_add_printf(b, "</ul>\n");
	}
	evbuffer_add_printf(b, "<p><a href=\"/status.txt\">counters as text</a></p></body></html>\n");
	return 0;
}

static int not_found(const struct admin_request *req, struct admin_reply *rep)
{
	const char *type;
	int html = errpage_wants_html(headers_get(req->headers, "Accept"));
	rep->status = 404;
	if (errpage_body(rep->body, 404, "quell has no page at this address.", html, &type))
		return -1;
	return headers_set(rep->headers, "Content-Type", type);
}

int admin_handle(const struct admin_request *req, struct admin_reply *rep)
{
	size_t plen = strcspn(req->path, "?#");
	for (int i = 0; i < n_pages; i++)
		if (strlen(pages[i].path) == plen && !strncmp(pages[i].path, req->path, plen))
			return pages[i].fn(req, rep);
	headers_set(rep->headers, "Cache-Control", "no-store");
	if (plen == 1 && req->path[0] == '/')
		return status_html(req, rep);
	if (plen == 11 && !strncmp(req->path, "/status.txt", 11))
		return status_text(req, rep);
	return not_found(req, rep);
}
