/*
 * cosmetic: the per-snapshot index of cosmetic / HTML rules and the
 * per-page view (see cosmetic.h).
 */
#include "filters/cosmetic.h"

#include <assert.h>
#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/selector.h"

#define COSMETIC_MAGIC 0x434f534du
#define PAGE_MAGIC 0x50414745u
#define ATTR_SLOTS 256           /* indexed attribute names, power of two */

struct cosmetic_entry {
	struct sel *sel;
	char *domains;               /* the rule's domains, NULL when none: with
	                                sel's text and style, the rule as written
	                                (cosmetic_entry_text), kept apart so the
	                                selector text is held once */
	char *style;                 /* :style() declarations, or NULL */
	const char *list;
	uint32_t line;
	uint32_t gidx;               /* generic: index into the seen bitmap */
	uint64_t body_hash;
	uint8_t kind, generic, html, css_ok, disabled;
	uint8_t always;              /* generic :style(): rides along (see struct cosmetic) */
	char **neg;                  /* negated domains */
	unsigned n_neg;
};

struct pair { uint64_t key; const struct cosmetic_entry *e; };
struct bucket { uint64_t key; uint32_t start, n; };

/* key -> entries, open addressing over the distinct keys */
struct table {
	struct bucket *b;
	size_t mask;
	const struct cosmetic_entry **items;
	size_t n_items;
	uint64_t *bloom;             /* a bit per key hash: most probes (an
	                                element's classes, attribute windows)
	                                miss, and this stays in cache where the
	                                buckets would not */
	size_t bloom_mask;           /* in bits */
};

static size_t bloom_bit(uint64_t key, size_t mask) { return (size_t)(key >> 17) & mask; }

struct exc { uint64_t dom; uint64_t body; };

struct cosmetic {
	unsigned magic;
	unsigned flags;              /* COSMETIC_BUILD_* */
	struct cosmetic_entry *e;
	size_t n_e;
	char **lists;
	size_t n_lists;
	struct table generic;
	const struct cosmetic_entry **universal;
	size_t n_universal;
	struct table domains;        /* hash(domain or "entity.*") -> rules */
	struct exc *exc;             /* (hash(domain), body) sorted */
	size_t n_exc;
	uint64_t attr_slot[ATTR_SLOTS]; /* hashes of indexed attribute names, 0 = free */
	uint64_t sub_slot[ATTR_SLOTS];  /* same for "~name=abc" keys */
	uint64_t sub_tri[COSMETIC_TRI_BITS / 64]; /* their "abc"s (cosmetic.h) */
	uint64_t word_pair[COSMETIC_PAIR_BITS / 64]; /* "[name=word" keys' "wo"s */
	size_t n_generic, n_rejected;
	/* Generic :style() rules.  They undo what a script does at run time
	 * (a consent manager's "html.sp-message-open" scroll lock), so their
	 * class is seldom in the stream to mark them seen: they ride along
	 * with any style the page gets (with the usual lists, every page
	 * gets one), and a page nothing else applies to stays byte for byte
	 * what it was.  Few and short by nature (rules that style, not hide);
	 * cosmetic_page_css groups those with the same declarations. */
	const struct cosmetic_entry **always;
	size_t n_always;
	int reads_others;            /* some rule's match reads attributes of
	                                elements besides the one matched */
	int reads_siblings;          /* some rule's match reads earlier siblings
	                                or positions (sel_reads_siblings) */
};

struct cosmetic_page {
	unsigned magic;
	const struct cosmetic *c;
	unsigned flags;
	char *host;
	struct table dom;            /* this page's domain rules by key */
	const struct cosmetic_entry **dom_universal;
	size_t n_dom_universal;
	const struct cosmetic_entry **universal; /* generic + domain, filtered */
	size_t n_universal;
	const struct cosmetic_entry **dom_all;
	size_t n_dom_all;
	uint64_t *exc;               /* excepted body hashes, sorted */
	size_t n_exc;
	uint64_t attr_slot[ATTR_SLOTS];
	uint64_t sub_slot[ATTR_SLOTS];
	uint64_t sub_tri[COSMETIC_TRI_BITS / 64];
	uint64_t word_pair[COSMETIC_PAIR_BITS / 64];
	uint8_t *seen;               /* bitmap over generic entries */
	const struct cosmetic_entry **seen_list;
	size_t n_seen, cap_seen, css_done;
	int dom_css_done;
	const struct cosmetic_entry **always; /* the page's generic :style() rules */
	size_t n_always;
	int always_state;            /* 0 waiting, 1 wanted (class seen), 2 written */
};

/* qsort/bsearch on empty arrays: the C library may be handed NULL then,
 * which it declares invalid. */
static void sort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, sz, cmp);
}

static void *find(const void *key, const void *base, size_t n, size_t sz,
                  int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, sz, cmp) : NULL;
}

/* ---- hashing ------------------------------------------------------------ */

static uint64_t str_hash(char kind, const char *s, size_t n)
{
	uint64_t h = cosmetic_key_add(cosmetic_key_start(kind), s, n);
	return h ? h : 1;
}

