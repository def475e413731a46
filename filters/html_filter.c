/*
 * html_filter: the rewriter in the proxy's body chain (see html_filter.h).
 */
#include "filters/html_filter.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/consent.h"
#include "filters/cosmetic.h"
#include "filters/engine.h"
#include "filters/rewriter.h"
#include "filters/url.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/log.h"

#define HF_MAGIC 0x48544d4cu

static _Atomic uint64_t st_pages, st_declined, st_utf16, st_removed, st_hidden, st_overflows;

struct hf_pins;
static void pins_put(struct hf_pins *p);

struct hf_state {
	unsigned magic;
	struct engine *engine;       /* reference held while the page is rewritten */
	struct cosmetic_page *page;
	struct rewriter *rw;
	int sniffed;                 /* byte-order mark checked */
	int utf16;                   /* pass everything through */
	int consent_seen;            /* a manager's banner reported (learn once) */
	struct hf_pins *pins;        /* input held by references, or NULL */
	char host[256];
};

static void report_rejected(void *arg, const struct cosmetic_rule *r, const char *why)
{
	(void)arg;
	log_msg(LOG_DEBUG, "cosmetic rule %s%s%s not used: %s", r->domains, r->exception ? "#@#" : "##",
	        r->body, why);
}

struct cosmetic *html_filter_index(struct engine *e)
{
	struct cosmetic *c = engine_attachment(e);
	if (c)
		return c;
	size_t n, nl = engine_list_count(e);
	const struct cosmetic_rule *rules = engine_cosmetic_rules(e, &n);
	const char **names = calloc(nl ? nl : 1, sizeof *names);
	if (!names)
		return NULL;
	for (size_t i = 0; i < nl; i++)
		names[i] = engine_list_name(e, i);
	/* the rules' strings are the engine's, which frees its attachment
	 * (this index) before them */
	c = cosmetic_build_ex(rules, n, names, nl, report_rejected, NULL, COSMETIC_BUILD_BORROW);
	free(names);
	if (!c)
		return NULL;
	int rc = engine_set_attachment(e, c, cosmetic_free_any);
	if (rc != 0) {
		/* another thread attached its own first (1), or no memory (-1) */
		cosmetic_free(c);
		return rc > 0 ? engine_attachment(e) : NULL;
	}
	log_msg(LOG_DEBUG, "cosmetic index: %zu rules, %zu not usable", cosmetic_n_rules(c),
	        cosmetic_n_rejected(c));
	return c;
}

int html_filter_mode(const struct config *cfg, const char *host)
{
	int mode = cfg ? cfg->cosmetic : COSMETIC_REMOVE;
	size_t best = 0, hl = strlen(host);
	for (int i = 0; cfg && i < cfg->n_cosmetic_sites; i++) {
		const char *d = cfg->cosmetic_sites[i].domain;
		size_t dl = strlen(d);
		if (url_host_is_under(host, hl, d, dl) && dl >= best) {
			best = dl;
			mode = cfg->cosmetic_sites[i].mode;
		}
	}
	return mode;
}

unsigned html_filter_page_flags(unsigned nf)
{
	unsigned f = 0;
	if (nf & (NETFILTER_PAGE_ELEMHIDE | NETFILTER_PAGE_DOCUMENT))
		f |= COSMETIC_P_ELEMHIDE;
	if (nf & NETFILTER_PAGE_GENERICHIDE)
		f |= COSMETIC_P_GENERICHIDE;
	if (nf & NETFILTER_PAGE_SPECIFICHIDE)
		f |= COSMETIC_P_SPECIFICHIDE;
	return f;
}

void html_filter_get_stats(struct html_filter_stats *st)
{
	st->pages = atomic_load(&st_pages);
	st->declined = atomic_load(&st_declined);
	st->utf16 = atomic_load(&st_utf16);
	st->removed = atomic_load(&st_removed);
	st->hidden = atomic_load(&st_hidden);
	st->overflows = atomic_load(&st_overflows);
}

