/* Unit tests for filters/netfilter: each pattern feature and option with the
 * semantics of the uBO / ABP documentation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include "filters/lists.h"
#include "filters/netfilter.h"

struct nf {
	struct netfilter *nf;
	void *blob;
};

static int add_cb(void *arg, const struct lists_rule *r)
{
	struct netfilter_builder *b = arg;
	const char *why;
	if (r->cls == LISTS_NETWORK)
		assert_int_equal(netfilter_builder_add(b, r, 0, &why), 0);
	return 0;
}

static struct nf make(const char *rules)
{
	struct netfilter_builder *b = netfilter_builder_new();
	assert_non_null(b);
	struct lists_source src = {"test", NULL, rules, strlen(rules)};
	assert_true(lists_parse(&src, add_cb, b) >= 0);
	struct nf n;
	size_t len;
	assert_int_equal(netfilter_build(b, &n.blob, &len), 0);
	netfilter_builder_free(b);
	n.nf = netfilter_open(n.blob, len);
	assert_non_null(n.nf);
	return n;
}

static void drop(struct nf *n)
{
	netfilter_close(n->nf);
	free(n->blob);
}

/* The verdict's action; the rule text goes to *rule when not NULL. */
static int check(struct nf *n, const char *url, uint32_t type, const char *page, const char **rule)
{
	struct netfilter_verdict v;
	int a = netfilter_match(n->nf, url, strlen(url), type, page, page ? strlen(page) : 0, &v);
	if (rule)
		*rule = v.rule == NETFILTER_NO_RULE ? "" : netfilter_rule_text(n->nf, v.rule);
	free(v.new_url);
	return a;
}

#define S LISTS_T_SCRIPT
#define I LISTS_T_IMAGE
#define D LISTS_T_DOCUMENT
#define P "https://page.example/"
#define BLOCKED(n, u, t, p) assert_int_equal(check(n, u, t, p, NULL), NETFILTER_BLOCK)
#define ALLOWED(n, u, t, p) assert_int_equal(check(n, u, t, p, NULL), NETFILTER_ALLOW)

static void test_host_anchor(void **state)
{
	struct nf n = make("||ads.example.com^\n||cdn.example.net/ads/\n");
	BLOCKED(&n, "https://ads.example.com/x.js", S, P);
	BLOCKED(&n, "https://sub.ads.example.com/x.js", S, P);
	BLOCKED(&n, "http://ads.example.com:8080/", S, P);
	ALLOWED(&n, "https://ads.example.com.evil.net/x.js", S, P);
	ALLOWED(&n, "https://notads.example.com/x.js", S, P);
	ALLOWED(&n, "https://example.com/ads.example.com/", S, P);
	BLOCKED(&n, "https://cdn.example.net/ads/1.png", I, P);
	ALLOWED(&n, "https://cdn.example.net/img/ads/1.png", I, P);
	drop(&n);
}

static void test_anchors_wildcards_separator(void **state)
{
	struct nf n = make("|https://start.example/\n.swf|\n/ad*banner.\nbanner^\n-sponsor-\n");
	BLOCKED(&n, "https://start.example/x", S, P);
	ALLOWED(&n, "http://x.com/?u=https://start.example/", S, P);
	BLOCKED(&n, "https://x.com/movie.swf", S, P);
	ALLOWED(&n, "https://x.com/movie.swf?x", S, P);
	BLOCKED(&n, "https://x.com/ad/big/banner.png", I, P);
	ALLOWED(&n, "https://x.com/banner.png/ad", I, P);
	BLOCKED(&n, "https://x.com/banner/1", I, P);
	BLOCKED(&n, "https://x.com/banner?x", I, P);
	BLOCKED(&n, "https://x.com/a/banner", I, P);      /* '^' matches the end */
	ALLOWED(&n, "https://x.com/bannerx", I, P);
	ALLOWED(&n, "https://x.com/banner-x", I, P);      /* '-' is no separator */
	BLOCKED(&n, "https://x.com/top-sponsor-1.gif", I, P);
	BLOCKED(&n, "https://X.COM/TOP-SPONSOR-1.GIF", I, P);   /* case-insensitive */
	drop(&n);
}

