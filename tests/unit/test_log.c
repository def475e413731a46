/* Unit tests for proxy/log: levels, file targets, reopen after rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/log.h"

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_levels(void **state)
{
	assert_int_equal(log_level_parse("error"), LOG_ERROR);
	assert_int_equal(log_level_parse("WARN"), LOG_WARN);
	assert_int_equal(log_level_parse("warning"), LOG_WARN);
	assert_int_equal(log_level_parse("info"), LOG_INFO);
	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("loud"), -1);
	assert_string_equal(log_level_name(LOG_DEBUG), "debug");
}

static void test_files_and_reopen(void **state)
{
	char dir[] = "/tmp/quell-test-log-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char err[256], acc[256], rotated[300];
	snprintf(err, sizeof err, "%s/error.log", dir);
	snprintf(acc, sizeof acc, "%s/access.log", dir);
	assert_int_equal(log_open(err, acc, LOG_INFO), 0);
	log_msg(LOG_INFO, "hello %d", 42);
	log_msg(LOG_DEBUG, "not shown");
	log_access("GET http://x/ 200", 17);
	char *e = slurp(err);
	assert_non_null(strstr(e, "[info] hello 42\n"));
	assert_null(strstr(e, "not shown"));
	assert_string_equal(slurp(acc), "GET http://x/ 200\n");
	/* logrotate renames the file, then SIGHUP makes quell reopen it */
	snprintf(rotated, sizeof rotated, "%s.1", err);
	assert_int_equal(rename(err, rotated), 0);
	assert_int_equal(log_reopen(), 0);
	log_msg(LOG_WARN, "after rotation");
	assert_non_null(strstr(slurp(err), "[warn] after rotation"));
	assert_null(strstr(slurp(rotated), "after rotation"));
	/* a target that cannot be opened is an error and the old one stays */
	assert_int_equal(log_open("/nonexistent/dir/x.log", acc, LOG_INFO), -1);
	log_msg(LOG_ERROR, "still here");
	assert_non_null(strstr(slurp(err), "still here"));
	/* off disables a log */
	assert_int_equal(log_open("off", "off", LOG_DEBUG), 0);
	assert_false(log_enabled(LOG_ERROR));
	assert_false(log_access_enabled());
	assert_int_equal(log_open("stderr", "stderr", LOG_INFO), 0);
	unlink(err); unlink(acc); unlink(rotated); rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_files_and_reopen),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