/* 1 when a Content-Type header names a UTF-16/32 charset. */
static int wide_charset(const char *ct)
{
	const char *p = ct ? strcasestr(ct, "charset") : NULL;
	if (!p)
		return 0;
	p += 7;
	while (*p == ' ' || *p == '=' || *p == '"' || *p == '\'')
		p++;
	return !strncasecmp(p, "utf-16", 6) || !strncasecmp(p, "utf16", 5) || !strncasecmp(p, "utf-32", 6);
}

static void hf_close(void *state)
{
	struct hf_state *s = state;
	if (!s)
		return;
	if (s->rw) {
		struct rewriter_stats rs;
		rewriter_get_stats(s->rw, &rs);
		atomic_fetch_add(&st_removed, rs.removed);
		atomic_fetch_add(&st_hidden, rs.hidden);
		atomic_fetch_add(&st_overflows, rs.lookahead_overflows);
		if (rs.removed || rs.hidden)
			log_msg(LOG_DEBUG, "rewrite %s: %llu removed, %llu hidden, %llu -> %llu bytes", s->host,
			        (unsigned long long)rs.removed, (unsigned long long)rs.hidden,
			        (unsigned long long)rs.bytes_in, (unsigned long long)rs.bytes_out);
	}
	rewriter_free(s->rw);
	pins_put(s->pins);
	cosmetic_page_free(s->page);
	engine_release(s->engine);
	s->magic = 0;
	free(s);
}

/* Adds the nonce to every Content-Security-Policy header that blocks
 * inline styles.  Returns 0 or -1 (out of memory). */
static int fix_csp(struct headers *h, const char *nonce)
{
	int n = 0, changed = 0;
	for (int i = headers_find(h, "Content-Security-Policy", 0); i >= 0;
	     i = headers_find(h, "Content-Security-Policy", i + 1))
		n++;
	if (!n)
		return 0;
	char **vals = calloc((size_t)n, sizeof *vals);
	if (!vals)
		return -1;
	int k = 0, rc = 0;
	for (int i = headers_find(h, "Content-Security-Policy", 0); i >= 0 && k < n;
	     i = headers_find(h, "Content-Security-Policy", i + 1)) {
		int oom;
		const char *v = headers_value(h, i);
		vals[k] = rewriter_csp_add_nonce(v, nonce, &oom);
		if (oom)
			rc = -1;
		if (vals[k])
			changed = 1;
		else if (!(vals[k] = strdup(v)))
			rc = -1;
		k++;
	}
	if (rc == 0 && changed) {
		headers_del(h, "Content-Security-Policy");
		for (int i = 0; i < k && rc == 0; i++)
			rc = headers_add_str(h, "Content-Security-Policy", vals[i]);
	}
	for (int i = 0; i < k; i++)
		free(vals[i]);
	free(vals);
	return rc;
}

/* A strong ETag becomes weak: the bytes differ, the meaning does not. */
static int weaken_etag(struct headers *h)
{
	const char *et = headers_get(h, "ETag");
	if (!et || !strncmp(et, "W/", 2))
		return 0;
	size_t n = strlen(et) + 3;
	char *w = malloc(n);
	if (!w)
		return -1;
	snprintf(w, n, "W/%s", et);
	int rc = headers_set(h, "ETag", w);
	free(w);
	return rc;
}

/* The rewriter's removal report, set only while declining by cookie is
 * on: a rule removing (or hiding) one of a consent manager's own banner
 * elements means this page's host shows that manager; the worker that
 * streams the page remembers it (consent_learn), so the host's later
 * requests carry the decline even when no path of the manager is ever
 * asked for (scripts combined into one cached file).  Called only for
 * removals, so a page without any costs nothing; one with removals costs
 * a string comparison or two each. */
static void learn_banner(void *arg, const struct rewriter_removal *r)
{
	struct hf_state *s = arg;
	if (s->consent_seen || r->kept)
		return;
	int cmp = consent_banner_rule(r->rule);
	if (cmp) {
		s->consent_seen = 1;
		consent_learn(s->host, cmp);
	}
}