static void test_exception_and_important(void **state)
{
	struct nf n = make("||ads.example.com^\n@@||ads.example.com/ok/\n||track.example^$important\n@@||track.example^\n");
	const char *rule;
	BLOCKED(&n, "https://ads.example.com/x", S, P);
	assert_int_equal(check(&n, "https://ads.example.com/ok/x", S, P, &rule), NETFILTER_ALLOW);
	assert_string_equal(rule, "@@||ads.example.com/ok/");
	struct netfilter_verdict v;
	netfilter_match(n.nf, "https://ads.example.com/ok/x", 28, S, P, strlen(P), &v);
	assert_int_equal(v.matched, 2);
	assert_int_equal(check(&n, "https://track.example/p", S, P, &rule), NETFILTER_BLOCK);
	assert_string_equal(rule, "||track.example^$important");
	drop(&n);
}

static void test_party(void **state)
{
	struct nf n = make("||cdn.example^$third-party\n||self.example^$1p\n||strict.example^$strict3p\n");
	BLOCKED(&n, "https://cdn.example/a.js", S, "https://news.site/");
	ALLOWED(&n, "https://cdn.example/a.js", S, "https://www.cdn.example/");   /* same registrable domain */
	BLOCKED(&n, "https://self.example/a.js", S, "https://www.self.example/");
	ALLOWED(&n, "https://self.example/a.js", S, "https://other.site/");
	BLOCKED(&n, "https://a.strict.example/x", S, "https://b.strict.example/");   /* other host name */
	ALLOWED(&n, "https://a.strict.example/x", S, "https://a.strict.example/");
	/* registrable domains follow the public suffix list */
	struct nf m = make("||host.co.uk^$third-party\n");
	ALLOWED(&m, "https://a.host.co.uk/x", S, "https://b.host.co.uk/");
	BLOCKED(&m, "https://a.host.co.uk/x", S, "https://other.co.uk/");
	drop(&n);
	drop(&m);
}

static void test_types(void **state)
{
	struct nf n = make("/ads/$script\n/pix/$~image\n||doc.example^$document\n/frames/$subdocument\n||pure.example^\n/path/only\n||all.example^$all\n/pop/$popup\n");
	BLOCKED(&n, "https://x.com/ads/a.js", S, P);
	ALLOWED(&n, "https://x.com/ads/a.png", I, P);
	ALLOWED(&n, "https://x.com/pix/a.png", I, P);
	BLOCKED(&n, "https://x.com/pix/a.js", S, P);
	BLOCKED(&n, "https://doc.example/", D, NULL);
	ALLOWED(&n, "https://doc.example/a.js", S, P);
	BLOCKED(&n, "https://x.com/frames/f.html", LISTS_T_SUBDOCUMENT, P);
	BLOCKED(&n, "https://pure.example/", D, NULL);        /* uBO strict blocking */
	ALLOWED(&n, "https://x.com/path/only", D, NULL);     /* no type: not documents */
	BLOCKED(&n, "https://x.com/path/only", S, P);
	BLOCKED(&n, "https://all.example/", D, NULL);
	ALLOWED(&n, "https://x.com/pop/", S, P);             /* popup: parsed, never a request */
	ALLOWED(&n, "https://x.com/pop/", D, NULL);
	drop(&n);
}

