/* Unit tests for filters/consent: managers recognised by their script
 * paths, the per-thread host memory (bounded, least recently used out),
 * the decline added to a request without the manager's cookies and to its
 * response, a user's own cookie (accept or decline) left alone, the
 * origin's Set-Cookie winning, the config switches, and the managers
 * recognised by the rules that remove their banners (each such rule in the
 * built-in consent list), learnt for a host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "filters/builtin.h"
#include "filters/consent.h"
#include "proxy/config.h"
#include "proxy/headers.h"

static struct config cfg;

static int setup(void **state)
{
	return config_defaults(&cfg);
}

static int teardown(void **state)
{
	config_free(&cfg);
	return 0;
}

/* The values of h's fields called name, joined with " | ". */
static const char *values(const struct headers *h, const char *name)
{
	static char buf[1024];
	buf[0] = 0;
	for (int i = headers_find(h, name, 0); i >= 0; i = headers_find(h, name, i + 1)) {
		if (buf[0])
			strcat(buf, " | ");
		strcat(buf, headers_value(h, i));
	}
	return buf;
}

static void test_01_detect(void **state)
{
	assert_int_equal(consent_detect("/wp-content/plugins/cookie-notice/js/front.min.js?ver=2.4"), CONSENT_COOKIE_NOTICE);
	assert_int_equal(consent_detect("/blog/wp-content/plugins/complianz-gdpr/cookiebanner/js/complianz.min.js"), CONSENT_COMPLIANZ);
	assert_int_equal(consent_detect("/wp-content/plugins/cookie-law-info/public/js/cookie-law-info-public.js"), CONSENT_COOKIE_LAW_INFO);
	assert_int_equal(consent_detect("/wp-content/plugins/cookie-law-info/legacy/public/css/cookie-law-info-public.css"), CONSENT_COOKIE_LAW_INFO);
	/* CookieYes 3 keeps its choice in another cookie */
	assert_int_equal(consent_detect("/wp-content/plugins/cookie-law-info/lite/frontend/js/script.min.js"), CONSENT_NONE);
	assert_int_equal(consent_detect("/ajax/libs/cookieconsent2/3.1.1/cookieconsent.min.js"), CONSENT_COOKIECONSENT);
	assert_int_equal(consent_detect("/npm/cookieconsent@3/build/cookieconsent.min.js"), CONSENT_COOKIECONSENT);
	/* orestbida's library of the same name: another cookie */
	assert_int_equal(consent_detect("/gh/orestbida/cookieconsent@v3.0.0/dist/cookieconsent.umd.js"), CONSENT_NONE);
	assert_int_equal(consent_detect("/wp-content/plugins/contact-form-7/includes/js/index.js"), CONSENT_NONE);
	assert_int_equal(consent_detect("/2024/05/cookie-notice-law-explained/"), CONSENT_NONE);
	assert_int_equal(consent_detect("/"), CONSENT_NONE);
	assert_int_equal(consent_detect(NULL), CONSENT_NONE);
	assert_string_equal(consent_name(CONSENT_COMPLIANZ), "Complianz");
	assert_string_equal(consent_name(CONSENT_NONE), "");
	assert_string_equal(consent_name(99), "");
}

