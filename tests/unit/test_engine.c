/* Unit tests for filters/engine: building from buffers and files, snapshot
 * save/load round trips, corrupt files, references, the current snapshot
 * under concurrent readers, the attachment slot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filters/engine.h"

static const char *rules_a =
	"! a test list\n"
	"||ads.example^\n"
	"@@||ads.example/ok/\n"
	"/track.gif$image,third-party\n"
	"##.ad-banner\n"
	"example.com#@#.sidebar-ad\n"
	"example.com##^script:has-text(adblock)\n"
	"example.com##+js(aopr, open)\n"
	"||bad.example^$header=x\n"
	"@@||news.example^$generichide\n";
static const char *rules_b = "0.0.0.0 hosts.example\n$removeparam=utm_source\n";

static struct engine *two_lists(void)
{
	struct lists_source src[2] = {
		{"builtin:a", NULL, rules_a, strlen(rules_a)},
		{"b", NULL, rules_b, strlen(rules_b)},
	};
	char err[256];
	struct engine *e = engine_build(src, 2, err, sizeof(err));
	assert_non_null(e);
	return e;
}

static void expect_verdicts(struct engine *e)
{
	struct netfilter_verdict v;
	assert_int_equal(engine_match(e, "https://ads.example/x.js", LISTS_T_SCRIPT, "https://p.example/", &v), NETFILTER_BLOCK);
	assert_string_equal(engine_rule_text(e, v.rule), "||ads.example^");
	assert_string_equal(engine_rule_list(e, v.rule), "builtin:a");
	assert_int_equal(engine_rule_line(e, v.rule), 2);
	assert_int_equal(engine_match(e, "https://ads.example/ok/x.js", LISTS_T_SCRIPT, NULL, &v), NETFILTER_ALLOW);
	assert_int_equal(v.matched, 2);
	assert_int_equal(engine_match(e, "https://cdn.other/track.gif", LISTS_T_IMAGE, "https://p.example/", &v), NETFILTER_BLOCK);
	assert_int_equal(engine_match(e, "https://hosts.example/", LISTS_T_DOCUMENT, NULL, &v), NETFILTER_BLOCK);
	assert_string_equal(engine_rule_list(e, v.rule), "b");
	assert_int_equal(engine_match(e, "https://x.example/?utm_source=a&k=1", LISTS_T_DOCUMENT, NULL, &v), NETFILTER_REMOVEPARAM);
	assert_string_equal(v.new_url, "https://x.example/?k=1");
	free(v.new_url);
	assert_int_equal(engine_match(e, "https://bad.example/", LISTS_T_SCRIPT, NULL, &v), NETFILTER_ALLOW);
	assert_int_equal(engine_page_flags(e, "https://news.example/"), NETFILTER_PAGE_GENERICHIDE);
	size_t n;
	const struct cosmetic_rule *c = engine_cosmetic_rules(e, &n);
	assert_int_equal(n, 3);
	assert_string_equal(c[0].body, ".ad-banner");
	assert_string_equal(c[0].domains, "");
	assert_int_equal(c[0].kind, COSM_CSS);
	assert_string_equal(c[1].domains, "example.com");
	assert_true(c[1].exception);
	assert_int_equal(c[2].kind, COSM_HTML);
	assert_int_equal(c[2].line, 7);
	assert_int_equal(c[2].list_id, 0);
	const struct engine_counts *k = engine_counts(e);
	assert_int_equal(k->network, 6);
	assert_int_equal(k->cosmetic, 3);
	assert_int_equal(k->cls[LISTS_UNSUPPORTED], 2);
	assert_int_equal(engine_list_count(e), 2);
	assert_string_equal(engine_list_name(e, 1), "b");
	assert_string_equal(engine_list_path(e, 1), "");
	assert_int_equal(engine_list_rules(e, 1), 2);
}

static void test_build(void **state)
{
	struct engine *e = two_lists();
	expect_verdicts(e);
	engine_release(e);
	engine_release(NULL);
}

static int reports;
static void count_report(void *arg, const struct lists_rule *r)
{
	reports++;
}

static void test_build_errors(void **state)
{
	char err[256];
	struct lists_source missing = {"m", "/nonexistent/quell.txt", NULL, 0};
	assert_null(engine_build(&missing, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/quell.txt"));
	/* bad lines are reports, never failures */
	const char *bad = "||ok.example^\n/[unclosed/\nfoo bar\n||x^$frob\n";
	struct lists_source src = {"bad", NULL, bad, strlen(bad)};
	reports = 0;
	struct engine *e = engine_build_ex(&src, 1, count_report, NULL, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(reports, 3);
	assert_int_equal(engine_counts(e)->rejected, 1);
	engine_release(e);
	/* no lists at all is a valid, empty engine */
	e = engine_build(NULL, 0, err, sizeof(err));
	assert_non_null(e);
	struct netfilter_verdict v;
	assert_int_equal(engine_match(e, "https://a.example/", LISTS_T_SCRIPT, NULL, &v), NETFILTER_ALLOW);
	engine_release(e);
}

