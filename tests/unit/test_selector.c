/* Unit tests for filters/selector: what parses, what is rejected and why,
 * what is css-only, the index key of each selector, static matching on a
 * hand-built element path (every combinator), relative matching for
 * :has(), and the content tests (text, regex, wildcard, lengths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <ctype.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>

#include "filters/selector.h"

static struct sel *parse_ok(const char *text, int syntax)
{
	char why[160];
	struct sel *s = sel_parse(text, syntax, why, sizeof why);
	if (!s)
		fprintf(stderr, "%s: %s\n", text, why);
	assert_non_null(s);
	return s;
}

static void expect_reject(const char *text, const char *why_part)
{
	char why[160];
	struct sel *s = sel_parse(text, SEL_SYNTAX_CSS, why, sizeof why);
	if (s || !strstr(why, why_part))
		fprintf(stderr, "%s: got \"%s\", want \"%s\"\n", text, s ? "(parsed)" : why, why_part);
	assert_null(s);
	assert_non_null(strstr(why, why_part));
}

static void test_01_rejected_with_reason(void **state)
{
	expect_reject(":xpath(//div)", "unsupported: :xpath()");
	expect_reject("div:matches-css(display: block)", "unsupported: :matches-css()");
	expect_reject("div:has-text(x) > span", "non-final compound");
	expect_reject("div:has(+ p)", "following siblings");
	expect_reject("div:foo", "unknown pseudo-class");
	expect_reject("div[", "");
	expect_reject("", "empty");
	expect_reject(".a, .b:has-text(x)", "selector list");
	expect_reject("div:has-text(/a[/)", "regular expression");
}

static void test_02_properties(void **state)
{
	struct sel *s = parse_ok("div.ad > span", SEL_SYNTAX_CSS);
	assert_true(sel_css_ok(s));
	assert_true(sel_stream_ok(s));
	assert_false(sel_has_conds(s));
	sel_free(s);
	s = parse_ok("li:last-child", SEL_SYNTAX_CSS);
	assert_true(sel_css_ok(s));
	assert_false(sel_stream_ok(s));
	sel_free(s);
	s = parse_ok(".ad::before", SEL_SYNTAX_CSS);
	assert_true(sel_css_ok(s));
	assert_false(sel_stream_ok(s));
	sel_free(s);
	s = parse_ok("div:has-text(Ad)", SEL_SYNTAX_CSS);
	assert_false(sel_css_ok(s));
	assert_true(sel_has_conds(s));
	assert_int_equal(sel_cond_kind(s, 0), SEL_COND_TEXT);
	sel_free(s);
	s = parse_ok("div:has(> a)", SEL_SYNTAX_CSS);
	assert_false(sel_css_ok(s)); /* procedural: never put in a style sheet */
	assert_int_equal(sel_cond_kind(s, 0), SEL_COND_HAS);
	sel_free(s);
	s = parse_ok(".x:upward(3)", SEL_SYNTAX_CSS);
	assert_int_equal(sel_cond_kind(s, 0), SEL_COND_DEPTH);
	assert_int_equal(sel_cond_depth(s, 0), 3);
	sel_free(s);
	s = parse_ok(".x:upward(div.box)", SEL_SYNTAX_CSS);
	assert_int_equal(sel_cond_kind(s, 0), SEL_COND_UPWARD);
	sel_free(s);
	s = parse_ok("script[tag-content=\"ads\"]", SEL_SYNTAX_ADG_HTML);
	assert_int_equal(sel_n_conds(s), 2); /* plus AdGuard's default max-length */
	assert_int_equal(sel_cond_kind(s, 0), SEL_COND_INNER);
	sel_free(s);
}

static void expect_key(const char *text, const char *want)
{
	char key[128];
	struct sel *s = parse_ok(text, SEL_SYNTAX_CSS);
	assert_true(sel_index_key(s, key, sizeof key) >= 0);
	if (strcmp(key, want))
		fprintf(stderr, "%s: key \"%s\", want \"%s\"\n", text, key, want);
	assert_string_equal(key, want);
	sel_free(s);
}

static void test_03_index_keys(void **state)
{
	expect_key("#top-ad", "#top-ad");
	expect_key("div.a.bbb", ".bbb");
	expect_key("#x.y", "#x");
	expect_key("aside > div", "<div");
	expect_key("a[href^=\"https://ads.example.com/\"]", "[href=example");
	expect_key("[id^=\"div-gpt-ad\"]", "[id=div");
	expect_key("[data-ad-slot]", "@data-ad-slot");
	expect_key("a[href*=\"ad\"]", "@href");    /* "ad" may be part of a longer run */
	expect_key("a:not(.x)", "<a");
	expect_key("a[href*=\"/ad/\"]", "[href=ad");
	/* no whole token: the window least likely in values ("con" of
	 * content, container...; "ent" too), the first of equals */
	expect_key("div[class*=\"consent\" i]", "~class=ons");
	expect_key("div[id*=\"sponsor\"]", "~id=spo");
	expect_key("div[class^=\"Xyz\"]", "~class=xyz");
	expect_key("*", "");
}

/* A tiny document: html > body > div.box#main > (h2, p[data-x=1], span.ad) */
static struct html_attr a_div[] = { { "class", "box wide", 5, 8 }, { "id", "main", 2, 4 } };
static struct html_attr a_p[] = { { "data-x", "1", 6, 1 }, { "lang", "en-GB", 4, 5 } };
static struct html_attr a_span[] = { { "class", "ad", 5, 2 }, { "title", "Sponsored Link", 5, 14 } };
static struct sel_node n_html = { "html", 4, NULL, 0, NULL, 0 };
static struct sel_node n_body = { "body", 4, NULL, 0, NULL, 0 };
static struct sel_node n_div = { "div", 3, a_div, 2, NULL, 0 };
static struct sel_node n_h2 = { "h2", 2, NULL, 0, NULL, 0 };
static struct sel_node n_p = { "p", 1, a_p, 2, &n_h2, 1 };
static struct sel_node n_span = { "span", 4, a_span, 2, &n_p, 2 };

static int m(const char *text)
{
	const struct sel_node *path[] = { &n_html, &n_body, &n_div, &n_span };
	struct sel *s = parse_ok(text, SEL_SYNTAX_CSS);
	int r = sel_match(s, path, 4);
	sel_free(s);
	return r;
}

static void test_04_static_match(void **state)
{
	assert_true(m("span"));
	assert_true(m("*"));
	assert_true(m(".ad"));
	assert_false(m(".ad.x"));
	assert_true(m("#main span"));
	assert_true(m("div#main.box.wide > span.ad"));
	assert_false(m("body > span"));
	assert_true(m("body span"));
	assert_true(m("p + span"));
	assert_false(m("h2 + span"));
	assert_true(m("h2 ~ span"));
	assert_true(m("h2 ~ .ad"));
	assert_true(m("[title^=\"Spons\"]"));
	assert_true(m("[title$=\"Link\"]"));
	assert_true(m("[title*=\"red L\"]"));
	assert_true(m("[title~=\"Link\"]"));
	assert_false(m("[title~=\"Lin\"]"));
	assert_true(m("[title=\"sponsored link\" i]"));
	assert_false(m("[title=\"sponsored link\"]"));
	assert_true(m("p[lang|=\"en\"] + span"));
	assert_true(m("span:not(.x)"));
	assert_false(m("span:not(.ad)"));
	assert_true(m("span:not(div > p)"));
	assert_true(m("span:nth-child(3)"));
	assert_true(m("span:nth-child(odd)"));
	assert_false(m("span:first-child"));
	assert_true(m("html:root span"));
	assert_true(m("span:is(.x, .ad)"));
	assert_true(m("span:matches-attr(title=\"/^Spon/\")"));
	assert_false(m("span:matches-attr(\"/^data-/\")"));
	assert_true(m(".nope, .ad"));
	/* an ancestor's attribute test, tried first on the parent (child
	 * combinators) or on every ancestor (a descendant one) */
	assert_true(m("[id=main] > span"));
	assert_false(m("[id=x] > span"));
	assert_false(m("[id=main] > div > span"));
	assert_true(m("[id^=ma] span"));
	assert_false(m("[class~=wide] > body span"));
	assert_true(m("html > body > [class~=wide] > span"));
	assert_false(m("[lang] > span"));
	assert_true(m("[data-x] + span"));
	assert_true(m("div[id=main] > [data-x=\"1\"] + span"));
	assert_false(m("div[id=nope] > [data-x=\"1\"] + span"));
}

