/*
 * Unit tests for proxy/chain: the origin's framing removed and the client's
 * written (Content-Length passthrough, chunked with trailers, close-delimited
 * to HTTP/1.0 and re-chunked for HTTP/1.1), truncation and framing errors,
 * a content filter fed one chunk, 1-byte chunks and random splits (seed
 * printed), decoding for clients that do not accept the encoding, and the
 * per-run output bound.
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
#include <zlib.h>

#include "proxy/chain.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/http1.h"

static unsigned seed;

/* A content filter for the tests: upper-cases "ab" pairs, holding back a
 * trailing 'a' (so it keeps state across splits, like a split tag). */
struct upper { int held; };

static int up_open(const struct chain_msg *m, void **state)
{
	if (strcmp(m->content_type, "text/html") != 0)
		return CHAIN_DECLINE;
	*state = calloc(1, sizeof(struct upper));
	return *state ? CHAIN_ACCEPT : CHAIN_ERROR;
}

static int up_process(void *state, struct evbuffer *src, struct evbuffer *dst, int last)
{
	struct upper *u = state;
	size_t n = evbuffer_get_length(src);
	char *p = (char *)evbuffer_pullup(src, -1);
	for (size_t i = 0; i < n; i++) {
		if (u->held) {
			u->held = 0;
			evbuffer_add(dst, p[i] == 'b' ? "AB" : "a", p[i] == 'b' ? 2 : 1);
			if (p[i] != 'b')
				i--;
			continue;
		}
		if (p[i] == 'a')
			u->held = 1;
		else
			evbuffer_add(dst, &p[i], 1);
	}
	evbuffer_drain(src, n);
	if (u->held && last) {
		evbuffer_add(dst, "a", 1);
		u->held = 0;
	}
	return u->held ? CHAIN_NEED_MORE : CHAIN_OK;
}

static void up_close(void *state) { free(state); }

static const struct chain_filter upper = { "upper", CHAIN_F_CONTENT | CHAIN_F_PLAIN,
                                           up_open, up_process, up_close };
static const struct chain_filter *const table[] = { &upper };

struct run {
	struct headers *h;
	struct evbuffer *out;
	int client_close;
	int rc;
};

/* Runs body through a chain in pieces of size step (0: random sizes). */
static struct run run_chain(const char *type, const char *enc, const char *ae, int body,
                            int64_t len, int minor, const char *input, size_t n, size_t step)
{
	struct run r = { headers_new(), evbuffer_new(), 0, 0 };
	struct config cfg;
	config_defaults(&cfg);
	struct chain *c = chain_new_table(table, 1);
	struct chain_msg m = { "http://a.test/", "GET", 200, r.h, NULL, type, enc ? enc : "",
	                       0, ae && strstr(ae, "gzip"), ae, 0, &cfg };
	struct chain_framing f = { body, len, minor };
	if (len >= 0)
		headers_add_str(r.h, "Content-Length", "x");
	if (enc)
		headers_add_str(r.h, "Content-Encoding", enc);
	assert_int_equal(chain_open(c, &m, &f, &r.client_close), 0);
	struct evbuffer *in = evbuffer_new();
	size_t off = 0;
	r.rc = 0;
	while (off < n && r.rc == 0) {
		size_t k = step ? step : 1 + (size_t)rand() % 97;
		if (k > n - off)
			k = n - off;
		evbuffer_add(in, input + off, k);
		off += k;
		r.rc = chain_run(c, in, r.out, 0);
		for (int i = 0; i < 100 && r.rc == 0 && chain_pending(c); i++)
			r.rc = chain_run(c, in, r.out, 0);
	}
	if (r.rc == 0)
		r.rc = chain_run(c, in, r.out, body == HTTP1_BODY_CLOSE || 1);
	for (int i = 0; i < 1000 && r.rc == 0 && chain_pending(c); i++)
		r.rc = chain_run(c, in, r.out, 1);
	evbuffer_free(in);
	chain_free(c);
	config_free(&cfg);
	return r;
}

static void run_free(struct run *r)
{
	headers_free(r->h);
	evbuffer_free(r->out);
}

static int out_is(struct run *r, const char *want)
{
	size_t n = evbuffer_get_length(r->out);
	return n == strlen(want) && memcmp(evbuffer_pullup(r->out, -1), want, n) == 0;
}

