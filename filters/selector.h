/*
 * selector: CSS selectors and the procedural operators of uBlock Origin,
 * Adblock Plus and AdGuard, parsed once and matched in a stream.
 *
 * A stream matcher sees an element when its start tag arrives: its
 * ancestors (the stack of open elements) and its earlier siblings are
 * known, its contents and later siblings are not.  So a selector splits in
 * two: the static part (type, *, #id, .class, attribute tests with every
 * operator and the i flag, :not(), :is(), :first-child, :nth-child(),
 * :matches-attr(), descendant, >, +, ~), matched at the start tag; and the
 * content conditions of its subject (:has-text(), :has(), :upward(),
 * :min-text-length(), AdGuard tag-content / wildcard / min-length /
 * max-length, and :not() of those), which the rewriter evaluates when the
 * element closes.  Selectors a browser understands but a stream cannot
 * decide (:last-child, :empty, ...) are kept as "css only": they go into
 * the injected style and never remove anything.  Anything else is
 * rejected with a reason.
 *
 * A compiled selector is immutable and may be shared between threads.
 */
#ifndef QUELL_SELECTOR_H
#define QUELL_SELECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "filters/html_tok.h"

struct sel;

/* An element as the matcher sees it: lower-case tag name, attributes as
 * the tokenizer gave them, the previous element sibling (NULL when there is
 * none or it was forgotten: the rewriter keeps a bounded number) and its
 * exact 0-based index among its parent's element children. */
struct sel_node {
	const char *name;
	size_t name_len;
	const struct html_attr *attrs;
	unsigned n_attrs;
	const struct sel_node *prev;
	uint32_t index;
};

/* Which syntax a rule body is in (decides how [attr=v] reads). */
enum sel_syntax { SEL_SYNTAX_CSS = 0, SEL_SYNTAX_ADG_HTML = 1 };

/* Parses TEXT.  Returns the selector, or NULL with a reason in why
 * (e.g. "unsupported: :xpath()") or on out of memory ("out of memory"). */
struct sel *sel_parse(const char *text, int syntax, char *why, size_t whylen);
/* sel_parse without a copy of TEXT when the selector is all of it (no
 * surrounding blanks): sel_text() is then TEXT itself, which must outlive
 * the selector.  For indexes of thousands of rules whose texts already sit
 * in memory that lasts as long (an engine snapshot's pool). */
struct sel *sel_parse_borrow(const char *text, int syntax, char *why, size_t whylen);
void sel_free(struct sel *s);

/* Properties.  css_ok: the text may go into a style sheet as it is;
 * stream_ok: it can be matched in the stream; has_conds: matching needs
 * the element's contents (the rewriter buffers it). */
int sel_css_ok(const struct sel *s);
int sel_stream_ok(const struct sel *s);
int sel_has_conds(const struct sel *s);
const char *sel_text(const struct sel *s);

/* The key a stream index files the selector under: "#id", ".class",
 * "[name=token" (an attribute test whose value contains the whole
 * alphanumeric token, lower case), "~name=abc" (an attribute test whose
 * value holds these three bytes, lower case), "@name" (an attribute the
 * element must have), "<tag", or "" (must be tried on every
 * element).  Written NUL-terminated into buf; returns its length, or -1 if
 * it does not fit. */
int sel_index_key(const struct sel *s, char *buf, size_t len);

/* Static match of the subject: path[0..n-1] are the open elements from the
 * root, path[n-1] the element whose start tag just arrived.
 * Returns 1 or 0. */
int sel_match(const struct sel *s, const struct sel_node *const *path, unsigned n);

/* Content conditions of a selector that matched statically. */
unsigned sel_n_conds(const struct sel *s);

enum sel_cond_kind {
	SEL_COND_TEXT,     /* text content: :has-text, :-abp-contains,
	                      :min-text-length */
	SEL_COND_INNER,    /* inner HTML: tag-content, wildcard, min/max-length */
	SEL_COND_HAS,      /* a descendant matches (:has, :-abp-has) */
	SEL_COND_UPWARD,   /* a descendant matches, and no element between
	                      them matches the subject's static part */
	SEL_COND_DEPTH,    /* a descendant exactly N levels down matches */
};
int sel_cond_kind(const struct sel *s, unsigned i);
int sel_cond_negated(const struct sel *s, unsigned i);

/* SEL_COND_TEXT / SEL_COND_INNER: 1 when the text (or inner HTML) passes,
 * 0 otherwise (negation not applied). */
int sel_cond_test(const struct sel *s, unsigned i, const char *text, size_t len);

/* SEL_COND_TEXT from :has-text() and the like: a 64-bit hash of the
 * argument as written; conditions with the same id give the same result
 * on the same text, whatever the rule.  0 for other conditions. */
uint64_t sel_cond_id(const struct sel *s, unsigned i);
/* 1 when the text test costs less than hashing the text (an anchored
 * pattern, a length bound): not worth remembering. */
int sel_cond_cheap(const struct sel *s, unsigned i);
/* The four above for condition i in one call (the rewriter asks them
 * for every test it runs at an element's end). */
struct sel_cond_brief {
	int kind, neg, cheap;
	uint64_t id;
};
void sel_cond_brief(const struct sel *s, unsigned i, struct sel_cond_brief *b);

