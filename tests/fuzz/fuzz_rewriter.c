/*
 * libFuzzer target for filters/html_tok and filters/rewriter.  The first
 * input byte picks a split position; the rest is the page.
 *  1. The tokenizer over two pieces: the concatenated token bytes are the
 *     input.
 *  2. The rewriter with no rules, and with rules that match nothing:
 *     output = input, whole and split.
 *  3. The rewriter with rules using every feature (small look-ahead bound,
 *     so the bound is hit too): output whole = output split.
 * Any difference aborts; ASan/UBSan catch the rest, LeakSanitizer leaks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/cosmetic.h"
#include "filters/html_tok.h"
#include "filters/rewriter.h"

struct buf { char *p; size_t n, cap; };

static int add(struct buf *b, const char *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2 + 64;
		char *x = realloc(b->p, cap);
		if (!x)
			abort();
		b->p = x;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int tok_cb(void *arg, const struct html_token *t)
{
	return add(arg, t->raw, t->raw_len);
}

static int sink(void *arg, const char *p, size_t n) { return add(arg, p, n); }

static struct cosmetic *none, *all;

static struct cosmetic *build(const char *const *bodies, const char *const *domains, const uint8_t *kinds, size_t n)
{
	struct cosmetic_rule v[32];
	for (size_t i = 0; i < n; i++) {
		memset(&v[i], 0, sizeof v[i]);
		v[i].body = bodies[i];
		v[i].domains = domains[i];
		v[i].kind = kinds[i];
		v[i].line = (uint32_t)i + 1;
	}
	struct cosmetic *c = cosmetic_build(v, n, NULL, 0, NULL, NULL);
	if (!c)
		abort();
	return c;
}

static void init(void)
{
	/* rules that never remove and never go into a style: every element
	 * is matched and held until it closes, then passed on unchanged */
	static const char *nb[] = { "div:has-text(/(?!)/)", "*:has(b:has-text(/(?!)/))" };
	static const char *nd[] = { "", "" };
	static const uint8_t nk[] = { COSM_PROCEDURAL, COSM_PROCEDURAL };
	none = build(nb, nd, nk, 2);
	static const char *ab[] = {
		".ad", "div > p + span", "li ~ li.x", "[data-ad]", "a[href^=\"http://ads\"]",
		"div:has-text(/^\\s*ad\\s*$/i)", "section:has(> .ad)", ".lbl:upward(2)",
		".lbl2:upward(div)", "p:not(:has-text(keep))", "script[tag-content=\"ad\"]",
		"ins:matches-attr(/^data-/)", "table td.x", "svg .ad", "div:has(span:has-text(x))",
		"#top", ".s:style(color:red)", "p:nth-child(2n+1) b",
		"div:has-text(/(?:ad(?:vert|s by)|sponsor)/i)", "span:has-text(/(?:ad|é)y/iu)",
	};
	static const char *ad[] = {
		"", "", "", "", "", "", "", "", "", "ex.com", "", "", "", "", "", "ex.com", "ex.com", "",
		"", "",
	};
	static const uint8_t ak[] = {
		COSM_CSS, COSM_CSS, COSM_CSS, COSM_CSS, COSM_CSS, COSM_PROCEDURAL, COSM_PROCEDURAL,
		COSM_PROCEDURAL, COSM_PROCEDURAL, COSM_PROCEDURAL, COSM_ADG_HTML, COSM_PROCEDURAL,
		COSM_CSS, COSM_CSS, COSM_PROCEDURAL, COSM_CSS, COSM_STYLE, COSM_CSS,
		COSM_PROCEDURAL, COSM_PROCEDURAL,
	};
	all = build(ab, ad, ak, sizeof ab / sizeof *ab);
}

/* Rewrites d[0..n) in two pieces cut at cut; returns the output. */
static struct buf rewrite(struct cosmetic *c, const char *d, size_t n, size_t cut, int hide)
{
	struct buf o = { NULL, 0, 0 };
	struct cosmetic_page *p = cosmetic_page_new(c, "www.ex.com", 0); /* c NULL: no rules */
	struct rewriter_opts ro = { 0 };
	ro.hide = hide;
	ro.lookahead = 512;
	ro.max_tag = 512; /* reach the over-long-tag path too */
	ro.nonce = "FUZZ";
	struct rewriter *rw = p ? rewriter_new(p, &ro) : NULL;
	if (!rw)
		abort();
	if (rewriter_feed(rw, d, cut, 0, sink, &o) < 0 || rewriter_feed(rw, d + cut, n - cut, 0, sink, &o) < 0 ||
	    rewriter_feed(rw, NULL, 0, 1, sink, &o) < 0)
		abort();
	rewriter_free(rw);
	cosmetic_page_free(p);
	add(&o, "", 0);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!none)
		init();
	if (size < 1)
		return 0;
	const char *d = (const char *)data + 1;
	size_t n = size - 1, cut = n ? data[0] % (n + 1) : 0;

	struct buf t = { NULL, 0, 0 };
	struct html_tok *tok = html_tok_new(256);
	if (!tok || html_tok_feed(tok, d, cut, 0, tok_cb, &t) < 0 ||
	    html_tok_feed(tok, d + cut, n - cut, 1, tok_cb, &t) < 0)
		abort();
	html_tok_free(tok);
	if (t.n != n || (n && memcmp(t.p, d, n)))
		abort();
	free(t.p);

	struct buf a, b;
	for (int k = 0; k < 2; k++) {
		a = rewrite(k ? none : NULL, d, n, n, 0);
		b = rewrite(k ? none : NULL, d, n, cut, 0);
		if (a.n != n || b.n != n || (n && (memcmp(a.p, d, n) || memcmp(b.p, d, n))))
			abort();
		free(a.p);
		free(b.p);
	}

	int hide = data[0] & 1;
	a = rewrite(all, d, n, n, hide);
	b = rewrite(all, d, n, cut, hide);
	if (a.n != b.n || (a.n && memcmp(a.p, b.p, a.n)))
		abort();
	free(a.p);
	free(b.p);
	return 0;
}
