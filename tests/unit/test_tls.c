/* Unit tests for certs/tls (and certs/pages): ClientHello detection on real
 * bytes, CA creation through tls_new and the permission check, intercepted
 * handshakes over memory BIOs (SNI, no SNI, IP literal, ALPN, resumption,
 * one mint per host), origin verification failures and their reasons,
 * bypass rules, and the documents served from quell's own pages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <netinet/in.h>

#include "certs/pages.h"
#include "certs/tls.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/headers.h"

static char tmpdir[64];

struct fx {
	struct config cfg;
	struct tls *t;
	char err[512];
};

static void set(struct config *cfg, const char *key, const char *value)
{
	char err[256];
	if (config_set(cfg, key, value, "test", 1, err, sizeof err) != 0)
		fail_msg("config_set %s: %s", key, err);
}

static int group_setup(void **state)
{
	strcpy(tmpdir, "/tmp/quell-test-tls-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A tls over a fresh CA dir named sub. */
static int setup_sub(void **state, const char *sub)
{
	struct fx *f = calloc(1, sizeof *f);
	char dir[128];
	config_defaults(&f->cfg);
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, sub);
	set(&f->cfg, "ca_dir", dir);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	static int n;
	char sub[32];
	snprintf(sub, sizeof sub, "ca%d", n++);
	setup_sub(state, sub);
	struct fx *f = *state;
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	if (!f->t)
		fail_msg("tls_new: %s", f->err);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tls_free(f->t);
	config_free(&f->cfg);
	free(f);
	return 0;
}

/* ---- helpers: certificates and in-memory handshakes ---- */

static EVP_PKEY *ec_key(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); }

/* A certificate for key: subject CN cn, signed by issuer/ikey (self-signed
 * when issuer is NULL), valid from from_days to to_days around now, with
 * san ("DNS:x" / "IP:y") or as a CA when san is NULL. */
static X509 *make_cert(X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key, const char *cn,
                       const char *san, long from_days, long to_days)
{
	X509 *c = X509_new();
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)rand() + 1);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
	                           (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer : c));
	X509_time_adj_ex(X509_getm_notBefore(c), (int)from_days, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(c), (int)to_days, 0, NULL);
	X509_set_pubkey(c, key);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : c, c, NULL, NULL, 0);
	X509_EXTENSION *e = san ? X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san)
	                        : X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	assert_non_null(e);
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(c, issuer ? ikey : key, EVP_sha256()) > 0);
	return c;
}

/* Runs a handshake between c and s over a BIO pair.  Returns 1 when both
 * completed, 0 when either failed (bounded: 100 rounds). */
static int handshake(SSL *c, SSL *s)
{
	BIO *bc, *bs;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c, bc, bc);
	SSL_set_bio(s, bs, bs);
	int cd = 0, sd = 0;
	for (int i = 0; i < 100 && !(cd == 1 && sd == 1); i++) {
		SSL *side[2] = { c, s };
		int *done[2] = { &cd, &sd };
		for (int k = 0; k < 2; k++) {
			if (*done[k])
				continue;
			int r = SSL_do_handshake(side[k]);
			int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(side[k], r);
			if (r == 1)
				*done[k] = 1;
			else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				*done[k] = -1;
		}
		if (cd < 0 || sd < 0)
			break;
	}
	ERR_clear_error();
	return cd == 1 && sd == 1;
}

/* A browser-like client context trusting quell's CA. */
static SSL_CTX *browser_ctx(struct tls *t, int max_version)
{
	size_t n;
	const char *pem = tls_ca_pem(t, &n);
	BIO *b = BIO_new_mem_buf(pem, (int)n);
	X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(ca);
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
	X509_free(ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (max_version)
		SSL_CTX_set_max_proto_version(ctx, max_version);
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
	return ctx;
}

static SSL *browser(SSL_CTX *ctx, const char *sni, const char *verify_name, const char *verify_ip)
{
	SSL *c = SSL_new(ctx);
	if (sni)
		SSL_set_tlsext_host_name(c, sni);
	if (verify_name)
		SSL_set1_host(c, verify_name);
	if (verify_ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c), verify_ip);
	SSL_set_connect_state(c);
	return c;
}

