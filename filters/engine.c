/*
 * engine: compiled snapshots and the current one.  See engine.h.
 */
#include "filters/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENGINE_MAGIC 0x454e474eu          /* "ENGN", checked at API entry */
#define SNAP_VERSION 1u
static const char snap_magic[8] = {'Q', 'U', 'E', 'L', 'L', 'S', 'N', 'P'};

struct snap_hdr {                         /* the file starts with this */
	char magic[8];
	uint32_t version;
	uint32_t layout;                      /* sizeof(struct snap_hdr) | byte order mark */
	uint64_t size;
	uint64_t nf_off, nf_len;
	uint64_t cosm_off, lists_off, pool_off, pool_len;
	uint32_t n_cosm, n_lists;
	struct engine_counts counts;
};

struct snap_cosm {                        /* a struct cosmetic_rule, as offsets */
	uint32_t body_off, domains_off, line;
	uint16_t list_id;
	uint8_t kind, exception;
};

struct snap_list {
	uint32_t name_off, path_off, rules, pad;
};

#define SNAP_LAYOUT ((uint32_t)sizeof(struct snap_hdr) | 0x01020000u)

struct attachment {
	void *ptr;
	void (*free_fn)(void *);
};

struct engine {
	uint32_t magic;
	atomic_long refs;
	char *blob;                           /* the snapshot block, malloc'd */
	size_t len;
	const struct snap_hdr *h;
	struct netfilter *nf;
	struct cosmetic_rule *cosm;           /* pointers into blob */
	const struct snap_list *lists;
	const char *pool;
	_Atomic(struct attachment *) attach;
};

/* ---- building ------------------------------------------------------------------ */

struct sbuf { char *p; size_t n, cap; };

static int sb_reserve(struct sbuf *b, size_t more)
{
	if (b->n + more <= b->cap)
		return 0;
	size_t nc = b->cap ? b->cap : 4096;
	while (nc < b->n + more)
		nc *= 2;
	char *np = realloc(b->p, nc);
	if (!np)
		return -1;
	b->p = np;
	b->cap = nc;
	return 0;
}

/* Appends s[0..n) plus a NUL.  Returns the offset or UINT32_MAX. */
static uint32_t sb_str(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > UINT32_MAX || sb_reserve(b, n + 1) < 0)
		return UINT32_MAX;
	uint32_t off = (uint32_t)b->n;
	if (n)
		memcpy(b->p + b->n, s, n);
	b->p[b->n + n] = '\0';
	b->n += n + 1;
	return off;
}

struct build {
	struct netfilter_builder *nb;
	struct sbuf pool;                     /* cosmetic strings, list names */
	struct sbuf cosm;                     /* struct snap_cosm */
	struct engine_counts counts;
	uint32_t *list_rules;
	uint16_t list_id;
	engine_report_fn report;
	void *arg;
	int oom;
};

static int build_cb(void *arg, const struct lists_rule *r)
{
	struct build *b = arg;
	b->counts.lines++;
	if (r->cls >= 0 && r->cls < LISTS_N_CLASSES)
		b->counts.cls[r->cls]++;
	switch (r->cls) {
	case LISTS_NETWORK: {
		const char *why;
		int rc = netfilter_builder_add(b->nb, r, b->list_id, &why);
		if (rc < 0) {
			b->oom = 1;
			return 1;
		}
		if (rc > 0) {
			b->counts.rejected++;
			if (b->report) {
				struct lists_rule bad = *r;
				bad.cls = LISTS_INVALID;
				bad.reason = why;
				bad.detail = NULL;
				bad.detail_len = 0;
				b->report(b->arg, &bad);
			}
			break;
		}
		b->counts.network++;
		b->list_rules[b->list_id]++;
		break;
	}
	case LISTS_COSMETIC:
	case LISTS_HTML: {
		struct snap_cosm c;
		memset(&c, 0, sizeof(c));
		c.body_off = sb_str(&b->pool, r->cosm_body, r->cosm_body_len);
		c.domains_off = sb_str(&b->pool, r->cosm_domains ? r->cosm_domains : "", r->cosm_domains_len);
		if (c.body_off == UINT32_MAX || c.domains_off == UINT32_MAX || sb_reserve(&b->cosm, sizeof(c)) < 0) {
			b->oom = 1;
			return 1;
		}
		c.line = r->line;
		c.list_id = b->list_id;
		c.kind = (uint8_t)r->cosm_kind;
		c.exception = (uint8_t)r->cosm_exception;
		memcpy(b->cosm.p + b->cosm.n, &c, sizeof(c));
		b->cosm.n += sizeof(c);
		b->counts.cosmetic++;
		b->list_rules[b->list_id]++;
		break;
	}
	case LISTS_UNSUPPORTED:
	case LISTS_INVALID:
		if (b->report)
			b->report(b->arg, r);
		break;
	default:
		break;
	}
	return 0;
}

