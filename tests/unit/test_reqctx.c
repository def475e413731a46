/* Unit tests for filters/reqctx (request type and page) and
 * filters/resources (redirect resources, block responses). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "filters/lists.h"
#include "filters/reqctx.h"
#include "filters/resources.h"

static void test_type_order(void **state)
{
	struct reqctx_fields f;
	memset(&f, 0, sizeof(f));
	/* Sec-Fetch-Dest first */
	f.sec_fetch_dest = "script";
	f.accept = "text/css";
	assert_int_equal(reqctx_type("https://x/a.png", &f), LISTS_T_SCRIPT);
	f.sec_fetch_dest = "iframe";
	assert_int_equal(reqctx_type("https://x/", &f), LISTS_T_SUBDOCUMENT);
	f.sec_fetch_dest = "document";
	assert_int_equal(reqctx_type("https://x/", &f), LISTS_T_DOCUMENT);
	f.sec_fetch_dest = "empty";
	assert_int_equal(reqctx_type("https://x/api", &f), LISTS_T_XHR);
	f.sec_fetch_mode = "websocket";
	assert_int_equal(reqctx_type("wss://x/s", &f), LISTS_T_WEBSOCKET);
	/* then Accept */
	memset(&f, 0, sizeof(f));
	f.accept = "text/html,application/xhtml+xml;q=0.9";
	assert_int_equal(reqctx_type("https://x/", &f), LISTS_T_DOCUMENT);
	f.accept = "image/avif,image/webp,*/*";
	assert_int_equal(reqctx_type("https://x/p", &f), LISTS_T_IMAGE);
	f.accept = "text/css,*/*;q=0.1";
	assert_int_equal(reqctx_type("https://x/p", &f), LISTS_T_STYLESHEET);
	/* then the extension */
	f.accept = "*/*";
	assert_int_equal(reqctx_type("https://x/lib.js?v=1", &f), LISTS_T_SCRIPT);
	assert_int_equal(reqctx_type("https://x/f.woff2", &f), LISTS_T_FONT);
	assert_int_equal(reqctx_type("https://x/v.mp4#t=1", &f), LISTS_T_MEDIA);
	assert_int_equal(reqctx_type("https://x/a.b/c", &f), LISTS_T_OTHER);
	assert_int_equal(reqctx_type("https://x/", &f), LISTS_T_OTHER);
	f.upgrade = "websocket";
	assert_int_equal(reqctx_type("ws://x/", &f), LISTS_T_WEBSOCKET);
}

