/*
 * netfilter: the network matcher.  See netfilter.h for the model.
 *
 * Hand-written: the only C/C++ engines of this kind (Brave's adblock-rust,
 * eyeo's C++ core) are Rust or C++ libraries with their own list parsers and
 * serialization, not Debian packages, and neither exposes uBO's semantics
 * over our parser.  PCRE2 does the regex work, libpsl the registrable domains.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filters/netfilter.h"
#include "filters/url.h"

#include <libpsl.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- the blob --------------------------------------------------------------------- */

#define NF_MAGIC 0x4e46494cu        /* "NFIL" */
#define NF_VERSION 12u

/* Internal rec flags above the LISTS_F_* bits (which use bits 0..16). */
#define NF_PURE_HOST (1u << 20)     /* pattern is a host name: "||host^" */
#define NF_ACTION_SHIFT 24          /* enum lists_action in bits 24..26 */

#define NF_NTYPES 13                /* LISTS_T_* bits */

enum { T_IMPORTANT, T_BLOCK, T_EXCEPT, T_REDIR, T_REDIR_EXC, T_RP, T_RP_EXC, T_CSP, T_CSP_EXC,
       T_PAGE, NT };
/* The maps of a table: by host name (pure host rules), by URL token, by
 * page domain (token-less rules with domain=), by query parameter name
 * (token-less removeparam=NAME rules). */
enum { M_HOST, M_TOKEN, M_PAGEDOM, M_PARAM, NM };

struct nf_rec {                     /* one rule, 24 bytes */
	uint32_t text_off;              /* rule text in the pool, NUL-terminated */
	uint32_t flags;                 /* LISTS_F_* | NF_* | action << NF_ACTION_SHIFT */
	uint32_t line;
	uint32_t extra;                 /* index into extras or UINT32_MAX */
	uint16_t pat_delta;             /* pattern at text_off + pat_delta (original case) */
	uint16_t pat_len;
	uint16_t types;                 /* LISTS_T_* */
	uint16_t list_id;
};

enum { X_DOM_ENTITY = 1, X_TO_ENTITY = 2, X_DENY_ENTITY = 4 };

struct nf_extra {                   /* rare parts of a rule */
	uint32_t dom_off;               /* u64 hashes: dom_inc included, then dom_exc excluded */
	uint16_t dom_inc, dom_exc;
	uint32_t to_off;
	uint16_t to_inc, to_exc;
	uint32_t deny_off;
	uint16_t deny_n;
	int16_t priority;
	uint32_t val_off, val_len;      /* option value in the pool, NUL-terminated */
	uint32_t regex;                 /* regex id or UINT32_MAX */
	uint32_t xflags;                /* X_* */
	uint16_t method_in, method_out; /* method=: LISTS_M_* required / refused */
};

struct nf_slot {                    /* hash-table slot, 8 bytes: key 0 = empty */
	uint32_t key;                   /* key32() of the token / host / domain hash */
	uint32_t ref;                   /* NF_REF_ONE | rule id, or the index in the u32
	                                   array of a count followed by that many rule ids */
};
#define NF_REF_ONE 0x80000000u

/* A bucket entry: a rule id and where the token the rule is filed under
 * sits in its pattern.  A URL token at position p then means the pattern
 * can only match starting at p - off: one anchored comparison instead of a
 * scan of the URL (uBO does the same).  NF_OFF_NONE: the pattern has a '*'
 * before the token, or the bucket is not a token bucket. */
#define NF_ID_BITS 22
#define NF_ID_MASK ((1u << NF_ID_BITS) - 1)
#define NF_OFF_NONE 0x1ffu
#define NF_MAX_RULES NF_ID_MASK
static inline uint32_t ent_make(uint32_t id, uint32_t off) { return id | (off << NF_ID_BITS); }
static inline uint32_t ent_id(uint32_t e) { return e & NF_ID_MASK; }
static inline uint32_t ent_off(uint32_t e) { return (e >> NF_ID_BITS) & NF_OFF_NONE; }

/* Slots keep 32 of the 64 hash bits: two keys sharing them share a bucket,
 * which costs a wasted rule check, never a wrong verdict (every rule's own
 * pattern, host or domain list is verified). */
static inline uint32_t key32(uint64_t h)
{
	uint32_t k = (uint32_t)(h >> 32) ^ (uint32_t)h;
	return k ? k : 1;
}

struct nf_table {
	uint32_t map_off[NM], map_cap[NM];  /* slots; cap is 0 or a power of 2 */
	uint32_t bloom_off[NM], bloom_n[NM];/* u64 words of a blocked Bloom filter over the
	                                       keys (n a power of 2): most URL tokens are in
	                                       no table, and the filter answers that from
	                                       cache where the slots would miss it */
	uint32_t any_start[NF_NTYPES];      /* rules checked for every request of type */
	uint32_t any_count[NF_NTYPES];      /* bit i (a rule is in the list of each of its
	                                       types, so most requests skip most of them) */
	uint32_t entity_keys;               /* M_PAGEDOM holds "name.*" keys: look up the
	                                       page's entity forms (a libpsl call) */
};

struct nf_hdr {
	uint32_t magic, version, size;
	uint32_t n_rec, n_extra, n_slot, n_u32, n_u64, pool_len, n_regex, n_badfiltered, n_untok, n_bloom;
	uint32_t off_rec, off_extra, off_slot, off_u32, off_u64, off_pool, off_bloom, pad;
	struct nf_table t[NT];
};

struct netfilter {
	const struct nf_hdr *h;
	const struct nf_rec *rec;
	const struct nf_extra *extra;
	const struct nf_slot *slot;
	const uint32_t *u32;
	const uint64_t *u64;
	const char *pool;
	const uint64_t *bloom;
	_Atomic(pcre2_code *) *re;      /* lazily compiled, one per regex id */
	const psl_ctx_t *psl;
};

/* ---- hashing -------------------------------------------------------------------------- */

#define H_INIT 0xcbf29ce484222325ULL
#define H_PRIME 0x100000001b3ULL

static inline uint64_t h_fix(uint64_t h) { return h ? h : 1; }
static uint64_t h_str(const char *s, size_t n)
{
	uint64_t h = H_INIT;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * H_PRIME;
	return h_fix(h);
}

/* Host names and domains hash from their last character back, so that a
 * request host's suffixes ("a.b.com", "b.com", "com") all come out of one
 * pass (suffix_hashes). */
static uint64_t h_host(const char *s, size_t n)
{
	uint64_t h = H_INIT;
	for (size_t i = n; i > 0; i--)
		h = (h ^ (unsigned char)s[i - 1]) * H_PRIME;
	return h_fix(h);
}

static const unsigned char lower_tab[256] = {
#define L(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define R4(b) L(b), L(b + 1), L(b + 2), L(b + 3)
#define R16(b) R4(b), R4(b + 4), R4(b + 8), R4(b + 12)
	R16(0), R16(16), R16(32), R16(48), R16(64), R16(80), R16(96), R16(112),
	R16(128), R16(144), R16(160), R16(176), R16(192), R16(208), R16(224), R16(240),
#undef R16
#undef R4
#undef L
};

/* uBO's token characters: [%0-9a-z] (on the lowercased URL). */
static const unsigned char tok_tab[256] = {
	['%'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1,
	['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1,
	['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};
static inline int is_tok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '%';
}
/* '^': anything but a letter, a digit or one of "_-.%" */
static inline int is_sep(unsigned char c)
{
	return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	         c == '_' || c == '-' || c == '.' || c == '%');
}

/* ---- libpsl ---------------------------------------------------------------------------- */

static const psl_ctx_t *g_psl;
static pthread_once_t g_psl_once = PTHREAD_ONCE_INIT;
static void psl_init_once(void)
{
	/* the newer of the built-in list and the system's public_suffix_list.dafsa */
	g_psl = psl_latest(NULL);
	if (!g_psl)
		g_psl = psl_builtin();
}
static const psl_ctx_t *get_psl(void)
{
	pthread_once(&g_psl_once, psl_init_once);
	return g_psl;
}

/* ---- builder ------------------------------------------------------------------------------ */

struct brule {
	uint32_t text_off, text_len, pat_off, pat_len;
	uint32_t flags, types;
	int action, priority;
	uint16_t list_id;
	uint32_t line;
	uint32_t dom_off, dom_len, to_off, to_len, deny_off, deny_len, val_off, val_len;
	uint16_t method_in, method_out;
};

struct vec { void *p; size_t n, cap, sz; };

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 256;
		void *np = realloc(v->p, nc * v->sz);
		if (!np)
			return NULL;
		v->p = np;
		v->cap = nc;
	}
	return (char *)v->p + v->sz * v->n++;
}

struct netfilter_builder {
	struct vec rules;               /* struct brule */
	char *pool;
	size_t pool_len, pool_cap;
};

struct netfilter_builder *netfilter_builder_new(void)
{
	struct netfilter_builder *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->rules.sz = sizeof(struct brule);
	b->pool_cap = 1 << 16;
	b->pool = malloc(b->pool_cap);
	if (!b->pool) {
		free(b);
		return NULL;
	}
	b->pool[0] = '\0';
	b->pool_len = 1;   /* offset 0 is the empty string */
	return b;
}

void netfilter_builder_free(struct netfilter_builder *b)
{
	if (!b)
		return;
	free(b->rules.p);
	free(b->pool);
	free(b);
}

/* Appends s[0..n) and a NUL to the pool.  Returns the offset or UINT32_MAX. */
static uint32_t pool_add(struct netfilter_builder *b, const char *s, size_t n)
{
	if (b->pool_len + n + 1 > UINT32_MAX / 2)
		return UINT32_MAX;
	if (b->pool_len + n + 1 > b->pool_cap) {
		size_t nc = b->pool_cap;
		while (b->pool_len + n + 1 > nc)
			nc *= 2;
		char *np = realloc(b->pool, nc);
		if (!np)
			return UINT32_MAX;
		b->pool = np;
		b->pool_cap = nc;
	}
	uint32_t off = (uint32_t)b->pool_len;
	memcpy(b->pool + off, s, n);
	b->pool[off + n] = '\0';
	b->pool_len += n + 1;
	return off;
}

/* A slice of the rule text as pool offsets (the text was copied at t). */
static void slice_off(const struct lists_rule *r, uint32_t t, const char *p, size_t n,
                      uint32_t *off, uint32_t *len)
{
	if (!p || n == 0) {
		*off = 0;
		*len = 0;
		return;
	}
	*off = t + (uint32_t)(p - r->text);
	*len = (uint32_t)n;
}