static size_t al8(size_t n) { return (n + 7) & ~(size_t)7; }

static struct engine *engine_from_blob(char *blob, size_t len, char *err, size_t errlen);

struct engine *engine_build_ex(const struct lists_source *src, size_t n, engine_report_fn report,
                               void *arg, char *err, size_t errlen)
{
	struct build b;
	memset(&b, 0, sizeof(b));
	b.report = report;
	b.arg = arg;
	struct engine *e = NULL;
	void *nfblob = NULL;
	size_t nflen = 0;
	struct snap_list *lists = NULL;
	if (n > UINT16_MAX) {
		snprintf(err, errlen, "too many lists (%zu)", n);
		return NULL;
	}
	b.nb = netfilter_builder_new();
	b.list_rules = calloc(n ? n : 1, sizeof(uint32_t));
	lists = calloc(n ? n : 1, sizeof(*lists));
	if (!b.nb || !b.list_rules || !lists || sb_str(&b.pool, "", 0) == UINT32_MAX)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		b.list_id = (uint16_t)i;
		const char *name = src[i].name ? src[i].name : src[i].path ? src[i].path : "(buffer)";
		lists[i].name_off = sb_str(&b.pool, name, strlen(name));
		lists[i].path_off = sb_str(&b.pool, src[i].path ? src[i].path : "", src[i].path ? strlen(src[i].path) : 0);
		if (lists[i].name_off == UINT32_MAX || lists[i].path_off == UINT32_MAX)
			goto oom;
		if (lists_parse(&src[i], build_cb, &b) < 0) {
			snprintf(err, errlen, "%s: %s", src[i].path ? src[i].path : name, strerror(errno));
			goto fail;
		}
		if (b.oom)
			goto oom;
	}
	for (size_t i = 0; i < n; i++)
		lists[i].rules = b.list_rules[i];
	if (netfilter_build(b.nb, &nfblob, &nflen) < 0)
		goto oom;
	/* the snapshot block: header, netfilter blob, cosmetic records, lists, pool */
	struct snap_hdr h;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, snap_magic, sizeof(h.magic));
	h.version = SNAP_VERSION << 16 | netfilter_format();
	h.layout = SNAP_LAYOUT;
	size_t off = al8(sizeof(h));
	h.nf_off = off;    h.nf_len = nflen;   off = al8(off + nflen);
	h.cosm_off = off;  h.n_cosm = (uint32_t)(b.cosm.n / sizeof(struct snap_cosm)); off = al8(off + b.cosm.n);
	h.lists_off = off; h.n_lists = (uint32_t)n; off = al8(off + n * sizeof(*lists));
	h.pool_off = off;  h.pool_len = b.pool.n; off = al8(off + b.pool.n);
	h.size = off;
	b.counts.badfiltered = 0;
	h.counts = b.counts;
	char *blob = calloc(1, off);
	if (!blob)
		goto oom;
	memcpy(blob, &h, sizeof(h));
	memcpy(blob + h.nf_off, nfblob, nflen);
	if (b.cosm.n)
		memcpy(blob + h.cosm_off, b.cosm.p, b.cosm.n);
	if (n)
		memcpy(blob + h.lists_off, lists, n * sizeof(*lists));
	memcpy(blob + h.pool_off, b.pool.p, b.pool.n);
	e = engine_from_blob(blob, off, err, errlen);
	if (e)
		((struct snap_hdr *)e->blob)->counts.badfiltered = netfilter_badfiltered(e->nf);
	goto done;
oom:
	snprintf(err, errlen, "out of memory");
fail:
done:
	netfilter_builder_free(b.nb);
	free(b.list_rules);
	free(b.pool.p);
	free(b.cosm.p);
	free(lists);
	free(nfblob);
	return e;
}

struct engine *engine_build(const struct lists_source *src, size_t n, char *err, size_t errlen)
{
	return engine_build_ex(src, n, NULL, NULL, err, errlen);
}

