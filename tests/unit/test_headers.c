/* Unit tests for proxy/headers: order, repeats, case-insensitive look-ups,
 * set/del, refusing header injection, copying a parsed head without
 * hop-by-hop fields, writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/headers.h"
#include "proxy/http1.h"

static char *text(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	evbuffer_copyout(b, s, n);
	s[n] = 0;
	return s;
}

static void test_add_find_set_del(void **state)
{
	struct headers *h = headers_new();
	assert_int_equal(headers_add_str(h, "Set-Cookie", "a=1"), 0);
	assert_int_equal(headers_add_str(h, "Content-Type", "text/html"), 0);
	assert_int_equal(headers_add_str(h, "set-cookie", "b=2"), 0);
	assert_int_equal(headers_count(h), 3);
	assert_string_equal(headers_get(h, "SET-COOKIE"), "a=1");
	assert_int_equal(headers_find(h, "set-cookie", 1), 2);
	assert_int_equal(headers_find(h, "x-none", 0), -1);
	assert_int_equal(headers_set(h, "Content-Type", "text/plain"), 0);
	assert_string_equal(headers_get(h, "content-type"), "text/plain");
	assert_int_equal(headers_del(h, "Set-Cookie"), 2);
	assert_int_equal(headers_count(h), 1);
	assert_null(headers_get(h, "Set-Cookie"));
	headers_clear(h);
	assert_int_equal(headers_count(h), 0);
	for (int i = 0; i < 1000; i++)                  /* growth */
		assert_int_equal(headers_add_str(h, "X", "y"), 0);
	assert_int_equal(headers_count(h), 1000);
	headers_free(h);
	headers_free(NULL);
}

/* Look-ups go by the classified name (http1_field_id) for known names and
 * by the name itself for others; both must find exactly the same fields. */
static void test_known_and_other_names(void **state)
{
	struct headers *h = headers_new();
	assert_int_equal(headers_add_str(h, "X-Host", "1"), 0);
	assert_int_equal(headers_add_str(h, "HOST", "2"), 0);
	assert_int_equal(headers_add_str(h, "x-host", "3"), 0);
	assert_int_equal(headers_add_str(h, "Hos", "4"), 0);
	assert_int_equal(headers_add_str(h, "set-COOKIE", "a=1"), 0);
	assert_int_equal(headers_id(h, 0), HTTP1_F_OTHER);
	assert_int_equal(headers_id(h, 1), HTTP1_F_HOST);
	assert_int_equal(headers_id(h, 4), HTTP1_F_SET_COOKIE);
	assert_string_equal(headers_get(h, "host"), "2");
	assert_string_equal(headers_get(h, "X-HOST"), "1");
	assert_int_equal(headers_find(h, "x-Host", 1), 2);
	assert_string_equal(headers_get(h, "hos"), "4");
	assert_null(headers_get(h, "hostx"));
	assert_int_equal(headers_set_cookie_has(h, "a", 1, 0), 1);
	assert_int_equal(headers_del(h, "X-host"), 2);
	assert_int_equal(headers_count(h), 3);
	assert_int_equal(headers_del_set_cookie(h, "a", 1, 0), 1);
	assert_int_equal(headers_del(h, "Host"), 1);
	assert_string_equal(headers_name(h, 0), "Hos");
	/* a long list is written in one piece, byte for byte */
	struct evbuffer *b = evbuffer_new();
	char name[32], value[300], want[40 * 340] = "", line[340];
	headers_clear(h);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "X-N%d", i);
		memset(value, 'a' + i % 26, sizeof value - 1);
		value[sizeof value - 1 - i] = 0;
		assert_int_equal(headers_add_str(h, name, value), 0);
		snprintf(line, sizeof line, "%s: %s\r\n", name, value);
		strcat(want, line);
	}
	evbuffer_add(b, "S", 1);
	assert_int_equal(headers_write(h, b), 0);
	char *s = text(b);
	assert_int_equal(s[0], 'S');
	assert_string_equal(s + 1, want);
	free(s);
	headers_clear(h);
	assert_int_equal(headers_write(h, b), 0);    /* nothing to write */
	evbuffer_free(b);
	headers_free(h);
}

/* Fields past the inline array and the arena (malloc'd one by one), removed
 * and replaced in any order, keep their bytes; run under the sanitizers
 * this also checks that only malloc'd blocks are freed. */
static void test_many_fields(void **state)
{
	struct headers *h = headers_new();
	char name[32], value[200];
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof name, "X-%d", i);
			memset(value, 'a' + i % 26, (size_t)(i * 37 % 199));
			value[i * 37 % 199] = 0;
			assert_int_equal(headers_add_str(h, name, value), 0);
		}
		assert_int_equal(headers_count(h), 100);
		for (int i = 0; i < 100; i += 3) {
			snprintf(name, sizeof name, "x-%d", i);
			assert_int_equal(headers_del(h, name), 1);
		}
		assert_int_equal(headers_cookie_append(h, "c=1"), 0);   /* adds a field */
		assert_int_equal(headers_cookie_append(h, "d=2"), 0);   /* grows it */
		assert_string_equal(headers_get(h, "Cookie"), "c=1; d=2");
		for (int i = 0; i < 100; i++) {
			snprintf(name, sizeof name, "X-%d", i);
			const char *v = headers_get(h, name);
			if (i % 3 == 0) {
				assert_null(v);
				continue;
			}
			assert_non_null(v);
			assert_int_equal(strlen(v), (size_t)(i * 37 % 199));
			for (size_t k = 0; v[k]; k++)
				assert_int_equal(v[k], 'a' + i % 26);
		}
		if (round == 1) {
			headers_clear(h);
			continue;
		}
		assert_int_equal(headers_del(h, "cookie"), 1);
		for (int i = 99; i >= 0; i--) {
			snprintf(name, sizeof name, "X-%d", i);
			assert_int_equal(headers_del(h, name), i % 3 != 0);
		}
		assert_int_equal(headers_count(h), 0);
	}
	headers_free(h);
	headers_free(NULL);
}

