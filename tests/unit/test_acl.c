/* Unit tests for proxy/acl: the allow list (default loopback only, CIDRs,
 * IPv4-mapped IPv6) and the loop check against listen addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy/acl.h"
#include "proxy/config.h"

static struct sockaddr_storage addr(const char *ip, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	return ss;
}

static int allowed(const struct config *c, const char *ip)
{
	struct sockaddr_storage ss = addr(ip, 1234);
	return acl_allowed(c, (struct sockaddr *)&ss);
}

static void test_default_loopback_only(void **state)
{
	struct config c;
	assert_int_equal(config_defaults(&c), 0);
	assert_true(allowed(&c, "127.0.0.1"));
	assert_true(allowed(&c, "::1"));
	assert_true(allowed(&c, "::ffff:127.0.0.1"));
	assert_false(allowed(&c, "192.168.1.10"));
	assert_false(allowed(&c, "10.0.0.1"));
	assert_false(allowed(&c, "2001:db8::1"));
	config_free(&c);
}

static void test_cidrs(void **state)
{
	struct config c;
	char err[256];
	assert_int_equal(config_defaults(&c), 0);
	c.n_allow = 0;
	assert_int_equal(config_set(&c, "allow", "192.168.1.0/24 2001:db8::/32", "t", 1, err, sizeof err), 0);
	assert_true(allowed(&c, "192.168.1.0"));
	assert_true(allowed(&c, "192.168.1.255"));
	assert_false(allowed(&c, "192.168.2.1"));
	assert_false(allowed(&c, "127.0.0.1"));             /* replaced, not added */
	assert_true(allowed(&c, "::ffff:192.168.1.7"));
	assert_true(allowed(&c, "2001:db8:ffff::1"));
	assert_false(allowed(&c, "2001:db9::1"));
	config_free(&c);
}

static int self(const struct config *c, const char *ip, int port)
{
	struct sockaddr_storage ss = addr(ip, port);
	return acl_is_self(c, (struct sockaddr *)&ss);
}

static void test_loop_check(void **state)
{
	struct config c;
	char err[256];
	assert_int_equal(config_defaults(&c), 0);
	c.n_listen = 0;
	assert_int_equal(config_set(&c, "listen", "127.0.0.1:8228", "t", 1, err, sizeof err), 0);
	assert_true(self(&c, "127.0.0.1", 8228));
	assert_true(self(&c, "::ffff:127.0.0.1", 8228));
	assert_false(self(&c, "127.0.0.1", 8229));
	assert_false(self(&c, "93.184.216.34", 8228));
	c.n_listen = 0;
	assert_int_equal(config_set(&c, "listen", "0.0.0.0:9000", "t", 1, err, sizeof err), 0);
	assert_true(self(&c, "127.0.0.1", 9000));            /* wildcard: any local address */
	assert_true(self(&c, "127.8.9.10", 9000));
	assert_false(self(&c, "127.0.0.1", 9001));
	assert_false(self(&c, "93.184.216.34", 9000));
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_loopback_only),
		cmocka_unit_test(test_cidrs),
		cmocka_unit_test(test_loop_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