/* Validates blob and wraps it (taking ownership; freed on failure). */
static struct engine *engine_from_blob(char *blob, size_t len, char *err, size_t errlen)
{
	const struct snap_hdr *h = (const void *)blob;
	const char *why = NULL;
	if (len < sizeof(*h) || memcmp(h->magic, snap_magic, sizeof(h->magic)) != 0)
		why = "not a quell snapshot";
	else if (h->version != (SNAP_VERSION << 16 | netfilter_format()) || h->layout != SNAP_LAYOUT)
		why = "snapshot from another quell version or machine";
	else if (h->size != len || h->nf_off < sizeof(*h) || h->nf_off % 8 || h->nf_off + h->nf_len > h->cosm_off ||
	         h->cosm_off + (uint64_t)h->n_cosm * sizeof(struct snap_cosm) > h->lists_off ||
	         h->lists_off + (uint64_t)h->n_lists * sizeof(struct snap_list) > h->pool_off ||
	         h->pool_off + h->pool_len > len || h->pool_len == 0 || blob[h->pool_off + h->pool_len - 1] != '\0' ||
	         h->lists_off % 8 || h->cosm_off % 8)
		why = "truncated or corrupt snapshot";
	struct engine *e = NULL;
	if (!why) {
		e = calloc(1, sizeof(*e));
		if (!e)
			why = "out of memory";
	}
	if (e) {
		e->blob = blob;
		e->len = len;
		e->h = h;
		e->pool = blob + h->pool_off;
		e->lists = (const void *)(blob + h->lists_off);
		for (uint32_t i = 0; i < h->n_lists && !why; i++)
			if (e->lists[i].name_off >= h->pool_len || e->lists[i].path_off >= h->pool_len)
				why = "corrupt list table";
		if (!why && !(e->nf = netfilter_open(blob + h->nf_off, h->nf_len)))
			why = "corrupt network index";
		if (!why && h->n_cosm && !(e->cosm = malloc(h->n_cosm * sizeof(*e->cosm))))
			why = "out of memory";
		const struct snap_cosm *c = (const void *)(blob + h->cosm_off);
		for (uint32_t i = 0; i < h->n_cosm && !why; i++) {
			if (c[i].body_off >= h->pool_len || c[i].domains_off >= h->pool_len || c[i].list_id >= h->n_lists) {
				why = "corrupt cosmetic rules";
				break;
			}
			e->cosm[i] = (struct cosmetic_rule){e->pool + c[i].body_off, e->pool + c[i].domains_off,
			                                     c[i].kind, c[i].exception, c[i].list_id, c[i].line};
		}
	}
	if (why) {
		snprintf(err, errlen, "%s", why);
		if (e) {
			netfilter_close(e->nf);
			free(e->cosm);
			free(e);
		}
		free(blob);
		return NULL;
	}
	e->magic = ENGINE_MAGIC;
	atomic_init(&e->refs, 1);
	atomic_init(&e->attach, NULL);
	return e;
}

/* ---- files ------------------------------------------------------------------------ */

