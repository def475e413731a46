/*
 * policy: the request policy of the filter engine.  The contract is in
 * policy.h; this file turns engine verdicts into what the proxy does:
 *
 *   block       a neutral answer by type (block page naming the rule for a
 *               document, empty script, 1x1 GIF, empty CSS, empty 200),
 *               nothing sent to the network, not even DNS;
 *   redirect=   the named built-in resource;
 *   removeparam the upstream URL rewritten (a 302 to the clean URL for a
 *               document, so the address bar shows it);
 *   csp=        a Content-Security-Policy added to the response.
 *
 * The snapshot comes from the updater (filters/updater.h), which compiles the
 * configured lists (or loads its cached snapshot) before the workers start
 * and swaps in new ones; with `snapshot PATH` in the config, that compiled
 * file is loaded instead and never recompiled.  Each decision acquires the
 * current snapshot and releases it when done: no lock.
 *
 * Counters for the status page (blocked per list, top rules, top hosts) are
 * per worker thread, lock-free, and summed when the page is drawn.
 */
#include "proxy/policy.h"

#include "filters/engine.h"
#include "filters/html_filter.h"
#include "filters/reqctx.h"
#include "filters/resources.h"
#include "filters/updater.h"
#include "filters/url.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/http1.h"
#include "proxy/log.h"

#include <event2/buffer.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct updater *g_updater;

/* ---- status counters ------------------------------------------------------------ */

#define TOP_SLOTS 512                 /* per thread and kind; beyond, counted as "other" */
#define TOP_TEXT 120
#define MAX_THREADS 256

struct top_ent {
	_Atomic uint64_t key;             /* hash of text; 0 = free.  Set after text */
	atomic_long count;
	char text[TOP_TEXT];
};

enum { TOP_RULE, TOP_HOST, TOP_LIST, TOP_KINDS };

struct top_table {
	struct top_ent e[TOP_KINDS][TOP_SLOTS];
	atomic_long other[TOP_KINDS];
};

static struct top_table *g_tables[MAX_THREADS];
static atomic_int g_ntables;
static pthread_mutex_t g_tables_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct top_table *t_table;

static uint64_t fnv(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ? h : 1;
}

/* This thread's table, registered on first use (once per worker). */
static struct top_table *my_table(void)
{
	if (t_table)
		return t_table;
	struct top_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_lock(&g_tables_lock);
	int n = atomic_load(&g_ntables);
	if (n < MAX_THREADS) {
		g_tables[n] = t;
		atomic_store(&g_ntables, n + 1);
	} else {
		free(t);
		t = NULL;
	}
	pthread_mutex_unlock(&g_tables_lock);
	/* tables live until exit: the status page may read them at any time */
	t_table = t;
	return t;
}

static void top_count(struct top_table *t, int kind, const char *text)
{
	uint64_t k = fnv(text);
	struct top_ent *e = t->e[kind];
	for (unsigned i = 0, at = (unsigned)k % TOP_SLOTS; i < 32; i++, at = (at + 1) % TOP_SLOTS) {
		uint64_t cur = atomic_load_explicit(&e[at].key, memory_order_acquire);
		if (cur == k) {
			atomic_fetch_add_explicit(&e[at].count, 1, memory_order_relaxed);
			return;
		}
		if (cur == 0) {   /* only this thread writes its table */
			snprintf(e[at].text, sizeof(e[at].text), "%s", text);
			atomic_store_explicit(&e[at].count, 1, memory_order_relaxed);
			atomic_store_explicit(&e[at].key, k, memory_order_release);
			return;
		}
	}
	atomic_fetch_add_explicit(&t->other[kind], 1, memory_order_relaxed);
}

struct top_sum { uint64_t key; long count; const char *text; };

