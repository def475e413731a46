/* Unit tests for filters/cosmetic: rules filed under their keys, domain
 * rules by host, parent domain and entity, negated domains, #@#
 * exceptions (generic and per domain), elemhide / generichide /
 * specifichide, the style text, rejected rules reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/cosmetic.h"
#include "filters/selector.h"

static int n_reported;
static char last_why[160];

static void report(void *arg, const struct cosmetic_rule *r, const char *why)
{
	n_reported++;
	snprintf(last_why, sizeof last_why, "%s", why);
}

static struct cosmetic *build(const struct cosmetic_rule *v, size_t n)
{
	const char *names[] = { "easylist", "mine" };
	n_reported = 0;
	struct cosmetic *c = cosmetic_build(v, n, names, 2, report, NULL);
	assert_non_null(c);
	return c;
}

static uint64_t key(char kind, const char *s)
{
	return cosmetic_key_add(cosmetic_key_start(kind), s, strlen(s));
}

/* Texts of the rules filed under a key on a page, joined with "|". */
static const char *lookup(const struct cosmetic_page *p, uint64_t k)
{
	static char buf[512];
	const struct cosmetic_entry *v[32];
	size_t n = cosmetic_page_lookup(p, k, v, 32);
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(buf, "|");
		char *t = cosmetic_entry_text(v[i]);
		assert_non_null(t);
		strcat(buf, t);
		free(t);
	}
	return buf;
}

static const struct cosmetic_rule rules[] = {
	{ ".ad", "", COSM_CSS, 0, 0, 10 },
	{ "#banner", "", COSM_CSS, 0, 0, 11 },
	{ "a[href^=\"https://ads.example.net/\"]", "", COSM_CSS, 0, 0, 12 },
	{ ".site-only", "news.com", COSM_CSS, 0, 1, 1 },
	{ ".entity", "google.*", COSM_CSS, 0, 1, 2 },
	{ ".not-m", "news.com,~m.news.com", COSM_CSS, 0, 1, 3 },
	{ ".excepted", "", COSM_CSS, 0, 0, 13 },
	{ ".excepted", "news.com", COSM_CSS, 1, 1, 4 },
	{ ".gone", "", COSM_CSS, 0, 0, 14 },
	{ ".gone", "", COSM_CSS, 1, 0, 15 },
	{ ":xpath(//div)", "", COSM_PROCEDURAL, 0, 0, 16 },
	{ ".x:style(color: red)", "news.com", COSM_STYLE, 0, 1, 5 },
	{ "[data-ad]", "", COSM_CSS, 0, 0, 17 },
	{ "div:has-text(Ad)", "", COSM_PROCEDURAL, 0, 0, 18 },
	{ "*:not(p)", "", COSM_CSS, 0, 0, 19 },
};
#define N_RULES (sizeof rules / sizeof *rules)

static void test_01_build_and_report(void **state)
{
	struct cosmetic *c = build(rules, N_RULES);
	assert_int_equal(n_reported, 1);
	assert_non_null(strstr(last_why, "xpath"));
	assert_int_equal(cosmetic_n_rejected(c), 1);
	assert_int_equal(cosmetic_n_rules(c), N_RULES - 3); /* 2 exceptions, 1 rejected */
	cosmetic_free(c);
	cosmetic_free(NULL);
}