static void test_length_passthrough(void **state)
{
	struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_LENGTH, 11, 1,
	                         "hello worldEXTRA", 16, 3);
	assert_int_equal(r.rc, 1);
	assert_true(out_is(&r, "hello world"));
	assert_non_null(headers_get(r.h, "Content-Length"));   /* untouched */
	assert_int_equal(r.client_close, 0);
	run_free(&r);
}

static void test_length_truncated(void **state)
{
	struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_LENGTH, 20, 1, "short", 5, 2);
	assert_int_equal(r.rc, -1);                            /* never a clean end */
	run_free(&r);
}

static void test_chunked_rechunked_with_trailers(void **state)
{
	const char *in = "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nX-T: 1\r\n\r\n";
	for (size_t step = 1; step <= strlen(in); step++) {
		struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_CHUNKED, -1, 1,
		                         in, strlen(in), step);
		assert_int_equal(r.rc, 1);
		/* decode the output again: same payload, same trailer */
		struct http1_chunked *d = http1_chunked_new(1024);
		struct evbuffer *plain = evbuffer_new();
		assert_int_equal(http1_chunked_run(d, r.out, plain), HTTP1_DONE);
		assert_int_equal(evbuffer_get_length(plain), 6);
		assert_memory_equal(evbuffer_pullup(plain, -1), "hello!", 6);
		size_t tl;
		const char *t = http1_chunked_trailers(d, &tl);
		assert_true(tl >= 6 && memcmp(t, "X-T: 1", 6) == 0);
		http1_chunked_free(d);
		evbuffer_free(plain);
		assert_string_equal(headers_get(r.h, "Transfer-Encoding"), "chunked");
		run_free(&r);
	}
}

static void test_bad_chunk_is_error(void **state)
{
	const char *in = "5\r\nhello\r\nzz\r\n";
	struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_CHUNKED, -1, 1, in, strlen(in), 4);
	assert_int_equal(r.rc, -1);
	run_free(&r);
}

static void test_close_delimited(void **state)
{
	/* HTTP/1.1 client: re-chunked, the connection may stay */
	struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_CLOSE, -1, 1, "abcdef", 6, 2);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.client_close, 0);
	assert_true(out_is(&r, "2\r\nab\r\n2\r\ncd\r\n2\r\nef\r\n0\r\n\r\n"));
	run_free(&r);
	/* HTTP/1.0 client: close-delimited */
	r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_CLOSE, -1, 0, "abcdef", 6, 2);
	assert_int_equal(r.client_close, 1);
	assert_true(out_is(&r, "abcdef"));
	run_free(&r);
}

static void test_no_body(void **state)
{
	struct run r = run_chain("text/html", NULL, NULL, HTTP1_BODY_NONE, 5, 1, "", 0, 1);
	assert_int_equal(r.rc, 1);
	assert_int_equal(evbuffer_get_length(r.out), 0);
	assert_non_null(headers_get(r.h, "Content-Length"));   /* HEAD keeps it */
	run_free(&r);
}

static const char page[] = "<p>ab a b aab ba abab a</p>a";
static const char page_out[] = "<p>AB a b aAB ba ABAB a</p>a";

static void test_filter_split_invariance(void **state)
{
	size_t n = strlen(page);
	for (size_t step = 0; step <= n; step++) {
		for (int rep = 0; rep < (step ? 1 : 20); rep++) {
			struct run r = run_chain("text/html", NULL, NULL, HTTP1_BODY_LENGTH, (int64_t)n, 0,
			                         page, n, step);
			assert_int_equal(r.rc, 1);
			assert_true(out_is(&r, page_out));
			assert_null(headers_get(r.h, "Content-Length"));
			assert_int_equal(r.client_close, 1);           /* HTTP/1.0: close-delimited */
			run_free(&r);
		}
	}
}

static void test_filter_declines_other_types(void **state)
{
	size_t n = strlen(page);
	struct run r = run_chain("image/png", NULL, NULL, HTTP1_BODY_LENGTH, (int64_t)n, 1, page, n, 5);
	assert_true(out_is(&r, page));
	assert_non_null(headers_get(r.h, "Content-Length"));
	run_free(&r);
}

static size_t gz(const char *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream z = { 0 };
	deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)n;
	z.next_out = out;
	z.avail_out = (unsigned)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = z.total_out;
	deflateEnd(&z);
	return len;
}