static void test_02_memory(void **state)
{
	assert_int_equal(consent_recall("a.example"), CONSENT_NONE);
	consent_remember("a.example", CONSENT_COMPLIANZ);
	assert_int_equal(consent_recall("a.example"), CONSENT_COMPLIANZ);
	assert_int_equal(consent_recall("b.example"), CONSENT_NONE);
	consent_remember("a.example", CONSENT_COOKIE_NOTICE); /* the site changed manager */
	assert_int_equal(consent_recall("a.example"), CONSENT_COOKIE_NOTICE);
	consent_remember("", CONSENT_COMPLIANZ);
	consent_remember("c.example", 0);
	consent_remember("c.example", 42);
	assert_int_equal(consent_recall("c.example"), CONSENT_NONE);
	/* bounded: many hosts later the first are gone, the last are there,
	 * and a host used all along stayed */
	char h[64];
	int kept = 0;
	for (int i = 0; i < 20000; i++) {
		snprintf(h, sizeof h, "host%d.example", i);
		consent_remember(h, CONSENT_COOKIECONSENT);
		assert_int_equal(consent_recall("a.example"), CONSENT_COOKIE_NOTICE);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(h, sizeof h, "host%d.example", i);
		kept += consent_recall(h) != CONSENT_NONE;
	}
	assert_int_equal(kept, 0);
	assert_int_equal(consent_recall("host19999.example"), CONSENT_COOKIECONSENT);
	assert_int_equal(consent_recall("a.example"), CONSENT_COOKIE_NOTICE);
}

static void test_03_request_and_response(void **state)
{
	struct headers *req = headers_new(), *add = headers_new();
	assert_non_null(req);
	assert_non_null(add);
	/* a page's script request names the page in its Referer: the page's
	 * host is the one remembered, and this very response gets the cookie */
	assert_int_equal(headers_add_str(req, "Referer", "https://Shop.Example/article/1"), 0);
	assert_int_equal(consent_request(&cfg, "shop.example", "/wp-content/plugins/cookie-notice/js/front.min.js",
	                                 1, req, add), CONSENT_COOKIE_NOTICE);
	assert_string_equal(values(req, "Cookie"), "cookie_notice_accepted=false");
	assert_string_equal(values(add, "Set-Cookie"),
	                    "cookie_notice_accepted=false; Path=/; Max-Age=15552000; SameSite=Lax; Secure");
	/* a later page, with other cookies: appended to them */
	headers_clear(req);
	headers_clear(add);
	assert_int_equal(headers_add_str(req, "Cookie", "sid=42"), 0);
	assert_int_equal(consent_request(&cfg, "shop.example", "/next", 0, req, add), CONSENT_COOKIE_NOTICE);
	assert_string_equal(values(req, "Cookie"), "sid=42; cookie_notice_accepted=false");
	assert_string_equal(values(add, "Set-Cookie"), "cookie_notice_accepted=false; Path=/; Max-Age=15552000; SameSite=Lax");
	/* the user's accept stays an accept */
	headers_clear(req);
	headers_clear(add);
	assert_int_equal(headers_add_str(req, "Cookie", "cookie_notice_accepted=true; sid=42"), 0);
	assert_int_equal(consent_request(&cfg, "shop.example", "/next", 0, req, add), CONSENT_NONE);
	assert_string_equal(values(req, "Cookie"), "cookie_notice_accepted=true; sid=42");
	assert_int_equal(headers_count(add), 0);
	/* another host is not touched */
	headers_clear(req);
	assert_int_equal(consent_request(&cfg, "other.example", "/", 0, req, add), CONSENT_NONE);
	assert_int_equal(headers_count(req), 0);
	/* Complianz: every category, and any cmplz_ cookie is a choice */
	headers_clear(req);
	assert_int_equal(consent_request(&cfg, "blog.example", "/wp-content/plugins/complianz-gdpr/cookiebanner/js/complianz.min.js",
	                                 0, req, add), CONSENT_COMPLIANZ);
	assert_string_equal(values(req, "Cookie"), "cmplz_banner-status=dismissed; cmplz_marketing=deny; "
	                                          "cmplz_statistics=deny; cmplz_preferences=deny");
	assert_int_equal(headers_count(add), 4);
	headers_clear(req);
	headers_clear(add);
	assert_int_equal(headers_add_str(req, "Cookie", "cmplz_marketing=allow"), 0);
	assert_int_equal(consent_request(&cfg, "blog.example", "/", 0, req, add), CONSENT_NONE);
	assert_int_equal(headers_count(add), 0);
	headers_free(req);
	headers_free(add);
}