static void test_02_generic_keys(void **state)
{
	struct cosmetic *c = build(rules, N_RULES);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.other.org", 0);
	assert_non_null(p);
	assert_string_equal(lookup(p, key('.', "ad")), "##.ad");
	assert_string_equal(lookup(p, key('#', "banner")), "###banner");
	assert_string_equal(lookup(p, key('.', "gone")), ""); /* #@#.gone everywhere */
	assert_true(cosmetic_page_attr_indexed(p, "href", 4));
	assert_false(cosmetic_page_attr_indexed(p, "src", 3));
	uint64_t h = cosmetic_key_add(cosmetic_key_start('['), "href=", 5);
	h = cosmetic_key_add_lower(h, "EXAMPLE", 7);
	assert_string_equal(lookup(p, h), "##a[href^=\"https://ads.example.net/\"]");
	/* attribute-presence rules are filed under the attribute's name */
	const struct cosmetic_entry *v[4];
	assert_int_equal(cosmetic_page_lookup(p, key('@', "data-ad"), v, 4), 1);
	assert_string_equal(lookup(p, key('@', "data-ad")), "##[data-ad]");
	assert_string_equal(cosmetic_entry_list(v[0]), "easylist");
	assert_int_equal(cosmetic_entry_line(v[0]), 17);
	/* only rules with no key at all are tried on every element */
	const struct cosmetic_entry *const *u;
	size_t nu = cosmetic_page_universal(p, &u);
	assert_int_equal(nu, 1);
	char *t = cosmetic_entry_text(u[0]);
	assert_string_equal(t, "##*:not(p)");
	free(t);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

static void test_03_domains(void **state)
{
	struct cosmetic *c = build(rules, N_RULES);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.news.com", 0);
	assert_string_equal(lookup(p, key('.', "site-only")), "news.com##.site-only");
	assert_string_equal(lookup(p, key('.', "not-m")), "news.com,~m.news.com##.not-m");
	assert_string_equal(lookup(p, key('.', "excepted")), ""); /* news.com#@#.excepted */
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "m.news.com", 0);
	assert_string_equal(lookup(p, key('.', "not-m")), "");
	assert_string_equal(lookup(p, key('.', "site-only")), "news.com##.site-only");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "badnews.com", 0);
	assert_string_equal(lookup(p, key('.', "site-only")), "");
	assert_string_equal(lookup(p, key('.', "excepted")), "##.excepted");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.google.co.uk", 0);
	assert_string_equal(lookup(p, key('.', "entity")), "google.*##.entity");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "google.com", 0);
	assert_string_equal(lookup(p, key('.', "entity")), "google.*##.entity");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "notgoogle.com", 0);
	assert_string_equal(lookup(p, key('.', "entity")), "");
	cosmetic_page_free(p);
	/* public suffixes are remembered for the last host: hosts of one
	 * length with suffixes of other lengths, each asked twice */
	const char *hosts[] = { "ab.google.com", "google.com.au", "ab.google.com", "google.com.au",
	                        "xgoogle.co.uk", "xgoogle.co.uk" };
	for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		p = cosmetic_page_new(c, hosts[i], 0);
		assert_string_equal(lookup(p, key('.', "entity")), hosts[i][0] == 'x' ? "" : "google.*##.entity");
		cosmetic_page_free(p);
	}
	cosmetic_free(c);
}

static void test_04_page_flags(void **state)
{
	struct cosmetic *c = build(rules, N_RULES);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.news.com", COSMETIC_P_GENERICHIDE);
	assert_string_equal(lookup(p, key('.', "ad")), "");
	assert_string_equal(lookup(p, key('.', "site-only")), "news.com##.site-only");
	assert_false(cosmetic_page_empty(p));
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.news.com", COSMETIC_P_SPECIFICHIDE);
	assert_string_equal(lookup(p, key('.', "ad")), "##.ad");
	assert_string_equal(lookup(p, key('.', "site-only")), "");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.news.com", COSMETIC_P_ELEMHIDE);
	assert_true(cosmetic_page_empty(p));
	assert_string_equal(lookup(p, key('.', "ad")), "");
	cosmetic_page_free(p);
	p = cosmetic_page_new(NULL, "www.news.com", 0);
	assert_true(cosmetic_page_empty(p));
	cosmetic_page_free(p);
	cosmetic_free(c);
}