static int top_cmp(const void *a, const void *b)
{
	const struct top_sum *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/* Sums kind over every thread into out (malloc'd), sorted by count. */
static int top_collect(int kind, struct top_sum **out, long *other)
{
	int nt = atomic_load(&g_ntables);
	struct top_sum *v = malloc(sizeof(*v) * (size_t)(nt ? nt : 1) * TOP_SLOTS);
	int n = 0;
	*other = 0;
	if (!v)
		return -1;
	for (int t = 0; t < nt; t++) {
		struct top_table *tb = g_tables[t];
		*other += atomic_load_explicit(&tb->other[kind], memory_order_relaxed);
		for (int i = 0; i < TOP_SLOTS; i++) {
			uint64_t k = atomic_load_explicit(&tb->e[kind][i].key, memory_order_acquire);
			if (!k)
				continue;
			long c = atomic_load_explicit(&tb->e[kind][i].count, memory_order_relaxed);
			int j;
			for (j = 0; j < n && v[j].key != k; j++)
				;
			if (j == n)
				v[n++] = (struct top_sum){k, 0, tb->e[kind][i].text};
			v[j].count += c;
		}
	}
	qsort(v, (size_t)n, sizeof(*v), top_cmp);
	*out = v;
	return n;
}

static void html_text(struct evbuffer *out, const char *s)
{
	char buf[TOP_TEXT * 6 + 1];
	resources_html_escape(buf, sizeof(buf), s, strlen(s));
	evbuffer_add(out, buf, strlen(buf));
}

/* The status page section: blocked requests per list, top rules, top hosts. */
static int policy_status_section(struct evbuffer *out, const struct config *cfg)
{
	static const char *titles[TOP_KINDS] = {"Top blocking rules", "Top blocked hosts", "Blocked per list"};
	static const int limits[TOP_KINDS] = {20, 20, 50};
	evbuffer_add_printf(out, "<h2>Filtering</h2>\n");
	struct engine *e = engine_current_acquire();
	if (e) {
		const struct engine_counts *c = engine_counts(e);
		evbuffer_add_printf(out, "<p>%zu lists, %u network rules, %u cosmetic/HTML rules, %u unsupported and %u invalid lines.</p>\n",
		                    engine_list_count(e), c->network, c->cosmetic, c->cls[LISTS_UNSUPPORTED],
		                    c->cls[LISTS_INVALID]);
		engine_release(e);
	} else
		evbuffer_add_printf(out, "<p>No filter snapshot loaded.</p>\n");
	for (int k = TOP_KINDS - 1; k >= 0; k--) {
		struct top_sum *v;
		long other;
		int n = top_collect(k, &v, &other);
		if (n < 0)
			return -1;
		evbuffer_add_printf(out, "<h3>%s</h3>\n<table>\n", titles[k]);
		for (int i = 0; i < n && i < limits[k]; i++) {
			evbuffer_add_printf(out, "<tr><td>%ld</td><td><code>", v[i].count);
			html_text(out, v[i].text);
			evbuffer_add_printf(out, "</code></td></tr>\n");
		}
		if (other)
			evbuffer_add_printf(out, "<tr><td>%ld</td><td>(others)</td></tr>\n", other);
		evbuffer_add_printf(out, "</table>\n");
		free(v);
	}
	return 0;
}

/* ---- start, reload, stop -------------------------------------------------------------- */

static int load_snapshot(const char *path, char *err, size_t errlen)
{
	char why[300];
	struct engine *e = engine_load(path, why, sizeof(why));
	if (!e) {
		snprintf(err, errlen, "snapshot: %s", why);
		return -1;
	}
	/* The selector index is built now rather than by the first page. */
	if (!html_filter_index(e))
		log_msg(LOG_WARN, "filters: no memory for the selector index; pages will build it");
	engine_publish(e);
	log_msg(LOG_INFO, "filters: snapshot %s loaded (%u network rules)", path, engine_counts(e)->network);
	return 0;
}

int policy_init(const struct config *cfg, char *err, size_t errlen)
{
	static int registered;
	if (!registered) {
		admin_register_section(policy_status_section);
		registered = 1;
	}
	if (cfg->snapshot)
		return load_snapshot(cfg->snapshot, err, errlen);
	g_updater = updater_new(cfg, err, errlen);
	if (!g_updater)
		return -1;
	/* compiling left scratch memory in malloc's free lists: return it, a
	 * router has little to spare */
	malloc_trim(0);
	if (updater_start(g_updater, err, errlen) != 0) {
		updater_free(g_updater);
		g_updater = NULL;
		return -1;
	}
	return 0;
}

int policy_reload(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->snapshot)
		return load_snapshot(cfg->snapshot, err, errlen);
	if (g_updater)
		return updater_reload(g_updater, cfg, err, errlen);
	return policy_init(cfg, err, errlen);
}

void policy_shutdown(void)
{
	updater_free(g_updater);
	g_updater = NULL;
	engine_publish(NULL);
}

/* ---- deciding --------------------------------------------------------------------------- */

/* A request field by its http1_field_id (HTTP1_F_*). */
static const char *hdr(const struct policy_request *req, int id)
{
	return req->headers ? headers_get_id(req->headers, id) : NULL;
}

/* 1 when a CONNECT to the host will be tunnelled without interception
 * (interception off, or the host in intercept_bypass): its requests will
 * never be seen, so the tunnel itself is judged by its host. */
static int tunnel_is_blind(const struct policy_request *req)
{
	const struct config *cfg = req->cfg;
	if (!cfg || !cfg->intercept)
		return 1;
	size_t hl = req->host ? strlen(req->host) : 0;
	for (int i = 0; i < cfg->n_intercept_bypass; i++)
		if (url_host_is_under(req->host, hl, cfg->intercept_bypass[i], strlen(cfg->intercept_bypass[i])))
			return 1;
	return 0;
}