static void test_04_origin_wins(void **state)
{
	struct headers *resp = headers_new(), *add = headers_new();
	assert_int_equal(headers_add_str(add, "Content-Security-Policy", "style-src 'self'"), 0);
	assert_int_equal(headers_add_str(add, "Set-Cookie", "viewed_cookie_policy=no; Path=/"), 0);
	assert_int_equal(headers_add_str(resp, "Set-Cookie", "session=1; HttpOnly"), 0);
	consent_response(resp, add);
	assert_int_equal(headers_count(add), 2);
	assert_int_equal(headers_add_str(resp, "Set-Cookie", "viewed_cookie_policy=yes; Path=/"), 0);
	consent_response(resp, add);
	assert_int_equal(headers_count(add), 1);
	assert_null(headers_get(add, "Set-Cookie"));
	consent_response(resp, NULL);
	headers_free(resp);
	headers_free(add);
}

static void test_05_switches(void **state)
{
	struct headers *req = headers_new();
	const char *js = "/wp-content/plugins/cookie-law-info/public/js/cookie-law-info-public.js";
	assert_int_equal(cfg.consent_decline, 1); /* on by default */
	cfg.consent_decline = 0;
	assert_int_equal(consent_request(&cfg, "off.example", js, 0, req, NULL), CONSENT_NONE);
	cfg.consent_decline = 1;
	cfg.annoyances &= ~(unsigned)ANNOY_CONSENT;
	assert_int_equal(consent_request(&cfg, "off.example", js, 0, req, NULL), CONSENT_NONE);
	cfg.annoyances |= ANNOY_CONSENT;
	cfg.builtin = 0;
	assert_int_equal(consent_request(&cfg, "off.example", js, 0, req, NULL), CONSENT_NONE);
	cfg.builtin = 1;
	assert_int_equal(headers_count(req), 0);
	assert_int_equal(consent_request(NULL, "off.example", js, 0, req, NULL), CONSENT_NONE);
	/* switched off, nothing was even remembered */
	assert_int_equal(consent_recall("off.example"), CONSENT_NONE);
	assert_int_equal(consent_request(&cfg, "off.example", js, 0, req, NULL), CONSENT_COOKIE_LAW_INFO);
	assert_string_equal(values(req, "Cookie"), "viewed_cookie_policy=no");
	headers_free(req);
}