static void test_domain_options(void **state)
{
	struct nf n = make("/ads/$domain=a.com|~b.a.com\n/ent/$domain=example.*\n/neg/$domain=~c.com\n"
	                   "*$script,domain=onlyhere.com\n/to/$to=t.com|~x.t.com\n||cdn.net^$denyallow=ok.cdn.net|fine.*\n"
	                   "*$image,domain=shop.*\n");
	BLOCKED(&n, "https://x.net/ads/1", S, "https://a.com/");
	BLOCKED(&n, "https://x.net/ads/1", S, "https://www.a.com/");
	ALLOWED(&n, "https://x.net/ads/1", S, "https://b.a.com/");
	ALLOWED(&n, "https://x.net/ads/1", S, "https://aa.com/");
	BLOCKED(&n, "https://x.net/ent/1", S, "https://www.example.co.uk/");
	BLOCKED(&n, "https://x.net/ent/1", S, "https://example.de/");
	ALLOWED(&n, "https://x.net/ent/1", S, "https://example.notes.com/x");   /* "example" is not the site's name */
	ALLOWED(&n, "https://x.net/ent/1", S, "https://myexample.com/");
	BLOCKED(&n, "https://x.net/neg/1", S, "https://d.com/");
	ALLOWED(&n, "https://x.net/neg/1", S, "https://c.com/");
	BLOCKED(&n, "https://any.net/lib.js", S, "https://onlyhere.com/");
	ALLOWED(&n, "https://any.net/lib.js", S, "https://elsewhere.com/");
	BLOCKED(&n, "https://t.com/to/1", S, P);
	BLOCKED(&n, "https://a.t.com/to/1", S, P);
	ALLOWED(&n, "https://x.t.com/to/1", S, P);
	ALLOWED(&n, "https://u.com/to/1", S, P);
	BLOCKED(&n, "https://any.net/p.png", I, "https://www.shop.co.uk/");   /* token-less, by entity */
	ALLOWED(&n, "https://any.net/p.png", I, "https://shopping.com/");
	BLOCKED(&n, "https://cdn.net/x", S, P);
	ALLOWED(&n, "https://ok.cdn.net/x", S, P);
	drop(&n);
}

static void test_match_case_regex_badfilter(void **state)
{
	struct nf n = make("/AdFrame/$match-case\n/\\/ad[0-9]+\\.js$/\n||bad.example^\n||bad.example^$badfilter\n"
	                   "/(a+)+$/\n");
	BLOCKED(&n, "https://x.com/AdFrame/1", S, P);
	ALLOWED(&n, "https://x.com/adframe/1", S, P);
	BLOCKED(&n, "https://x.com/ad123.js", S, P);
	BLOCKED(&n, "https://x.com/AD123.JS", S, P);          /* regexes are case-insensitive */
	ALLOWED(&n, "https://x.com/ad.js", S, P);
	ALLOWED(&n, "https://bad.example/x", S, P);
	assert_int_equal(netfilter_badfiltered(n.nf), 1);
	/* a catastrophic regex is cut short by PCRE2's match limit */
	char url[200];
	snprintf(url, sizeof(url), "https://x.com/%0120d!", 0);
	for (char *p = url + 14; *p == '0'; p++)
		*p = 'a';
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	check(&n, url, S, P, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms < 200);
	drop(&n);
}

static void test_redirect(void **state)
{
	struct nf n = make("||ads.example/a.js$script,redirect=noopjs\n||ads.example/b.js$script\n"
	                   "||ads.example^$script,redirect-rule=noop.js:5\n||other.example/c.js$redirect-rule=noopjs\n"
	                   "||ads.example/p.js$script,redirect=noopjs\n@@||ads.example/p.js$redirect\n");
	struct netfilter_verdict v;
	netfilter_match(n.nf, "https://ads.example/a.js", 24, S, P, strlen(P), &v);
	assert_int_equal(v.action, NETFILTER_REDIRECT);
	assert_string_equal(v.resource, "noop.js");   /* the priority-5 directive wins */
	netfilter_match(n.nf, "https://ads.example/b.js", 24, S, P, strlen(P), &v);
	assert_int_equal(v.action, NETFILTER_REDIRECT);   /* redirect-rule= applies once blocked */
	assert_string_equal(v.resource, "noop.js");
	ALLOWED(&n, "https://other.example/c.js", S, P);  /* redirect-rule= alone never blocks */
	netfilter_match(n.nf, "https://ads.example/p.js", 24, S, P, strlen(P), &v);
	assert_int_equal(v.action, NETFILTER_BLOCK);      /* redirect disabled, block stays */
	drop(&n);
}

