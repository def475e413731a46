/* Unit tests for filters/url: splitting, host extraction, suffix checks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "filters/url.h"

static void test_split_basic(void **state)
{
	const char *u = "https://user:pw@WWW.Example.com:8443/a/b?q=1#frag";
	struct url_parts p;
	assert_int_equal(url_split(u, strlen(u), &p), 0);
	assert_int_equal(p.scheme_len, 5);
	assert_int_equal(p.host_len, strlen("WWW.Example.com"));
	assert_memory_equal(u + p.host_off, "WWW.Example.com", p.host_len);
	assert_int_equal(p.port, 8443);
	assert_string_equal(u + p.path_off, "/a/b?q=1#frag");
	assert_int_equal(u[p.query_off], '?');
}

static void test_split_defaults(void **state)
{
	struct url_parts p;
	const char *a = "http://example.com";
	assert_int_equal(url_split(a, strlen(a), &p), 0);
	assert_int_equal(p.port, 80);
	assert_int_equal(p.path_off, strlen(a));
	assert_int_equal(p.query_off, (size_t)-1);
	const char *b = "wss://example.com?x";
	assert_int_equal(url_split(b, strlen(b), &p), 0);
	assert_int_equal(p.port, 443);
	assert_int_equal(p.host_len, 11);
	/* a '?' after '#' is not a query */
	const char *c = "https://h/p#a?b";
	assert_int_equal(url_split(c, strlen(c), &p), 0);
	assert_int_equal(p.query_off, (size_t)-1);
}

static void test_split_ipv6_and_bad(void **state)
{
	struct url_parts p;
	const char *a = "http://[::1]:8080/x";
	assert_int_equal(url_split(a, strlen(a), &p), 0);
	assert_memory_equal(a + p.host_off, "::1", 3);
	assert_int_equal(p.host_len, 3);
	assert_int_equal(p.port, 8080);
	const char *b = "no scheme here";
	assert_int_equal(url_split(b, strlen(b), &p), -1);
	assert_int_equal(p.host_len, 0);
	const char *c = "http:///path";
	assert_int_equal(url_split(c, strlen(c), &p), -1);
}

static void test_host(void **state)
{
	char h[64];
	assert_int_equal(url_host("https://A.B.COM./x", 18, h, sizeof(h)), 7);
	assert_string_equal(h, "a.b.com");
	assert_int_equal(url_host("junk", 4, h, sizeof(h)), -1);
	char tiny[4];
	assert_int_equal(url_host("https://abcdef/", 15, tiny, sizeof(tiny)), -1);
}

static void test_under_and_ip(void **state)
{
	assert_true(url_host_is_under("a.b.com", 7, "b.com", 5));
	assert_true(url_host_is_under("b.com", 5, "b.com", 5));
	assert_false(url_host_is_under("ab.com", 6, "b.com", 5));
	assert_false(url_host_is_under("b.com", 5, "a.b.com", 7));
	assert_true(url_host_is_ip("127.0.0.1", 9));
	assert_true(url_host_is_ip("::1", 3));
	assert_false(url_host_is_ip("1.2.3", 5));
	assert_false(url_host_is_ip("a.b.c.d", 7));
	char s[] = "MiXeD";
	url_lower(s, 5);
	assert_string_equal(s, "mixed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_split_defaults),
		cmocka_unit_test(test_split_ipv6_and_bad),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_under_and_ip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
