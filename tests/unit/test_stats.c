/* Unit tests for proxy/stats: per-worker counters, sums across workers while
 * writers run, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "proxy/stats.h"

static void test_add_and_sum(void **state)
{
	struct stats *a = stats_new(), *b = stats_new();
	assert_non_null(a);
	assert_non_null(b);
	int64_t before = stats_sum(STATS_REQUESTS);
	stats_add(a, STATS_REQUESTS, 3);
	stats_add(b, STATS_REQUESTS, 4);
	stats_add(NULL, STATS_REQUESTS, 100);        /* no-op */
	assert_int_equal(stats_get(a, STATS_REQUESTS), 3);
	assert_int_equal(stats_sum(STATS_REQUESTS) - before, 7);
	stats_add(a, STATS_ACTIVE, 1);
	stats_add(a, STATS_ACTIVE, -1);
	assert_int_equal(stats_get(a, STATS_ACTIVE), 0);
}

static void *writer(void *arg)
{
	struct stats *s = arg;
	for (int i = 0; i < 100000; i++)
		stats_add(s, STATS_BYTES_OUT, 2);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct stats *s[4];
	pthread_t t[4];
	int64_t before = stats_sum(STATS_BYTES_OUT), last = before;
	for (int i = 0; i < 4; i++) {
		s[i] = stats_new();
		assert_non_null(s[i]);
		pthread_create(&t[i], NULL, writer, s[i]);
	}
	for (int k = 0; k < 1000; k++) {               /* sums only grow while writers run */
		int64_t now = stats_sum(STATS_BYTES_OUT);
		assert_true(now >= last);
		last = now;
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(stats_sum(STATS_BYTES_OUT) - before, 4 * 100000 * 2);
}

static void test_names(void **state)
{
	for (int c = 0; c < STATS__COUNT; c++) {
		assert_non_null(stats_name(c));
		assert_true(strlen(stats_name(c)) > 0);
		assert_string_not_equal(stats_name(c), "?");
	}
	assert_string_equal(stats_name(STATS_REQUESTS), "requests");
	assert_string_equal(stats_name(STATS__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_sum),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
