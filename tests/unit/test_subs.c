/*
 * test_subs: subscriptions and their state, without the network: downloads
 * are handed to subs_apply() as ready-made fetch results.  The updater's
 * snapshot handling (cache, reload, stored copies) is tested here too; its
 * downloads only against a closed port (real ones: tests/e2e).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "filters/engine.h"
#include "filters/fetch.h"
#include "filters/subs.h"
#include "filters/updater.h"
#include "proxy/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/quell-test-subs-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A config with state_dir in a fresh subdirectory and the given list lines. */
static void make_config(struct config *cfg, const char *sub, const char **lines, int n)
{
	char err[512], sd[400];
	assert_int_equal(config_defaults(cfg), 0);
	snprintf(sd, sizeof sd, "%s/%s", dir, sub);
	assert_int_equal(config_set(cfg, "state_dir", sd, "test", 1, err, sizeof err), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(config_set(cfg, "list", lines[i], "test", i + 2, err, sizeof err), 0);
}

static struct subs *open_ok(const struct config *cfg)
{
	char err[512];
	struct subs *s = subs_open(cfg, err, sizeof err);
	if (!s)
		fail_msg("subs_open: %s", err);
	return s;
}

static struct fetch_result *result(int outcome, const char *body, const char *etag)
{
	struct fetch_result *r = calloc(1, sizeof *r);
	r->outcome = outcome;
	r->http_status = outcome == FETCH_OK ? 200 : outcome == FETCH_NOT_MODIFIED ? 304 : 0;
	if (body) {
		r->body = strdup(body);
		r->body_len = strlen(body);
		r->wire_bytes = r->body_len;
	}
	if (etag)
		r->etag = strdup(etag);
	if (outcome == FETCH_ERROR)
		snprintf(r->error, sizeof r->error, "cannot connect to h port 1: Connection refused");
	return r;
}

/* A list of n network rules with a header. */
static char *list_text(int n, const char *title, const char *expires)
{
	size_t cap = 256 + (size_t)n * 40;
	char *b = malloc(cap);
	int off = snprintf(b, cap, "[Adblock Plus 2.0]\n! Title: %s\n! Expires: %s\n", title, expires);
	for (int i = 0; i < n; i++)
		off += snprintf(b + off, cap - (size_t)off, "||ads%d.example^\n", i);
	return b;
}

static void test_catalog(void **state)
{
	(void)state;
	size_t n;
	const struct subs_catalog_entry *c = subs_catalog(&n);
	assert_int_equal(n, 12);
	const char *names[] = { "easylist", "easyprivacy", "ublock-filters", "ublock-privacy",
	                        "ublock-badware", "ublock-unbreak", "peter-lowe", "fanboy-annoyance",
	                        "easylist-cookie", "adguard-annoyances", "stevenblack-hosts", "urlhaus" };
	int defaults = 0;
	for (size_t i = 0; i < 12; i++) {
		const struct subs_catalog_entry *e = subs_catalog_find(names[i]);
		assert_non_null(e);
		assert_true(strncmp(e->url, "https://", 8) == 0);
		assert_ptr_equal(subs_catalog_find(e->url), e);
		defaults += c[i].is_default;
	}
	assert_int_equal(defaults, 5);
	assert_non_null(subs_catalog_find("EasyPrivacy"));
	assert_null(subs_catalog_find("nosuchlist"));
}

static void test_defaults_and_none(void **state)
{
	(void)state;
	struct config cfg;
	make_config(&cfg, "defaults", NULL, 0);
	struct subs *s = open_ok(&cfg);
	assert_int_equal(subs_count(s), 5);
	assert_true(subs_using_defaults(s));
	const char *want[] = { "easylist", "easyprivacy", "ublock-filters", "fanboy-annoyance",
	                       "easylist-cookie" };
	for (int i = 0; i < 5; i++) {
		struct subs_list *l = subs_at(s, i);
		assert_string_equal(l->id, want[i]);
		assert_true(l->is_url && l->is_default);
		assert_string_equal(subs_status(l), "pending");
		assert_true(subs_due(l, time(NULL)));
	}
	assert_true(subs_builtin_only(s));
	subs_free(s);
	config_free(&cfg);

	const char *none[] = { "none" };
	make_config(&cfg, "none", none, 1);
	s = open_ok(&cfg);
	assert_int_equal(subs_count(s), 0);
	assert_false(subs_using_defaults(s));
	subs_free(s);
	config_free(&cfg);
}

static void test_resolving_lines(void **state)
{
	(void)state;
	struct config cfg;
	const char *lines[] = { "easyprivacy", "https://lists.example/path/my-list.txt?x=1",
	                        "https://other.example/a.txt name=Mine every=2h",
	                        "/nonexistent/local.txt" };
	make_config(&cfg, "resolve", lines, 4);
	struct subs *s = open_ok(&cfg);
	assert_int_equal(subs_count(s), 4);
	assert_false(subs_using_defaults(s));
	struct subs_list *l = subs_at(s, 0);
	assert_string_equal(l->source, subs_catalog_find("easyprivacy")->url);
	assert_string_equal(l->name, "easyprivacy");
	l = subs_at(s, 1);
	assert_true(strncmp(l->id, "lists.example-my-list.txt-", 26) == 0);
	assert_int_equal(strlen(l->id), 26 + 8);
	l = subs_at(s, 2);
	assert_string_equal(l->id, "mine");
	assert_string_equal(l->name, "Mine");
	assert_int_equal(l->every_s, 7200);
	assert_int_equal(subs_interval(s, l), 7200);
	l = subs_at(s, 3);
	assert_false(l->is_url);
	assert_string_equal(subs_status(l), "missing");
	assert_false(subs_due(l, time(NULL)));
	assert_ptr_equal(subs_find(s, "MINE"), subs_at(s, 2));
	assert_ptr_equal(subs_find(s, "easyprivacy"), subs_at(s, 0));
	assert_null(subs_find(s, "nothing"));
	subs_free(s);
	config_free(&cfg);
}

static void test_header_and_interval(void **state)
{
	(void)state;
	char title[64];
	long e;
	const char *t1 = "[Adblock Plus 2.0]\n! Version: 1\n! Title: EasyList\n! Expires: 4 days (update frequency)\n||a^\n";
	subs_parse_header(t1, strlen(t1), title, sizeof title, &e);
	assert_string_equal(title, "EasyList");
	assert_int_equal(e, 4 * 86400);
	const char *t2 = "! Expires: 12 hours\r\n! Title: Hosts\r\n0.0.0.0 a.example\n";
	subs_parse_header(t2, strlen(t2), title, sizeof title, &e);
	assert_string_equal(title, "Hosts");
	assert_int_equal(e, 12 * 3600);
	/* metadata after the first rule is not header */
	const char *t3 = "||a^\n! Title: Late\n! Expires: 1 day\n";
	subs_parse_header(t3, strlen(t3), title, sizeof title, &e);
	assert_string_equal(title, "");
	assert_int_equal(e, 0);
	const char *t4 = "# Title: StevenBlack/hosts\n# Expires: 1 day\n127.0.0.1 localhost\n";
	subs_parse_header(t4, strlen(t4), title, sizeof title, &e);
	assert_string_equal(title, "StevenBlack/hosts");
	assert_int_equal(e, 86400);

	/* clamping: Expires below 1 h and above 14 d */
	struct config cfg;
	const char *lines[] = { "https://x.example/l.txt" };
	make_config(&cfg, "clamp", lines, 1);
	struct subs *s = open_ok(&cfg);
	struct subs_list *l = subs_at(s, 0);
	assert_int_equal(subs_interval(s, l), 86400);          /* update_interval default */
	l->st.expires_s = 60;
	assert_int_equal(subs_interval(s, l), SUBS_EXPIRES_MIN);
	l->st.expires_s = 30 * 86400;
	assert_int_equal(subs_interval(s, l), SUBS_EXPIRES_MAX);
	l->st.expires_s = 5 * 3600;
	assert_int_equal(subs_interval(s, l), 5 * 3600);
	subs_free(s);
	config_free(&cfg);
}

static void test_html_and_counting(void **state)
{
	(void)state;
	const char *html = "\n  <!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>\n";
	assert_true(subs_looks_like_html(html, strlen(html)));
	const char *h2 = "<html>\n<body>oops</body></html>";
	assert_true(subs_looks_like_html(h2, strlen(h2)));
	const char *list = "! Title: x\n||ads.example^\nexample.com##.banner\n! comment\n\n";
	assert_false(subs_looks_like_html(list, strlen(list)));
	assert_int_equal(subs_count_rules(list, strlen(list), "t"), 2);
	const char *hosts = "# hosts\n0.0.0.0 a.example\n127.0.0.1 b.example\n";
	assert_int_equal(subs_count_rules(hosts, strlen(hosts), "t"), 2);
	const char *empty = "! only comments\n! here\n";
	assert_int_equal(subs_count_rules(empty, strlen(empty), "t"), 0);
}

static void test_include_names(void **state)
{
	(void)state;
	const char *t = "! Title: x\n!#include part-1.txt\n||a^\n!#if env_mobile\n"
	                "!#include sub/part-2.txt \r\n!#endif\n!#include ../escape.txt\n"
	                "!#include /etc/passwd\n!#include http://evil.example/x.txt\n"
	                "!#include part-1.txt\n!#includefoo\n";
	char *names[8];
	int n = subs_include_names(t, strlen(t), names, 8);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "part-1.txt");
	assert_string_equal(names[1], "sub/part-2.txt");
	for (int i = 0; i < n; i++)
		free(names[i]);
	assert_int_equal(subs_include_names(t, strlen(t), names, 1), 1);
	free(names[0]);
}

