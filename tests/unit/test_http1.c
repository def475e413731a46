/*
 * Unit tests for proxy/http1: one test per parsing rule, and every input
 * (valid or not) parsed whole, split at every byte position and fed byte by
 * byte, with identical results.  The chunked decoder likewise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ctype.h>
#include <event2/buffer.h>

#include "proxy/http1.h"
#include "tests/http1_field_names.h"

#define MAX_HEAD 4096
#define MAX_HEADERS 32

/* ---- harness: parse with a given split, describe the result as a string ---- */

/* Appends a printable description of everything the parser produced, so two
 * runs compare with one strcmp. */
static void describe(struct http1_parser *p, int rc, size_t consumed, char *out, size_t cap)
{
	const char *reason;
	int n = snprintf(out, cap, "rc=%d consumed=%zu", rc, consumed);
	if (rc == HTTP1_ERROR) {
		int st = http1_parser_error(p, &reason);
		snprintf(out + n, cap - (size_t)n, " status=%d reason=%s", st, reason);
		return;
	}
	if (rc != HTTP1_DONE)
		return;
	const struct http1_head *h = http1_parser_head(p);
	n += snprintf(out + n, cap - (size_t)n,
	              " v=%d m=%.*s t=%.*s s=%d r=%.*s cl=%lld ch=%d te=%d cc=%d ex=%d up=%d hl=%zu",
	              h->version_minor, (int)h->method_len, h->method ? h->method : "",
	              (int)h->target_len, h->target ? h->target : "", h->status,
	              (int)h->reason_len, h->reason ? h->reason : "",
	              (long long)h->content_length, h->chunked, h->has_transfer_encoding,
	              h->conn_close, h->expect_continue, h->upgrade, h->head_len);
	for (int i = 0; i < h->n_headers && (size_t)n < cap; i++)
		n += snprintf(out + n, cap - (size_t)n, " [%.*s|%.*s]", (int)h->headers[i].name_len,
		              h->headers[i].name, (int)h->headers[i].value_len, h->headers[i].value);
}

/* Feeds in pieces: cuts[] are increasing split offsets (ncuts of them); step
 * 1 means byte by byte.  The description goes to out. */
static void parse_pieces(int kind, size_t max_head, int max_headers, const char *in, size_t len,
                         const size_t *cuts, int ncuts, int bytewise, char *out, size_t cap)
{
	struct http1_parser *p = http1_parser_new(kind, max_head, max_headers);
	assert_non_null(p);
	size_t off = 0, total = 0, c;
	int rc = HTTP1_NEED_MORE, k = 0;
	while (off < len && rc == HTTP1_NEED_MORE) {
		size_t end = bytewise ? off + 1 : (k < ncuts ? cuts[k++] : len);
		/* The parser copies: hand it a fresh heap copy that dies right away,
		 * so ASan catches any pointer kept into caller memory. */
		char *piece = malloc(end - off + 1);
		memcpy(piece, in + off, end - off);
		rc = http1_parse(p, piece, end - off, &c);
		free(piece);
		if (rc == HTTP1_NEED_MORE)
			assert_int_equal(c, end - off);
		total += c;
		off = end;
	}
	describe(p, rc, total, out, cap);
	http1_parser_free(p);
}

/* Parses in[] whole, at every split position and byte by byte; all results
 * must agree.  Returns the parser status (0 for DONE, -1 NEED_MORE). */
static int check_split_invariant(int kind, size_t max_head, int max_headers, const char *in,
                                 size_t len, char *whole, size_t cap)
{
	char other[8192];
	parse_pieces(kind, max_head, max_headers, in, len, NULL, 0, 0, whole, cap);
	for (size_t k = 1; k < len; k++) {
		parse_pieces(kind, max_head, max_headers, in, len, &k, 1, 0, other, sizeof(other));
		if (strcmp(whole, other) != 0) {
			print_error("split at %zu:\n  whole: %s\n  split: %s\n", k, whole, other);
			fail();
		}
	}
	parse_pieces(kind, max_head, max_headers, in, len, NULL, 0, 1, other, sizeof(other));
	if (strcmp(whole, other) != 0) {
		print_error("byte by byte:\n  whole: %s\n  bytes: %s\n", whole, other);
		fail();
	}
	return 0;
}

