/*
 * test_fetch: the list-download client against a scripted HTTP server on
 * 127.0.0.1 running in a thread of this process.  The server picks its
 * answer from the request path; it handles one connection at a time.
 * HTTPS (certificate and host name checks) is covered end to end with nginx
 * in tests/e2e/test_lists_update.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "filters/fetch.h"

#include <event2/event.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

static int srv_fd = -1;
static int srv_port;
static pthread_t srv_thread;
static volatile int srv_stop;
static char last_request[8192];
static int n_requests;

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void sendf(int fd, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	send_all(fd, buf, (size_t)n);
}

static const char LIST[] = "! Title: Test list\n||ads.example^\n||track.example^\n";

/* gzip-compresses src into a malloc'd buffer. */
static unsigned char *gzip(const void *src, size_t n, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap = n + 1024;
	unsigned char *out = malloc(cap);
	deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	return out;
}

static void answer(int fd, const char *path)
{
	if (!strcmp(path, "/ok")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nETag: \"v1\"\r\n"
		      "Last-Modified: Sun, 01 Nov 2026 10:00:00 GMT\r\n\r\n%s", strlen(LIST), LIST);
	} else if (!strcmp(path, "/304")) {
		sendf(fd, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n");
	} else if (!strcmp(path, "/chunked")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "5\r\n||ads\r\n8;ext=1\r\n.example\r\n2\r\n^\n\r\n0\r\nX-Trailer: 1\r\n\r\n");
	} else if (!strcmp(path, "/gzip")) {
		size_t n;
		unsigned char *gz = gzip(LIST, strlen(LIST), &n);
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
		send_all(fd, gz, n);
		free(gz);
	} else if (!strcmp(path, "/bomb")) {
		/* 4 MiB of zeros, a few KiB compressed: beyond a 1 MiB limit */
		size_t big = 4u << 20, n;
		char *zeros = calloc(1, big);
		unsigned char *gz = gzip(zeros, big, &n);
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", n);
		send_all(fd, gz, n);
		free(gz);
		free(zeros);
	} else if (!strcmp(path, "/close")) {
		sendf(fd, "HTTP/1.0 200 OK\r\n\r\n%s", LIST);
	} else if (!strcmp(path, "/redir")) {
		sendf(fd, "HTTP/1.1 302 Found\r\nLocation: ok\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/loop-a")) {
		sendf(fd, "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:%d/loop-b\r\n\r\n", srv_port);
	} else if (!strcmp(path, "/loop-b")) {
		sendf(fd, "HTTP/1.1 307 Moved\r\nLocation: /loop-a\r\n\r\n");
	} else if (!strncmp(path, "/chain/", 7)) {
		sendf(fd, "HTTP/1.1 302 Found\r\nLocation: /chain/%d\r\n\r\n", atoi(path + 7) + 1);
	} else if (!strcmp(path, "/big")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n");
	} else if (!strcmp(path, "/bigchunks")) {
		char block[4096];
		memset(block, 'a', sizeof block);
		sendf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 512; i++) {
			sendf(fd, "1000\r\n");
			send_all(fd, block, sizeof block);
			sendf(fd, "\r\n");
		}
		sendf(fd, "0\r\n\r\n");
	} else if (!strcmp(path, "/trunc")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n||short^\n");
	} else if (!strcmp(path, "/hang")) {
		char b[256];
		while (!srv_stop && recv(fd, b, sizeof b, 0) > 0)
			;   /* never answers; returns when the client gives up */
	} else if (!strcmp(path, "/badchunk")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
	} else if (!strcmp(path, "/br")) {
		sendf(fd, "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc");
	} else if (!strcmp(path, "/interim")) {
		sendf(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
		      strlen(LIST), LIST);
	} else {
		sendf(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
	}
}