static void test_write_atomic(void **state)
{
	(void)state;
	char path[400];
	snprintf(path, sizeof path, "%s/atomic.txt", dir);
	assert_int_equal(subs_write_atomic(path, "one\n", 4), 0);
	assert_int_equal(subs_write_atomic(path, "two!\n", 5), 0);
	FILE *f = fopen(path, "r");
	char buf[16] = "";
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	assert_string_equal(buf, "two!\n");
	/* no temp file left beside it */
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)))
		assert_null(strstr(e->d_name, ".tmp."));
	closedir(d);
	assert_int_equal(subs_write_atomic("/nonexistent-dir/x", "a", 1), -1);
}

/* The whole life of one list: first download, 304, same content, changed,
 * HTML page, shrink, force, errors with backoff; state survives reopening. */
static void test_update_lifecycle(void **state)
{
	(void)state;
	struct config cfg;
	const char *lines[] = { "https://lists.example/l.txt" };
	make_config(&cfg, "life", lines, 1);
	struct subs *s = open_ok(&cfg);
	struct subs_list *l = subs_at(s, 0);
	struct fetch_opts fo;
	char msg[512];
	time_t now = 1800000000;

	subs_fetch_opts(s, l, &fo);
	assert_null(fo.if_none_match);              /* nothing stored yet */
	assert_int_equal(fo.max_size, 32u << 20);
	assert_int_equal(fo.timeout_ms, 60000);
	assert_int_equal(fo.max_redirects, 5);

	/* 1: first download */
	char *v1 = list_text(100, "My List", "6 hours");
	struct fetch_result *r = result(FETCH_OK, v1, "\"e1\"");
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_CHANGED);
	fetch_result_free(r);
	assert_string_equal(l->name, "My List");    /* ! Title: names it */
	assert_string_equal(subs_status(l), "ok");
	assert_int_equal(l->st.rules, 100);
	assert_int_equal(l->st.next_update, now + 6 * 3600);
	assert_false(subs_builtin_only(s));
	assert_false(subs_due(l, now + 60));
	assert_true(subs_due(l, now + 6 * 3600));

	/* state survives a reopen */
	subs_free(s);
	s = open_ok(&cfg);
	l = subs_at(s, 0);
	assert_string_equal(l->st.etag, "\"e1\"");
	assert_int_equal(l->st.rules, 100);
	assert_int_equal(l->st.last_update, now);
	assert_string_equal(l->name, "My List");
	subs_fetch_opts(s, l, &fo);
	assert_string_equal(fo.if_none_match, "\"e1\"");

	/* 2: 304 */
	now += 7 * 3600;
	r = result(FETCH_NOT_MODIFIED, NULL, NULL);
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_UNCHANGED);
	fetch_result_free(r);
	assert_int_equal(l->st.last_update, now);
	assert_int_equal(l->st.rules, 100);

	/* 3: 200 with the same bytes */
	r = result(FETCH_OK, v1, "\"e1\"");
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_UNCHANGED);
	fetch_result_free(r);

	/* 4: an HTML error page: rejected, last good copy kept */
	r = result(FETCH_OK, "<!DOCTYPE html><html><body>Service unavailable</body></html>", NULL);
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_FAILED);
	fetch_result_free(r);
	assert_non_null(strstr(msg, "HTML"));
	assert_string_equal(subs_status(l), "stale");
	assert_non_null(l->st.last_error);
	assert_int_equal(l->st.rules, 100);
	assert_int_equal(l->st.next_update, now + 600);   /* first retry after 10 min */
	FILE *f = fopen(l->path, "r");
	char first[64];
	assert_non_null(fgets(first, sizeof first, f));
	fclose(f);
	assert_string_equal(first, "[Adblock Plus 2.0]\n");

	/* 5: shrinks by more than half: rejected, then forced */
	char *v2 = list_text(40, "My List", "6 hours");
	r = result(FETCH_OK, v2, "\"e2\"");
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_FAILED);
	assert_non_null(strstr(msg, "shrank from 100 to 40"));
	assert_int_equal(l->st.failures, 2);
	assert_int_equal(l->st.next_update, now + 1200);  /* backoff doubles */
	assert_int_equal(subs_apply(s, l, r, 1, now, msg, sizeof msg), SUBS_CHANGED);
	fetch_result_free(r);
	assert_int_equal(l->st.rules, 40);
	assert_null(l->st.last_error);
	assert_int_equal(l->st.failures, 0);

	/* 6: no rules at all */
	r = result(FETCH_OK, "! Title: x\n! nothing\n", NULL);
	assert_int_equal(subs_apply(s, l, r, 1, now, msg, sizeof msg), SUBS_FAILED);
	fetch_result_free(r);
	assert_non_null(strstr(msg, "no rules"));

	/* 7: a network error */
	r = result(FETCH_ERROR, NULL, NULL);
	assert_int_equal(subs_apply(s, l, r, 0, now, msg, sizeof msg), SUBS_FAILED);
	fetch_result_free(r);
	assert_non_null(strstr(l->st.last_error, "Connection refused"));
	assert_int_equal(l->st.rules, 40);
	/* backoff never beyond the list's own interval */
	for (int i = 0; i < 10; i++) {
		r = result(FETCH_ERROR, NULL, NULL);
		subs_apply(s, l, r, 0, now, msg, sizeof msg);
		fetch_result_free(r);
	}
	assert_int_equal(l->st.next_update, now + 6 * 3600);

	/* 8: every= wins over Expires; name= over Title */
	subs_free(s);
	config_free(&cfg);
	const char *named[] = { "https://lists.example/l.txt name=l every=1h" };
	make_config(&cfg, "life", named, 1);
	s = open_ok(&cfg);
	l = subs_at(s, 0);
	assert_string_equal(l->name, "l");
	assert_int_equal(subs_interval(s, l), 3600);
	subs_free(s);
	config_free(&cfg);
	free(v1);
	free(v2);
}

