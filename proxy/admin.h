/*
 * admin: quell's own pages, served for origin-form requests to quell's
 * address (http://127.0.0.1:8228/) and for http://quell.home/ through the
 * proxy.  "/" is the status page (version, uptime, counters from stats.h);
 * other modules add pages with admin_register() (the CA download, PAC file,
 * filter statistics) and a section of the status page with
 * admin_register_section().  Registration happens before the workers start;
 * afterwards the table is read-only, so handlers run on any worker without
 * locks and must themselves only read shared state.
 */
#ifndef QUELL_ADMIN_H
#define QUELL_ADMIN_H

#include <stddef.h>
#include <sys/socket.h>

struct evbuffer;
struct headers;
struct config;

#define ADMIN_HOST "quell.home"

struct admin_request {
	const char *method;
	const char *path;                 /* "/ca.pem?x=1": path and query */
	const char *host;                 /* the Host the client used (no port) */
	const struct headers *headers;
	const struct sockaddr *local;     /* the address the client reached quell on */
	const struct config *cfg;
};

struct admin_reply {                  /* prepared by the caller */
	int status;                       /* 200 preset */
	struct headers *headers;          /* add Content-Type etc. */
	struct evbuffer *body;
};

/* A page handler.  Returns 0 (reply filled), or -1 (answer 500). */
typedef int (*admin_page_fn)(const struct admin_request *req, struct admin_reply *rep);
/* A status-page section: appends an HTML fragment to out.  0/-1. */
typedef int (*admin_section_fn)(struct evbuffer *out, const struct config *cfg);

/* Adds a page at path (exact match, query ignored) with a title for the
 * status page's index.  Before the workers start only.  0, or -1 when full. */
int admin_register(const char *path, const char *title, admin_page_fn fn);
int admin_register_section(admin_section_fn fn);

/* quell's version (main.c's quell_version), or "unknown". */
const char *admin_version(void);

/* Records the start time shown as uptime.  Called once by quell run. */
void admin_started(void);

/* 1 when host (no port) names quell's pages (quell.home). */
int admin_is_admin_host(const char *host);

/* Answers one request: a registered page, the status page, or 404.
 * Returns 0, or -1 (the caller answers 500). */
int admin_handle(const struct admin_request *req, struct admin_reply *rep);

#endif
