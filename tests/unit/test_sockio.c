/* Unit tests for proxy/sockio: large reads bounded by room, nothing to
 * read, EOF, and the input stays frozen for its users afterwards; pushes
 * that reach the socket before the loop runs, plain and over TLS, where a
 * head and a body in separate chunks leave as one record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/sockio.h"

struct pair {
	struct event_base *base;
	struct bufferevent *bev;
	int peer;
};

static struct pair make_pair(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	struct pair p = { event_base_new(), NULL, sv[1] };
	p.bev = bufferevent_socket_new(p.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(p.bev);
	return p;
}

static void free_pair(struct pair *p)
{
	bufferevent_free(p->bev);
	if (p->peer >= 0)
		close(p->peer);
	event_base_free(p->base);
}

static void test_reads_large_pieces_bounded(void **state)
{
	struct pair p = make_pair();
	static char data[100000];
	memset(data, 'q', sizeof data);
	assert_int_equal(write(p.peer, data, sizeof data), (ssize_t)sizeof data);
	struct evbuffer *in = bufferevent_get_input(p.bev);
	ssize_t n = sockio_slurp(p.bev, 60000);
	assert_int_equal(n, 60000);                         /* more than libevent's 4 KiB */
	assert_int_equal(evbuffer_get_length(in), 60000);
	assert_int_equal(sockio_slurp(p.bev, 0), 0);       /* no room */
	assert_int_equal(sockio_slurp(p.bev, 1 << 20), 40000);
	assert_int_equal(sockio_slurp(p.bev, 1 << 20), 0); /* nothing left: EAGAIN */
	assert_int_equal(evbuffer_get_length(in), sizeof data);
	/* the input's end is frozen again: users cannot append */
	assert_int_equal(evbuffer_add(in, "x", 1), -1);
	free_pair(&p);
}

static void test_eof_is_zero(void **state)
{
	struct pair p = make_pair();
	assert_int_equal(write(p.peer, "abc", 3), 3);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(sockio_slurp(p.bev, 100), 3);
	assert_int_equal(sockio_slurp(p.bev, 100), 0);     /* EOF: left for libevent */
	free_pair(&p);
}

/* Bytes waiting on fd right now (MSG_PEEK, nothing consumed). */
static ssize_t waiting(int fd)
{
	static char buf[4096];
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 0) != 1)
		return 0;
	return recv(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
}

static void test_push_plain_writes_now(void **state)
{
	struct pair p = make_pair();
	bufferevent_enable(p.bev, EV_READ | EV_WRITE);
	evbuffer_add(bufferevent_get_output(p.bev), "hello", 5);
	assert_int_equal(waiting(p.peer), 0);
	sockio_push(p.bev);                  /* no loop pass: the bytes are out */
	assert_int_equal(waiting(p.peer), 5);
	assert_int_equal(evbuffer_get_length(bufferevent_get_output(p.bev)), 0);
	free_pair(&p);
}

/* A throw-away self-signed P-256 certificate for the TLS test. */
static void make_cert(X509 **cert, EVP_PKEY **key)
{
	*key = EVP_EC_gen("P-256");
	*cert = X509_new();
	assert_non_null(*key);
	assert_non_null(*cert);
	X509_NAME *name = X509_get_subject_name(*cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sockio.test", -1, -1, 0);
	X509_set_issuer_name(*cert, name);
	ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(*cert), -60);
	X509_gmtime_adj(X509_getm_notAfter(*cert), 3600);
	X509_set_pubkey(*cert, *key);
	assert_true(X509_sign(*cert, *key, EVP_sha256()) > 0);
}

static int tls_connected;

static void on_tls_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_CONNECTED)
		tls_connected++;
}

static void test_push_tls_writes_one_record_now(void **state)
{
	X509 *cert;
	EVP_PKEY *key;
	make_cert(&cert, &key);
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(SSL_CTX_use_cert_and_key(sctx, cert, key, NULL, 1), 1);
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	struct event_base *base = event_base_new();
	int opt = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	struct bufferevent *client = bufferevent_openssl_socket_new(base, sv[0], SSL_new(cctx),
	                                                            BUFFEREVENT_SSL_CONNECTING, opt);
	struct bufferevent *server = bufferevent_openssl_socket_new(base, sv[1], SSL_new(sctx),
	                                                            BUFFEREVENT_SSL_ACCEPTING, opt);
	assert_non_null(client);
	assert_non_null(server);
	tls_connected = 0;
	bufferevent_setcb(client, NULL, NULL, on_tls_event, NULL);
	bufferevent_setcb(server, NULL, NULL, on_tls_event, NULL);
	bufferevent_enable(client, EV_READ | EV_WRITE);
	bufferevent_enable(server, EV_READ | EV_WRITE);
	for (int i = 0; i < 1000 && tls_connected < 2; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(tls_connected, 2);
	bufferevent_disable(server, EV_READ);    /* leave the bytes in the socket */
	for (int i = 0; i < 20; i++)             /* settle (the server's session tickets) */
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(waiting(sv[1]), 0);

	/* a head and a body in two chunks of the output */
	struct evbuffer *out = bufferevent_get_output(client), *body = evbuffer_new();
	static char text[1000];
	memset(text, 'b', sizeof text);
	evbuffer_add(out, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 42);
	evbuffer_add(body, text, sizeof text);
	evbuffer_add_buffer(out, body);
	sockio_push(client);
	/* one TLS 1.3 record: 5 bytes of header, the text, its content type
	 * byte and a 16-byte tag; two records would be 22 bytes more */
	assert_int_equal(waiting(sv[1]), 5 + 42 + 1000 + 1 + 16);
	assert_int_equal(evbuffer_get_length(out), 0);

	/* and the other side reads it back as it was */
	bufferevent_enable(server, EV_READ);
	struct evbuffer *in = bufferevent_get_input(server);
	for (int i = 0; i < 1000 && evbuffer_get_length(in) < 1042; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(evbuffer_get_length(in), 1042);
	assert_memory_equal(evbuffer_pullup(in, 42), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 42);

	evbuffer_free(body);
	bufferevent_free(client);
	bufferevent_free(server);
	event_base_free(base);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_io_max_tls_reads_one_record(void **state)
{
	struct pair p = make_pair();
	sockio_set_io_max(p.bev, 262144);
	assert_int_equal(bufferevent_get_max_single_read(p.bev), 262144);
	assert_int_equal(bufferevent_get_max_single_write(p.bev), 262144);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct bufferevent *tls = bufferevent_openssl_socket_new(p.base, -1, SSL_new(ctx),
	                                                         BUFFEREVENT_SSL_CONNECTING,
	                                                         BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(tls);
	sockio_set_io_max(tls, 262144);
	assert_int_equal(bufferevent_get_max_single_read(tls), SOCKIO_RECORD);
	assert_int_equal(bufferevent_get_max_single_write(tls), 262144);
	sockio_set_io_max(tls, 4096);      /* smaller than a record: as asked */
	assert_int_equal(bufferevent_get_max_single_read(tls), 4096);
	bufferevent_free(tls);
	SSL_CTX_free(ctx);
	free_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_large_pieces_bounded),
		cmocka_unit_test(test_eof_is_zero),
		cmocka_unit_test(test_push_plain_writes_now),
		cmocka_unit_test(test_push_tls_writes_one_record_now),
		cmocka_unit_test(test_io_max_tls_reads_one_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