static void test_gzip_decoded_for_filter(void **state)
{
	unsigned char z[256];
	size_t n = gz(page, strlen(page), z, sizeof z);
	for (size_t step = 1; step <= n; step += 7) {
		/* the client does not accept gzip: plain, rewritten output */
		struct run r = run_chain("text/html", "gzip", NULL, HTTP1_BODY_LENGTH, (int64_t)n, 1,
		                         (char *)z, n, step);
		assert_int_equal(r.rc, 1);
		struct http1_chunked *d = http1_chunked_new(64);
		struct evbuffer *plain = evbuffer_new();
		assert_int_equal(http1_chunked_run(d, r.out, plain), HTTP1_DONE);
		assert_int_equal(evbuffer_get_length(plain), strlen(page_out));
		assert_memory_equal(evbuffer_pullup(plain, -1), page_out, strlen(page_out));
		assert_null(headers_get(r.h, "Content-Encoding"));
		http1_chunked_free(d);
		evbuffer_free(plain);
		run_free(&r);
	}
}

static void test_gzip_passthrough_when_accepted(void **state)
{
	unsigned char z[256];
	size_t n = gz("plain text body", 15, z, sizeof z);
	struct run r = run_chain("text/plain", "gzip", "gzip, br", HTTP1_BODY_LENGTH, (int64_t)n, 1,
	                         (char *)z, n, 4);
	assert_int_equal(r.rc, 1);
	assert_int_equal(evbuffer_get_length(r.out), n);        /* untouched */
	assert_string_equal(headers_get(r.h, "Content-Encoding"), "gzip");
	run_free(&r);
	/* a client without gzip gets it decoded (and chunked) */
	r = run_chain("text/plain", "gzip", NULL, HTTP1_BODY_LENGTH, (int64_t)n, 1, (char *)z, n, 4);
	assert_int_equal(r.rc, 1);
	struct http1_chunked *d = http1_chunked_new(64);
	struct evbuffer *plain = evbuffer_new();
	assert_int_equal(http1_chunked_run(d, r.out, plain), HTTP1_DONE);
	assert_int_equal(evbuffer_get_length(plain), 15);
	assert_memory_equal(evbuffer_pullup(plain, -1), "plain text body", 15);
	assert_null(headers_get(r.h, "Content-Encoding"));
	assert_null(headers_get(r.h, "Content-Length"));
	http1_chunked_free(d);
	evbuffer_free(plain);
	run_free(&r);
}

static void test_corrupt_gzip_is_error(void **state)
{
	const char junk[] = "\x1f\x8b\x08\x00garbage-garbage-garbage";
	struct run r = run_chain("text/html", "gzip", NULL, HTTP1_BODY_LENGTH, sizeof junk - 1, 1,
	                         junk, sizeof junk - 1, 3);
	assert_int_equal(r.rc, -1);
	run_free(&r);
}

/* Random payloads, chunked at random sizes with random chunk extensions,
 * fed in random pieces: the client gets the same payload (re-chunked). */
static void test_random_chunked_property(void **state)
{
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(rand() % 5000);
		char *payload = malloc(n + 1);
		for (size_t i = 0; i < n; i++)
			payload[i] = (char)(rand() & 0xff);
		struct evbuffer *enc = evbuffer_new();
		for (size_t off = 0; off < n;) {
			size_t k = 1 + (size_t)rand() % 700;
			if (k > n - off)
				k = n - off;
			evbuffer_add_printf(enc, rand() % 4 ? "%zx\r\n" : "%zX;x=y\r\n", k);
			evbuffer_add(enc, payload + off, k);
			evbuffer_add(enc, "\r\n", 2);
			off += k;
		}
		evbuffer_add(enc, "0\r\n\r\n", 5);
		size_t elen = evbuffer_get_length(enc);
		char *wire = malloc(elen);
		evbuffer_remove(enc, wire, elen);
		struct run r = run_chain("text/plain", NULL, NULL, HTTP1_BODY_CHUNKED, -1, 1, wire, elen, 0);
		assert_int_equal(r.rc, 1);
		struct http1_chunked *d = http1_chunked_new(64);
		struct evbuffer *plain = evbuffer_new();
		assert_int_equal(http1_chunked_run(d, r.out, plain), HTTP1_DONE);
		assert_int_equal(evbuffer_get_length(plain), n);
		if (n)
			assert_memory_equal(evbuffer_pullup(plain, -1), payload, n);
		http1_chunked_free(d);
		evbuffer_free(plain);
		evbuffer_free(enc);
		run_free(&r);
		free(wire);
		free(payload);
	}
}

