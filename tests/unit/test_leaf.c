/* Unit tests for certs/leaf: the fields of minted leaves (issuer, SAN DNS/IP,
 * validity window, key usages), verification against the CA, the LRU cache
 * (hits, eviction order, mint counter, threads), and the cost of a mint. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "certs/leaf.h"

/* A CA built in memory, like ca.c makes them. */
static X509 *make_ca(EVP_PKEY *key)
{
	X509 *c = X509_new();
	X509_NAME *n = X509_get_subject_name(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"quell", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"quell test CA", -1, -1, 0);
	X509_set_issuer_name(c, n);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_time_adj_ex(X509_getm_notAfter(c), 3650, 0, NULL);
	X509_set_pubkey(c, key);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	const char *ext[][2] = { { "basicConstraints", "critical,CA:TRUE" },
	                         { "keyUsage", "critical,keyCertSign,cRLSign" },
	                         { "subjectKeyIdentifier", "hash" } };
	for (size_t i = 0; i < 3; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf(NULL, &ctx, ext[i][0], ext[i][1]);
		assert_non_null(e);
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(c, key, EVP_sha256()) > 0);
	return c;
}

struct fixture {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca;
};

static int setup_ec(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->ca = make_ca(f->ca_key);
	*state = f;
	return 0;
}

static int setup_rsa(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	f->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	f->ca = make_ca(f->ca_key);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	X509_free(f->ca);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->leaf_key);
	free(f);
	return 0;
}

/* X509_verify_cert against a store holding only the CA, checking host (a
 * name) or ip.  Returns the verify error code (X509_V_OK on success). */
static int verify(X509 *ca, X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_SSL_SERVER);
	if (host)
		X509_VERIFY_PARAM_set1_host(p, host, 0);
	if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(p, ip);
	int ok = X509_verify_cert(ctx);
	int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return err;
}

/* The SAN of leaf as one "DNS:x" / "IP:y" string (single entry expected). */
static void san_of(X509 *leaf, char *out, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
	if (g->type == GEN_DNS) {
		snprintf(out, len, "DNS:%s", (const char *)ASN1_STRING_get0_data(g->d.dNSName));
	} else {
		assert_int_equal(g->type, GEN_IPADD);
		snprintf(out, len, "IP:%d", ASN1_STRING_length(g->d.iPAddress));
	}
	GENERAL_NAMES_free(gens);
}

static void check_common_fields(struct fixture *f, X509 *leaf)
{
	int crit = -1, days, secs;
	time_t now = time(NULL);
	/* issuer is the CA, signature by the CA key */
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(f->ca)), 0);
	assert_int_equal(X509_verify(leaf, f->ca_key), 1);
	assert_int_equal(X509_check_issued(f->ca, leaf), X509_V_OK);
	/* the shared leaf key */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), f->leaf_key), 1);
	/* notBefore one day back (+-2 min), whole span <= 397 days */
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)), 1);
	assert_true(days * 86400L + secs <= 397L * 86400);
	assert_true(days >= 300);
	time_t back = now - 86400;
	ASN1_TIME *t = ASN1_TIME_set(NULL, back);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, t, X509_get0_notBefore(leaf)), 1);
	assert_int_equal(days, 0);
	assert_in_range(secs + 120, 0, 240);
	ASN1_TIME_free(t);
	/* keyUsage digitalSignature only (EC key), critical; EKU serverAuth; not a CA */
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(leaf, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_int_equal(X509_get_version(leaf), 2);
}

static void test_dns_leaf(void **state)
{
	struct fixture *f = *state;
	char san[300];
	X509 *leaf = leaf_mint(f->ca, f->ca_key, f->leaf_key, "WWW.Example.org.");
	assert_non_null(leaf);
	check_common_fields(f, leaf);
	san_of(leaf, san, sizeof san);
	assert_string_equal(san, "DNS:www.example.org");
	assert_int_equal(verify(f->ca, leaf, "www.example.org", NULL), X509_V_OK);
	assert_int_equal(verify(f->ca, leaf, "other.example.org", NULL), X509_V_ERR_HOSTNAME_MISMATCH);
	/* two mints of one host: different random serials */
	X509 *again = leaf_mint(f->ca, f->ca_key, f->leaf_key, "www.example.org");
	assert_non_null(again);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf), X509_get0_serialNumber(again)), 0);
	assert_true(ASN1_INTEGER_get(X509_get0_serialNumber(leaf)) != 0);
	X509_free(again);
	X509_free(leaf);
}

static void test_ip_leaves(void **state)
{
	struct fixture *f = *state;
	char san[300];
	X509 *v4 = leaf_mint(f->ca, f->ca_key, f->leaf_key, "127.0.0.1");
	assert_non_null(v4);
	check_common_fields(f, v4);
	san_of(v4, san, sizeof san);
	assert_string_equal(san, "IP:4");
	assert_int_equal(X509_check_ip_asc(v4, "127.0.0.1", 0), 1);
	assert_int_equal(verify(f->ca, v4, NULL, "127.0.0.1"), X509_V_OK);
	assert_int_equal(verify(f->ca, v4, NULL, "127.0.0.2"), X509_V_ERR_IP_ADDRESS_MISMATCH);
	X509_free(v4);

	const char *v6s[] = { "::1", "[::1]", "[2001:DB8::1]" };
	for (size_t i = 0; i < 3; i++) {
		X509 *v6 = leaf_mint(f->ca, f->ca_key, f->leaf_key, v6s[i]);
		assert_non_null(v6);
		san_of(v6, san, sizeof san);
		assert_string_equal(san, "IP:16");
		assert_int_equal(X509_check_ip_asc(v6, i < 2 ? "::1" : "2001:db8::1", 0), 1);
		X509_free(v6);
	}
	assert_int_equal(leaf_is_ip("10.0.0.1"), 1);
	assert_int_equal(leaf_is_ip("[fe80::1]"), 1);
	assert_int_equal(leaf_is_ip("example.com"), 0);
	assert_int_equal(leaf_is_ip("1.2.3"), 0);
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	char longname[300];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	const char *bad[] = { "", ".", "a b", "foo:bar", "*.example.com", "x/y", "evil\n.com", longname };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_null(leaf_mint(f->ca, f->ca_key, f->leaf_key, bad[i]));
	/* a 64+ byte name gets no CN but still its SAN */
	char name[100];
	snprintf(name, sizeof name, "%s.example.com", "a-rather-long-label-that-makes-the-whole-name-longer-than-64");
	X509 *leaf = leaf_mint(f->ca, f->ca_key, f->leaf_key, name);
	assert_non_null(leaf);
	assert_int_equal(verify(f->ca, leaf, name, NULL), X509_V_OK);
	X509_free(leaf);
}