/* The word filter of a /regex/ text test, for callers that scan nested
 * texts once: sel_cond_word_span is 0 when condition i has none, else the
 * most bytes one occurrence of a word spans; sel_cond_words_at returns 1
 * when a word starts at a position in [from, to) of text[0..len) (a word
 * may run on past to), 0 when none does; sel_cond_test_words is
 * sel_cond_test for a text whose words are known (words 0: none there,
 * the test fails; 1: some, the filter is not run again). */
size_t sel_cond_word_span(const struct sel *s, unsigned i);
int sel_cond_words_at(const struct sel *s, unsigned i, const char *text, size_t len, size_t from,
                      size_t to);
int sel_cond_test_words(const struct sel *s, unsigned i, const char *text, size_t len, int words);
/* 1 when the /regex/ text test i has a first-character filter (an
 * anchored pattern whose text can be rejected from its first non-blank
 * byte without PCRE2), 0 when PCRE2 decides every text.  For tests. */
int sel_cond_first_filtered(const struct sel *s, unsigned i);

/* Early decisions on a text test while its text still grows (the text as
 * sel_cond_test sees it; negation not applied).  sel_cond_max_len and
 * sel_cond_max_visible: the most bytes, and bytes > 0x20, a passing text
 * holds (SIZE_MAX: no bound); sel_early_bounds: the least of them over the
 * selector's text tests that are not negated (a :not() of one fails on
 * the whole text only).  sel_early_mask: those of them (the first 32, a
 * bit each) that a beginning of the text may decide, with
 * sel_cond_test_prefix: 0 when no text that begins with text[0..len)
 * passes, 1 when that beginning tells nothing, -1 when a longer one may. */
size_t sel_cond_max_len(const struct sel *s, unsigned i);
size_t sel_cond_max_visible(const struct sel *s, unsigned i);
void sel_early_bounds(const struct sel *s, size_t *len, size_t *vis);
uint32_t sel_early_mask(const struct sel *s);
int sel_cond_test_prefix(const struct sel *s, unsigned i, const char *text, size_t len);

/* SEL_COND_HAS / UPWARD / DEPTH: the selector a descendant must match.  It
 * is matched with sel_match_rel with the subject at path[scope]. */
const struct sel *sel_cond_sel(const struct sel *s, unsigned i);

/* Matches a relative selector (":has(> a.b)") on path[n-1] with the scope
 * element at path[scope] (scope < n-1).  For SEL_COND_DEPTH the caller also
 * checks the depth.  Returns 1 or 0 (static part only). */
int sel_match_rel(const struct sel *s, const struct sel_node *const *path,
                  unsigned n, unsigned scope);
unsigned sel_cond_depth(const struct sel *s, unsigned i);
/* 1 when a relative selector's match does not depend on the scope (each
 * alternative is a compound descendant of the scope, or a chain of its
 * earlier siblings, "p + p + p", "h2 ~ .x", who are at its level): the
 * result for one ancestor holds for all of them. */
int sel_rel_simple(const struct sel *s);
/* 1 when matching s may read the attributes of an element other than the
 * one matched (an ancestor's or earlier sibling's id, class or other
 * attribute, here or in a nested selector); 0 when the other elements'
 * names and positions are enough. */
int sel_reads_others(const struct sel *s);
/* 1 when matching s may read an element's earlier siblings or its index
 * among them (:nth-*, '+', '~', here or in a nested selector); 0 when
 * the element and its ancestors are enough. */
int sel_reads_siblings(const struct sel *s);
/* A 64-bit hash of the selector's text, syntax and relativity: selectors
 * with the same id match the same elements (rules repeat inner selectors,
 * and the rewriter matches each once per element; like its text-test memo
 * it takes equal 64-bit hashes for equal inputs). */
uint64_t sel_id(const struct sel *s);
/* A 64-bit hash of what sel_match() reads (its compounds and combinators,
 * not its content conditions): selectors with the same static id match
 * the same elements statically ("li > a:has-text(x)", "li > a:has-text(y)"),
 * at 2^-64 a pair for different ones. */
uint64_t sel_static_id(const struct sel *s);
/* The conditions descendants decide (SEL_COND_HAS, UPWARD, DEPTH), a bit
 * each (the first 32). */
uint32_t sel_desc_mask(const struct sel *s);
/* Those of them that are negated (":not(:has(img))"), a bit each: a
 * descendant condition c passes when its bit of the matches found
 * differs from its bit here. */
uint32_t sel_desc_neg(const struct sel *s);
/* The tag name (lower case, not NUL-terminated) an element must have to
 * match s, when every alternative says it; NULL otherwise. */
const char *sel_subject_tag(const struct sel *s, size_t *len);
/* 1 when the static part of s is its subject's tag and nothing else
 * ("div:has-text(...)"): matching it is comparing sel_subject_tag(). */
int sel_tag_only(const struct sel *s);
/* A tag name one of the subject's ancestors must have for s to match
 * ("nav a": nav), or NULL. */
const char *sel_ancestor_tag(const struct sel *s, size_t *len);
/* Its 32-bit FNV-1a hash (offset basis 2166136261, prime 16777619, over
 * its bytes), made once: callers that count open elements by that hash
 * ask it for every candidate rule of every element; 0 when there is no
 * such tag. */
uint32_t sel_ancestor_hash(const struct sel *s);

#endif
