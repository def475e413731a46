/*
 * html_filter: the HTML rewriter as a body filter of the proxy's chain
 * (proxy/chain.h), and the glue `quell filter` shares with it.
 *
 * open() accepts text/html and application/xhtml+xml responses that quell
 * can decode, on pages the network engine does not exempt ($document,
 * $elemhide) and that have at least one cosmetic or HTML rule; everything
 * else is declined and passes untouched.  It weakens a strong ETag, and
 * when a Content-Security-Policy header forbids inline styles it adds the
 * page's nonce to it (never removing a source).  While quell declines
 * consent by cookie (filters/consent.h), the rewriter's removal reports
 * are watched: a rule removing a consent manager's own banner teaches
 * this worker that the page's host shows that manager (consent_learn), so
 * the host's later requests carry the decline.  UTF-16 pages (by charset
 * or byte-order mark) pass unchanged, counted.  process() moves bytes from
 * the chain's input to its output through the rewriter.
 *
 * The compiled selector index is built from the snapshot's cosmetic rules
 * on first use and hung on the snapshot (engine_set_attachment), so every
 * later page of that snapshot finds it ready.
 */
#ifndef QUELL_HTML_FILTER_H
#define QUELL_HTML_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/chain.h"

struct engine;
struct config;
struct cosmetic;

extern const struct chain_filter chain_html_filter;

/* The snapshot's selector index, built and attached on first call.  NULL
 * when out of memory.  Owned by the snapshot. */
struct cosmetic *html_filter_index(struct engine *e);

/* COSMETIC_REMOVE or COSMETIC_HIDE for a page host: the config's
 * cosmetic_site lines (most specific domain wins), else its cosmetic key. */
int html_filter_mode(const struct config *cfg, const char *host);

/* COSMETIC_P_* flags for a page from NETFILTER_PAGE_* flags. */
unsigned html_filter_page_flags(unsigned netfilter_flags);

struct html_filter_stats {
	uint64_t pages;          /* responses rewritten */
	uint64_t declined;       /* HTML responses passed untouched (no rules, exempt) */
	uint64_t utf16;          /* UTF-16/32 pages passed untouched */
	uint64_t removed;        /* elements removed */
	uint64_t hidden;         /* elements hidden (hide mode) */
	uint64_t overflows;      /* look-ahead bound reached */
};
void html_filter_get_stats(struct html_filter_stats *st);

#endif