/* ---- ClientHello peek ---- */

static void test_peek_client_hello(void **state)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *c = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL_set_bio(c, rb, wb);
	SSL_set_tlsext_host_name(c, "www.example.org");
	assert_int_equal(SSL_connect(c), -1);
	assert_int_equal(SSL_get_error(c, -1), SSL_ERROR_WANT_READ);
	unsigned char *hello;
	long n = BIO_get_mem_data(wb, (char **)&hello);
	assert_true(n > 100);
	assert_int_equal(tls_peek_client_hello(hello, (size_t)n), 1);
	assert_int_equal(tls_peek_client_hello(hello, 6), 1);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(tls_peek_client_hello(hello, i), -1);
	SSL_free(c);
	SSL_CTX_free(ctx);

	static const struct { const char *bytes; size_t len; } not_tls[] = {
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27 },
		{ "SSH-2.0-OpenSSH_9.2\r\n", 21 },
		{ "\x16\x03\x05\x00\x40\x01", 6 },   /* unknown version */
		{ "\x15\x03\x03\x00\x02\x02", 6 },   /* an alert */
		{ "\x16\x03\x03\x00\x40\x02", 6 },   /* a ServerHello */
		{ "\x16\x03\x01\x00\x00\x01", 6 },   /* empty record */
		{ "\x80\x2e\x01\x03\x01\x00", 6 },   /* SSLv2-style hello */
		{ "G", 1 },                          /* decided on one byte */
	};
	for (size_t i = 0; i < sizeof not_tls / sizeof not_tls[0]; i++)
		assert_int_equal(tls_peek_client_hello((const unsigned char *)not_tls[i].bytes, not_tls[i].len), 0);
}

/* ---- CA through tls_new ---- */

static void test_new_creates_then_loads(void **state)
{
	struct fx *f;
	char key[200], fp[128];
	struct stat st;
	setup_sub(state, "create");
	f = *state;
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	if (!f->t)
		fail_msg("%s", f->err);
	snprintf(key, sizeof key, "%s/key-check", tmpdir);
	snprintf(key, sizeof key, "%s/create/ca.key", tmpdir);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	strcpy(fp, tls_ca_fingerprint(f->t));
	assert_int_equal(tls_mint_count(f->t), 0);
	tls_free(f->t);

	f->t = tls_new(&f->cfg, f->err, sizeof f->err);   /* loads, does not recreate */
	assert_non_null(f->t);
	assert_string_equal(tls_ca_fingerprint(f->t), fp);
	tls_free(f->t);

	assert_int_equal(chmod(key, 0644), 0);
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_null(f->t);
	assert_non_null(strstr(f->err, "chmod 600"));
	assert_int_equal(chmod(key, 0600), 0);

	set(&f->cfg, "upstream_ca_file", "/nonexistent/ca.pem");
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_null(f->t);
	assert_non_null(strstr(f->err, "upstream_ca_file"));
	teardown(state);
}

/* Interception off: tls_new checks the CA key's mode and upstream_ca_file
 * without OpenSSL and loads nothing; the first use loads the CA (and a
 * failed load is retried), where interception on refuses to start. */