static void test_06_banner_rules(void **state)
{
	assert_int_equal(consent_banner_rule("###cookie-notice"), CONSENT_COOKIE_NOTICE);
	assert_int_equal(consent_banner_rule("###cn-notice-text"), CONSENT_COOKIE_NOTICE);
	assert_int_equal(consent_banner_rule("###cmplz-cookiebanner-container"), CONSENT_COMPLIANZ);
	assert_int_equal(consent_banner_rule("##.cmplz-cookiebanner"), CONSENT_COMPLIANZ);
	assert_int_equal(consent_banner_rule("##.cmplz-manage-consent"), CONSENT_COMPLIANZ);
	assert_int_equal(consent_banner_rule("###cookie-law-info-bar"), CONSENT_COOKIE_LAW_INFO);
	assert_int_equal(consent_banner_rule("##.cc-window"), CONSENT_COOKIECONSENT);
	/* a site's own rule, and the extended separator */
	assert_int_equal(consent_banner_rule("example.com,blog.example###cookie-law-info-again"), CONSENT_COOKIE_LAW_INFO);
	assert_int_equal(consent_banner_rule("#?#.cc-revoke"), CONSENT_COOKIECONSENT);
	/* other managers, names near a marker, compound and text rules */
	assert_int_equal(consent_banner_rule("###cookie-notice-bar"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##.cookie-notice"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##.klaro .cookie-notice"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("###cookie-notice > div"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##.cky-consent-container"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##.cc_banner-wrapper"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("###CybotCookiebotDialog"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##div:has-text(/cmplz/)"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("##.cmplz-cookiebanner:has-text(/x/)"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("#@#.cc-window"), CONSENT_NONE); /* an exception */
	assert_int_equal(consent_banner_rule("||cmplz.example^"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule("#"), CONSENT_NONE);
	assert_int_equal(consent_banner_rule(""), CONSENT_NONE);
	assert_int_equal(consent_banner_rule(NULL), CONSENT_NONE);
	assert_null(consent_banner_selector(CONSENT_NONE, 0));
	assert_null(consent_banner_selector(CONSENT_N, 0));
	assert_null(consent_banner_selector(CONSENT_COMPLIANZ, -1));
	assert_null(consent_banner_selector(CONSENT_COMPLIANZ, 6));
}

/* Every banner selector is a rule of the built-in consent list, so a
 * page with that markup gets it removed and reported: a selector the list
 * lacks would never teach anything. */
static void test_07_banner_rules_in_builtin_list(void **state)
{
	const struct builtin_list *l = builtin_find("builtin:consent");
	assert_non_null(l);
	for (int m = 1; m < CONSENT_N; m++) {
		int k = 0;
		for (const char *sel; (sel = consent_banner_selector(m, k)); k++) {
			char line[128];
			snprintf(line, sizeof line, "\n##%s\n", sel);
			if (!strstr(l->bytes, line))
				fail_msg("%s: %s not a rule of builtin:consent", consent_name(m), sel);
			snprintf(line, sizeof line, "##%s", sel);
			assert_int_equal(consent_banner_rule(line), m);
		}
		assert_true(k > 0);
	}
}

static void test_08_learn(void **state)
{
	assert_int_equal(consent_enabled(&cfg), 1);
	assert_int_equal(consent_enabled(NULL), 0);
	cfg.consent_decline = 0;
	assert_int_equal(consent_enabled(&cfg), 0);
	cfg.consent_decline = 1;
	cfg.annoyances &= ~(unsigned)ANNOY_CONSENT;
	assert_int_equal(consent_enabled(&cfg), 0);
	cfg.annoyances |= ANNOY_CONSENT;
	cfg.builtin = 0;
	assert_int_equal(consent_enabled(&cfg), 0);
	cfg.builtin = 1;

	/* a page of the host showed the banner: its later requests get the decline */
	consent_learn("banner.example", consent_banner_rule("###cmplz-cookiebanner-container"));
	assert_int_equal(consent_recall("banner.example"), CONSENT_COMPLIANZ);
	consent_learn("banner.example", CONSENT_COMPLIANZ); /* again: no change */
	assert_int_equal(consent_recall("banner.example"), CONSENT_COMPLIANZ);
	consent_learn("none.example", CONSENT_NONE);
	consent_learn("", CONSENT_COMPLIANZ);
	consent_learn(NULL, CONSENT_COMPLIANZ);
	assert_int_equal(consent_recall("none.example"), CONSENT_NONE);
	struct headers *req = headers_new(), *add = headers_new();
	assert_non_null(req);
	assert_non_null(add);
	assert_int_equal(consent_request(&cfg, "banner.example", "/wp-content/cache/min/x.js", 1, req, add),
	                 CONSENT_COMPLIANZ);
	assert_string_equal(values(req, "Cookie"), "cmplz_banner-status=dismissed; cmplz_marketing=deny; "
	                                           "cmplz_statistics=deny; cmplz_preferences=deny");
	assert_int_equal(headers_count(add), 4);
	headers_free(req);
	headers_free(add);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_detect),
		cmocka_unit_test(test_02_memory),
		cmocka_unit_test(test_03_request_and_response),
		cmocka_unit_test(test_04_origin_wins),
		cmocka_unit_test(test_05_switches),
		cmocka_unit_test(test_06_banner_rules),
		cmocka_unit_test(test_07_banner_rules_in_builtin_list),
		cmocka_unit_test(test_08_learn),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
