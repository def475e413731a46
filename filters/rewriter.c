/*
 * rewriter: streaming HTML rewriting (see rewriter.h).
 *
 * Pipeline: html_tok (tokens with exact bytes) -> tree follower (stack of
 * open elements with the HTML parser's implied end tags) -> matcher
 * (cosmetic_page candidates, selector match) -> emitter.  The emitter has
 * three destinations, decided per token: dropped (inside a removed
 * element), held (inside an element a pending rule may still remove), or
 * out (coalesced into runs over the caller's chunk, so a page nothing
 * touches costs one sink call per chunk).
 */
#include "filters/rewriter.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#ifdef __SSE2__
#include <emmintrin.h> /* the visible-text count of text_add() */
#endif

#include "filters/cosmetic.h"
#include "filters/html_tok.h"
#include "filters/selector.h"
#include "proxy/log.h"

#define RW_MAGIC 0x52575254u
#define MAX_DEPTH 512          /* deeper documents pass through unrewritten */
#define SIB_KEEP 16            /* earlier siblings remembered per element */
#define MAX_CAND 1024          /* candidate rules per element */
#define MAX_PENDS 4096         /* elements waiting for their contents */
#define CSS_MAX (1u << 20)     /* largest injected style */
#define EXPLAIN_TEXT 96
#define GUARD_TEXT 3000        /* see text_guard() */
#define HIDE_ATTR " data-quell-hide"
#define EARLY_PREFIX 256       /* raw text bytes a prefix test reads */
#define REF_MAX 12             /* raw bytes of a reference decode_refs reads */

/* ---- tag classes --------------------------------------------------------- */

enum {
	T_VOID = 1 << 0,
	T_SPECIAL = 1 << 1,
	T_CLOSES_P = 1 << 2,
	T_HEADISH = 1 << 3,     /* may stay in <head> */
	T_SCOPE = 1 << 4,       /* default scope boundary */
	T_TABLE_SCOPE = 1 << 5,
	T_HEADING = 1 << 6,
	T_SECTION = 1 << 7,     /* tbody thead tfoot */
	T_CELL = 1 << 8,        /* td th */
	T_FOREIGN = 1 << 9,     /* svg math */
	T_INTEGRATION = 1 << 10,/* foreignObject desc title inside svg */
	T_IMPLIED = 1 << 11,    /* li dd dt option optgroup tr a button nobr:
	                           implied_closes() looks at the name */
};

struct tag_class { const char *name; unsigned flags; };
static uint8_t tag_len[128]; /* strlen of tag_classes[i].name (fewer than 128) */

static const struct tag_class tag_classes[] = {
	{ "area", T_VOID | T_SPECIAL }, { "base", T_VOID | T_SPECIAL | T_HEADISH },
	{ "basefont", T_VOID | T_SPECIAL | T_HEADISH }, { "bgsound", T_VOID | T_SPECIAL | T_HEADISH },
	{ "br", T_VOID | T_SPECIAL }, { "col", T_VOID | T_SPECIAL }, { "embed", T_VOID | T_SPECIAL },
	{ "hr", T_VOID | T_SPECIAL | T_CLOSES_P }, { "img", T_VOID | T_SPECIAL }, { "image", T_VOID },
	{ "input", T_VOID | T_SPECIAL }, { "keygen", T_VOID | T_SPECIAL },
	{ "link", T_VOID | T_SPECIAL | T_HEADISH }, { "meta", T_VOID | T_SPECIAL | T_HEADISH },
	{ "param", T_VOID | T_SPECIAL }, { "source", T_VOID | T_SPECIAL }, { "track", T_VOID | T_SPECIAL },
	{ "wbr", T_VOID | T_SPECIAL }, { "frame", T_VOID | T_SPECIAL },
	{ "address", T_SPECIAL | T_CLOSES_P }, { "article", T_SPECIAL | T_CLOSES_P },
	{ "aside", T_SPECIAL | T_CLOSES_P }, { "blockquote", T_SPECIAL | T_CLOSES_P },
	{ "center", T_SPECIAL | T_CLOSES_P }, { "details", T_SPECIAL | T_CLOSES_P },
	{ "dialog", T_SPECIAL | T_CLOSES_P }, { "dir", T_SPECIAL | T_CLOSES_P },
	{ "div", T_SPECIAL | T_CLOSES_P }, { "dl", T_SPECIAL | T_CLOSES_P },
	{ "fieldset", T_SPECIAL | T_CLOSES_P }, { "figcaption", T_SPECIAL | T_CLOSES_P },
	{ "figure", T_SPECIAL | T_CLOSES_P }, { "footer", T_SPECIAL | T_CLOSES_P },
	{ "form", T_SPECIAL | T_CLOSES_P }, { "header", T_SPECIAL | T_CLOSES_P },
	{ "hgroup", T_SPECIAL | T_CLOSES_P }, { "main", T_SPECIAL | T_CLOSES_P },
	{ "menu", T_SPECIAL | T_CLOSES_P }, { "nav", T_SPECIAL | T_CLOSES_P },
	{ "ol", T_SPECIAL | T_CLOSES_P }, { "p", T_SPECIAL | T_CLOSES_P },
	{ "pre", T_SPECIAL | T_CLOSES_P }, { "listing", T_SPECIAL | T_CLOSES_P },
	{ "section", T_SPECIAL | T_CLOSES_P }, { "search", T_SPECIAL | T_CLOSES_P },
	{ "summary", T_SPECIAL | T_CLOSES_P }, { "ul", T_SPECIAL | T_CLOSES_P },
	{ "table", T_SPECIAL | T_CLOSES_P | T_SCOPE | T_TABLE_SCOPE },
	{ "xmp", T_SPECIAL | T_CLOSES_P }, { "plaintext", T_SPECIAL | T_CLOSES_P },
	{ "h1", T_SPECIAL | T_CLOSES_P | T_HEADING }, { "h2", T_SPECIAL | T_CLOSES_P | T_HEADING },
	{ "h3", T_SPECIAL | T_CLOSES_P | T_HEADING }, { "h4", T_SPECIAL | T_CLOSES_P | T_HEADING },
	{ "h5", T_SPECIAL | T_CLOSES_P | T_HEADING }, { "h6", T_SPECIAL | T_CLOSES_P | T_HEADING },
	{ "li", T_SPECIAL | T_IMPLIED }, { "dd", T_SPECIAL | T_IMPLIED }, { "dt", T_SPECIAL | T_IMPLIED },
	{ "option", T_IMPLIED }, { "optgroup", T_IMPLIED }, { "a", T_IMPLIED }, { "nobr", T_IMPLIED },
	{ "applet", T_SPECIAL | T_SCOPE }, { "caption", T_SPECIAL | T_SCOPE },
	{ "html", T_SPECIAL | T_SCOPE | T_TABLE_SCOPE }, { "td", T_SPECIAL | T_SCOPE | T_CELL },
	{ "th", T_SPECIAL | T_SCOPE | T_CELL }, { "marquee", T_SPECIAL | T_SCOPE },
	{ "object", T_SPECIAL | T_SCOPE }, { "template", T_SPECIAL | T_SCOPE | T_TABLE_SCOPE | T_HEADISH },
	{ "tbody", T_SPECIAL | T_SECTION }, { "thead", T_SPECIAL | T_SECTION },
	{ "tfoot", T_SPECIAL | T_SECTION }, { "tr", T_SPECIAL | T_IMPLIED }, { "colgroup", T_SPECIAL },
	{ "body", T_SPECIAL }, { "head", T_SPECIAL }, { "button", T_SPECIAL | T_IMPLIED },
	{ "frameset", T_SPECIAL }, { "iframe", T_SPECIAL }, { "noembed", T_SPECIAL },
	{ "noframes", T_SPECIAL | T_HEADISH }, { "noscript", T_SPECIAL | T_HEADISH },
	{ "script", T_SPECIAL | T_HEADISH }, { "style", T_SPECIAL | T_HEADISH },
	{ "title", T_SPECIAL | T_HEADISH }, { "select", T_SPECIAL }, { "textarea", T_SPECIAL },
	{ "svg", T_FOREIGN }, { "math", T_FOREIGN },
	{ "foreignobject", T_INTEGRATION }, { "desc", T_INTEGRATION },
};

#define TAG_SLOTS 512
static const struct tag_class *tag_table[TAG_SLOTS];
/* open_tags[] slots of the names the implied end tags look for: a zero
 * count there means no such element is open, so no walk of the stack */
static unsigned slot_p, slot_li, slot_dd, slot_dt, slot_a, slot_button, slot_nobr;
static pthread_once_t tag_once = PTHREAD_ONCE_INIT;

static unsigned name_hash(const char *s, size_t n)
{
	unsigned h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

_Static_assert(sizeof tag_classes / sizeof tag_classes[0] <= sizeof tag_len, "tag_len too small");

static void tag_init(void)
{
	slot_p = name_hash("p", 1) & 255;
	slot_li = name_hash("li", 2) & 255;
	slot_dd = name_hash("dd", 2) & 255;
	slot_dt = name_hash("dt", 2) & 255;
	slot_a = name_hash("a", 1) & 255;
	slot_button = name_hash("button", 6) & 255;
	slot_nobr = name_hash("nobr", 4) & 255;
	for (size_t i = 0; i < sizeof tag_classes / sizeof *tag_classes; i++) {
		tag_len[i] = (uint8_t)strlen(tag_classes[i].name);
		unsigned s = name_hash(tag_classes[i].name, tag_len[i]) & (TAG_SLOTS - 1);
		while (tag_table[s])
			s = (s + 1) & (TAG_SLOTS - 1);
		tag_table[s] = &tag_classes[i];
	}
}

/* Short names compared inline (a libc call cost more than the compare). */
static int short_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* The T_* flags of the tag whose name_hash() is h. */
static unsigned tag_flags_h(const char *name, size_t n, unsigned h)
{
	unsigned s = h & (TAG_SLOTS - 1);
	while (tag_table[s]) {
		if (tag_len[tag_table[s] - tag_classes] == n && short_eq(tag_table[s]->name, name, n))
			return tag_table[s]->flags;
		s = (s + 1) & (TAG_SLOTS - 1);
	}
	return 0;
}

/* Is name[0..n) the string literal lit?  Its length is known at compile
 * time (these run for every tag). */
#define NAME_IS(name, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((name), (lit), sizeof(lit) - 1))

/* The first 8 bytes of name[0..n), zero past its end: with the length,
 * the name's identity up to 8 bytes (nearly all tag names); longer names
 * compare the rest as well.  (tag_key() is the same for a token's name,
 * read with one load.) */
static inline uint64_t name_key(const char *name, size_t n)
{
	uint64_t k = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		k |= (uint64_t)(unsigned char)name[i] << (8 * i);
	return k;
}

/* ---- state ----------------------------------------------------------------- */

/* An element record: what the matcher sees, with its bytes copied so it
 * outlives the token.  prev_el owns the chain of earlier siblings. */
struct el {
	struct sel_node n;
	struct el *prev_el;
	uint8_t size_class;        /* 1.. EL_CLASSES: its room is that many EL_UNIT; 0: other */
	struct html_attr attrs[];
};

/* Records are made and dropped for every element: the freed ones are kept
 * for reuse by size instead of a malloc and a free each.  The lists are
 * the thread's, not a rewriter's: a rewriter lives for one page, and with
 * lists of its own every page began with a malloc per record it holds at
 * once (~50 on a news page, as many frees at its end).  Bounded: at most
 * EL_POOL_BYTES of records per size class and thread (64 KB in all). */
#define EL_UNIT 64
#define EL_CLASSES 8
#define EL_POOL_BYTES 8192
static _Thread_local struct el *el_pool[EL_CLASSES];
static _Thread_local unsigned el_pool_n[EL_CLASSES];
/* 1 once the thread's pool is freed at the thread's exit (el_pool_key's
 * destructor): only then are records kept in it (a worker that stops
 * would otherwise leave its records behind) */
static _Thread_local int el_pool_on;
static pthread_key_t el_pool_key;
static int el_pool_key_ok;
static pthread_once_t el_pool_once = PTHREAD_ONCE_INIT;
static const unsigned el_pool_max[EL_CLASSES] = { /* EL_POOL_BYTES / (class * EL_UNIT) */
	EL_POOL_BYTES / (1 * EL_UNIT), EL_POOL_BYTES / (2 * EL_UNIT), EL_POOL_BYTES / (3 * EL_UNIT),
	EL_POOL_BYTES / (4 * EL_UNIT), EL_POOL_BYTES / (5 * EL_UNIT), EL_POOL_BYTES / (6 * EL_UNIT),
	EL_POOL_BYTES / (7 * EL_UNIT), EL_POOL_BYTES / (8 * EL_UNIT),
};
_Static_assert(EL_CLASSES == 8, "el_pool_max lists 8 classes");

struct frame {
	struct el *el;
	struct el *last_child;     /* owned: the latest closed child and its chain */
	uint32_t n_children;
	uint32_t chain;            /* length of the children's sibling chain */
	unsigned flags;            /* T_* of the element */
	uint8_t foreign;           /* inside svg/math */
	uint8_t hidden;            /* hide mode: already marked */
	uint64_t in_start;         /* input offset of the start tag */
	uint64_t hold_start;       /* held-stream offset of the start tag */
	uint64_t inner_end;        /* held-stream offset of its end tag, if any */
	uint8_t has_inner_end;
	uint8_t tag_slot;          /* its open_tags[] slot (name_hash & 255) */
	uint64_t key;              /* name_key() of its name: end tags compare
	                              it, not the record's name */
};

struct pend {
	const struct cosmetic_entry *e;
	const struct sel *s;       /* whose conditions are evaluated */
	uint32_t level;            /* frame index */
	uint32_t serial, target;   /* target: serial of the pend a probe signals (0: a rule) */
	uint32_t flags;            /* descendant conditions met, a bit each */
	uint8_t target_cond;
	uint64_t hold_start, inner_start, text_start, in_start;
	uint64_t vis_start;        /* visible-text counter at the start */
	uint64_t amp_start;        /* '&' counter at the start */
	uint32_t desc;             /* conditions met by descendants, a bit each */
	int32_t prev_desc;         /* index of the previous pend with desc, -1 */
	/* early_check: the text tests still to try on the beginning of the
	 * text (sel_cond_test_prefix), a bit each; the bounds on its text
	 * (sel_early_bounds), SIZE_MAX: none */
	uint32_t early_pre;
	uint8_t early_init;        /* early_pre and the bounds are set */
	uint64_t pre_end;          /* the certain text early_pre last could not
	                              decide ended here (the same text tells
	                              the same: not read again) */
	size_t len_room, vis_room;
};

/* A remembered static match of a scope-free :has() selector on the
 * element being opened (stamp: which element). */
struct has_memo { uint64_t id; uint32_t stamp; uint8_t r; };
#define HAS_MEMO 64

/* The distinct selectors the pends with descendant conditions wait on
 * (a superset: kept until no such pend is left).  Most elements opened
 * under pending blocks match none of them, and one test of each then
 * stands for the walk of every pend's conditions (about 25 an element
 * under nested divs, each asked of the selector module). */
struct wait_sel { const struct sel *sub; const char *st; uint64_t id; uint32_t stl; uint8_t plain; };
#define WAIT_SELS 16
#define WAIT_SEEN 64           /* direct-mapped by rule: in wait[] already */

/* A text no word of a text test's filter starts in: [start, end) of the
 * text stream (absolute offsets), for the test with that id. */
struct word_memo { uint64_t id, start, end; };
#define WORD_SLOTS 16

/* What the page's index holds for an attribute name (a page has few
 * distinct names, each on many elements): the bits AI_*, computed once
 * per name and rewriter.  Names of AINFO_NAME bytes or more are not kept. */
enum { AI_AT = 1, AI_INDEXED = 2, AI_SUB = 4, AI_ID = 8, AI_CLASS = 16 };
#define AINFO_NAME 23
#define AINFO_SLOTS 128
struct ainfo { uint64_t key; char name[AINFO_NAME]; uint8_t len; uint8_t bits; }; /* key: name_key() */

/* The same for tag names: their T_* flags, their open_tags[] slot
 * (name_hash() & 255), whether rules are filed under '<'+name and those
 * rules (the index lookup's answer, the same for every element of the
 * page: a page's p or a elements each asked for the same list), by
 * tag_key() slot; rules NULL when the list could not be kept (the index
 * is asked then).  key: tag_key() of the name, which is the whole name
 * up to 8 bytes (longer ones compare the rest too); len 0: empty. */
#define TINFO_SLOTS 64
struct tinfo {
	uint64_t key; uint8_t len; uint8_t has_rules; uint8_t slot; unsigned flags;
	const struct cosmetic_entry **rules; size_t n_rules;
	char name[AINFO_NAME];
};

/* A rule filed under a tag's key as match_rules() reads it for every
 * element of that tag: the same list for each, so read of the rule's
 * modules once per tag and page (a dozen calls a rule and element
 * otherwise).  skip: :style(), or a selector never matched in the stream;
 * anc: sel_ancestor_hash; early: sel_early_mask. */
struct rule_brief {
	const struct cosmetic_entry *e;
	const struct sel *s;
	uint32_t anc, early;
	uint16_t same;             /* 1 + the index of an earlier rule of the list
	                              with the same static part (sel_static_id,
	                              among the first BRIEF_SAME): its match is
	                              this one's; 0: none */
	uint8_t skip, tag_only, conds;
};
#define BRIEF_SAME 256
/* The briefs of one tag's rules, by tag name (a few slots: a page's
 * elements are of a few tags); n as in tinfo. */
#define TB_SLOTS 32
struct tag_briefs { char name[AINFO_NAME]; uint8_t len; struct rule_brief *b; size_t n; };

/* What an attribute (name and value) added to the candidates on this
 * page: a page repeats the same class lists, ids and links element after
 * element, and each one otherwise costs a scan, a key hash per class
 * token, value word or window and an index probe per key.  Two ways a
 * set by attr_key() (slots valid by a bit of attr_valid[], so the table
 * is never cleared); the rules found, in the order found, are n entries of
 * attr_pool from off.  Bounded: ATTR_MEMO slots and ATTR_POOL rules
 * (once the pool is full only attributes that found none are kept),
 * 48 KB made on first use. */
#define ATTR_MEMO 2048
#define ATTR_POOL 2048
struct attr_memo { uint64_t key; uint32_t off, n; };

/* A remembered text test: key mixes the text's hash and the test. */
struct memo { uint64_t key; uint8_t result; };
#define MEMO_SLOTS 1024
#define CHEAP_SLOTS 16

struct rewriter {
	unsigned magic;
	struct cosmetic_page *page;
	struct html_tok *tok;
	struct rewriter_opts o;
	char nonce[40];
	char *host;
	int active;                /* rules may apply */
	int keep_attrs;            /* element records keep their attributes
	                              (cosmetic_page_reads_others) */
	int lean;                  /* no rule reads an element's attributes
	                              after its start tag, nor its earlier
	                              siblings: records are lean_el[] */
	unsigned n_lean;           /* lean_el[1..n_lean) are made */
	int passthrough;
	int failed;

	unsigned depth;            /* frames in use; frames[0] is the document */
	unsigned html_level, head_level, body_level;
	int seen_head;

	unsigned skip_level;       /* frame of the element being removed, 0: none */
	const struct cosmetic_entry *skip_entry;
	char skip_text[EXPLAIN_TEXT];
	size_t skip_text_len;

	struct pend *pends;
	size_t n_pends, cap_pends;
	unsigned n_holding;
	unsigned n_desc;           /* pends with descendant conditions */
	int32_t last_desc;         /* the last of them (a chain through prev_desc) */
	uint32_t next_serial;
	int overflow_logged;

	char *hold;                /* held output; hold[0] is at hold_base */
	size_t hold_len, hold_cap;
	uint64_t hold_base;
	char *text;                /* text of pending elements (raw) */
	size_t text_len, text_cap;
	uint64_t text_base;
	uint64_t visible;          /* non-blank bytes of visible text so far, */
	uint64_t vis_upto;         /* counted up to this text offset (vis_sync) */
	uint64_t amps;             /* '&' bytes of text so far (all text: a
	                              reference may run on into the next piece) */
	int early_full;            /* pends went that were not the deepest
	                              (early_check reads all pends once) */
	int early_new;             /* the deepest pends changed since early_check */
	int early_pre;             /* its last pass left beginning tests to try */
	uint64_t early_at;         /* and bounds that text past this offset
	                              may pass (UINT64_MAX: none) */
	char *dec;                 /* decoded text of the element being resolved */
	size_t dec_len, dec_cap;
	uint64_t dec_start;
	int dec_valid;
	uint64_t th, th_start;     /* hash of the element's text being resolved */
	int th_valid;
	struct memo *memo;         /* text test results by (hash, test) */
	struct memo cheap[CHEAP_SLOTS]; /* cheap tests on the text at cheap_start */
	unsigned n_cheap;
	uint64_t cheap_start;
	int cheap_valid;
	const uint64_t *tri;       /* the page's "~name=abc" filter */
	const uint64_t *pair;      /* the page's "[name=word" filter */
	uint16_t open_tags[256];   /* open elements by tag name hash */
	struct ainfo ainfo[AINFO_SLOTS];
	uint64_t attr_valid[ATTR_MEMO / 64]; /* attr_memo[] slots in use */
	struct attr_memo *attr_memo; /* ATTR_MEMO slots, then the pool; NULL until used */
	const struct cosmetic_entry **attr_pool;
	uint32_t attr_pool_n;
	struct tinfo tinfo[TINFO_SLOTS];
	int tag_has_rules;         /* of the start tag being matched */
	const struct cosmetic_entry **tag_rules; /* its tinfo's rules (NULL: ask the index) */
	size_t n_tag_rules;
	struct tag_briefs tb[TB_SLOTS]; /* the tags' rules as match_rules() reads them */
	struct has_memo has_memo[HAS_MEMO];
	struct wait_sel wait[WAIT_SELS];
	unsigned n_wait;           /* wait[] in use; > WAIT_SELS: too many, walk */
	uint32_t wait_gen;         /* counts the lists made */
	struct { const struct sel *s; uint32_t gen; } wait_seen[WAIT_SEEN]; /* rules in wait[] */
	struct word_memo words[WORD_SLOTS]; /* cleared when text is cut */
	uint32_t has_stamp;

	/* output run over the caller's chunk */
	const char *chunk;
	size_t chunk_len;
	const char *run;
	size_t run_len;
	rewriter_sink sink;
	void *sink_arg;

	uint64_t in_off;           /* input offset of the current token */
	int style1_done, style2_done;
	int csp_meta;              /* a <meta> CSP was given the nonce */
	char *css;
	size_t css_cap;

	struct rewriter_stats st;

	/* the large arrays last: only frames[0] is cleared at the start, the
	 * others are written before they are read */
	struct frame frames[MAX_DEPTH + 1];
	const struct sel_node *path[MAX_DEPTH];
	const struct cosmetic_entry *cand[MAX_CAND];
	/* lean: the record of the element open at each level (or of the last
	 * one there), rewritten by the next element at that level: matching
	 * reads only the element and its ancestors (path[]), so a record
	 * outlives its element for nothing, and one per level replaces a
	 * record, a sibling chain and a pool round trip per element */
	struct el *lean_el[MAX_DEPTH + 1];
};

/* ---- output ------------------------------------------------------------------ */

static int flush_run(struct rewriter *rw)
{
	if (!rw->run_len)
		return 0;
	const char *p = rw->run;
	size_t n = rw->run_len;
	rw->run_len = 0;
	rw->st.bytes_out += n;
	return rw->sink(rw->sink_arg, p, n);
}

/* Sends bytes out, coalescing those that continue the run in the chunk. */
static int out_bytes(struct rewriter *rw, const char *p, size_t n)
{
	if (!n)
		return 0;
	int in_chunk = rw->chunk && p >= rw->chunk && p + n <= rw->chunk + rw->chunk_len;
	if (in_chunk && rw->run_len && rw->run + rw->run_len == p) {
		rw->run_len += n;
		return 0;
	}
	if (flush_run(rw) < 0)
		return -1;
	if (in_chunk) {
		rw->run = p;
		rw->run_len = n;
		return 0;
	}
	rw->st.bytes_out += n;
	return rw->sink(rw->sink_arg, p, n);
}

/* out_bytes for the usual case, inlined where tokens go out: bytes that
 * continue the run over the chunk. */
static inline int out_next(struct rewriter *rw, const char *p, size_t n)
{
	if (rw->run_len && rw->run + rw->run_len == p && n <= (size_t)(rw->chunk + rw->chunk_len - p)) {
		rw->run_len += n;
		return 0;
	}
	return out_bytes(rw, p, n);
}

static int buf_add(char **b, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		char *x = realloc(*b, c);
		if (!x)
			return -1;
		*b = x;
		*cap = c;
	}
	memcpy(*b + *len, p, n);
	*len += n;
	return 0;
}