static void test_no_injection(void **state)
{
	struct headers *h = headers_new();
	assert_int_equal(headers_add_str(h, "X-A", "1\r\nX-Evil: 2"), -1);
	assert_int_equal(headers_add_str(h, "X-A\r\nB", "1"), -1);
	assert_int_equal(headers_add_str(h, "X:A", "1"), -1);
	assert_int_equal(headers_add_str(h, "", "1"), -1);
	assert_int_equal(headers_add(h, "X", 1, "a\0b", 3), -1);
	assert_int_equal(headers_count(h), 0);
	headers_free(h);
}

static void test_from_head_and_write(void **state)
{
	const char *req = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, X-Hop\r\n"
	                  "X-Hop: 1\r\nKeep-Alive: 5\r\nProxy-Authorization: x\r\nAccept: */*\r\n"
	                  "TE: trailers\r\n\r\n";
	struct http1_parser *p = http1_parser_new(HTTP1_REQUEST, 65536, 100);
	size_t used;
	assert_int_equal(http1_parse(p, req, strlen(req), &used), HTTP1_DONE);
	struct headers *h = headers_new();
	assert_int_equal(headers_from_head(h, http1_parser_head(p), 1), 0);
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(headers_write(h, b), 0);
	char *s = text(b);
	assert_string_equal(s, "Host: a.test\r\nAccept: */*\r\n");
	free(s);
	headers_clear(h);
	assert_int_equal(headers_from_head(h, http1_parser_head(p), 0), 0);
	assert_int_equal(headers_count(h), 7);
	headers_free(h);
	evbuffer_free(b);
	http1_parser_free(p);
}

static void test_cookies(void **state)
{
	struct headers *h = headers_new();
	assert_int_equal(headers_cookie_has(h, "a", 1, 0), 0);
	assert_int_equal(headers_cookie_append(h, "cmplz_marketing=deny"), 0);
	assert_string_equal(headers_get(h, "Cookie"), "cmplz_marketing=deny");
	headers_clear(h);
	assert_int_equal(headers_add_str(h, "Accept", "*/*"), 0);
	assert_int_equal(headers_add_str(h, "Cookie", " sid=1;theme = dark;flag; "), 0);
	assert_int_equal(headers_add_str(h, "X-After", "1"), 0);
	assert_int_equal(headers_cookie_has(h, "sid", 3, 0), 1);
	assert_int_equal(headers_cookie_has(h, "theme", 5, 0), 1);
	assert_int_equal(headers_cookie_has(h, "flag", 4, 0), 1);
	assert_int_equal(headers_cookie_has(h, "si", 2, 0), 0);
	assert_int_equal(headers_cookie_has(h, "si", 2, 1), 1);
	assert_int_equal(headers_cookie_has(h, "dark", 4, 0), 0); /* a value, not a name */
	/* appended to the first Cookie field, in its place */
	assert_int_equal(headers_cookie_append(h, "a=1; b=2"), 0);
	assert_int_equal(headers_count(h), 3);
	assert_string_equal(headers_name(h, 1), "Cookie");
	assert_string_equal(headers_value(h, 1), " sid=1;theme = dark;flag; a=1; b=2");
	assert_int_equal(headers_cookie_has(h, "b", 1, 0), 1);
	assert_int_equal(headers_cookie_append(h, "c=1\r\nX: y"), -1);
	assert_int_equal(headers_add_str(h, "Set-Cookie", " cookie_notice_accepted=true; Path=/"), 0);
	assert_int_equal(headers_set_cookie_has(h, "cookie_notice_accepted", 22, 0), 1);
	assert_int_equal(headers_set_cookie_has(h, "cookie_notice", 13, 0), 0);
	assert_int_equal(headers_set_cookie_has(h, "cookie_notice", 13, 1), 1);
	assert_int_equal(headers_set_cookie_has(h, "Path", 4, 0), 0);
	assert_int_equal(headers_add_str(h, "Set-Cookie", "sid=9"), 0);
	assert_int_equal(headers_del_set_cookie(h, "cookie_notice", 13, 1), 1);
	assert_int_equal(headers_del_set_cookie(h, "cookie_notice", 13, 1), 0);
	assert_int_equal(headers_count(h), 4);
	assert_string_equal(headers_get(h, "Set-Cookie"), "sid=9");
	headers_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_set_del),
		cmocka_unit_test(test_known_and_other_names),
		cmocka_unit_test(test_many_fields),
		cmocka_unit_test(test_no_injection),
		cmocka_unit_test(test_from_head_and_write),
		cmocka_unit_test(test_cookies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