static void test_lazy_when_intercept_off(void **state)
{
	struct fx *f;
	char pem[200], saved[200], cmd[1024], pemfile[200];
	setup_sub(state, "lazy");
	f = *state;
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);      /* creates the CA */
	assert_non_null(f->t);
	tls_free(f->t);
	snprintf(pem, sizeof pem, "%s/lazy/ca.pem", tmpdir);
	snprintf(saved, sizeof saved, "%s/lazy-ca.pem", tmpdir);
	snprintf(cmd, sizeof cmd, "mv '%s' '%s' && echo garbage > '%s'", pem, saved, pem);
	assert_int_equal(system(cmd), 0);

	/* a broken certificate: refused at start with interception on ... */
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_null(f->t);
	/* ... accepted with it off, and refused by each first use */
	set(&f->cfg, "intercept", "off");
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	if (!f->t)
		fail_msg("%s", f->err);
	tls_rotate_ticket_keys(f->t);            /* nothing built yet: a no-op */
	assert_null(tls_client_side(f->t, "www.example.org"));
	assert_non_null(strstr(tls_ca_subject(f->t), "unavailable"));
	size_t n = 1;
	assert_string_equal(tls_ca_pem(f->t, &n), "");
	assert_int_equal(n, 0);
	assert_int_equal(tls_mint_count(f->t), 0);

	/* repaired: the next use builds the browser side */
	snprintf(cmd, sizeof cmd, "mv '%s' '%s'", saved, pem);
	assert_int_equal(system(cmd), 0);
	SSL_CTX *ctx = browser_ctx(f->t, 0);
	SSL *c = browser(ctx, "www.example.org", "www.example.org", NULL);
	SSL *s = tls_client_side(f->t, "www.example.org");
	assert_non_null(s);
	assert_int_equal(handshake(c, s), 1);
	assert_int_equal(tls_mint_count(f->t), 1);
	tls_rotate_ticket_keys(f->t);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
	tls_free(f->t);
	f->t = NULL;

	/* the key's mode is still checked at start */
	char key[200];
	snprintf(key, sizeof key, "%s/lazy/ca.key", tmpdir);
	assert_int_equal(chmod(key, 0640), 0);
	assert_null(f->t = tls_new(&f->cfg, f->err, sizeof f->err));
	assert_non_null(strstr(f->err, "chmod 600"));
	assert_int_equal(chmod(key, 0600), 0);

	/* upstream_ca_file: missing, or without a certificate, is an error */
	set(&f->cfg, "upstream_ca_file", "/nonexistent/ca.pem");
	assert_null(f->t = tls_new(&f->cfg, f->err, sizeof f->err));
	assert_non_null(strstr(f->err, "upstream_ca_file"));
	snprintf(pemfile, sizeof pemfile, "%s/not-a-cert.pem", tmpdir);
	FILE *fp = fopen(pemfile, "w");
	assert_non_null(fp);
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", fp);
	fclose(fp);
	set(&f->cfg, "upstream_ca_file", pemfile);
	assert_null(f->t = tls_new(&f->cfg, f->err, sizeof f->err));
	assert_non_null(strstr(f->err, "no PEM certificate"));
	set(&f->cfg, "upstream_ca_file", pem);
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	if (!f->t)
		fail_msg("%s", f->err);
	teardown(state);
}

struct race {
	struct tls *t;
	pthread_barrier_t *go;
	SSL *ssl;
};

static void *race_main(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(r->go);
	r->ssl = tls_client_side(r->t, "race.example");
	return NULL;
}