static void test_05_relative(void **state)
{
	const struct sel_node *path[] = { &n_html, &n_body, &n_div, &n_span };
	struct sel *s = parse_ok("div:has(> span.ad)", SEL_SYNTAX_CSS);
	const struct sel *sub = sel_cond_sel(s, 0);
	assert_true(sel_match_rel(sub, path, 4, 2));  /* span is a child of div */
	assert_false(sel_match_rel(sub, path, 4, 1)); /* but not of body */
	sel_free(s);
	s = parse_ok("body:has(div span)", SEL_SYNTAX_CSS);
	sub = sel_cond_sel(s, 0);
	assert_true(sel_match_rel(sub, path, 4, 1));
	assert_false(sel_match_rel(sub, path, 4, 2)); /* the div must be below the scope */
	sel_free(s);
}

static void test_06_content_tests(void **state)
{
	struct sel *s = parse_ok("div:has-text(Sponsored)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "a Sponsored post", 16));
	assert_false(sel_cond_test(s, 0, "sponsored", 9));
	sel_free(s);
	s = parse_ok("div:has-text(/^\\s*ad(vertisement)?\\s*$/i)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, " Advertisement ", 15));
	assert_false(sel_cond_test(s, 0, "Ads here", 8));
	sel_free(s);
	s = parse_ok("div:min-text-length(5)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "12345", 5));
	assert_false(sel_cond_test(s, 0, "1234", 4));
	sel_free(s);
	s = parse_ok("div[wildcard=\"*promo*c?de*\"][max-length=\"20\"]", SEL_SYNTAX_ADG_HTML);
	assert_true(sel_cond_test(s, 0, "a promo code", 12));
	assert_false(sel_cond_test(s, 0, "code promo", 10));
	assert_true(sel_cond_test(s, 1, "12345678901234567890", 20));
	assert_false(sel_cond_test(s, 1, "123456789012345678901", 21));
	sel_free(s);
	/* uBO's length idiom, split into a length test and searches */
	s = parse_ok("div:has-text(/^(?=[\\s\\S]{0,20}$)(?=[\\s\\S]*?foo)[\\s\\S]*?ba[rz]/)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "xx foo yy bar", 13));
	assert_true(sel_cond_test(s, 0, "baz then foo", 12));
	assert_false(sel_cond_test(s, 0, "foo only", 8));
	assert_false(sel_cond_test(s, 0, "foo bar and then some more", 26));
	sel_free(s);
	s = parse_ok("div:has-text(/^(?=[\\s\\S]{0,3}$)\\s*ad$/u)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "\xc3\xa0" "ad", 4) == 0); /* not \s */
	assert_true(sel_cond_test(s, 0, " ad", 3));
	assert_false(sel_cond_test(s, 0, "  ad", 4));
	sel_free(s);
	/* a bare length test is counted, in characters under /u */
	s = parse_ok("div:has-text(/^[\\s\\S]{0,3}$/u)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "\xc3\xa0" "ab", 4));
	assert_false(sel_cond_test(s, 0, "abcd", 4));
	sel_free(s);
	/* a top-level alternation keeps the pattern whole */
	s = parse_ok("div:has-text(/^(?=[\\s\\S]{0,3}$)a|b/)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(s, 0, "zzzzzzb", 7));
	sel_free(s);
	s = parse_ok("div:not(:has-text(keep))", SEL_SYNTAX_CSS);
	assert_true(sel_cond_negated(s, 0));
	sel_free(s);
}

/* Rules that repeat an inner selector share its id (the rewriter matches
 * it once per element for all of them); another text, syntax or a
 * non-relative use gets another id. */
static void test_07_shared_inner_ids(void **state)
{
	(void)state;
	struct sel *a = parse_ok("div:not(:has(img, video)):has-text(/x/)", SEL_SYNTAX_CSS);
	struct sel *b = parse_ok("aside:has(img, video)", SEL_SYNTAX_CSS);
	struct sel *c = parse_ok("aside:has(img, iframe)", SEL_SYNTAX_CSS);
	struct sel *d = parse_ok("img, video", SEL_SYNTAX_CSS);
	struct sel *e = parse_ok("aside:has(img, video)", SEL_SYNTAX_ADG_HTML);
	const struct sel *sa = sel_cond_sel(a, 0), *sb = sel_cond_sel(b, 0), *sc = sel_cond_sel(c, 0);
	assert_non_null(sa);
	assert_non_null(sb);
	assert_ptr_not_equal(sa, sb);
	assert_true(sel_id(sa) == sel_id(sb));
	assert_true(sel_id(sa) != sel_id(sc));
	assert_true(sel_id(sa) != sel_id(d));                     /* not relative */
	assert_true(sel_id(sa) != sel_id(sel_cond_sel(e, 0)));    /* other syntax */
	/* text tests: the argument as written, whatever the rule */
	struct sel *f = parse_ok("p:has-text(/x/)", SEL_SYNTAX_CSS);
	struct sel *g = parse_ok("li > a:-abp-contains(/x/)", SEL_SYNTAX_CSS);
	struct sel *h = parse_ok("p:has-text(/x/i)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_id(a, 1) != 0);
	assert_true(sel_cond_id(a, 1) == sel_cond_id(f, 0));
	assert_true(sel_cond_id(f, 0) == sel_cond_id(g, 0));
	assert_true(sel_cond_id(f, 0) != sel_cond_id(h, 0));
	assert_true(sel_cond_id(a, 0) == 0);                       /* not a text test */
	/* tests cheaper than remembering them */
	struct sel *ch = parse_ok("p:has-text(/^\\s*ad$/i):has-text(/^[\\s\\S]{0,9}$/):has-text(/ad/)",
	                          SEL_SYNTAX_CSS);
	assert_true(sel_cond_cheap(ch, 0));
	assert_true(sel_cond_cheap(ch, 1));
	assert_false(sel_cond_cheap(ch, 2));
	sel_free(ch);
	sel_free(f);
	sel_free(g);
	sel_free(h);
	sel_free(a);
	sel_free(b);
	sel_free(c);
	sel_free(d);
	sel_free(e);
}

/* A class is one whole blank-separated token of the attribute, wherever
 * it stands in a long list (found with memmem, then bounded). */
static void test_08_class_tokens(void **state)
{
	(void)state;
	static struct html_attr cls[] = { { "class", "x-ad  ad-x\tad\nbox", 5, 17 } };
	static struct sel_node n = { "div", 3, cls, 1, NULL, 0 };
	const struct sel_node *path[] = { &n };
	const char *yes[] = { ".ad", ".x-ad", ".ad-x", ".box", "div.box.ad" };
	const char *no[] = { ".x", ".a", ".bo", ".ad-", ".d", ".x-ad.nope", ".ad\\ ad-x" };
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		struct sel *s = parse_ok(yes[i], SEL_SYNTAX_CSS);
		assert_true(sel_match(s, path, 1));
		sel_free(s);
	}
	for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
		struct sel *s = parse_ok(no[i], SEL_SYNTAX_CSS);
		if (sel_match(s, path, 1))
			fprintf(stderr, "%s matched\n", no[i]);
		assert_false(sel_match(s, path, 1));
		sel_free(s);
	}
	/* a tag and nothing else: matching is comparing it */
	static const struct { const char *sel; int want; } only[] = {
		{ "div:has-text(x)", 1 }, { "p", 1 }, { "div.a", 0 }, { "div > p", 0 }, { "div:not(.x)", 0 },
		{ "div[id]", 0 }, { "div:first-child", 0 }, { "div, p", 0 }, { "*", 0 }, { "div:last-child", 0 },
	};
	for (size_t i = 0; i < sizeof only / sizeof *only; i++) {
		struct sel *s = parse_ok(only[i].sel, SEL_SYNTAX_CSS);
		assert_int_equal(sel_tag_only(s), only[i].want);
		sel_free(s);
	}
	/* the tag an ancestor must have: up descendant and child links only */
	static const struct { const char *sel; const char *want; } anc[] = {
		{ "nav a", "nav" }, { "ul > li a.x", "li" }, { "nav .x > a", "nav" }, { "h2 + a", NULL },
		{ "div ~ p a", "p" }, { "div ~ .p a", NULL }, { "a", NULL }, { "nav a, p", NULL },
	};
	for (size_t i = 0; i < sizeof anc / sizeof *anc; i++) {
		struct sel *s = parse_ok(anc[i].sel, SEL_SYNTAX_CSS);
		size_t al;
		const char *at = sel_ancestor_tag(s, &al);
		if (!anc[i].want) {
			assert_null(at);
			assert_int_equal(sel_ancestor_hash(s), 0);
		} else {
			assert_true(at && al == strlen(anc[i].want) && !memcmp(at, anc[i].want, al));
			/* FNV-1a, as the rewriter counts open elements */
			uint32_t h = 2166136261u;
			for (const char *q = anc[i].want; *q; q++)
				h = (h ^ (unsigned char)*q) * 16777619u;
			assert_int_equal(sel_ancestor_hash(s), h);
		}
		sel_free(s);
	}
	/* the subject's tag, when all alternatives agree on one */
	size_t tl;
	struct sel *a = parse_ok("div:has(p + p + p)", SEL_SYNTAX_CSS);
	struct sel *b = parse_ok("div:has(img, video)", SEL_SYNTAX_CSS);
	struct sel *c = parse_ok("div:has(p.a, p.b)", SEL_SYNTAX_CSS);
	const char *t = sel_subject_tag(sel_cond_sel(a, 0), &tl);
	assert_non_null(t);
	assert_true(tl == 1 && t[0] == 'p');
	assert_null(sel_subject_tag(sel_cond_sel(b, 0), &tl));
	assert_non_null(sel_subject_tag(sel_cond_sel(c, 0), &tl));
	sel_free(a);
	sel_free(b);
	sel_free(c);
}

/* Rules that repeat a pattern share one compiled code (reference counted):
 * freeing one rule leaves the others working (ASan would see a premature
 * free), and the same pattern with other flags is another code. */
static void test_09_shared_regex_codes(void **state)
{
	(void)state;
	struct sel *a = parse_ok("div:has-text(/^\\s*sponsored\\s*$/)", SEL_SYNTAX_CSS);
	struct sel *b = parse_ok("aside:has-text(/^\\s*sponsored\\s*$/)", SEL_SYNTAX_CSS);
	struct sel *c = parse_ok("p:has-text(/^\\s*sponsored\\s*$/i)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(a, 0, " sponsored ", 11));
	sel_free(a);
	assert_true(sel_cond_test(b, 0, "sponsored", 9));
	assert_false(sel_cond_test(b, 0, "Sponsored", 9));
	assert_true(sel_cond_test(c, 0, "Sponsored", 9));
	sel_free(b);
	assert_true(sel_cond_test(c, 0, "SPONSORED ", 10));
	sel_free(c);
	/* all released: a new parse compiles afresh and still works */
	a = parse_ok("div:has-text(/^\\s*sponsored\\s*$/)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_test(a, 0, "sponsored", 9));
	sel_free(a);
}

/* :has-text() searches get a filter of the words their matches must
 * start with: whatever the text, the answer is PCRE2's own (differential
 * test on random texts mixing those words, other cases, LONG S and
 * KELVIN SIGN that /iu folds to s and k, accents and blanks). */
static int pcre_says(const char *pat, uint32_t opts, const char *t)
{
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
	assert_non_null(re);
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)t, strlen(t), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0;
}

static void test_10_word_filter(void **state)
{
	(void)state;
	static const struct { const char *pat; uint32_t opts; } pats[] = {
		{ "(?:r(?:emind|appeler|ecuérdame)|later|s(?:upport|ubscribe)|déjà|ya eres|já é|free|à partir)",
		  PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF },
		{ "cook(?:ie|y)s?\\b", PCRE2_CASELESS },
		{ "(?:a|b)c", 0 },
		{ "x[yz]w|abc", 0 },
		{ "\\(adsbygoogle|googletag\\.cmd", 0 },
		{ "(?:we(?: and (?:our|selected) partners)? use cookies|accept all)",
		  PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF },
		{ "support (?:independent|quality) (?:journalism|media)", PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF },
		{ "ab(?=c)|de", 0 },
		{ "(?:a|)xyz", PCRE2_CASELESS },
		{ "sk(?:ip|y)|kelvin", PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF },
		{ "abc\\|def|ghi", 0 },
		{ "[|]ab|cd", 0 },
		{ "(?:un|re)(?:do|make)s", PCRE2_CASELESS },
	};
	static const char *words[] = {
		"remind", "REMIND", "rappeler", "Later", "support", "ſupport", "SUBſcribe", "subscribe",
		"déjà", "DÉJÀ", "ya eres", "já é", "à partir", "free", "FrEe", " ", "\n", "\xc2\xa0", "cookie",
		"COOKIES", "cooky", "ac", "bc", "xyw", "abc", "(adsbygoogle", "googletag.cmd", "we use cookies",
		"we and our partners use cookies", "accept ALL", "support quality media", "abd", "de", "xyz",
		"AXYZ", "skip", "SKY", "\xe2\x84\xaa" "elvin", "kelvin", "ſky", "abc|def", "ghi", "|ab", "cd",
		"undos", "remakes", "x", "e", "the", "recu", "\xff", "dÉjÀ", "JÁ É", "À PARTIR", "d\xc3", "j",
		"déja", "recuÉrdame", "ĳ", "日本",
	};
	const size_t nw = sizeof words / sizeof *words;
	unsigned seed = 12345;
	for (size_t p = 0; p < sizeof pats / sizeof *pats; p++) {
		char rule[256];
		snprintf(rule, sizeof rule, "div:has-text(/%s/%s%s)", pats[p].pat,
		         (pats[p].opts & PCRE2_CASELESS) ? "i" : "", (pats[p].opts & PCRE2_UTF) ? "u" : "");
		struct sel *s = parse_ok(rule, SEL_SYNTAX_CSS);
		for (int r = 0; r < 3000; r++) {
			char t[512] = "";
			int nt = (int)(rand_r(&seed) % 6);
			for (int k = 0; k < nt; k++)
				strcat(t, words[rand_r(&seed) % nw]);
			int want = pcre_says(pats[p].pat, pats[p].opts, t);
			int got = sel_cond_test(s, 0, t, strlen(t));
			if (sel_cond_word_span(s, 0)) {
				/* the scan in pieces, then the test with its answer */
				size_t n = strlen(t), k = n ? (size_t)rand_r(&seed) % n : 0;
				int all = sel_cond_words_at(s, 0, t, n, 0, n);
				assert_int_equal(all, sel_cond_words_at(s, 0, t, n, 0, k) ||
				                      sel_cond_words_at(s, 0, t, n, k, n));
				assert_int_equal(want, sel_cond_test_words(s, 0, t, n, all));
			}
			if (want != got)
				fprintf(stderr, "/%s/ on \"%s\": want %d, got %d\n", pats[p].pat, t, want, got);
			assert_int_equal(want, got);
		}
		sel_free(s);
	}
}

/* The first-character filter of anchored patterns must never change an
 * answer: every :has-text(/re/) of the built-in lists, and hand-made
 * patterns of the shapes the filter reads (and of shapes it must refuse),
 * on crafted and random texts, with the filter's memo cold and warm,
 * against PCRE2 alone. */
static const char *const first_words[] = {
	"Advertisement", "ADVERTISEMENT", "advertisement", "Anzeige", "ANZEIGE", "Werbung", "werbung",
	"Sponsored", "SPONSORED", "sponsored content", "Publicité", "PUBLICITÉ", "Publicite", "Reklama",
	"реклама", "Реклама", "広告", "Ad", "AD", "ad", "Ads", "Ad Choices", "AdChoices", "Promoted",
	"Cookie settings", "Privacy policy", "Manage cookies", "Sportrs", "Science", "The ", "A",
	"a", "S", "s", "k", "K", "\xc5\xbf" "ponsored", "\xe2\x84\xaa" "lan", "i\xe2\x84\xaa" "lan",
	"iklan", "IKLAN", " ", "  ", "\t", "\n", "\r\n", "\xc2\xa0", "\xe2\x80\x83", "\xe2\x80\xa2",
	"|", ":", "~", "*", "-", "(", ")", "[", "]", "!", ".", "\xff", "\xc3", "x", "Z", "0", "é", "É",
	"Story continues below advertisement", "Continue reading below", "Paid for by", "Mainos",
	"(adsbygoogle = window.adsbygoogle || []).push({});", "googletag.cmd.push(function(){});",
	"Loading ad", "Report this ad", "Weiterlesen nach der Anzeige", "Subscribe", "cookie",
	"\xe2\x80\x94", "\xc2\xb7", "\xee\x80\x80",
};

static int first_regex_opts(const char *flags, size_t n, uint32_t *opts)
{
	*opts = 0;
	for (size_t i = 0; i < n; i++) {
		if (flags[i] == 'i') *opts |= PCRE2_CASELESS;
		else if (flags[i] == 'm') *opts |= PCRE2_MULTILINE;
		else if (flags[i] == 's') *opts |= PCRE2_DOTALL;
		else if (flags[i] == 'u') *opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
		else return -1;
	}
	return 0;
}

/* Tries pattern pat (flags as written) on many texts; returns 1 when the
 * condition has a first-character filter. */
static int first_check(const char *pat, const char *flags, unsigned *seed)
{
	uint32_t opts;
	assert_int_equal(first_regex_opts(flags, strlen(flags), &opts), 0);
	size_t rl = strlen(pat) + strlen(flags) + 32;
	char *rule = malloc(rl);
	assert_non_null(rule);
	snprintf(rule, rl, "div:has-text(/%s/%s)", pat, flags);
	struct sel *s = parse_ok(rule, SEL_SYNTAX_CSS);
	free(rule);
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
	assert_non_null(re);
	/* the interpreter is the reference: PCRE2 10.42's JIT gets some /u
	 * patterns wrong ("^a\W*c$" on "a\u00b7c"), which the selector's
	 * code avoids (rxfix) */
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	assert_non_null(md);
	const size_t nw = sizeof first_words / sizeof *first_words;
	for (int pass = 0; pass < 2; pass++) {
		unsigned sd = *seed;    /* the same texts twice: memo cold, then warm */
		for (int r = 0; r < 1500 + (int)(nw * nw); r++) {
			char t[600] = "";
			if (r < (int)(nw * nw)) {
				/* every pair of words, the first one alone as well */
				strcat(t, first_words[r / nw]);
				if (r % nw)
					strcat(t, first_words[r % nw]);
			} else {
				int nt = (int)(rand_r(&sd) % 6);
				for (int k = 0; k < nt; k++) {
					const char *w = first_words[rand_r(&sd) % nw];
					size_t l = strlen(t), wl = strlen(w);
					if (rand_r(&sd) % 4 == 0)
						wl = wl ? (size_t)rand_r(&sd) % wl : 0;   /* a cut word */
					memcpy(t + l, w, wl);
					t[l + wl] = 0;
				}
				if (rand_r(&sd) % 3 == 0)      /* flipped case */
					for (char *q = t; *q; q++)
						if ((unsigned char)*q < 0x80 && rand_r(&sd) % 2)
							*q = (char)((*q >= 'a' && *q <= 'z') ? *q - 32 : (*q >= 'A' && *q <= 'Z') ? *q + 32 : *q);
			}
			size_t n = strlen(t);
			int want = pcre2_match(re, (PCRE2_SPTR)t, n, 0, PCRE2_NO_JIT, md, NULL) >= 0;
			int got = sel_cond_test(s, 0, t, n);
			/* the early decisions: no beginning of a matching text
			 * is refused, nor is it longer than the bounds */
			for (size_t k = 0; want && k <= n; k++)
				if (sel_cond_test_prefix(s, 0, t, k) == 0)
					fprintf(stderr, "/%s/%s: prefix %zu of \"%s\" refused\n", pat, flags, k, t);
			for (size_t k = 0; want && k <= n; k++)
				assert_int_not_equal(sel_cond_test_prefix(s, 0, t, k), 0);
			if (want) {
				size_t vis = 0;
				for (size_t k = 0; k < n; k++)
					vis += (unsigned char)t[k] > 0x20;
				if (vis > sel_cond_max_visible(s, 0))
					fprintf(stderr, "/%s/%s: \"%s\" matches, over the bound %zu\n", pat, flags, t,
					        sel_cond_max_visible(s, 0));
				assert_true(vis <= sel_cond_max_visible(s, 0));
				assert_true(n <= sel_cond_max_len(s, 0));
			}
			if (want != got)
				fprintf(stderr, "/%s/%s on \"%s\": want %d, got %d\n", pat, flags, t, want, got);
			assert_int_equal(want, got);
		}
		if (pass == 1)
			*seed = sd;
	}
	int filtered = sel_cond_first_filtered(s, 0);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	sel_free(s);
	return filtered;
}

static void test_11_first_filter(void **state)
{
	(void)state;
	unsigned seed = 4242;
	/* hand-made: the shapes read, and those refused */
	static const struct { const char *pat, *flags; int filtered; } pats[] = {
		{ "^\\s*+(?:ad|anzeige|sponsored)\\s*+$", "i", 1 },
		{ "^[\\s\\x{a0}|:()\\-]*+(?:a(?:d|nzeige)|s(?:ponsored|kip)|iklan|реклама)[\\s.!]*+$", "iu", 1 },
		{ "^[\\s\\x{a0}]*+(?:sun|kelvin|ſ)", "iu", 1 },
		{ "^\\s++ad", "", 1 },
		{ "^(?:ad|ads)$", "", 1 },
		{ "^a+d", "i", 1 },
		{ "^[-a]*+(?:a|b)", "i", 1 },
		{ "^.d", "s", 1 },
		{ "^\\s*+(?:(?:x|y)z|w)", "", 1 },
		/* X of another shape: the pairs only */
		{ "^\\s*(?:ad|sponsored)$", "i", 1 },         /* greedy run */
		{ "^\\s*+(?:change )?settings", "i", 1 },      /* optional first item */
		{ "^\\s*+(?:a|)b", "", 1 },                     /* empty branch */
		{ "^[\\s\\x{a0}]*+(?:(?:change |manage )?(?:privacy|consent) settings|cookies?)$", "iu", 1 },
		{ "^\\s*+$", "", 1 },
		{ "^\\s*$", "", 1 },
		{ "^(?:\\s|x)*+ad", "", 1 },
		/* refused */
		{ "^\\s*+\\bad", "", 0 },
		{ "^\\s*+(?:\\Bx|ad)", "", 0 },
		{ "^\\s*+(?:x|\\Aad)", "", 0 },
		{ "^\\s*+(?:x|^ad)", "", 0 },
		{ "^\\s*+a(?=d)", "", 0 },
		{ "^\\s*+a(?!d)", "", 0 },
		{ "^\\s*+(?>a|ad)d", "", 0 },
		{ "^ad|sponsored", "i", 0 },                    /* top-level | */
		{ "^\\s*+(?:x(?i)y|a)", "", 0 },                /* inline option */
		{ "^\\s*+a(?<=\\sa)", "", 0 },                  /* look-behind */
		{ "^\\s*+\\Qad\\E", "", 0 },
		{ "^[[:space:]]*+ad", "", 0 },
		{ "^\\s*+ad", "m", 0 },
		{ "(?:ad|sponsored)", "i", 0 },
	};
	for (size_t p = 0; p < sizeof pats / sizeof *pats; p++) {
		int f = first_check(pats[p].pat, pats[p].flags, &seed);
		if (f != pats[p].filtered)
			fprintf(stderr, "/%s/%s: filter %d, want %d\n", pats[p].pat, pats[p].flags, f,
			        pats[p].filtered);
		assert_int_equal(f, pats[p].filtered);
	}
	/* every regex of the built-in lists */
	static const char *const lists[] = { "filters/builtin/ad-labels.txt", "filters/builtin/consent.txt",
	                                     "filters/builtin/donation.txt", "filters/builtin/newsletter.txt" };
	char **seen = NULL;
	size_t n_seen = 0, filtered = 0;
	for (size_t l = 0; l < sizeof lists / sizeof *lists; l++) {
		FILE *f = fopen(lists[l], "r");
		assert_non_null(f);
		static char line[65536];
		while (fgets(line, sizeof line, f)) {
			for (char *h = strstr(line, ":has-text(/"); h; h = strstr(h, ":has-text(/")) {
				char *a = h + strlen(":has-text(/"), *e = a;
				/* the pattern ends at an unescaped "/", flags, ")" */
				for (; *e; e++) {
					if (*e == '\\' && e[1]) {
						e++;
						continue;
					}
					if (*e == '/' && e[1 + strspn(e + 1, "imsu")] == ')')
						break;
				}
				assert_true(*e == '/');
				size_t fl = strspn(e + 1, "imsu");
				char *key = malloc((size_t)(e - a) + fl + 2);
				assert_non_null(key);
				memcpy(key, e + 1, fl);
				key[fl] = 0;
				memcpy(key + fl + 1, a, (size_t)(e - a));
				key[fl + 1 + (e - a)] = 0;
				h = e + 1 + fl;
				int dup = 0;
				for (size_t k = 0; k < n_seen && !dup; k++)
					dup = !strcmp(seen[k], key) && !strcmp(seen[k] + strlen(seen[k]) + 1, key + fl + 1);
				if (dup) {
					free(key);
					continue;
				}
				char **t = realloc(seen, (n_seen + 1) * sizeof *t);
				assert_non_null(t);
				seen = t;
				seen[n_seen++] = key;
				filtered += (size_t)first_check(key + fl + 1, key, &seed);
			}
		}
		fclose(f);
	}
	/* the ad-label and consent-label patterns have one */
	fprintf(stderr, "built-in regexes: %zu distinct, %zu with a first-character filter\n", n_seen,
	        filtered);
	assert_true(n_seen >= 15);
	assert_true(filtered >= 5);
	for (size_t k = 0; k < n_seen; k++)
		free(seen[k]);
	free(seen);
}

/* sel_parse_borrow keeps the caller's text when the selector is all of
 * it, and copies otherwise; both free cleanly (the sanitized run checks). */
static void test_12_borrowed_text(void **state)
{
	char why[128];
	static const char a[] = "div.ad:has-text(/^Ad$/i)";
	struct sel *s = sel_parse_borrow(a, SEL_SYNTAX_CSS, why, sizeof why);
	assert_non_null(s);
	assert_ptr_equal(sel_text(s), a);
	sel_free(s);
	char b[] = "  .ad  ";   /* trimmed: the selector is not all of it */
	s = sel_parse_borrow(b, SEL_SYNTAX_CSS, why, sizeof why);
	assert_non_null(s);
	assert_ptr_not_equal(sel_text(s), b);
	assert_string_equal(sel_text(s), ".ad");
	b[2] = 'X';             /* the copy does not follow the caller's text */
	assert_string_equal(sel_text(s), ".ad");
	sel_free(s);
	assert_null(sel_parse_borrow(":xpath(//a)", SEL_SYNTAX_CSS, why, sizeof why));
	assert_non_null(strstr(why, "xpath"));
}

/* Selector lists: an alternative of another tag is passed over before
 * its compound is looked at, one of the same first letter and length
 * ("samp" for "span") or without a tag is not. */
static void test_12_list_subject_tags(void **state)
{
	(void)state;
	static struct sel_node n_video = { "video", 5, NULL, 0, NULL, 0 };
	static struct sel_node n_iframe = { "iframe", 6, NULL, 0, NULL, 0 };
	static struct html_attr a_x[] = { { "class", "ad x", 5, 4 } };
	static struct sel_node n_spanx = { "span", 4, a_x, 1, NULL, 0 };
	static const struct { const char *sel; const struct sel_node *n; int want; } t[] = {
		{ "img, video", &n_video, 1 }, { "img, video", &n_iframe, 0 }, { "img, iframe, amp-ad", &n_iframe, 1 },
		{ "samp, span", &n_spanx, 1 }, { "samp, spam", &n_spanx, 0 }, { "samp.x, .x", &n_spanx, 1 },
		{ "samp.x, b.x", &n_spanx, 0 }, { "img, *", &n_iframe, 1 }, { "video.y, span.ad", &n_spanx, 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const struct sel_node *path[] = { &n_html, t[i].n };
		struct sel *s = parse_ok(t[i].sel, SEL_SYNTAX_CSS);
		if (sel_match(s, path, 2) != t[i].want)
			fprintf(stderr, "%s on %s: want %d\n", t[i].sel, t[i].n->name, t[i].want);
		assert_int_equal(sel_match(s, path, 2), t[i].want);
		sel_free(s);
	}
	/* descendant walks up to a tag alone take the name loop; others
	 * (a class on it, a scope) the full match */
	static struct html_attr a_nav[] = { { "class", "x", 5, 1 } };
	static struct sel_node n_nav = { "nav", 3, a_nav, 1, NULL, 0 };
	static struct sel_node n_a = { "a", 1, NULL, 0, NULL, 0 };
	const struct sel_node *pn[] = { &n_html, &n_nav, &n_spanx, &n_a };
	const struct sel_node *pv[] = { &n_html, &n_video, &n_spanx, &n_a };
	const struct { const char *sel; const struct sel_node *const *path; int want; } d[] = {
		{ "nav a", pn, 1 }, { "nav a", pv, 0 }, { "html a", pn, 1 }, { "nav.x a", pn, 1 },
		{ "nav.y a", pn, 0 }, { "span a", pn, 1 }, { "video a", pn, 0 }, { "a a", pn, 0 },
		{ "nav span a", pn, 1 }, { "span nav a", pn, 0 },
	};
	for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
		struct sel *s = parse_ok(d[i].sel, SEL_SYNTAX_CSS);
		assert_int_equal(sel_match(s, d[i].path, 4), d[i].want);
		sel_free(s);
	}
	/* lists of 3 to 64 alternatives try those of the element's tag and
	 * those of any tag (groups by tag); tags sharing first letter and
	 * length, a tag's alternatives after others', 65 alternatives (one
	 * loop over all) */
	static struct html_attr a_id[] = { { "id", "div-gpt-ad-1", 2, 12 }, { "class", "ob q", 5, 4 } };
	static struct sel_node n_dv = { "div", 3, a_id, 2, NULL, 0 };
	static struct sel_node n_dl = { "dl", 2, a_id, 2, NULL, 0 };
	static struct sel_node n_ins = { "ins", 3, a_id + 1, 1, NULL, 0 };
	const char *list = "div[id^=\"taboola\"], ins.adsbygoogle, dir, .trc, div[data-ad-slot], iframe, div[id^=\"div-gpt\"]";
	static char big[4096];
	big[0] = 0;
	for (int i = 0; i < 64; i++)
		snprintf(big + strlen(big), sizeof big - strlen(big), "x-%d.q, ", i);
	strcat(big, "ins.q");
	const struct { const char *sel; const struct sel_node *n; int want; } g[] = {
		{ list, &n_dv, 1 }, { list, &n_dl, 0 }, { list, &n_ins, 0 }, { list, &n_spanx, 0 },
		{ "dir, dl, div.nope, dd", &n_dl, 1 }, { "dir, dd, div.ob, b", &n_dv, 1 }, { "dir, dd, .q, b", &n_ins, 1 },
		{ "dir, dd, .z, b", &n_ins, 0 }, { big, &n_ins, 1 }, { big, &n_dv, 0 },
		{ ".Q, .OB, dir", &n_ins, 0 }, { ".z, .y, .ob, dir", &n_ins, 1 }, { ".z, .y, .q, dir", &n_spanx, 0 },
	};
	for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
		const struct sel_node *path[] = { &n_html, g[i].n };
		struct sel *s = parse_ok(g[i].sel, SEL_SYNTAX_CSS);
		assert_int_equal(sel_match(s, path, 2), g[i].want);
		sel_free(s);
		/* and relative, as :has() asks */
		char hs_text[4200];
		snprintf(hs_text, sizeof hs_text, "html:has(%s)", g[i].sel);
		struct sel *h = parse_ok(hs_text, SEL_SYNTAX_CSS);
		assert_int_equal(sel_match_rel(sel_cond_sel(h, 0), path, 2, 0), g[i].want);
		sel_free(h);
	}
	/* static ids: equal for the same static part under other conditions,
	 * different for any other static part */
	{
		static const char *const same[][2] = {
			{ "li > a:has-text(x)", "li > a:has-text(/y/i)" }, { "li > a:has-text(x)", "li > a" },
			{ "div.k:not(.z):has(p)", "div.k:not(.z):has-text(q)" }, { "[href^=\"h\"] > img", "[href^=\"h\"] > img" },
		};
		static const char *const diff[][2] = {
			{ "li > a", "li a" }, { "li > a", "li > a.x" }, { "li > a", "ul > a" }, { "li + a", "li ~ a" },
			{ "a[href^=\"x\"]", "a[href*=\"x\"]" }, { "a[href^=\"x\"]", "a[href^=\"x\" i]" },
			{ "a[href^=\"x\"]", "a[src^=\"x\"]" }, { "div:not(.a)", "div:not(.b)" }, { "p:nth-child(2)", "p:nth-child(3)" },
			{ "a.x.y", "a.xy" }, { "a, b", "a" }, { "#x", ".x" },
		};
		for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
			struct sel *a = parse_ok(same[i][0], SEL_SYNTAX_CSS), *b = parse_ok(same[i][1], SEL_SYNTAX_CSS);
			assert_true(sel_static_id(a) == sel_static_id(b));
			sel_free(a);
			sel_free(b);
		}
		for (size_t i = 0; i < sizeof diff / sizeof *diff; i++) {
			struct sel *a = parse_ok(diff[i][0], SEL_SYNTAX_CSS), *b = parse_ok(diff[i][1], SEL_SYNTAX_CSS);
			if (sel_static_id(a) == sel_static_id(b))
				fprintf(stderr, "same static id: %s, %s\n", diff[i][0], diff[i][1]);
			assert_true(sel_static_id(a) != sel_static_id(b));
			sel_free(a);
			sel_free(b);
		}
	}
	/* descendant conditions and the negated ones among them */
	{
		struct sel *d = parse_ok("div:not(:has(img)):has(p):has-text(x):not(:has(u))", SEL_SYNTAX_CSS);
		assert_int_equal(sel_desc_mask(d), 0xb);
		assert_int_equal(sel_desc_neg(d), 0x9);
		sel_free(d);
	}
	/* scope-free relative selectors: a compound, or siblings of it */
	static const struct { const char *sel; int want; } sf[] = {
		{ "div:has(p)", 1 }, { "div:has(p + p + p)", 1 }, { "div:has(h2 ~ .x, img)", 1 },
		{ "div:has(> p)", 0 }, { "div:has(> p + p)", 0 }, { "div:has(p p)", 0 }, { "div:has(p > b + i)", 0 },
	};
	for (size_t i = 0; i < sizeof sf / sizeof *sf; i++) {
		struct sel *s = parse_ok(sf[i].sel, SEL_SYNTAX_CSS);
		assert_int_equal(sel_rel_simple(sel_cond_sel(s, 0)), sf[i].want);
		sel_free(s);
	}
	/* a bare class in a list keeps its relation to the scope */
	{
		const struct sel_node *p2[] = { &n_html, &n_ins };
		const struct sel_node *p3[] = { &n_html, &n_dv, &n_ins };
		struct sel *c1 = parse_ok("html:has(> .q, dir, dd)", SEL_SYNTAX_CSS);
		struct sel *c2 = parse_ok("html:has(.q, dir, dd)", SEL_SYNTAX_CSS);
		assert_true(sel_match_rel(sel_cond_sel(c1, 0), p2, 2, 0));
		assert_false(sel_match_rel(sel_cond_sel(c1, 0), p3, 3, 0));
		assert_true(sel_match_rel(sel_cond_sel(c1, 0), p3, 3, 1));
		assert_true(sel_match_rel(sel_cond_sel(c2, 0), p3, 3, 0));
		sel_free(c1);
		sel_free(c2);
	}
	struct sel *hs = parse_ok("div:has(nav a)", SEL_SYNTAX_CSS);
	assert_true(sel_match_rel(sel_cond_sel(hs, 0), pn, 4, 0));
	assert_false(sel_match_rel(sel_cond_sel(hs, 0), pn, 4, 1)); /* the nav is the scope */
	sel_free(hs);
	/* relative lists, as :has() asks them */
	struct sel *h = parse_ok("div:has(img, video)", SEL_SYNTAX_CSS);
	const struct sel_node *p1[] = { &n_html, &n_video };
	const struct sel_node *p2[] = { &n_html, &n_iframe };
	assert_true(sel_match_rel(sel_cond_sel(h, 0), p1, 2, 0));
	assert_false(sel_match_rel(sel_cond_sel(h, 0), p2, 2, 0));
	sel_free(h);
}

/* Which selectors read the attributes of an element besides the one
 * matched (the rewriter keeps them only then). */
static void test_13_reads_others(void **state)
{
	(void)state;
	static const struct { const char *sel; int syntax; int want; } t[] = {
		{ ".ad", 0, 0 }, { "div > p.x", 0, 0 }, { "nav a[href]", 0, 0 }, { "h2 + p:nth-child(2)", 0, 0 },
		{ "div:has(img, video)", 0, 0 }, { "div:not(.x)", 0, 0 }, { "div:has(p + p + p)", 0, 0 },
		{ ".klaro .notice", 0, 1 }, { "div#main > p", 0, 1 }, { "[data-x] ~ p", 0, 1 },
		{ "div:not(.x) > p", 0, 1 }, { "p:not(div.x > p)", 0, 1 }, { "p:is(.a .b, .c)", 0, 1 },
		{ "div:has(.a .b)", 0, 1 }, { "div:has(> p):has(.a > .b)", 0, 1 }, { "div:has(:not(.a p))", 0, 1 },
		{ "div:has-text(ad):upward(.box)", 0, 0 }, { ".a > p:upward(2)", 0, 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		struct sel *s = parse_ok(t[i].sel, t[i].syntax);
		if (sel_reads_others(s) != t[i].want)
			fprintf(stderr, "%s: want %d\n", t[i].sel, t[i].want);
		assert_int_equal(sel_reads_others(s), t[i].want);
		sel_free(s);
	}
}

/* Which selectors read an element's earlier siblings or its position (the
 * rewriter keeps records of closed elements only then). */
static void test_13b_reads_siblings(void **state)
{
	(void)state;
	static const struct { const char *sel; int want; } t[] = {
		{ ".ad", 0 }, { "div > p.x", 0 }, { ".klaro .notice", 0 }, { "div:has(> img, video)", 0 },
		{ "div:not(.x) > p", 0 }, { "div:has-text(ad):upward(.box)", 0 }, { ".a > p:upward(2)", 0 },
		{ ":root > body", 0 }, { "h2 + p", 1 }, { "[data-x] ~ p", 1 }, { "li:first-child", 1 },
		{ "li:nth-child(2n+1)", 1 }, { "p:not(h2 + p)", 1 }, { "p:is(.a, :first-child)", 1 },
		{ "div:has(p ~ b)", 1 }, { "div:has(> p:nth-child(3))", 1 },
		{ "div:has(:not(.a ~ p))", 1 },
	};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		struct sel *s = parse_ok(t[i].sel, 0);
		if (sel_reads_siblings(s) != t[i].want)
			fprintf(stderr, "%s: want %d\n", t[i].sel, t[i].want);
		assert_int_equal(sel_reads_siblings(s), t[i].want);
		sel_free(s);
	}
}

/* The bounds a whole-text test puts on a passing text, for the rewriter's
 * early decisions: the shapes read, and those that must stay unbounded. */
static void test_12_text_bounds(void **state)
{
	(void)state;
	const size_t none = SIZE_MAX;
	static const struct { const char *arg; size_t vis; } v[] = {
		{ "/^\\s*$/", 0 },
		{ "/^\\s*$/u", 0 },                  /* no UCP: \s is ASCII */
		{ "/^[ \\t\\n\\s]*+$/", 0 },
		{ "/^\\s*(?:ad|ads)\\s*$/i", 3 },
		{ "/^\\s*(?:ad|ads)\\s*$/iu", 12 },   /* "k" may be KELVIN SIGN */
		{ "/^ad{2,3}\\b$/", 4 },
		{ "/^(?:ab|c)?x$/", 3 },
		{ "/^\\x{a0}?$/u", 4 },
		/* unbounded */
		{ "/\\s*/", none },                  /* unanchored */
		{ "/^\\s*/", none },
		{ "/\\s*$/", none },
		{ "/^.*$/", none },                  /* greedy run */
		{ "/^.*?$/", none },                 /* lazy run */
		{ "/^a+$/", none },
		{ "/^a{2,}$/", none },
		{ "/^a{,3}$/", none },               /* a literal "{" */
		{ "/^(?:ad|x+)$/", none },           /* a branch without bound */
		{ "/^ad|x$/", none },                /* top-level | */
		{ "/^[\\s\\x{a0}]*$/u", none },       /* NBSP is C2 A0: visible */
		{ "/^\\h*$/", none },
		{ "/^\\v*$/u", none },
		{ "/(*UCP)^\\s*$/u", none },          /* \s with UCP takes NBSP */
		{ "/^\\s*$/m", none },
		{ "/^(?=a)a$/", none },
		{ "/^(a)\\1$/", none },
		{ "/^[^a]*$/", none },
		{ "/^a\\$/", none },
		{ "/^[[:space:]]*$/", none },
		{ "/^\\Q \\E$/", none },
		{ "advertisement", none },
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char rule[128];
		snprintf(rule, sizeof rule, "div:has-text(%s)", v[i].arg);
		struct sel *s = parse_ok(rule, SEL_SYNTAX_CSS);
		if (sel_cond_max_visible(s, 0) != v[i].vis)
			fprintf(stderr, "%s: bound %zu, want %zu\n", v[i].arg, sel_cond_max_visible(s, 0), v[i].vis);
		assert_true(sel_cond_max_visible(s, 0) == v[i].vis);
		size_t bl, bv;
		sel_early_bounds(s, &bl, &bv);
		assert_true(bv == v[i].vis && bl == none);
		sel_free(s);
	}
	/* length tests: bytes, not under /u (stray continuation bytes count
	 * no character) */
	static const struct { const char *arg; size_t len; } l[] = {
		{ "/^[\\s\\S]{0,40}$/", 40 },
		{ "/^[\\s\\S]{0,40}$/u", none },
		{ "/^(?=[\\s\\S]{0,100}$)(?=[\\s\\S]*?ab)/", 100 },
		{ "/^(?=[\\s\\S]{0,100}$)(?=[\\s\\S]*?ab)/u", none },
	};
	for (size_t i = 0; i < sizeof l / sizeof *l; i++) {
		char rule[128];
		snprintf(rule, sizeof rule, "div:has-text(%s)", l[i].arg);
		struct sel *s = parse_ok(rule, SEL_SYNTAX_CSS);
		assert_true(sel_cond_max_len(s, 0) == l[i].len);
		size_t bl, bv;
		sel_early_bounds(s, &bl, &bv);
		assert_true(bl == l[i].len);
		sel_free(s);
	}
	/* negated: decided on the whole text only */
	struct sel *s = parse_ok("div:not(:has-text(/^\\s*$/)):has-text(/^[\\s\\S]{0,9}$/)", SEL_SYNTAX_CSS);
	assert_int_equal(sel_n_conds(s), 2);
	size_t bl, bv;
	sel_early_bounds(s, &bl, &bv);
	assert_true(bl == 9 && bv == SIZE_MAX); /* not the negated test's 0 */
	sel_free(s);
	/* a first-character filter decides on a beginning */
	s = parse_ok("p:has-text(/^\\s*+(?:ad|sponsored)\\s*+$/i)", SEL_SYNTAX_CSS);
	assert_int_equal(sel_early_mask(s), 1);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  ", 2), -1);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  s", 3), -1);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  sp", 4), -1);     /* the pair, then */
	assert_int_equal(sel_cond_test_prefix(s, 0, "  spo", 5), -1);    /* four bytes */
	assert_int_equal(sel_cond_test_prefix(s, 0, "  spon", 6), 1);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  spot", 6), 0);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  AD  x", 7), 1);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  ad x", 6), 0);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  ad\xc2\xa0", 6), 1); /* not ASCII: PCRE2 decides */
	assert_int_equal(sel_cond_test(s, 0, "  ad", 4), 1);
	assert_int_equal(sel_cond_test(s, 0, "  ad x", 6), 0);
	assert_int_equal(sel_cond_test_prefix(s, 0, "  st", 4), 0);
	assert_int_equal(sel_cond_test_prefix(s, 0, " The", 4), 0);
	/* runs of blanks longer than the 16 read at once, ended anywhere */
	for (size_t nb = 0; nb < 40; nb++) {
		char t[64];
		for (size_t k = 0; k < nb; k++)
			t[k] = " \t\n\r\f\v"[k % 6];
		memcpy(t + nb, "sponsored", 9);
		assert_int_equal(sel_cond_test_prefix(s, 0, t, nb), -1);
		assert_int_equal(sel_cond_test_prefix(s, 0, t, nb + 4), 1);
		assert_int_equal(sel_cond_test(s, 0, t, nb + 9), 1);
		t[nb + 3] = 't';
		assert_int_equal(sel_cond_test_prefix(s, 0, t, nb + 4), 0);
		assert_int_equal(sel_cond_test(s, 0, t, nb + 9), 0);
		t[nb + 1] = 't';
		assert_int_equal(sel_cond_test_prefix(s, 0, t, nb + 2), 0);
		assert_int_equal(sel_cond_test(s, 0, t, nb + 9), 0);
		t[nb] = '\x01'; /* not a blank \s takes */
		assert_int_equal(sel_cond_test_prefix(s, 0, t, nb + 1), 0);
	}
	sel_free(s);
}