static void test_304_without_copy_fails(void **state)
{
	(void)state;
	struct config cfg;
	const char *lines[] = { "https://lists.example/nocopy.txt" };
	make_config(&cfg, "nocopy", lines, 1);
	struct subs *s = open_ok(&cfg);
	struct subs_list *l = subs_at(s, 0);
	char msg[256];
	struct fetch_result *r = result(FETCH_NOT_MODIFIED, NULL, NULL);
	assert_int_equal(subs_apply(s, l, r, 0, 1000, msg, sizeof msg), SUBS_FAILED);
	fetch_result_free(r);
	assert_string_equal(subs_status(l), "failing");
	assert_true(subs_builtin_only(s));
	subs_free(s);
	config_free(&cfg);
}

static void test_local_list(void **state)
{
	(void)state;
	char path[400], line[500];
	snprintf(path, sizeof path, "%s/mine.txt", dir);
	assert_int_equal(subs_write_atomic(path, "! Title: Mine\n||a.example^\n||b.example^\n", 40), 0);
	snprintf(line, sizeof line, "%s", path);
	const char *lines[] = { line };
	struct config cfg;
	make_config(&cfg, "local", lines, 1);
	struct subs *s = open_ok(&cfg);
	struct subs_list *l = subs_at(s, 0);
	assert_false(l->is_url);
	assert_string_equal(subs_status(l), "local");
	assert_int_equal(l->st.rules, 2);
	assert_string_equal(l->name, "Mine");
	assert_false(subs_builtin_only(s));
	subs_free(s);
	config_free(&cfg);
}