static int hf_open(const struct chain_msg *msg, void **state)
{
	if (strcmp(msg->content_type, "text/html") && strcmp(msg->content_type, "application/xhtml+xml"))
		return CHAIN_DECLINE;
	if (!msg->decodable || !strcmp(msg->method, "HEAD") || msg->status == 204 || msg->status == 304)
		return CHAIN_DECLINE;
	if (wide_charset(headers_get(msg->resp_headers, "Content-Type"))) {
		atomic_fetch_add(&st_utf16, 1);
		return CHAIN_DECLINE;
	}
	struct engine *e = engine_current_acquire();
	if (!e) {
		atomic_fetch_add(&st_declined, 1);
		return CHAIN_DECLINE;
	}
	unsigned flags = html_filter_page_flags(engine_page_flags(e, msg->url));
	struct cosmetic *idx = (flags & COSMETIC_P_ELEMHIDE) ? NULL : html_filter_index(e);
	if (cosmetic_n_rules(idx) == 0) {
		/* no rule at all (exempt page, no cosmetic rule in any list, or
		 * no memory for the index): the page would be empty, and
		 * cosmetic_page_new would first look up the host's public
		 * suffix (~14K instructions, a third of a plain page's proxying) */
		atomic_fetch_add(&st_declined, 1);
		engine_release(e);
		return CHAIN_DECLINE;
	}
	struct hf_state *s = calloc(1, sizeof *s);
	if (!s) {
		engine_release(e);
		return CHAIN_ERROR;
	}
	s->magic = HF_MAGIC;
	s->engine = e;
	if (url_host(msg->url, strlen(msg->url), s->host, sizeof s->host) < 0)
		s->host[0] = 0;
	s->page = cosmetic_page_new(idx, s->host, flags);
	if (!s->page) {
		hf_close(s);
		return CHAIN_ERROR;
	}
	if (cosmetic_page_empty(s->page)) {
		atomic_fetch_add(&st_declined, 1);
		hf_close(s);
		return CHAIN_DECLINE;
	}
	struct rewriter_opts o = { 0 };
	o.hide = html_filter_mode(msg->cfg, s->host) == COSMETIC_HIDE;
	o.xml = !strcmp(msg->content_type, "application/xhtml+xml");
	o.lookahead = msg->cfg ? msg->cfg->html_lookahead : 0;
	o.log_host = s->host;
	if (s->host[0] && consent_enabled(msg->cfg)) {
		o.explain = learn_banner;
		o.explain_arg = s;
	}
	s->rw = rewriter_new(s->page, &o);
	if (!s->rw || fix_csp(msg->resp_headers, rewriter_nonce(s->rw)) < 0 ||
	    weaken_etag(msg->resp_headers) < 0) {
		hf_close(s);
		return CHAIN_ERROR;
	}
	atomic_fetch_add(&st_pages, 1);
	*state = s;
	return CHAIN_ACCEPT;
}

/* The rewriter's output goes into space reserved in dst rather than
 * through evbuffer_add per piece: evbuffer_add grows buffers in chains of
 * at most 4 KiB, so a 120 KB page made ~30 chain allocations, ~30 iovecs
 * for writev and 4 KiB windows for the gzip encoder.  The space reserved
 * follows the input at hand (output is about as long), between
 * HF_OUT_MIN and HF_OUT_MAX: a page trickling in a few hundred bytes at a
 * time must not pin a 64 KiB chain per piece while a slow client reads.
 * While space is reserved nothing else may touch dst.
 *
 * Most of a page goes out as it came in: the rewriter hands back runs of
 * the input it was fed (rewriter.h: out_bytes coalesces them).  Copying
 * those runs cost a memcpy of the page into fresh memory per response
 * (120 KB page, 3 rules: 5 runs of 4-55 KB, 109 KB of the 117 KB out).
 * Instead the input is moved (not copied) into a struct hf_keep, and a run
 * of it of at least HF_REF_MIN bytes goes to dst as a reference
 * (evbuffer_add_reference) holding the keep until the client's buffer
 * has sent it.  Shorter runs and the rewriter's own bytes (held elements,
 * styles, rewritten tags) are copied as before.  A keep holds all its
 * input while any run of it is unsent, so the input held this way per
 * response is bounded (HF_PIN_MAX, struct hf_pins); past it the input is
 * copied as before. */
