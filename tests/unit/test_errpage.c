/* Unit tests for proxy/errpage: reasons, Accept parsing, HTML escaping,
 * HTML and plain-text pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/errpage.h"

static char *text(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_copyout(b, s, n);
	s[n] = 0;
	return s;
}

static void test_reasons(void **state)
{
	assert_string_equal(errpage_reason(502), "Bad Gateway");
	assert_string_equal(errpage_reason(504), "Gateway Timeout");
	assert_string_equal(errpage_reason(431), "Request Header Fields Too Large");
	assert_string_equal(errpage_reason(408), "Request Timeout");
	assert_string_equal(errpage_reason(299), "Unknown");
}

static void test_wants_html(void **state)
{
	assert_true(errpage_wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
	assert_true(errpage_wants_html("text/*"));
	assert_true(errpage_wants_html("application/json, TEXT/HTML;q=0.5"));
	assert_false(errpage_wants_html("*/*"));                /* curl */
	assert_false(errpage_wants_html(NULL));
	assert_false(errpage_wants_html("text/html;q=0"));
	assert_false(errpage_wants_html("text/html;q=0.0, application/json"));
	assert_false(errpage_wants_html("text/htmlx"));
}

static void test_escape(void **state)
{
	struct evbuffer *b = evbuffer_new();
	const char *in = "<a href=\"x\">'&'</a>";
	assert_int_equal(errpage_escape(b, in, strlen(in)), 0);
	char *s = text(b);
	assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
	free(s);
	evbuffer_free(b);
}

static void test_pages(void **state)
{
	struct evbuffer *b = evbuffer_new();
	const char *type;
	assert_int_equal(errpage_body(b, 502, "cannot resolve <evil>.test: no such host", 1, &type), 0);
	char *s = text(b);
	assert_true(strncmp(type, "text/html", 9) == 0);
	assert_non_null(strstr(s, "502 Bad Gateway"));
	assert_non_null(strstr(s, "cannot resolve &lt;evil&gt;.test: no such host"));
	assert_null(strstr(s, "<evil>"));
	free(s);
	evbuffer_drain(b, evbuffer_get_length(b));
	assert_int_equal(errpage_body(b, 504, "too slow", 0, &type), 0);
	s = text(b);
	assert_true(strncmp(type, "text/plain", 10) == 0);
	assert_string_equal(s, "504 Gateway Timeout\ntoo slow\n");
	free(s);
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_wants_html),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