static void respond_item(struct policy_result *res, const struct resources_item *it)
{
	res->action = POLICY_RESPOND;
	res->status = 200;
	headers_add_str(res->headers, "Content-Type", it->content_type);
	headers_add_str(res->headers, "Cache-Control", "no-store");
	headers_add_str(res->headers, "Access-Control-Allow-Origin", "*");
	if (it->len)
		evbuffer_add(res->body, it->body, it->len);
}

static void record_block(const struct policy_request *req, struct policy_result *res, struct engine *e,
                         uint32_t rule)
{
	struct top_table *t = my_table();
	if (!t)
		return;
	top_count(t, TOP_RULE, engine_rule_text(e, rule));
	top_count(t, TOP_LIST, engine_rule_list(e, rule));
	top_count(t, TOP_HOST, req->host ? req->host : "");
}

int policy_decide(const struct policy_request *req, struct policy_result *res)
{
	res->action = POLICY_ALLOW;
	memcpy(res->verdict, "allow", sizeof "allow");   /* every request: no snprintf */
	struct engine *e = engine_current_acquire();
	if (!e)
		return 0;
	uint32_t type;
	char page[2048];
	const char *url = req->url;
	char connect_url[600];
	if (req->is_connect) {
		/* a tunnel quell will not look into can only be judged by its host */
		if (!tunnel_is_blind(req)) {
			engine_release(e);
			return 0;
		}
		snprintf(connect_url, sizeof(connect_url), "https://%s/", req->host ? req->host : "");
		url = connect_url;
		type = LISTS_T_OTHER;
		page[0] = '\0';
	} else {
		struct reqctx_fields f = {
			hdr(req, HTTP1_F_SEC_FETCH_DEST), hdr(req, HTTP1_F_SEC_FETCH_MODE),
			hdr(req, HTTP1_F_SEC_FETCH_SITE), hdr(req, HTTP1_F_ACCEPT), hdr(req, HTTP1_F_REFERER),
			hdr(req, HTTP1_F_ORIGIN), hdr(req, HTTP1_F_UPGRADE), hdr(req, HTTP1_F_PING_TO),
		};
		type = reqctx_type(url, &f);
		reqctx_page(url, type, &f, page, sizeof(page));
	}
	struct netfilter_verdict v;
	engine_match_method(e, url, type, req->method, page[0] ? page : NULL, &v);
	if (v.rule != NETFILTER_NO_RULE)
		snprintf(res->rule, sizeof(res->rule), "%s:%u %s", engine_rule_list(e, v.rule),
		         engine_rule_line(e, v.rule), engine_rule_text(e, v.rule));
	switch (v.action) {
	case NETFILTER_BLOCK:
	case NETFILTER_REDIRECT: {
		res->blocked = 1;
		snprintf(res->verdict, sizeof(res->verdict), v.action == NETFILTER_BLOCK ? "block" : "redirect");
		record_block(req, res, e, v.rule);
		const struct resources_item *it = v.action == NETFILTER_REDIRECT
		                                ? resources_find(v.resource, strlen(v.resource)) : NULL;
		if (it) {
			respond_item(res, it);
		} else if (type == LISTS_T_DOCUMENT) {
			char body[4096];
			size_t n = resources_block_page(body, sizeof(body), url, engine_rule_text(e, v.rule),
			                                engine_rule_list(e, v.rule), engine_rule_line(e, v.rule));
			res->action = POLICY_RESPOND;
			res->status = 403;
			headers_add_str(res->headers, "Content-Type", "text/html; charset=utf-8");
			headers_add_str(res->headers, "Cache-Control", "no-store");
			evbuffer_add(res->body, body, n);
		} else if (req->is_connect) {
			res->action = POLICY_RESPOND;
			res->status = 403;
			headers_add_str(res->headers, "Content-Type", "text/plain");
		} else {
			respond_item(res, resources_for_type(type));
		}
		break;
	}
	case NETFILTER_REMOVEPARAM:
		snprintf(res->verdict, sizeof(res->verdict), "removeparam");
		if (type == LISTS_T_DOCUMENT) {
			res->action = POLICY_RESPOND;
			res->status = 302;
			headers_add_str(res->headers, "Location", v.new_url);
			headers_add_str(res->headers, "Cache-Control", "no-store");
			free(v.new_url);
		} else {
			res->action = POLICY_REWRITE;
			res->new_url = v.new_url;   /* conn.c frees it */
		}
		v.new_url = NULL;
		break;
	case NETFILTER_CSP:
		snprintf(res->verdict, sizeof(res->verdict), "csp");
		headers_add_str(res->headers, "Content-Security-Policy", v.csp);
		break;
	default:
		if (v.matched == 2)
			snprintf(res->verdict, sizeof(res->verdict), "allow");
		break;
	}
	free(v.new_url);
	engine_release(e);
	return 0;
}
