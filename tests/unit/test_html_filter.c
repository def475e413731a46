/*
 * Unit tests for filters/html_filter as a body filter of the chain: the
 * output equals the rewriter's on the whole page (nonce aside) whether the
 * body comes in one piece, 1-byte pieces or random splits (seed printed);
 * long runs of the input go out by reference to the input's own memory,
 * which stays alive until the client's buffer lets go of them (the chain
 * and the filter freed before); and the input held that way per response
 * stays under its bound when the output is never drained.  Lists without
 * any cosmetic rule: the page is declined and passes untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "filters/cosmetic.h"
#include "filters/engine.h"
#include "filters/html_filter.h"
#include "filters/rewriter.h"
#include "proxy/chain.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/http1.h"

#define PIN_MAX (1024 * 1024)   /* HF_PIN_MAX in html_filter.c */

static unsigned seed;
static const char rules[] = "a.test##.ad\n##div.promo\n";

static int setup(void **state)
{
	(void)state;
	char err[256];
	struct lists_source src = { "t", NULL, rules, sizeof rules - 1 };
	struct engine *e = engine_build(&src, 1, err, sizeof err);
	if (!e)
		return -1;
	engine_publish(e);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	engine_publish(NULL);
	return 0;
}

/* A page of n bytes at least: long paragraphs (runs of several KB the
 * rewriter passes through) with an ad and a promo now and then. */
static char *make_page(size_t n, size_t *len)
{
	static const char para[] = "<p class=\"text\">The reservoir fell to its lowest level since "
	                           "records began, and farmers face irrigation cuts.</p>\n";
	size_t cap = n + 4096, off = 0, i = 0;
	char *p = malloc(cap);
	assert_non_null(p);
	off += (size_t)snprintf(p, cap, "<!DOCTYPE html><html><head><title>t</title></head><body>\n");
	while (off < n) {
		const char *piece = para;
		if (i % 97 == 50)
			piece = "<div class=\"ad\"><p>Buy now</p></div>\n";
		else if (i % 131 == 70)
			piece = "<div class=\"promo x\">Subscribe</div>\n";
		size_t k = strlen(piece);
		memcpy(p + off, piece, k);
		off += k;
		i++;
	}
	off += (size_t)snprintf(p + off, cap - off, "</body></html>\n");
	*len = off;
	return p;
}

/* Blanks the 24 characters after each nonce=" so outputs of two
 * rewriters compare. */
static void mask_nonce(char *p, size_t n)
{
	for (char *q = p; (q = memmem(q, n - (size_t)(q - p), "nonce=\"", 7)); q += 7)
		for (size_t k = 7; k < 31 && q + k < p + n; k++)
			q[k] = '#';
}

static int sink_buf(void *arg, const char *p, size_t n)
{
	return evbuffer_add(arg, p, n);
}

/* The rewriter's own output for the page in one piece. */
static char *rewrite_whole(const char *page, size_t n, size_t *len)
{
	struct engine *e = engine_current_acquire();
	assert_non_null(e);
	struct cosmetic_page *cp = cosmetic_page_new(html_filter_index(e), "a.test", 0);
	assert_non_null(cp);
	struct rewriter_opts o = { 0 };
	struct rewriter *rw = rewriter_new(cp, &o);
	assert_non_null(rw);
	struct evbuffer *b = evbuffer_new();
	assert_int_equal(rewriter_feed(rw, page, n, 1, sink_buf, b), 0);
	*len = evbuffer_get_length(b);
	char *out = malloc(*len + 1);
	assert_non_null(out);
	evbuffer_remove(b, out, *len);
	evbuffer_free(b);
	rewriter_free(rw);
	cosmetic_page_free(cp);
	engine_release(e);
	return out;
}

struct run {
	struct evbuffer *out;
	int rc;
};

static int released;              /* pieces of the page let go */

static void page_released(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
	released++;
}

/* Runs page through a chain holding the html filter (HTTP/1.0 client, so
 * no chunk framing), in pieces of step bytes (0: random, up to 16 KiB).
 * The input is a reference to page itself, so output that refers to the
 * input points into page.  drain: empty r.out after each call (the client
 * keeps up).  The chain is freed before returning; r.out is the caller's. */
static struct run run_page(const char *page, size_t n, size_t step, int drain)
{
	struct run r = { evbuffer_new(), 0 };
	released = 0;
	struct headers *h = headers_new();
	struct config cfg;
	config_defaults(&cfg);
	static const struct chain_filter *const table[] = { &chain_html_filter };
	struct chain *c = chain_new_table(table, 1);
	struct chain_msg m = { "http://a.test/", "GET", 200, h, NULL, "text/html", "", 0, 0, NULL, 0, &cfg };
	struct chain_framing f = { HTTP1_BODY_CLOSE, -1, 0 };
	int close = 0;
	assert_int_equal(chain_open(c, &m, &f, &close), 0);
	assert_int_equal(chain_transforms(c), 1);
	struct evbuffer *in = evbuffer_new();
	size_t off = 0;
	while (off < n && r.rc == 0) {
		size_t k = step ? step : 1 + (size_t)rand() % 16384;
		if (k > n - off)
			k = n - off;
		evbuffer_add_reference(in, page + off, k, page_released, NULL);
		off += k;
		r.rc = chain_run(c, in, r.out, 0);
		if (drain)
			evbuffer_drain(r.out, evbuffer_get_length(r.out));
	}
	if (r.rc == 0)
		r.rc = chain_run(c, in, r.out, 1);
	evbuffer_free(in);
	chain_free(c);
	headers_free(h);
	config_free(&cfg);
	return r;
}