static int within(const struct lists_rule *r, const char *p)
{
	return p >= r->text && p <= r->text + r->len;
}

static uint32_t regex_flags(uint32_t flags)
{
	uint32_t o = PCRE2_ALT_BSUX | PCRE2_MATCH_UNSET_BACKREF | PCRE2_DOLLAR_ENDONLY;
	if (!(flags & LISTS_F_MATCH_CASE))
		o |= PCRE2_CASELESS;
	return o;
}

int netfilter_rule_ok(const struct lists_rule *r, const char **why)
{
	const struct lists_net *n = &r->net;
	*why = NULL;
	if (r->len > 60000 || n->pattern_len > 60000) {
		*why = "rule too long";
		return 0;
	}
	if (n->flags & LISTS_F_REGEX) {
		int err;
		PCRE2_SIZE eoff;
		pcre2_code *c = pcre2_compile((PCRE2_SPTR)n->pattern, n->pattern_len, regex_flags(n->flags),
		                              &err, &eoff, NULL);
		if (!c) {
			*why = "regex rejected by PCRE2";
			return 0;
		}
		pcre2_code_free(c);
	}
	return 1;
}

int netfilter_builder_add(struct netfilter_builder *b, const struct lists_rule *r,
                          uint16_t list_id, const char **why)
{
	const struct lists_net *n = &r->net;
	if (!netfilter_rule_ok(r, why))
		return 1;
	uint32_t t = pool_add(b, r->text, r->len);
	if (t == UINT32_MAX)
		return -1;
	struct brule *br = vec_push(&b->rules);
	if (!br)
		return -1;
	memset(br, 0, sizeof(*br));
	br->text_off = t;
	br->text_len = (uint32_t)r->len;
	br->flags = n->flags;
	br->types = n->types;
	br->action = n->action;
	br->priority = n->priority;
	br->list_id = list_id;
	br->line = r->line;
	br->method_in = n->methods_in;
	br->method_out = n->methods_out;
	slice_off(r, t, n->pattern, n->pattern_len, &br->pat_off, &br->pat_len);
	slice_off(r, t, n->domains, n->domains_len, &br->dom_off, &br->dom_len);
	slice_off(r, t, n->to, n->to_len, &br->to_off, &br->to_len);
	slice_off(r, t, n->denyallow, n->denyallow_len, &br->deny_off, &br->deny_len);
	if (n->value && n->value_len && !within(r, n->value)) {
		br->val_off = pool_add(b, n->value, n->value_len);
		if (br->val_off == UINT32_MAX)
			return -1;
		br->val_len = (uint32_t)n->value_len;
	} else if (n->value_len) {
		/* values are stored NUL-terminated and unescaped ("\," -> ",") */
		char tmp[4096];
		size_t k = 0;
		for (size_t i = 0; i < n->value_len && k < sizeof(tmp); i++) {
			if (n->value[i] == '\\' && i + 1 < n->value_len && n->value[i + 1] == ',')
				continue;
			tmp[k++] = n->value[i];
		}
		br->val_off = pool_add(b, tmp, k);
		if (br->val_off == UINT32_MAX)
			return -1;
		br->val_len = (uint32_t)k;
	}
	return 0;
}

/* u64 -> u32 map used while building (token counts). */
struct cmap { uint64_t *k; uint32_t *v; size_t cap, n; };

static int cmap_grow(struct cmap *m)
{
	size_t nc = m->cap ? m->cap * 2 : 1 << 14;
	uint64_t *nk = calloc(nc, sizeof(*nk));
	uint32_t *nv = calloc(nc, sizeof(*nv));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->k[i])
			continue;
		size_t j = m->k[i] & (nc - 1);
		while (nk[j])
			j = (j + 1) & (nc - 1);
		nk[j] = m->k[i];
		nv[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = nk;
	m->v = nv;
	m->cap = nc;
	return 0;
}

static uint32_t *cmap_at(struct cmap *m, uint64_t key)
{
	if ((m->n + 1) * 4 > m->cap * 3 && cmap_grow(m) < 0)
		return NULL;
	size_t j = key & (m->cap - 1);
	while (m->k[j] && m->k[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->k[j]) {
		m->k[j] = key;
		m->v[j] = 0;
		m->n++;
	}
	return &m->v[j];
}

static uint32_t cmap_get(const struct cmap *m, uint64_t key)
{
	if (!m->cap)
		return 0;
	size_t j = key & (m->cap - 1);
	while (m->k[j] && m->k[j] != key)
		j = (j + 1) & (m->cap - 1);
	return m->k[j] ? m->v[j] : 0;
}

static void cmap_free(struct cmap *m)
{
	free(m->k);
	free(m->v);
}

#define MAX_CAND 32
struct cand { uint64_t h[MAX_CAND]; uint16_t off[MAX_CAND]; int n; };

/* Tokens a plain pattern guarantees as whole URL tokens: runs of token
 * characters bounded on both sides by something that cannot be a token
 * character (a literal separator, '^', an anchor), never by '*' or by an
 * unanchored pattern end. */
static void cand_plain(const char *p, size_t n, uint32_t flags, struct cand *c)
{
	c->n = 0;
	size_t i = 0;
	while (i < n && c->n < MAX_CAND) {
		unsigned char ch = lower_tab[(unsigned char)p[i]];
		if (!is_tok(ch)) {
			i++;
			continue;
		}
		size_t b = i;
		uint64_t h = H_INIT;
		while (i < n && is_tok(lower_tab[(unsigned char)p[i]])) {
			h = (h ^ lower_tab[(unsigned char)p[i]]) * H_PRIME;
			i++;
		}
		int left = b == 0 ? (flags & (LISTS_F_ANCHOR_HOST | LISTS_F_ANCHOR_LEFT)) != 0 : p[b - 1] != '*';
		int right = i == n ? (flags & LISTS_F_ANCHOR_RIGHT) != 0 : p[i] != '*';
		if (left && right) {
			c->off[c->n] = b < NF_OFF_NONE && !memchr(p, '*', b) ? (uint16_t)b : NF_OFF_NONE;
			c->h[c->n++] = h_fix(h);
		}
	}
}

/* Tokens a regex guarantees: literal token-character runs at top level,
 * not under a quantifier, bounded by literal non-token characters (or ^/$
 * anchors).  Any top-level alternation means no token at all. */
static void cand_regex(const char *p, size_t n, struct cand *c)
{
	c->n = 0;
	/* atoms: 't' token char, 's' separator literal, 'u' unknown, 'a' anchor */
	char kind[512];
	unsigned char chr[512];
	size_t na = 0;
	int depth = 0;
	for (size_t i = 0; i < n && na < sizeof(kind);) {
		char ch = p[i];
		char k;
		unsigned char v = 0;
		if (ch == '|' && depth == 0) {
			c->n = 0;
			return;
		}
		if (ch == '(') {
			depth++;
			i++;
			continue;
		}
		if (ch == ')') {
			depth--;
			i++;
			k = 'u';
		} else if (depth > 0) {
			if (ch == '\\')
				i++;
			i++;
			continue;
		} else if (ch == '[') {
			i++;
			while (i < n && p[i] != ']') {
				if (p[i] == '\\')
					i++;
				i++;
			}
			i++;
			k = 'u';
		} else if (ch == '\\') {
			if (i + 1 >= n)
				break;
			unsigned char e = (unsigned char)p[i + 1];
			i += 2;
			if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9'))
				k = 'u';   /* \d \w \b \1 ... */
			else {
				k = 's';
				v = e;
			}
		} else if (ch == '^' || ch == '$') {
			k = 'a';
			i++;
		} else if (ch == '.' || ch == '?' || ch == '*' || ch == '+' || ch == '{') {
			k = 'u';
			i++;
		} else {
			unsigned char lc = lower_tab[(unsigned char)ch];
			k = is_tok(lc) ? 't' : 's';
			v = lc;
			i++;
		}
		/* a quantifier makes the atom before it optional or repeated */
		if (i < n && (p[i] == '?' || p[i] == '*' || p[i] == '+' || p[i] == '{'))
			k = 'u';
		kind[na] = k;
		chr[na] = v;
		na++;
	}
	if (depth != 0)
		return;
	for (size_t i = 0; i < na && c->n < MAX_CAND;) {
		if (kind[i] != 't') {
			i++;
			continue;
		}
		size_t b = i;
		uint64_t h = H_INIT;
		while (i < na && kind[i] == 't')
			h = (h ^ chr[i++]) * H_PRIME;
		int left = b > 0 && (kind[b - 1] == 's' || (kind[b - 1] == 'a' && b == 1));
		int right = i < na && (kind[i] == 's' || (kind[i] == 'a' && i == na - 1));
		if (left && right) {
			c->off[c->n] = NF_OFF_NONE;
			c->h[c->n++] = h_fix(h);
		}
	}
}

static int is_pure_host(const struct netfilter_builder *b, const struct brule *r)
{
	if (r->flags & LISTS_F_HOSTS)
		return 1;
	if ((r->flags & (LISTS_F_ANCHOR_HOST | LISTS_F_REGEX | LISTS_F_ANCHOR_RIGHT)) != LISTS_F_ANCHOR_HOST)
		return 0;
	const char *p = b->pool + r->pat_off;
	if (r->pat_len < 2 || p[r->pat_len - 1] != '^')
		return 0;
	for (uint32_t i = 0; i + 1 < r->pat_len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!(is_tok(lower_tab[c]) || c == '.' || c == '-' || c == '_') || c == '%')
			return 0;
	}
	return 1;
}

/* The bad-filter key: the rule text without its "badfilter" option. */
static size_t badfilter_key(const char *s, size_t n, char *out, size_t cap)
{
	const char *d = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == '$') {
			d = s + i - 1;
			if (memmem(d, n - (size_t)(d - s), "badfilter", 9))
				break;
		}
	if (!d || (size_t)(d - s) + 1 > cap)
		return 0;
	size_t o = (size_t)(d - s);
	memcpy(out, s, o);
	const char *opt = d + 1, *end = s + n;
	int first = 1;
	while (opt <= end) {
		const char *e = opt;
		while (e < end && *e != ',')
			e++;
		size_t l = (size_t)(e - opt);
		if (!(l == 9 && memcmp(opt, "badfilter", 9) == 0) && l) {
			if (o + l + 2 > cap)
				return 0;
			out[o++] = first ? '$' : ',';
			memcpy(out + o, opt, l);
			o += l;
			first = 0;
		}
		opt = e + 1;
	}
	return o;
}