static size_t slot_of(uint64_t h, size_t mask) { return (size_t)(h ^ (h >> 29)) & mask; }

static int attr_slot_add(uint64_t *slots, uint64_t h)
{
	size_t i = slot_of(h, ATTR_SLOTS - 1);
	for (size_t k = 0; k < ATTR_SLOTS; k++, i = (i + 1) & (ATTR_SLOTS - 1)) {
		if (slots[i] == h)
			return 0;
		if (!slots[i]) {
			slots[i] = h;
			return 0;
		}
	}
	return -1; /* full: the rule goes to the universal list instead */
}

static int attr_slot_has(const uint64_t *slots, uint64_t h)
{
	size_t i = slot_of(h, ATTR_SLOTS - 1);
	for (size_t k = 0; k < ATTR_SLOTS; k++, i = (i + 1) & (ATTR_SLOTS - 1)) {
		if (slots[i] == h)
			return 1;
		if (!slots[i])
			return 0;
	}
	return 0;
}

/* ---- tables -------------------------------------------------------------- */

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->e < y->e ? -1 : x->e > y->e;
}

/* Builds t from pairs (sorted here).  Returns 0 or -1. */
static int table_build(struct table *t, struct pair *p, size_t n)
{
	memset(t, 0, sizeof *t);
	sort(p, n, sizeof *p, pair_cmp);
	size_t distinct = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || p[i].key != p[i - 1].key)
			distinct++;
	size_t size = 16;
	while (size < distinct * 2)
		size *= 2;
	size_t bits = 512;
	while (bits < distinct * 8 && bits < (1u << 20))
		bits *= 2;
	t->b = calloc(size, sizeof *t->b);
	t->items = malloc((n ? n : 1) * sizeof *t->items);
	t->bloom = calloc(bits / 64, sizeof *t->bloom);
	if (!t->b || !t->items || !t->bloom) {
		free(t->b);
		free(t->items);
		free(t->bloom);
		memset(t, 0, sizeof *t);
		return -1;
	}
	t->bloom_mask = bits - 1;
	t->mask = size - 1;
	size_t w = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && p[j].key == p[i].key)
			j++;
		size_t s = slot_of(p[i].key, t->mask);
		while (t->b[s].n)
			s = (s + 1) & t->mask;
		t->b[s].key = p[i].key;
		t->b[s].start = (uint32_t)w;
		size_t bb = bloom_bit(p[i].key, t->bloom_mask);
		t->bloom[bb / 64] |= 1ull << (bb % 64);
		for (size_t k = i; k < j; k++)
			if (k == i || p[k].e != p[k - 1].e)
				t->items[w++] = p[k].e;
		t->b[s].n = (uint32_t)(w - t->b[s].start);
		i = j;
	}
	t->n_items = w;
	return 0;
}

static const struct bucket *table_get(const struct table *t, uint64_t key)
{
	if (!t->b)
		return NULL;
	size_t bb = bloom_bit(key, t->bloom_mask);
	if (!(t->bloom[bb / 64] >> (bb % 64) & 1))
		return NULL;
	size_t s = slot_of(key, t->mask);
	while (t->b[s].n) {
		if (t->b[s].key == key)
			return &t->b[s];
		s = (s + 1) & t->mask;
	}
	return NULL;
}

static void table_free(struct table *t)
{
	free(t->b);
	free(t->items);
	free(t->bloom);
	memset(t, 0, sizeof *t);
}

/* ---- domains ------------------------------------------------------------- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static void psl_init(void) { psl = psl_builtin(); }

/* The last host a thread asked public_suffix_len() about: a page's rule
 * set asks once per page and per "entity.*" rule, and a worker's pages come
 * from few sites in a row, while libpsl's answer costs ~14K instructions
 * (label by label through its DAFSA), a tenth of what rewriting a small
 * page with a few rules costs. */
static _Thread_local struct {
	size_t hl;                  /* 0: empty */
	size_t len;
	char host[128];
} psl_last;

/* Length of host's public suffix ("co.uk" in "a.b.co.uk"). */
static size_t public_suffix_len(const char *host)
{
	size_t hl = strlen(host);
	if (hl && hl == psl_last.hl && !memcmp(host, psl_last.host, hl))
		return psl_last.len;
	pthread_once(&psl_once, psl_init);
	const char *ps = psl ? psl_unregistrable_domain(psl, host) : NULL;
	if (!ps) {
		const char *dot = strrchr(host, '.');
		ps = dot ? dot + 1 : host;
	}
	/* psl_unregistrable_domain returns the longest unregistrable suffix,
	 * which may be the whole host for a bare suffix */
	size_t len = strlen(ps);
	if (hl < sizeof psl_last.host) {
		memcpy(psl_last.host, host, hl);
		psl_last.hl = hl;
		psl_last.len = len;
	}
	return len;
}