static void *serve(void *arg)
{
	(void)arg;
	while (!srv_stop) {
		struct pollfd p = { srv_fd, POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(srv_fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = { 5, 0 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[8192];
		size_t n = 0;
		while (n < sizeof buf - 1) {
			ssize_t r = recv(c, buf + n, sizeof buf - 1 - n, 0);
			if (r <= 0)
				break;
			n += (size_t)r;
			buf[n] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[n] = 0;
		memcpy(last_request, buf, n + 1);
		n_requests++;
		char path[512] = "";
		sscanf(buf, "GET %511s ", path);
		answer(c, path);
		close(c);
	}
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	srv_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(srv_fd, (struct sockaddr *)&a, sizeof a) || listen(srv_fd, 16))
		return -1;
	socklen_t len = sizeof a;
	getsockname(srv_fd, (struct sockaddr *)&a, &len);
	srv_port = ntohs(a.sin_port);
	srv_stop = 0;
	return pthread_create(&srv_thread, NULL, serve, NULL);
}

static int teardown(void **state)
{
	(void)state;
	srv_stop = 1;
	pthread_join(srv_thread, NULL);
	close(srv_fd);
	return 0;
}

static struct fetch_result *get(const char *path, const struct fetch_opts *o)
{
	char url[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv_port, path);
	struct fetch_opts d = { .max_size = 1 << 20, .timeout_ms = 5000,
	                        .max_redirects = FETCH_DEFAULT_REDIRECTS };
	struct fetch_result *r = fetch_blocking(url, o ? o : &d, NULL, NULL);
	assert_non_null(r);
	return r;
}

static void test_ok_with_validators(void **state)
{
	(void)state;
	struct fetch_result *r = get("/ok", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_int_equal(r->http_status, 200);
	assert_string_equal(r->body, LIST);
	assert_int_equal(r->body_len, strlen(LIST));
	assert_string_equal(r->etag, "\"v1\"");
	assert_string_equal(r->last_modified, "Sun, 01 Nov 2026 10:00:00 GMT");
	assert_non_null(strstr(last_request, "Accept-Encoding: gzip\r\n"));
	assert_null(strstr(last_request, "If-None-Match"));
	fetch_result_free(r);
}

static void test_conditional_304(void **state)
{
	(void)state;
	struct fetch_opts o = { .max_size = 1 << 20, .timeout_ms = 5000,
	                        .if_none_match = "\"v1\"",
	                        .if_modified_since = "Sun, 01 Nov 2026 10:00:00 GMT" };
	struct fetch_result *r = get("/304", &o);
	assert_int_equal(r->outcome, FETCH_NOT_MODIFIED);
	assert_int_equal(r->http_status, 304);
	assert_null(r->body);
	assert_non_null(strstr(last_request, "If-None-Match: \"v1\"\r\n"));
	assert_non_null(strstr(last_request, "If-Modified-Since: Sun, 01 Nov 2026 10:00:00 GMT\r\n"));
	fetch_result_free(r);
}

static void test_validator_injection_refused(void **state)
{
	(void)state;
	struct fetch_opts o = { .if_none_match = "\"x\"\r\nEvil: 1" };
	struct fetch_result *r = get("/ok", &o);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "control characters"));
	fetch_result_free(r);
}

static void test_chunked(void **state)
{
	(void)state;
	struct fetch_result *r = get("/chunked", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_string_equal(r->body, "||ads.example^\n");
	fetch_result_free(r);
}

static void test_gzip(void **state)
{
	(void)state;
	struct fetch_result *r = get("/gzip", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_string_equal(r->body, LIST);
	assert_true(r->wire_bytes > 0 && r->wire_bytes != strlen(LIST));
	fetch_result_free(r);
}

static void test_gzip_bomb_limited(void **state)
{
	(void)state;
	struct fetch_result *r = get("/bomb", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "decompressed"));
	fetch_result_free(r);
}

static void test_close_delimited(void **state)
{
	(void)state;
	struct fetch_result *r = get("/close", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_string_equal(r->body, LIST);
	fetch_result_free(r);
}

static void test_interim_response_skipped(void **state)
{
	(void)state;
	struct fetch_result *r = get("/interim", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_string_equal(r->body, LIST);
	fetch_result_free(r);
}

static void test_relative_redirect(void **state)
{
	(void)state;
	struct fetch_result *r = get("/redir", NULL);
	assert_int_equal(r->outcome, FETCH_OK);
	assert_int_equal(r->redirects, 1);
	assert_string_equal(r->body, LIST);
	char want[128];
	snprintf(want, sizeof want, "http://127.0.0.1:%d/ok", srv_port);
	assert_string_equal(r->url, want);
	fetch_result_free(r);
}

static void test_redirect_loop(void **state)
{
	(void)state;
	struct fetch_result *r = get("/loop-a", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "redirect loop"));
	fetch_result_free(r);
}

static void test_too_many_redirects(void **state)
{
	(void)state;
	int before = n_requests;
	struct fetch_result *r = get("/chain/0", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "more than 5 redirects"));
	assert_int_equal(n_requests - before, 6);   /* the first + 5 followed */
	fetch_result_free(r);
}

static void test_size_limits(void **state)
{
	(void)state;
	struct fetch_result *r = get("/big", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "limit"));
	fetch_result_free(r);
	r = get("/bigchunks", NULL);   /* 2 MiB in chunks, no length announced */
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "limit"));
	fetch_result_free(r);
}