static void test_save_load(void **state)
{
	char path[] = "/tmp/quell-test-engine-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct engine *e = two_lists();
	char err[256];
	assert_int_equal(engine_save(e, path, err, sizeof(err)), 0);
	size_t size = engine_size(e);
	engine_release(e);
	e = engine_load(path, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(engine_size(e), size);
	expect_verdicts(e);
	engine_release(e);

	/* truncated, corrupted and foreign files are refused with a reason */
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	fputc('X', f);
	fclose(f);
	assert_null(engine_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a quell snapshot"));
	assert_int_equal(truncate(path, (off_t)size / 2), 0);
	assert_null(engine_load(path, err, sizeof(err)));
	assert_null(engine_load("/nonexistent/quell.snap", err, sizeof(err)));
	unlink(path);
}

static void test_corrupt_body(void **state)
{
	/* flip bytes all over a valid snapshot: loading fails or yields an
	 * engine that still answers (no crash, no out-of-bounds read) */
	char path[] = "/tmp/quell-test-engine-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	struct engine *e = two_lists();
	char err[256];
	assert_int_equal(engine_save(e, path, err, sizeof(err)), 0);
	size_t size = engine_size(e);
	engine_release(e);
	FILE *f = fopen(path, "rb");
	char *orig = malloc(size);
	assert_int_equal(fread(orig, 1, size, f), size);
	fclose(f);
	srand(1234);
	for (int round = 0; round < 200; round++) {
		char *copy = malloc(size);
		memcpy(copy, orig, size);
		size_t at = 64 + (size_t)rand() % (size - 64);
		copy[at] ^= (char)(1 + rand() % 255);
		f = fopen(path, "wb");
		fwrite(copy, 1, size, f);
		fclose(f);
		free(copy);
		e = engine_load(path, err, sizeof(err));
		if (e) {
			struct netfilter_verdict v;
			engine_match(e, "https://ads.example/x.js?utm_source=1", LISTS_T_SCRIPT, "https://p.example/", &v);
			free(v.new_url);
			engine_page_flags(e, "https://news.example/");
			engine_release(e);
		}
	}
	free(orig);
	unlink(path);
}

static int freed;
static void free_attachment(void *p)
{
	freed++;
	free(p);
}

static void test_refs_and_attachment(void **state)
{
	struct engine *e = two_lists();
	assert_ptr_equal(engine_ref(e), e);
	assert_null(engine_attachment(e));
	assert_int_equal(engine_set_attachment(e, malloc(16), free_attachment), 0);
	void *other = malloc(16);
	assert_int_equal(engine_set_attachment(e, other, free_attachment), 1);
	free(other);
	assert_non_null(engine_attachment(e));
	freed = 0;
	engine_release(e);
	assert_int_equal(freed, 0);
	engine_release(e);
	assert_int_equal(freed, 1);
}

static atomic_int stop;
static atomic_long acquired;

static void *reader(void *arg)
{
	for (long i = 0; i < 2000000 && !atomic_load(&stop); i++) {
		struct engine *e = engine_current_acquire();
		if (e) {
			struct netfilter_verdict v;
			if (engine_match(e, "https://ads.example/x.js", LISTS_T_SCRIPT, NULL, &v) != NETFILTER_BLOCK)
				abort();
			engine_release(e);
			atomic_fetch_add(&acquired, 1);
		}
	}
	return NULL;
}

static void test_publish_under_readers(void **state)
{
	assert_null(engine_current_acquire());
	engine_publish(two_lists());
	pthread_t t[3];
	atomic_store(&stop, 0);
	atomic_store(&acquired, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (int i = 0; i < 30; i++) {
		engine_publish(two_lists());   /* each publish frees the one before */
		usleep(1000);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_true(atomic_load(&acquired) > 0);
	struct engine *e = engine_current_acquire();
	assert_non_null(e);
	engine_release(e);
	engine_publish(NULL);
	assert_null(engine_current_acquire());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_corrupt_body),
		cmocka_unit_test(test_refs_and_attachment),
		cmocka_unit_test(test_publish_under_readers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
