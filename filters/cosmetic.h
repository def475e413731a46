/*
 * cosmetic: the cosmetic and HTML rules of a snapshot, indexed for the
 * streaming rewriter, and the per-page view of them.
 *
 * Generic rules ("##sel") are filed under the rightmost compound's most
 * selective key, as uBlock Origin does: its id, else a class, else an
 * alphanumeric token an attribute test requires ("a[href^=\"https://ads.x/\"]"
 * under [href=ads), else its tag, else the few "try on every element"
 * rules.  An element then costs one hash probe per id, class, tag and
 * indexed-attribute token, however many rules there are.  Domain rules are
 * filed by host name and by entity ("example.*"); a page's set is built
 * once per response (cosmetic_page_new) with the #@# exceptions, negated
 * domains and the network engine's elemhide / generichide / specifichide
 * verdicts applied.
 *
 * struct cosmetic is immutable once built and shared by all threads (it is
 * meant to hang off the engine snapshot); a cosmetic_page belongs to one
 * response.
 */
#ifndef QUELL_COSMETIC_H
#define QUELL_COSMETIC_H

#include <stddef.h>
#include <stdint.h>

#include "filters/cosmetic_rule.h"

struct cosmetic;
struct cosmetic_page;
struct cosmetic_entry;  /* one compiled rule */
struct sel;

/* Called for each rule that cannot be used: why is a static or
 * short-lived string. */
typedef void (*cosmetic_report_fn)(void *arg, const struct cosmetic_rule *r, const char *why);

/* Compiles rules[0..n).  list_names[list_id] names the lists in --explain
 * output (may be NULL: "list#N").  The strings are copied.  Returns the
 * index, or NULL when out of memory. */
struct cosmetic *cosmetic_build(const struct cosmetic_rule *rules, size_t n,
                                const char *const *list_names, size_t n_lists,
                                cosmetic_report_fn report, void *arg);
/* cosmetic_build with flags: COSMETIC_BUILD_BORROW keeps pointers to the
 * rules' body strings instead of copies (they must outlive the index: an
 * engine's rules and the index attached to it, freed first). */
#define COSMETIC_BUILD_BORROW 1u
struct cosmetic *cosmetic_build_ex(const struct cosmetic_rule *rules, size_t n,
                                   const char *const *list_names, size_t n_lists,
                                   cosmetic_report_fn report, void *arg, unsigned flags);
void cosmetic_free(struct cosmetic *c);
/* For engine_set_attachment(). */
void cosmetic_free_any(void *c);

/* Rules compiled, rules rejected. */
size_t cosmetic_n_rules(const struct cosmetic *c);
size_t cosmetic_n_rejected(const struct cosmetic *c);

/* Page flags from the network engine's page verdict. */
enum {
	COSMETIC_P_ELEMHIDE = 1 << 0,     /* no cosmetic rule at all */
	COSMETIC_P_GENERICHIDE = 1 << 1,  /* no generic rule */
	COSMETIC_P_SPECIFICHIDE = 1 << 2, /* no domain-specific rule */
};

/* The rules for a page on host (lower case, no port; NULL or "" for none).
 * c may be NULL (no rules).  Returns the page, or NULL when out of memory. */
struct cosmetic_page *cosmetic_page_new(const struct cosmetic *c, const char *host,
                                        unsigned flags);
void cosmetic_page_free(struct cosmetic_page *p);

/* 1 when no rule at all can apply to the page (the rewriter then only
 * passes bytes through). */
int cosmetic_page_empty(const struct cosmetic_page *p);

/* Hashes of index keys.  An element's keys: '#'+id, '.'+class, '<'+tag,
 * '@'+name for each attribute,
 * for each attribute named by cosmetic_page_attr_indexed(),
 * '['+name+'='+token for each alphanumeric run of its value, lower-cased,
 * and for each named by cosmetic_page_attr_sub_indexed(), '~'+name+'='+
 * each 3-byte window of its value, lower-cased.
 * key_start/key_add build one incrementally; key_add_lower lower-cases. */
/* (inline: the rewriter hashes every attribute name and class token of
 * the page with them, and a call per key cost more than the hashing) */
static inline uint64_t cosmetic_key_start(char kind)
{
	return (14695981039346656037ull ^ (unsigned char)kind) * 1099511628211ull;
}
static inline uint64_t cosmetic_key_add(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}
static inline uint64_t cosmetic_key_add_lower(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((unsigned)(ch - 'A') < 26u)
			ch |= 0x20;
		h = (h ^ ch) * 1099511628211ull;
	}
	return h;
}

/* 1 when some rule on the page is filed under an attribute called name:
 * by whole token ("[name=token" keys), or by three bytes its value
 * contains ("~name=abc" keys: probe every 3-byte window of the value,
 * lower-cased). */
int cosmetic_page_attr_indexed(const struct cosmetic_page *p, const char *name, size_t n);
int cosmetic_page_attr_sub_indexed(const struct cosmetic_page *p, const char *name, size_t n);