struct pair { uint32_t key; uint32_t rule; uint8_t table, map; uint16_t off; };

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	if (x->table != y->table) return x->table < y->table ? -1 : 1;
	if (x->map != y->map) return x->map < y->map ? -1 : 1;
	if (x->key != y->key) return x->key < y->key ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Parses "a.com|~b.com|c.*" into sorted hash runs appended to u64: included
 * first, then excluded.  Returns 0 or -1 (OOM); *xent set if entities seen. */
static int domains_hash(struct vec *u64, const char *s, size_t n, uint32_t *off, uint16_t *inc,
                        uint16_t *exc, int *xent)
{
	uint64_t in[256], ex[256];
	size_t ni = 0, ne = 0;
	*xent = 0;
	for (size_t i = 0; i < n;) {
		size_t b = i;
		while (i < n && s[i] != '|')
			i++;
		const char *d = s + b;
		size_t dl = i - b;
		i++;
		int neg = dl && d[0] == '~';
		if (neg) { d++; dl--; }
		if (dl == 0 || dl > 253)
			continue;
		char low[256];
		for (size_t k = 0; k < dl; k++)
			low[k] = (char)lower_tab[(unsigned char)d[k]];
		if (dl >= 2 && low[dl - 1] == '*' && low[dl - 2] == '.')
			*xent = 1;
		uint64_t h = h_host(low, dl);
		if (neg && ne < 256) ex[ne++] = h;
		else if (!neg && ni < 256) in[ni++] = h;
	}
	qsort(in, ni, sizeof(uint64_t), u64_cmp);
	qsort(ex, ne, sizeof(uint64_t), u64_cmp);
	*off = (uint32_t)u64->n;
	*inc = (uint16_t)ni;
	*exc = (uint16_t)ne;
	for (size_t k = 0; k < ni + ne; k++) {
		uint64_t *p = vec_push(u64);
		if (!p)
			return -1;
		*p = k < ni ? in[k] : ex[k - ni];
	}
	return 0;
}

static int rule_tables(const struct brule *r, int out[3])
{
	int exc = (r->flags & LISTS_F_EXCEPTION) != 0, imp = (r->flags & LISTS_F_IMPORTANT) != 0, n = 0;
	switch (r->action) {
	case LISTS_A_BLOCK:
		if (exc) {
			out[n++] = T_EXCEPT;
			if ((r->types & LISTS_T_DOCUMENT) ||
			    (r->flags & (LISTS_F_ELEMHIDE | LISTS_F_GENERICHIDE | LISTS_F_SPECIFICHIDE)))
				out[n++] = T_PAGE;
		} else {
			/* important rules are block rules too: T_IMPORTANT is only
			 * consulted once an exception has matched */
			out[n++] = T_BLOCK;
			if (imp)
				out[n++] = T_IMPORTANT;
		}
		break;
	case LISTS_A_REDIRECT:
		if (exc) {
			out[n++] = T_REDIR_EXC;
		} else {
			out[n++] = T_BLOCK;
			out[n++] = T_REDIR;
			if (imp)
				out[n++] = T_IMPORTANT;
		}
		break;
	case LISTS_A_REDIRECT_RULE: out[n++] = exc ? T_REDIR_EXC : T_REDIR; break;
	case LISTS_A_REMOVEPARAM: out[n++] = exc ? T_RP_EXC : T_RP; break;
	case LISTS_A_CSP: out[n++] = exc ? T_CSP_EXC : T_CSP; break;
	case LISTS_A_PAGE: if (exc) out[n++] = T_PAGE; break;
	}
	return n;
}