static void test_removeparam(void **state)
{
	struct nf n = make("$removeparam=utm_source\n||x.com^$removeparam=/^fbclid=/\n||all.example^$removeparam\n"
	                   "@@||keep.example^$removeparam=utm_source\n");
	struct netfilter_verdict v;
	const char *u = "https://site.example/p?a=1&utm_source=news&b=2#top";
	netfilter_match(n.nf, u, strlen(u), D, NULL, 0, &v);
	assert_int_equal(v.action, NETFILTER_REMOVEPARAM);
	assert_string_equal(v.new_url, "https://site.example/p?a=1&b=2#top");
	assert_string_equal(netfilter_rule_text(n.nf, v.rule), "$removeparam=utm_source");
	free(v.new_url);
	u = "https://x.com/?fbclid=abc&utm_source=y";
	netfilter_match(n.nf, u, strlen(u), S, P, strlen(P), &v);
	assert_string_equal(v.new_url, "https://x.com/");
	free(v.new_url);
	u = "https://all.example/?a=1&b=2";
	netfilter_match(n.nf, u, strlen(u), D, NULL, 0, &v);
	assert_string_equal(v.new_url, "https://all.example/");
	free(v.new_url);
	u = "https://keep.example/?utm_source=z";
	netfilter_match(n.nf, u, strlen(u), D, NULL, 0, &v);
	assert_int_equal(v.action, NETFILTER_ALLOW);
	u = "https://site.example/?utm_sourcex=1";
	netfilter_match(n.nf, u, strlen(u), D, NULL, 0, &v);
	assert_int_equal(v.action, NETFILTER_ALLOW);
	drop(&n);
}

static void test_csp(void **state)
{
	struct nf n = make("||csp.example^$csp=script-src 'none'\n||csp.example^$csp=worker-src 'none'\n"
	                   "@@||csp.example/ok^$csp\n@@||csp.example/w^$csp=worker-src 'none'\n");
	struct netfilter_verdict v;
	netfilter_match(n.nf, "https://csp.example/", 20, D, NULL, 0, &v);
	assert_int_equal(v.action, NETFILTER_CSP);
	assert_non_null(strstr(v.csp, "script-src 'none'"));
	assert_non_null(strstr(v.csp, "worker-src 'none'"));
	netfilter_match(n.nf, "https://csp.example/ok", 22, D, NULL, 0, &v);
	assert_int_equal(v.action, NETFILTER_ALLOW);
	netfilter_match(n.nf, "https://csp.example/w", 21, D, NULL, 0, &v);
	assert_string_equal(v.csp, "script-src 'none'");
	netfilter_match(n.nf, "https://csp.example/a.js", 24, S, P, strlen(P), &v);
	assert_int_equal(v.action, NETFILTER_ALLOW);      /* csp only for documents */
	drop(&n);
}

static void test_page_flags(void **state)
{
	struct nf n = make("@@||news.example^$generichide\n@@||shop.example^$elemhide\n@@||trusted.example^$document\n"
	                   "@@||spec.example^$specifichide\n||trusted.example/ads/\n");
	uint32_t rule;
	assert_int_equal(netfilter_page_flags(n.nf, "https://news.example/a", 22, &rule), NETFILTER_PAGE_GENERICHIDE);
	assert_string_equal(netfilter_rule_text(n.nf, rule), "@@||news.example^$generichide");
	assert_int_equal(netfilter_page_flags(n.nf, "https://www.shop.example/", 25, NULL), NETFILTER_PAGE_ELEMHIDE);
	assert_int_equal(netfilter_page_flags(n.nf, "https://trusted.example/", 24, NULL), NETFILTER_PAGE_DOCUMENT);
	assert_int_equal(netfilter_page_flags(n.nf, "https://spec.example/", 21, NULL), NETFILTER_PAGE_SPECIFICHIDE);
	assert_int_equal(netfilter_page_flags(n.nf, "https://other.example/", 22, &rule), 0);
	assert_int_equal(rule, NETFILTER_NO_RULE);
	/* hide exceptions do not unblock requests */
	BLOCKED(&n, "https://trusted.example/ads/x.js", S, P);
	drop(&n);
}