/* A literal :has-text() search at every position of texts around the
 * 16- and 32-byte steps of the search, beside memmem. */
static void test_13_literal_search(void **state)
{
	(void)state;
	static const char *const needles[] = { "z", "zq", "zaz", "abcab", "0123456789abcdefgh" };
	for (size_t k = 0; k < sizeof needles / sizeof *needles; k++) {
		char rule[64];
		snprintf(rule, sizeof rule, "div:has-text(%s)", needles[k]);
		struct sel *s = parse_ok(rule, SEL_SYNTAX_CSS);
		size_t nl = strlen(needles[k]);
		for (size_t len = 0; len <= 80; len++)
			for (size_t at = 0; at <= len + 1; at++) {
				char t[96];
				for (size_t i = 0; i < len; i++)
					t[i] = "abzq"[(i * 7 + k) % 4];  /* near misses all over */
				if (at + nl <= len)
					memcpy(t + at, needles[k], nl);
				int want = memmem(t, len, needles[k], nl) != NULL;
				assert_int_equal(sel_cond_test(s, 0, t, len), want);
			}
		sel_free(s);
	}
}

/* Lists of three or more alternatives skip those that ask for an
 * attribute name the element lacks (by a 64-bit mask of names): an
 * alternative runs whenever its names may be there, also when another
 * name shares the bit ("data-bd-unit" beside "data-ad-unit"). */