#define HF_OUT_MIN 1024
#define HF_OUT_MAX (64 * 1024)
#define HF_REF_MIN 4096
#define HF_PIN_MAX (1024 * 1024)

/* The input bytes kept for references, of one response: outlives the
 * filter's state when the client's buffer still holds references (the
 * response aborted or ended before the client read it).  refs: the
 * filter's state and each live keep. */
struct hf_pins {
	size_t bytes;
	unsigned refs;
};

/* One call's input, moved out of the chain's buffer and never changed
 * again (so pointers from peek stay valid): freed with the last
 * reference (the feeding call's and each reference in an output
 * buffer). */
struct hf_keep {
	struct evbuffer *buf;
	size_t len;
	unsigned refs;
	struct hf_pins *pins;
};

static void pins_put(struct hf_pins *p)
{
	if (p && --p->refs == 0)
		free(p);
}

static void keep_put(struct hf_keep *k)
{
	if (!k || --k->refs)
		return;
	k->pins->bytes -= k->len;
	pins_put(k->pins);
	evbuffer_free(k->buf);
	free(k);
}

/* evbuffer_ref_cleanup_cb: a reference to a keep's bytes was sent or
 * freed (runs on the thread that drained the buffer: the connection's). */
static void keep_unref(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	keep_put(arg);
}

/* Moves all of src into a new keep, one reference held by the caller,
 * when the response may pin that much more input.  NULL: copy instead
 * (too little input to gain, the bound reached, or out of memory). */
static struct hf_keep *keep_take(struct hf_state *s, struct evbuffer *src)
{
	size_t len = evbuffer_get_length(src);
	if (len < HF_REF_MIN)
		return NULL;
	if (!s->pins && (s->pins = calloc(1, sizeof *s->pins)))
		s->pins->refs = 1;
	if (!s->pins || s->pins->bytes + len > HF_PIN_MAX)
		return NULL;
	struct hf_keep *k = malloc(sizeof *k);
	struct evbuffer *b = k ? evbuffer_new() : NULL;
	if (!b || evbuffer_add_buffer(b, src) != 0) {
		if (b)
			evbuffer_free(b);
		free(k);
		return NULL;
	}
	*k = (struct hf_keep){ b, len, 1, s->pins };
	s->pins->bytes += len;
	s->pins->refs++;
	return k;
}

struct hf_out {
	struct evbuffer *dst;
	size_t want;                 /* space to reserve at a time */
	struct evbuffer_iovec v;     /* reserved space, v.iov_len bytes */
	size_t used;                 /* of which written */
	int reserved;
	struct hf_keep *keep;        /* the input being fed, or NULL */
	const char *in;              /* the piece of it being fed */
	size_t in_len;
};

/* Commits what was written into the reserved space.  0/-1. */
static int out_commit(struct hf_out *o)
{
	if (!o->reserved)
		return 0;
	o->reserved = 0;
	o->v.iov_len = o->used;
	return evbuffer_commit_space(o->dst, &o->v, 1);
}

/* Appends p[0..n), a run of the kept input, to o->dst by reference.
 * 0/-1. */
static int out_ref(struct hf_out *o, const char *p, size_t n)
{
	if (out_commit(o) < 0)
		return -1;
	o->keep->refs++;
	if (evbuffer_add_reference(o->dst, p, n, keep_unref, o->keep) != 0) {
		o->keep->refs--;
		return -1;
	}
	/* the copies between references are short: reserve for them anew
	 * (what is reserved past a reference is never filled) */
	o->want = HF_OUT_MIN;
	return 0;
}