static void test_truncated_and_malformed(void **state)
{
	(void)state;
	struct fetch_result *r = get("/trunc", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "closed in the middle"));
	fetch_result_free(r);
	r = get("/badchunk", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "chunk size"));
	fetch_result_free(r);
	r = get("/br", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "Content-Encoding"));
	fetch_result_free(r);
}

static void test_http_error_status(void **state)
{
	(void)state;
	struct fetch_result *r = get("/missing", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_int_equal(r->http_status, 404);
	assert_non_null(strstr(r->error, "HTTP 404"));
	fetch_result_free(r);
}

static void test_timeout(void **state)
{
	(void)state;
	struct fetch_opts o = { .max_size = 1 << 20, .timeout_ms = 300 };
	struct fetch_result *r = get("/hang", &o);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "timed out"));
	assert_true(r->elapsed_ms >= 290 && r->elapsed_ms < 3000);
	fetch_result_free(r);
}

static void test_connection_refused(void **state)
{
	(void)state;
	/* a port nobody listens on: bind one, close it */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&a, sizeof a);
	socklen_t len = sizeof a;
	getsockname(s, (struct sockaddr *)&a, &len);
	close(s);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
	struct fetch_opts o = { .timeout_ms = 5000 };
	struct fetch_result *r = fetch_blocking(url, &o, NULL, NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "cannot connect"));
	fetch_result_free(r);
}

static void test_bad_urls(void **state)
{
	(void)state;
	const char *bad[] = { "ftp://x/y", "http://", "http://h:99999/", "http://u@h/",
	                      "http://h/a b", "notaurl" };
	struct fetch_opts o = { .timeout_ms = 1000 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fetch_result *r = fetch_blocking(bad[i], &o, NULL, NULL);
		assert_int_equal(r->outcome, FETCH_ERROR);
		assert_true(r->error[0] != 0);
		fetch_result_free(r);
	}
}

static void test_unknown_host(void **state)
{
	(void)state;
	struct fetch_opts o = { .timeout_ms = 3000 };
	/* .invalid never resolves (RFC 6761); a dead resolver also fails fast */
	struct fetch_result *r = fetch_blocking("http://nx.invalid/list.txt", &o, NULL, "127.0.0.1:9");
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_true(strstr(r->error, "resolve") || strstr(r->error, "timed out"));
	fetch_result_free(r);
}

/* The client builds its TLS context on the first HTTPS fetch and its
 * resolver on the first name that needs a query: a bad upstream CA file
 * fails HTTPS fetches only, naming the file; literals and localhost need no
 * resolver (the dead one at port 9 would time out); a malformed resolver
 * address is still refused at once. */
static void test_lazy_tls_and_resolver(void **state)
{
	(void)state;
	char url[256], err[256] = "";
	struct fetch_opts o = { .max_size = 1 << 20, .timeout_ms = 5000 };
	snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", srv_port);
	struct fetch_result *r = fetch_blocking(url, &o, "/nonexistent/ca.pem", "127.0.0.1:9");
	assert_int_equal(r->outcome, FETCH_OK);
	fetch_result_free(r);
	snprintf(url, sizeof url, "http://localhost:%d/ok", srv_port);
	r = fetch_blocking(url, &o, NULL, "127.0.0.1:9");
	assert_int_equal(r->outcome, FETCH_OK);
	fetch_result_free(r);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/ok", srv_port);
	r = fetch_blocking(url, &o, "/nonexistent/ca.pem", NULL);
	assert_int_equal(r->outcome, FETCH_ERROR);
	assert_non_null(strstr(r->error, "upstream_ca_file /nonexistent/ca.pem"));
	fetch_result_free(r);
	struct event_base *base = event_base_new();
	assert_null(fetch_client_new(base, NULL, "not an address", err, sizeof err));
	assert_non_null(strstr(err, "bad resolver address"));
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_with_validators),
		cmocka_unit_test(test_conditional_304),
		cmocka_unit_test(test_validator_injection_refused),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_gzip_bomb_limited),
		cmocka_unit_test(test_close_delimited),
		cmocka_unit_test(test_interim_response_skipped),
		cmocka_unit_test(test_relative_redirect),
		cmocka_unit_test(test_redirect_loop),
		cmocka_unit_test(test_too_many_redirects),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_truncated_and_malformed),
		cmocka_unit_test(test_http_error_status),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_unknown_host),
		cmocka_unit_test(test_lazy_tls_and_resolver),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