/* Bytes of out that lie in page's memory (sent by reference). */
static size_t bytes_in_page(struct evbuffer *out, const char *page, size_t n)
{
	int k = evbuffer_peek(out, -1, NULL, NULL, 0);
	struct evbuffer_iovec *v = calloc((size_t)k + 1, sizeof *v);
	assert_non_null(v);
	evbuffer_peek(out, -1, NULL, v, k);
	size_t in = 0;
	for (int i = 0; i < k; i++) {
		const char *b = v[i].iov_base;
		if (b >= page && b + v[i].iov_len <= page + n)
			in += v[i].iov_len;
	}
	free(v);
	return in;
}

static void expect_output(struct run *r, const char *want, size_t wlen)
{
	assert_int_equal(r->rc, 1);
	size_t n = evbuffer_get_length(r->out);
	char *got = malloc(n + 1);
	assert_non_null(got);
	evbuffer_copyout(r->out, got, n);
	mask_nonce(got, n);
	assert_int_equal(n, wlen);
	assert_memory_equal(got, want, n);
	free(got);
}

static void test_output_any_split(void **state)
{
	(void)state;
	size_t n, wlen;
	char *page = make_page(200 * 1024, &n);
	char *want = rewrite_whole(page, n, &wlen);
	mask_nonce(want, wlen);
	assert_true(wlen < n);                       /* the ads are gone */
	size_t steps[] = { n, 1, 0, 0, 0, 4096, 4095 };
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		struct run r = run_page(page, n, steps[i], 0);
		expect_output(&r, want, wlen);
		if (steps[i] == n)   /* one piece: the long runs went by reference */
			assert_true(bytes_in_page(r.out, page, n) > n / 2);
		if (steps[i] == 1)   /* pieces shorter than a reference: copies */
			assert_int_equal(bytes_in_page(r.out, page, n), 0);
		evbuffer_free(r.out);
	}
	free(want);
	free(page);
}

/* The input stays alive while the output refers to it: the chain and the
 * filter are gone, the client's buffer still holds runs of the page. */
static void test_reference_lifetime(void **state)
{
	(void)state;
	size_t n;
	char *page = make_page(120 * 1024, &n);
	struct run r = run_page(page, n, n, 0);
	assert_int_equal(r.rc, 1);
	assert_true(bytes_in_page(r.out, page, n) > 0);
	assert_int_equal(released, 0);            /* held by the output */
	/* the client sends part of it: the page is still referred to */
	evbuffer_drain(r.out, 1000);
	assert_int_equal(released, 0);
	evbuffer_free(r.out);
	assert_int_equal(released, 1);            /* let go with the last run */
	free(page);
}

/* The output is never drained (a client that does not read): at most
 * PIN_MAX bytes of input are held by references, the rest was copied. */
static void test_pinned_bound(void **state)
{
	(void)state;
	size_t n, wlen;
	char *page = make_page(3 * 1024 * 1024, &n);
	char *want = rewrite_whole(page, n, &wlen);
	mask_nonce(want, wlen);
	struct run r = run_page(page, n, 64 * 1024, 0);
	expect_output(&r, want, wlen);
	size_t ref = bytes_in_page(r.out, page, n);
	assert_true(ref > 0);
	assert_true(ref <= PIN_MAX);
	evbuffer_free(r.out);
	/* a client that keeps up lets every piece go by reference */
	r = run_page(page, n, 64 * 1024, 1);
	assert_int_equal(r.rc, 1);
	assert_int_equal(released, (int)((n + 64 * 1024 - 1) / (64 * 1024)));
	evbuffer_free(r.out);
	free(want);
	free(page);
}

/* Lists with network rules only: the filter declines every page (before
 * asking the page's rules), the body is not transformed. */
static void test_no_cosmetic_rules(void **state)
{
	(void)state;
	static const char net[] = "||ads.example^\n";
	char err[256];
	struct lists_source src = { "n", NULL, net, sizeof net - 1 };
	struct engine *e = engine_build(&src, 1, err, sizeof err);
	assert_non_null(e);
	engine_publish(e);
	struct html_filter_stats before, after;
	html_filter_get_stats(&before);
	struct headers *h = headers_new();
	static const struct chain_filter *const table[] = { &chain_html_filter };
	struct chain *c = chain_new_table(table, 1);
	struct chain_msg m = { "http://a.test/", "GET", 200, h, NULL, "text/html", "", 0, 0, NULL, 0, NULL };
	struct chain_framing f = { HTTP1_BODY_CLOSE, -1, 1 };
	int close = 0;
	assert_int_equal(chain_open(c, &m, &f, &close), 0);
	assert_int_equal(chain_transforms(c), 0);
	html_filter_get_stats(&after);
	assert_int_equal(after.declined, before.declined + 1);
	assert_int_equal(after.pages, before.pages);
	chain_free(c);
	headers_free(h);
	assert_int_equal(setup(NULL), 0);            /* the rules of the other tests */
}

int main(void)
{
	seed = (unsigned)time(NULL);
	printf("seed %u\n", seed);
	srand(seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_output_any_split),
		cmocka_unit_test(test_reference_lifetime),
		cmocka_unit_test(test_pinned_bound),
		cmocka_unit_test(test_no_cosmetic_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