static inline uint64_t bloom_mix(uint32_t key)
{
	return (uint64_t)key * 0x9e3779b97f4a7c15ULL;
}
static inline uint64_t bloom_bits(uint64_t m)
{
	return (1ULL << (m & 63)) | (1ULL << ((m >> 6) & 63));
}
static void bloom_set(uint64_t *w, uint32_t n, uint32_t key)
{
	uint64_t m = bloom_mix(key);
	w[(m >> 32) & (n - 1)] |= bloom_bits(m);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

int netfilter_build(struct netfilter_builder *b, void **blob, size_t *len)
{
	struct brule *rules = b->rules.p;
	size_t nr = b->rules.n;
	struct cmap bad = {0}, counts = {0}, common = {0};
	struct vec recs = {.sz = sizeof(struct nf_rec)}, extras = {.sz = sizeof(struct nf_extra)};
	struct vec u64 = {.sz = sizeof(uint64_t)}, pairs = {.sz = sizeof(struct pair)};
	uint32_t *u32 = NULL;
	struct nf_slot *slots = NULL;
	uint64_t *bloom = NULL;
	char *keep = calloc(nr ? nr : 1, 1);
	int rc = -1;
	struct nf_hdr h;
	memset(&h, 0, sizeof(h));
	uint32_t n_bad = 0, n_regex = 0, n_untok = 0;
	if (!keep)
		goto out;

	/* 1. $badfilter: collect the keys, then drop the rules they name */
	for (size_t i = 0; i < nr; i++) {
		if (!(rules[i].flags & LISTS_F_BADFILTER))
			continue;
		char key[8192];
		size_t kl = badfilter_key(b->pool + rules[i].text_off, rules[i].text_len, key, sizeof(key));
		uint32_t *v = kl ? cmap_at(&bad, h_str(key, kl)) : NULL;
		if (kl && !v)
			goto out;
		if (v)
			*v = 1;
	}
	for (size_t i = 0; i < nr; i++) {
		if (rules[i].flags & LISTS_F_BADFILTER)
			continue;
		if (bad.n && cmap_get(&bad, h_str(b->pool + rules[i].text_off, rules[i].text_len))) {
			n_bad++;
			continue;
		}
		keep[i] = 1;
	}

	/* 2. token frequencies over every candidate, to pick the rarest */
	for (size_t i = 0; i < nr; i++) {
		if (!keep[i] || is_pure_host(b, &rules[i]))
			continue;
		struct cand c;
		if (rules[i].flags & LISTS_F_REGEX)
			cand_regex(b->pool + rules[i].pat_off, rules[i].pat_len, &c);
		else
			cand_plain(b->pool + rules[i].pat_off, rules[i].pat_len, rules[i].flags, &c);
		for (int k = 0; k < c.n; k++) {
			uint32_t *v = cmap_at(&counts, c.h[k]);
			if (!v)
				goto out;
			(*v)++;
		}
	}

	/* URL tokens nearly every request has: a rule filed under one of them
	 * would be tried for most requests, so they count as very frequent
	 * (uBO keeps a similar list of "bad tokens") */
	static const char *const common_tokens[] = {
		"http", "https", "www", "com", "net", "org", "de", "co", "uk", "io", "js", "css", "png",
		"gif", "jpg", "jpeg", "svg", "webp", "php", "html", "htm", "json", "images", "image",
		"img", "static", "assets", "cdn", "api", "v1", "v2", "min", "id", "s", "a", "i", "1", "0",
		"2", "3", "en", "us", "v", "t", "p", "c", "e", "b", "d", "m", "x", "content", "media",
		"wp", "ajax", "libs", "lib", "dist", "public", "files", "index", "cache", "utm",
		"source", "medium", "campaign", "amp", "gstatic", "googleapis", "google", "fonts",
	};
	for (size_t i = 0; i < sizeof(common_tokens) / sizeof(common_tokens[0]); i++) {
		uint32_t *v = cmap_at(&common, h_str(common_tokens[i], strlen(common_tokens[i])));
		if (!v)
			goto out;
		/* the scheme is in every URL, www and com in most */
		*v = i < 2 ? 1000000 : i < 4 ? 500000 : 100000;
	}

	if (nr > NF_MAX_RULES)
		goto out;

	/* 3. records, extras and index pairs */
	for (size_t i = 0; i < nr; i++) {
		if (!keep[i])
			continue;
		struct brule *r = &rules[i];
		int pure = is_pure_host(b, r);
		uint32_t id = (uint32_t)recs.n;
		struct nf_rec *rec = vec_push(&recs);
		if (!rec)
			goto out;
		memset(rec, 0, sizeof(*rec));
		rec->text_off = r->text_off;
		rec->pat_delta = (uint16_t)(r->pat_len ? r->pat_off - r->text_off : 0);
		rec->pat_len = (uint16_t)(pure && !(r->flags & LISTS_F_HOSTS) ? r->pat_len - 1 : r->pat_len);
		uint32_t types = r->types;
		/* uBO's strict blocking: host-name rules without types also match documents */
		if (pure && !(r->flags & LISTS_F_EXPLICIT_TYPES))
			types |= LISTS_T_DOCUMENT;
		rec->types = (uint16_t)types;
		rec->flags = (r->flags & 0xfffffu) | (pure ? NF_PURE_HOST : 0) | ((uint32_t)r->action << NF_ACTION_SHIFT);
		rec->line = r->line;
		rec->list_id = r->list_id;
		rec->extra = UINT32_MAX;
		struct nf_extra x;
		memset(&x, 0, sizeof(x));
		x.regex = UINT32_MAX;
		int need_x = 0, ent;
		if (r->dom_len) {
			if (domains_hash(&u64, b->pool + r->dom_off, r->dom_len, &x.dom_off, &x.dom_inc, &x.dom_exc, &ent) < 0)
				goto out;
			x.xflags |= ent ? X_DOM_ENTITY : 0;
			need_x = 1;
		}
		if (r->to_len) {
			if (domains_hash(&u64, b->pool + r->to_off, r->to_len, &x.to_off, &x.to_inc, &x.to_exc, &ent) < 0)
				goto out;
			x.xflags |= ent ? X_TO_ENTITY : 0;
			need_x = 1;
		}
		if (r->deny_len) {
			uint16_t dummy;
			if (domains_hash(&u64, b->pool + r->deny_off, r->deny_len, &x.deny_off, &x.deny_n, &dummy, &ent) < 0)
				goto out;
			x.xflags |= ent ? X_DENY_ENTITY : 0;
			need_x = 1;
		}
		if (r->val_len || r->action != LISTS_A_BLOCK) {
			x.val_off = r->val_off;
			x.val_len = r->val_len;
			x.priority = (int16_t)(r->priority < -32768 ? -32768 : r->priority > 32767 ? 32767 : r->priority);
			need_x = 1;
		}
		if (r->flags & LISTS_F_REGEX) {
			x.regex = n_regex++;
			need_x = 1;
		}
		if (r->method_in || r->method_out) {
			x.method_in = r->method_in;
			x.method_out = r->method_out;
			need_x = 1;
		}
		if (need_x) {
			rec->extra = (uint32_t)extras.n;
			struct nf_extra *xp = vec_push(&extras);
			if (!xp)
				goto out;
			*xp = x;
		}
		/* where it is indexed */
		uint64_t key = 0;
		uint16_t key_off = NF_OFF_NONE;
		int map = NM;
		if (pure) {
			char low[256];
			size_t hl = rec->pat_len < sizeof(low) ? rec->pat_len : sizeof(low) - 1;
			for (size_t k = 0; k < hl; k++)
				low[k] = (char)lower_tab[(unsigned char)b->pool[r->pat_off + k]];
			key = h_host(low, hl);
			map = M_HOST;
		} else {
			struct cand c;
			if (r->flags & LISTS_F_REGEX)
				cand_regex(b->pool + r->pat_off, r->pat_len, &c);
			else
				cand_plain(b->pool + r->pat_off, r->pat_len, r->flags, &c);
			uint64_t best = UINT64_MAX;
			for (int k = 0; k < c.n; k++) {
				uint64_t cost = (uint64_t)cmap_get(&counts, c.h[k]) + (uint64_t)cmap_get(&common, c.h[k]);
				if (cost < best) {
					best = cost;
					key = c.h[k];
					key_off = c.off[k];
				}
			}
			/* a rule whose only tokens are in most URLs but which names its
			 * pages is better filed under those pages */
			if (c.n && !(best >= 100000 && x.dom_inc))
				map = M_TOKEN;
			else if (r->action == LISTS_A_REMOVEPARAM && r->val_len && b->pool[r->val_off] != '/') {
				/* generic removeparam=NAME: only requests with that parameter */
				key = h_str(b->pool + r->val_off, r->val_len);
				map = M_PARAM;
			}
		}
		int tabs[3], nt = rule_tables(r, tabs);
		for (int t = 0; t < nt; t++) {
			/* a rule with included domains can only match on those pages;
			 * its excluded ones are checked by rec_match */
			if (map == NM && x.dom_inc) {
				if (x.xflags & X_DOM_ENTITY)
					h.t[tabs[t]].entity_keys = 1;
				for (uint16_t k = 0; k < x.dom_inc; k++) {
					struct pair *p = vec_push(&pairs);
					if (!p)
						goto out;
					*p = (struct pair){key32(((uint64_t *)u64.p)[x.dom_off + k]), id, (uint8_t)tabs[t], M_PAGEDOM,
					                   NF_OFF_NONE};
				}
				continue;
			}
			if (map == NM) {
				for (uint32_t bit = 0; bit < NF_NTYPES; bit++) {
					if (!(rec->types & (1u << bit)))
						continue;
					struct pair *p = vec_push(&pairs);
					if (!p)
						goto out;
					*p = (struct pair){bit, id, (uint8_t)tabs[t], NM, NF_OFF_NONE};
				}
				if (tabs[t] != T_PAGE)
					n_untok++;
				continue;
			}
			struct pair *p = vec_push(&pairs);
			if (!p)
				goto out;
			*p = (struct pair){key32(key), id, (uint8_t)tabs[t], (uint8_t)map,
			                   map == M_TOKEN ? key_off : NF_OFF_NONE};
		}
	}

	/* 4. hash tables */
	if (pairs.n)   /* qsort(NULL, 0) is undefined (found by tests/fuzz/fuzz_lists.c) */
		qsort(pairs.p, pairs.n, sizeof(struct pair), pair_cmp);
	struct pair *pp = pairs.p;
	size_t n_slot = 0, n_bloom = 0;
	/* bucket sizes: at most one count word per pair on top of the ids */
	u32 = malloc((pairs.n ? 2 * pairs.n : 1) * sizeof(uint32_t));
	if (!u32)
		goto out;
	size_t n_u32 = 0;
	/* slot counts first: the bloom filter answers most misses, so the
	 * tables can be kept nearly full */
	for (size_t i = 0; i < pairs.n;) {
		size_t j = i, distinct = 0;
		while (j < pairs.n && pp[j].table == pp[i].table && pp[j].map == pp[i].map) {
			if (j == i || pp[j].key != pp[j - 1].key)
				distinct++;
			j++;
		}
		struct nf_table *t = &h.t[pp[i].table];
		if (pp[i].map != NM) {
			uint32_t cap = 4;
			while (cap < distinct + distinct / 8 + 1)
				cap *= 2;
			t->map_off[pp[i].map] = (uint32_t)n_slot;
			t->map_cap[pp[i].map] = cap;
			n_slot += cap;
			uint32_t words = 1;
			while (words * 8 < distinct)
				words *= 2;
			t->bloom_off[pp[i].map] = (uint32_t)n_bloom;
			t->bloom_n[pp[i].map] = words;
			n_bloom += words;
		}
		i = j;
	}
	slots = calloc(n_slot ? n_slot : 1, sizeof(*slots));
	bloom = calloc(n_bloom ? n_bloom : 1, sizeof(uint64_t));
	if (!slots || !bloom)
		goto out;
	for (size_t i = 0; i < pairs.n;) {
		size_t j = i;
		while (j < pairs.n && pp[j].table == pp[i].table && pp[j].map == pp[i].map && pp[j].key == pp[i].key)
			j++;
		struct nf_table *t = &h.t[pp[i].table];
		if (pp[i].map == NM) {
			t->any_start[pp[i].key] = (uint32_t)n_u32;
			t->any_count[pp[i].key] = (uint32_t)(j - i);
			for (size_t k = i; k < j; k++)
				u32[n_u32++] = ent_make(pp[k].rule, NF_OFF_NONE);
		} else {
			uint32_t ref;
			if (j - i == 1) {
				ref = NF_REF_ONE | ent_make(pp[i].rule, pp[i].off);
			} else {
				ref = (uint32_t)n_u32;
				u32[n_u32++] = (uint32_t)(j - i);
				for (size_t k = i; k < j; k++)
					u32[n_u32++] = ent_make(pp[k].rule, pp[k].off);
			}
			struct nf_slot *s = slots + t->map_off[pp[i].map];
			uint32_t mask = t->map_cap[pp[i].map] - 1;
			size_t k = pp[i].key & mask;
			while (s[k].key)
				k = (k + 1) & mask;
			s[k] = (struct nf_slot){pp[i].key, ref};
			bloom_set(bloom + t->bloom_off[pp[i].map], t->bloom_n[pp[i].map], pp[i].key);
		}
		i = j;
	}

	/* 5. the blob */
	h.magic = NF_MAGIC;
	h.version = NF_VERSION;
	h.n_rec = (uint32_t)recs.n;
	h.n_extra = (uint32_t)extras.n;
	h.n_slot = (uint32_t)n_slot;
	h.n_u32 = (uint32_t)n_u32;
	h.n_u64 = (uint32_t)u64.n;
	h.pool_len = (uint32_t)b->pool_len;
	h.n_regex = n_regex;
	h.n_badfiltered = n_bad;
	h.n_untok = n_untok;
	size_t off = align8(sizeof(h));
	h.off_rec = (uint32_t)off;   off = align8(off + recs.n * sizeof(struct nf_rec));
	h.off_extra = (uint32_t)off; off = align8(off + extras.n * sizeof(struct nf_extra));
	h.off_slot = (uint32_t)off;  off = align8(off + n_slot * sizeof(struct nf_slot));
	h.off_u32 = (uint32_t)off;   off = align8(off + n_u32 * sizeof(uint32_t));
	h.off_u64 = (uint32_t)off;   off = align8(off + u64.n * sizeof(uint64_t));
	h.off_bloom = (uint32_t)off; off = align8(off + n_bloom * sizeof(uint64_t));
	h.n_bloom = (uint32_t)n_bloom;
	h.off_pool = (uint32_t)off;  off = align8(off + b->pool_len);
	if (off > UINT32_MAX)
		goto out;
	h.size = (uint32_t)off;
	char *out = calloc(1, off);
	if (!out)
		goto out;
	memcpy(out, &h, sizeof(h));
	if (recs.n) memcpy(out + h.off_rec, recs.p, recs.n * sizeof(struct nf_rec));
	if (extras.n) memcpy(out + h.off_extra, extras.p, extras.n * sizeof(struct nf_extra));
	if (n_slot) memcpy(out + h.off_slot, slots, n_slot * sizeof(struct nf_slot));
	if (n_u32) memcpy(out + h.off_u32, u32, n_u32 * sizeof(uint32_t));
	if (u64.n) memcpy(out + h.off_u64, u64.p, u64.n * sizeof(uint64_t));
	if (n_bloom) memcpy(out + h.off_bloom, bloom, n_bloom * sizeof(uint64_t));
	memcpy(out + h.off_pool, b->pool, b->pool_len);
	*blob = out;
	*len = off;
	rc = 0;
out:
	free(keep);
	cmap_free(&bad);
	cmap_free(&counts);
	cmap_free(&common);
	free(recs.p);
	free(extras.p);
	free(u64.p);
	free(pairs.p);
	free(u32);
	free(slots);
	free(bloom);
	return rc;
}

/* ---- opening a blob --------------------------------------------------------------------- */

uint32_t netfilter_format(void)
{
	return NF_VERSION;
}

struct netfilter *netfilter_open(const void *blob, size_t len)
{
	const struct nf_hdr *h = blob;
	if (!blob || ((uintptr_t)blob & 7) || len < sizeof(*h) || h->magic != NF_MAGIC ||
	    h->version != NF_VERSION || h->size > len)
		return NULL;
	/* every section inside the blob, in order */
	if ((uint64_t)h->off_rec + (uint64_t)h->n_rec * sizeof(struct nf_rec) > h->off_extra ||
	    (uint64_t)h->off_extra + (uint64_t)h->n_extra * sizeof(struct nf_extra) > h->off_slot ||
	    (uint64_t)h->off_slot + (uint64_t)h->n_slot * sizeof(struct nf_slot) > h->off_u32 ||
	    (uint64_t)h->off_u32 + (uint64_t)h->n_u32 * 4 > h->off_u64 ||
	    (uint64_t)h->off_u64 + (uint64_t)h->n_u64 * 8 > h->off_bloom ||
	    (uint64_t)h->off_bloom + (uint64_t)h->n_bloom * 8 > h->off_pool ||
	    (uint64_t)h->off_pool + h->pool_len > h->size || h->off_rec < sizeof(*h) ||
	    (h->off_rec | h->off_extra | h->off_slot | h->off_u32 | h->off_u64 | h->off_bloom) & 7 ||
	    h->pool_len == 0)
		return NULL;
	const char *base = blob;
	if (base[h->off_pool + h->pool_len - 1] != '\0')
		return NULL;
	for (int t = 0; t < NT; t++) {
		const struct nf_table *tb = &h->t[t];
		for (int k = 0; k < NF_NTYPES; k++)
			if ((uint64_t)tb->any_start[k] + tb->any_count[k] > h->n_u32)
				return NULL;
		for (int m = 0; m < NM; m++)
			if ((tb->map_cap[m] & (tb->map_cap[m] - 1)) ||
			    (uint64_t)tb->map_off[m] + tb->map_cap[m] > h->n_slot ||
			    (tb->map_cap[m] && (!tb->bloom_n[m] || (tb->bloom_n[m] & (tb->bloom_n[m] - 1)))) ||
			    (uint64_t)tb->bloom_off[m] + tb->bloom_n[m] > h->n_bloom)
				return NULL;
	}
	const struct nf_slot *sl = (const void *)(base + h->off_slot);
	const uint32_t *u32 = (const void *)(base + h->off_u32);
	for (uint32_t i = 0; i < h->n_slot; i++) {
		if (!sl[i].key)
			continue;
		if (sl[i].ref & NF_REF_ONE) {
			if (ent_id(sl[i].ref & ~NF_REF_ONE) >= h->n_rec)
				return NULL;
		} else if (sl[i].ref >= h->n_u32 || (uint64_t)sl[i].ref + 1 + u32[sl[i].ref] > h->n_u32) {
			return NULL;
		} else {
			for (uint32_t k = 0; k < u32[sl[i].ref]; k++)
				if (ent_id(u32[sl[i].ref + 1 + k]) >= h->n_rec)
					return NULL;
		}
	}
	for (int t = 0; t < NT; t++)
		for (int b = 0; b < NF_NTYPES; b++)
			for (uint32_t k = 0; k < h->t[t].any_count[b]; k++)
				if (ent_id(u32[h->t[t].any_start[b] + k]) >= h->n_rec)
					return NULL;
	const struct nf_rec *rec = (const void *)(base + h->off_rec);
	const struct nf_extra *ex = (const void *)(base + h->off_extra);
	for (uint32_t i = 0; i < h->n_rec; i++) {
		if (rec[i].text_off >= h->pool_len ||
		    (uint64_t)rec[i].text_off + rec[i].pat_delta + rec[i].pat_len > h->pool_len ||
		    (rec[i].extra != UINT32_MAX && rec[i].extra >= h->n_extra))
			return NULL;
	}
	for (uint32_t i = 0; i < h->n_extra; i++) {
		const struct nf_extra *x = &ex[i];
		if ((uint64_t)x->dom_off + x->dom_inc + x->dom_exc > h->n_u64 ||
		    (uint64_t)x->to_off + x->to_inc + x->to_exc > h->n_u64 ||
		    (uint64_t)x->deny_off + x->deny_n > h->n_u64 ||
		    (uint64_t)x->val_off + x->val_len >= h->pool_len ||
		    (x->regex != UINT32_MAX && x->regex >= h->n_regex))
			return NULL;
	}
	struct netfilter *nf = calloc(1, sizeof(*nf));
	if (!nf)
		return NULL;
	nf->re = calloc(h->n_regex ? h->n_regex : 1, sizeof(*nf->re));
	if (!nf->re) {
		free(nf);
		return NULL;
	}
	nf->h = h;
	nf->rec = rec;
	nf->extra = ex;
	nf->slot = sl;
	nf->u32 = u32;
	nf->u64 = (const void *)(base + h->off_u64);
	nf->pool = base + h->off_pool;
	nf->bloom = (const void *)(base + h->off_bloom);
	nf->psl = get_psl();
	return nf;
}

void netfilter_close(struct netfilter *nf)
{
	if (!nf)
		return;
	for (uint32_t i = 0; i < nf->h->n_regex; i++) {
		pcre2_code *c = atomic_load(&nf->re[i]);
		if (c)
			pcre2_code_free(c);
	}
	free(nf->re);
	free(nf);
}

const char *netfilter_rule_text(const struct netfilter *nf, uint32_t rule)
{
	return rule < nf->h->n_rec ? nf->pool + nf->rec[rule].text_off : "";
}
uint16_t netfilter_rule_list(const struct netfilter *nf, uint32_t rule)
{
	return rule < nf->h->n_rec ? nf->rec[rule].list_id : 0;
}
uint32_t netfilter_rule_line(const struct netfilter *nf, uint32_t rule)
{
	return rule < nf->h->n_rec ? nf->rec[rule].line : 0;
}
uint32_t netfilter_count(const struct netfilter *nf) { return nf->h->n_rec; }
uint32_t netfilter_badfiltered(const struct netfilter *nf) { return nf->h->n_badfiltered; }
uint32_t netfilter_untokenized(const struct netfilter *nf) { return nf->h->n_untok; }

/* ---- the request context --------------------------------------------------------------- */

#define MAX_TOKENS 2048        /* like uBO's tokenizer: tokens beyond are ignored */
#define MAX_SUFFIX 16
#define MAX_URL 65536          /* longer URLs are matched on their first 64 KiB */
#define STACK_URL 4096

struct mctx {
	const struct netfilter *nf;
	const char *url;           /* as given */
	const char *lurl;          /* lowercased */
	size_t ulen, hoff, hlen;
	uint32_t type;
	uint32_t method;           /* LISTS_M_* bit, 0 when unknown */
	char rhost[256], phost[256];
	size_t rhlen, phlen;
	int ntok;
	uint64_t rh[MAX_SUFFIX];   /* request host suffix hashes */
	int nrh;
	int party;                 /* -1 not computed, 0 first, 1 third */
	int nph;                   /* page host suffix hashes, -1 not computed */
	uint64_t ph[MAX_SUFFIX];
	int nphe, nrhe;            /* entity hashes ("example.*"), -1 not computed */
	int nparam;                /* query parameter name hashes, -1 not computed */
	uint64_t param[64];
	uint64_t phe[MAX_SUFFIX], rhe[MAX_SUFFIX];
	uint64_t tok[MAX_TOKENS];
	uint32_t tpos[MAX_TOKENS]; /* where each token starts in the URL */
};

static int suffix_hashes(const char *h, size_t n, uint64_t *out, int tail_entity)
{
	/* h_host() hashes from the right, so every suffix's hash is a step of
	 * one backward pass; the shortest MAX_SUFFIX are kept */
	int k = 0;
	uint64_t x = H_INIT;
	if (n == 0)
		return 0;
	if (tail_entity) {
		x = (x ^ '*') * H_PRIME;
		x = (x ^ '.') * H_PRIME;
	}
	for (size_t i = n; i > 0 && k < MAX_SUFFIX; i--) {
		x = (x ^ (unsigned char)h[i - 1]) * H_PRIME;
		if (i == 1 || h[i - 2] == '.')
			out[k++] = h_fix(x);
	}
	return k;
}

/* libpsl answers cost thousands of instructions per call (a DAFSA walk
 * per label), and a page's requests ask about the same few hosts over and
 * over: each thread keeps the answers for its last hosts in a small
 * direct-mapped table (no allocation, nothing to free). */
#define PSL_MEMO 512
struct psl_memo {
	uint64_t key;              /* h_host() of the host; 0 = empty */
	uint16_t len;              /* host length, checked too */
	int16_t suffix;            /* offset of the public suffix, -1 when none */
	int16_t reg;               /* offset of the registrable domain, -1: the host */
};
static _Thread_local struct psl_memo t_psl[PSL_MEMO];

static const struct psl_memo *psl_memo(const struct netfilter *nf, const char *host, size_t n)
{
	uint64_t key = h_host(host, n);
	struct psl_memo *e = &t_psl[(key >> 7) & (PSL_MEMO - 1)];
	if (e->key == key && e->len == n)
		return e;
	e->key = key;
	e->len = (uint16_t)n;
	e->suffix = e->reg = -1;
	if (!url_host_is_ip(host, n)) {
		const char *ps = psl_unregistrable_domain(nf->psl, host);
		const char *r = psl_registrable_domain(nf->psl, host);
		if (ps && ps >= host && ps <= host + n)
			e->suffix = (int16_t)(ps - host);
		if (r && r >= host && r <= host + n)
			e->reg = (int16_t)(r - host);
	}
	return e;
}

/* "www.example.co.uk" -> hashes of "www.example.*", "example.*".  host is
 * NUL-terminated, n < 256. */
static int entity_hashes(const struct netfilter *nf, const char *host, size_t n, uint64_t *out)
{
	if (n == 0)
		return 0;
	const struct psl_memo *e = psl_memo(nf, host, n);
	if (e->suffix <= 0 || host[e->suffix - 1] != '.')
		return 0;
	return suffix_hashes(host, (size_t)e->suffix - 1, out, 1);
}

/* The registrable domain of host (NUL-terminated, n < 256): a suffix of
 * host, or host itself for IP addresses and public suffixes. */
static const char *reg_domain(const struct netfilter *nf, const char *host, size_t n)
{
	if (n == 0)
		return host;
	const struct psl_memo *e = psl_memo(nf, host, n);
	return e->reg >= 0 ? host + e->reg : host;
}

static int in_sorted(const uint64_t *a, uint16_t n, uint64_t k)
{
	if (n <= 8) {
		for (uint16_t i = 0; i < n; i++)
			if (a[i] == k)
				return 1;
		return 0;
	}
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a[mid] < k) lo = mid + 1;
		else if (a[mid] > k) hi = mid;
		else return 1;
	}
	return 0;
}