/* Workers racing to the first intercepted CONNECT share one context. */
static void test_lazy_build_races(void **state)
{
	enum { N = 8 };
	struct fx *f;
	setup_sub(state, "race");
	f = *state;
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);      /* creates the CA */
	assert_non_null(f->t);
	tls_free(f->t);
	set(&f->cfg, "intercept", "off");
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_non_null(f->t);
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, N);
	struct race r[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		r[i] = (struct race){ .t = f->t, .go = &go };
		assert_int_equal(pthread_create(&th[i], NULL, race_main, &r[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < N; i++) {
		assert_non_null(r[i].ssl);
		assert_ptr_equal(SSL_get_SSL_CTX(r[i].ssl), SSL_get_SSL_CTX(r[0].ssl));
	}
	for (int i = 0; i < N; i++)
		SSL_free(r[i].ssl);
	teardown(state);
}

/* ---- browser side ---- */

static void expect_dns_san(SSL *c, const char *name)
{
	X509 *peer = SSL_get1_peer_certificate(c);
	assert_non_null(peer);
	assert_int_equal(X509_check_host(peer, name, 0, 0, NULL), 1);
	X509_free(peer);
}

static void test_intercept_sni(void **state)
{
	struct fx *f = *state;
	SSL_CTX *ctx = browser_ctx(f->t, 0);
	SSL *c = browser(ctx, "www.example.org", "www.example.org", NULL);
	SSL *s = tls_client_side(f->t, "connect.example");
	assert_non_null(s);
	assert_int_equal(handshake(c, s), 1);
	assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
	expect_dns_san(c, "www.example.org");
	const unsigned char *alpn;
	unsigned int alen;
	SSL_get0_alpn_selected(c, &alpn, &alen);
	assert_int_equal(alen, 8);
	assert_memory_equal(alpn, "http/1.1", 8);
	assert_int_equal(SSL_version(c), TLS1_3_VERSION);
	assert_int_equal(tls_mint_count(f->t), 1);
	SSL_free(c);
	SSL_free(s);

	/* a second connection to the host mints nothing */
	c = browser(ctx, "WWW.EXAMPLE.ORG", "www.example.org", NULL);
	s = tls_client_side(f->t, "connect.example");
	assert_int_equal(handshake(c, s), 1);
	assert_int_equal(tls_mint_count(f->t), 1);
	assert_int_equal(tls_cache_hits(f->t), 1);
	SSL_free(c);
	SSL_free(s);

	/* TLS 1.2 clients work too */
	SSL_CTX *ctx12 = browser_ctx(f->t, TLS1_2_VERSION);
	c = browser(ctx12, "www.example.org", "www.example.org", NULL);
	s = tls_client_side(f->t, "connect.example");
	assert_int_equal(handshake(c, s), 1);
	assert_int_equal(SSL_version(c), TLS1_2_VERSION);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx12);
	SSL_CTX_free(ctx);
}

static void test_intercept_no_sni_and_ip(void **state)
{
	struct fx *f = *state;
	SSL_CTX *ctx = browser_ctx(f->t, 0);
	/* no SNI: the CONNECT host's name */
	SSL *c = browser(ctx, NULL, "connect.example", NULL);
	SSL *s = tls_client_side(f->t, "connect.example");
	assert_int_equal(handshake(c, s), 1);
	expect_dns_san(c, "connect.example");
	SSL_free(c);
	SSL_free(s);
	/* an IP literal: an IP SAN */
	const char *ips[][2] = { { "127.0.0.1", "127.0.0.1" }, { "[::1]", "::1" } };
	for (int i = 0; i < 2; i++) {
		c = browser(ctx, NULL, NULL, ips[i][1]);
		s = tls_client_side(f->t, ips[i][0]);
		assert_int_equal(handshake(c, s), 1);
		assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
		SSL_free(c);
		SSL_free(s);
	}
	assert_int_equal(tls_mint_count(f->t), 3);
	/* a bad SNI falls back to the CONNECT host */
	c = browser(ctx, "bad name!", "connect.example", NULL);
	s = tls_client_side(f->t, "connect.example");
	assert_int_equal(handshake(c, s), 1);
	assert_int_equal(tls_mint_count(f->t), 3);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

static void test_resumption(void **state)
{
	struct fx *f = *state;
	for (int v = 0; v < 2; v++) {
		SSL_CTX *ctx = browser_ctx(f->t, v ? TLS1_2_VERSION : 0);
		SSL *c = browser(ctx, "resume.example", "resume.example", NULL);
		SSL *s = tls_client_side(f->t, "resume.example");
		assert_int_equal(handshake(c, s), 1);
		unsigned char b;
		assert_true(SSL_read(c, &b, 1) <= 0);   /* takes in a TLS 1.3 ticket */
		SSL_SESSION *sess = SSL_get1_session(c);
		assert_non_null(sess);
		assert_int_equal(SSL_SESSION_has_ticket(sess), 1);
		/* freed without a close_notify, a session is marked not resumable */
		SSL_shutdown(c);
		assert_int_equal(SSL_SESSION_is_resumable(sess), 1);
		SSL_free(c);
		SSL_free(s);
		c = browser(ctx, "resume.example", "resume.example", NULL);
		SSL_set_session(c, sess);
		s = tls_client_side(f->t, "resume.example");
		assert_int_equal(handshake(c, s), 1);
		if (SSL_session_reused(c) != 1)
			fail_msg("no resumption with %s", v ? "TLS 1.2" : "TLS 1.3");
		SSL_SESSION_free(sess);
		SSL_free(c);
		SSL_free(s);
		SSL_CTX_free(ctx);
	}
}

/* A session from a fresh handshake with resume.example (ticket taken in). */
static SSL_SESSION *fresh_session(struct tls *t, SSL_CTX *ctx)
{
	unsigned char b;
	SSL *c = browser(ctx, "resume.example", "resume.example", NULL);
	SSL *s = tls_client_side(t, "resume.example");
	assert_int_equal(handshake(c, s), 1);
	assert_true(SSL_read(c, &b, 1) <= 0);
	SSL_SESSION *sess = SSL_get1_session(c);
	SSL_shutdown(c);
	SSL_free(c);
	SSL_free(s);
	return sess;
}

/* 1 when a handshake offering sess resumed it. */
static int resumes(struct tls *t, SSL_CTX *ctx, SSL_SESSION *sess)
{
	SSL *c = browser(ctx, "resume.example", "resume.example", NULL);
	SSL_set_session(c, sess);
	SSL *s = tls_client_side(t, "resume.example");
	assert_int_equal(handshake(c, s), 1);
	int r = SSL_session_reused(c);
	SSL_shutdown(c);
	SSL_free(c);
	SSL_free(s);
	return r;
}

static void test_ticket_key_rotation(void **state)
{
	struct fx *f = *state;
	for (int v = 0; v < 2; v++) {
		SSL_CTX *ctx = browser_ctx(f->t, v ? TLS1_2_VERSION : 0);
		SSL_SESSION *sess = fresh_session(f->t, ctx);
		tls_rotate_ticket_keys(f->t);
		/* a ticket under the previous key still resumes */
		assert_int_equal(resumes(f->t, ctx, sess), 1);
		tls_rotate_ticket_keys(f->t);
		/* two rotations later it is refused: a full handshake */
		assert_int_equal(resumes(f->t, ctx, sess), 0);
		SSL_SESSION_free(sess);
		/* and new tickets work under the new key */
		sess = fresh_session(f->t, ctx);
		assert_int_equal(resumes(f->t, ctx, sess), 1);
		SSL_SESSION_free(sess);
		SSL_CTX_free(ctx);
	}
}

/* Not a timed assertion: what a full intercepted handshake costs (both
 * sides, as they run here in one thread), after the leaf is cached. */
static void test_handshake_cost(void **state)
{
	struct fx *f = *state;
	SSL_CTX *ctx = browser_ctx(f->t, 0);
	struct timespec t0, t1;
	enum { N = 100 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		SSL *c = browser(ctx, "cost.example", "cost.example", NULL);
		SSL *s = tls_client_side(f->t, "cost.example");
		assert_int_equal(handshake(c, s), 1);
		SSL_free(c);
		SSL_free(s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("full TLS 1.3 handshake, client + quell side: %.0f us each\n",
	       ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / N);
	assert_int_equal(tls_mint_count(f->t), 1);
	SSL_CTX_free(ctx);
}

/* ---- origin side ---- */

struct origin_pki {
	EVP_PKEY *ca_key, *key, *other_key;
	X509 *ca, *other_ca;
	char ca_file[160];
};

static const char *seen_sni;

static int record_sni(SSL *s, int *al, void *arg)
{
	const char *n = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	seen_sni = n ? strdup(n) : NULL;
	return SSL_TLSEXT_ERR_OK;
}

/* A server context presenting cert (kept across handshakes, so its
 * session tickets stay valid). */
static SSL_CTX *origin_server(X509 *cert, EVP_PKEY *key)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	SSL_CTX_set_tlsext_servername_callback(sctx, record_sni);
	return sctx;
}

static int last_reused;

/* Handshakes tls_origin_side(host) with a server on sctx.  Returns 1 when
 * it completed, 0 when not; *reason gets tls_verify_reason, last_reused
 * whether the session was resumed. */
static int origin_try(struct tls *t, const char *host, SSL_CTX *sctx, const char **reason)
{
	SSL *s = SSL_new(sctx);
	SSL_set_accept_state(s);
	SSL *c = tls_origin_side(t, host);
	assert_non_null(c);
	free((void *)seen_sni);
	seen_sni = NULL;
	int ok = handshake(c, s);
	*reason = tls_verify_reason(c);
	last_reused = SSL_session_reused(c);
	if (ok) {
		unsigned char b;
		assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
		assert_true(SSL_read(c, &b, 1) <= 0);   /* takes in TLS 1.3 tickets */
	}
	SSL_free(c);   /* no close_notify, as connections often end */
	SSL_free(s);
	return ok;
}

static void test_origin_verification(void **state)
{
	struct fx *f;
	struct origin_pki p;
	const char *why;
	setup_sub(state, "origin");
	f = *state;
	p.ca_key = ec_key();
	p.key = ec_key();
	p.other_key = ec_key();
	p.ca = make_cert(NULL, NULL, p.ca_key, "origin test CA", NULL, -1, 30);
	p.other_ca = make_cert(NULL, NULL, p.other_key, "some other CA", NULL, -1, 30);
	snprintf(p.ca_file, sizeof p.ca_file, "%s/origin-ca.pem", tmpdir);
	FILE *fp = fopen(p.ca_file, "w");
	PEM_write_X509(fp, p.ca);
	fclose(fp);
	set(&f->cfg, "upstream_ca_file", p.ca_file);
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_non_null(f->t);

	X509 *good = make_cert(p.ca, p.ca_key, p.key, "origin.test", "DNS:origin.test", -1, 30);
	X509 *expired = make_cert(p.ca, p.ca_key, p.key, "origin.test", "DNS:origin.test", -30, -1);
	X509 *wrong = make_cert(p.ca, p.ca_key, p.key, "other.test", "DNS:other.test", -1, 30);
	X509 *self = make_cert(NULL, NULL, p.key, "origin.test", "DNS:origin.test", -1, 30);
	X509 *stranger = make_cert(p.other_ca, p.other_key, p.key, "origin.test", "DNS:origin.test", -1, 30);
	X509 *ip = make_cert(p.ca, p.ca_key, p.key, "127.0.0.1", "IP:127.0.0.1", -1, 30);

	SSL_CTX *s_good = origin_server(good, p.key), *s_expired = origin_server(expired, p.key),
	        *s_wrong = origin_server(wrong, p.key), *s_self = origin_server(self, p.key),
	        *s_stranger = origin_server(stranger, p.key), *s_ip = origin_server(ip, p.key);

	assert_int_equal(origin_try(f->t, "origin.test", s_good, &why), 1);
	assert_non_null(seen_sni);
	assert_string_equal(seen_sni, "origin.test");
	assert_int_equal(last_reused, 0);
	/* the next connection to the host resumes the verified session */
	assert_int_equal(origin_try(f->t, "Origin.Test.", s_good, &why), 1);
	assert_int_equal(last_reused, 1);

	assert_int_equal(origin_try(f->t, "origin.test", s_expired, &why), 0);
	assert_string_equal(why, "certificate has expired");
	assert_int_equal(origin_try(f->t, "origin.test", s_wrong, &why), 0);
	assert_string_equal(why, "certificate is for another host name");
	assert_int_equal(origin_try(f->t, "origin.test", s_self, &why), 0);
	assert_string_equal(why, "self-signed certificate");
	assert_int_equal(origin_try(f->t, "origin.test", s_stranger, &why), 0);
	assert_string_equal(why, "unknown issuer");
	/* a sub-domain is not covered by an exact name, and the session
	 * verified for origin.test is not offered for it */
	assert_int_equal(origin_try(f->t, "www.origin.test", s_good, &why), 0);
	assert_int_equal(last_reused, 0);
	assert_string_equal(why, "certificate is for another host name");

	/* IP literals: checked against IP SANs, no SNI sent */
	assert_int_equal(origin_try(f->t, "127.0.0.1", s_ip, &why), 1);
	assert_null(seen_sni);
	assert_int_equal(origin_try(f->t, "127.0.0.2", s_ip, &why), 0);
	assert_string_equal(why, "certificate is for another host name");
	assert_int_equal(origin_try(f->t, "127.0.0.3", s_good, &why), 0);
	assert_string_equal(why, "certificate is for another host name");
	assert_string_equal(tls_verify_reason(NULL), "TLS handshake failed");

	SSL_CTX *all_ctx[] = { s_good, s_expired, s_wrong, s_self, s_stranger, s_ip };
	for (size_t i = 0; i < sizeof all_ctx / sizeof all_ctx[0]; i++)
		SSL_CTX_free(all_ctx[i]);
	free((void *)seen_sni);
	seen_sni = NULL;
	X509 *all[] = { good, expired, wrong, self, stranger, ip, p.ca, p.other_ca };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		X509_free(all[i]);
	EVP_PKEY_free(p.ca_key);
	EVP_PKEY_free(p.key);
	EVP_PKEY_free(p.other_key);
	teardown(state);
}

/* ---- bypass ---- */

static void test_bypass(void **state)
{
	struct fx *f = *state;
	set(&f->cfg, "intercept_bypass", "example.com .bank.test");
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "example.com"), 1);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "www.EXAMPLE.com"), 1);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "a.b.bank.test."), 1);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "badexample.com"), 0);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "example.com.evil"), 0);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "other.org"), 0);
	f->cfg.intercept = 0;
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "other.org"), 1);
	f->cfg.intercept = 1;

	/* auto-bypass after 3 consecutive failures (the default) */
	assert_int_equal(f->cfg.auto_bypass_failures, 3);
	tls_client_handshake_failed(f->t, "pin.test");
	tls_client_handshake_failed(f->t, "PIN.test");
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "pin.test"), 0);
	/* a completed handshake resets the count */
	SSL_CTX *ctx = browser_ctx(f->t, 0);
	SSL *c = browser(ctx, "pin.test", "pin.test", NULL);
	SSL *s = tls_client_side(f->t, "pin.test");
	assert_int_equal(handshake(c, s), 1);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
	tls_client_handshake_failed(f->t, "pin.test");
	tls_client_handshake_failed(f->t, "pin.test");
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "pin.test"), 0);
	tls_client_handshake_failed(f->t, "pin.test");
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "pin.test"), 1);
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "www.pin.test"), 0);
	char *list[4];
	assert_int_equal(tls_bypass_list(f->t, list, 4), 1);
	assert_string_equal(list[0], "pin.test");
	free(list[0]);
	/* many hosts failing once each cannot push the bypassed one out */
	for (int i = 0; i < 600; i++) {
		char h[32];
		snprintf(h, sizeof h, "h%d.test", i);
		tls_client_handshake_failed(f->t, h);
	}
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "pin.test"), 1);
}

