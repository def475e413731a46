/* Unit tests for proxy/config: defaults, value parsers, file errors with FILE:LINE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/config.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/quell-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults(void **state)
{
	struct config c;
	assert_int_equal(config_defaults(&c), 0);
	assert_int_equal(c.n_listen, 1);
	assert_string_equal(c.listen[0].text, "127.0.0.1:8228");
	assert_int_equal(c.n_allow, 2);
	assert_int_equal(c.n_connect_ports, 1);
	assert_int_equal(c.connect_ports[0], 443);
	assert_int_equal(c.via, 0);
	assert_int_equal(c.x_forwarded_for, 0);
	assert_int_equal(c.max_request_head, 64 * 1024);
	assert_int_equal(c.header_timeout_ms, 10000);
	assert_int_equal(c.intercept, 1);
	assert_int_equal(c.cosmetic, COSMETIC_REMOVE);
	assert_int_equal(c.annoyances, ANNOY_ALL);
	assert_int_equal(c.html_lookahead, 256 * 1024);
	assert_non_null(c.state_dir);
	assert_non_null(strstr(c.ca_dir, "/ca"));
	assert_null(c.resolver);
	config_free(&c);
	config_free(NULL);
}

static void test_durations_and_sizes(void **state)
{
	long ms;
	size_t sz;
	assert_int_equal(config_parse_duration_ms("10", &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(config_parse_duration_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(config_parse_duration_ms("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(config_parse_duration_ms("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(config_parse_duration_ms("3d", &ms), 0);
	assert_int_equal(ms, 3L * 86400000);
	assert_int_equal(config_parse_duration_ms("x", &ms), -1);
	assert_int_equal(config_parse_duration_ms("5 weeks", &ms), -1);
	assert_int_equal(config_parse_duration_ms("-1s", &ms), -1);
	assert_int_equal(config_parse_size("64k", &sz), 0);
	assert_int_equal(sz, 65536);
	assert_int_equal(config_parse_size("1MiB", &sz), 0);
	assert_int_equal(sz, 1 << 20);
	assert_int_equal(config_parse_size("512", &sz), 0);
	assert_int_equal(sz, 512);
	assert_int_equal(config_parse_size("12q", &sz), -1);
	assert_int_equal(config_parse_size("-3", &sz), -1);
	assert_int_equal(config_parse_size("", &sz), -1);
}

static void test_addresses(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(config_parse_addr("127.0.0.1:8228", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8228);
	assert_int_equal(config_parse_addr("[::1]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(config_parse_addr(":8080", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(config_parse_addr("127.0.0.1", &ss, &len), -1);
	assert_int_equal(config_parse_addr("127.0.0.1:0", &ss, &len), -1);
	assert_int_equal(config_parse_addr("127.0.0.1:70000", &ss, &len), -1);
	assert_int_equal(config_parse_addr("host.example:80", &ss, &len), -1);
	assert_int_equal(config_parse_addr("[::1:80", &ss, &len), -1);
}

static void test_cidr(void **state)
{
	struct config_cidr c;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	assert_int_equal(config_parse_cidr("192.168.1.0/24", &c), 0);
	inet_pton(AF_INET, "192.168.1.77", &a4.sin_addr);
	assert_true(config_cidr_match(&c, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.168.2.1", &a4.sin_addr);
	assert_false(config_cidr_match(&c, (struct sockaddr *)&a4));
	/* IPv4-mapped IPv6 client matches an IPv4 rule. */
	inet_pton(AF_INET6, "::ffff:192.168.1.5", &a6.sin6_addr);
	assert_true(config_cidr_match(&c, (struct sockaddr *)&a6));
	assert_int_equal(config_parse_cidr("10.1.2.3/12", &c), 0);
	inet_pton(AF_INET, "10.15.255.255", &a4.sin_addr);
	assert_true(config_cidr_match(&c, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "10.16.0.0", &a4.sin_addr);
	assert_false(config_cidr_match(&c, (struct sockaddr *)&a4));
	assert_int_equal(config_parse_cidr("::1", &c), 0);
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_true(config_cidr_match(&c, (struct sockaddr *)&a6));
	assert_int_equal(config_parse_cidr("0.0.0.0/0", &c), 0);
	inet_pton(AF_INET, "8.8.8.8", &a4.sin_addr);
	assert_true(config_cidr_match(&c, (struct sockaddr *)&a4));
	assert_int_equal(config_parse_cidr("1.2.3.4/33", &c), -1);
	assert_int_equal(config_parse_cidr("nope/8", &c), -1);
}