int engine_save(const struct engine *e, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t done = 0;
	while (done < e->len) {
		ssize_t k = write(fd, e->blob + done, e->len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(err, errlen, "%s: %s", path, k < 0 ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		done += (size_t)k;
	}
	if (close(fd) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

#define SNAP_MAX_SIZE (1ULL << 31)

struct engine *engine_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SNAP_MAX_SIZE ||
	    (size_t)st.st_size < sizeof(struct snap_hdr)) {
		snprintf(err, errlen, "%s: not a snapshot file", path);
		close(fd);
		return NULL;
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *blob = malloc(len);   /* malloc's alignment (16) covers the blob's 8 */
	if (!blob) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	while (got < len) {
		ssize_t k = read(fd, blob + got, len - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	if (got != len) {
		snprintf(err, errlen, "%s: short read", path);
		free(blob);
		return NULL;
	}
	char why[200];
	struct engine *e = engine_from_blob(blob, len, why, sizeof(why));
	if (!e)
		snprintf(err, errlen, "%s: %s", path, why);
	return e;
}

/* ---- references and the current snapshot ---------------------------------------------- */

struct engine *engine_ref(struct engine *e)
{
	if (e) {
		if (e->magic != ENGINE_MAGIC)
			abort();
		atomic_fetch_add(&e->refs, 1);
	}
	return e;
}

void engine_release(struct engine *e)
{
	if (!e)
		return;
	if (e->magic != ENGINE_MAGIC)
		abort();
	if (atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	struct attachment *a = atomic_load(&e->attach);
	if (a) {
		if (a->free_fn)
			a->free_fn(a->ptr);
		free(a);
	}
	netfilter_close(e->nf);
	free(e->cosm);
	free(e->blob);
	e->magic = 0;
	free(e);
}

/* Readers count themselves in the phase they saw while they load the
 * pointer and take their reference; a publisher swaps the pointer, flips the
 * phase, and waits for the old phase to drain before dropping the old
 * snapshot.  A reader that saw the old pointer is counted in the old phase
 * (it incremented before loading), and one counted in the new phase loads
 * after the swap. */
static _Atomic(struct engine *) g_current;
static atomic_uint g_phase;
static atomic_long g_readers[2];
static pthread_mutex_t g_publish = PTHREAD_MUTEX_INITIALIZER;

struct engine *engine_current_acquire(void)
{
	unsigned ph = atomic_load(&g_phase) & 1;
	atomic_fetch_add(&g_readers[ph], 1);
	struct engine *e = atomic_load(&g_current);
	if (e)
		atomic_fetch_add(&e->refs, 1);
	atomic_fetch_sub(&g_readers[ph], 1);
	return e;
}

void engine_publish(struct engine *e)
{
	pthread_mutex_lock(&g_publish);
	struct engine *old = atomic_exchange(&g_current, e);
	unsigned ph = atomic_fetch_add(&g_phase, 1) & 1;
	/* the window is a few instructions long: yield until it drains */
	while (atomic_load(&g_readers[ph]) != 0)
		sched_yield();
	pthread_mutex_unlock(&g_publish);
	engine_release(old);
}

/* ---- queries -------------------------------------------------------------------------------- */

int engine_match(const struct engine *e, const char *url, uint32_t type, const char *page_url,
                 struct netfilter_verdict *v)
{
	return netfilter_match(e->nf, url, strlen(url), type, page_url, page_url ? strlen(page_url) : 0, v);
}

int engine_match_method(const struct engine *e, const char *url, uint32_t type, const char *method,
                        const char *page_url, struct netfilter_verdict *v)
{
	uint32_t m = method ? lists_method_parse(method, strlen(method)) : 0;
	return netfilter_match_method(e->nf, url, strlen(url), type, m, page_url, page_url ? strlen(page_url) : 0, v);
}

unsigned engine_page_flags(const struct engine *e, const char *page_url)
{
	return netfilter_page_flags(e->nf, page_url, strlen(page_url), NULL);
}

const char *engine_rule_text(const struct engine *e, uint32_t rule)
{
	return rule == NETFILTER_NO_RULE ? "" : netfilter_rule_text(e->nf, rule);
}

const char *engine_rule_list(const struct engine *e, uint32_t rule)
{
	return rule == NETFILTER_NO_RULE ? "" : engine_list_name(e, netfilter_rule_list(e->nf, rule));
}

uint32_t engine_rule_line(const struct engine *e, uint32_t rule)
{
	return rule == NETFILTER_NO_RULE ? 0 : netfilter_rule_line(e->nf, rule);
}

const struct netfilter *engine_netfilter(const struct engine *e) { return e->nf; }

const struct cosmetic_rule *engine_cosmetic_rules(const struct engine *e, size_t *n)
{
	*n = e->h->n_cosm;
	return e->cosm;
}

size_t engine_list_count(const struct engine *e) { return e->h->n_lists; }
const char *engine_list_name(const struct engine *e, size_t id)
{
	return id < e->h->n_lists ? e->pool + e->lists[id].name_off : "";
}
const char *engine_list_path(const struct engine *e, size_t id)
{
	return id < e->h->n_lists ? e->pool + e->lists[id].path_off : "";
}
uint32_t engine_list_rules(const struct engine *e, size_t id)
{
	return id < e->h->n_lists ? e->lists[id].rules : 0;
}
const struct engine_counts *engine_counts(const struct engine *e) { return &e->h->counts; }
size_t engine_size(const struct engine *e) { return e->len; }

int engine_set_attachment(struct engine *e, void *ptr, void (*free_fn)(void *))
{
	struct attachment *a = malloc(sizeof(*a));
	if (!a)
		return -1;
	a->ptr = ptr;
	a->free_fn = free_fn;
	struct attachment *expect = NULL;
	if (!atomic_compare_exchange_strong(&e->attach, &expect, a)) {
		free(a);
		return 1;
	}
	return 0;
}

void *engine_attachment(const struct engine *e)
{
	struct attachment *a = atomic_load(&((struct engine *)e)->attach);
	return a ? a->ptr : NULL;
}