static void test_14_list_attr_mask(void **state)
{
	(void)state;
	static struct html_attr a_cls[] = { { "class", "x ob y", 5, 6 } };
	static struct html_attr a_id[] = { { "data-x", "1", 6, 1 }, { "id", "gpt-1", 2, 5 } };
	static struct html_attr a_unit[] = { { "class", "a", 5, 1 }, { "title", "t", 5, 1 },
	                                     { "data-ad-unit", "", 12, 0 } };
	static struct html_attr a_twin[] = { { "data-bd-unit", "1", 12, 1 } };
	static struct html_attr a_clsx[] = { { "class", "obx", 5, 3 } };
	static struct sel_node d_cls = { "div", 3, a_cls, 1, NULL, 0 };
	static struct sel_node d_id = { "div", 3, a_id, 2, NULL, 0 };
	static struct sel_node d_unit = { "div", 3, a_unit, 3, NULL, 0 };
	static struct sel_node d_twin = { "div", 3, a_twin, 1, NULL, 0 };
	static struct sel_node d_clsx = { "div", 3, a_clsx, 1, NULL, 0 };
	static struct sel_node d_bare = { "div", 3, NULL, 0, NULL, 0 };
	static struct sel_node amp = { "amp-ad", 6, NULL, 0, NULL, 0 };
	static const struct { const struct sel_node *n; int want; } t[] = {
		{ &d_cls, 1 }, { &d_id, 1 }, { &d_unit, 1 }, { &d_twin, 0 }, { &d_clsx, 0 },
		{ &d_bare, 0 }, { &amp, 1 },
	};
	const char *list = "div[id^=\"gpt\"], div[data-ad-unit], .ob, amp-ad";
	struct sel *s = parse_ok(list, SEL_SYNTAX_CSS);
	struct sel *h = parse_ok("section:has(div[id^=\"gpt\"], div[data-ad-unit], .ob, amp-ad)", SEL_SYNTAX_CSS);
	/* the same alternatives two at a time: no mask */
	struct sel *pa = parse_ok("div[id^=\"gpt\"], div[data-ad-unit]", SEL_SYNTAX_CSS);
	struct sel *pb = parse_ok(".ob, amp-ad", SEL_SYNTAX_CSS);
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		const struct sel_node *path[] = { &n_html, t[i].n };
		assert_int_equal(sel_match(s, path, 2), t[i].want);
		assert_int_equal(sel_match_rel(sel_cond_sel(h, 0), path, 2, 0), t[i].want);
		assert_int_equal(sel_match(pa, path, 2) || sel_match(pb, path, 2), t[i].want);
	}
	sel_free(s);
	sel_free(h);
	sel_free(pa);
	sel_free(pb);
	/* a class name with a blank (escaped) is never a token */
	struct sel *b = sel_parse(".x\\ ob, .q, .r", SEL_SYNTAX_CSS, NULL, 0);
	if (b) {
		const struct sel_node *path[] = { &n_html, &d_cls };
		assert_false(sel_match(b, path, 2));
		sel_free(b);
	}
}

