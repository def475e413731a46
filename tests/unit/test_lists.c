/* Unit tests for filters/lists: line classes, cosmetic kinds, network options,
 * the preprocessor (!#if/!#else/!#include), hosts files, and the real lists
 * of Debian's webext-ublock-origin-firefox. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filters/cosmetic_rule.h"
#include "filters/lists.h"

static int cls(const char *line, struct lists_rule *r)
{
	return lists_parse_line(line, strlen(line), "t", 1, r);
}

static void test_comments(void **state)
{
	struct lists_rule r;
	assert_int_equal(cls("", &r), LISTS_COMMENT);
	assert_int_equal(cls("   ", &r), LISTS_COMMENT);
	assert_int_equal(cls("! Title: EasyList", &r), LISTS_COMMENT);
	assert_int_equal(cls("[Adblock Plus 2.0]", &r), LISTS_COMMENT);
	assert_int_equal(cls("# a hosts comment", &r), LISTS_COMMENT);
	assert_int_equal(cls("127.0.0.1 localhost", &r), LISTS_COMMENT);
}

static void test_cosmetic_kinds(void **state)
{
	struct lists_rule r;
	assert_int_equal(cls("##.ad-banner", &r), LISTS_COSMETIC);
	assert_int_equal(r.cosm_kind, COSM_CSS);
	assert_int_equal(r.cosm_domains_len, 0);
	assert_int_equal(cls("example.com,~sub.example.com##div#ad", &r), LISTS_COSMETIC);
	assert_memory_equal(r.cosm_domains, "example.com,~sub.example.com", r.cosm_domains_len);
	assert_memory_equal(r.cosm_body, "div#ad", r.cosm_body_len);
	assert_false(r.cosm_exception);
	assert_int_equal(cls("example.*#@#.ad", &r), LISTS_COSMETIC);
	assert_true(r.cosm_exception);
	assert_int_equal(cls("example.com#?#div:has-text(Sponsored)", &r), LISTS_COSMETIC);
	assert_int_equal(r.cosm_kind, COSM_PROCEDURAL);
	assert_int_equal(cls("example.com##div:has-text(Sponsored)", &r), LISTS_COSMETIC);
	assert_int_equal(r.cosm_kind, COSM_PROCEDURAL);
	assert_int_equal(cls("example.com##.x:upward(2)", &r), LISTS_COSMETIC);
	assert_int_equal(r.cosm_kind, COSM_PROCEDURAL);
	assert_int_equal(cls("example.com##.x:style(display: none !important)", &r), LISTS_COSMETIC);
	assert_int_equal(r.cosm_kind, COSM_STYLE);
	assert_int_equal(cls("example.com##^script:has-text(adblock)", &r), LISTS_HTML);
	assert_int_equal(r.cosm_kind, COSM_HTML);
	assert_memory_equal(r.cosm_body, "script:has-text(adblock)", r.cosm_body_len);
	assert_int_equal(cls("example.com$$script[tag-content=\"ads\"]", &r), LISTS_HTML);
	assert_int_equal(r.cosm_kind, COSM_ADG_HTML);
	assert_int_equal(cls("example.com$@$script", &r), LISTS_HTML);
	assert_true(r.cosm_exception);
	assert_int_equal(cls("a.com,b.com>>##.x", &r), LISTS_COSMETIC);
}

static void test_unsupported_and_invalid(void **state)
{
	struct lists_rule r;
	assert_int_equal(cls("example.com##+js(aopr, open)", &r), LISTS_UNSUPPORTED);
	assert_non_null(strstr(r.reason, "scriptlet"));
	assert_int_equal(cls("example.com#%#window.x=1", &r), LISTS_UNSUPPORTED);
	assert_int_equal(cls("example.com#$#body { color: red }", &r), LISTS_UNSUPPORTED);
	assert_int_equal(cls("example.com##^responseheader(location)", &r), LISTS_UNSUPPORTED);
	assert_int_equal(cls("||example.com^$header=via:1.1", &r), LISTS_UNSUPPORTED);   /* header= */
	assert_memory_equal(r.detail, "header=via:1.1", r.detail_len);
	assert_int_equal(cls("||example.com^$frobnicate", &r), LISTS_UNSUPPORTED);
	assert_string_equal(r.reason, "unknown option");
	assert_int_equal(cls("||example.com^$domain=", &r), LISTS_INVALID);
	assert_int_equal(cls("||example.com^$important=1", &r), LISTS_UNSUPPORTED);
	assert_int_equal(cls("foo bar", &r), LISTS_INVALID);
	assert_int_equal(cls("example.com##", &r), LISTS_INVALID);
	assert_int_equal(cls("bad domain!##.x", &r), LISTS_INVALID);
	assert_int_equal(cls("*$~script,~image,~stylesheet,~xmlhttprequest,~subdocument,~object,~ping,~websocket,~font,~media,~other", &r), LISTS_INVALID);
	assert_int_equal(cls("||x.com^$generichide", &r), LISTS_UNSUPPORTED);   /* hide options need @@ */
}