/* Expects an error with the given status for a request (kind 0) or response. */
static void expect_status_k(int kind, const char *in, int status)
{
	char whole[8192], want[64];
	check_split_invariant(kind, MAX_HEAD, MAX_HEADERS, in, strlen(in), whole, sizeof(whole));
	snprintf(want, sizeof(want), "status=%d ", status);
	if (strncmp(whole, "rc=-1 ", 6) != 0 || !strstr(whole, want)) {
		print_error("input: %s\nwant status %d, got: %s\n", in, status, whole);
		fail();
	}
}
#define expect_status(in, st) expect_status_k(HTTP1_REQUEST, in, st)

/* Parses a valid head (split invariant) and returns a parser holding it. */
static struct http1_parser *parse_ok_k(int kind, const char *in)
{
	char whole[8192];
	size_t len = strlen(in), c;
	check_split_invariant(kind, MAX_HEAD, MAX_HEADERS, in, len, whole, sizeof(whole));
	struct http1_parser *p = http1_parser_new(kind, MAX_HEAD, MAX_HEADERS);
	int rc = http1_parse(p, in, len, &c);
	if (rc != HTTP1_DONE) {
		print_error("input: %s\nnot DONE: %s\n", in, whole);
		fail();
	}
	return p;
}
#define parse_ok(in) parse_ok_k(HTTP1_REQUEST, in)

/* ---- request line ------------------------------------------------------------- */

static void test_01_simple_request(void **state)
{
	const char *in = "GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n"
	                 "Accept:  */* \r\n\r\nBODY";
	struct http1_parser *p = parse_ok(in);
	const struct http1_head *h = http1_parser_head(p);
	size_t c;
	struct http1_parser *q = http1_parser_new(HTTP1_REQUEST, MAX_HEAD, MAX_HEADERS);
	assert_int_equal(http1_parse(q, in, strlen(in), &c), HTTP1_DONE);
	assert_int_equal(c, strlen(in) - 4);        /* BODY is not part of the head */
	http1_parser_free(q);
	assert_int_equal(h->version_minor, 1);
	assert_int_equal(h->method_len, 3);
	assert_memory_equal(h->method, "GET", 3);
	assert_int_equal(h->target_len, strlen("http://example.com/a?b"));
	assert_int_equal(h->n_headers, 2);
	assert_memory_equal(h->headers[1].value, "*/*", 3);
	assert_int_equal(h->headers[1].value_len, 3);
	assert_int_equal(h->content_length, -1);
	assert_int_equal(h->chunked, 0);
	assert_int_equal(h->conn_close, 0);
	assert_int_equal(h->head_len, strlen(in) - 4);
	assert_int_equal(http1_find_header(h, "ACCEPT", 0), 1);
	assert_int_equal(http1_find_header(h, "accept", 2), -1);
	http1_parser_free(p);
}