/* ---- the updater (filters/updater.h) over local lists and stored copies ---- */

static int blocks(struct engine *e, const char *url)
{
	struct netfilter_verdict v;
	memset(&v, 0, sizeof v);
	int a = engine_match(e, url, LISTS_T_SCRIPT, "http://page.example/", &v);
	free(v.new_url);
	return a == NETFILTER_BLOCK;
}

static int current_blocks(const char *url)
{
	struct engine *e = engine_current_acquire();
	assert_non_null(e);
	int b = blocks(e, url);
	engine_release(e);
	return b;
}

static void write_list(const char *path, const char *text, time_t mtime)
{
	assert_int_equal(subs_write_atomic(path, text, strlen(text)), 0);
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_updater_cache_and_reload(void **state)
{
	(void)state;
	char path[400], line[420], summary[256];
	snprintf(path, sizeof path, "%s/upd-local.txt", dir);
	write_list(path, "! Title: Local\n||one.example^\n", 1700000000);
	snprintf(line, sizeof line, "%s", path);
	const char *lines[] = { line };
	struct config cfg;
	make_config(&cfg, "upd", lines, 1);
	char err[512];
	struct updater *u = updater_new(&cfg, err, sizeof err);
	if (!u)
		fail_msg("updater_new: %s", err);
	assert_ptr_equal(updater_current(), u);
	assert_true(current_blocks("http://one.example/ad.js"));
	assert_false(current_blocks("http://two.example/ad.js"));
	struct updater_list_status *st;
	assert_int_equal(updater_status(u, &st, summary, sizeof summary), 1);
	assert_string_equal(st[0].name, "Local");
	assert_int_equal(st[0].rules, 1);
	assert_string_equal(st[0].status, "local");
	free(st);
	assert_non_null(strstr(summary, "compiled in"));
	updater_free(u);
	assert_null(updater_current());

	/* unchanged inputs: the cached snapshot, no compiling */
	u = updater_new(&cfg, err, sizeof err);
	assert_non_null(u);
	updater_status(u, &st, summary, sizeof summary);
	free(st);
	assert_non_null(strstr(summary, "loaded from the cache"));
	assert_true(current_blocks("http://one.example/ad.js"));

	/* a request in flight keeps its snapshot across a reload */
	struct engine *old = engine_current_acquire();
	write_list(path, "! Title: Local\n||two.example^\n", 1700000100);
	assert_int_equal(updater_reload(u, &cfg, err, sizeof err), 0);
	assert_true(blocks(old, "http://one.example/ad.js"));
	engine_release(old);
	assert_false(current_blocks("http://one.example/ad.js"));
	assert_true(current_blocks("http://two.example/ad.js"));
	updater_status(u, &st, summary, sizeof summary);
	free(st);
	assert_non_null(strstr(summary, "compiled in"));
	updater_free(u);
	config_free(&cfg);
}

static void test_updater_background_failure_is_reported(void **state)
{
	(void)state;
	/* a URL list nobody serves: built-in rules only, then the error */
	const char *lines[] = { "http://127.0.0.1:1/list.txt name=dead" };
	struct config cfg;
	make_config(&cfg, "upd-bg", lines, 1);
	char err[512], summary[256];
	struct updater *u = updater_new(&cfg, err, sizeof err);
	if (!u)
		fail_msg("updater_new: %s", err);
	struct updater_list_status *st;
	updater_status(u, &st, summary, sizeof summary);
	free(st);
	assert_non_null(strstr(summary, "built-in rules only"));
	assert_int_equal(updater_start(u, err, sizeof err), 0);
	int seen = 0;
	for (int i = 0; i < 100 && !seen; i++) {   /* at most 10 s */
		usleep(100000);
		assert_int_equal(updater_status(u, &st, summary, sizeof summary), 1);
		seen = strstr(st[0].last_error, "cannot connect") != NULL;
		if (seen)
			assert_string_equal(st[0].status, "failing");
		free(st);
	}
	assert_true(seen);
	assert_non_null(strstr(summary, "built-in rules only"));
	updater_update_now(u, 0);
	updater_free(u);   /* joins the thread promptly */
	config_free(&cfg);
}

static void test_updater_uses_stored_copies(void **state)
{
	(void)state;
	const char *lines[] = { "https://lists.example/stored.txt name=stored" };
	struct config cfg;
	make_config(&cfg, "upd-stored", lines, 1);
	char err[512], msg[256];
	/* a download recorded earlier (by quell lists update) */
	struct subs *s = open_ok(&cfg);
	struct fetch_result *r = result(FETCH_OK, "! Title: Stored\n||three.example^\n", "\"s1\"");
	assert_int_equal(subs_apply(s, subs_at(s, 0), r, 0, time(NULL), msg, sizeof msg), SUBS_CHANGED);
	fetch_result_free(r);
	subs_free(s);
	struct updater *u = updater_new(&cfg, err, sizeof err);
	if (!u)
		fail_msg("updater_new: %s", err);
	assert_true(current_blocks("http://three.example/x.js"));
	updater_free(u);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_defaults_and_none),
		cmocka_unit_test(test_resolving_lines),
		cmocka_unit_test(test_header_and_interval),
		cmocka_unit_test(test_html_and_counting),
		cmocka_unit_test(test_include_names),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_update_lifecycle),
		cmocka_unit_test(test_304_without_copy_fails),
		cmocka_unit_test(test_local_list),
		cmocka_unit_test(test_updater_cache_and_reload),
		cmocka_unit_test(test_updater_background_failure_is_reported),
		cmocka_unit_test(test_updater_uses_stored_copies),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