static int check_bound(struct rewriter *rw);

/* Emits in the current context: dropped, held or out. */
static int emit(struct rewriter *rw, const char *p, size_t n)
{
	if (rw->skip_level)
		return 0;
	if (rw->n_holding) {
		if (buf_add(&rw->hold, &rw->hold_len, &rw->hold_cap, p, n) < 0)
			return -1;
		/* within the bound, with pends, check_bound() has nothing to do
		 * (asked on every token of every held element) */
		if (rw->hold_len <= rw->o.lookahead && rw->n_pends)
			return 0;
		return check_bound(rw);
	}
	return out_next(rw, p, n);
}

/* emit() for a tag's bytes, inline where most go: out, continuing the
 * run over the chunk (the call cost more than that). */
static inline int emit_tag(struct rewriter *rw, const char *p, size_t n)
{
	if (!(rw->skip_level | rw->n_holding) && rw->run_len && rw->run + rw->run_len == p &&
	    n <= (size_t)(rw->chunk + rw->chunk_len - p)) {
		rw->run_len += n;
		return 0;
	}
	return emit(rw, p, n);
}

static uint64_t hold_pos(const struct rewriter *rw) { return rw->hold_base + rw->hold_len; }
static uint64_t text_pos(const struct rewriter *rw) { return rw->text_base + rw->text_len; }

/* Flushes held bytes before absolute position upto. */
static int hold_release(struct rewriter *rw, uint64_t upto)
{
	size_t n = (size_t)(upto - rw->hold_base);
	if (n > rw->hold_len)
		n = rw->hold_len;
	if (!n)
		return 0; /* (an inner element let go under a held one) */
	if (flush_run(rw) < 0)
		return -1;
	rw->st.bytes_out += n;
	if (rw->sink(rw->sink_arg, rw->hold, n) < 0)
		return -1;
	if (n < rw->hold_len)
		memmove(rw->hold, rw->hold + n, rw->hold_len - n);
	rw->hold_len -= n;
	rw->hold_base += n;
	return 0;
}

/* ---- element records ------------------------------------------------------- */

static void el_release(struct rewriter *rw, struct el *e)
{
	unsigned c = e->size_class;
	if (c && el_pool_on && el_pool_n[c - 1] < el_pool_max[c - 1]) {
		e->prev_el = el_pool[c - 1];
		el_pool[c - 1] = e;
		el_pool_n[c - 1]++;
	} else {
		free(e);
	}
}

/* Frees the calling thread's pool (at its exit; arg unused). */
static void el_pool_drain(void *arg)
{
	(void)arg;
	for (unsigned c = 0; c < EL_CLASSES; c++) {
		while (el_pool[c]) {
			struct el *e = el_pool[c];
			el_pool[c] = e->prev_el;
			free(e);
		}
		el_pool_n[c] = 0;
	}
	el_pool_on = 0;
}

static void el_pool_key_init(void)
{
	el_pool_key_ok = pthread_key_create(&el_pool_key, el_pool_drain) == 0;
}

/* Lets this thread keep freed records (see el_pool_on). */
static void el_pool_start(void)
{
	pthread_once(&el_pool_once, el_pool_key_init);
	/* any value but NULL makes the destructor run */
	el_pool_on = el_pool_key_ok && pthread_setspecific(el_pool_key, &el_pool_on) == 0;
}

static void el_free_chain(struct rewriter *rw, struct el *e)
{
	while (e) {
		struct el *p = e->prev_el;
		el_release(rw, e);
		e = p;
	}
}

static size_t decode_refs(const char *s, size_t n, char *out);

/* 1 when p[0..n) lies in the token's bytes. */
static int in_raw(const struct html_token *t, const char *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, r = (uintptr_t)t->raw;
	return a >= r && a + n <= r + t->raw_len;
}

/* memchr(p, c, n) != NULL, inline for 16 to 64 bytes (a start tag with
 * attributes is mostly that long, and the call cost more than the
 * search). */
static inline int has_byte(const char *p, size_t n, char c)
{
#ifdef __SSE2__
	if (n >= 16 && n <= 64) {
		const __m128i cc = _mm_set1_epi8(c);
		__m128i m = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + n - 16)), cc);
		for (size_t i = 0; i + 16 < n; i += 16)
			m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), cc));
		return _mm_movemask_epi8(m) != 0;
	}
#endif
	return memchr(p, c, n) != NULL;
}

/* A record of a tag's name and no attributes: most elements (those
 * without attributes, and those whose attributes are borrowed for their
 * start tag only).  Always of one size: the name (at most
 * HTML_TOK_NAME_MAX bytes with its NUL) after the header. */
#define EL_BARE_CLASS ((sizeof(struct el) + HTML_TOK_NAME_MAX + EL_UNIT - 1) / EL_UNIT)
_Static_assert(EL_BARE_CLASS <= EL_CLASSES, "bare records have a size class");

static struct el *el_new_bare(const struct html_token *t)
{
	struct el *e = el_pool[EL_BARE_CLASS - 1];
	if (e) {
		el_pool[EL_BARE_CLASS - 1] = e->prev_el;
		el_pool_n[EL_BARE_CLASS - 1]--;
	} else if (!(e = malloc(EL_BARE_CLASS * EL_UNIT))) {
		return NULL;
	}
	e->size_class = (uint8_t)EL_BARE_CLASS;
	char *mem = (char *)e->attrs;
	memcpy(mem, t->name, HTML_TOK_NAME_MAX); /* fixed size: a few moves, no loop */
	mem[t->name_len] = 0;
	e->n.name = mem;
	e->n.name_len = t->name_len;
	e->n.attrs = e->attrs;
	e->n.n_attrs = 0;
	e->n.prev = NULL;
	e->n.index = 0;
	e->prev_el = NULL;
	return e;
}

/* Copies a start tag into a record (attributes only when with_attrs). */
static struct el *el_new(struct rewriter *rw, const struct html_token *t, int with_attrs)
{
	unsigned na = with_attrs ? t->n_attrs : 0;
	if (!na)
		return el_new_bare(t);
	size_t names = 0;
	for (unsigned i = 0; i < na; i++)
		if (!in_raw(t, t->attrs[i].name, t->attrs[i].name_len))
			names += t->attrs[i].name_len;
	size_t raw = na ? t->raw_len : 0; /* the values' bytes */
	size_t nroom = t->name_len < 8 ? 8 : t->name_len + 1; /* see below */
	size_t size = sizeof(struct el) + na * sizeof(struct html_attr) + raw + names + nroom;
	size_t c = (size + EL_UNIT - 1) / EL_UNIT;
	struct el *e;
	if (c <= EL_CLASSES && el_pool[c - 1]) {
		e = el_pool[c - 1];
		el_pool[c - 1] = e->prev_el;
		el_pool_n[c - 1]--;
	} else {
		e = malloc(c <= EL_CLASSES ? c * EL_UNIT : size);
		if (!e)
			return NULL;
	}
	e->size_class = (uint8_t)(c <= EL_CLASSES ? c : 0);
	char *mem = (char *)(e->attrs + na);
	if (t->name_len < 8) {
		memcpy(mem, t->name, 8); /* one move (the token's name has 32 bytes) */
	} else {
		for (size_t i = 0; i < t->name_len; i++)
			mem[i] = t->name[i]; /* a few bytes: inline, not a memcpy call */
	}
	mem[t->name_len] = 0;
	e->n.name = mem;
	e->n.name_len = t->name_len;
	mem += nroom;
	if (raw)
		memcpy(mem, t->raw, raw);
	char *nm = mem + raw;
	int amp = raw && memchr(mem, '&', raw) != NULL;
	for (unsigned i = 0; i < na; i++) {
		if (in_raw(t, t->attrs[i].name, t->attrs[i].name_len)) {
			/* a name without capitals is in the tag's bytes */
			e->attrs[i].name = mem + (t->attrs[i].name - t->raw);
		} else {
			memcpy(nm, t->attrs[i].name, t->attrs[i].name_len);
			e->attrs[i].name = nm;
			nm += t->attrs[i].name_len;
		}
		e->attrs[i].name_len = t->attrs[i].name_len;
		char *v = mem + (t->attrs[i].value - t->raw);
		size_t vl = t->attrs[i].value_len;
		/* selectors see values as the DOM has them: "&amp;" is "&"
		 * (decoded in place in the copy: never longer, and never
		 * reaching the names, which come before their values) */
		if (amp && memchr(v, '&', vl))
			vl = decode_refs(v, vl, v);
		e->attrs[i].value = v;
		e->attrs[i].value_len = (uint32_t)vl;
	}
	e->n.attrs = e->attrs;
	e->n.n_attrs = na;
	e->n.prev = NULL;
	e->n.index = 0;
	e->prev_el = NULL;
	return e;
}

static struct el *el_virtual(struct rewriter *rw, const char *name)
{
	struct html_token t;
	memset(&t, 0, sizeof t);
	t.name_len = strlen(name);
	memcpy(t.name, name, t.name_len);
	return el_new(rw, &t, 0);
}

/* Lean mode: the first record at level lvl (== n_lean); NULL when out of
 * memory.  Out of line: a page makes one per level it reaches. */
__attribute__((noinline)) static struct el *el_lean_new(struct rewriter *rw, unsigned lvl,
                                                        const struct html_token *t)
{
	assert(lvl == rw->n_lean); /* levels are entered one by one */
	struct el *e = el_new_bare(t);
	if (e)
		rw->lean_el[rw->n_lean++] = e;
	return e;
}

/* Lean mode: the record at level lvl (rw->depth, <= MAX_DEPTH) for the
 * token's name, no attributes and no siblings.  The rewriter owns it (not
 * the frame); NULL when out of memory. */
static inline struct el *el_lean(struct rewriter *rw, unsigned lvl, const struct html_token *t)
{
	if (lvl >= rw->n_lean)
		return el_lean_new(rw, lvl, t);
	struct el *e = rw->lean_el[lvl];
	char *mem = (char *)e->attrs;
	memcpy(mem, t->name, HTML_TOK_NAME_MAX); /* fixed size, as el_new_bare */
	mem[t->name_len] = 0;
	e->n.name_len = t->name_len;
	e->n.attrs = NULL;
	e->n.n_attrs = 0;
	return e;
}

/* Links e as the next child of frame f (its earlier siblings become e's
 * chain, cut at SIB_KEEP). */
static void el_adopt(struct rewriter *rw, struct frame *f, struct el *e)
{
	e->prev_el = f->last_child;
	f->last_child = NULL;
	e->n.prev = e->prev_el ? &e->prev_el->n : NULL;
	e->n.index = f->n_children++;
	/* the chain is cut back to SIB_KEEP once it reaches twice that, so
	 * the walk costs one step per element on average */
	if (++f->chain < 2 * SIB_KEEP)
		return;
	struct el *c = e;
	for (int k = 0; c && k < SIB_KEEP; k++)
		c = c->prev_el;
	if (c) {
		el_free_chain(rw, c->prev_el);
		c->prev_el = NULL;
		c->n.prev = NULL;
	}
	f->chain = SIB_KEEP + 1;
}

/* ---- pending elements --------------------------------------------------------- */

static void log_overflow(struct rewriter *rw)
{
	rw->st.lookahead_overflows++;
	if (!rw->overflow_logged) {
		rw->overflow_logged = 1;
		log_msg(LOG_INFO, "rewrite %s: look-ahead bound (%zu bytes) reached, element passed unchanged",
		        rw->host ? rw->host : "-", rw->o.lookahead);
	}
}