/* A filter over the "~name=abc" keys of a page, whatever the name: bit
 * cosmetic_tri_bit(abc) of cosmetic_page_tri_filter() is set for each, so
 * a window whose bit is clear needs no lookup (most of them: class names
 * and URLs are probed at every byte).  COSMETIC_TRI_BITS bits, valid as
 * long as the page. */
#define COSMETIC_TRI_BITS 16384
const uint64_t *cosmetic_page_tri_filter(const struct cosmetic_page *p);

/* 1 when some rule that may apply on the page reads attributes of an
 * element besides the one it is matched on (sel_reads_others): an
 * element's attributes are then wanted after its start tag. */
int cosmetic_page_reads_others(const struct cosmetic_page *p);
/* 1 when some rule in the page's lists reads an element's earlier
 * siblings or its position (sel_reads_siblings): element records are
 * then kept after their elements close. */
int cosmetic_page_reads_siblings(const struct cosmetic_page *p);
/* v: the three bytes, lower-cased, as b0 << 16 | b1 << 8 | b2 (a scan
 * rolls it along the value). */
static inline unsigned cosmetic_tri_bit_packed(uint32_t v)
{
	return (unsigned)((v * 0x9e3779b1u) >> 18); /* 14 bits */
}
static inline unsigned cosmetic_tri_bit(const char *s)
{
	uint32_t v = 0;
	for (int i = 0; i < 3; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((unsigned)(ch - 'A') < 26u)
			ch |= 0x20;
		v = v << 8 | ch;
	}
	return cosmetic_tri_bit_packed(v);
}

/* A filter over the words of "[name=word" keys of a page, whatever the
 * name: bit cosmetic_pair_bit(w, n) of cosmetic_page_pair_filter() is set
 * for each word's first three bytes (its two when it has two), so a word
 * of an attribute value whose bit is clear needs neither its key made nor
 * a lookup (most words of URLs: on wapo-1, 25% of the words pass three
 * bytes, 57% passed a filter of their first two).
 * COSMETIC_PAIR_BITS bits, valid as long as the page. */
#define COSMETIC_PAIR_BITS 16384
const uint64_t *cosmetic_page_pair_filter(const struct cosmetic_page *p);
/* w[0..n), n >= 2: letters and digits, lower-cased by | 0x20 (which is
 * tolower() on them) */
static inline unsigned cosmetic_pair_bit(const char *w, size_t n)
{
	uint32_t v = ((unsigned char)w[0] | 0x20u) << 8 | ((unsigned char)w[1] | 0x20u);
	if (n > 2)
		v = v << 8 | ((unsigned char)w[2] | 0x20u);
	return cosmetic_tri_bit_packed(v);
}

/* The rules filed under key on the page: generic ones first, then domain
 * ones.  Writes up to max entries into out; returns the count found.
 * Entries excepted on the page are left out.  The pointers live as long as
 * the index. */
size_t cosmetic_page_lookup(const struct cosmetic_page *p, uint64_t key,
                            const struct cosmetic_entry **out, size_t max);
/* The rules to try on every element. */
size_t cosmetic_page_universal(const struct cosmetic_page *p,
                               const struct cosmetic_entry *const **out);

/* Marks a generic entry's selector to be added to the page's style (its
 * id or class appeared).  Returns 1 when newly marked, 0 if not eligible or
 * already marked. */
int cosmetic_page_mark_seen(struct cosmetic_page *p, const struct cosmetic_entry *e);

/* Appends to buf (capacity cap, NUL kept) the CSS of the page: every
 * domain-specific rule (first call only) and the generic rules marked seen
 * since the last call; "sel{display:none!important}" or "sel{decls}" for
 * :style() rules.  The generic :style() rules (scroll locks a script sets
 * at run time) come once, with the first call that writes anything or
 * once one of them was marked seen, those with the same declarations as
 * one rule ("a,b{decls}").  Returns the length written (0: nothing new), or -1 when
 * it does not fit (buf then holds what did, cut at a rule boundary). */
long cosmetic_page_css(struct cosmetic_page *p, char *buf, size_t cap);

/* Bytes cosmetic_page_css needs now (NUL included). */
size_t cosmetic_page_css_size(const struct cosmetic_page *p);
/* 1 when cosmetic_page_css would write something now. */
int cosmetic_page_css_pending(const struct cosmetic_page *p);

/* An entry's properties. */
const struct sel *cosmetic_entry_sel(const struct cosmetic_entry *e);
int cosmetic_entry_kind(const struct cosmetic_entry *e);           /* enum cosm_kind */
int cosmetic_entry_generic(const struct cosmetic_entry *e);
/* 1 for ##^ and $$ rules: always removed, also in hide mode. */
int cosmetic_entry_html(const struct cosmetic_entry *e);
/* The rule as written ("example.com##.ad"), made on each call (only
 * --explain and logs want it: the index keeps a rule's text once, in its
 * selector): a malloc'd string the caller frees, NULL when out of memory.
 * And where the rule is: "easylist:1234". */
char *cosmetic_entry_text(const struct cosmetic_entry *e);
const char *cosmetic_entry_list(const struct cosmetic_entry *e);
uint32_t cosmetic_entry_line(const struct cosmetic_entry *e);

#endif