/* Long texts take the literal scan 32 positions at a time (AVX2, when
 * the CPU has it): it must find what the byte loop finds, the word at
 * every offset around the steps, in either case, and nothing in near
 * misses (the byte loop is the reference: pieces under 64 bytes). */
static void test_14_literal_scan_long(void **state)
{
	(void)state;
	struct sel *s = parse_ok("div:has-text(/(?:s(?:upport us|ubscri)|remind me|déjà abonn|xq\\b)/iu)", SEL_SYNTAX_CSS);
	assert_true(sel_cond_word_span(s, 0) > 0);
	static const char *words[] = { "support us", "SUPPORT US", "Subscri", "remind me", "déjà abonn",
	                               "DÉJÀ ABONN", "xq", "\xc5\xbfubscri", "\xe2\x84\xaa", "suppor", "remind m",
	                               "déja abonn", "x", "sub", "the text goes on ", "ré", "\xc3", "\xff" };
	const size_t nw = sizeof words / sizeof *words;
	unsigned seed = 777;
	char t[1024];
	for (int r = 0; r < 4000; r++) {
		size_t n = 0;
		while (n < 600) {
			const char *w = r % 3 ? words[(rand_r(&seed) % (nw - 9)) + 9] : words[rand_r(&seed) % nw];
			size_t l = strlen(w);
			memcpy(t + n, w, l);
			n += l;
		}
		size_t from = (size_t)rand_r(&seed) % 200, to = from + (size_t)rand_r(&seed) % (n - from + 1);
		int ref = 0;
		for (size_t a = from; a < to && !ref; a += 40)
			ref = sel_cond_words_at(s, 0, t, n, a, a + 40 < to ? a + 40 : to);
		assert_int_equal(sel_cond_words_at(s, 0, t, n, from, to), ref);
	}
	/* a word at each offset of a blank text, found, and not past to */
	for (size_t at = 0; at < 300; at++) {
		memset(t, ' ', 400);
		memcpy(t + at, "Remind Me", 9);
		assert_true(sel_cond_words_at(s, 0, t, 400, 0, 400));
		assert_int_equal(sel_cond_words_at(s, 0, t, 400, 0, at), 0);
		assert_true(sel_cond_words_at(s, 0, t, 400, at, at + 1));
		assert_int_equal(sel_cond_words_at(s, 0, t, 400, at + 1, 400), 0);
		/* cut by the text's end: no word */
		assert_int_equal(sel_cond_words_at(s, 0, t, at + 8, 0, at + 8), 0);
	}
	sel_free(s);
}