/* Drops pends [from, n) that hold nothing any more, keeps order. */
static void pends_compact(struct rewriter *rw)
{
	size_t w = 0;
	rw->early_new = 1;
	unsigned holding = 0, desc = 0;
	int32_t last = -1;
	for (size_t i = 0; i < rw->n_pends; i++) {
		if (!rw->pends[i].e)
			continue;
		if (w != i)
			rw->pends[w] = rw->pends[i];
		rw->pends[w].prev_desc = last;
		if (rw->pends[w].desc)
			last = (int32_t)w;
		holding += !rw->pends[w].target;
		desc += rw->pends[w].desc != 0;
		w++;
	}
	rw->n_pends = w;
	rw->n_holding = holding;
	rw->n_desc = desc;
	rw->last_desc = last;
	if (!holding) {
		/* probes only make sense under a holding element */
		rw->n_pends = 0;
		rw->n_desc = 0;
		rw->last_desc = -1;
	}
	/* text before the oldest live pend is nobody's: drop it once it is
	 * worth a move, so the buffer stays within what is held */
	uint64_t first = text_pos(rw);
	for (size_t i = 0; i < rw->n_pends; i++)
		if (rw->pends[i].text_start < first)
			first = rw->pends[i].text_start;
	size_t dead = (size_t)(first - rw->text_base);
	if (dead && (dead > 65536 || dead == rw->text_len)) {
		memmove(rw->text, rw->text + dead, rw->text_len - dead);
		rw->text_len -= dead;
		rw->text_base += dead;
		rw->dec_valid = 0;
		rw->th_valid = 0;
		rw->cheap_valid = 0;
	}
}

/* Past the look-ahead bound: give up the oldest held element(s). */
static int check_bound(struct rewriter *rw)
{
	while (rw->n_holding && rw->hold_len > rw->o.lookahead) {
		uint64_t first = UINT64_MAX, next = UINT64_MAX;
		for (size_t i = 0; i < rw->n_pends; i++)
			if (!rw->pends[i].target && rw->pends[i].hold_start < first)
				first = rw->pends[i].hold_start;
		for (size_t i = 0; i < rw->n_pends; i++)
			if (!rw->pends[i].target && rw->pends[i].hold_start > first && rw->pends[i].hold_start < next)
				next = rw->pends[i].hold_start;
		for (size_t i = 0; i < rw->n_pends; i++)
			if (rw->pends[i].hold_start == first)
				rw->pends[i].e = NULL;
		rw->early_full = 1; /* the text of those left may be certain further */
		log_overflow(rw);
		pends_compact(rw);
		if (!rw->n_holding)
			next = hold_pos(rw);
		if (hold_release(rw, next) < 0)
			return -1;
	}
	if (!rw->n_holding && rw->hold_len && hold_release(rw, hold_pos(rw)) < 0)
		return -1;
	if (!rw->n_pends) {
		rw->text_base += rw->text_len;
		rw->text_len = 0;
	}
	return 0;
}

/* The conditions of s that descendants decide, a bit each. */
static uint32_t desc_mask(const struct sel *s) { return sel_desc_mask(s); }

static void vis_sync(struct rewriter *rw);

static struct pend *pend_add(struct rewriter *rw)
{
	if (rw->n_pends >= MAX_PENDS)
		return NULL;
	if (rw->n_pends == rw->cap_pends) {
		size_t cap = rw->cap_pends ? rw->cap_pends * 2 : 16;
		struct pend *v = realloc(rw->pends, cap * sizeof *v);
		if (!v)
			return NULL;
		rw->pends = v;
		rw->cap_pends = cap;
	}
	struct pend *p = &rw->pends[rw->n_pends++];
	/* (a compound literal: stores in line, where memset() was a call
	 * for each of the pends a page makes) */
	*p = (struct pend){ .serial = ++rw->next_serial, .prev_desc = rw->last_desc,
	                    .amp_start = rw->amps }; /* its text starts here (the caller sets the rest) */
	rw->early_new = 1;
	if (rw->vis_upto != text_pos(rw))
		vis_sync(rw); /* the caller reads rw->visible */

	return p;
}

/* ---- text helpers -------------------------------------------------------------- */

static size_t utf8_put(char *o, unsigned long cp)
{
	if (cp < 0x80) { o[0] = (char)cp; return 1; }
	if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
	if (cp < 0x10000) { o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); return 3; }
	if (cp > 0x10ffff) cp = 0xfffd;
	o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the common character references of s into out (at least n
 * bytes).  &nbsp; becomes a plain space so label rules anchored on
 * whitespace see what a reader sees.  Returns the decoded length. */
static size_t decode_refs(const char *s, size_t n, char *out)
{
	static const struct { const char *name; const char *val; } named[] = {
		{ "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" }, { "apos", "'" },
		{ "nbsp", " " }, { "shy", "" }, { "zwj", "" }, { "zwnj", "" },
	};
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] != '&') {
			/* the run up to the next reference, at once (out may be
			 * s itself: never ahead of it) */
			const char *amp = memchr(s + i, '&', n - i);
			size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
			if (out + o != s + i)
				memmove(out + o, s + i, run);
			o += run;
			i += run;
			continue;
		}
		const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
		if (!semi) {
			out[o++] = s[i++];
			continue;
		}
		size_t rl = (size_t)(semi - (s + i)) - 1; /* between & and ; */
		const char *r = s + i + 1;
		int done = 0;
		if (rl >= 2 && r[0] == '#') {
			unsigned long cp = 0;
			int hex = r[1] == 'x' || r[1] == 'X';
			size_t k = hex ? 2 : 1;
			int ok = k < rl;
			for (; k < rl && ok; k++) {
				int c = (unsigned char)r[k];
				if (hex ? isxdigit(c) : isdigit(c))
					cp = cp * (hex ? 16 : 10) + (unsigned long)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
				else
					ok = 0;
			}
			if (ok) {
				if (cp == 0xa0)
					cp = ' ';
				size_t w = utf8_put(out + o, cp);
				if (w <= rl + 2) { /* never longer than the reference */
					o += w;
					done = 1;
				}
			}
		} else {
			for (size_t k = 0; k < sizeof named / sizeof *named; k++)
				if (strlen(named[k].name) == rl && !memcmp(named[k].name, r, rl)) {
					size_t vl = strlen(named[k].val);
					memcpy(out + o, named[k].val, vl);
					o += vl;
					done = 1;
					break;
				}
		}
		if (done)
			i += rl + 2;
		else
			out[o++] = s[i++];
	}
	return o;
}

/* The first words of raw text, whitespace collapsed, into out[cap]. */
static void first_words(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	int sp = 1;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isspace(c)) {
			if (!sp)
				out[o++] = ' ';
			sp = 1;
		} else {
			out[o++] = (char)c;
			sp = 0;
		}
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
}

static void explain(struct rewriter *rw, const struct cosmetic_entry *e, uint64_t start,
                    uint64_t end, const char *text, size_t tl, int hidden)
{
	if (hidden < 0)
		rw->st.guarded++;
	else if (hidden)
		rw->st.hidden++;
	else
		rw->st.removed++;
	if (!rw->o.explain)
		return;
	char words[EXPLAIN_TEXT];
	char *dec = malloc(tl + 1);
	size_t dl = dec ? decode_refs(text, tl, dec) : 0;
	first_words(dec ? dec : text, dec ? dl : tl, words, sizeof words);
	free(dec);
	char *rule = cosmetic_entry_text(e);
	struct rewriter_removal r = {
		rule ? rule : "(out of memory)", cosmetic_entry_list(e), cosmetic_entry_line(e),
		start, end, words, hidden > 0, hidden < 0,
	};
	rw->o.explain(rw->o.explain_arg, &r);
	free(rule);
}

/* ---- closing elements ------------------------------------------------------------ */

/* A 64-bit hash of text: four lanes of eight bytes, so the multiplies of
 * a step overlap (the text of every element a content rule waits for is
 * hashed once). */
static uint64_t text_hash(const char *p, size_t n)
{
	const uint64_t k = 0xff51afd7ed558ccdull;
	uint64_t h[4] = { 0x9e3779b97f4a7c15ull ^ n, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
	                  0x27d4eb2f165667c5ull };
	uint64_t w[4];
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		memcpy(w, p + i, 32);
		for (int l = 0; l < 4; l++) {
			h[l] = (h[l] ^ w[l]) * k;
			h[l] ^= h[l] >> 32;
		}
	}
	uint64_t x = h[0] ^ (h[1] * 0xc4ceb9fe1a85ec53ull) ^ ((h[2] << 21 | h[2] >> 43) * k) ^
	             ((h[3] << 42 | h[3] >> 22) * 0x9e3779b97f4a7c15ull);
	for (; i + 8 <= n; i += 8) {
		memcpy(w, p + i, 8);
		x = (x ^ w[0]) * k;
		x ^= x >> 32;
	}
	w[0] = 0;
	memcpy(w, p + i, n - i);
	x = (x ^ w[0]) * 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 29);
}

/* Text test i of s on raw text (no references) at off: a wrapper's text
 * holds its child's, so when the child's was found free of the test's
 * words, only the bytes around it are scanned for them. */
static int words_test(struct rewriter *rw, const struct pend *p, const struct sel *s, unsigned i,
                      size_t off, size_t n)
{
	const char *t = rw->text + off;
	size_t span = sel_cond_word_span(s, i);
	uint64_t id = sel_cond_id(s, i);
	if (!span || !id)
		return sel_cond_test(s, i, t, n);
	struct word_memo *w = &rw->words[(id ^ (id >> 32)) & (WORD_SLOTS - 1)];
	uint64_t a = p->text_start, b = a + n;
	int found;
	if (w->id == id && w->start >= a && w->end <= b) {
		/* words starting in the child's text end inside it, but for
		 * the last span bytes of it */
		size_t x = (size_t)(w->start - a), y = (size_t)(w->end - a);
		found = sel_cond_words_at(s, i, t, n, 0, x) ||
		        sel_cond_words_at(s, i, t, n, y > x + span ? y - span : x, n);
	} else {
		found = sel_cond_words_at(s, i, t, n, 0, n);
	}
	if (!found) {
		w->id = id;
		w->start = a;
		w->end = b;
	}
	return sel_cond_test_words(s, i, t, n, found);
}

/* Text test i of s on the pend's text, decoded once per element. */
static int text_test(struct rewriter *rw, const struct pend *p, const struct sel *s, unsigned i,
                     size_t off, size_t n)
{
	if (!rw->dec_valid || rw->dec_start != p->text_start) {
		rw->dec_valid = 0;
		if (rw->amps == p->amp_start) /* no reference in its text */
			return words_test(rw, p, s, i, off, n);
		if (n + 1 > rw->dec_cap) {
			char *d = realloc(rw->dec, n + 1);
			if (!d)
				return 0;
			rw->dec = d;
			rw->dec_cap = n + 1;
		}
		rw->dec_len = decode_refs(rw->text + off, n, rw->dec);
		rw->dec_start = p->text_start;
		rw->dec_valid = 1;
	}
	return sel_cond_test(s, i, rw->dec, rw->dec_len);
}

static int cond_passes(struct rewriter *rw, const struct pend *p, unsigned i, uint64_t inner_end)
{
	const struct sel *s = p->s;
	struct sel_cond_brief cb;
	sel_cond_brief(s, i, &cb);
	int ok;
	switch (cb.kind) {
	case SEL_COND_TEXT: {
		size_t off = (size_t)(p->text_start - rw->text_base);
		size_t n = rw->text_len - off;
		uint64_t cid = cb.id;
		if (cb.cheap) {
			/* not worth a hash of the text; rules that repeat the
			 * test on this element still run it once */
			if (!rw->cheap_valid || rw->cheap_start != p->text_start) {
				rw->n_cheap = 0;
				rw->cheap_start = p->text_start;
				rw->cheap_valid = 1;
			}
			for (unsigned k = 0; cid && k < rw->n_cheap; k++)
				if (rw->cheap[k].key == cid)
					return cb.neg ? !rw->cheap[k].result : rw->cheap[k].result;
			ok = text_test(rw, p, s, i, off, n);
			if (cid && rw->n_cheap < CHEAP_SLOTS) {
				rw->cheap[rw->n_cheap].key = cid;
				rw->cheap[rw->n_cheap++].result = (uint8_t)ok;
			}
			break;
		}
		/* wrapper elements share their child's text, pages repeat
		 * blocks: a test already run on the same text is not run again */
		if (!rw->th_valid || rw->th_start != p->text_start) {
			rw->th = text_hash(rw->text + off, n);
			rw->th_start = p->text_start;
			rw->th_valid = 1;
		}
		/* by the test's id, so rules that repeat a test share it */
		uint64_t key = cid ? rw->th ^ (cid * 0xc4ceb9fe1a85ec53ull)
		                   : (rw->th ^ ((uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ull)) + i;
		if (!rw->memo) /* made by the first text test: most pages need none */
			rw->memo = calloc(MEMO_SLOTS, sizeof *rw->memo);
		struct memo *m = rw->memo ? &rw->memo[key & (MEMO_SLOTS - 1)] : NULL;
		if (m && m->key == key) {
			ok = m->result;
			break;
		}
		ok = text_test(rw, p, s, i, off, n);
		if (m) {
			m->key = key;
			m->result = (uint8_t)ok;
		}
		break;
	}
	case SEL_COND_INNER: {

		size_t a = (size_t)(p->inner_start - rw->hold_base);
		size_t b = (size_t)(inner_end - rw->hold_base);
		ok = b >= a && b <= rw->hold_len && sel_cond_test(s, i, rw->hold + a, b - a);
		break;
	}
	default:
		ok = (p->flags >> i) & 1;
		break;
	}
	return cb.neg ? !ok : ok;
}

/* Inserts the hide attribute into a held start tag at absolute at. */
static int hold_insert_hide(struct rewriter *rw, uint64_t at, const struct frame *f)
{
	size_t off = (size_t)(at - rw->hold_base) + 1 + f->el->n.name_len;
	size_t al = strlen(HIDE_ATTR);
	if (off > rw->hold_len)
		return 0;
	if (buf_add(&rw->hold, &rw->hold_len, &rw->hold_cap, HIDE_ATTR, al) < 0)
		return -1;
	memmove(rw->hold + off + al, rw->hold + off, rw->hold_len - al - off);
	memcpy(rw->hold + off, HIDE_ATTR, al);
	return 0;
}

/* A rule that looked at an element's contents never removes a block
 * holding more than GUARD_TEXT non-blank bytes of text: ad boxes, labels
 * and prompts are short, and a :has() written against one version of a
 * site's markup can match the article container of the next.  Returns 1
 * when the element must be kept. */
static int text_guard(struct rewriter *rw, const struct pend *p, const struct frame *f)
{
	const struct el *e = f->el;
	if (NAME_IS(e->n.name, e->n.name_len, "script") || NAME_IS(e->n.name, e->n.name_len, "style"))
		return 0; /* code, not text a reader sees */
	if (text_pos(rw) - p->text_start <= GUARD_TEXT)
		return 0; /* fewer bytes: no need to count them */
	vis_sync(rw);
	return rw->visible - p->vis_start > GUARD_TEXT;
}

/* 1 when every condition of p is a descendant flag (cheap) and set. */
static int flags_only_pass(const struct pend *p)
{
	for (unsigned c = 0; c < sel_n_conds(p->s); c++) {
		int k = sel_cond_kind(p->s, c);
		if (k == SEL_COND_TEXT || k == SEL_COND_INNER)
			return 0;
		int ok = (p->flags >> c) & 1;
		if (sel_cond_negated(p->s, c) ? ok : !ok)
			return 0;
	}
	return 1;
}

/* Evaluates the pends of the element at frame lvl, which ends now
 * (inner_end: where its contents ended).  Returns 0 or -1. */
static int resolve_level(struct rewriter *rw, unsigned lvl, uint64_t inner_end)
{
	struct frame *f = &rw->frames[lvl];
	int removed = 0;
	/* (the pends that go are the tail: the text of those left stays
	 * capped by the same pends, or becomes the tail's, which
	 * early_check reads next) */
	rw->early_new = 1;
	rw->dec_valid = 0;
	rw->th_valid = 0;
	rw->cheap_valid = 0;
	/* pends are in document order and deeper elements close first, so
	 * this element's are the tail of the array: no scan of the rest */
	size_t start = rw->n_pends;
	unsigned tail_holding = 0, tail_desc = 0;
	while (start > 0 && rw->pends[start - 1].level >= lvl)
		start--;
	for (size_t i = start; i < rw->n_pends; i++)
		if (rw->pends[i].e) {
			tail_holding += !rw->pends[i].target;
			tail_desc += rw->pends[i].desc != 0;
		}
	for (size_t i = start; i < rw->n_pends; i++) {
		struct pend *p = &rw->pends[i];
		if (!p->e || p->level != lvl)
			continue;
		if (!removed && text_guard(rw, p, f)) {
			/* too much text to be removed by a content rule: not even
			 * tested (text and regex tests on big blocks cost most) */
			if (!p->target && flags_only_pass(p)) {
				size_t toff = (size_t)(p->text_start - rw->text_base);
				explain(rw, p->e, p->in_start, rw->in_off, rw->text + toff, rw->text_len - toff, -1);
			}
			p->e = NULL;
			continue;
		}
		/* all must pass: the flags descendants set first (each passes
		 * when it differs from its negation: all at once), the text
		 * and inner HTML tests (regular expressions) only then */
		int ok = ((p->flags ^ sel_desc_neg(p->s)) & p->desc) == p->desc;
		unsigned nconds = ok ? sel_n_conds(p->s) : 0;
		for (unsigned c = 32; ok && c < nconds; c++)
			ok = cond_passes(rw, p, c, inner_end);
		for (unsigned c = 0; ok && c < nconds && c < 32; c++)
			if (!(p->desc >> c & 1))
				ok = cond_passes(rw, p, c, inner_end);
		if (ok && p->target) {
			for (size_t k = 0; k < rw->n_pends; k++)
				if (rw->pends[k].e && rw->pends[k].serial == p->target)
					rw->pends[k].flags |= 1u << rw->pends[k].target_cond;
		} else if (ok && !removed) {
			size_t toff = (size_t)(p->text_start - rw->text_base);
			int hide = rw->o.hide && !cosmetic_entry_html(p->e);
			if (hide) {
				if (!f->hidden && hold_insert_hide(rw, p->hold_start, f) < 0)
					return -1;
				if (!f->hidden)
					explain(rw, p->e, p->in_start, rw->in_off, rw->text + toff, rw->text_len - toff, 1);
				f->hidden = 1;
			} else {
				explain(rw, p->e, p->in_start, rw->in_off, rw->text + toff, rw->text_len - toff, 0);
				rw->hold_len = (size_t)(p->hold_start - rw->hold_base);
				rw->text_len = toff;
				memset(rw->words, 0, sizeof rw->words); /* text is rewritten */
				rw->visible = p->vis_start;
				rw->vis_upto = text_pos(rw);
				rw->amps = p->amp_start;
				rw->dec_valid = 0;
				rw->th_valid = 0;
				rw->cheap_valid = 0;
				removed = 1;
			}
		}
		p->e = NULL;
	}
	rw->n_pends = start;
	rw->n_holding -= tail_holding;
	rw->n_desc -= tail_desc;
	while (rw->last_desc >= (int32_t)start)
		rw->last_desc = rw->pends[rw->last_desc].prev_desc;
	if (!rw->n_holding) {
		/* probes only make sense under a holding element */
		rw->n_pends = 0;
		rw->n_desc = 0;
		rw->last_desc = -1;
	}
	return check_bound(rw);
}

/* What pop_frame() does for the element at lvl before its frame goes,
 * when something watches it: its pends are decided, its removal is told,
 * and (records kept) its children's records are freed and it becomes its
 * parent's latest child.  Out of line: with a lean page's plain elements
 * none of it runs, and its calls cost every pop their saved registers.
 * Returns 0 or -1. */
__attribute__((noinline)) static int pop_watched(struct rewriter *rw, unsigned lvl)
{
	struct frame *f = &rw->frames[lvl];
	if (rw->n_pends && resolve_level(rw, lvl, f->has_inner_end ? f->inner_end : hold_pos(rw)) < 0)
		return -1;
	if (rw->skip_level == lvl) {
		explain(rw, rw->skip_entry, f->in_start, rw->in_off, rw->skip_text, rw->skip_text_len, 0);
		rw->skip_level = 0;
	}
	if (!rw->lean) {
		el_free_chain(rw, f->last_child);
		f->last_child = NULL;
		struct frame *parent = &rw->frames[lvl - 1];
		/* the closed element becomes its parent's latest child (its
		 * chain of earlier siblings was linked when it opened) */
		assert(parent->last_child == NULL);
		parent->last_child = f->el;
	}
	return 0;
}

/* Pops the top frame: its element ends at the current position. */
static inline int pop_frame(struct rewriter *rw)
{
	unsigned lvl = rw->depth - 1;
	struct frame *f = &rw->frames[lvl];
	assert(lvl > 0);
	if ((rw->n_pends | (rw->skip_level == lvl) | !rw->lean) && pop_watched(rw, lvl) < 0)
		return -1;
	rw->open_tags[f->tag_slot]--;
	f->el = NULL; /* (lean: lean_el[lvl] stays the rewriter's) */
	rw->depth--;
	if (rw->html_level >= rw->depth) rw->html_level = 0;
	if (rw->head_level >= rw->depth) rw->head_level = 0;
	if (rw->body_level >= rw->depth) rw->body_level = 0;
	if (rw->frames[rw->depth - 1].foreign != f->foreign)
		html_tok_set_foreign(rw->tok, rw->frames[rw->depth - 1].foreign);
	return 0;
}

/* Pops frames until frame lvl is gone (lvl included). */
static int pop_to(struct rewriter *rw, unsigned lvl)
{
	while (rw->depth > lvl)
		if (pop_frame(rw) < 0)
			return -1;
	return 0;
}

/* ---- style injection --------------------------------------------------------------- */

static int inject_style(struct rewriter *rw, int first)
{
	if (!rw->active || rw->passthrough)
		return 0;
	static const char hide_rule[] = "[data-quell-hide]{display:none!important}\n";
	size_t pre = (first && rw->o.hide) ? sizeof hide_rule - 1 : 0;
	size_t need = pre + cosmetic_page_css_size(rw->page);
	if (need > CSS_MAX)
		need = CSS_MAX;
	if (need > rw->css_cap) {
		char *c = realloc(rw->css, need);
		if (!c)
			return -1;
		rw->css = c;
		rw->css_cap = need;
	}
	memcpy(rw->css, hide_rule, pre);
	long n = cosmetic_page_css(rw->page, rw->css + pre, rw->css_cap - pre);
	if (n < 0) {
		/* more than CSS_MAX of rules: what fitted, cut at a rule */
		n = (long)strlen(rw->css + pre);
		log_msg(LOG_INFO, "rewrite %s: style cut at %zu bytes", rw->host, rw->css_cap);
	}
	if (n <= 0 && !pre)
		return 0;
	char open[80];
	int ol = snprintf(open, sizeof open, "<style nonce=\"%s\">\n", rw->nonce);
	if (emit(rw, open, (size_t)ol) < 0 || emit(rw, rw->css, pre + (size_t)(n > 0 ? n : 0)) < 0 ||
	    emit(rw, "</style>", 8) < 0)
		return -1;
	rw->st.styles++;
	return 0;
}

static int style1(struct rewriter *rw)
{
	if (rw->style1_done)
		return 0;
	rw->style1_done = 1;
	return inject_style(rw, 1);
}

static int style_late(struct rewriter *rw)
{
	if (!rw->style1_done)
		return style1(rw);
	if (rw->style2_done)
		return 0;
	rw->style2_done = 1;
	return inject_style(rw, 0);
}

/* ---- CSP ------------------------------------------------------------------------------ */

/* Source list of a directive: does it let inline <style> through? */
static int sources_allow_inline(const char *s, size_t n)
{
	int unsafe = 0, nonce_hash = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		size_t j = i;
		while (j < n && !isspace((unsigned char)s[j]))
			j++;
		if (j - i == 15 && !strncasecmp(s + i, "'unsafe-inline'", 15))
			unsafe = 1;
		if (j - i > 7 && (!strncasecmp(s + i, "'nonce-", 7) || !strncasecmp(s + i, "'sha", 4)))
			nonce_hash = 1;
		i = j;
	}
	return unsafe && !nonce_hash;
}