static void test_network_patterns(void **state)
{
	struct lists_rule r;
	assert_int_equal(cls("||ads.example.com^", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_ANCHOR_HOST);
	assert_memory_equal(r.net.pattern, "ads.example.com^", r.net.pattern_len);
	assert_int_equal(r.net.types, LISTS_T_NETWORK);
	assert_int_equal(cls("|https://x.com/a.js|", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_ANCHOR_LEFT);
	assert_true(r.net.flags & LISTS_F_ANCHOR_RIGHT);
	assert_memory_equal(r.net.pattern, "https://x.com/a.js", r.net.pattern_len);
	assert_int_equal(cls("*/ads/*", &r), LISTS_NETWORK);
	assert_memory_equal(r.net.pattern, "/ads/", r.net.pattern_len);
	assert_int_equal(cls("/banner\\d+\\.gif/$image", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_REGEX);
	assert_memory_equal(r.net.pattern, "banner\\d+\\.gif", r.net.pattern_len);
	assert_int_equal(cls("tracker.example.org", &r), LISTS_NETWORK);   /* a plain domain line */
	assert_true(r.net.flags & LISTS_F_HOSTS);
	assert_int_equal(cls("@@||example.com^$script", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_EXCEPTION);
	assert_int_equal(r.net.types, LISTS_T_SCRIPT);
}

static void test_network_options(void **state)
{
	struct lists_rule r;
	assert_int_equal(cls("||x.com^$third-party,script,css,xhr,frame,doc", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_3P);
	assert_int_equal(r.net.types, LISTS_T_SCRIPT | LISTS_T_STYLESHEET | LISTS_T_XHR | LISTS_T_SUBDOCUMENT | LISTS_T_DOCUMENT);
	assert_int_equal(cls("||x.com^$~third-party", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_1P);
	assert_int_equal(cls("||x.com^$1p,~image", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_1P);
	assert_int_equal(r.net.types, LISTS_T_NETWORK & ~(uint32_t)LISTS_T_IMAGE);
	assert_int_equal(cls("||x.com^$all", &r), LISTS_NETWORK);
	assert_int_equal(r.net.types, LISTS_T_ALL);
	assert_int_equal(cls("||x.com^$popup", &r), LISTS_NETWORK);
	assert_int_equal(r.net.types, LISTS_T_POPUP);
	assert_int_equal(cls("/ads/$domain=a.com|~b.a.com|c.*,to=d.com,denyallow=e.com|f.com,important,match-case", &r), LISTS_NETWORK);
	assert_memory_equal(r.net.domains, "a.com|~b.a.com|c.*", r.net.domains_len);
	assert_memory_equal(r.net.to, "d.com", r.net.to_len);
	assert_memory_equal(r.net.denyallow, "e.com|f.com", r.net.denyallow_len);
	assert_true(r.net.flags & LISTS_F_IMPORTANT);
	assert_true(r.net.flags & LISTS_F_MATCH_CASE);
	assert_int_equal(cls("/ads/$from=a.com", &r), LISTS_NETWORK);
	assert_memory_equal(r.net.domains, "a.com", r.net.domains_len);
	assert_int_equal(cls("||x.com/a.js$script,redirect=noopjs:10", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_REDIRECT);
	assert_memory_equal(r.net.value, "noopjs", r.net.value_len);
	assert_int_equal(r.net.priority, 10);
	assert_int_equal(cls("||x.com/a.js$redirect-rule=1x1.gif", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_REDIRECT_RULE);
	assert_int_equal(cls("$removeparam=utm_source", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_REMOVEPARAM);
	assert_int_equal(cls("||x.com^$queryprune=/^utm_/", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_REMOVEPARAM);
	assert_memory_equal(r.net.value, "/^utm_/", r.net.value_len);
	assert_int_equal(cls("||x.com^$csp=script-src 'none'", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_CSP);
	assert_int_equal(cls("||x.com^$badfilter", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_BADFILTER);
	assert_int_equal(cls("@@||x.com^$generichide", &r), LISTS_NETWORK);
	assert_int_equal(r.net.action, LISTS_A_PAGE);
	assert_true(r.net.flags & LISTS_F_GENERICHIDE);
	assert_int_equal(cls("@@||x.com^$ghide,shide,ehide", &r), LISTS_NETWORK);
	assert_true(r.net.flags & LISTS_F_ELEMHIDE);
	assert_true(r.net.flags & LISTS_F_SPECIFICHIDE);
	assert_int_equal(cls("||x.com^$mp4", &r), LISTS_NETWORK);
	assert_int_equal(r.net.types, LISTS_T_MEDIA);
	assert_int_equal(r.net.action, LISTS_A_REDIRECT);
	assert_int_equal(cls("||x.com^$xhr,method=post|PUT", &r), LISTS_NETWORK);
	assert_int_equal(r.net.methods_in, LISTS_M_POST | LISTS_M_PUT);
	assert_int_equal(cls("||x.com^$method=~get", &r), LISTS_NETWORK);
	assert_int_equal(r.net.methods_out, LISTS_M_GET);
	assert_int_equal(cls("||x.com^$method=fetch", &r), LISTS_INVALID);
	assert_int_equal(cls("||x.com^$empty", &r), LISTS_NETWORK);
	assert_memory_equal(r.net.value, "empty", r.net.value_len);
}

static void test_if_eval(void **state)
{
	assert_true(lists_eval_if("ext_ublock", 10));
	assert_false(lists_eval_if("env_firefox", 11));
	assert_false(lists_eval_if("env_mobile", 10));
	assert_true(lists_eval_if("!env_mobile", 11));
	assert_true(lists_eval_if("cap_html_filtering", 18));
	assert_false(lists_eval_if("false", 5));
	assert_false(lists_eval_if("ext_ubol", 8));
	assert_true(lists_eval_if("ext_ublock && !(env_safari || env_chromium)", 43));
	assert_false(lists_eval_if("adguard || env_edge", 19));
	assert_false(lists_eval_if("unknown_token", 13));
}

struct counts { long cls[LISTS_N_CLASSES]; char last_net[128]; char warn[256]; };

static int count_cb(void *arg, const struct lists_rule *r)
{
	struct counts *c = arg;
	c->cls[r->cls]++;
	if (r->cls == LISTS_NETWORK)
		snprintf(c->last_net, sizeof(c->last_net), "%.*s", (int)r->net.pattern_len, r->net.pattern);
	if (r->cls == LISTS_INVALID)
		snprintf(c->warn, sizeof(c->warn), "%s:%u %s", r->file, r->line, r->reason);
	return 0;
}

static void test_preprocessor(void **state)
{
	const char *text =
		"[Adblock Plus 2.0]\n"
		"! comment\n"
		"!#if env_firefox\n"
		"||firefox-only.com^\n"
		"!#else\n"
		"||not-firefox.com^\n"
		"!#endif\n"
		"!#if ext_ublock\n"
		"!#if env_mobile\n"
		"||mobile.com^\n"
		"!#endif\n"
		"||ublock.com^\n"
		"!#endif\n";
	struct lists_source src = {"buf", NULL, text, strlen(text)};
	struct counts c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(lists_parse(&src, count_cb, &c), 13);
	assert_int_equal(c.cls[LISTS_NETWORK], 2);
	assert_string_equal(c.last_net, "ublock.com^");
	/* a byte order mark is not part of the first line */
	const char *bom = "\xef\xbb\xbf[Adblock Plus 2.0]\r\n||bom.example^\r\n";
	struct lists_source s3 = {"bom", NULL, bom, strlen(bom)};
	memset(&c, 0, sizeof(c));
	lists_parse(&s3, count_cb, &c);
	assert_int_equal(c.cls[LISTS_COMMENT], 1);
	assert_int_equal(c.cls[LISTS_NETWORK], 1);
	assert_int_equal(c.cls[LISTS_INVALID], 0);
	/* in a buffer, !#include has no directory to resolve against */
	const char *inc = "!#include other.txt\n";
	struct lists_source s2 = {"buf", NULL, inc, strlen(inc)};
	memset(&c, 0, sizeof(c));
	lists_parse(&s2, count_cb, &c);
	assert_int_equal(c.cls[LISTS_INVALID], 1);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_include(void **state)
{
	char dir[] = "/tmp/quell-test-lists-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char main_path[256], part[256], outside[256];
	snprintf(main_path, sizeof(main_path), "%s/main.txt", dir);
	snprintf(part, sizeof(part), "%s/part.txt", dir);
	snprintf(outside, sizeof(outside), "%s/../quell-outside.txt", dir);
	write_file(main_path, "||a.com^\n!#include part.txt\n!#include ../quell-outside.txt\n!#include /etc/passwd\n||c.com^\n");
	write_file(part, "||b.com^\n##.ad\n");
	struct lists_source src = {"main", main_path, NULL, 0};
	struct counts c;
	memset(&c, 0, sizeof(c));
	assert_true(lists_parse(&src, count_cb, &c) > 0);
	assert_int_equal(c.cls[LISTS_NETWORK], 3);
	assert_int_equal(c.cls[LISTS_COSMETIC], 1);
	assert_int_equal(c.cls[LISTS_INVALID], 2);   /* both escapes refused */
	unlink(main_path);
	unlink(part);
	rmdir(dir);
	struct lists_source missing = {"missing", "/nonexistent/quell/list.txt", NULL, 0};
	assert_int_equal(lists_parse(&missing, count_cb, &c), -1);
}

static void test_hosts_file(void **state)
{
	const char *text =
		"# hosts\n"
		"127.0.0.1 localhost\n"
		"::1 localhost ip6-localhost\n"
		"0.0.0.0 ads.example.com\n"
		"127.0.0.1\ttracker.example.net  # trailing comment\n"
		"0.0.0.0 a.example b.example c.example\n"
		"0.0.0.0 bad_host!\n"
		"plain.example.org\n";
	struct lists_source src = {"hosts", NULL, text, strlen(text)};
	struct counts c;
	memset(&c, 0, sizeof(c));
	lists_parse(&src, count_cb, &c);
	assert_int_equal(c.cls[LISTS_NETWORK], 6);
	assert_int_equal(c.cls[LISTS_INVALID], 1);
	assert_string_equal(c.last_net, "plain.example.org");
}

#define UBO "/usr/share/mozilla/extensions/{ec8030f7-c20a-464f-9b0e-13a3a9e97384}/uBlock0@raymondhill.net/assets/"

/* Real lists: every line lands in a class; counts are data, so loose. */
static void test_real_lists(void **state)
{
	static const struct { const char *path; long min_net, min_cosm, max_invalid; } L[] = {
		{UBO "thirdparties/easylist/easylist.txt", 30000, 15000, 20},
		{UBO "thirdparties/easylist/easyprivacy.txt", 30000, 0, 20},
		{UBO "ublock/filters.min.txt", 3000, 3000, 50},
		{UBO "ublock/privacy.min.txt", 300, 0, 20},
		{UBO "ublock/badware.min.txt", 2000, 0, 20},
	};
	for (size_t i = 0; i < sizeof(L) / sizeof(L[0]); i++) {
		if (access(L[i].path, R_OK) != 0) {
			print_message("skipping %s (make deps installs it)\n", L[i].path);
			continue;
		}
		struct lists_source src = {"real", L[i].path, NULL, 0};
		struct counts c;
		memset(&c, 0, sizeof(c));
		long n = lists_parse(&src, count_cb, &c);
		long sum = 0;
		for (int k = 0; k < LISTS_N_CLASSES; k++)
			sum += c.cls[k];
		assert_true(n > 0);
		assert_true(sum >= n);    /* every line classified (hosts lines may yield more) */
		assert_true(c.cls[LISTS_NETWORK] >= L[i].min_net);
		assert_true(c.cls[LISTS_COSMETIC] >= L[i].min_cosm);
		assert_true(c.cls[LISTS_INVALID] <= L[i].max_invalid);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_cosmetic_kinds),
		cmocka_unit_test(test_unsupported_and_invalid),
		cmocka_unit_test(test_network_patterns),
		cmocka_unit_test(test_network_options),
		cmocka_unit_test(test_if_eval),
		cmocka_unit_test(test_preprocessor),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_hosts_file),
		cmocka_unit_test(test_real_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