/* Every extension of the table, in any case; near misses are not types. */
static void test_extensions(void **state)
{
	static const struct { const char *url; uint32_t type; } t[] = {
		{"http://x/a.js", LISTS_T_SCRIPT}, {"http://x/a.MJS", LISTS_T_SCRIPT},
		{"http://x/a.Css", LISTS_T_STYLESHEET}, {"http://x/a.png", LISTS_T_IMAGE},
		{"http://x/a.JPG", LISTS_T_IMAGE}, {"http://x/a.jpeg", LISTS_T_IMAGE},
		{"http://x/a.gif", LISTS_T_IMAGE}, {"http://x/a.webp", LISTS_T_IMAGE},
		{"http://x/a.svg", LISTS_T_IMAGE}, {"http://x/a.ico", LISTS_T_IMAGE},
		{"http://x/a.bmp", LISTS_T_IMAGE}, {"http://x/a.avif", LISTS_T_IMAGE},
		{"http://x/a.woff", LISTS_T_FONT}, {"http://x/a.WOFF2", LISTS_T_FONT},
		{"http://x/a.ttf", LISTS_T_FONT}, {"http://x/a.otf", LISTS_T_FONT},
		{"http://x/a.eot", LISTS_T_FONT}, {"http://x/a.mp4", LISTS_T_MEDIA},
		{"http://x/a.webm", LISTS_T_MEDIA}, {"http://x/a.mp3", LISTS_T_MEDIA},
		{"http://x/a.ogg", LISTS_T_MEDIA}, {"http://x/a.m3u8", LISTS_T_MEDIA},
		{"http://x/a.m4a", LISTS_T_MEDIA}, {"http://x/a.wav", LISTS_T_MEDIA},
		{"http://x/a.html", LISTS_T_DOCUMENT}, {"http://x/a.HtM", LISTS_T_DOCUMENT},
		{"http://x/a.json?x=1", LISTS_T_XHR}, {"http://x/a.swf#f", LISTS_T_OBJECT},
		{"http://x/a.j", 0}, {"http://x/a.jss", 0}, {"http://x/a.", 0}, {"http://x/a.woff3", 0},
		{"http://x/a.htmlx", 0}, {"http://x/js", 0}, {"http://x/a.abcdefghi", 0},
		{"http://x/a.ab.css", LISTS_T_STYLESHEET}, {"http://x/a.css/b", 0},
		{"http://x.js/", 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t got = reqctx_type_from_extension(t[i].url);
		if (got != t[i].type)
			fail_msg("%s: %u, expected %u", t[i].url, (unsigned)got, (unsigned)t[i].type);
	}
}

static void test_page(void **state)
{
	struct reqctx_fields f;
	char page[256];
	memset(&f, 0, sizeof(f));
	assert_int_equal(reqctx_page("https://a.com/x", LISTS_T_DOCUMENT, &f, page, sizeof(page)), 1);
	assert_string_equal(page, "https://a.com/x");   /* a navigation is its own page */
	f.referer = "https://news.site/article";
	assert_int_equal(reqctx_page("https://cdn.com/x.js", LISTS_T_SCRIPT, &f, page, sizeof(page)), 1);
	assert_string_equal(page, "https://news.site/article");
	f.referer = NULL;
	f.origin = "https://app.site";
	assert_int_equal(reqctx_page("https://api.com/x", LISTS_T_XHR, &f, page, sizeof(page)), 1);
	assert_string_equal(page, "https://app.site");
	f.origin = NULL;
	f.sec_fetch_site = "same-origin";
	assert_int_equal(reqctx_page("https://a.com:8443/x?y", LISTS_T_XHR, &f, page, sizeof(page)), 1);
	assert_string_equal(page, "https://a.com:8443");
	f.sec_fetch_site = "cross-site";
	assert_int_equal(reqctx_page("https://a.com/x", LISTS_T_XHR, &f, page, sizeof(page)), 1);
	assert_string_equal(page, REQCTX_CROSS_SITE);
	f.sec_fetch_site = NULL;
	assert_int_equal(reqctx_page("https://a.com/x", LISTS_T_XHR, &f, page, sizeof(page)), 0);
	assert_string_equal(page, "");
	/* a long Referer keeps its origin, enough for party and domain= */
	char small[32];
	f.referer = "https://news.site/a/very/long/path/that/does/not/fit";
	assert_int_equal(reqctx_page("https://c/x", LISTS_T_SCRIPT, &f, small, sizeof(small)), 1);
	assert_string_equal(small, "https://news.site");
}

static void test_resources(void **state)
{
	const struct resources_item *r = resources_find("noopjs", 6);
	assert_non_null(r);
	assert_string_equal(r->name, "noop.js");
	assert_string_equal(r->content_type, "application/javascript");
	assert_ptr_equal(resources_find("noop.js", 7), r);
	assert_ptr_equal(resources_find("abp-resource:blank-js", 21), r);
	r = resources_find("1x1-transparent.gif", 19);
	assert_non_null(r);
	assert_memory_equal(r->body, "GIF89a", 6);
	r = resources_find("2x2.png", 7);
	assert_non_null(r);
	assert_memory_equal(r->body, "\x89PNG", 4);
	assert_non_null(resources_find("noopmp4-1s", 10));
	assert_non_null(resources_find("noopmp3-0.1s", 12));
	assert_non_null(resources_find("noopframe", 9));
	assert_non_null(resources_find("empty", 5));
	assert_null(resources_find("nothing-like-this", 17));
	assert_string_equal(resources_for_type(LISTS_T_SCRIPT)->content_type, "application/javascript");
	assert_int_equal(resources_for_type(LISTS_T_SCRIPT)->len, 0);
	assert_string_equal(resources_for_type(LISTS_T_IMAGE)->content_type, "image/gif");
	assert_string_equal(resources_for_type(LISTS_T_STYLESHEET)->content_type, "text/css");
	assert_int_equal(resources_for_type(LISTS_T_XHR)->len, 0);
}

static void test_block_page_escapes(void **state)
{
	char page[2048];
	size_t n = resources_block_page(page, sizeof(page), "https://x/?a=<script>", "||x^$domain=a.com|\"b\"",
	                                "list<1>", 42);
	assert_int_equal(n, strlen(page));
	assert_null(strstr(page, "<script>"));
	assert_non_null(strstr(page, "&lt;script&gt;"));
	assert_non_null(strstr(page, "&quot;b&quot;"));
	assert_non_null(strstr(page, "list&lt;1&gt;, line 42"));
	char tiny[8];
	n = resources_block_page(tiny, sizeof(tiny), "u", "r", "l", 1);
	assert_true(n < sizeof(tiny));
	char esc[8];
	assert_int_equal(resources_html_escape(esc, sizeof(esc), "a<b", 3), 6);
	assert_string_equal(esc, "a&lt;b");
	assert_int_equal(resources_html_escape(esc, sizeof(esc), "<<<", 3), 4);   /* cut at a whole entity */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_order),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_block_page_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