static void test_auto_bypass_off(void **state)
{
	struct fx *f;
	setup_sub(state, "noauto");
	f = *state;
	set(&f->cfg, "auto_bypass_failures", "0");
	f->t = tls_new(&f->cfg, f->err, sizeof f->err);
	assert_non_null(f->t);
	for (int i = 0; i < 10; i++)
		tls_client_handshake_failed(f->t, "pin.test");
	assert_int_equal(tls_bypassed(f->t, &f->cfg, "pin.test"), 0);
	teardown(state);
}

/* ---- pages ---- */

static void test_pages(void **state)
{
	struct fx *f = *state;
	struct pages_doc d;
	size_t n;

	assert_int_equal(pages_get(f->t, "/proxy.pac", "127.0.0.1:8228", &d), 1);
	assert_string_equal(d.body, "function FindProxyForURL(url, host) { return \"PROXY 127.0.0.1:8228; DIRECT\"; }\n");
	assert_string_equal(d.content_type, "application/x-ns-proxy-autoconfig");
	free(d.body);
	assert_int_equal(pages_get(f->t, "/wpad.dat?x", "[::1]:8228", &d), 1);
	assert_non_null(strstr(d.body, "PROXY [::1]:8228; DIRECT"));
	free(d.body);
	assert_int_equal(pages_get(f->t, "/proxy.pac", "x\";alert(1);//:1", &d), -1);

	const char *pem = tls_ca_pem(f->t, &n);
	assert_int_equal(pages_get(f->t, "/ca.pem", "127.0.0.1:8228", &d), 1);
	assert_int_equal(d.len, n);
	assert_memory_equal(d.body, pem, n);
	free(d.body);
	const unsigned char *der = tls_ca_der(f->t, &n);
	assert_int_equal(pages_get(f->t, "/ca.crt", "127.0.0.1:8228", &d), 1);
	assert_int_equal(d.len, n);
	assert_memory_equal(d.body, der, n);
	assert_string_equal(d.content_type, "application/x-x509-ca-cert");
	free(d.body);

	assert_int_equal(pages_get(f->t, "/ca?from=status", "127.0.0.1:8228", &d), 1);
	const char *must[] = { "Firefox", "Chrom", "certutil -d sql:", "Windows", "macOS",
	                       "Android", "iPhone", "/ca.pem", "/ca.crt", tls_ca_fingerprint(f->t),
	                       "http://127.0.0.1:8228/proxy.pac" };
	for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
		if (!strstr(d.body, must[i]))
			fail_msg("the CA page lacks '%s'", must[i]);
	assert_null(strstr(d.body, "PRIVATE"));
	free(d.body);

	assert_int_equal(pages_get(f->t, "/ca.key", "127.0.0.1:8228", &d), 0);
	assert_int_equal(pages_get(f->t, "/", "127.0.0.1:8228", &d), 0);
	assert_int_equal(pages_get(NULL, "/ca.pem", "127.0.0.1:8228", &d), 0);
	assert_int_equal(pages_get(NULL, "/proxy.pac", "127.0.0.1:8228", &d), 1);
	free(d.body);
}