/* sel_cond_brief() says what the four accessors say, for each kind. */
static void test_15_cond_brief(void **state)
{
	(void)state;
	struct sel *s = parse_ok("div:has(p):not(:has-text(/^ad$/)):has-text(/[\\s\\S]*x/):has-text(cookie)", SEL_SYNTAX_CSS);
	assert_int_equal(sel_n_conds(s), 4);
	for (unsigned i = 0; i < sel_n_conds(s); i++) {
		struct sel_cond_brief b;
		memset(&b, 0x5a, sizeof b);
		sel_cond_brief(s, i, &b);
		assert_int_equal(b.kind, sel_cond_kind(s, i));
		assert_int_equal(b.neg, sel_cond_negated(s, i));
		assert_int_equal(b.cheap, sel_cond_cheap(s, i));
		assert_true(b.id == sel_cond_id(s, i));
	}
	struct sel_cond_brief b;
	sel_cond_brief(s, 1, &b);
	assert_true(b.neg);
	sel_cond_brief(s, 0, &b);
	assert_int_equal(b.kind, SEL_COND_HAS);
	sel_free(s);
}

/* Case-blind substring tests ([class*="x" i]) on long values take
 * sixteen positions a step: the needle in any case at every offset,
 * near misses, needles that begin or end with a non-letter, against a
 * plain case-blind search. */