static void test_02_target_forms(void **state)
{
	const char *ok[] = {
		"GET /path HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a.example:8080/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		http1_parser_free(parse_ok(ok[i]));
	expect_status("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("CONNECT example.com:99999 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET  /a HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_03_method_token(void **state)
{
	http1_parser_free(parse_ok("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n"));
	expect_status("G(T /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status(" GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET\t/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_04_versions(void **state)
{
	struct http1_parser *p = parse_ok("GET /x HTTP/1.0\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->version_minor, 0);
	assert_int_equal(http1_parser_head(p)->conn_close, 1);
	http1_parser_free(p);
	expect_status("GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505);
	expect_status("GET /x HTTP/1.2\r\nHost: a\r\n\r\n", 505);
	expect_status("GET /x HTTP/0.9\r\nHost: a\r\n\r\n", 505);
	expect_status("GET /x http/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.10\r\nHost: a\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
	expect_status("GET /x\r\nHost: a\r\n\r\n", 400);
}

/* ---- header syntax ---------------------------------------------------------------- */

static void test_05_header_name_token(void **state)
{
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nBad\"Name: v\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400);
}

static void test_06_space_before_colon(void **state)
{
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400);
}

static void test_07_obs_fold(void **state)
{
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\n Host: a\r\n\r\n", 400);
}

static void test_08_nul_and_bare_cr_lf(void **state)
{
	/* NUL cannot go through strlen(): built by hand. */
	const char nul[] = "GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n";
	char whole[8192];
	check_split_invariant(HTTP1_REQUEST, MAX_HEAD, MAX_HEADERS, nul, sizeof(nul) - 1, whole,
	                      sizeof(whole));
	assert_non_null(strstr(whole, "status=400 reason=NUL in head"));
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\rHost: a\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\n\r\r\n", 400);
	expect_status("GET /x HTTP/1.1\nHost: a\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\n\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
	/* obs-text in values is allowed */
	http1_parser_free(parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"));
}

static void test_09_leading_empty_lines(void **state)
{
	struct http1_parser *p = parse_ok("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->head_len, strlen("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
	http1_parser_free(p);
	expect_status("\n\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
	expect_status("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

/* ---- limits ----------------------------------------------------------------------- */

static void test_10_head_too_large(void **state)
{
	char big[600], whole[8192];
	int n = snprintf(big, sizeof(big), "GET /x HTTP/1.1\r\nHost: a\r\nX: %0400d\r\n\r\n", 0);
	check_split_invariant(HTTP1_REQUEST, 256, MAX_HEADERS, big, (size_t)n, whole, sizeof(whole));
	assert_non_null(strstr(whole, "status=431"));
	const char *resp = "HTTP/1.1 200 OK\r\nX: 0123456789012345678901234567890123456789\r\n\r\n";
	check_split_invariant(HTTP1_RESPONSE, 256, MAX_HEADERS, resp, strlen(resp), whole, sizeof(whole));
	assert_non_null(strstr(whole, "rc=1 "));
	check_split_invariant(HTTP1_RESPONSE, 40, MAX_HEADERS, resp, strlen(resp), whole, sizeof(whole));
	assert_non_null(strstr(whole, "status=502"));
	/* exactly max_head is fine, one byte less is not */
	const char *r = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
	check_split_invariant(HTTP1_REQUEST, strlen(r), MAX_HEADERS, r, strlen(r), whole, sizeof(whole));
	assert_non_null(strstr(whole, "rc=1 "));
	check_split_invariant(HTTP1_REQUEST, strlen(r) - 1, MAX_HEADERS, r, strlen(r), whole,
	                      sizeof(whole));
	assert_non_null(strstr(whole, "status=431"));
}

static void test_11_too_many_headers(void **state)
{
	const char *r = "GET /x HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
	char whole[8192];
	check_split_invariant(HTTP1_REQUEST, MAX_HEAD, 3, r, strlen(r), whole, sizeof(whole));
	assert_non_null(strstr(whole, "rc=1 "));
	check_split_invariant(HTTP1_REQUEST, MAX_HEAD, 2, r, strlen(r), whole, sizeof(whole));
	assert_non_null(strstr(whole, "status=431"));
	const char *s = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	check_split_invariant(HTTP1_RESPONSE, MAX_HEAD, 2, s, strlen(s), whole, sizeof(whole));
	assert_non_null(strstr(whole, "status=502"));
}

/* ---- framing ------------------------------------------------------------------------ */

static void test_12_content_length(void **state)
{
	struct http1_parser *p = parse_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->content_length, 42);
	http1_parser_free(p);
	p = parse_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7,7\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->content_length, 7);
	http1_parser_free(p);
	p = parse_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->content_length, 7);
	http1_parser_free(p);
	p = parse_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->content_length, INT64_MAX);
	http1_parser_free(p);
}

static void test_13_content_length_bad(void **state)
{
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 8\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7,,7\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", 502);
}

static void test_14_cl_and_te(void **state)
{
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	              "Transfer-Encoding: chunked\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	              "Content-Length: 5\r\n\r\n", 400);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	                "Transfer-Encoding: chunked\r\n\r\n", 502);
}

static void test_15_request_te(void **state)
{
	struct http1_parser *p = parse_ok("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->chunked, 1);
	assert_int_equal(http1_parser_head(p)->has_transfer_encoding, 1);
	http1_parser_free(p);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	              "Transfer-Encoding: identity\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400);
	/* a coding applied before chunked: understood, not supported */
	expect_status("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
	/* TE in an HTTP/1.0 request: faulty framing */
	expect_status("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void test_16_response_te(void **state)
{
	struct http1_parser *p =
		parse_ok_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
	const struct http1_head *h = http1_parser_head(p);
	assert_int_equal(h->chunked, 0);
	assert_int_equal(h->has_transfer_encoding, 1);
	assert_int_equal(h->conn_close, 1);
	assert_int_equal(http1_response_body(h, "GET", 3), HTTP1_BODY_CLOSE);
	http1_parser_free(p);
	p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	assert_int_equal(http1_response_body(http1_parser_head(p), "GET", 3), HTTP1_BODY_CHUNKED);
	http1_parser_free(p);
	p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(http1_response_body(http1_parser_head(p), "GET", 3), HTTP1_BODY_CLOSE);
	http1_parser_free(p);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 502);
}

static void test_17_connection_tokens(void **state)
{
	struct http1_parser *p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->conn_close, 1);
	http1_parser_free(p);
	p = parse_ok("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->conn_close, 0);
	http1_parser_free(p);
	p = parse_ok("GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->conn_close, 1);
	http1_parser_free(p);
	p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->conn_close, 0);
	http1_parser_free(p);
	p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->conn_close, 1);
	http1_parser_free(p);
}

static void test_18_upgrade(void **state)
{
	struct http1_parser *p = parse_ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
	                                  "Upgrade: websocket\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->upgrade, 1);
	http1_parser_free(p);
	p = parse_ok("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->upgrade, 0);
	http1_parser_free(p);
	p = parse_ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->upgrade, 0);
	http1_parser_free(p);
	p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
	               "Upgrade: websocket\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->upgrade, 1);
	assert_int_equal(http1_response_body(http1_parser_head(p), "GET", 3), HTTP1_BODY_NONE);
	http1_parser_free(p);
}

static void test_19_expect(void **state)
{
	struct http1_parser *p = parse_ok("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	                                  "Content-Length: 3\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->expect_continue, 1);
	http1_parser_free(p);
	expect_status("PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417);
	p = parse_ok("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");   /* ignored in 1.0 */
	assert_int_equal(http1_parser_head(p)->expect_continue, 0);
	http1_parser_free(p);
}

static void test_20_host_header(void **state)
{
	expect_status("GET /x HTTP/1.1\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	expect_status("GET /x HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

/* ---- responses ------------------------------------------------------------------------ */

static void test_21_status_line(void **state)
{
	struct http1_parser *p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.1 404 Not Found\r\n"
	                                    "Content-Length: 3\r\n\r\nabc");
	const struct http1_head *h = http1_parser_head(p);
	assert_int_equal(h->status, 404);
	assert_int_equal(h->reason_len, 9);
	assert_memory_equal(h->reason, "Not Found", 9);
	assert_int_equal(http1_response_body(h, "GET", 3), HTTP1_BODY_LENGTH);
	http1_parser_free(p);
	p = parse_ok_k(HTTP1_RESPONSE, "HTTP/1.1 200\r\n\r\n");
	assert_int_equal(http1_parser_head(p)->reason_len, 0);
	assert_int_equal(http1_response_body(http1_parser_head(p), "GET", 3), HTTP1_BODY_CLOSE);
	http1_parser_free(p);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 20 OK\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 2000 OK\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "HTTP/2 200 OK\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "HTTP/2.0 200 OK\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "ICY 200 OK\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 502);
	expect_status_k(HTTP1_RESPONSE, "HTTP/1.1 200 OK\nX: a\r\n\r\n", 502);
}

static void test_22_response_body_rules(void **state)
{
	struct { const char *head, *method; int body; } cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", HTTP1_BODY_NONE },
		{ "HTTP/1.1 100 Continue\r\n\r\n", "GET", HTTP1_BODY_NONE },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", "GET", HTTP1_BODY_NONE },
		{ "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", HTTP1_BODY_NONE },
		{ "HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT", HTTP1_BODY_NONE },
		{ "HTTP/1.1 407 Auth\r\nContent-Length: 5\r\n\r\n", "CONNECT", HTTP1_BODY_LENGTH },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", HTTP1_BODY_CHUNKED },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "POST", HTTP1_BODY_LENGTH },
		{ "HTTP/1.1 200 OK\r\n\r\n", "GET", HTTP1_BODY_CLOSE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http1_parser *p = parse_ok_k(HTTP1_RESPONSE, cases[i].head);
		assert_int_equal(http1_response_body(http1_parser_head(p), cases[i].method,
		                                     strlen(cases[i].method)), cases[i].body);
		http1_parser_free(p);
	}
}

static void test_23_reset_and_pipelining(void **state)
{
	const char *two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
	struct http1_parser *p = http1_parser_new(HTTP1_REQUEST, MAX_HEAD, MAX_HEADERS);
	size_t c1, c2;
	assert_int_equal(http1_parse(p, two, strlen(two), &c1), HTTP1_DONE);
	assert_memory_equal(http1_parser_head(p)->target, "/a", 2);
	assert_int_equal(http1_parse(p, two + c1, strlen(two) - c1, &c2), HTTP1_DONE);
	assert_int_equal(c2, 0);                    /* latched until reset */
	http1_parser_reset(p);
	assert_int_equal(http1_parse(p, two + c1, strlen(two) - c1, &c2), HTTP1_DONE);
	assert_int_equal(c1 + c2, strlen(two));
	assert_memory_equal(http1_parser_head(p)->target, "/b", 2);
	http1_parser_reset(p);
	assert_int_equal(http1_parse(p, "GET /x HTTP/1.1\r\n\r\n", 19, &c1), HTTP1_ERROR);
	assert_int_equal(http1_parser_error(p, NULL), 400);
	http1_parser_reset(p);
	assert_int_equal(http1_parser_error(p, NULL), 0);
	http1_parser_free(p);
	http1_parser_free(NULL);
}

static void test_24_tokens_and_hop_headers(void **state)
{
	assert_true(http1_value_has_token("a, Close ,b", 11, "close"));
	assert_false(http1_value_has_token("closed", 6, "close"));
	assert_true(http1_value_has_token("gzip;q=1, br", 12, "gzip"));
	assert_false(http1_value_has_token("", 0, "close"));
	struct http1_parser *p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nConnection: X-Secret, close\r\n"
	                                  "X-Secret: 1\r\n\r\n");
	const struct http1_head *h = http1_parser_head(p);
	assert_true(http1_is_hop_header(h, "x-secret", 8));
	assert_true(http1_is_hop_header(h, "Keep-Alive", 10));
	assert_true(http1_is_hop_header(h, "Proxy-Authorization", 19));
	assert_true(http1_is_hop_header(NULL, "TE", 2));
	assert_false(http1_is_hop_header(h, "Host", 4));
	assert_false(http1_is_hop_header(NULL, "x-secret", 8));
	assert_false(http1_is_hop_header(h, "x-secre", 7));
	http1_parser_free(p);
	/* a long name listed in Connection is hop-by-hop too */
	char req[600], name[201];
	memset(name, 'n', 200);
	name[200] = 0;
	snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nHost: a\r\nConnection: %s\r\n\r\n", name);
	p = parse_ok(req);
	assert_true(http1_is_hop_header(http1_parser_head(p), name, 200));
	http1_parser_free(p);
}

/* Field names are classified once, at parse time; every look-up and the
 * hop-by-hop test rely on the id, so it must be exactly "this name, any
 * case" and nothing else. */
static void test_28_field_ids(void **state)
{
	const struct http1_field_name *names = http1_field_names;
	size_t n = sizeof(http1_field_names) / sizeof(http1_field_names[0]);
	int seen[64] = {0};
	for (size_t k = 0; k < n; k++) {
		const char *nm = names[k].name;
		size_t len = strlen(nm);
		char up[64], mixed[64], bent[64];
		for (size_t i = 0; i <= len; i++) {
			up[i] = (char)toupper((unsigned char)nm[i]);
			mixed[i] = i % 2 ? up[i] : nm[i];
		}
		assert_int_equal(http1_field_id(nm, len), names[k].id);
		assert_int_equal(http1_field_id(up, len), names[k].id);
		assert_int_equal(http1_field_id(mixed, len), names[k].id);
		assert_int_not_equal(names[k].id, HTTP1_F_OTHER);
		assert_int_equal(seen[names[k].id]++, 0);       /* one name per id */
		/* a prefix, one byte more, one byte changed: other names */
		assert_int_equal(http1_field_id(nm, len - 1), HTTP1_F_OTHER);
		memcpy(bent, nm, len);
		bent[len] = 's';
		assert_int_equal(http1_field_id(bent, len + 1), HTTP1_F_OTHER);
		for (size_t i = 0; i < len; i++) {
			memcpy(bent, nm, len);
			bent[i] = nm[i] == '-' ? '_' : (char)(nm[i] ^ 0x40);  /* not a case change */
			assert_int_equal(http1_field_id(bent, len), HTTP1_F_OTHER);
		}
	}
	assert_int_equal(http1_field_id("", 0), HTTP1_F_OTHER);
	assert_int_equal(http1_field_id("x-forwarded-for-the-long-one", 28), HTTP1_F_OTHER);
	/* parsed fields carry their id; look-ups by any name agree with it */
	struct http1_parser *p = parse_ok("GET /x HTTP/1.1\r\nHOST: a\r\nX-Other: 1\r\n"
	                                  "x-other: 2\r\nConnection: x-other\r\nCoNtEnT-TyPe: t\r\n\r\n");
	const struct http1_head *h = http1_parser_head(p);
	assert_int_equal(h->headers[0].id, HTTP1_F_HOST);
	assert_int_equal(h->headers[1].id, HTTP1_F_OTHER);
	assert_int_equal(h->headers[4].id, HTTP1_F_CONTENT_TYPE);
	assert_int_equal(http1_find_header(h, "host", 0), 0);
	assert_int_equal(http1_find_header(h, "X-OTHER", 0), 1);
	assert_int_equal(http1_find_header(h, "x-other", 2), 2);
	assert_int_equal(http1_find_header(h, "x-other", 3), -1);
	assert_int_equal(http1_find_header(h, "content-type", 0), 4);
	assert_int_equal(http1_find_header(h, "content-typ", 0), -1);
	for (int i = 0; i < h->n_headers; i++)
		assert_int_equal(http1_is_hop_field(h, i),
		                 http1_is_hop_header(h, h->headers[i].name, h->headers[i].name_len));
	assert_true(http1_is_hop_field(h, 1));
	assert_true(http1_is_hop_field(h, 3));
	assert_false(http1_is_hop_field(h, 0));
	http1_parser_free(p);
	/* only close, keep-alive, upgrade listed (the parser's shortcut): a
	 * field called close is hop-by-hop, others are not */
	p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\nCLOSE: 1\r\n"
	             "Connection: close , upgrade\r\nX-A: 1\r\nUpgrade: w\r\n\r\n");
	h = http1_parser_head(p);
	assert_int_equal(h->conn_tokens, HTTP1_CONN_CLOSE | HTTP1_CONN_KEEP_ALIVE | HTTP1_CONN_UPGRADE);
	assert_true(http1_is_hop_field(h, 2));
	assert_true(http1_is_hop_header(h, "close", 5));
	assert_false(http1_is_hop_field(h, 0));
	assert_false(http1_is_hop_field(h, 4));
	assert_true(http1_is_hop_field(h, 5));
	assert_false(http1_is_hop_header(h, "closed", 6));
	http1_parser_free(p);
	/* a parameter makes it another token: the full scan decides */
	p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close;x=1\r\nClose: 1\r\n\r\n");
	h = http1_parser_head(p);
	assert_int_equal(h->conn_tokens, HTTP1_CONN_OTHER);
	assert_true(http1_is_hop_field(h, 2));
	assert_false(h->conn_close);
	http1_parser_free(p);
	p = parse_ok("GET /x HTTP/1.1\r\nHost: a\r\nClose: 1\r\n\r\n");
	assert_false(http1_is_hop_field(http1_parser_head(p), 1));
	http1_parser_free(p);
}

/* ---- chunked decoder -------------------------------------------------------------------- */

/* Runs the decoder over in[] cut at the given offsets (or byte by byte) and
 * describes output, trailers, leftover and result. */
static void dechunk_pieces(const char *in, size_t len, size_t cut, int bytewise, char *out, size_t cap)
{
	struct http1_chunked *d = http1_chunked_new(64);
	struct evbuffer *src = evbuffer_new(), *dst = evbuffer_new();
	size_t off = 0;
	int rc = HTTP1_NEED_MORE;
	while (off < len && rc == HTTP1_NEED_MORE) {
		size_t end = bytewise ? off + 1 : (cut && off < cut ? cut : len);
		evbuffer_add(src, in + off, end - off);
		rc = http1_chunked_run(d, src, dst);
		off = end;
	}
	size_t tl;
	const char *tr = http1_chunked_trailers(d, &tl);
	size_t ol = evbuffer_get_length(dst);
	const char *ob = ol ? (const char *)evbuffer_pullup(dst, -1) : "";
	/* leftover: unconsumed input, whether still buffered or never fed */
	size_t left = evbuffer_get_length(src) + (len - off);
	snprintf(out, cap, "rc=%d err=%s out=%.*s tr=%.*s left=%zu", rc,
	         rc == HTTP1_ERROR ? http1_chunked_error(d) : "-", (int)ol,
	         ob, (int)tl, tr, rc == HTTP1_DONE ? left : 0);
	evbuffer_free(src);
	evbuffer_free(dst);
	http1_chunked_free(d);
}

static void dechunk_check(const char *in, size_t len, const char *want_prefix)
{
	char whole[4096], other[4096];
	dechunk_pieces(in, len, 0, 0, whole, sizeof(whole));
	if (strncmp(whole, want_prefix, strlen(want_prefix)) != 0) {
		print_error("input: %s\nwant: %s\ngot:  %s\n", in, want_prefix, whole);
		fail();
	}
	for (size_t k = 1; k < len; k++) {
		dechunk_pieces(in, len, k, 0, other, sizeof(other));
		if (strcmp(whole, other)) {
			print_error("split at %zu:\n  whole: %s\n  split: %s\n", k, whole, other);
			fail();
		}
	}
	dechunk_pieces(in, len, 0, 1, other, sizeof(other));
	if (strcmp(whole, other)) {
		print_error("bytewise:\n  whole: %s\n  bytes: %s\n", whole, other);
		fail();
	}
}
#define DECHUNK(s, want) dechunk_check(s, sizeof(s) - 1, want)

static void test_25_chunked_valid(void **state)
{
	DECHUNK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "rc=1 err=- out=hello world tr= left=0");
	DECHUNK("A;name=val\r\n0123456789\r\n0;x\r\n\r\nNEXT", "rc=1 err=- out=0123456789 tr= left=4");
	DECHUNK("a \r\n0123456789\r\n0\r\n\r\n", "rc=1 err=- out=0123456789 tr= left=0");
	DECHUNK("0000003\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n",
	        "rc=1 err=- out=abc tr=X-Sum: 1\r\nY: 2\r\n left=0");
	DECHUNK("3\r\nab", "rc=0 ");
}

static void test_26_chunked_invalid(void **state)
{
	DECHUNK("x\r\n", "rc=-1 err=bad chunk size");
	DECHUNK("\r\n", "rc=-1 err=bad chunk size");
	DECHUNK(" 5\r\nhello\r\n0\r\n\r\n", "rc=-1 err=bad chunk size");
	DECHUNK("-5\r\nhello\r\n", "rc=-1 err=bad chunk size");
	DECHUNK("5\nhello\r\n", "rc=-1 err=bad chunk size");
	DECHUNK("5\rhello\r\n", "rc=-1 err=bare CR");
	DECHUNK("4000000000000001\r\n", "rc=-1 err=chunk size overflow");
	DECHUNK("ffffffffffffffffffff\r\n", "rc=-1 err=chunk size overflow");
	DECHUNK("000000000000000000000000000000001\r\n", "rc=-1 err=chunk size too long");
	DECHUNK("5\r\nhelloX\r\n", "rc=-1 err=missing CRLF");
	DECHUNK("5\r\nhello\rX", "rc=-1 err=missing CRLF");
	DECHUNK("5\r\nhello\n0\r\n\r\n", "rc=-1 err=missing CRLF");
	DECHUNK("0\r\nX: a\nY: b\r\n\r\n", "rc=-1 err=bare LF");
	DECHUNK("0\r\nX: a\r\n folded\r\n\r\n", "rc=-1 err=obsolete line folding");
	DECHUNK("0\r\nNoColon\r\n\r\n", "rc=-1 err=malformed trailer");
	DECHUNK("0\r\nX: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
	        "rc=-1 err=trailer section too large");
	DECHUNK("1;\x01\r\na\r\n", "rc=-1 err=control character in chunk extension");
}

static void test_27_chunk_writer(void **state)
{
	struct evbuffer *out = evbuffer_new(), *data = evbuffer_new();
	evbuffer_add(data, "hello world, this is more than 15", 33);
	assert_int_equal(http1_chunk_write(out, data), 0);
	assert_int_equal(evbuffer_get_length(data), 0);
	assert_int_equal(http1_chunk_write(out, data), 0);        /* empty: nothing */
	assert_int_equal(http1_chunk_last(out, "X: 1\r\n", 6), 0);
	const char *want = "21\r\nhello world, this is more than 15\r\n0\r\nX: 1\r\n\r\n";
	assert_int_equal(evbuffer_get_length(out), strlen(want));
	assert_memory_equal(evbuffer_pullup(out, -1), want, strlen(want));

	/* the size line in lower-case hex, every digit count */
	static const size_t sizes[] = { 1, 15, 16, 255, 256, 4096, 117229, 1048575, 1048576 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct evbuffer *o = evbuffer_new(), *d = evbuffer_new();
		char *body = calloc(1, sizes[i]), line[32];
		assert_non_null(body);
		evbuffer_add(d, body, sizes[i]);
		assert_int_equal(http1_chunk_write(o, d), 0);
		int ll = snprintf(line, sizeof line, "%zx\r\n", sizes[i]);
		assert_int_equal(evbuffer_get_length(o), (size_t)ll + sizes[i] + 2);
		assert_memory_equal(evbuffer_pullup(o, ll), line, (size_t)ll);
		free(body);
		evbuffer_free(o);
		evbuffer_free(d);
	}

	/* round trip through the decoder */
	struct http1_chunked *d = http1_chunked_new(64);
	struct evbuffer *dec = evbuffer_new();
	assert_int_equal(http1_chunked_run(d, out, dec), HTTP1_DONE);
	assert_int_equal(evbuffer_get_length(dec), 33);
	size_t tl;
	const char *tr = http1_chunked_trailers(d, &tl);
	assert_int_equal(tl, 6);
	assert_memory_equal(tr, "X: 1\r\n", 6);
	http1_chunked_reset(d);
	evbuffer_drain(dec, evbuffer_get_length(dec));
	assert_int_equal(http1_chunk_last(out, NULL, 0), 0);
	assert_int_equal(http1_chunked_run(d, out, dec), HTTP1_DONE);
	assert_int_equal(evbuffer_get_length(dec), 0);
	http1_chunked_free(d);
	http1_chunked_free(NULL);
	evbuffer_free(dec);
	evbuffer_free(out);
	evbuffer_free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_simple_request),
		cmocka_unit_test(test_02_target_forms),
		cmocka_unit_test(test_03_method_token),
		cmocka_unit_test(test_04_versions),
		cmocka_unit_test(test_05_header_name_token),
		cmocka_unit_test(test_06_space_before_colon),
		cmocka_unit_test(test_07_obs_fold),
		cmocka_unit_test(test_08_nul_and_bare_cr_lf),
		cmocka_unit_test(test_09_leading_empty_lines),
		cmocka_unit_test(test_10_head_too_large),
		cmocka_unit_test(test_11_too_many_headers),
		cmocka_unit_test(test_12_content_length),
		cmocka_unit_test(test_13_content_length_bad),
		cmocka_unit_test(test_14_cl_and_te),
		cmocka_unit_test(test_15_request_te),
		cmocka_unit_test(test_16_response_te),
		cmocka_unit_test(test_17_connection_tokens),
		cmocka_unit_test(test_18_upgrade),
		cmocka_unit_test(test_19_expect),
		cmocka_unit_test(test_20_host_header),
		cmocka_unit_test(test_21_status_line),
		cmocka_unit_test(test_22_response_body_rules),
		cmocka_unit_test(test_23_reset_and_pipelining),
		cmocka_unit_test(test_24_tokens_and_hop_headers),
		cmocka_unit_test(test_25_chunked_valid),
		cmocka_unit_test(test_26_chunked_invalid),
		cmocka_unit_test(test_27_chunk_writer),
		cmocka_unit_test(test_28_field_ids),
	};
	return cmocka_run_group_tests_name("http1", tests, NULL, NULL);
}