/* 16 MiB of zeros in a few KB of gzip: each run appends a bounded amount. */
static void test_output_bound(void **state)
{
	size_t n = 16u << 20, cap = 64 << 10;
	char *zeros = calloc(1, n);
	unsigned char *z = malloc(cap);
	size_t zn = gz(zeros, n, z, cap);
	struct headers *h = headers_new();
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct chain *c = chain_new_table(table, 1);
	struct chain_msg m = { "http://a.test/", "GET", 200, h, NULL, "text/plain", "gzip",
	                       0, 0, NULL, 0, NULL };
	struct chain_framing f = { HTTP1_BODY_LENGTH, (int64_t)zn, 1 };
	int cc, rc = 0, rounds = 0;
	size_t total = 0;
	chain_set_limit(c, 256 << 10);
	assert_int_equal(chain_open(c, &m, &f, &cc), 0);
	evbuffer_add(in, z, zn);
	while (rc == 0 && rounds++ < 1000) {
		rc = chain_run(c, in, out, 0);
		assert_true(evbuffer_get_length(out) <= (256u << 10) + (1u << 20) + 64);
		total += evbuffer_get_length(out);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	assert_int_equal(rc, 1);
	assert_true(rounds > 10);
	assert_true(total > n);                      /* the payload plus chunk framing */
	chain_free(c);
	headers_free(h);
	evbuffer_free(in);
	evbuffer_free(out);
	free(zeros);
	free(z);
}

/* A content filter that swallows all its input and gives it back at most
 * 1000 bytes a call, returning CHAIN_MORE while it holds some: its src is
 * empty then, as for ISA-L's inflate when it read ahead. */
struct trickle { struct evbuffer *held; };

static int tr_open(const struct chain_msg *m, void **state)
{
	struct trickle *t = calloc(1, sizeof *t);
	if (!t || !(t->held = evbuffer_new())) {
		free(t);
		return CHAIN_ERROR;
	}
	*state = t;
	return CHAIN_ACCEPT;
}

static int tr_process(void *state, struct evbuffer *src, struct evbuffer *dst, int last)
{
	struct trickle *t = state;
	evbuffer_add_buffer(t->held, src);
	evbuffer_remove_buffer(t->held, dst, 1000);
	return evbuffer_get_length(t->held) ? CHAIN_MORE : CHAIN_OK;
}

static void tr_close(void *state)
{
	struct trickle *t = state;
	evbuffer_free(t->held);
	free(t);
}

static const struct chain_filter trickle = { "trickle", CHAIN_F_CONTENT, tr_open, tr_process, tr_close };
static const struct chain_filter *const trickle_table[] = { &trickle };

/* Everything a CHAIN_MORE filter holds comes out, the last of it after
 * the origin's body ended, with src empty. */
static void test_more_with_empty_src(void **state)
{
	size_t n = 25000;
	char *body = malloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	struct headers *h = headers_new();
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	struct chain *c = chain_new_table(trickle_table, 1);
	struct chain_msg m = { "http://a.test/", "GET", 200, h, NULL, "text/plain", "",
	                       0, 0, NULL, 0, NULL };
	struct chain_framing f = { HTTP1_BODY_LENGTH, (int64_t)n, 0 };     /* HTTP/1.0: no chunks */
	int cc, rc = 0, rounds = 0;
	chain_set_limit(c, 1);
	assert_int_equal(chain_open(c, &m, &f, &cc), 0);
	evbuffer_add(in, body, n);
	while (rc == 0 && rounds++ < 1000)
		rc = chain_run(c, in, out, 0);
	assert_int_equal(rc, 1);
	assert_true(rounds > 20);
	assert_int_equal(evbuffer_get_length(out), n);
	assert_memory_equal(evbuffer_pullup(out, -1), body, n);
	chain_free(c);
	headers_free(h);
	evbuffer_free(in);
	evbuffer_free(out);
	free(body);
}

int main(void)
{
	seed = (unsigned)time(NULL);
	printf("test_chain: seed %u\n", seed);
	srand(seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length_passthrough),
		cmocka_unit_test(test_length_truncated),
		cmocka_unit_test(test_chunked_rechunked_with_trailers),
		cmocka_unit_test(test_bad_chunk_is_error),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_filter_split_invariance),
		cmocka_unit_test(test_filter_declines_other_types),
		cmocka_unit_test(test_gzip_decoded_for_filter),
		cmocka_unit_test(test_gzip_passthrough_when_accepted),
		cmocka_unit_test(test_corrupt_gzip_is_error),
		cmocka_unit_test(test_output_bound),
		cmocka_unit_test(test_more_with_empty_src),
		cmocka_unit_test(test_random_chunked_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
