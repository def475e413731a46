/* Unit tests for proxy/target: absolute URLs, authorities (IPv4, names,
 * IPv6 in brackets), ports, what is refused, canonical forms, and reading
 * only within the given length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proxy/target.h"

static int url(const char *u, int https, char *host, int *port, char **path, char **canon)
{
	const char *why;
	return target_parse_url(u, strlen(u), https, host, TARGET_HOST_MAX, port, path, canon, &why);
}

static void test_urls(void **state)
{
	char host[TARGET_HOST_MAX], *path, *canon;
	int port;
	assert_int_equal(url("http://Example.COM/a/b?c=1#frag", 0, host, &port, &path, &canon), 0);
	assert_string_equal(host, "example.com");
	assert_int_equal(port, 80);
	assert_string_equal(path, "/a/b?c=1");
	assert_string_equal(canon, "http://example.com/a/b?c=1");
	free(path), free(canon);
	assert_int_equal(url("HTTP://a.test:8080", 0, host, &port, &path, &canon), 0);
	assert_int_equal(port, 8080);
	assert_string_equal(path, "/");
	assert_string_equal(canon, "http://a.test:8080/");
	free(path), free(canon);
	assert_int_equal(url("http://a.test?q", 0, host, &port, &path, &canon), 0);
	assert_string_equal(path, "/?q");
	free(path), free(canon);
	assert_int_equal(url("http://[::1]:81/x", 0, host, &port, &path, &canon), 0);
	assert_string_equal(host, "::1");
	assert_string_equal(canon, "http://[::1]:81/x");
	free(path), free(canon);
	assert_int_equal(url("https://a.test:443/x", 1, host, &port, &path, &canon), 0);
	assert_string_equal(canon, "https://a.test/x");
	free(path), free(canon);
}

static void test_refused(void **state)
{
	char host[TARGET_HOST_MAX], *path, *canon;
	int port;
	const char *bad[] = {
		"https://a.test/", "ftp://a.test/", "http://user:pw@a.test/", "http:///x",
		"http://a.test:0/", "http://a.test:65536/", "http://a.test:80x/", "http://a b/",
		"http://a.test:/", "http://[::1/", "http://[zz]/", "/relative", "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(url(bad[i], 0, host, &port, &path, &canon), -1);
	assert_int_equal(url("http://a.test/", 1, host, &port, &path, &canon), -1);
	char longhost[400] = "http://";
	memset(longhost + 7, 'a', 300);
	assert_int_equal(url(longhost, 0, host, &port, &path, &canon), -1);
}

static void test_bounds(void **state)
{
	/* the slice ends before " HTTP/1.1": nothing past it is read */
	const char line[] = "http://a.test HTTP/1.1\r\nHost: x\r\n";
	char host[TARGET_HOST_MAX], *path, *canon;
	int port;
	const char *why;
	assert_int_equal(target_parse_url(line, 13, 0, host, sizeof host, &port, &path, &canon, &why), 0);
	assert_string_equal(host, "a.test");
	assert_string_equal(path, "/");
	free(path), free(canon);
}

static void test_authority(void **state)
{
	char host[TARGET_HOST_MAX], text[300];
	int port;
	assert_int_equal(target_authority("Mail.Test:443", 13, host, sizeof host, &port, 1), 0);
	assert_string_equal(host, "mail.test");
	assert_int_equal(port, 443);
	assert_int_equal(target_authority("[2001:db8::1]:8443", 18, host, sizeof host, &port, 1), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 8443);
	assert_int_equal(target_authority("a.test", 6, host, sizeof host, &port, 443), 0);
	assert_int_equal(port, 443);
	assert_int_equal(target_authority("::1:443", 7, host, sizeof host, &port, 443), -1);
	assert_int_equal(target_authority(":443", 4, host, sizeof host, &port, 443), -1);
	assert_int_equal(target_authority("a.test:443:1", 12, host, sizeof host, &port, 443), -1);
	target_authority_text(text, sizeof text, "::1", 443, 443);
	assert_string_equal(text, "[::1]");
	target_authority_text(text, sizeof text, "a.test", 8080, 80);
	assert_string_equal(text, "a.test:8080");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_authority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