/* 1 when the candidate hashes pass an include/exclude list. */
static int dom_pass(const uint64_t *list, uint16_t inc, uint16_t exc, const uint64_t *c1, int n1,
                    const uint64_t *c2, int n2)
{
	for (int i = 0; i < n1; i++)
		if (in_sorted(list + inc, exc, c1[i]))
			return 0;
	for (int i = 0; i < n2; i++)
		if (in_sorted(list + inc, exc, c2[i]))
			return 0;
	if (inc == 0)
		return 1;
	for (int i = 0; i < n1; i++)
		if (in_sorted(list, inc, c1[i]))
			return 1;
	for (int i = 0; i < n2; i++)
		if (in_sorted(list, inc, c2[i]))
			return 1;
	return 0;
}

/* Hashes of the query's parameter names (as written), for M_PARAM. */
static void need_params(struct mctx *m)
{
	if (m->nparam >= 0)
		return;
	m->nparam = 0;
	const char *q = memchr(m->url, '?', m->ulen);
	if (!q)
		return;
	const char *end = m->url + m->ulen, *hash = memchr(q, '#', (size_t)(end - q));
	if (hash)
		end = hash;
	for (const char *p = q + 1; p < end && m->nparam < 64;) {
		const char *e = p;
		while (e < end && *e != '&' && *e != '=')
			e++;
		if (e > p)
			m->param[m->nparam++] = h_str(p, (size_t)(e - p));
		while (e < end && *e != '&')
			e++;
		p = e + 1;
	}
}