static void test_rsa_ca(void **state)
{
	struct fixture *f = *state;
	X509 *leaf = leaf_mint(f->ca, f->ca_key, f->leaf_key, "rsa.example");
	assert_non_null(leaf);
	check_common_fields(f, leaf);
	assert_int_equal(verify(f->ca, leaf, "rsa.example", NULL), X509_V_OK);
	X509_free(leaf);
}

static void test_lru(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct leaf_cache *lc = leaf_cache_new(f->ca, f->ca_key, 3, err, sizeof err);
	assert_non_null(lc);
	X509 *a = leaf_cache_get(lc, "a.test");
	X509 *b = leaf_cache_get(lc, "b.test");
	X509 *c = leaf_cache_get(lc, "c.test");
	assert_true(a && b && c);
	assert_int_equal(leaf_cache_mints(lc), 3);
	assert_int_equal(leaf_cache_hits(lc), 0);
	/* a hit returns the same certificate, case-insensitively; recency a,c,b */
	X509 *a2 = leaf_cache_get(lc, "A.TEST");
	assert_ptr_equal(a2, a);
	assert_int_equal(leaf_cache_mints(lc), 3);
	assert_int_equal(leaf_cache_hits(lc), 1);
	/* d evicts the least recently used: b */
	X509 *d = leaf_cache_get(lc, "d.test");
	assert_int_equal(leaf_cache_mints(lc), 4);
	assert_int_equal(leaf_cache_size(lc), 3);
	X509 *x = leaf_cache_get(lc, "a.test");  /* still cached */
	assert_ptr_equal(x, a);
	X509_free(x);
	x = leaf_cache_get(lc, "c.test");        /* still cached; recency c,a,d */
	assert_ptr_equal(x, c);
	X509_free(x);
	assert_int_equal(leaf_cache_mints(lc), 4);
	assert_int_equal(leaf_cache_hits(lc), 3);
	x = leaf_cache_get(lc, "b.test");        /* evicted: minted anew, drops d */
	assert_non_null(x);
	assert_ptr_not_equal(x, b);
	assert_int_equal(leaf_cache_mints(lc), 5);
	X509_free(x);
	x = leaf_cache_get(lc, "d.test");
	assert_ptr_not_equal(x, d);
	assert_int_equal(leaf_cache_mints(lc), 6);
	X509_free(x);
	/* the returned references outlive eviction and the cache */
	assert_null(leaf_cache_get(lc, "bad name"));
	leaf_cache_free(lc);
	assert_int_equal(X509_verify(b, f->ca_key), 1);
	X509_free(a);
	X509_free(a2);
	X509_free(b);
	X509_free(c);
	X509_free(d);
}

struct worker_arg {
	struct leaf_cache *lc;
	int id;
};

static void *hammer(void *p)
{
	struct worker_arg *w = p;
	char host[32];
	for (int i = 0; i < 400; i++) {
		snprintf(host, sizeof host, "h%d.test", (i * 7 + w->id) % 10);
		X509 *c = leaf_cache_get(w->lc, host);
		if (!c)
			return (void *)1;
		X509_free(c);
	}
	return NULL;
}

static void test_threads_mint_once(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct leaf_cache *lc = leaf_cache_new(f->ca, f->ca_key, 100, err, sizeof err);
	pthread_t th[4];
	struct worker_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){ lc, i };
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		assert_null(r);
	}
	assert_int_equal(leaf_cache_mints(lc), 10);
	assert_int_equal(leaf_cache_hits(lc), 1600 - 10);
	leaf_cache_free(lc);
}

/* Not a timed assertion: prints what one mint costs on this machine, through
 * the cache (distinct hosts, so every get mints) as the proxy pays it. */
static void test_mint_cost(void **state)
{
	struct fixture *f = *state;
	struct timespec t0, t1;
	char err[256];
	enum { N = 300 };
	struct leaf_cache *lc = leaf_cache_new(f->ca, f->ca_key, N, err, sizeof err);
	assert_non_null(lc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < N; i++) {
		char host[32];
		snprintf(host, sizeof host, "bench%d.example", i);
		X509 *c = leaf_cache_get(lc, host);
		assert_non_null(c);
		X509_free(c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / N;
	assert_int_equal(leaf_cache_mints(lc), N);
	printf("leaf mint with a %s CA: %.1f us each (%d mints)\n",
	       EVP_PKEY_is_a(f->ca_key, "RSA") ? "RSA-2048" : "P-256", us, N);
	leaf_cache_free(lc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dns_leaf, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_ip_leaves, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_rsa_ca, setup_rsa, teardown),
		cmocka_unit_test_setup_teardown(test_lru, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_threads_mint_once, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_mint_cost, setup_ec, teardown),
		cmocka_unit_test_setup_teardown(test_mint_cost, setup_rsa, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