/* 1 when host is d or a subdomain of d; d may be "entity.*". */
static int host_matches(const char *host, const char *d)
{
	size_t hl = strlen(host), dl = strlen(d);
	if (dl >= 2 && d[dl - 1] == '*' && d[dl - 2] == '.') {
		size_t psl_len = public_suffix_len(host);
		if (psl_len + 1 >= hl)
			return 0;
		size_t el = hl - psl_len - 1; /* host without ".suffix" */
		dl -= 2;
		return el >= dl && memcmp(host + el - dl, d, dl) == 0 && (el == dl || host[el - dl - 1] == '.');
	}
	return hl >= dl && memcmp(host + hl - dl, d, dl) == 0 && (hl == dl || host[hl - dl - 1] == '.');
}

/* Calls fn(arg, hash) for each key host answers to: the host and each of
 * its parent domains, and each "entity.*" form (the name without its
 * public suffix, and that name's parents). */
static void host_keys(const char *host, void (*fn)(void *, uint64_t), void *arg)
{
	size_t hl = strlen(host);
	for (const char *s = host; s;) {
		fn(arg, str_hash('@', s, strlen(s)));
		const char *dot = strchr(s, '.');
		s = dot ? dot + 1 : NULL;
	}
	size_t ps = public_suffix_len(host);
	if (ps + 1 < hl) {
		size_t el = hl - ps - 1;
		char buf[512];
		for (size_t off = 0; off < el && el - off + 2 < sizeof buf;) {
			memcpy(buf, host + off, el - off);
			memcpy(buf + el - off, ".*", 2);
			fn(arg, str_hash('@', buf, el - off + 2));
			const char *dot = memchr(host + off, '.', el - off);
			if (!dot)
				break;
			off = (size_t)(dot - host) + 1;
		}
	}
}

/* Splits "a.com,~b.com" into positive and negated lists (lower case).
 * Returns 0 or -1. */