static void test_05_css(void **state)
{
	struct cosmetic *c = build(rules, N_RULES);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.news.com", 0);
	char buf[1024];
	long n = cosmetic_page_css(p, buf, sizeof buf);
	assert_true(n > 0);
	assert_non_null(strstr(buf, ".site-only{display:none!important}\n"));
	assert_non_null(strstr(buf, ".x{color: red}\n"));
	assert_null(strstr(buf, ".ad{"));
	/* generic rules join when their class shows up; procedural ones never */
	const struct cosmetic_entry *v[4];
	assert_int_equal(cosmetic_page_lookup(p, key('.', "ad"), v, 4), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 0);
	n = cosmetic_page_css(p, buf, sizeof buf);
	assert_string_equal(buf, ".ad{display:none!important}\n");
	assert_int_equal(cosmetic_page_css(p, buf, sizeof buf), 0);
	assert_int_equal(cosmetic_page_lookup(p, key('@', "data-ad"), v, 4), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 1);
	/* too small a buffer */
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.news.com", 0);
	assert_int_equal(cosmetic_page_css(p, buf, 10), -1);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

/* The pair filter of "[name=word" keys: the first two bytes of each word
 * (lower-cased), of generic rules and of the page's domain rules, not of
 * other domains' rules nor of words of one byte. */
static void test_10_pair_filter(void **state)
{
	static const struct cosmetic_rule pr[] = {
		{ "a[href*=\"/Kq9z/\"]", "", COSM_CSS, 0, 0, 1 },
		{ "a[href*=\"/wv7/\"]", "site.org", COSM_CSS, 0, 1, 2 },
		{ "a[href*=\"/jx3/\"]", "other.org", COSM_CSS, 0, 1, 3 },
	};
	struct cosmetic *c = build(pr, 3);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.site.org", 0);
	const uint64_t *f = cosmetic_page_pair_filter(p);
	unsigned n = 0;
	for (unsigned i = 0; i < COSMETIC_PAIR_BITS / 64; i++)
		n += (unsigned)__builtin_popcountll(f[i]);
	assert_int_equal(n, 2);
	unsigned b = cosmetic_pair_bit("kq9z", 4);
	assert_true(f[b / 64] >> (b % 64) & 1);
	b = cosmetic_pair_bit("wv7", 3);
	assert_true(f[b / 64] >> (b % 64) & 1);
	b = cosmetic_pair_bit("jx3", 3);
	assert_false(f[b / 64] >> (b % 64) & 1);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

/* Generic :style() rules (a consent manager's scroll lock undone) ride
 * along with any style the page gets, whatever the stream holds: a script
 * adds the class at run time.  A page nothing else applies to gets none.
 * Exceptions and generichide still take them out; those with the same
 * declarations share one rule. */
static const struct cosmetic_rule unlock[] = {
	{ "html.sp-message-open:style(overflow-y: auto !important)", "", COSM_STYLE, 0, 0, 1 },
	{ "body.didomi-popup-open:style(overflow-y: auto !important)", "", COSM_STYLE, 0, 0, 2 },
	{ "body.qc-cmp-showing:style(filter: none !important)", "", COSM_STYLE, 0, 0, 3 },
	{ "body.off-here:style(overflow-y: auto !important)", "", COSM_STYLE, 0, 0, 4 },
	{ "body.off-here:style(overflow-y: auto !important)", "news.com", COSM_STYLE, 1, 1, 1 },
	{ "body.gone:style(overflow-y: auto !important)", "", COSM_STYLE, 0, 0, 5 },
	{ "body.gone:style(overflow-y: auto !important)", "", COSM_STYLE, 1, 1, 2 },
	{ ".ad", "", COSM_CSS, 0, 0, 6 },
	{ "div:has-text(x):style(color: red)", "", COSM_STYLE, 0, 0, 7 },
	{ ".only-here", "site.org", COSM_CSS, 0, 1, 3 },
};

static const char ALL_UNLOCK[] = "html.sp-message-open,body.didomi-popup-open{overflow-y: auto !important}\n"
                                 "body.qc-cmp-showing{filter: none !important}\n"
                                 "body.off-here{overflow-y: auto !important}\n";

static void test_06_style_rules_ride_along(void **state)
{
	struct cosmetic *c = build(unlock, sizeof unlock / sizeof *unlock);
	assert_int_equal(n_reported, 1); /* :style() on a procedural selector */
	char buf[1024];
	const struct cosmetic_entry *v[4];
	/* nothing else applies: no style at all */
	struct cosmetic_page *p = cosmetic_page_new(c, "www.other.org", 0);
	assert_false(cosmetic_page_css_pending(p));
	assert_int_equal(cosmetic_page_css(p, buf, sizeof buf), 0);
	/* a generic rule's class shows up: they come with it, once */
	assert_int_equal(cosmetic_page_lookup(p, key('.', "ad"), v, 4), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 1);
	assert_true(cosmetic_page_css_pending(p));
	assert_true(cosmetic_page_css_size(p) > strlen(ALL_UNLOCK) + 30);
	assert_true(cosmetic_page_css(p, buf, sizeof buf) > 0);
	assert_string_equal(buf, ".ad{display:none!important}\n" "html.sp-message-open,body.didomi-popup-open{overflow-y: auto !important}\n"
	                         "body.qc-cmp-showing{filter: none !important}\n" "body.off-here{overflow-y: auto !important}\n");
	assert_false(cosmetic_page_css_pending(p));
	assert_int_equal(cosmetic_page_css(p, buf, sizeof buf), 0);
	cosmetic_page_free(p);
	/* a page with domain rules: in its first style */
	p = cosmetic_page_new(c, "www.site.org", 0);
	assert_true(cosmetic_page_css(p, buf, sizeof buf) > 0);
	assert_string_equal(buf, ".only-here{display:none!important}\n" "html.sp-message-open,body.didomi-popup-open{overflow-y: auto !important}\n"
	                         "body.qc-cmp-showing{filter: none !important}\n" "body.off-here{overflow-y: auto !important}\n");
	cosmetic_page_free(p);
	/* one of their own classes in the stream is enough */
	p = cosmetic_page_new(c, "www.other.org", 0);
	assert_int_equal(cosmetic_page_lookup(p, key('.', "didomi-popup-open"), v, 4), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 1);
	assert_int_equal(cosmetic_page_mark_seen(p, v[0]), 0);
	assert_true(cosmetic_page_css_pending(p));
	assert_true(cosmetic_page_css(p, buf, sizeof buf) > 0);
	assert_string_equal(buf, ALL_UNLOCK);
	cosmetic_page_free(p);
	/* "news.com#@#" takes one out there; a cut never leaves half a rule */
	p = cosmetic_page_new(c, "www.news.com", 0);
	assert_int_equal(cosmetic_page_lookup(p, key('.', "ad"), v, 4), 1);
	cosmetic_page_mark_seen(p, v[0]);
	assert_true(cosmetic_page_css(p, buf, sizeof buf) > 0);
	assert_null(strstr(buf, "off-here"));
	assert_non_null(strstr(buf, "html.sp-message-open,body.didomi-popup-open{"));
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.news.com", 0);
	assert_int_equal(cosmetic_page_lookup(p, key('.', "ad"), v, 4), 1);
	cosmetic_page_mark_seen(p, v[0]);
	assert_int_equal(cosmetic_page_css(p, buf, 60), -1);
	assert_string_equal(buf, ".ad{display:none!important}\n");
	cosmetic_page_free(p);
	/* generichide, elemhide: none */
	p = cosmetic_page_new(c, "www.site.org", COSMETIC_P_GENERICHIDE);
	assert_true(cosmetic_page_css(p, buf, sizeof buf) > 0);
	assert_string_equal(buf, ".only-here{display:none!important}\n");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "www.site.org", COSMETIC_P_ELEMHIDE);
	assert_int_equal(cosmetic_page_css(p, buf, sizeof buf), 0);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

static int tri_has(const struct cosmetic_page *p, const char *three)
{
	unsigned b = cosmetic_tri_bit(three);
	return (int)(cosmetic_page_tri_filter(p)[b / 64] >> (b % 64) & 1);
}

/* "~name=abc" keys (a value that must contain a string) set their three
 * bytes in the page's window filter, generic and domain rules alike, in
 * any case; the window's lookup still finds the rule. */
static void test_07_window_filter(void **state)
{
	(void)state;
	static const struct cosmetic_rule subs[] = {
		{ "div[class*=\"Cookie\" i]", "", COSM_CSS, 0, 0, 1 },
		{ "aside[id*=\"promo\"]", "news.com", COSM_CSS, 0, 1, 2 },
	};
	struct cosmetic *c = build(subs, 2);
	struct cosmetic_page *p = cosmetic_page_new(c, "www.news.com", 0);
	/* filed under the value's rarest window (sel_index_key): "oki" */
	assert_true(tri_has(p, "oki"));
	assert_true(tri_has(p, "OKI"));
	assert_true(tri_has(p, "pro"));
	assert_true(cosmetic_page_attr_sub_indexed(p, "class", 5));
	uint64_t k = cosmetic_key_add_lower(cosmetic_key_add(cosmetic_key_start('~'), "class=", 6), "OKI", 3);
	assert_string_equal(lookup(p, k), "##div[class*=\"Cookie\" i]");
	cosmetic_page_free(p);
	p = cosmetic_page_new(c, "other.org", 0);
	assert_true(tri_has(p, "oki"));
	assert_false(tri_has(p, "pro")); /* news.com's rule only */
	int others = 0; /* a 16384-bit filter with two bits set: nearly all clear */
	const char *probe[] = { "the", "art", "nav", "hea", "foo", "abc", "xyz", "img" };
	for (size_t i = 0; i < sizeof probe / sizeof *probe; i++)
		others += tri_has(p, probe[i]);
	assert_true(others <= 1);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

/* The index keeps a rule's text once (in its selector) and rebuilds the
 * rule as written for --explain: domains, separator, selector, style. */
static void test_08_entry_text(void **state)
{
	static const struct cosmetic_rule r[] = {
		{ ".x:style(color: red)", "news.com", COSM_STYLE, 0, 1, 5 },
		{ "script:has-text(adblock)", "a.com,b.org", COSM_HTML, 0, 1, 6 },
		{ "div[tag-content=\"banner\"]", "c.net", COSM_ADG_HTML, 0, 1, 7 },
		{ "div.promo:has-text(/^Ad$/i)", "", COSM_PROCEDURAL, 0, 0, 8 },
	};
	const char *want[] = {
		"news.com##.x:style(color: red)",
		"a.com,b.org##^script:has-text(adblock)",
		"c.net$$div[tag-content=\"banner\"]",
		"##div.promo:has-text(/^Ad$/i)",
	};
	const char *host[] = { "news.com", "a.com", "c.net", "z.org" };
	for (size_t i = 0; i < 4; i++) {
		struct cosmetic *c = build(&r[i], 1);
		assert_int_equal(cosmetic_n_rules(c), 1);
		struct cosmetic_page *p = cosmetic_page_new(c, host[i], 0);
		const struct cosmetic_entry *v[4];
		const struct cosmetic_entry *const *u;
		size_t n = cosmetic_page_lookup(p, key('.', "x"), v, 4) + cosmetic_page_lookup(p, key('<', "script"), v, 4) +
		           cosmetic_page_lookup(p, key('<', "div"), v, 4) + cosmetic_page_lookup(p, key('.', "promo"), v, 4);
		const struct cosmetic_entry *e = n ? v[0] : NULL;
		if (!e && cosmetic_page_universal(p, &u))
			e = u[0];
		assert_non_null(e);
		char *t = cosmetic_entry_text(e);
		assert_string_equal(t, want[i]);
		free(t);
		cosmetic_page_free(p);
		cosmetic_free(c);
	}
}

/* With COSMETIC_BUILD_BORROW the index points at the rules' bodies (the
 * engine's pool), except where it must cut one (:style()). */
static void test_09_borrowed_bodies(void **state)
{
	static const struct cosmetic_rule r[] = {
		{ ".promo", "", COSM_CSS, 0, 0, 1 },
		{ ".x:style(color: red)", "", COSM_STYLE, 0, 0, 2 },
	};
	struct cosmetic *c = cosmetic_build_ex(r, 2, NULL, 0, report, NULL, COSMETIC_BUILD_BORROW);
	assert_non_null(c);
	struct cosmetic_page *p = cosmetic_page_new(c, "a.org", 0);
	const struct cosmetic_entry *v[2];
	assert_int_equal(cosmetic_page_lookup(p, key('.', "promo"), v, 2), 1);
	assert_ptr_equal(sel_text(cosmetic_entry_sel(v[0])), r[0].body);
	char *t = cosmetic_entry_text(v[0]);
	assert_string_equal(t, "##.promo");
	free(t);
	cosmetic_page_free(p);
	cosmetic_free(c);
	/* without the flag: copies */
	c = build(r, 1);
	p = cosmetic_page_new(c, "a.org", 0);
	assert_int_equal(cosmetic_page_lookup(p, key('.', "promo"), v, 2), 1);
	assert_ptr_not_equal(sel_text(cosmetic_entry_sel(v[0])), r[0].body);
	cosmetic_page_free(p);
	cosmetic_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_build_and_report),
		cmocka_unit_test(test_02_generic_keys),
		cmocka_unit_test(test_03_domains),
		cmocka_unit_test(test_04_page_flags),
		cmocka_unit_test(test_05_css),
		cmocka_unit_test(test_06_style_rules_ride_along),
		cmocka_unit_test(test_07_window_filter),
		cmocka_unit_test(test_08_entry_text),
		cmocka_unit_test(test_09_borrowed_bodies),
		cmocka_unit_test(test_10_pair_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