struct directive { const char *v; size_t vl; const char *end; int found; };

/* Rewrites one policy (no commas) into out.  Returns 1 changed, 0 not. */
static int policy_add_nonce(const char *p, size_t n, const char *nonce, char **out, size_t *ol, size_t *oc)
{
	struct directive elem = { 0 }, src = { 0 }, def = { 0 };
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && p[j] != ';')
			j++;
		size_t a = i;
		while (a < j && isspace((unsigned char)p[a]))
			a++;
		size_t b = a;
		while (b < j && !isspace((unsigned char)p[b]))
			b++;
		struct directive *d = NULL;
		if (b - a == 14 && !strncasecmp(p + a, "style-src-elem", 14)) d = &elem;
		else if (b - a == 9 && !strncasecmp(p + a, "style-src", 9)) d = &src;
		else if (b - a == 11 && !strncasecmp(p + a, "default-src", 11)) d = &def;
		if (d && !d->found) {
			d->found = 1;
			d->v = p + b;
			d->vl = j - b;
			d->end = p + j;
		}
		i = j + 1;
	}
	struct directive *eff = elem.found ? &elem : src.found ? &src : def.found ? &def : NULL;
	if (!eff || sources_allow_inline(eff->v, eff->vl)) {
		buf_add(out, ol, oc, p, n);
		return 0;
	}
	char ns[64];
	int nl = snprintf(ns, sizeof ns, " 'nonce-%s'", nonce);
	/* copy, appending the nonce at the end of style-src-elem/style-src
	 * (a lone 'none' is replaced: 'none' with other sources is invalid) */
	const char *cur = p;
	struct directive *ds[2] = { &elem, &src };
	/* directives are copied in text order: elem and src may be either way */
	const char *ends[2] = { elem.found ? elem.end : NULL, src.found ? src.end : NULL };
	if (ends[0] && ends[1] && ends[1] < ends[0]) {
		const char *t = ends[0]; ends[0] = ends[1]; ends[1] = t;
		struct directive *td = ds[0]; ds[0] = ds[1]; ds[1] = td;
	}
	for (int k = 0; k < 2; k++) {
		struct directive *d = ds[k];
		if (!d->found)
			continue;
		const char *v = d->v;
		size_t vl = d->vl;
		while (vl && isspace((unsigned char)*v)) { v++; vl--; }
		while (vl && isspace((unsigned char)v[vl - 1])) vl--;
		if (vl == 6 && !strncasecmp(v, "'none'", 6)) {
			buf_add(out, ol, oc, cur, (size_t)(v - cur));
			buf_add(out, ol, oc, ns + 1, (size_t)nl - 1);
			cur = v + 6;
		} else {
			buf_add(out, ol, oc, cur, (size_t)(d->end - cur));
			while (*ol && isspace((unsigned char)(*out)[*ol - 1]))
				(*ol)--;
			buf_add(out, ol, oc, ns, (size_t)nl);
			cur = d->end;
		}
	}
	buf_add(out, ol, oc, cur, (size_t)(p + n - cur));
	if (!elem.found && !src.found) {
		/* only default-src: a style-src that copies it plus the nonce */
		while (*ol && (isspace((unsigned char)(*out)[*ol - 1]) || (*out)[*ol - 1] == ';'))
			(*ol)--;
		buf_add(out, ol, oc, "; style-src", 11);
		const char *v = def.v;
		size_t vl = def.vl;
		for (size_t i = 0; i < vl;) {
			while (i < vl && isspace((unsigned char)v[i]))
				i++;
			size_t j = i;
			while (j < vl && !isspace((unsigned char)v[j]))
				j++;
			if (j > i && !(j - i == 6 && !strncasecmp(v + i, "'none'", 6))) {
				buf_add(out, ol, oc, " ", 1);
				buf_add(out, ol, oc, v + i, j - i);
			}
			i = j;
		}
		buf_add(out, ol, oc, ns, (size_t)nl);
	}
	return 1;
}

char *rewriter_csp_add_nonce(const char *policy, const char *nonce, int *oom)
{
	char *out = NULL;
	size_t ol = 0, oc = 0;
	int changed = 0;
	*oom = 0;
	size_t n = strlen(policy);
	for (size_t i = 0; i <= n;) {
		size_t j = i;
		while (j < n && policy[j] != ',')
			j++;
		changed |= policy_add_nonce(policy + i, j - i, nonce, &out, &ol, &oc);
		if (j < n)
			buf_add(&out, &ol, &oc, ",", 1);
		i = j + 1;
	}
	if (buf_add(&out, &ol, &oc, "", 1) < 0 || !out) {
		free(out);
		*oom = 1;
		return NULL;
	}
	if (!changed || strlen(out) != ol - 1) {
		free(out);
		return NULL;
	}
	return out;
}

/* A <meta http-equiv=Content-Security-Policy> that blocks inline styles
 * is emitted with the nonce added.  Returns 1 handled, 0 not such a tag,
 * -1 error. */
static int meta_csp(struct rewriter *rw, const struct html_token *t)
{
	const struct html_attr *he = NULL, *ct = NULL;
	for (unsigned i = 0; i < t->n_attrs; i++) {
		if (NAME_IS(t->attrs[i].name, t->attrs[i].name_len, "http-equiv") && !he)
			he = &t->attrs[i];
		if (NAME_IS(t->attrs[i].name, t->attrs[i].name_len, "content") && !ct)
			ct = &t->attrs[i];
	}
	if (!he || !ct || he->value_len != 23 || strncasecmp(he->value, "content-security-policy", 23))
		return 0;
	char *pol = malloc(ct->value_len + 1);
	if (!pol)
		return -1;
	size_t pl = decode_refs(ct->value, ct->value_len, pol);
	pol[pl] = 0;
	int oom;
	char *np = rewriter_csp_add_nonce(pol, rw->nonce, &oom);
	free(pol);
	if (!np)
		return oom ? -1 : 0;
	/* value span with its quotes, rewritten double-quoted */
	size_t vs = (size_t)(ct->value - t->raw), ve = vs + ct->value_len;
	if (vs > 0 && (t->raw[vs - 1] == '"' || t->raw[vs - 1] == '\'')) {
		vs--;
		ve++;
	}
	char *tag = NULL;
	size_t tl = 0, tc = 0;
	int rc = buf_add(&tag, &tl, &tc, t->raw, vs) | buf_add(&tag, &tl, &tc, "\"", 1);
	for (const char *q = np; *q && rc == 0; q++) {
		if (*q == '"') rc = buf_add(&tag, &tl, &tc, "&quot;", 6);
		else if (*q == '&') rc = buf_add(&tag, &tl, &tc, "&amp;", 5);
		else rc = buf_add(&tag, &tl, &tc, q, 1);
	}
	rc |= buf_add(&tag, &tl, &tc, "\"", 1);
	rc |= buf_add(&tag, &tl, &tc, t->raw + ve, t->raw_len - ve);
	free(np);
	if (rc == 0)
		rc = emit(rw, tag, tl);
	free(tag);
	rw->csp_meta = 1;
	return rc < 0 ? -1 : 1;
}

/* ---- start tags ------------------------------------------------------------------------- */

/* 1 when frame f is an element named name[0..n) (key: its name_key()). */
static inline int frame_is(const struct frame *f, uint64_t key, const char *name, size_t n)
{
	return f->key == key && f->el->n.name_len == n && (n <= 8 || !memcmp(f->el->n.name + 8, name + 8, n - 8));
}

/* Index of the topmost frame named name above a boundary (stop flags), or 0. */
static unsigned find_in_scope(struct rewriter *rw, const char *name, size_t n, unsigned stop)
{
	uint64_t key = name_key(name, n);
	for (unsigned i = rw->depth - 1; i > 0; i--) {
		struct frame *f = &rw->frames[i];
		if (frame_is(f, key, name, n))
			return i;
		if (f->flags & stop)
			return 0;
	}
	return 0;
}

static unsigned find_name(struct rewriter *rw, const char *name, unsigned stop)
{
	return find_in_scope(rw, name, strlen(name), stop);
}

/* The parser's implied end tags before start tag name.  Returns 0 or -1. */
static int implied_closes(struct rewriter *rw, const char *name, size_t n, unsigned fl)
{
	unsigned top = rw->depth - 1, k;
	if ((top && rw->frames[top].foreign) || rw->o.xml)
		return 0; /* foreign content, XML: no HTML implied ends */
	if (rw->head_level && !(fl & T_HEADISH) && !NAME_IS(name, n, "head"))
		if (pop_to(rw, rw->head_level) < 0)
			return -1;
	if ((fl & T_CLOSES_P) && rw->open_tags[slot_p]) {
		/* a p in button scope closes */
		for (unsigned i = rw->depth - 1; i > 0; i--) {
			const struct el *e = rw->frames[i].el;
			if (NAME_IS(e->n.name, e->n.name_len, "p")) {
				if (pop_to(rw, i) < 0)
					return -1;
				break;
			}
			if ((rw->frames[i].flags & T_SCOPE) || NAME_IS(e->n.name, e->n.name_len, "button"))
				break;
		}
	}
	top = rw->depth - 1;
	if ((fl & T_HEADING) && top && (rw->frames[top].flags & T_HEADING))
		if (pop_to(rw, top) < 0)
			return -1;
	if (!(fl & (T_IMPLIED | T_CELL | T_SECTION)))
		return 0; /* most tags: none of the names below */
	if ((NAME_IS(name, n, "li") && rw->open_tags[slot_li]) ||
	    ((NAME_IS(name, n, "dd") || NAME_IS(name, n, "dt")) && (rw->open_tags[slot_dd] || rw->open_tags[slot_dt]))) {
		int li = name[0] == 'l';
		for (unsigned i = rw->depth - 1; i > 0; i--) {
			const struct el *e = rw->frames[i].el;
			if (li ? NAME_IS(e->n.name, e->n.name_len, "li")
			       : (NAME_IS(e->n.name, e->n.name_len, "dd") || NAME_IS(e->n.name, e->n.name_len, "dt"))) {
				if (pop_to(rw, i) < 0)
					return -1;
				break;
			}
			if ((rw->frames[i].flags & T_SPECIAL) && !NAME_IS(e->n.name, e->n.name_len, "address") &&
			    !NAME_IS(e->n.name, e->n.name_len, "div") && !NAME_IS(e->n.name, e->n.name_len, "p"))
				break;
		}
	}
	top = rw->depth - 1;
	if (NAME_IS(name, n, "option") || NAME_IS(name, n, "optgroup")) {
		if (top && NAME_IS(rw->frames[top].el->n.name, rw->frames[top].el->n.name_len, "option"))
			if (pop_to(rw, top) < 0)
				return -1;
		top = rw->depth - 1;
		if (NAME_IS(name, n, "optgroup") && top &&
		    NAME_IS(rw->frames[top].el->n.name, rw->frames[top].el->n.name_len, "optgroup"))
			if (pop_to(rw, top) < 0)
				return -1;
	}
	int is_tr = NAME_IS(name, n, "tr"), is_cell = (fl & T_CELL) != 0, is_sec = (fl & T_SECTION) != 0;
	if (is_tr || is_cell || is_sec) {
		/* close the open row parts above the nearest table */
		unsigned lowest = 0;
		for (unsigned i = rw->depth - 1; i > 0; i--) {
			const struct frame *f = &rw->frames[i];
			const struct el *e = f->el;
			if (f->flags & T_TABLE_SCOPE)
				break;
			int tr = NAME_IS(e->n.name, e->n.name_len, "tr");
			if ((f->flags & T_CELL) || (tr && (is_tr || is_sec)) || ((f->flags & T_SECTION) && is_sec))
				lowest = i;
			if (is_cell && tr)
				break;
			if (is_tr && (f->flags & T_SECTION))
				break;
		}
		if (lowest && pop_to(rw, lowest) < 0)
			return -1;
	}
	if (NAME_IS(name, n, "a") && rw->open_tags[slot_a] && (k = find_name(rw, "a", T_SCOPE)) != 0)
		if (pop_to(rw, k) < 0)
			return -1;
	if (NAME_IS(name, n, "button") && rw->open_tags[slot_button] && (k = find_name(rw, "button", T_SCOPE)) != 0)
		if (pop_to(rw, k) < 0)
			return -1;
	if ((NAME_IS(name, n, "nobr")) && rw->open_tags[slot_nobr] && (k = find_name(rw, "nobr", T_SCOPE)) != 0)
		if (pop_to(rw, k) < 0)
			return -1;
	return 0;
}

/* Pushes an element record; returns its frame index, 0 when too deep.
 * (h: name_hash of its name, or its low 8 bits) */