static int split_domains(const char *s, char ***pos, unsigned *np, char ***neg, unsigned *nn)
{
	*pos = *neg = NULL;
	*np = *nn = 0;
	while (*s) {
		const char *e = s;
		while (*e && *e != ',' && *e != '|')
			e++;
		const char *b = s;
		int is_neg = 0;
		while (b < e && isspace((unsigned char)*b))
			b++;
		if (b < e && *b == '~') {
			is_neg = 1;
			b++;
		}
		if (e > b) {
			char *d = strndup(b, (size_t)(e - b));
			if (!d)
				return -1;
			for (char *q = d; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			char ***arr = is_neg ? neg : pos;
			unsigned *cnt = is_neg ? nn : np;
			char **v = realloc(*arr, (*cnt + 1) * sizeof *v);
			if (!v) {
				free(d);
				return -1;
			}
			*arr = v;
			v[(*cnt)++] = d;
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

static void strv_free(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- build ------------------------------------------------------------------ */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int exc_cmp(const void *a, const void *b)
{
	const struct exc *x = a, *y = b;
	if (x->dom != y->dom)
		return x->dom < y->dom ? -1 : 1;
	return x->body < y->body ? -1 : x->body > y->body;
}

static uint64_t body_hash(const char *b)
{
	while (isspace((unsigned char)*b))
		b++;
	size_t n = strlen(b);
	while (n && isspace((unsigned char)b[n - 1]))
		n--;
	return str_hash('=', b, n);
}

static const char *sep_of(int kind)
{
	switch (kind) {
	case COSM_HTML: return "##^";
	case COSM_ADG_HTML: return "$$";
	default: return "##";
	}
}

/* Compiles one non-exception rule into e.  Returns 1 ok, 0 rejected
 * (reported), -1 out of memory. */
static int entry_init(struct cosmetic *c, struct cosmetic_entry *e, const struct cosmetic_rule *r,
                      cosmetic_report_fn report, void *arg)
{
	char why[160];
	const char *body = r->body;
	char *tmp = NULL;
	memset(e, 0, sizeof *e);
	if (r->kind == COSM_STYLE) {
		const char *st = strstr(body, ":style(");
		size_t bl = strlen(body);
		if (!st || bl < 8 || body[bl - 1] != ')') {
			if (report) report(arg, r, "bad :style() rule");
			return 0;
		}
		const char *d = st + 7;
		size_t dl = (size_t)(body + bl - 1 - d);
		if (memchr(d, '{', dl) || memchr(d, '}', dl) || memchr(d, '<', dl) || memmem(d, dl, "url(", 4) ||
		    memmem(d, dl, "expression", 10)) {
			if (report) report(arg, r, "unsafe :style() declarations");
			return 0;
		}
		e->style = strndup(d, dl);
		tmp = strndup(body, (size_t)(st - body));
		if (!e->style || !tmp) {
			free(e->style);
			free(tmp);
			return -1;
		}
		body = tmp;
	}
	int syn = r->kind == COSM_ADG_HTML ? SEL_SYNTAX_ADG_HTML : SEL_SYNTAX_CSS;
	/* tmp (a :style() rule's selector part) is freed below: copied */
	e->sel = (c->flags & COSMETIC_BUILD_BORROW) && !tmp ? sel_parse_borrow(body, syn, why, sizeof why)
	                                                    : sel_parse(body, syn, why, sizeof why);
	free(tmp);
	if (!e->sel) {
		free(e->style);
		e->style = NULL;
		if (!strcmp(why, "out of memory"))
			return -1;
		if (report) report(arg, r, why);
		return 0;
	}
	if (e->style && !sel_css_ok(e->sel)) {
		sel_free(e->sel);
		free(e->style);
		e->sel = NULL;
		e->style = NULL;
		if (report) report(arg, r, "unsupported: :style() on a procedural selector");
		return 0;
	}
	if (r->domains[0] && !(e->domains = strdup(r->domains))) {
		sel_free(e->sel);
		free(e->style);
		return -1;
	}
	e->kind = r->kind;
	e->html = r->kind == COSM_HTML || r->kind == COSM_ADG_HTML;
	e->css_ok = !e->html && sel_css_ok(e->sel);
	e->line = r->line;
	e->list = r->list_id < c->n_lists ? c->lists[r->list_id] : "list";
	e->body_hash = body_hash(r->body);
	return 1;
}

static void entry_fini(struct cosmetic_entry *e)
{
	sel_free(e->sel);
	free(e->domains);
	free(e->style);
	strv_free(e->neg, e->n_neg);
}

/* Growable pair array. */
struct pairs { struct pair *p; size_t n, cap; };
static int pairs_add(struct pairs *v, uint64_t key, const struct cosmetic_entry *e)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 256;
		struct pair *p = realloc(v->p, cap * sizeof *p);
		if (!p)
			return -1;
		v->p = p;
		v->cap = cap;
	}
	v->p[v->n].key = key;
	v->p[v->n++].e = e;
	return 0;
}

/* Files a rule under its selector key into keyed/universal; attribute
 * names go to slots, the bytes of "~name=abc" keys to tri, the first two
 * bytes of "[name=word" keys' words to pair.  Returns 0 or -1. */
static int file_entry(const struct cosmetic_entry *e, struct pairs *keyed,
                      const struct cosmetic_entry ***uni, size_t *n_uni, uint64_t *slots,
                      uint64_t *sub_slots, uint64_t *tri, uint64_t *pair)
{
	char key[512];
	int kl = sel_index_key(e->sel, key, sizeof key);
	if (kl > 0 && (key[0] == '[' || key[0] == '~')) {
		const char *eq = strchr(key, '=');
		if (!eq || attr_slot_add(key[0] == '[' ? slots : sub_slots,
		                         str_hash('a', key + 1, (size_t)(eq - key - 1))) < 0)
			kl = 0;
	}
	if (kl > 0 && key[0] == '~' && (size_t)kl >= 4) {
		unsigned b = cosmetic_tri_bit(key + kl - 3);
		tri[b / 64] |= 1ull << (b % 64);
	}
	if (kl > 0 && key[0] == '[') {
		/* words shorter than two bytes are never looked up */
		const char *w = strchr(key, '=') + 1;
		if (strlen(w) >= 2) {
			unsigned b = cosmetic_pair_bit(w, strlen(w));
			pair[b / 64] |= 1ull << (b % 64);
		}
	}
	if (kl > 0)
		return pairs_add(keyed, str_hash(key[0], key + 1, (size_t)kl - 1), e);
	const struct cosmetic_entry **v = realloc(*uni, (*n_uni + 1) * sizeof *v);
	if (!v)
		return -1;
	*uni = v;
	v[(*n_uni)++] = e;
	return 0;
}

struct cosmetic *cosmetic_build(const struct cosmetic_rule *rules, size_t n,
                                const char *const *list_names, size_t n_lists,
                                cosmetic_report_fn report, void *arg)
{
	return cosmetic_build_ex(rules, n, list_names, n_lists, report, arg, 0);
}

struct cosmetic *cosmetic_build_ex(const struct cosmetic_rule *rules, size_t n,
                                   const char *const *list_names, size_t n_lists,
                                   cosmetic_report_fn report, void *arg, unsigned flags)
{
	struct cosmetic *c = calloc(1, sizeof *c);
	struct pairs gen = { 0 }, dom = { 0 };
	uint64_t *gexc = NULL;
	size_t n_gexc = 0;
	if (!c)
		return NULL;
	c->magic = COSMETIC_MAGIC;
	c->flags = flags;
	c->lists = calloc(n_lists ? n_lists : 1, sizeof *c->lists);
	c->e = calloc(n ? n : 1, sizeof *c->e);
	c->exc = calloc(n ? n : 1, sizeof *c->exc);
	gexc = calloc(n ? n : 1, sizeof *gexc);
	if (!c->lists || !c->e || !c->exc || !gexc)
		goto oom;
	c->n_lists = n_lists;
	for (size_t i = 0; i < n_lists; i++) {
		char tmp[32];
		if (!list_names || !list_names[i])
			snprintf(tmp, sizeof tmp, "list#%zu", i);
		c->lists[i] = strdup(list_names && list_names[i] ? list_names[i] : tmp);
		if (!c->lists[i])
			goto oom;
	}
	/* exceptions first: (domain, body) pairs, and generic ones */
	for (size_t i = 0; i < n; i++) {
		const struct cosmetic_rule *r = &rules[i];
		if (!r->exception)
			continue;
		uint64_t bh = body_hash(r->body);
		char **pos, **neg;
		unsigned np, nn;
		if (split_domains(r->domains, &pos, &np, &neg, &nn) < 0)
			goto oom;
		if (np == 0) {
			gexc[n_gexc++] = bh;
		} else {
			struct exc *x = realloc(c->exc, (c->n_exc + np) * sizeof *x);
			if (!x) {
				strv_free(pos, np);
				strv_free(neg, nn);
				goto oom;
			}
			c->exc = x;
			for (unsigned k = 0; k < np; k++) {
				c->exc[c->n_exc].dom = str_hash('@', pos[k], strlen(pos[k]));
				c->exc[c->n_exc++].body = bh;
			}
		}
		strv_free(pos, np);
		strv_free(neg, nn);
	}
	sort(gexc, n_gexc, sizeof *gexc, u64_cmp);
	sort(c->exc, c->n_exc, sizeof *c->exc, exc_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct cosmetic_rule *r = &rules[i];
		if (r->exception)
			continue;
		struct cosmetic_entry *e = &c->e[c->n_e];
		int rc = entry_init(c, e, r, report, arg);
		if (rc < 0)
			goto oom;
		if (rc == 0) {
			c->n_rejected++;
			continue;
		}
		c->n_e++;
		c->reads_others |= sel_reads_others(e->sel);
		c->reads_siblings |= sel_reads_siblings(e->sel);
		if (find(&e->body_hash, gexc, n_gexc, sizeof *gexc, u64_cmp))
			e->disabled = 1; /* "#@#sel" with no domain: off everywhere */
		char **pos;
		unsigned np;
		if (split_domains(r->domains, &pos, &np, &e->neg, &e->n_neg) < 0)
			goto oom;
		if (np == 0) {
			e->generic = 1;
			e->gidx = (uint32_t)c->n_generic++;
			if (e->style && e->css_ok && !e->disabled) {
				const struct cosmetic_entry **v = realloc(c->always, (c->n_always + 1) * sizeof *v);
				if (!v) {
					strv_free(pos, np);
					goto oom;
				}
				c->always = v;
				v[c->n_always++] = e;
				e->always = 1;
			}
			if (!e->disabled && file_entry(e, &gen, &c->universal, &c->n_universal, c->attr_slot, c->sub_slot,
			                                  c->sub_tri, c->word_pair) < 0) {
				strv_free(pos, np);
				goto oom;
			}
		} else {
			for (unsigned k = 0; k < np; k++)
				if (pairs_add(&dom, str_hash('@', pos[k], strlen(pos[k])), e) < 0) {
					strv_free(pos, np);
					goto oom;
				}
		}
		strv_free(pos, np);
	}
	if (table_build(&c->generic, gen.p, gen.n) < 0 || table_build(&c->domains, dom.p, dom.n) < 0)
		goto oom;
	free(gen.p);
	free(dom.p);
	free(gexc);
	return c;
oom:
	free(gen.p);
	free(dom.p);
	free(gexc);
	cosmetic_free(c);
	return NULL;
}

void cosmetic_free(struct cosmetic *c)
{
	if (!c)
		return;
	assert(c->magic == COSMETIC_MAGIC);
	for (size_t i = 0; i < c->n_e; i++)
		entry_fini(&c->e[i]);
	free(c->e);
	for (size_t i = 0; i < c->n_lists; i++)
		free(c->lists[i]);
	free(c->lists);
	table_free(&c->generic);
	table_free(&c->domains);
	free(c->universal);
	free(c->always);
	free(c->exc);
	c->magic = 0;
	free(c);
}

void cosmetic_free_any(void *c) { cosmetic_free(c); }
size_t cosmetic_n_rules(const struct cosmetic *c) { return c ? c->n_e : 0; }
size_t cosmetic_n_rejected(const struct cosmetic *c) { return c ? c->n_rejected : 0; }

/* ---- pages ------------------------------------------------------------------- */

struct collect {
	const struct cosmetic *c;
	const char *host;
	const struct cosmetic_entry **v;
	size_t n, cap;
	uint64_t *exc;
	size_t n_exc, cap_exc;
	int oom;
};

static void collect_key(void *arg, uint64_t key)
{
	struct collect *k = arg;
	const struct bucket *b = table_get(&k->c->domains, key);
	for (uint32_t i = 0; b && i < b->n; i++) {
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 32;
			const struct cosmetic_entry **v = realloc(k->v, cap * sizeof *v);
			if (!v) {
				k->oom = 1;
				return;
			}
			k->v = v;
			k->cap = cap;
		}
		k->v[k->n++] = k->c->domains.items[b->start + i];
	}
	/* exceptions filed under this domain */
	struct exc probe = { key, 0 };
	size_t lo = 0, hi = k->c->n_exc;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (exc_cmp(&k->c->exc[mid], &probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < k->c->n_exc && k->c->exc[lo].dom == key; lo++) {
		if (k->n_exc == k->cap_exc) {
			size_t cap = k->cap_exc ? k->cap_exc * 2 : 16;
			uint64_t *v = realloc(k->exc, cap * sizeof *v);
			if (!v) {
				k->oom = 1;
				return;
			}
			k->exc = v;
			k->cap_exc = cap;
		}
		k->exc[k->n_exc++] = k->c->exc[lo].body;
	}
}

static int ptr_cmp(const void *a, const void *b)
{
	const void *x = *(const void *const *)a, *y = *(const void *const *)b;
	return x < y ? -1 : x > y;
}

static int negated(const struct cosmetic_entry *e, const char *host)
{
	for (unsigned i = 0; i < e->n_neg; i++)
		if (host && host_matches(host, e->neg[i]))
			return 1;
	return 0;
}

static int generic_ok(const struct cosmetic_page *p, const struct cosmetic_entry *e);

struct cosmetic_page *cosmetic_page_new(const struct cosmetic *c, const char *host, unsigned flags)
{
	struct cosmetic_page *p = calloc(1, sizeof *p);
	struct collect k = { 0 };
	struct pairs keyed = { 0 };
	if (!p)
		return NULL;
	p->magic = PAGE_MAGIC;
	p->c = c;
	p->flags = flags;
	p->host = strdup(host ? host : "");
	if (!p->host)
		goto oom;
	if (!c || (flags & COSMETIC_P_ELEMHIDE))
		return p;
	memcpy(p->attr_slot, c->attr_slot, sizeof p->attr_slot);
	memcpy(p->sub_slot, c->sub_slot, sizeof p->sub_slot);
	memcpy(p->sub_tri, c->sub_tri, sizeof p->sub_tri);
	memcpy(p->word_pair, c->word_pair, sizeof p->word_pair);
	p->seen = calloc(c->n_generic / 8 + 1, 1);
	if (!p->seen)
		goto oom;
	if (p->host[0]) {
		k.c = c;
		k.host = p->host;
		host_keys(p->host, collect_key, &k);
		if (k.oom)
			goto oom;
	}
	sort(k.exc, k.n_exc, sizeof *k.exc, u64_cmp);
	p->exc = k.exc;
	p->n_exc = k.n_exc;
	k.exc = NULL;
	sort(k.v, k.n, sizeof *k.v, ptr_cmp);
	size_t w = 0;
	for (size_t i = 0; i < k.n; i++) {
		const struct cosmetic_entry *e = k.v[i];
		if (i && e == k.v[i - 1])
			continue;
		if (e->disabled || negated(e, p->host) || (flags & COSMETIC_P_SPECIFICHIDE) ||
		    find(&e->body_hash, p->exc, p->n_exc, sizeof *p->exc, u64_cmp))
			continue;
		k.v[w++] = e;
	}
	p->dom_all = k.v;
	p->n_dom_all = w;
	k.v = NULL;
	for (size_t i = 0; i < p->n_dom_all; i++)
		if (file_entry(p->dom_all[i], &keyed, &p->dom_universal, &p->n_dom_universal, p->attr_slot,
		               p->sub_slot, p->sub_tri, p->word_pair) < 0)
			goto oom;
	if (table_build(&p->dom, keyed.p, keyed.n) < 0)
		goto oom;
	free(keyed.p);
	keyed.p = NULL;
	p->universal = malloc((c->n_universal + p->n_dom_universal + 1) * sizeof *p->universal);
	if (!p->universal)
		goto oom;
	if (!(flags & COSMETIC_P_GENERICHIDE))
		for (size_t i = 0; i < c->n_universal; i++)
			if (generic_ok(p, c->universal[i]))
				p->universal[p->n_universal++] = c->universal[i];
	for (size_t i = 0; i < p->n_dom_universal; i++)
		p->universal[p->n_universal++] = p->dom_universal[i];
	/* generic :style() rules, with the page's exceptions applied: they
	 * ride along with the page's first style */
	p->always = malloc((c->n_always + 1) * sizeof *p->always);
	if (!p->always)
		goto oom;
	if (!(flags & COSMETIC_P_GENERICHIDE))
		for (size_t i = 0; i < c->n_always; i++)
			if (generic_ok(p, c->always[i]))
				p->always[p->n_always++] = c->always[i];
	return p;
oom:
	free(k.v);
	free(k.exc);
	free(keyed.p);
	cosmetic_page_free(p);
	return NULL;
}

void cosmetic_page_free(struct cosmetic_page *p)
{
	if (!p)
		return;
	assert(p->magic == PAGE_MAGIC);
	free(p->host);
	table_free(&p->dom);
	free(p->dom_universal);
	free(p->universal);
	free(p->dom_all);
	free(p->exc);
	free(p->seen);
	free(p->seen_list);
	free(p->always);
	p->magic = 0;
	free(p);
}

int cosmetic_page_empty(const struct cosmetic_page *p)
{
	if (!p->c || (p->flags & COSMETIC_P_ELEMHIDE))
		return 1;
	int generic = !(p->flags & COSMETIC_P_GENERICHIDE) && (p->c->generic.n_items || p->c->n_universal);
	return !generic && p->n_dom_all == 0;
}

int cosmetic_page_attr_indexed(const struct cosmetic_page *p, const char *name, size_t n)
{
	return attr_slot_has(p->attr_slot, str_hash('a', name, n));
}

int cosmetic_page_attr_sub_indexed(const struct cosmetic_page *p, const char *name, size_t n)
{
	return attr_slot_has(p->sub_slot, str_hash('a', name, n));
}

const uint64_t *cosmetic_page_tri_filter(const struct cosmetic_page *p) { return p->sub_tri; }
const uint64_t *cosmetic_page_pair_filter(const struct cosmetic_page *p) { return p->word_pair; }

/* Of every rule of the index, not only the page's: a page's rules are a
 * subset, and the answer is then known once per index. */
int cosmetic_page_reads_siblings(const struct cosmetic_page *p)
{
	return p->c && p->c->reads_siblings;
}

int cosmetic_page_reads_others(const struct cosmetic_page *p)
{
	return p->c && !(p->flags & COSMETIC_P_ELEMHIDE) && p->c->reads_others;
}

/* Generic entries the page lets through. */
static int generic_ok(const struct cosmetic_page *p, const struct cosmetic_entry *e)
{
	if (e->n_neg && negated(e, p->host))
		return 0;
	return !p->n_exc || !find(&e->body_hash, p->exc, p->n_exc, sizeof *p->exc, u64_cmp);
}

/* 1 when a table's bloom filter lets key through (t->b set). */
static inline int bloom_has(const struct table *t, uint64_t key)
{
	size_t bb = bloom_bit(key, t->bloom_mask);
	return (int)(t->bloom[bb / 64] >> (bb % 64) & 1);
}

static size_t page_lookup(const struct cosmetic_page *p, uint64_t key,
                          const struct cosmetic_entry **out, size_t max);

/* Most keys asked (every class, attribute word and 3-byte window of the
 * page) are in no table: both bloom filters are looked at here, and the
 * tables walked in page_lookup() only when one lets the key through,
 * which keeps this call small. */
size_t cosmetic_page_lookup(const struct cosmetic_page *p, uint64_t key,
                            const struct cosmetic_entry **out, size_t max)
{
	if (!p->c || (p->flags & COSMETIC_P_ELEMHIDE))
		return 0;
	key = key ? key : 1;
	int g = !(p->flags & COSMETIC_P_GENERICHIDE) && p->c->generic.b && bloom_has(&p->c->generic, key);
	if (!g && !(p->dom.b && bloom_has(&p->dom, key)))
		return 0;
	return page_lookup(p, key, out, max);
}

__attribute__((noinline)) static size_t page_lookup(const struct cosmetic_page *p, uint64_t key,
                                                    const struct cosmetic_entry **out, size_t max)
{
	size_t n = 0;
	if (!(p->flags & COSMETIC_P_GENERICHIDE)) {
		const struct bucket *b = table_get(&p->c->generic, key);
		for (uint32_t i = 0; b && i < b->n && n < max; i++) {
			const struct cosmetic_entry *e = p->c->generic.items[b->start + i];
			if (generic_ok(p, e))
				out[n++] = e;
		}
	}
	const struct bucket *b = table_get(&p->dom, key);
	for (uint32_t i = 0; b && i < b->n && n < max; i++)
		out[n++] = p->dom.items[b->start + i];
	return n;
}

size_t cosmetic_page_universal(const struct cosmetic_page *p, const struct cosmetic_entry *const **out)
{
	*out = p->universal;
	return p->n_universal;
}

int cosmetic_page_mark_seen(struct cosmetic_page *p, const struct cosmetic_entry *e)
{
	if (!e->generic || !e->css_ok || !p->seen)
		return 0;
	if (e->always) {
		/* its class is in the stream: the :style() rules are due now */
		int was = p->always_state;
		if (was == 0 && p->n_always)
			p->always_state = 1;
		return was == 0 && p->n_always;
	}
	if (p->seen[e->gidx / 8] & (1u << (e->gidx % 8)))
		return 0;
	if (p->n_seen == p->cap_seen) {
		size_t cap = p->cap_seen ? p->cap_seen * 2 : 64;
		const struct cosmetic_entry **v = realloc(p->seen_list, cap * sizeof *v);
		if (!v)
			return 0; /* the rule still removes in the stream */
		p->seen_list = v;
		p->cap_seen = cap;
	}
	p->seen[e->gidx / 8] |= (uint8_t)(1u << (e->gidx % 8));
	p->seen_list[p->n_seen++] = e;
	return 1;
}

size_t cosmetic_page_css_size(const struct cosmetic_page *p)
{
	size_t n = 1;
	if (!p->dom_css_done)
		for (size_t i = 0; i < p->n_dom_all; i++)
			if (p->dom_all[i]->css_ok)
				n += strlen(sel_text(p->dom_all[i]->sel)) + 3 +
				     (p->dom_all[i]->style ? strlen(p->dom_all[i]->style) : 22);
	for (size_t i = p->css_done; i < p->n_seen; i++)
		n += strlen(sel_text(p->seen_list[i]->sel)) + 3 +
		     (p->seen_list[i]->style ? strlen(p->seen_list[i]->style) : 22);
	if (p->always_state != 2)
		for (size_t i = 0; i < p->n_always; i++)
			n += strlen(sel_text(p->always[i]->sel)) + 3 + strlen(p->always[i]->style);
	return n;
}

int cosmetic_page_css_pending(const struct cosmetic_page *p)
{
	if (p->css_done < p->n_seen || p->always_state == 1)
		return 1;
	if (p->dom_css_done)
		return 0;
	for (size_t i = 0; i < p->n_dom_all; i++)
		if (p->dom_all[i]->css_ok)
			return 1;
	return 0;
}

/* Appends one rule's CSS.  Returns 0 or -1 (does not fit). */
static int css_one(const struct cosmetic_entry *e, char *buf, size_t cap, size_t *len)
{
	const char *decl = e->style ? e->style : "display:none!important";
	int n = snprintf(buf + *len, cap - *len, "%s{%s}\n", sel_text(e->sel), decl);
	if (n < 0 || (size_t)n >= cap - *len) {
		buf[*len] = 0;
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

/* How many entries from v[i] on share one rule: generic :style() rules
 * with the same declarations ("a,b{decls}"; their selectors passed
 * sel_css_ok, so a browser drops none of the group); else 1. */
static size_t css_group(const struct cosmetic_entry *const *v, size_t i, size_t n)
{
	size_t k = 1;
	if (!v[i]->always)
		return 1;
	while (i + k < n && v[i + k]->always && !strcmp(v[i + k]->style, v[i]->style))
		k++;
	return k;
}

/* Appends the rule for v[0..k) (one selector list, v[0]'s declarations).
 * Returns 0 or -1 (does not fit: buf keeps what it held before). */
static int css_run(const struct cosmetic_entry *const *v, size_t k, char *buf, size_t cap, size_t *len)
{
	if (k == 1)
		return css_one(v[0], buf, cap, len);
	size_t l = *len;
	for (size_t i = 0; i < k; i++) {
		int n = snprintf(buf + l, cap - l, "%s%s", sel_text(v[i]->sel), i + 1 < k ? "," : "");
		if (n < 0 || (size_t)n >= cap - l) {
			buf[*len] = 0;
			return -1;
		}
		l += (size_t)n;
	}
	int n = snprintf(buf + l, cap - l, "{%s}\n", v[0]->style);
	if (n < 0 || (size_t)n >= cap - l) {
		buf[*len] = 0;
		return -1;
	}
	*len = l + (size_t)n;
	return 0;
}

long cosmetic_page_css(struct cosmetic_page *p, char *buf, size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return -1;
	buf[0] = 0;
	if (!p->dom_css_done) {
		p->dom_css_done = 1;
		for (size_t i = 0; i < p->n_dom_all; i++)
			if (p->dom_all[i]->css_ok && css_one(p->dom_all[i], buf, cap, &len) < 0)
				return -1;
	}
	for (; p->css_done < p->n_seen; p->css_done++)
		if (css_one(p->seen_list[p->css_done], buf, cap, &len) < 0)
			return -1;
	if (p->always_state != 2 && p->n_always && (len > 0 || p->always_state == 1)) {
		p->always_state = 2;
		for (size_t i = 0, k; i < p->n_always; i += k) {
			k = css_group(p->always, i, p->n_always);
			if (css_run(p->always + i, k, buf, cap, &len) < 0)
				return -1;
		}
	}
	return (long)len;
}

const struct sel *cosmetic_entry_sel(const struct cosmetic_entry *e) { return e->sel; }
int cosmetic_entry_kind(const struct cosmetic_entry *e) { return e->kind; }
int cosmetic_entry_generic(const struct cosmetic_entry *e) { return e->generic; }
int cosmetic_entry_html(const struct cosmetic_entry *e) { return e->html; }
char *cosmetic_entry_text(const struct cosmetic_entry *e)
{
	/* the body is the selector's text, with ":style(...)" put back */
	const char *d = e->domains ? e->domains : "", *sep = sep_of(e->kind), *st = e->style;
	size_t n = strlen(d) + strlen(sep) + strlen(sel_text(e->sel)) + (st ? strlen(st) + 8 : 0) + 1;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s%s%s%s%s%s", d, sep, sel_text(e->sel), st ? ":style(" : "", st ? st : "",
		         st ? ")" : "");
	return t;
}
const char *cosmetic_entry_list(const struct cosmetic_entry *e) { return e->list; }
uint32_t cosmetic_entry_line(const struct cosmetic_entry *e) { return e->line; }
