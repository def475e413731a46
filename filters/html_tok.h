/*
 * html_tok: a byte-preserving, streaming HTML tokenizer.
 *
 * Input arrives in chunks split anywhere (mid-tag, mid-attribute,
 * mid-comment, mid-UTF-8); the tokenizer reports tokens through a callback,
 * each carrying its exact source bytes, so the concatenation of every
 * token's raw bytes is the input, byte for byte.  Start and end tags come
 * whole with their lower-cased name and their attributes (all quoting
 * styles, as the HTML tokenizer splits them); text, comments, doctypes,
 * CDATA and bogus comments come as opaque pieces that may be split at any
 * point, so consumers must not depend on piece boundaries.  Character
 * references are left as they are.  After a start tag of a raw-text
 * element (script, style, textarea, title, xmp, iframe, noembed, noframes,
 * noscript) its content is text up to the matching end tag; after
 * <plaintext> everything is text.
 *
 * Only a partial token is held back between chunks: a tag (at most
 * max_tag bytes; a longer tag is passed on as opaque pieces followed by a
 * token flagged HTML_TOK_F_LONG that has no attributes) or the few bytes
 * after a '<' that decide what it opens.
 */
#ifndef QUELL_HTML_TOK_H
#define QUELL_HTML_TOK_H

#include <stddef.h>
#include <stdint.h>

enum html_tok_type {
	HTML_TOK_TEXT = 0,   /* character data (or raw-text element content) */
	HTML_TOK_START = 1,  /* start tag, whole */
	HTML_TOK_END = 2,    /* end tag, whole */
	HTML_TOK_OTHER = 3,  /* comment, doctype, CDATA, bogus comment, or the
	                        opaque head of an over-long tag: a piece */
};

#define HTML_TOK_NAME_MAX 32      /* longer tag names are truncated */
#define HTML_TOK_MAX_ATTRS 64     /* further attributes are not reported */

enum {
	HTML_TOK_F_SELF_CLOSING = 1 << 0, /* "<br/>" */
	HTML_TOK_F_LONG = 1 << 1,         /* tag longer than max_tag: raw is only
	                                     its tail, attributes are not given */
	HTML_TOK_F_RAWTEXT = 1 << 2,      /* TEXT inside a raw-text element */
};

/* An attribute: name lower-cased (tokenizer's scratch), value as written
 * (points into raw, quotes excluded, references not decoded). */
struct html_attr {
	const char *name;
	const char *value;
	uint32_t name_len;
	uint32_t value_len;
};

/* A token.  Every pointer is valid only during the callback. */
struct html_token {
	int type;                       /* enum html_tok_type */
	unsigned flags;                 /* HTML_TOK_F_* */
	const char *raw;                /* exact source bytes */
	size_t raw_len;
	char name[HTML_TOK_NAME_MAX];   /* START/END: lower-cased, NUL-terminated */
	size_t name_len;
	const struct html_attr *attrs;  /* START only */
	unsigned n_attrs;
};

/* Called for each token; returns 0 to go on, -1 to stop html_tok_feed. */
typedef int (*html_tok_cb)(void *arg, const struct html_token *t);

struct html_tok;

/* A tokenizer holding back at most max_tag bytes of a partial tag
 * (0: 256 KiB).  NULL when out of memory. */
struct html_tok *html_tok_new(size_t max_tag);
void html_tok_free(struct html_tok *t);

/* Tokenizes len bytes (consumed: the caller keeps ownership of data).  With
 * last set, whatever is held back is flushed as text/other pieces.
 * Returns 0, or -1 when the callback returned -1 (the tokenizer is then in
 * an unspecified state and must only be freed). */
int html_tok_feed(struct html_tok *t, const char *data, size_t len, int last,
                  html_tok_cb cb, void *arg);

/* Tells the tokenizer that the insertion point is inside svg/math (CDATA
 * sections are recognised, raw-text elements are not).  Call it from the
 * callback of the start/end tag that changes it. */
void html_tok_set_foreign(struct html_tok *t, int on);

/* Bytes currently held back (a partial token). */
size_t html_tok_held(const struct html_tok *t);

/* 1 when NAME (lower case) is a raw-text element name. */
int html_tok_is_rawtext(const char *name, size_t len);

#endif