static void need_page(struct mctx *m)
{
	if (m->nph < 0)
		m->nph = suffix_hashes(m->phost, m->phlen, m->ph, 0);
}
static void need_page_entity(struct mctx *m)
{
	if (m->nphe < 0)
		m->nphe = entity_hashes(m->nf, m->phost, m->phlen, m->phe);
}
static void need_req_entity(struct mctx *m)
{
	if (m->nrhe < 0)
		m->nrhe = entity_hashes(m->nf, m->rhost, m->rhlen, m->rhe);
}

/* ---- patterns ----------------------------------------------------------------------------- */

/* Matches one '*'-free segment at u[pos..].  Returns the end or -1. */
static long seg_at(const char *u, size_t ulen, size_t pos, const char *p, size_t pl, int fold)
{
	size_t i = pos;
	for (size_t k = 0; k < pl; k++) {
		unsigned char c = (unsigned char)p[k];
		if (c == '^') {
			if (i == ulen)
				continue;          /* '^' also matches the end of the URL */
			if (!is_sep((unsigned char)u[i]))
				return -1;
			i++;
		} else {
			if (i >= ulen)
				return -1;
			if ((unsigned char)u[i] != (fold ? lower_tab[c] : c))
				return -1;
			i++;
		}
	}
	return (long)i;
}

/* Leftmost match of a segment at or after pos.  Returns its end or -1;
 * *at receives the start. */
static long seg_find(const char *u, size_t ulen, size_t pos, const char *p, size_t pl, int fold, size_t *at)
{
	if (pl == 0) {
		*at = pos;
		return (long)pos;
	}
	unsigned char c0 = (unsigned char)p[0];
	if (c0 != '^') {
		unsigned char want = fold ? lower_tab[c0] : c0;
		while (pos < ulen) {
			const char *hit = memchr(u + pos, want, ulen - pos);
			if (!hit)
				return -1;
			pos = (size_t)(hit - u);
			long e = seg_at(u, ulen, pos, p, pl, fold);
			if (e >= 0) {
				*at = pos;
				return e;
			}
			pos++;
		}
		return -1;
	}
	for (; pos <= ulen; pos++) {
		long e = seg_at(u, ulen, pos, p, pl, fold);
		if (e >= 0) {
			*at = pos;
			return e;
		}
	}
	return -1;
}

/* Matches pattern p (with '*' and '^') against u from start; anchored: the
 * first segment must begin at start; right: the pattern must end at ulen.
 * Leftmost placement of each segment is optimal: segments have fixed
 * lengths, so an earlier end never hurts the segments after it. */
static int glob(const char *u, size_t ulen, size_t start, int anchored, int right,
                const char *p, size_t pl, int fold)
{
	size_t pos = start, i = 0;
	int first = 1;
	for (;;) {
		size_t b = i;
		while (i < pl && p[i] != '*')
			i++;
		size_t sl = i - b;
		int last = i >= pl;
		if (sl == 0 && !first) {
			if (last)
				return right ? 1 : 1;   /* trailing '*' matches anything */
			i++;
			continue;
		}
		if (first && anchored) {
			long e = seg_at(u, ulen, pos, p + b, sl, fold);
			if (e < 0)
				return 0;
			if (last)
				return !right || (size_t)e == ulen;
			pos = (size_t)e;
		} else if (last && right) {
			/* the last segment must end exactly at ulen */
			size_t at;
			long e;
			size_t from = pos;
			while ((e = seg_find(u, ulen, from, p + b, sl, fold, &at)) >= 0) {
				if ((size_t)e == ulen)
					return 1;
				from = at + 1;
				if (from > ulen)
					break;
			}
			return 0;
		} else {
			size_t at;
			long e = seg_find(u, ulen, pos, p + b, sl, fold, &at);
			if (e < 0)
				return 0;
			if (last)
				return 1;
			pos = (size_t)e;
		}
		first = 0;
		i++;
	}
}

/* Matches the pattern; start is where it must begin (known from the
 * token's position) or SIZE_MAX when it may begin anywhere its anchors
 * allow. */
static int pat_match(const struct mctx *m, const struct nf_rec *r, size_t start)
{
	const char *p = m->nf->pool + r->text_off + r->pat_delta;
	size_t pl = r->pat_len;
	int fold = !(r->flags & LISTS_F_MATCH_CASE);
	const char *u = fold ? m->lurl : m->url;
	int right = (r->flags & LISTS_F_ANCHOR_RIGHT) != 0;
	if (start != SIZE_MAX) {
		if (r->flags & LISTS_F_ANCHOR_LEFT) {
			if (start != 0)
				return 0;
		} else if (r->flags & LISTS_F_ANCHOR_HOST) {
			if (start < m->hoff || start >= m->hoff + m->hlen ||
			    (start != m->hoff && m->lurl[start - 1] != '.'))
				return 0;
		}
		return glob(u, m->ulen, start, 1, right, p, pl, fold);
	}
	if (r->flags & LISTS_F_ANCHOR_HOST) {
		if (m->hlen == 0)
			return 0;
		size_t hend = m->hoff + m->hlen;
		for (size_t pos = m->hoff; pos < hend; pos++) {
			if (pos != m->hoff && m->lurl[pos - 1] != '.')
				continue;
			if (glob(u, m->ulen, pos, 1, right, p, pl, fold))
				return 1;
		}
		return 0;
	}
	if (r->flags & LISTS_F_ANCHOR_LEFT)
		return glob(u, m->ulen, 0, 1, right, p, pl, fold);
	return glob(u, m->ulen, 0, 0, right, p, pl, fold);
}

/* Per-thread PCRE2 state: a match context with bounded limits, so no regex
 * from a list can backtrack without end, and one match-data block.  Held in
 * a pthread key so a worker thread's exit frees them. */
struct re_tls {
	pcre2_match_context *mctx;
	pcre2_match_data *mdata;
};
static pthread_key_t re_key;
static pthread_once_t re_key_once = PTHREAD_ONCE_INIT;

static void re_tls_free(void *p)
{
	struct re_tls *t = p;
	pcre2_match_context_free(t->mctx);
	pcre2_match_data_free(t->mdata);
	free(t);
}

static void re_key_init(void)
{
	if (pthread_key_create(&re_key, re_tls_free) != 0)
		abort();   /* out of keys at start-up: nothing sensible to do */
}

/* This thread's state, or NULL when out of memory. */
static struct re_tls *re_tls(void)
{
	pthread_once(&re_key_once, re_key_init);
	struct re_tls *t = pthread_getspecific(re_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->mctx = pcre2_match_context_create(NULL);
	t->mdata = pcre2_match_data_create(1, NULL);
	if (!t->mctx || !t->mdata || pthread_setspecific(re_key, t) != 0) {
		re_tls_free(t);
		return NULL;
	}
	pcre2_set_match_limit(t->mctx, 20000);
	pcre2_set_depth_limit(t->mctx, 500);
	pcre2_set_heap_limit(t->mctx, 1024);   /* KiB */
	return t;
}

static int re_match(const struct mctx *m, const struct nf_rec *r, const struct nf_extra *x)
{
	_Atomic(pcre2_code *) *slot = &m->nf->re[x->regex];
	pcre2_code *c = atomic_load_explicit(slot, memory_order_acquire);
	if (!c) {
		int err;
		PCRE2_SIZE eoff;
		pcre2_code *nc = pcre2_compile((PCRE2_SPTR)(m->nf->pool + r->text_off + r->pat_delta), r->pat_len,
		                               regex_flags(r->flags), &err, &eoff, NULL);
		if (!nc)
			return 0;
		(void)pcre2_jit_compile(nc, PCRE2_JIT_COMPLETE);   /* the interpreter is the fallback */
		pcre2_code *expect = NULL;
		if (atomic_compare_exchange_strong(slot, &expect, nc))
			c = nc;
		else {
			pcre2_code_free(nc);
			c = expect;
		}
	}
	struct re_tls *t = re_tls();
	if (!t)
		return 0;
	int rc = pcre2_match(c, (PCRE2_SPTR)m->url, m->ulen, 0, 0, t->mdata, t->mctx);
	return rc >= 0;
}

/* The request host is host name p[0..n) (any case) or under it. */
static int host_under(const struct mctx *m, const char *p, size_t n)
{
	if (n == 0 || n > m->rhlen)
		return 0;
	const char *h = m->rhost + m->rhlen - n;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] != lower_tab[(unsigned char)p[i]])
			return 0;
	return n == m->rhlen || h[-1] == '.';
}

/* page_url's domain against a rule's domain= list. */
static int dom_check(struct mctx *m, const struct nf_extra *x)
{
	need_page(m);
	if (x->xflags & X_DOM_ENTITY)
		need_page_entity(m);
	return dom_pass(m->nf->u64 + x->dom_off, x->dom_inc, x->dom_exc, m->ph, m->nph,
	                m->phe, (x->xflags & X_DOM_ENTITY) ? m->nphe : 0);
}

/* Every condition of rule id against the request, cheapest first (libpsl
 * lookups for the party last). */