static inline unsigned push(struct rewriter *rw, struct el *e, unsigned fl, int foreign, unsigned h, uint64_t key)
{
	if (rw->depth > MAX_DEPTH)
		return 0;
	unsigned lvl = rw->depth++;
	rw->open_tags[h & 255]++;
	struct frame *f = &rw->frames[lvl];
	if (!rw->lean)
		el_adopt(rw, &rw->frames[lvl - 1], e);
	memset(f, 0, sizeof *f);
	f->tag_slot = (uint8_t)(h & 255);
	f->key = key;
	f->el = e;
	f->flags = fl;
	f->foreign = (uint8_t)foreign;
	f->in_start = rw->in_off;
	f->hold_start = hold_pos(rw);
	rw->path[lvl - 1] = &e->n;
	if (rw->frames[lvl - 1].foreign != foreign)
		html_tok_set_foreign(rw->tok, foreign);
	return lvl;
}

/* A void element (or self-closed foreign one) is a child that closes at
 * once: it still counts as a sibling. */
static void add_void(struct rewriter *rw, struct el *e)
{
	struct frame *parent = &rw->frames[rw->depth - 1];
	el_adopt(rw, parent, e);
	parent->last_child = e;
}

/* Adds the selectors of s's descendant conditions (desc, a bit each) to
 * wait[]; called before the new pend counts in n_desc. */
static void wait_add(struct rewriter *rw, const struct sel *s, uint32_t desc)
{
	if (!rw->n_desc) {
		rw->n_wait = 0; /* no pend waits on the old ones */
		if (++rw->wait_gen == 0) {
			memset(rw->wait_seen, 0, sizeof rw->wait_seen);
			rw->wait_gen = 1;
		}
	}
	/* blocks wait for the same rules over and over: each rule's
	 * selectors are read once per list */
	uintptr_t h = (uintptr_t)s;
	unsigned slot = (unsigned)(((uint64_t)h * 0x9e3779b97f4a7c15ull) >> 58) & (WAIT_SEEN - 1);
	if (rw->wait_seen[slot].s == s && rw->wait_seen[slot].gen == rw->wait_gen)
		return;
	rw->wait_seen[slot].s = s;
	rw->wait_seen[slot].gen = rw->wait_gen;
	for (; desc && rw->n_wait <= WAIT_SELS; desc &= desc - 1) {
		unsigned c = (unsigned)__builtin_ctz(desc);
		const struct sel *sub = sel_cond_sel(s, c);
		int kind = sel_cond_kind(s, c);
		size_t stl;
		const char *st = sel_subject_tag(sub, &stl);
		/* plain: hit or not on its own, the same for every scope */
		int plain = kind != SEL_COND_DEPTH && kind != SEL_COND_UPWARD && sel_rel_simple(sub);
		uint64_t id = sel_id(sub);
		unsigned k = 0;
		/* by id: rules parsed apart share it when they say the same */
		while (k < rw->n_wait && !(rw->wait[k].id == id && rw->wait[k].plain == plain))
			k++;
		if (k < rw->n_wait)
			continue;
		if (rw->n_wait == WAIT_SELS) {
			rw->n_wait = WAIT_SELS + 1;
			break;
		}
		rw->wait[rw->n_wait++] = (struct wait_sel){ sub, st, id, (uint32_t)stl, (uint8_t)plain };
	}
}

/* Starts p (fresh from pend_add) as rule e's selector s waiting at level
 * lvl: the conditions descendants decide, and the selectors they wait on. */
static void pend_watch(struct rewriter *rw, struct pend *p, const struct cosmetic_entry *e,
                       const struct sel *s, unsigned lvl)
{
	p->e = e;
	p->s = s;
	p->desc = desc_mask(s);
	if (p->desc) {
		wait_add(rw, s, p->desc);
		rw->n_desc++;
		rw->last_desc = (int32_t)(p - rw->pends);
	}
	p->level = lvl;
}

/* 1 when some pend may learn something from the element at lvl (el):
 * a selector waited on has its subject tag and is not plain, or matches
 * it (remembered in has_memo as feed_has() keys it). */
static int wait_may_hit(struct rewriter *rw, const struct sel_node *el, unsigned lvl, unsigned scope)
{
	if (rw->n_wait > WAIT_SELS)
		return 1;
	for (unsigned k = 0; k < rw->n_wait; k++) {
		const struct wait_sel *w = &rw->wait[k];
		if (w->st && !(w->stl == el->name_len && !memcmp(w->st, el->name, w->stl)))
			continue;
		if (!w->plain)
			return 1;
		struct has_memo *m = &rw->has_memo[(w->id ^ (w->id >> 29)) & (HAS_MEMO - 1)];
		int hit;
		if (m->stamp == rw->has_stamp && m->id == w->id) {
			hit = m->r;
		} else {
			hit = sel_match_rel(w->sub, rw->path, lvl, scope);
			m->id = w->id;
			m->stamp = rw->has_stamp;
			m->r = (uint8_t)hit;
		}
		if (hit)
			return 1;
	}
	return 0;
}

/* Ancestor pends with descendant conditions learn about the element just
 * pushed at frame lvl.  Returns 0 or -1. */
static int feed_has(struct rewriter *rw, unsigned lvl, int is_void)
{
	const void *upward_done[16];
	unsigned n_up = 0;
	/* a :has() selector is matched once per element and scope, however
	 * many pending ancestors and rules (by sel_id) ask */
	if (++rw->has_stamp == 0) {
		memset(rw->has_memo, 0, sizeof rw->has_memo);
		rw->has_stamp = 1;
	}
	const struct sel_node *el = rw->path[lvl - 1];
	if (rw->last_desc >= 0 && !wait_may_hit(rw, el, lvl, rw->pends[rw->last_desc].level - 1))
		return 0;
	/* only the pends that wait on descendants, newest first */
	for (int32_t i = rw->last_desc; i >= 0; i = rw->pends[i].prev_desc) {
		struct pend *p = &rw->pends[i];
		if (!p->e || p->level >= lvl)
			continue;
		for (uint32_t todo = p->desc & ~p->flags; todo; todo &= todo - 1) {
			unsigned c = (unsigned)__builtin_ctz(todo);
			int kind = sel_cond_kind(p->s, c);
			const struct sel *sub = sel_cond_sel(p->s, c);
			if (kind == SEL_COND_DEPTH && lvl != p->level + sel_cond_depth(p->s, c))
				continue;
			if (kind == SEL_COND_UPWARD) {
				int done = 0;
				for (unsigned k = 0; k < n_up; k++)
					done |= upward_done[k] == (const void *)p->e;
				if (done)
					continue;
			}
			size_t stl;
			const char *st = sel_subject_tag(sub, &stl);
			if (st && !(stl == el->name_len && !memcmp(st, el->name, stl)))
				continue; /* "p + p + p" on anything but a p */
			/* the match depends on the selector and, unless it is
			 * scope-free, on the scope: rules that share both share it */
			uint64_t id = sel_id(sub);
			if (!sel_rel_simple(sub))
				id ^= ((uint64_t)p->level + 1) * 0x9e3779b97f4a7c15ull;
			struct has_memo *m = &rw->has_memo[(id ^ (id >> 29)) & (HAS_MEMO - 1)];
			int hit;
			if (m->stamp == rw->has_stamp && m->id == id) {
				hit = m->r;
			} else {
				hit = sel_match_rel(sub, rw->path, lvl, p->level - 1);
				m->id = id;
				m->stamp = rw->has_stamp;
				m->r = (uint8_t)hit;
			}
			if (!hit)
				continue;
			if (kind == SEL_COND_UPWARD && n_up < 16)
				upward_done[n_up++] = p->e;
			if (!sel_has_conds(sub)) {
				p->flags |= 1u << c;
				continue;
			}
			if (is_void)
				continue; /* no contents to wait for */
			uint32_t target = p->serial;
			const struct cosmetic_entry *e = p->e;
			struct pend *q = pend_add(rw);
			if (!q)
				continue;
			p = &rw->pends[i]; /* pend_add may move the array */
			pend_watch(rw, q, e, sub, lvl);
			q->target = target;
			q->target_cond = (uint8_t)c;
			q->hold_start = rw->frames[lvl].hold_start;
			q->text_start = text_pos(rw);
			q->vis_start = rw->visible;
			q->in_start = rw->in_off;
		}
	}
	return 0;
}

/* Adds the rules filed under one attribute's keys to cand[*ncp..): its id,
 * its classes (their generic rules also join the page's style), its
 * whole alphanumeric tokens and its 3-byte windows when rules are filed
 * under that attribute. */
static unsigned ainfo_compute(struct rewriter *rw, const char *name, size_t n)
{
	const struct cosmetic_entry *one;
	unsigned bits = 0;
	if (cosmetic_page_lookup(rw->page, cosmetic_key_add(cosmetic_key_start('@'), name, n), &one, 1))
		bits |= AI_AT;
	if (cosmetic_page_attr_indexed(rw->page, name, n))
		bits |= AI_INDEXED;
	if (cosmetic_page_attr_sub_indexed(rw->page, name, n))
		bits |= AI_SUB;
	if (NAME_IS(name, n, "id"))
		bits |= AI_ID;
	if (NAME_IS(name, n, "class"))
		bits |= AI_CLASS;
	return bits;
}

/* The AI_* bits of attribute at of token t (from the cache when there).
 * A name is known by its name_key() and length (and the rest of its
 * bytes past 8): read with one load when the token's bytes go on for 8
 * more (nearly always: a value or at least '>' follows), not byte by
 * byte, and compared as one word (a byte loop's exit, at a different
 * length for each attribute of a tag, was mispredicted most times). */
static unsigned ainfo_get(struct rewriter *rw, const struct html_token *t, const struct html_attr *at)
{
	const char *name = at->name;
	size_t n = at->name_len;
	if (n == 0 || n >= AINFO_NAME)
		return ainfo_compute(rw, name, n);
	uint64_t key;
	if (in_raw(t, name, n > 8 ? n : 8)) {
		memcpy(&key, name, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		key &= n >= 8 ? ~0ull : (1ull << (8 * n)) - 1;
#else
		key = name_key(name, n);
#endif
	} else {
		key = name_key(name, n);
	}
	uint64_t h = key + n;
	if (n > 8) /* data-* names share their first bytes, many their length */
		h += (uint64_t)(unsigned char)name[n / 2] << 8 ^ (uint64_t)(unsigned char)name[n - 1] << 16;
	struct ainfo *a = &rw->ainfo[(h * 0x9e3779b97f4a7c15ull) >> 57];
	if (a->key == key && a->len == n && (n <= 8 || short_eq(a->name + 8, name + 8, n - 8)))
		return a->bits;
	a->bits = (uint8_t)ainfo_compute(rw, name, n);
	a->key = key;
	memcpy(a->name, name, n);
	a->len = (uint8_t)n;
	return a->bits;
}
_Static_assert(AINFO_SLOTS == 128, "ainfo_get() takes 7 bits");

/* isspace() of the C locale (quell sets no other), without the call. */
static int ascii_space(unsigned char c)
{
	return c == ' ' || (unsigned)(c - '\t') <= '\r' - '\t';
}

/* isalnum() of the C locale, without the call. */
static int ascii_alnum(unsigned char c)
{
	return (unsigned)(c - '0') < 10u || (unsigned)((c | 0x20u) - 'a') < 26u;
}

/* Bit i set when p[i] is an ASCII letter or digit, for i < n <= 16 (SSE2
 * on a whole block: URLs run long, and a byte loop cost more than the
 * lookups it led to). */
static uint32_t alnum_mask(const char *p, size_t n)
{
	if (n < 16) {
		uint32_t m = 0;
		for (size_t i = 0; i < n; i++)
			m |= (uint32_t)ascii_alnum((unsigned char)p[i]) << i;
		return m;
	}
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	/* x - '0' <= 9 and (x | 0x20) - 'a' <= 25, unsigned bytes (no byte
	 * past 0x7f lands in either range) */
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
	__m128i l = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	__m128i is_d = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
	__m128i is_l = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l);
	return (uint32_t)_mm_movemask_epi8(_mm_or_si128(is_d, is_l));
}

/* low[0..16) = p[0..min(n, 16)) with capitals lower-cased (SSE2 on a
 * whole block: the windows of a value are read a byte at a time, and the
 * test and branch a byte cost more than the block). */
static void lower_block(const char *p, size_t n, unsigned char *low)
{
	if (n < 16) {
		for (size_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)p[i];
			low[i] = (unsigned)(ch - 'A') < 26u ? ch | 0x20 : ch;
		}
		return;
	}
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('A'));
	__m128i up = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(25)), d);
	_mm_storeu_si128((__m128i *)(void *)low, _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20))));
}

/* The rules filed under the word w[0..n) (letters and digits) of an
 * attribute whose "[name=" key is h0, into cand[0..max): none for a word
 * under two bytes or one the page's pair filter turns down. */
static size_t word_lookup(struct rewriter *rw, uint64_t h0, const char *w, size_t n,
                          const struct cosmetic_entry **cand, size_t max)
{
	if (n < 2)
		return 0;
	unsigned b = cosmetic_pair_bit(w, n);
	if (!(rw->pair[b / 64] >> (b % 64) & 1))
		return 0;
	uint64_t h = h0;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((unsigned char)w[i] | 0x20u)) * 1099511628211ull;
	return cosmetic_page_lookup(rw->page, h, cand, max);
}

/* The first 8 bytes of a token's tag name, zero past its end: the
 * name's identity for names up to 8 bytes (nearly all), read with one
 * load (html_token.name is HTML_TOK_NAME_MAX bytes, so the load stays in
 * it whatever the length). */
static inline uint64_t tag_key(const struct html_token *t)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t k;
	_Static_assert(HTML_TOK_NAME_MAX >= 8, "tag_key reads 8 bytes");
	memcpy(&k, t->name, 8);
	size_t n = t->name_len;
	return n >= 8 ? k : k & ((1ull << (8 * n)) - 1); /* (n < 8: no shift by 64) */
#else
	return name_key(t->name, t->name_len); /* the same number, byte by byte */
#endif
}

static inline struct tinfo *tinfo_slot(struct rewriter *rw, uint64_t key, size_t n)
{
	return &rw->tinfo[((key + n) * 0x9e3779b97f4a7c15ull) >> 58];
}
_Static_assert(TINFO_SLOTS == 64, "tinfo_slot() takes 6 bits");

/* Fills ti for tag name (key: its tag_key()) when it can be kept; the
 * answer in *out either way.  Out of line: a page has few tag names. */
__attribute__((noinline)) static void tinfo_fill(struct rewriter *rw, struct tinfo *ti, const char *name,
                                                 size_t n, uint64_t key, struct tinfo *out)
{
	unsigned h = name_hash(name, n);
	const struct cosmetic_entry **rules = NULL;
	/* all of them, as match_rules() would be given with no other
	 * candidate before them (it takes a prefix when it has some), in
	 * rw->cand: it holds candidates only while match_rules() runs */
	size_t nr = rw->page ? cosmetic_page_lookup(rw->page, cosmetic_key_add(cosmetic_key_start('<'), name, n),
	                                            rw->cand, MAX_CAND) : 0;
	int keep = n && n < AINFO_NAME;
	if (nr && keep && (rules = malloc(nr * sizeof *rules)))
		memcpy(rules, rw->cand, nr * sizeof *rules);
	out->key = key;
	out->len = (uint8_t)(keep ? n : 0);
	out->has_rules = nr != 0;
	out->slot = (uint8_t)(h & 255);
	out->flags = tag_flags_h(name, n, h);
	out->rules = rules;
	out->n_rules = nr;
	if (keep) {
		free(ti->rules);
		*ti = *out;
		memcpy(ti->name, name, n);
	}
}

/* The tinfo of the token's tag name: the cached one, or *tmp filled
 * (valid until the next call). */
static inline const struct tinfo *tinfo_get(struct rewriter *rw, const struct html_token *t, struct tinfo *tmp)
{
	uint64_t key = tag_key(t);
	size_t n = t->name_len;
	struct tinfo *ti = tinfo_slot(rw, key, n);
	if (ti->key == key && ti->len == n && n && (n <= 8 || short_eq(ti->name + 8, t->name + 8, n - 8)))
		return ti;
	tinfo_fill(rw, ti, t->name, n, key, tmp);
	return tmp;
}

/* Returns 1 when what it added depends on the candidates before *ncp (a
 * value with more windows than it remembers dropped rules found there
 * already), 0 when the same attribute adds the same rules anywhere. */