static void test_file_ok(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	const char *p = write_tmp(
		"# a comment\n"
		"listen 0.0.0.0:9000   # trailing comment\n"
		"listen [::1]:9001\n"
		"allow 192.168.1.0/24\n"
		"connect_ports 443 8443\n"
		"via on\n"
		"workers 3\n"
		"header_timeout 5s\n"
		"list https://example.org/l.txt name=mine every=12h\n"
		"list /etc/quell/local.txt\n"
		"rules /etc/quell/my rules.txt\n"
		"intercept_bypass .bank.example pinned.example\n"
		"cosmetic hide\n"
		"cosmetic_site news.example remove\n"
		"annoyances ad-labels consent\n"
		"resolver 127.0.0.1:5353\n");
	assert_int_equal(config_load(&c, p, err, sizeof err), 0);
	assert_int_equal(c.n_listen, 2);
	assert_string_equal(c.listen[1].text, "[::1]:9001");
	assert_int_equal(c.n_allow, 1);
	assert_int_equal(c.n_connect_ports, 2);
	assert_int_equal(c.connect_ports[1], 8443);
	assert_int_equal(c.via, 1);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.header_timeout_ms, 5000);
	assert_int_equal(c.n_lists, 2);
	assert_true(c.lists[0].is_url);
	assert_string_equal(c.lists[0].name, "mine");
	assert_int_equal(c.lists[0].every_s, 12 * 3600);
	assert_false(c.lists[1].is_url);
	assert_int_equal(c.n_rules, 1);
	assert_string_equal(c.rules[0], "/etc/quell/my rules.txt");
	assert_int_equal(c.n_intercept_bypass, 2);
	assert_string_equal(c.intercept_bypass[0], "bank.example");
	assert_int_equal(c.cosmetic, COSMETIC_HIDE);
	assert_int_equal(c.n_cosmetic_sites, 1);
	assert_int_equal(c.annoyances, ANNOY_AD_LABELS | ANNOY_CONSENT);
	assert_string_equal(c.resolver, "127.0.0.1:5353");
	assert_string_equal(c.path, p);
	config_free(&c);
	unlink(p);
}

static void expect_error(const char *text, const char *needle)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	const char *p = write_tmp(text);
	assert_int_equal(config_load(&c, p, err, sizeof err), -1);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
	assert_non_null(strstr(err, p)); /* names the file */
	config_free(&c);
	unlink(p);
}

static void test_file_errors(void **state)
{
	expect_error("listen 127.0.0.1:1\nbogus_key 1\n", ":2: unknown key 'bogus_key'");
	expect_error("\n\nworkers many\n", ":3: workers: expects a number");
	expect_error("via maybe\n", ":1: via: expects on or off");
	expect_error("listen nowhere\n", ":1: listen: expects ADDR:PORT");
	expect_error("header_timeout soon\n", ":1: header_timeout: expects a duration");
	expect_error("max_request_head 10\n", ":1: max_request_head: expects a size");
	expect_error("allow 300.1.1.1/8\n", ":1: allow: expects an address or CIDR");
	expect_error("connect_ports 443 https\n", ":1: connect_ports: expects port numbers");
	expect_error("workers 1\nworkers 2\n", ":2: 'workers' given twice");
	expect_error("annoyances popups\n", ":1: annoyances: unknown category 'popups'");
	expect_error("list /x every=5\n", ":1: list: every= expects a duration");
	expect_error("list /x colour=red\n", ":1: list: unknown list option");
	expect_error("cosmetic_site example.com blur\n", ":1: cosmetic_site: expects DOMAIN remove|hide");
	expect_error("log_level loud\n", ":1: log_level: expects error, warn, info or debug");
}

static void test_missing_file(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/quell.conf", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/quell.conf"));
	/* defaults survive a failed load */
	assert_int_equal(c.n_listen, 1);
	config_free(&c);
}

static void test_config_set_override(void **state)
{
	struct config c;
	char err[512];
	config_defaults(&c);
	c.n_listen = 0; /* as cmd_run does before --listen */
	assert_int_equal(config_set(&c, "listen", "127.0.0.1:7000", "--listen", 0, err, sizeof err), 0);
	assert_int_equal(c.n_listen, 1);
	assert_int_equal(config_set(&c, "workers", "x", "--workers", 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "--workers"));
	assert_int_equal(config_set(&c, "list", "none", "cli", 0, err, sizeof err), 0);
	assert_true(c.lists_none);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_durations_and_sizes),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_file_ok),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_config_set_override),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