static int rec_match(struct mctx *m, uint32_t id, size_t start)
{
	const struct netfilter *nf = m->nf;
	const struct nf_rec *r = &nf->rec[id];
	if (!(r->types & m->type))
		return 0;
	const struct nf_extra *x = r->extra != UINT32_MAX ? &nf->extra[r->extra] : NULL;
	if (x && (x->dom_inc || x->dom_exc) && !dom_check(m, x))
		return 0;
	if (x) {
		/* method=: an unknown method (0) satisfies no method rule */
		if ((x->method_in && !(m->method & x->method_in)) || (x->method_out && (!m->method || (m->method & x->method_out))))
			return 0;
		if (x->to_inc || x->to_exc) {
			if (x->xflags & X_TO_ENTITY)
				need_req_entity(m);
			if (!dom_pass(nf->u64 + x->to_off, x->to_inc, x->to_exc, m->rh, m->nrh,
			              m->rhe, (x->xflags & X_TO_ENTITY) ? m->nrhe : 0))
				return 0;
		}
		if (x->deny_n) {
			if (x->xflags & X_DENY_ENTITY)
				need_req_entity(m);
			/* denyallow: the rule does not apply to requests to these hosts */
			if (!dom_pass(nf->u64 + x->deny_off, 0, x->deny_n, m->rh, m->nrh,
			              m->rhe, (x->xflags & X_DENY_ENTITY) ? m->nrhe : 0))
				return 0;
		}
	}
	if (r->flags & NF_PURE_HOST) {
		if (!host_under(m, nf->pool + r->text_off + r->pat_delta, r->pat_len))
			return 0;
	} else {
		if (r->flags & LISTS_F_REGEX) {
			if (!x || !re_match(m, r, x))
				return 0;
		} else if (!pat_match(m, r, start))
			return 0;
	}
	if (r->flags & (LISTS_F_1P | LISTS_F_3P)) {
		if (m->party < 0) {
			const char *a = reg_domain(nf, m->rhost, m->rhlen), *b = reg_domain(nf, m->phost, m->phlen);
			m->party = strcmp(a, b) != 0;
		}
		if ((r->flags & LISTS_F_1P) && !(r->flags & LISTS_F_3P) && m->party)
			return 0;
		if ((r->flags & LISTS_F_3P) && !(r->flags & LISTS_F_1P) && !m->party)
			return 0;
	}
	if (r->flags & (LISTS_F_STRICT_1P | LISTS_F_STRICT_3P)) {
		int same = m->rhlen == m->phlen && memcmp(m->rhost, m->phost, m->rhlen) == 0;
		if ((r->flags & LISTS_F_STRICT_1P) && !same)
			return 0;
		if ((r->flags & LISTS_F_STRICT_3P) && same)
			return 0;
	}
	return 1;
}

/* The bucket for key in a table's map: sets ids and n.  Returns 0 when none. */
static int slot_find(const struct netfilter *nf, const struct nf_table *t, int map, uint64_t hash,
                     const uint32_t **ids, uint32_t *n, uint32_t *one)
{
	uint32_t cap = t->map_cap[map];
	if (!cap)
		return 0;
	uint32_t key = key32(hash);
	uint64_t mix = bloom_mix(key), bits = bloom_bits(mix);
	if ((nf->bloom[t->bloom_off[map] + ((mix >> 32) & (t->bloom_n[map] - 1))] & bits) != bits)
		return 0;
	const struct nf_slot *s = nf->slot + t->map_off[map];
	uint32_t mask = cap - 1;
	for (uint32_t k = key & mask;; k = (k + 1) & mask) {
		if (s[k].key == key) {
			if (s[k].ref & NF_REF_ONE) {
				*one = s[k].ref & ~NF_REF_ONE;
				*ids = one;
				*n = 1;
			} else {
				*n = nf->u32[s[k].ref];
				*ids = nf->u32 + s[k].ref + 1;
			}
			return 1;
		}
		if (!s[k].key)
			return 0;
	}
}

/* Called for each matching rule; returns nonzero to stop the walk. */
typedef int (*visit_fn)(void *arg, uint32_t rule);

/* Visits the matching rules of a bucket; pos is where the bucket's token
 * starts in the URL, or SIZE_MAX for host, domain and catch-all buckets. */
static int bucket_visit(struct mctx *m, const uint32_t *ents, uint32_t count, size_t pos, visit_fn fn,
                        void *arg)
{
	for (uint32_t i = 0; i < count; i++) {
		uint32_t id = ent_id(ents[i]), off = ent_off(ents[i]);
		size_t start = SIZE_MAX;
		if (pos != SIZE_MAX && off != NF_OFF_NONE) {
			if (off > pos)
				continue;   /* the pattern would begin before the URL */
			start = pos - off;
		}
		if (rec_match(m, id, start) && fn(arg, id))
			return 1;
	}
	return 0;
}

static int keys_visit(struct mctx *m, const struct nf_table *t, int map, const uint64_t *keys,
                      const uint32_t *pos, int n, visit_fn fn, void *arg)
{
	for (int i = 0; i < n; i++) {
		const uint32_t *ids;
		uint32_t cnt, one;
		if (slot_find(m->nf, t, map, keys[i], &ids, &cnt, &one) &&
		    bucket_visit(m, ids, cnt, pos ? pos[i] : SIZE_MAX, fn, arg))
			return 1;
	}
	return 0;
}

/* Walks every rule of table ti that matches the request.  Returns 1 when
 * fn stopped the walk. */
static int table_visit(struct mctx *m, int ti, visit_fn fn, void *arg)
{
	const struct nf_table *t = &m->nf->h->t[ti];
	if (keys_visit(m, t, M_HOST, m->rh, NULL, m->nrh, fn, arg))
		return 1;
	if (keys_visit(m, t, M_TOKEN, m->tok, m->tpos, m->ntok, fn, arg))
		return 1;
	if (t->map_cap[M_PAGEDOM]) {
		need_page(m);
		if (keys_visit(m, t, M_PAGEDOM, m->ph, NULL, m->nph, fn, arg))
			return 1;
		if (t->entity_keys) {
			need_page_entity(m);
			if (keys_visit(m, t, M_PAGEDOM, m->phe, NULL, m->nphe, fn, arg))
				return 1;
		}
	}
	if (t->map_cap[M_PARAM]) {
		need_params(m);
		if (keys_visit(m, t, M_PARAM, m->param, NULL, m->nparam, fn, arg))
			return 1;
	}
	/* m->type is one LISTS_T_* bit */
	unsigned bit = m->type ? (unsigned)__builtin_ctz(m->type) : 0;
	if (bit >= NF_NTYPES)
		return 0;
	return bucket_visit(m, m->nf->u32 + t->any_start[bit], t->any_count[bit], SIZE_MAX, fn, arg);
}

static int first_fn(void *arg, uint32_t rule)
{
	*(uint32_t *)arg = rule;
	return 1;
}

static int table_empty(const struct netfilter *nf, int ti)
{
	const struct nf_table *t = &nf->h->t[ti];
	for (int k = 0; k < NM; k++)
		if (t->map_cap[k])
			return 0;
	for (int b = 0; b < NF_NTYPES; b++)
		if (t->any_count[b])
			return 0;
	return 1;
}

static uint32_t table_first(struct mctx *m, int ti)
{
	uint32_t id = NETFILTER_NO_RULE;
	if (!table_empty(m->nf, ti))
		table_visit(m, ti, first_fn, &id);
	return id;
}

/* ---- the passes ------------------------------------------------------------------------------ */

/* Fills the context; *heap receives a buffer to free (long URLs). */
static void ctx_init(struct mctx *m, const struct netfilter *nf, const char *url, size_t ulen, uint32_t type,
                     const char *page, size_t plen, char *stackbuf, char **heap)
{
	*heap = NULL;
	if (ulen > MAX_URL)
		ulen = MAX_URL;
	char *l = stackbuf;
	if (ulen + 1 > STACK_URL) {
		*heap = malloc(ulen + 1);
		l = *heap;
		if (!l) {              /* out of memory: match on what fits */
			l = stackbuf;
			ulen = STACK_URL - 1;
		}
	}
	/* lowercase and tokenize in one pass; tokens hashed as the builder
	 * hashed rule tokens */
	int nt = 0;
	uint64_t h = H_INIT;
	size_t ts = 0;
	int in_tok = 0;
	for (size_t i = 0; i < ulen; i++) {
		unsigned char c = lower_tab[(unsigned char)url[i]];
		l[i] = (char)c;
		if (tok_tab[c]) {
			if (!in_tok)
				ts = i;
			h = (h ^ c) * H_PRIME;
			in_tok = 1;
		} else if (in_tok) {
			if (nt < MAX_TOKENS) {
				m->tpos[nt] = (uint32_t)ts;
				m->tok[nt++] = h_fix(h);
			}
			h = H_INIT;
			in_tok = 0;
		}
	}
	if (in_tok && nt < MAX_TOKENS) {
		m->tpos[nt] = (uint32_t)ts;
		m->tok[nt++] = h_fix(h);
	}
	m->ntok = nt;
	l[ulen] = '\0';
	m->nf = nf;
	m->url = url;
	m->lurl = l;
	m->ulen = ulen;
	m->type = type;
	m->party = -1;
	m->nph = m->nphe = m->nrhe = m->nparam = -1;
	struct url_parts up;
	url_split(l, ulen, &up);
	m->hoff = up.host_off;
	m->hlen = up.host_len;
	if (m->hlen && l[m->hoff + m->hlen - 1] == '.')
		m->hlen--;
	m->rhlen = m->hlen < sizeof(m->rhost) ? m->hlen : 0;
	memcpy(m->rhost, l + m->hoff, m->rhlen);
	m->rhost[m->rhlen] = '\0';
	m->nrh = suffix_hashes(m->rhost, m->rhlen, m->rh, 0);
	int ph = page ? url_host(page, plen, m->phost, sizeof(m->phost)) : -1;
	if (ph < 0) {
		memcpy(m->phost, m->rhost, m->rhlen + 1);
		m->phlen = m->rhlen;
	} else
		m->phlen = (size_t)ph;
}

struct redir_acc { const struct netfilter *nf; uint32_t best; int prio; int all_off; const char *off[16]; int noff; };

static int redir_exc_fn(void *arg, uint32_t rule)
{
	struct redir_acc *a = arg;
	const struct nf_extra *x = &a->nf->extra[a->nf->rec[rule].extra];
	if (x->val_len == 0 || (x->val_len == 4 && memcmp(a->nf->pool + x->val_off, "none", 4) == 0))
		a->all_off = 1;
	else if (a->noff < 16)
		a->off[a->noff++] = a->nf->pool + x->val_off;
	return a->all_off;
}

static int redir_fn(void *arg, uint32_t rule)
{
	struct redir_acc *a = arg;
	const struct nf_extra *x = &a->nf->extra[a->nf->rec[rule].extra];
	const char *name = a->nf->pool + x->val_off;
	for (int i = 0; i < a->noff; i++)
		if (strcmp(a->off[i], name) == 0)
			return 0;
	if (a->best == NETFILTER_NO_RULE || x->priority > a->prio) {
		a->best = rule;
		a->prio = x->priority;
	}
	return 0;
}

