/*
 * rewriter: the streaming HTML rewriter.
 *
 * Bytes in, bytes out, never the whole page: the tokenizer (html_tok)
 * cuts the stream into tokens, a stack of open elements follows what a
 * browser builds (implied end tags of p, li, dt/dd, option, tr/td/th,
 * head/body..., void elements, foreign svg/math), and each start tag is
 * matched against the page's rules (cosmetic_page): a hash probe per id,
 * class, tag and indexed attribute token, then the full selector on the
 * few candidates.  A matched element is removed with all it contains
 * (or, in hide mode, kept and marked for the injected style).  A rule
 * that needs the element's contents (:has-text, :has, :upward, AdGuard
 * tag-content...) never removes a block holding more than a few KB of
 * text (it is kept, counted), and holds the output from that element's start tag until it
 * closes, at most `lookahead` bytes: past the bound the oldest held element
 * is passed on unchanged, counted, and logged once per page.  Bytes no
 * pending rule can change go out at once; with no rule that matches the
 * output is the input, byte for byte, however the input was split.
 *
 * Style: one <style> goes in before </head> (or before the first element
 * of the body, or at the end of a document without either): the page's
 * domain-specific selectors plus the generic ones whose id or class
 * appeared so far.  Generic selectors whose id/class only appears later
 * go into a second, small <style> before </body> (or at the end), only if
 * there are any.  Both carry the page's CSP nonce; a <meta> CSP that
 * forbids inline styles gets that nonce added when a style is due (the
 * page's domain rules, a generic rule seen so far, or hide mode; a late
 * style after a meta that was left alone is then blocked by the page's
 * own policy, while the elements are still removed in the stream), and
 * the caller adds it to the header with rewriter_csp_add_nonce().
 * Nothing is ever removed from a policy.
 */
#ifndef QUELL_REWRITER_H
#define QUELL_REWRITER_H

#include <stddef.h>
#include <stdint.h>

struct rewriter;
struct cosmetic_page;

/* One removal, for --explain and the debug log.  Strings live during the
 * callback only. */
struct rewriter_removal {
	const char *rule;     /* "example.com##.ad" */
	const char *list;     /* list name */
	uint32_t line;
	uint64_t start, end;  /* input byte offsets [start, end) */
	const char *text;     /* the first words of the removed text */
	int hidden;           /* 1: hide mode, the element was kept and hidden */
	int kept;             /* 1: a content rule matched a block with too much
	                         text to be an ad or a prompt: left in place */
};
typedef void (*rewriter_explain_fn)(void *arg, const struct rewriter_removal *r);

/* Receives output; returns 0, or -1 to make rewriter_feed fail. */
typedef int (*rewriter_sink)(void *arg, const char *p, size_t n);

struct rewriter_opts {
	int hide;                      /* 1: hide matched elements, keep them */
	int xml;                       /* application/xhtml+xml: "<div/>" is
	                                  empty and no end tag is implied */
	size_t lookahead;              /* held-bytes bound, 0: 256 KiB */
	size_t max_tag;                /* longest tag rewritten (longer: the rest of
	                                  the page passes as it is); 0: the larger
	                                  of lookahead and 1 MiB (data: URIs) */
	const char *nonce;             /* CSP nonce for injected styles, or NULL
	                                  (one is made) */
	rewriter_explain_fn explain;   /* or NULL */
	void *explain_arg;
	const char *log_host;          /* for log lines, or NULL */
};

struct rewriter_stats {
	uint64_t bytes_in, bytes_out;
	uint64_t removed, hidden;
	uint64_t guarded;              /* content-rule matches kept: too much text */
	uint64_t lookahead_overflows;  /* held elements passed on unchanged */
	uint64_t styles;               /* <style> elements injected */
	int passthrough;               /* gave up rewriting (over-long tag, too deep) */
};

/* A rewriter for one response with the rules of page (borrowed: it must
 * outlive the rewriter; NULL: no rules).  Returns NULL when out of
 * memory. */
struct rewriter *rewriter_new(struct cosmetic_page *page, const struct rewriter_opts *o);
void rewriter_free(struct rewriter *rw);

/* Rewrites data[0..len) (the caller keeps it), calling out with the bytes
 * that are ready.  last marks the end of the body: everything held is
 * flushed.  Returns 0, or -1 when out of memory or out returned -1 (the
 * rewriter must then only be freed). */
int rewriter_feed(struct rewriter *rw, const char *data, size_t len, int last,
                  rewriter_sink out, void *arg);

/* The nonce the injected styles carry. */
const char *rewriter_nonce(const struct rewriter *rw);
void rewriter_get_stats(const struct rewriter *rw, struct rewriter_stats *st);

/* The value of a Content-Security-Policy header with nonce allowed for
 * <style> elements, when the policy forbids inline styles: the nonce is
 * added to style-src-elem / style-src of each policy that blocks them, or
 * a style-src copying default-src plus the nonce is appended.  Returns a
 * malloc'd string, or NULL when the policy already allows inline styles
 * (no change needed) or when out of memory (*oom set). */
char *rewriter_csp_add_nonce(const char *policy, const char *nonce, int *oom);

#endif