/* rewriter_sink: appends p[0..n) to o->dst.  0/-1 (ENOMEM). */
static int sink_out(void *arg, const char *p, size_t n)
{
	struct hf_out *o = arg;
	if (o->keep && n >= HF_REF_MIN && p >= o->in && n <= o->in_len - (size_t)(p - o->in))
		return out_ref(o, p, n);
	if (o->reserved && o->v.iov_len - o->used >= n) {
		memcpy((char *)o->v.iov_base + o->used, p, n);
		o->used += n;
		return 0;
	}
	if (out_commit(o) < 0)
		return -1;
	if (n >= o->want / 2)
		return evbuffer_add(o->dst, p, n);
	if (evbuffer_reserve_space(o->dst, (ev_ssize_t)o->want, &o->v, 1) < 1)
		return -1;
	o->reserved = 1;
	o->used = n;
	memcpy(o->v.iov_base, p, n);
	return 0;
}

/* Feeds the rewriter every byte of in from offset 0 (in is not changed).
 * 0/-1. */
static int feed_buffer(struct hf_state *s, struct evbuffer *in, struct hf_out *o)
{
	size_t len = evbuffer_get_length(in), done = 0;
	struct evbuffer_ptr pos;
	if (evbuffer_ptr_set(in, &pos, 0, EVBUFFER_PTR_SET) != 0)
		return -1;
	while (done < len) {
		struct evbuffer_iovec v[16];
		int n = evbuffer_peek(in, -1, &pos, v, 16);
		if (n <= 0)
			return -1;
		if (n > 16)
			n = 16;
		size_t total = 0;
		for (int i = 0; i < n; i++) {
			o->in = v[i].iov_base;
			o->in_len = v[i].iov_len;
			if (rewriter_feed(s->rw, v[i].iov_base, v[i].iov_len, 0, sink_out, o) < 0)
				return -1;
			total += v[i].iov_len;
		}
		done += total;
		if (done < len && evbuffer_ptr_set(in, &pos, total, EVBUFFER_PTR_ADD) != 0)
			return -1;
	}
	o->in = NULL;
	o->in_len = 0;
	return 0;
}

/* Feeds every byte of src (and the end, with last) to the rewriter,
 * output to dst; src is left empty.  0/-1. */
static int feed_all(struct hf_state *s, struct evbuffer *src, struct evbuffer *dst, int last)
{
	size_t want = evbuffer_get_length(src) + HF_OUT_MIN;
	struct hf_out o = { dst, want < HF_OUT_MAX ? want : HF_OUT_MAX, { NULL, 0 }, 0, 0, NULL, NULL, 0 };
	o.keep = keep_take(s, src);
	int rc = feed_buffer(s, o.keep ? o.keep->buf : src, &o);
	if (rc == 0 && !o.keep)
		rc = evbuffer_drain(src, evbuffer_get_length(src));
	keep_put(o.keep);
	o.keep = NULL;
	if (rc == 0 && last)
		rc = rewriter_feed(s->rw, NULL, 0, 1, sink_out, &o);
	return out_commit(&o) < 0 ? -1 : rc;
}

static int hf_process(void *state, struct evbuffer *src, struct evbuffer *dst, int last)
{
	struct hf_state *s = state;
	if (!s->sniffed) {
		unsigned char bom[2];
		ssize_t got = evbuffer_copyout(src, bom, 2);
		if (got < 2 && !last)
			return CHAIN_NEED_MORE;
		s->sniffed = 1;
		if (got == 2 && ((bom[0] == 0xfe && bom[1] == 0xff) || (bom[0] == 0xff && bom[1] == 0xfe))) {
			s->utf16 = 1;
			atomic_fetch_add(&st_utf16, 1);
		}
	}
	if (s->utf16)
		return evbuffer_add_buffer(dst, src) < 0 ? CHAIN_ERROR : CHAIN_OK;
	return feed_all(s, src, dst, last) < 0 ? CHAIN_ERROR : CHAIN_OK;
}

const struct chain_filter chain_html_filter = {
	"html", CHAIN_F_CONTENT | CHAIN_F_PLAIN, hf_open, hf_process, hf_close,
};