static void test_method(void **state)
{
	struct nf n = make("||api.example/log$xhr,method=post\n||api.example/get$method=~get\n");
	struct netfilter_verdict v;
	const char *u = "https://api.example/log";
	assert_int_equal(netfilter_match_method(n.nf, u, strlen(u), LISTS_T_XHR, LISTS_M_POST, P, strlen(P), &v),
	                 NETFILTER_BLOCK);
	assert_int_equal(netfilter_match_method(n.nf, u, strlen(u), LISTS_T_XHR, LISTS_M_GET, P, strlen(P), &v),
	                 NETFILTER_ALLOW);
	ALLOWED(&n, u, LISTS_T_XHR, P);   /* method unknown: method= rules never apply */
	u = "https://api.example/get";
	assert_int_equal(netfilter_match_method(n.nf, u, strlen(u), LISTS_T_XHR, LISTS_M_PUT, P, strlen(P), &v),
	                 NETFILTER_BLOCK);
	assert_int_equal(netfilter_match_method(n.nf, u, strlen(u), LISTS_T_XHR, LISTS_M_GET, P, strlen(P), &v),
	                 NETFILTER_ALLOW);
	drop(&n);
}

static void test_hosts_and_plain_domains(void **state)
{
	struct nf n = make("0.0.0.0 tracker.example\n127.0.0.1 a.example b.example\nplain.example\n");
	BLOCKED(&n, "https://tracker.example/p", I, P);
	BLOCKED(&n, "https://x.b.example/p", I, P);
	BLOCKED(&n, "https://plain.example/", D, NULL);
	ALLOWED(&n, "https://other.example/plain.example", I, P);
	drop(&n);
}

static void *thread_match(void *arg)
{
	struct nf *n = arg;
	const char *u = "https://x.com/ad42.js?utm_source=a";
	struct netfilter_verdict v;
	int a = netfilter_match(n->nf, u, strlen(u), S, P, strlen(P), &v);
	free(v.new_url);
	return (void *)(intptr_t)a;
}

/* Regex state is per thread and goes away with the thread (the sanitizer
 * build reports a leak otherwise). */
static void test_regex_in_threads(void **state)
{
	struct nf n = make("/\\/ad[0-9]+\\.js/\n$removeparam=/^utm_/\n");
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		void *rv;
		assert_int_equal(pthread_create(&t, NULL, thread_match, &n), 0);
		assert_int_equal(pthread_join(t, &rv), 0);
		assert_int_equal((intptr_t)rv, NETFILTER_BLOCK);
	}
	drop(&n);
}

static void test_bad_blob(void **state)
{
	struct nf n = make("||a.example^\n");
	char junk[64] __attribute__((aligned(8)));
	memset(junk, 0, sizeof(junk));
	assert_null(netfilter_open(junk, sizeof(junk)));
	assert_null(netfilter_open(n.blob, 10));
	drop(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_anchor),
		cmocka_unit_test(test_anchors_wildcards_separator),
		cmocka_unit_test(test_exception_and_important),
		cmocka_unit_test(test_party),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_domain_options),
		cmocka_unit_test(test_match_case_regex_badfilter),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_removeparam),
		cmocka_unit_test(test_csp),
		cmocka_unit_test(test_page_flags),
		cmocka_unit_test(test_method),
		cmocka_unit_test(test_hosts_and_plain_domains),
		cmocka_unit_test(test_regex_in_threads),
		cmocka_unit_test(test_bad_blob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