static int naive_icase_has(const char *h, const char *nd)
{
	size_t hl = strlen(h), nl = strlen(nd);
	for (size_t i = 0; i + nl <= hl; i++) {
		size_t k = 0;
		while (k < nl && tolower((unsigned char)h[i + k]) == tolower((unsigned char)nd[k]))
			k++;
		if (k == nl)
			return 1;
	}
	return 0;
}

static void test_16_icase_substring(void **state)
{
	(void)state;
	static const char *needles[] = { "consent", "-ad-", "x1", "Cookie-Banner", "ab" };
	static const char *pieces[] = { "consent", "CONSENT", "conSENt", "consen", "onsent", "-ad-", "-AD_",
	                                "x1", "X1", "x 1", "cookie-banner", "COOKIE-BANNEr", "cookie-banne",
	                                "a", "b", "AB", " ", "c", "t", "\xc3\xa9" };
	unsigned seed = 99;
	for (size_t n = 0; n < sizeof needles / sizeof *needles; n++) {
		char sel[64];
		snprintf(sel, sizeof sel, "div[class*=\"%s\" i]", needles[n]);
		struct sel *s = parse_ok(sel, SEL_SYNTAX_CSS);
		for (int r = 0; r < 3000; r++) {
			char v[256] = "";
			int np = 1 + (int)(rand_r(&seed) % 14);
			for (int k = 0; k < np; k++)
				strcat(v, pieces[rand_r(&seed) % (sizeof pieces / sizeof *pieces)]);
			struct html_attr a[] = { { "class", v, 5, strlen(v) } };
			struct sel_node d = { "div", 3, a, 1, NULL, 0 };
			const struct sel_node *path[] = { &n_html, &d };
			assert_int_equal(sel_match(s, path, 2), naive_icase_has(v, needles[n]));
		}
		sel_free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_rejected_with_reason),
		cmocka_unit_test(test_02_properties),
		cmocka_unit_test(test_03_index_keys),
		cmocka_unit_test(test_04_static_match),
		cmocka_unit_test(test_05_relative),
		cmocka_unit_test(test_06_content_tests),
		cmocka_unit_test(test_07_shared_inner_ids),
		cmocka_unit_test(test_08_class_tokens),
		cmocka_unit_test(test_09_shared_regex_codes),
		cmocka_unit_test(test_10_word_filter),
		cmocka_unit_test(test_11_first_filter),
		cmocka_unit_test(test_12_borrowed_text),
		cmocka_unit_test(test_12_list_subject_tags),
		cmocka_unit_test(test_13_reads_others),
		cmocka_unit_test(test_13b_reads_siblings),
		cmocka_unit_test(test_12_text_bounds),
		cmocka_unit_test(test_13_literal_search),
		cmocka_unit_test(test_14_list_attr_mask),
		cmocka_unit_test(test_14_literal_scan_long),
		cmocka_unit_test(test_15_cond_brief),
		cmocka_unit_test(test_16_icase_substring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