/* After a block: the redirect resource to serve, if any. */
static void redirect_pass(struct mctx *m, struct netfilter_verdict *v)
{
	const struct netfilter *nf = m->nf;
	if (table_empty(nf, T_REDIR))
		return;
	struct redir_acc a = {nf, NETFILTER_NO_RULE, 0, 0, {0}, 0};
	if (!table_empty(nf, T_REDIR_EXC))
		table_visit(m, T_REDIR_EXC, redir_exc_fn, &a);
	if (a.all_off)
		return;
	table_visit(m, T_REDIR, redir_fn, &a);
	if (a.best == NETFILTER_NO_RULE)
		return;
	const struct nf_extra *x = &nf->extra[nf->rec[a.best].extra];
	v->action = NETFILTER_REDIRECT;
	size_t n = x->val_len < sizeof(v->resource) - 1 ? x->val_len : sizeof(v->resource) - 1;
	memcpy(v->resource, nf->pool + x->val_off, n);
	v->resource[n] = '\0';
	/* a redirect-rule= that is not also the blocking rule becomes the rule shown */
	if (!(nf->rec[v->rule].flags >> NF_ACTION_SHIFT == LISTS_A_REDIRECT))
		v->rule = a.best;
}

#define MAX_COLLECT 64
struct collect { const struct netfilter *nf; uint32_t ids[MAX_COLLECT]; int n; };

static int collect_fn(void *arg, uint32_t rule)
{
	struct collect *c = arg;
	for (int i = 0; i < c->n; i++)
		if (c->ids[i] == rule)
			return 0;
	if (c->n < MAX_COLLECT)
		c->ids[c->n++] = rule;
	return 0;
}

static const char *rule_value(const struct netfilter *nf, uint32_t id, size_t *len)
{
	const struct nf_extra *x = &nf->extra[nf->rec[id].extra];
	*len = x->val_len;
	return nf->pool + x->val_off;
}

/* Does removeparam value v (name, "/re/flags" or "" for all) select the
 * parameter "name=value" p[0..pl) with name length nl? */
static int rp_selects(const char *v, size_t vl, const char *p, size_t pl, size_t nl)
{
	if (vl == 0)
		return 1;
	if (vl >= 2 && v[0] == '/') {
		const char *end = v + vl;
		while (end > v + 1 && end[-1] != '/')
			end--;
		if (end <= v + 1)
			return 0;
		uint32_t opts = PCRE2_ALT_BSUX;
		for (const char *f = end; f < v + vl; f++)
			if (*f == 'i')
				opts |= PCRE2_CASELESS;
		int err;
		PCRE2_SIZE eoff;
		pcre2_code *c = pcre2_compile((PCRE2_SPTR)(v + 1), (size_t)(end - 1 - (v + 1)), opts, &err, &eoff, NULL);
		if (!c)
			return 0;
		struct re_tls *t = re_tls();
		int rc = t ? pcre2_match(c, (PCRE2_SPTR)p, pl, 0, 0, t->mdata, t->mctx) : -1;
		pcre2_code_free(c);
		return rc >= 0;
	}
	return vl == nl && memcmp(v, p, nl) == 0;
}

static void removeparam_pass(struct mctx *m, struct netfilter_verdict *v)
{
	const struct netfilter *nf = m->nf;
	const char *q = memchr(m->url, '?', m->ulen);
	if (!q || table_empty(nf, T_RP))
		return;
	struct collect on = {nf, {0}, 0}, off = {nf, {0}, 0};
	table_visit(m, T_RP, collect_fn, &on);
	if (on.n == 0)
		return;
	if (!table_empty(nf, T_RP_EXC))
		table_visit(m, T_RP_EXC, collect_fn, &off);
	for (int i = 0; i < off.n; i++) {
		size_t l;
		rule_value(nf, off.ids[i], &l);
		if (l == 0)
			return;   /* @@...$removeparam: nothing is removed */
	}
	size_t qs = (size_t)(q - m->url) + 1;
	const char *hash = memchr(m->url + qs, '#', m->ulen - qs);
	size_t qe = hash ? (size_t)(hash - m->url) : m->ulen;
	char *out = malloc(m->ulen + 1);
	if (!out)
		return;
	memcpy(out, m->url, qs - 1);
	size_t o = qs - 1;
	int kept = 0, removed = 0;
	uint32_t decider = NETFILTER_NO_RULE;
	for (size_t i = qs; i <= qe;) {
		size_t b = i;
		while (i < qe && m->url[i] != '&')
			i++;
		const char *p = m->url + b;
		size_t pl = i - b;
		i++;
		if (pl == 0)
			continue;
		const char *eq = memchr(p, '=', pl);
		size_t nl = eq ? (size_t)(eq - p) : pl;
		int drop = 0;
		for (int k = 0; k < on.n && !drop; k++) {
			size_t vl;
			const char *val = rule_value(nf, on.ids[k], &vl);
			if (!rp_selects(val, vl, p, pl, nl))
				continue;
			int excepted = 0;
			for (int e = 0; e < off.n && !excepted; e++) {
				size_t el;
				const char *ev = rule_value(nf, off.ids[e], &el);
				excepted = el == vl && memcmp(ev, val, vl) == 0;
			}
			if (!excepted) {
				drop = 1;
				if (decider == NETFILTER_NO_RULE)
					decider = on.ids[k];
			}
		}
		if (drop) {
			removed++;
			continue;
		}
		out[o++] = kept++ ? '&' : '?';
		memcpy(out + o, p, pl);
		o += pl;
	}
	if (!removed) {
		free(out);
		return;
	}
	if (hash) {
		memcpy(out + o, hash, m->ulen - qe);
		o += m->ulen - qe;
	}
	out[o] = '\0';
	v->action = NETFILTER_REMOVEPARAM;
	v->new_url = out;
	v->rule = decider;
}

static void csp_pass(struct mctx *m, struct netfilter_verdict *v)
{
	const struct netfilter *nf = m->nf;
	if (!(m->type & (LISTS_T_DOCUMENT | LISTS_T_SUBDOCUMENT)) || table_empty(nf, T_CSP))
		return;
	struct collect on = {nf, {0}, 0}, off = {nf, {0}, 0};
	table_visit(m, T_CSP, collect_fn, &on);
	if (on.n == 0)
		return;
	if (!table_empty(nf, T_CSP_EXC))
		table_visit(m, T_CSP_EXC, collect_fn, &off);
	size_t o = 0;
	for (int k = 0; k < on.n; k++) {
		size_t vl;
		const char *val = rule_value(nf, on.ids[k], &vl);
		int excepted = 0;
		for (int e = 0; e < off.n && !excepted; e++) {
			size_t el;
			const char *ev = rule_value(nf, off.ids[e], &el);
			excepted = el == 0 || (el == vl && memcmp(ev, val, vl) == 0);
		}
		if (excepted || o + vl + 3 > sizeof(v->csp))
			continue;
		if (o) {
			memcpy(v->csp + o, ", ", 2);
			o += 2;
		}
		memcpy(v->csp + o, val, vl);
		o += vl;
		if (v->rule == NETFILTER_NO_RULE || v->action != NETFILTER_CSP)
			v->rule = on.ids[k];
		v->action = NETFILTER_CSP;
	}
	v->csp[o] = '\0';
}

int netfilter_match(const struct netfilter *nf, const char *url, size_t url_len,
                    uint32_t type, const char *page_url, size_t page_len,
                    struct netfilter_verdict *v)
{
	return netfilter_match_method(nf, url, url_len, type, 0, page_url, page_len, v);
}

int netfilter_match_method(const struct netfilter *nf, const char *url, size_t url_len, uint32_t type,
                           uint32_t method, const char *page_url, size_t page_len,
                           struct netfilter_verdict *v)
{
	v->action = NETFILTER_ALLOW;
	v->matched = 0;
	v->rule = NETFILTER_NO_RULE;
	v->resource[0] = '\0';
	v->new_url = NULL;
	v->csp[0] = '\0';
	char buf[STACK_URL], *heap;
	struct mctx m;
	ctx_init(&m, nf, url, url_len, type, page_url, page_len, buf, &heap);
	m.method = method;
	/* blocks, then exceptions, then (only to overrule an exception)
	 * important blocks */
	uint32_t id = table_first(&m, T_BLOCK);
	if (id != NETFILTER_NO_RULE && !(nf->rec[id].flags & LISTS_F_IMPORTANT)) {
		uint32_t e = table_first(&m, T_EXCEPT);
		if (e != NETFILTER_NO_RULE) {
			id = table_first(&m, T_IMPORTANT);
			if (id == NETFILTER_NO_RULE) {
				v->matched = 2;
				v->rule = e;
			}
		}
	}
	if (id != NETFILTER_NO_RULE) {
		v->action = NETFILTER_BLOCK;
		v->matched = 1;
		v->rule = id;
		redirect_pass(&m, v);
	} else {
		removeparam_pass(&m, v);
		if (v->action == NETFILTER_ALLOW)
			csp_pass(&m, v);
	}
	free(heap);
	return v->action;
}

struct page_acc { const struct netfilter *nf; unsigned flags; uint32_t first; };

static int page_fn(void *arg, uint32_t rule)
{
	struct page_acc *a = arg;
	const struct nf_rec *r = &a->nf->rec[rule];
	unsigned f = 0;
	if (r->flags & LISTS_F_ELEMHIDE) f |= NETFILTER_PAGE_ELEMHIDE;
	if (r->flags & LISTS_F_GENERICHIDE) f |= NETFILTER_PAGE_GENERICHIDE;
	if (r->flags & LISTS_F_SPECIFICHIDE) f |= NETFILTER_PAGE_SPECIFICHIDE;
	if ((r->flags >> NF_ACTION_SHIFT) == LISTS_A_BLOCK && (r->flags & LISTS_F_EXPLICIT_TYPES) &&
	    (r->types & LISTS_T_DOCUMENT))
		f |= NETFILTER_PAGE_DOCUMENT;
	if (f && a->first == NETFILTER_NO_RULE)
		a->first = rule;
	a->flags |= f;
	return 0;
}

unsigned netfilter_page_flags(const struct netfilter *nf, const char *page_url, size_t len, uint32_t *rule)
{
	struct page_acc a = {nf, 0, NETFILTER_NO_RULE};
	if (!table_empty(nf, T_PAGE)) {
		char buf[STACK_URL], *heap;
		struct mctx m;
		ctx_init(&m, nf, page_url, len, LISTS_T_DOCUMENT, page_url, len, buf, &heap);
		table_visit(&m, T_PAGE, page_fn, &a);
		free(heap);
	}
	if (rule)
		*rule = a.first;
	return a.flags;
}