static int attr_candidates(struct rewriter *rw, const struct html_attr *a, unsigned bits,
                           const struct cosmetic_entry **cand, size_t *ncp)
{
	int ctx = 0;
	size_t nc = *ncp;
	if (bits & AI_AT)
		nc += cosmetic_page_lookup(rw->page, cosmetic_key_add(cosmetic_key_start('@'), a->name, a->name_len),
		                           cand + nc, MAX_CAND - nc);
	if ((bits & AI_ID) && a->value_len) {
		uint64_t h = cosmetic_key_add(cosmetic_key_start('#'), a->value, a->value_len);
		size_t got = cosmetic_page_lookup(rw->page, h, cand + nc, MAX_CAND - nc);
		for (size_t k = 0; k < got; k++)
			cosmetic_page_mark_seen(rw->page, cand[nc + k]);
		nc += got;
	} else if (bits & AI_CLASS) {
		const char *v = a->value, *e = v + a->value_len;
		while (v < e) {
			while (v < e && ascii_space((unsigned char)*v))
				v++;
			const char *s = v;
			/* the token's key made as its end is sought (one pass,
			 * as cosmetic_key_add() would make it after) */
			uint64_t h = cosmetic_key_start('.');
			while (v < e && !ascii_space((unsigned char)*v)) {
				h = (h ^ (unsigned char)*v) * 1099511628211ull;
				v++;
			}
			if (v > s) {
				size_t got = cosmetic_page_lookup(rw->page, h, cand + nc, MAX_CAND - nc);
				for (size_t k = 0; k < got; k++)
					cosmetic_page_mark_seen(rw->page, cand[nc + k]);
				nc += got;
			}
		}
	}
	if (a->value_len >= 3 && (bits & AI_SUB)) {
		uint64_t h0 = cosmetic_key_add(cosmetic_key_start('~'), a->name, a->name_len);
		h0 = cosmetic_key_add(h0, "=", 1);
		uint32_t v = 0;
		/* a value may hold the same three bytes twice, whose lookup
		 * gives the same rules (a rule is filed under one key): the
		 * windows looked up are remembered and not asked again; past
		 * WIN_SEEN of them, each rule found is checked against those
		 * already there instead (writes never pass the reads) */
		enum { WIN_SEEN = 32 };
		uint32_t seen[WIN_SEEN];
		unsigned n_seen = 0;
		unsigned char low[16];
		for (size_t k = 0; k < a->value_len; k++) {
			if (k % 16 == 0)
				lower_block(a->value + k, a->value_len - k, low);
			v = (v << 8 | low[k % 16]) & 0xffffff; /* the window ending at k */
			unsigned b = cosmetic_tri_bit_packed(v);
			/* the filter first: it turns most windows down, and the
			 * two before the first whole one seldom pass it */
			if (!(rw->tri[b / 64] >> (b % 64) & 1) || k < 2)
				continue; /* no rule holds these three bytes */
			unsigned w = 0;
			while (w < n_seen && seen[w] != v)
				w++;
			if (w < n_seen)
				continue; /* asked already */
			if (n_seen < WIN_SEEN)
				seen[n_seen++] = v;
			size_t got = cosmetic_page_lookup(rw->page, cosmetic_key_add_lower(h0, a->value + k - 2, 3),
			                                  cand + nc, MAX_CAND - nc);
			if (w < WIN_SEEN) {
				nc += got; /* a window not seen before: new rules */
				continue;
			}
			size_t base = nc;
			ctx = 1;
			for (size_t g = 0; g < got; g++) {
				const struct cosmetic_entry *e = cand[base + g];
				int dup = 0;
				for (size_t j = 0; j < nc && !dup; j++)
					dup = cand[j] == e;
				if (!dup)
					cand[nc++] = e;
			}
		}
	}
	if (bits & AI_INDEXED) {
		uint64_t h0 = cosmetic_key_add(cosmetic_key_start('['), a->name, a->name_len);
		h0 = cosmetic_key_add(h0, "=", 1);
		const char *v = a->value;
		/* words of ASCII letters and digits (isalnum() in the C locale,
		 * which quell never leaves) found sixteen bytes a step by the
		 * masks of alnum_mask(); a word of two bytes or more whose
		 * first three (two) pass the page's word filter gets its key, made
		 * lower-cased as cosmetic_key_add_lower() would (ch | 0x20
		 * lowers a capital and leaves a digit as is), and a lookup */
		size_t n = a->value_len, ws = 0;
		int in = 0;
		for (size_t b = 0; b < n; b += 16) {
			size_t blk = n - b < 16 ? n - b : 16;
			uint32_t m = alnum_mask(v + b, blk), pos = 0;
			while (pos < blk) {
				if (!in) {
					uint32_t r = m >> pos;
					if (!r)
						break;
					pos += (uint32_t)__builtin_ctz(r);
					ws = b + pos;
					in = 1;
				}
				/* ~m has its bits past blk set: a word the value's
				 * end cuts ends there; one running to the end of a
				 * full block goes on into the next */
				uint32_t end = pos + (uint32_t)__builtin_ctz(~m >> pos);
				if (end >= 16)
					break;
				nc += word_lookup(rw, h0, v + ws, b + end - ws, cand + nc, MAX_CAND - nc);
				in = 0;
				pos = end;
			}
		}
		if (in)
			nc += word_lookup(rw, h0, v + ws, n - ws, cand + nc, MAX_CAND - nc);
	}
	*ncp = nc;
	return ctx;
}

/* How many bytes <= 0x20 p[0..n) begins with: indentation between tags
 * runs long on real pages, sixteen bytes a step (SSE2) while they last. */
static size_t blank_run(const char *p, size_t n)
{
	size_t k = 0;
	const __m128i top = _mm_set1_epi8(0x20);
	for (; k + 16 <= n; k += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		/* x <= 0x20 unsigned: max(x, 0x20) == 0x20 */
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(x, top), top));
		if (m != 0xffff)
			return k + (unsigned)__builtin_ctz(~m);
	}
	while (k < n && (unsigned char)p[k] <= 0x20)
		k++;
	return k;
}

/* The n < 8 bytes at p as a word (not their exact packing: two loads that
 * may overlap, never reading outside p[0..n)). */
static inline uint64_t tail_word(const char *p, size_t n)
{
	uint32_t lo, hi;
	if (n >= 4) {
		memcpy(&lo, p, 4);
		memcpy(&hi, p + n - 4, 4);
		return (uint64_t)hi << 32 | lo;
	}
	if (n == 0)
		return 0;
	return (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[n / 2] << 8 |
	       (uint64_t)(unsigned char)p[n - 1] << 16;
}

/* A 64-bit hash of an attribute's name and value for attr_memo[] (never
 * 0): eight bytes a step, so a long class list costs a few multiplies (a
 * collision of two different attributes would make the second skip its
 * index lookups: at 2^-64 a pair, as the text memo's keys). */
static uint64_t attr_key(const struct html_attr *a)
{
	const uint64_t k = 0x9e3779b97f4a7c15ull;
	uint64_t h = ((uint64_t)a->name_len << 32 | a->value_len) * k;
	const char *p[2] = { a->name, a->value };
	size_t n[2] = { a->name_len, a->value_len };
	for (int j = 0; j < 2; j++) {
		size_t i = 0;
		uint64_t w;
		for (; i + 8 <= n[j]; i += 8) {
			memcpy(&w, p[j] + i, 8);
			h = (h ^ w) * 0xff51afd7ed558ccdull;
			h ^= h >> 29;
		}
		w = tail_word(p[j] + i, n[j] - i);
		h = (h ^ w ^ (uint64_t)(j + 1) << 62) * 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

/* attr_candidates() through attr_memo[]: an attribute seen before adds
 * the rules it found then, without a lookup (the same rules in the same
 * order: matching sees the same candidates).  Only a lookup that had room
 * for every rule (the candidate array not full after it) is kept, and not
 * one whose result depended on the candidates before it. */
static void attr_candidates_memo(struct rewriter *rw, const struct html_attr *a, unsigned bits,
                                 const struct cosmetic_entry **cand, size_t *ncp)
{
	if (!rw->attr_memo) {
		rw->attr_memo = malloc(ATTR_MEMO * sizeof *rw->attr_memo + ATTR_POOL * sizeof *rw->attr_pool);
		if (!rw->attr_memo) {
			attr_candidates(rw, a, bits, cand, ncp); /* no memory: no memo */
			return;
		}
		rw->attr_pool = (const struct cosmetic_entry **)(void *)(rw->attr_memo + ATTR_MEMO);
	}
	uint64_t key = attr_key(a);
	/* two ways a set (the pair si, si + 1), the one last used first: a
	 * page's few hundred distinct attributes fight less over slots */
	unsigned si = ((unsigned)(key ^ (key >> 40)) & (ATTR_MEMO / 2 - 1)) * 2;
	struct attr_memo *m = &rw->attr_memo[si];
	unsigned v = (unsigned)(rw->attr_valid[si / 64] >> (si % 64)) & 3; /* (si even: both in one word) */
	size_t before = *ncp;
	for (unsigned w = 0; w < 2; w++)
		if ((v >> w & 1) && m[w].key == key && before + m[w].n < MAX_CAND) {
			memcpy(cand + before, rw->attr_pool + m[w].off, m[w].n * sizeof *cand);
			*ncp = before + m[w].n;
			if (w) { /* the one last used first */
				struct attr_memo x = m[0];
				m[0] = m[1];
				m[1] = x;
			}
			return;
		}
	int ctx = attr_candidates(rw, a, bits, cand, ncp);
	size_t got = *ncp - before;
	if (ctx || *ncp >= MAX_CAND || got > ATTR_POOL - rw->attr_pool_n)
		return;
	if (v & 1) {
		m[1] = m[0]; /* the older one goes */
		rw->attr_valid[si / 64] |= 2ull << (si % 64);
	}
	m->key = key;
	m->off = rw->attr_pool_n;
	m->n = (uint32_t)got;
	memcpy(rw->attr_pool + m->off, cand + before, got * sizeof *cand);
	rw->attr_pool_n += (uint32_t)got;
	rw->attr_valid[si / 64] |= 1ull << (si % 64);
}

/* 0 when s needs an ancestor with a tag no open element has (the count
 * is by hash: a collision only costs the full match; sel_ancestor_hash()
 * is name_hash() of the tag, made when the rule was parsed). */
static int ancestor_open(const struct rewriter *rw, const struct sel *s)
{
	uint32_t h = sel_ancestor_hash(s);
	return !h || rw->open_tags[h & 255] != 0;
}

/* The beginning of the text of the element whose start tag t is, read
 * ahead in the caller's chunk: the bytes after the tag up to the first
 * '<' (a child, a comment or the end tag: what follows may not be its own
 * text yet), the first '&' (the tests see references decoded) or
 * FIRST_TEXT bytes (the prefix tests read the leading blanks and four
 * bytes after them).  Every byte of it reaches the element's text as it
 * is (text tokens carry their exact bytes), and nothing comes before it.
 * Returns its length (0 when the tag is not in the chunk, or raw text
 * follows it), *p its start. */
#define FIRST_TEXT 64
static size_t blank_run(const char *p, size_t n);
static size_t first_text(const struct rewriter *rw, const struct html_token *t, const char **p)
{
	/* (as integers: t->raw may point into the tokenizer's own buffer) */
	uintptr_t c = (uintptr_t)rw->chunk, r = (uintptr_t)t->raw;
	if (!rw->chunk || r < c || r + t->raw_len > c + rw->chunk_len)
		return 0;
	const char *a = t->raw + t->raw_len;
	size_t n = (size_t)(c + rw->chunk_len - (r + t->raw_len)), k = 0;
	if (n > FIRST_TEXT)
		n = FIRST_TEXT;
	if (n == 0 || *a == '<')
		return 0; /* (most: a child first) */
	if (html_tok_is_rawtext(t->name, t->name_len) || NAME_IS(t->name, t->name_len, "plaintext"))
		return 0;
	/* sixteen bytes a step (SSE2) */
	const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');
	for (; k + 16 <= n; k += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + k));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, amp)));
		if (m) {
			k += (unsigned)__builtin_ctz(m);
			break;
		}
	}
	while (k < n && a[k] != '<' && a[k] != '&')
		k++;
	/* blanks alone (indentation before a child) decide no label test:
	 * not worth asking */
	if (blank_run(a, k) == k)
		return 0;
	*p = a;
	return k;
}

/* 1 when a text test of s that a beginning of the text may decide
 * (sel_early_mask: early) turns down every text beginning with
 * text[0..n): the pend early_check would drop at its first text. */
static int early_refused(const struct sel *s, uint32_t early, const char *text, size_t n)
{
	for (; early; early &= early - 1)
		if (sel_cond_test_prefix(s, (unsigned)__builtin_ctz(early), text, n) == 0)
			return 1;
	return 0;
}

/* The first words of the element being matched (first_text), read once
 * when a rule asks. */
struct first_words { const char *p; size_t n; int made; };

/* Applies rule e (selector s, whose static part matched the element at
 * lvl): a pend when it has conditions (conds), unless the element has one
 * for it already (may_dup: a rule found by an attribute's key may be found
 * twice) or its first words refuse it (early: sel_early_mask); else the
 * removal, or the hide (*action 2, the first such rule in *hit).  Returns
 * 1 when the element is removed (*hit set), 0 to go on, -1 on error. */
static inline __attribute__((always_inline)) int rule_hit(struct rewriter *rw, const struct html_token *t, unsigned lvl, const struct cosmetic_entry *e,
                    const struct sel *s, int conds, uint32_t early, int may_dup, struct first_words *fw,
                    int *action, const struct cosmetic_entry **hit)
{
	if (conds) {
		if (lvl >= rw->depth)
			return 0; /* a void element has no contents to wait for */
		/* this element's pends are the tail of the array */
		int dup = 0;
		for (size_t k = rw->n_pends; may_dup && k-- > 0 && rw->pends[k].level >= lvl && !dup;)
			dup = rw->pends[k].e == e && !rw->pends[k].target;
		if (dup)
			return 0;
		/* a label rule ("p:has-text(/^Advertisement/)") whose test
		 * the first words already turn down: no pend (the one
		 * early_check would drop as they arrive: same output) */
		if (early && !fw->made) {
			fw->n = first_text(rw, t, &fw->p);
			fw->made = 1;
		}
		if (early && fw->n && early_refused(s, early, fw->p, fw->n))
			return 0;
		struct pend *p = pend_add(rw);
		if (!p)
			return 0;
		pend_watch(rw, p, e, s, lvl);
		p->hold_start = hold_pos(rw);
		p->text_start = text_pos(rw);
		p->vis_start = rw->visible;
		p->in_start = rw->in_off;
		rw->n_holding++;
		return 0;
	}
	int hide = rw->o.hide && !cosmetic_entry_html(e);
	if (!hide) {
		/* removed outright: its own pends have nothing to decide */
		int dropped = 0;
		for (size_t k = rw->n_pends; k-- > 0 && rw->pends[k].level >= lvl;)
			if (rw->pends[k].level == lvl && rw->pends[k].e) {
				rw->pends[k].e = NULL;
				dropped = 1;
			}
		if (dropped) {
			pends_compact(rw);
			if (check_bound(rw) < 0) /* releases what nothing holds now */
				return -1;
		}
		*hit = e;
		return 1;
	}
	if (!*action) {
		*action = 2;
		*hit = e;
	}
	return 0;
}

/* Rule e, found by an attribute's key (may_dup) or tried on every element,
 * on the element at frame lvl: its subject's tag, then its static part,
 * then rule_hit().  Returns as rule_hit. */
static inline __attribute__((always_inline)) int try_rule(struct rewriter *rw, const struct html_token *t, unsigned plen, unsigned lvl,
                    const struct cosmetic_entry *e, int may_dup, struct first_words *fw, int *action,
                    const struct cosmetic_entry **hit)
{
	const struct sel *s = cosmetic_entry_sel(e);
	if (cosmetic_entry_kind(e) == COSM_STYLE)
		return 0; /* :style() only styles, through the injected sheet */
	/* the subject's tag first: a rule found by a piece of a class or
	 * attribute value ("div[class*=ad-]") is mostly tried on another tag
	 * than its own */
	size_t tl;
	const char *tg = sel_subject_tag(s, &tl);
	const struct sel_node *el = rw->path[plen - 1];
	if (tg && (tl != el->name_len || !short_eq(tg, el->name, tl)))
		return 0;
	if (!sel_tag_only(s) && (!sel_stream_ok(s) || !ancestor_open(rw, s) || !sel_match(s, rw->path, plen)))
		return 0;
	return rule_hit(rw, t, lvl, e, s, sel_has_conds(s), sel_early_mask(s), may_dup, fw, action, hit);
}

/* The briefs of the rules filed under the element's tag (rw->tag_rules),
 * made on first use per tag and page; NULL when they cannot be (no kept
 * list, a long name, no memory: the rules are then tried one by one). */
static const struct tag_briefs *tag_briefs_get(struct rewriter *rw, const struct html_token *t)
{
	size_t n = t->name_len;
	if (!rw->tag_rules || n == 0 || n >= AINFO_NAME)
		return NULL;
	struct tag_briefs *tb = &rw->tb[name_hash(t->name, n) & (TB_SLOTS - 1)];
	if (tb->len == n && short_eq(tb->name, t->name, n))
		return tb;
	struct rule_brief *b = malloc(rw->n_tag_rules * sizeof *b + 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < rw->n_tag_rules; i++) {
		const struct cosmetic_entry *e = rw->tag_rules[i];
		const struct sel *s = cosmetic_entry_sel(e);
		b[i] = (struct rule_brief){
			e, s, sel_ancestor_hash(s), sel_early_mask(s), 0,
			(uint8_t)(cosmetic_entry_kind(e) == COSM_STYLE || (!sel_tag_only(s) && !sel_stream_ok(s))),
			(uint8_t)sel_tag_only(s), (uint8_t)sel_has_conds(s),
		};
	}
	/* rules matched statically (neither skipped nor tag-only) whose
	 * static part an earlier one of them has: "li > a" under a dozen
	 * texts is matched once an element */
	for (size_t i = 1; i < rw->n_tag_rules; i++) {
		if (b[i].skip || b[i].tag_only)
			continue;
		uint64_t id = sel_static_id(b[i].s);
		for (size_t j = 0; j < i && j < BRIEF_SAME; j++)
			if (!b[j].skip && !b[j].tag_only && !b[j].same && sel_static_id(b[j].s) == id) {
				b[i].same = (uint16_t)(j + 1);
				break;
			}
	}
	free(tb->b);
	tb->b = b;
	tb->n = rw->n_tag_rules;
	memcpy(tb->name, t->name, n);
	tb->len = (uint8_t)n;
	return tb;
}

/* Runs the page's rules on the element at frame lvl (or a void element not
 * pushed: lvl = depth and path extended by the caller).  Returns the
 * action: 0 keep, 1 remove, 2 hide; -1 error. */