/* One request to the admin module; returns the body (malloc'd) and sets
 * *status and the Content-Type into type. */
static char *admin_get(struct fx *f, const char *path, int *status, char *type, size_t tlen)
{
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(8228) };
	local.sin_addr.s_addr = htonl(0x7f000001);
	struct headers *req_h = headers_new();
	struct admin_request req = { "GET", path, "quell.home", req_h, (struct sockaddr *)&local, &f->cfg };
	struct admin_reply rep = { 200, headers_new(), evbuffer_new() };
	assert_int_equal(admin_handle(&req, &rep), 0);
	*status = rep.status;
	const char *ct = headers_get(rep.headers, "Content-Type");
	snprintf(type, tlen, "%s", ct ? ct : "");
	size_t n = evbuffer_get_length(rep.body);
	char *body = malloc(n + 1);
	evbuffer_remove(rep.body, body, n);
	body[n] = '\0';
	evbuffer_free(rep.body);
	headers_free(rep.headers);
	headers_free(req_h);
	return body;
}

static void test_pages_registered_with_admin(void **state)
{
	struct fx *f = *state;
	char type[128];
	int status;
	size_t n;
	assert_int_equal(pages_register(f->t), 0);
	char *b = admin_get(f, "/ca.pem", &status, type, sizeof type);
	assert_int_equal(status, 200);
	assert_string_equal(type, "application/x-x509-ca-cert");
	assert_string_equal(b, tls_ca_pem(f->t, &n));
	free(b);
	b = admin_get(f, "/proxy.pac", &status, type, sizeof type);
	assert_non_null(strstr(b, "\"PROXY 127.0.0.1:8228; DIRECT\""));
	free(b);
	b = admin_get(f, "/ca", &status, type, sizeof type);
	assert_non_null(strstr(b, tls_ca_fingerprint(f->t)));
	free(b);
	b = admin_get(f, "/", &status, type, sizeof type);
	assert_non_null(strstr(b, "<td>tls_leaves_minted</td><td>0</td>"));
	assert_non_null(strstr(b, "<td>tls_leaf_cache_hits</td><td>0</td>"));
	assert_non_null(strstr(b, "href=\"/ca\""));
	free(b);
	b = admin_get(f, "/ca.key", &status, type, sizeof type);
	assert_int_equal(status, 404);
	assert_null(strstr(b, "PRIVATE"));
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_client_hello),
		cmocka_unit_test(test_new_creates_then_loads),
		cmocka_unit_test(test_lazy_when_intercept_off),
		cmocka_unit_test(test_lazy_build_races),
		cmocka_unit_test_setup_teardown(test_intercept_sni, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intercept_no_sni_and_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resumption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticket_key_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_cost, setup, teardown),
		cmocka_unit_test(test_origin_verification),
		cmocka_unit_test_setup_teardown(test_bypass, setup, teardown),
		cmocka_unit_test(test_auto_bypass_off),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages_registered_with_admin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