static int match_rules(struct rewriter *rw, const struct html_token *t, unsigned plen,
                       unsigned lvl, const struct cosmetic_entry **hit)
{
	const struct cosmetic_entry **cand = rw->cand;
	size_t nc = 0;
	for (unsigned i = 0; i < t->n_attrs; i++) {
		unsigned bits = ainfo_get(rw, t, &t->attrs[i]);
		if (bits)
			attr_candidates_memo(rw, &t->attrs[i], bits, cand, &nc);
	}
	int action = 0, r;
	struct first_words fw = { NULL, 0, 0 };
	/* a rule is filed under one key: only the attributes' keys (a class
	 * twice, a word twice) find one twice; the tag's and the universal
	 * rules are each found once and none of them by an attribute */
	size_t n_attr = nc;
	for (size_t i = 0; i < n_attr; i++)
		if ((r = try_rule(rw, t, plen, lvl, cand[i], 1, &fw, &action, hit)) != 0)
			return r;
	/* the tag's rules (those have it as their subject's tag:
	 * sel_index_key() files them so), as many as the candidate array
	 * would have held */
	size_t room = MAX_CAND - n_attr;
	const struct tag_briefs *tb = rw->tag_has_rules ? tag_briefs_get(rw, t) : NULL;
	if (tb) {
		size_t n = tb->n < room ? tb->n : room;
		/* the static matches of the first BRIEF_SAME, for the rules
		 * after them with the same static part (written before read:
		 * the earlier rule came first in this loop) */
		uint8_t same_r[BRIEF_SAME];
		for (size_t i = 0; i < n; i++) {
			const struct rule_brief *b = &tb->b[i];
			if (b->skip)
				continue;
			if (!b->tag_only) {
				int m;
				if (b->same) {
					m = same_r[b->same - 1];
				} else {
					m = (!b->anc || rw->open_tags[b->anc & 255]) && sel_match(b->s, rw->path, plen);
					if (i < BRIEF_SAME)
						same_r[i] = (uint8_t)m;
				}
				if (!m)
					continue;
			}
			if ((r = rule_hit(rw, t, lvl, b->e, b->s, b->conds, b->early, 0, &fw, &action, hit)) != 0)
				return r;
		}
	} else if (rw->tag_has_rules) {
		size_t k = 0;
		if (rw->tag_rules) {
			k = rw->n_tag_rules < room ? rw->n_tag_rules : room;
			memcpy(cand + n_attr, rw->tag_rules, k * sizeof *cand);
		} else {
			k = cosmetic_page_lookup(rw->page, cosmetic_key_add(cosmetic_key_start('<'), t->name, t->name_len),
			                         cand + n_attr, room);
		}
		for (size_t i = n_attr; i < n_attr + k; i++)
			if ((r = try_rule(rw, t, plen, lvl, cand[i], 0, &fw, &action, hit)) != 0)
				return r;
	}
	const struct cosmetic_entry *const *uni;
	size_t nu = cosmetic_page_universal(rw->page, &uni);
	for (size_t i = 0; i < nu; i++)
		if ((r = try_rule(rw, t, plen, lvl, uni[i], 0, &fw, &action, hit)) != 0)
			return r;
	return action;
}

/* Emits a start tag with the hide attribute after its name. */
static int emit_hidden(struct rewriter *rw, const struct html_token *t)
{
	size_t cut = 1 + t->name_len;
	if (cut > t->raw_len)
		return emit(rw, t->raw, t->raw_len);
	if (emit(rw, t->raw, cut) < 0 || emit(rw, HIDE_ATTR, strlen(HIDE_ATTR)) < 0)
		return -1;
	return emit(rw, t->raw + cut, t->raw_len - cut);
}

static int enter_passthrough(struct rewriter *rw, const char *why)
{
	if (rw->passthrough)
		return 0;
	rw->passthrough = 1;
	rw->st.passthrough = 1;
	log_msg(LOG_INFO, "rewrite %s: %s, rest of the page passed unchanged", rw->host ? rw->host : "-", why);
	for (size_t i = 0; i < rw->n_pends; i++)
		rw->pends[i].e = NULL;
	pends_compact(rw);
	rw->skip_level = 0;
	return hold_release(rw, hold_pos(rw));
}

static int emit_start(struct rewriter *rw, const struct html_token *t, int action,
                      const struct cosmetic_entry *hit, int is_void, unsigned lvl);

/* Pushes a made-up html or body element.  Returns 0 or -1. */
static int push_virtual(struct rewriter *rw, const char *name, unsigned fl, unsigned *level)
{
	struct el *e;
	if (rw->lean) {
		if (rw->depth > MAX_DEPTH)
			return 0; /* cannot happen at the top (push would say 0) */
		struct html_token t;
		memset(&t, 0, sizeof t);
		t.name_len = strlen(name);
		memcpy(t.name, name, t.name_len);
		e = el_lean(rw, rw->depth, &t);
	} else {
		e = el_virtual(rw, name);
	}
	if (!e)
		return -1;
	*level = push(rw, e, fl, 0, name_hash(name, strlen(name)), name_key(name, strlen(name)));
	if (!*level && !rw->lean)
		el_release(rw, e); /* too deep: cannot happen at the top, but never leak */
	return 0;
}

/* The document's skeleton before start tag name: html and body are made
 * up when missing (so "body > .x" matches as in a browser), the first
 * style goes in where the body starts.  Returns 1 when the tag is a second
 * html/head/body (the parser merges it: emit it and nothing else), 0 to
 * go on, -1 on error. */
static int skeleton(struct rewriter *rw, const char *nm, size_t nl, unsigned fl)
{
	int is_html = NAME_IS(nm, nl, "html"), is_head = NAME_IS(nm, nl, "head"), is_body = NAME_IS(nm, nl, "body");
	if ((is_html && rw->html_level) || (is_head && (rw->seen_head || rw->body_level)) ||
	    (is_body && rw->body_level))
		return 1;
	if (!is_html && !rw->html_level &&
	    push_virtual(rw, "html", T_SPECIAL | T_SCOPE | T_TABLE_SCOPE, &rw->html_level) < 0)
		return -1;
	if (!is_head && !is_html && !rw->body_level && !rw->head_level && !(fl & T_HEADISH)) {
		if (style1(rw) < 0)
			return -1;
		if (!is_body && push_virtual(rw, "body", T_SPECIAL, &rw->body_level) < 0)
			return -1;
	}
	return 0;
}

/* A start tag past MAX_DEPTH: the rest passes through.  Returns 0 or -1. */
static int too_deep(struct rewriter *rw, const struct html_token *t)
{
	if (enter_passthrough(rw, "document nested too deeply") < 0)
		return -1;
	return emit(rw, t->raw, t->raw_len);
}

/* A start tag (on_start() below is its token's callback). */
__attribute__((always_inline)) static inline int start_tag(struct rewriter *rw, const struct html_token *t)
{
	struct tinfo tmp;
	const struct tinfo *ti = tinfo_get(rw, t, &tmp);
	unsigned fl = ti->flags, th = ti->slot;
	uint64_t key = ti->key; /* tag_key(t) */
	rw->tag_has_rules = ti->has_rules;
	rw->tag_rules = ti->rules;
	rw->n_tag_rules = ti->n_rules;
	const char *nm = t->name;
	size_t nl = t->name_len;
	int in_foreign = rw->frames[rw->depth - 1].foreign;
	if (in_foreign)
		fl &= T_FOREIGN | T_INTEGRATION;
	if (implied_closes(rw, nm, nl, fl) < 0)
		return -1;
	int is_html = NAME_IS(nm, nl, "html"), is_head = NAME_IS(nm, nl, "head"), is_body = NAME_IS(nm, nl, "body");
	if (!in_foreign) {
		int sk = skeleton(rw, nm, nl, fl);
		if (sk < 0)
			return -1;
		if (sk > 0)
			return emit(rw, t->raw, t->raw_len); /* merged into the existing one */
	}
	int is_void = in_foreign ? (t->flags & HTML_TOK_F_SELF_CLOSING) != 0 : (fl & T_VOID) != 0;
	if (rw->o.xml && (t->flags & HTML_TOK_F_SELF_CLOSING))
		is_void = 1;
	int foreign = in_foreign ? !(fl & T_INTEGRATION) : (fl & T_FOREIGN) != 0;
	if (foreign && (fl & T_FOREIGN) && (t->flags & HTML_TOK_F_SELF_CLOSING))
		is_void = 1;
	int matchable = rw->active && !rw->skip_level;
	/* When no rule reads an element's attributes once it is not the one
	 * matched, its record borrows the token's for this start tag (its
	 * matching happens here) instead of a copy; not when a value holds
	 * a reference, which the copy decodes */
	int borrow = matchable && !rw->keep_attrs && t->n_attrs && !has_byte(t->raw, t->raw_len, '&');
	struct el *e, *copy = NULL; /* copy: lean, the attributes decoded for matching */
	if (rw->lean) {
		if (rw->depth > MAX_DEPTH)
			return too_deep(rw, t);
		e = el_lean(rw, rw->depth, t);
		if (e && matchable && t->n_attrs && !borrow && !(copy = el_new(rw, t, 1)))
			e = NULL;
	} else {
		e = el_new(rw, t, matchable && !borrow);
	}
	if (!e)
		return -1;
	if (borrow) {
		e->n.attrs = t->attrs;
		e->n.n_attrs = t->n_attrs;
	}
	unsigned lvl;
	if (is_void) {
		/* matched as a child at depth, then kept as a sibling */
		if (rw->depth > MAX_DEPTH) {
			if (!rw->lean)
				el_release(rw, e);
			if (copy) /* (lean: too deep was told before) */
				el_release(rw, copy);
			return too_deep(rw, t);
		}
		if (!rw->lean) {
			struct frame *parent = &rw->frames[rw->depth - 1];
			e->prev_el = parent->last_child;
			e->n.prev = e->prev_el ? &e->prev_el->n : NULL;
			e->n.index = parent->n_children;
		}
		rw->path[rw->depth - 1] = &e->n;
		lvl = rw->depth;
	} else {
		lvl = push(rw, e, fl, foreign, th, key);
		if (!lvl) {
			if (!rw->lean)
				el_release(rw, e);
			if (copy) /* (lean: too deep was told before) */
				el_release(rw, copy);
			return too_deep(rw, t);
		}
		if (is_html) rw->html_level = lvl;
		if (is_head) { rw->head_level = lvl; rw->seen_head = 1; }
		if (is_body) rw->body_level = lvl;
	}
	int action = 0;
	const struct cosmetic_entry *hit = NULL;
	if (copy)
		rw->path[lvl - 1] = &copy->n;
	if (matchable) {
		if (rw->n_desc && feed_has(rw, lvl, is_void) < 0)
			action = -1;
		else
			action = match_rules(rw, t, lvl, lvl, &hit);
	}
	if (copy) {
		rw->path[lvl - 1] = &e->n;
		el_release(rw, copy);
	}
	int rc = action < 0 ? -1 : emit_start(rw, t, action, hit, is_void, lvl);
	if (borrow) {
		/* the token's bytes go with it: later matches see the name */
		e->n.attrs = NULL;
		e->n.n_attrs = 0;
	}
	/* contents of elements waiting for them start after the start tag */
	for (size_t i = rw->n_pends; i-- > 0 && rw->pends[i].level == lvl;)
		rw->pends[i].inner_start = hold_pos(rw);
	if (is_void && !rw->lean)
		add_void(rw, e); /* a sibling from now on, also after an error */
	return rc;
}

/* Emits (or not) a start tag after matching: action 1 removes (the
 * element's bytes are dropped until it closes), 2 hides, 0 keeps; a meta
 * CSP gets the nonce when a style is due.  Returns 0 or -1. */
static int emit_start(struct rewriter *rw, const struct html_token *t, int action,
                      const struct cosmetic_entry *hit, int is_void, unsigned lvl)
{
	int rc;
	if (action == 1) {
		if (is_void) {
			explain(rw, hit, rw->in_off, rw->in_off + t->raw_len, "", 0, 0);
			rc = 0;
		} else {
			rw->skip_level = lvl;
			rw->skip_entry = hit;
			rw->skip_text_len = 0;
			rc = 0;
		}
	} else if (action == 2) {
		if (!is_void)
			rw->frames[lvl].hidden = 1;
		explain(rw, hit, rw->in_off, rw->in_off + t->raw_len, "", 0, 1);
		rc = emit_hidden(rw, t);
	} else if (!rw->skip_level && NAME_IS(t->name, t->name_len, "meta") && t->n_attrs &&
	           (rw->o.hide || cosmetic_page_css_pending(rw->page))) {
		/* only when a style will follow: a page nothing applies to
		 * keeps its bytes */
		rc = meta_csp(rw, t);
		if (rc == 0)
			rc = emit(rw, t->raw, t->raw_len);
		else if (rc > 0)
			rc = 0;
	} else {
		rc = emit_tag(rw, t->raw, t->raw_len);
	}
	return rc;
}

/* ---- end tags ----------------------------------------------------------------------------- */

/* Closes the element at frame target (the top one) with its end tag t.
 * Returns 0 or -1. */
static inline int close_top(struct rewriter *rw, const struct html_token *t, unsigned target)
{
	rw->frames[target].inner_end = hold_pos(rw);
	rw->frames[target].has_inner_end = 1;
	if (emit_tag(rw, t->raw, t->raw_len) < 0)
		return -1;
	rw->in_off += t->raw_len; /* the element ends after its end tag */
	int rc = pop_frame(rw);
	rw->in_off -= t->raw_len;
	return rc;
}

/* An end tag that is not the current element's (or is body's, html's or
 * head's): the parser's search for what it closes.  Out of line: its
 * registers were saved for every end tag.  Returns 0 or -1. */
__attribute__((noinline)) static int end_tag_other(struct rewriter *rw, const struct html_token *t)
{
	const char *nm = t->name;
	size_t nl = t->name_len;
	unsigned target = 0;
	struct tinfo tmp;
	unsigned fl = tinfo_get(rw, t, &tmp)->flags;
	if (NAME_IS(nm, nl, "body") || NAME_IS(nm, nl, "html")) {
		/* the body stays open for what follows; the late style goes here */
		if (NAME_IS(nm, nl, "body") && !rw->skip_level && style_late(rw) < 0)
			return -1;
		return emit(rw, t->raw, t->raw_len);
	}
	if (NAME_IS(nm, nl, "head") && rw->head_level) {
		if (pop_to(rw, rw->head_level + 1) < 0 || style1(rw) < 0)
			return -1;
		target = rw->head_level;
	} else if (rw->depth > 1 && rw->frames[rw->depth - 1].foreign) {
		/* foreign content: the nearest element of that name */
		for (unsigned i = rw->depth - 1; i > 0 && !target; i--)
			if (rw->frames[i].el->n.name_len == nl && !memcmp(rw->frames[i].el->n.name, nm, nl))
				target = i;
	} else if (fl & T_HEADING) {
		for (unsigned i = rw->depth - 1; i > 0; i--) {
			if (rw->frames[i].flags & T_HEADING) {
				target = i;
				break;
			}
			if (rw->frames[i].flags & T_SCOPE)
				break;
		}
	} else if (NAME_IS(nm, nl, "p")) {
		target = find_in_scope(rw, nm, nl, T_SCOPE);
	} else if (NAME_IS(nm, nl, "li")) {
		target = find_in_scope(rw, nm, nl, T_SCOPE);
	} else if (fl & (T_CELL | T_SECTION) || NAME_IS(nm, nl, "tr") || NAME_IS(nm, nl, "table")) {
		target = find_in_scope(rw, nm, nl, T_TABLE_SCOPE);
	} else if (fl & T_SPECIAL) {
		target = find_in_scope(rw, nm, nl, T_SCOPE);
	} else {
		/* any other end tag: the nearest such element, unless a special
		 * element comes first */
		for (unsigned i = rw->depth - 1; i > 0; i--) {
			const struct frame *f = &rw->frames[i];
			if (f->el->n.name_len == nl && !memcmp(f->el->n.name, nm, nl)) {
				target = i;
				break;
			}
			if (f->flags & T_SPECIAL)
				break;
		}
	}
	if (!target)
		return emit(rw, t->raw, t->raw_len); /* ignored by the parser */
	if (pop_to(rw, target + 1) < 0)
		return -1;
	return close_top(rw, t, target);
}

/* An end tag (on_end() below is its token's callback). */
__attribute__((always_inline)) static inline int end_tag(struct rewriter *rw, const struct html_token *t)
{
	const char *nm = t->name;
	size_t nl = t->name_len;
	unsigned top = rw->depth - 1;
	if (top && frame_is(&rw->frames[top], tag_key(t), nm, nl) && !NAME_IS(nm, nl, "body") &&
	    !NAME_IS(nm, nl, "html") && !NAME_IS(nm, nl, "head"))
		return close_top(rw, t, top); /* the usual end tag, of the current element: every
		                                 rule of end_tag_other finds that one first (a
		                                 heading's, a cell's, a foreign one's) */
	return end_tag_other(rw, t);
}

/* ---- token dispatch --------------------------------------------------------------------- */

/* The callbacks of start and end tags, called by on_token() in its last
 * statement (a jump: one function's registers saved per tag, not two).
 * (They are kept out of on_token: inlined, they made every text token
 * pay for their registers.)  Return 0 or -1, as on_token. */
__attribute__((noinline)) static int on_start(struct rewriter *rw, const struct html_token *t)
{
	int rc = start_tag(rw, t);
	rw->in_off += t->raw_len;
	if (rc < 0)
		rw->failed = 1;
	return rc;
}

__attribute__((noinline)) static int on_end(struct rewriter *rw, const struct html_token *t)
{
	int rc = end_tag(rw, t);
	rw->in_off += t->raw_len;
	if (rc < 0)
		rw->failed = 1;
	return rc;
}

/* After pends were dropped (e NULL): the bytes no pend holds any more go
 * out.  Returns 0 or -1. */
static int release_dropped(struct rewriter *rw, size_t dropped)
{
	/* early decisions drop the deepest pends, the tail of the array:
	 * popped, without a pass over the others (pages nest deep) */
	while (dropped && rw->n_pends && !rw->pends[rw->n_pends - 1].e) {
		const struct pend *p = &rw->pends[--rw->n_pends];
		rw->n_holding -= !p->target;
		rw->n_desc -= p->desc != 0;
		dropped--;
	}
	while (rw->last_desc >= (int32_t)rw->n_pends)
		rw->last_desc = rw->pends[rw->last_desc].prev_desc;
	rw->early_new = 1;
	if (dropped || !rw->n_holding)
		pends_compact(rw); /* (also the probes when nothing holds) */
	uint64_t first = hold_pos(rw);
	for (size_t i = 0; i < rw->n_pends; i++)
		if (!rw->pends[i].target && rw->pends[i].hold_start < first)
			first = rw->pends[i].hold_start;
	if (hold_release(rw, first) < 0)
		return -1;
	return check_bound(rw);
}

/* Once an element holds more visible text than a content rule may
 * remove (text_guard), its rules can only keep it: they are dropped at
 * once and the bytes held for it go out (time to first byte, memory).
 * Returns 0 or -1. */
static int release_guarded(struct rewriter *rw)
{
	size_t changed = 0;
	for (size_t i = 0; i < rw->n_pends; i++) {
		struct pend *p = &rw->pends[i];
		if (!p->e || !text_guard(rw, p, &rw->frames[p->level]))
			continue;
		if (!p->target && flags_only_pass(p)) {
			size_t toff = (size_t)(p->text_start - rw->text_base);
			explain(rw, p->e, p->in_start, rw->in_off, rw->text + toff, rw->text_len - toff, -1);
		}
		p->e = NULL;
		changed++;
	}
	rw->early_full |= changed != 0; /* as in check_bound */
	return changed ? release_dropped(rw, changed) : 0;
}


/* 1 when a text test of p can no longer pass, judged on the beginning of
 * its text up to end (vis, amps: the counters there).  The text a deeper
 * element adds is only certain once no rule may remove that element: a
 * removal cuts it out again (resolve_level), so the caller passes the
 * start of the first such element as end.  The tests see decoded text
 * (text_test), which the raw counts bound from below: every byte that no
 * reference covers stays, and each '&' starts at most one reference of
 * at most REF_MAX bytes; a test may also stop asking (its bit cleared). */
static int early_fails(struct rewriter *rw, struct pend *p, uint64_t end, uint64_t vis, uint64_t amps)
{
	uint64_t cut = (amps - p->amp_start) * REF_MAX;
	uint64_t len = end - p->text_start, nvis = vis - p->vis_start;
	len = len > cut ? len - cut : 0;
	nvis = nvis > cut ? nvis - cut : 0;
	if (len > p->len_room || nvis > p->vis_room)
		return 1;
	if (!p->early_pre || end == p->text_start || end == p->pre_end)
		return 0;
	p->pre_end = end;
	const char *t = rw->text + (p->text_start - rw->text_base);
	size_t n = (size_t)(end - p->text_start), raw = n;
	char dec[EARLY_PREFIX];
	if (n > EARLY_PREFIX)
		n = EARLY_PREFIX;
	if (amps != p->amp_start) {
		/* decoded as text_test will: a reference whose ';' may lie
		 * past the cut is left out, with what follows it */
		for (;;) {
			size_t from = n > REF_MAX ? n - REF_MAX : 0;
			const char *a = memchr(t + from, '&', n - from);
			if (!a)
				break;
			n = (size_t)(a - t);
		}
		n = decode_refs(t, n, dec);
		t = dec;
	}
	for (uint32_t m = p->early_pre; m; m &= m - 1) {
		unsigned c = (unsigned)__builtin_ctz(m);
		int r = sel_cond_test_prefix(p->s, c, t, n);
		if (r == 0)
			return 1;
		if (r > 0 || raw >= EARLY_PREFIX)
			p->early_pre &= ~(1u << c); /* decided by the whole text */
	}
	return 0;
}

/* Drops the pends whose text tests can no longer pass (early_fails), so
 * an element no rule may remove any more streams out before its end tag
 * (the rules drop out as the first words arrive: most waits are for short
 * labels).  The same bytes come out whenever that happens: the rules
 * would fail at the end tag.  Returns 0 or -1. */
static int early_check(struct rewriter *rw)
{
	int ordered = 1, pre = 0;
	uint64_t at = UINT64_MAX;
	size_t dropped = 0;
	if (!rw->early_full && !rw->early_new && !rw->early_pre && text_pos(rw) <= rw->early_at)
		return 0; /* the deepest pends have no early test to ask yet */
	/* Pends are in document order and their levels never fall along the
	 * array.  New text is certain only for the pends of the deepest
	 * holding element and after it: the others' certain text ends where
	 * a deeper holding pend starts, and grows only when one goes
	 * (early_full), so most passes read a few pends. */
	size_t from = 0, n = rw->n_pends;
	if (!rw->early_full) {
		from = n;
		while (from > 0 && (!rw->pends[from - 1].e || rw->pends[from - 1].target))
			from--;
		if (from > 0) {
			uint32_t lv = rw->pends[from - 1].level;
			while (from > 0 && rw->pends[from - 1].level >= lv)
				from--;
		}
	}
	rw->early_full = 0;
	rw->early_new = 0;
	/* deepest first: a child dropped makes its text certain for its
	 * ancestors in the same pass (a link that fills a list item); the
	 * first deeper holding pend after p (where the certain text of p
	 * ends) is the first holding one seen (a), or, when a is at p's
	 * level, the first one deeper than a (b) */
	const struct pend *a = NULL, *b = NULL;
	for (size_t i = n; i-- > from;) {
		struct pend *p = &rw->pends[i];
		if (!p->e)
			continue;
		if (a && p->level > a->level)
			ordered = 0; /* (never so) no text is taken as certain */
		if (!p->early_init) {
			p->early_init = 1;
			p->early_pre = sel_early_mask(p->s);
			sel_early_bounds(p->s, &p->len_room, &p->vis_room);
		}
		int check = p->early_pre || p->len_room != SIZE_MAX || p->vis_room != SIZE_MAX;
		/* bounds alone: the counters so far (all the text, certain or
		 * not) say when they cannot be passed yet */
		if (check && !p->early_pre && text_pos(rw) - p->text_start <= p->len_room &&
		    rw->visible - p->vis_start <= p->vis_room)
			check = 0;
		const struct pend *q = a && a->level > p->level ? a : b;
		if (check && ordered) {
			uint64_t end = q ? q->text_start : text_pos(rw);
			uint64_t vis = q ? q->vis_start : rw->visible, amps = q ? q->amp_start : rw->amps;
			if (early_fails(rw, p, end, vis, amps)) {
				p->e = NULL;
				dropped++;
				continue;
			}
		}
		pre |= p->early_pre != 0;
		/* (visible bytes are bytes: text_pos bounds both counts) */
		if (p->len_room != SIZE_MAX && p->text_start + p->len_room < at)
			at = p->text_start + p->len_room;
		if (p->vis_room != SIZE_MAX && p->text_start + p->vis_room < at)
			at = p->text_start + p->vis_room;
		if (!p->target) {
			if (a && a->level > p->level)
				b = a;
			a = p;
		}
	}
	rw->early_pre = pre;
	rw->early_at = at;
	return dropped ? release_dropped(rw, dropped) : 0;
}

/* The bytes > 0x20 of p[0..n). */
static uint64_t vis_count(const char *p, size_t n)
{
	/* blanks and controls are all <= 0x20: one compare a byte, summed in
	 * a local (the compiler cannot keep rw->visible in a register) */
	uint64_t vis = 0;
	size_t i = 0;
#ifdef __SSE2__
	/* sixteen at a time (the text of every element a rule waits for
	 * comes through here, most of a page's): a byte counts when it is
	 * > 0x20 as a signed byte (0x21..0x7f) or negative (>= 0x80); each
	 * lane's counter (0xff per counted byte subtracted) is summed before
	 * it can wrap, after at most 255 blocks */
	const __m128i blank = _mm_set1_epi8(0x20), zero = _mm_setzero_si128();
	while (i + 16 <= n) {
		__m128i acc = zero;
		for (unsigned k = 0; k < 255 && i + 16 <= n; k++, i += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			__m128i m = _mm_or_si128(_mm_cmpgt_epi8(x, blank), _mm_cmpgt_epi8(zero, x));
			acc = _mm_sub_epi8(acc, m);
		}
		__m128i sum = _mm_sad_epu8(acc, zero);
		vis += (uint64_t)_mm_cvtsi128_si32(sum) + (uint64_t)_mm_extract_epi16(sum, 4);
	}
#endif
	for (; i + 8 <= n; i += 8) {
		/* eight at a time: a byte's top bit after adding 0x5f to its
		 * low seven bits says >= 0x21; bytes >= 0x80 count as they are */
		uint64_t x;
		memcpy(&x, p + i, 8);
		uint64_t hi = (((x & 0x7f7f7f7f7f7f7f7full) + 0x5f5f5f5f5f5f5f5full) | x) & 0x8080808080808080ull;
		vis += ((hi >> 7) * 0x0101010101010101ull) >> 56; /* sum of the top bits */
	}
	for (; i < n; i++)
		vis += (unsigned char)p[i] > 0x20;
	return vis;
}

/* Counts the visible bytes of the text not counted yet (rw->visible is
 * exact up to the end of the text afterwards).  Text dropped since
 * (pends_compact, check_bound) was no live pend's: not counted. */
__attribute__((noinline)) static void vis_sync(struct rewriter *rw)
{
	if (rw->vis_upto < rw->text_base)
		rw->vis_upto = rw->text_base;
	if (rw->vis_upto < text_pos(rw))
		rw->visible += vis_count(rw->text + (rw->vis_upto - rw->text_base), (size_t)(text_pos(rw) - rw->vis_upto));
	rw->vis_upto = text_pos(rw);
}

static int text_add(struct rewriter *rw, const char *p, size_t n, int rawtext)
{
	if (rw->skip_level) {
		size_t room = sizeof rw->skip_text - 1 - rw->skip_text_len;
		if (room) {
			size_t k = n < room ? n : room;
			memcpy(rw->skip_text + rw->skip_text_len, p, k);
			rw->skip_text_len += k;
		}
		return 0;
	}
	if (!rw->n_pends)
		return 0;
	if (rawtext)
		vis_sync(rw); /* code is text, but not visible: counted past */
	if (buf_add(&rw->text, &rw->text_len, &rw->text_cap, p, n) < 0)
		return -1;
	if (rawtext)
		rw->vis_upto = text_pos(rw);
	/* the references first: early decisions decode what holds one */
	uint64_t amps_before = rw->amps;
	for (const char *a = p, *e = p + n; (a = memchr(a, '&', (size_t)(e - a))) != NULL; a++)
		rw->amps++;
	/* then the decisions, before the visible bytes are counted: most
	 * waits end on the first words of an element's first text, and
	 * then nothing needs its count (the bounds are asked after it);
	 * blanks between tags tell no test anything (a later check sees
	 * the same text) */
	size_t k = blank_run(p, n);
	if ((k < n || amps_before != rw->amps) && early_check(rw) < 0)
		return -1;
	if (rawtext || !rw->n_pends)
		return 0;
	/* only as far as someone asks (vis_sync): most texts are short,
	 * and their pends end before the guard or a bound could matter */
	if (text_pos(rw) - rw->pends[0].text_start <= GUARD_TEXT && text_pos(rw) <= rw->early_at)
		return 0;
	uint64_t before = rw->visible;
	vis_sync(rw);
	/* pends are in order of creation, so the first has seen the most */
	if (rw->visible - rw->pends[0].vis_start > GUARD_TEXT)
		return release_guarded(rw);
	/* the same text: only the bounds may tell more */
	return text_pos(rw) > rw->early_at && rw->visible != before ? early_check(rw) : 0;
}

/* The tokens on_token() leaves: text that something waits for or that
 * does not continue the output run, comments and the like, and every
 * token once the page passes through unrewritten or is an over-long
 * tag's.  Returns 0 or -1, as on_token. */
__attribute__((noinline)) static int on_token_slow(struct rewriter *rw, const struct html_token *t)
{
	int rc;
	if (rw->passthrough)
		rc = out_bytes(rw, t->raw, t->raw_len);
	else if (t->flags & HTML_TOK_F_LONG)
		rc = enter_passthrough(rw, "over-long tag") < 0 ? -1 : out_bytes(rw, t->raw, t->raw_len);
	else if (t->type == HTML_TOK_START)
		return on_start(rw, t);
	else if (t->type == HTML_TOK_END)
		return on_end(rw, t);
	else switch (t->type) {
	case HTML_TOK_TEXT:
		rc = (rw->active ? text_add(rw, t->raw, t->raw_len, (t->flags & HTML_TOK_F_RAWTEXT) != 0) : 0) < 0 ? -1 : emit(rw, t->raw, t->raw_len);
		break;
	default:
		rc = emit(rw, t->raw, t->raw_len);
		break;
	}
	rw->in_off += t->raw_len;
	if (rc < 0)
		rw->failed = 1;
	return rc;
}

static int on_token(void *arg, const struct html_token *t)
{
	struct rewriter *rw = arg;
	/* most tokens: text nothing waits for, straight out (what text_add
	 * and emit come to then), and most of those continue the run; the
	 * rest in a function of its own, so this path saves no registers */
	if (t->type == HTML_TOK_TEXT && !(rw->n_pends | rw->n_holding | rw->skip_level | (unsigned)rw->passthrough) &&
	    !(t->flags & HTML_TOK_F_LONG) && rw->run_len && rw->run + rw->run_len == t->raw &&
	    t->raw_len <= (size_t)(rw->chunk + rw->chunk_len - t->raw)) {
		rw->run_len += t->raw_len;
		rw->in_off += t->raw_len;
		return 0;
	}
	if (!((t->flags & HTML_TOK_F_LONG) | (unsigned)rw->passthrough)) {
		if (t->type == HTML_TOK_START)
			return on_start(rw, t);
		if (t->type == HTML_TOK_END)
			return on_end(rw, t);
	}
	return on_token_slow(rw, t);
}

/* ---- API ----------------------------------------------------------------------------------- */

static void make_nonce(char *out, size_t cap)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	/* The kernel's random bytes, fetched 4 KB at a time per thread: a
	 * getrandom() call per page was a tenth of the syscalls a filtered
	 * page costs.  Each byte is handed out once. */
	static _Thread_local unsigned char pool[4096];
	static _Thread_local size_t pool_left;
	unsigned char r[18];
	size_t got = 0;
	if (pool_left < sizeof r) {
		size_t fill = 0;
		while (fill < sizeof pool) {
			ssize_t k = getrandom(pool + fill, sizeof pool - fill, 0);
			if (k <= 0)
				break;
			fill += (size_t)k;
		}
		pool_left = fill;
	}
	if (pool_left >= sizeof r) {
		memcpy(r, pool + pool_left - sizeof r, sizeof r);
		memset(pool + pool_left - sizeof r, 0, sizeof r);
		pool_left -= sizeof r;
		got = sizeof r;
	}
	for (; got < sizeof r; got++)
		r[got] = (unsigned char)rand(); /* getrandom failed: still a nonce */
	size_t o = 0;
	for (size_t i = 0; i + 2 < sizeof r && o + 4 < cap; i += 3) {
		unsigned v = (unsigned)r[i] << 16 | (unsigned)r[i + 1] << 8 | r[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	out[o] = 0;
}

struct rewriter *rewriter_new(struct cosmetic_page *page, const struct rewriter_opts *o)
{
	pthread_once(&tag_once, tag_init);
	if (!el_pool_on)
		el_pool_start();
	/* 49 KB, most of it frames nothing reads before it is pushed */
	struct rewriter *rw = malloc(sizeof *rw);
	if (!rw)
		return NULL;
	memset(rw, 0, offsetof(struct rewriter, frames) + sizeof rw->frames[0]);
	rw->magic = RW_MAGIC;
	if (o)
		rw->o = *o;
	if (!rw->o.lookahead)
		rw->o.lookahead = 256 * 1024;
	rw->page = page;
	rw->active = page && !cosmetic_page_empty(page);
	rw->tri = page ? cosmetic_page_tri_filter(page) : NULL;
	rw->pair = page ? cosmetic_page_pair_filter(page) : NULL;
	rw->keep_attrs = page && cosmetic_page_reads_others(page);
	/* (no page: nothing is matched, and records hold only names) */
	rw->lean = !rw->keep_attrs && !(page && cosmetic_page_reads_siblings(page));
	rw->n_lean = 1;
	if (!rw->o.max_tag)
		rw->o.max_tag = rw->o.lookahead > (1u << 20) ? rw->o.lookahead : (1u << 20);
	rw->tok = html_tok_new(rw->o.max_tag);
	rw->host = strdup(rw->o.log_host ? rw->o.log_host : "-");
	/* never NULL, so offsets into them are always valid pointers */
	rw->hold_cap = rw->text_cap = 1024;
	rw->hold = malloc(rw->hold_cap);
	rw->text = malloc(rw->text_cap);
	if (!rw->tok || !rw->host || !rw->hold || !rw->text) {
		rewriter_free(rw);
		return NULL;
	}
	rw->o.log_host = NULL;
	if (rw->o.nonce && strlen(rw->o.nonce) < sizeof rw->nonce && strspn(rw->o.nonce,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-") == strlen(rw->o.nonce))
		strcpy(rw->nonce, rw->o.nonce);
	else
		make_nonce(rw->nonce, sizeof rw->nonce);
	rw->o.nonce = NULL;
	rw->depth = 1;
	rw->last_desc = -1;
	return rw;
}

void rewriter_free(struct rewriter *rw)
{
	if (!rw)
		return;
	assert(rw->magic == RW_MAGIC);
	for (unsigned i = 0; i < rw->depth && !rw->lean; i++) {
		el_free_chain(rw, rw->frames[i].last_child);
		el_free_chain(rw, rw->frames[i].el); /* with the earlier siblings it owns */
	}
	for (unsigned i = 1; i < rw->n_lean; i++)
		el_release(rw, rw->lean_el[i]);
	for (unsigned i = 0; i < TINFO_SLOTS; i++)
		free(rw->tinfo[i].rules);
	for (unsigned i = 0; i < TB_SLOTS; i++)
		free(rw->tb[i].b);
	html_tok_free(rw->tok);
	free(rw->pends);
	free(rw->hold);
	free(rw->text);
	free(rw->dec);
	free(rw->memo);
	free(rw->attr_memo);
	free(rw->css);
	free(rw->host);
	rw->magic = 0;
	free(rw);
}

int rewriter_feed(struct rewriter *rw, const char *data, size_t len, int last,
                  rewriter_sink out, void *arg)
{
	assert(rw && rw->magic == RW_MAGIC);
	if (rw->failed)
		return -1;
	rw->sink = out;
	rw->sink_arg = arg;
	rw->st.bytes_in += len;
	if (!rw->active) {
		/* no rule can apply: the bytes as they are */
		rw->st.bytes_out += len;
		return len ? out(arg, data, len) : 0;
	}
	rw->chunk = data;
	rw->chunk_len = len;
	int rc = html_tok_feed(rw->tok, data, len, last, on_token, rw);
	if (rc == 0 && last && !rw->passthrough) {
		/* the end: open elements close, their pending rules decide */
		rc = pop_to(rw, 1);
		if (rc == 0)
			rc = style_late(rw);
		if (rc == 0)
			rc = hold_release(rw, hold_pos(rw));
	}
	if (rc == 0)
		rc = flush_run(rw);
	rw->chunk = NULL;
	rw->chunk_len = 0;
	if (rc < 0)
		rw->failed = 1;
	return rc;
}

const char *rewriter_nonce(const struct rewriter *rw) { return rw->nonce; }

void rewriter_get_stats(const struct rewriter *rw, struct rewriter_stats *st) { *st = rw->st; }
