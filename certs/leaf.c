/*
 * leaf: see leaf.h.  The LRU is a hash table (chained, power-of-two buckets
 * sized for the capacity) threaded on a doubly linked recency list; a hit
 * moves its entry to the front, a mint past capacity drops the tail.
 * Minting happens under the cache mutex: it costs one signature, and holding
 * the lock guarantees two workers never mint the same host twice.
 *
 * Why one deprecated call: OpenSSL 3.0 encodes a provider-backed key into a
 * certificate through its OSSL_ENCODER framework, which costs about 170 us
 * per X509_set_pubkey here (90% of a mint).  A key backed by a legacy EC_KEY
 * takes the old pub_encode path (5 us).  So the cache keeps, beside the
 * provider key used for TLS signatures, a legacy twin of its public half for
 * certificates only; no non-deprecated 3.0 API builds one.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "certs/leaf.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#define LEAF_MAGIC 0x4c454146u  /* "LEAF" */
#define LEAF_HOST_MAX 253
#define LEAF_DAYS_AHEAD 365
#define LEAF_SKEW_S (24L * 3600)

struct entry {
	struct entry *prev, *next;  /* recency: head is most recent */
	struct entry *hnext;        /* hash chain */
	unsigned long hash;
	X509 *cert;
	char host[];
};

struct leaf_cache {
	unsigned magic;
	X509 *ca_cert;
	EVP_PKEY *ca_key;
	EVP_PKEY *key;              /* provider key: TLS signatures */
	EVP_PKEY *pub;              /* legacy twin of key: certificates */
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t mask;
	struct entry *head, *tail;
	size_t count, capacity;
	atomic_ulong mints, hits;
};

int leaf_is_ip(const char *host)
{
	unsigned char buf[16];
	char tmp[64];
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		return inet_pton(AF_INET6, tmp, buf) == 1;
	}
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Normalizes host into out (size LEAF_HOST_MAX + 1): lower case, brackets
 * and one trailing dot dropped.  Only characters that can appear in a DNS
 * name or an IP literal (no wildcards) are accepted, so a hostile SNI
 * never reaches a certificate.  Returns 0 or -1. */
static int normalize(const char *host, char *out)
{
	size_t n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n && host[n - 1] == '.')
		n--;
	if (n == 0 || n > LEAF_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = '\0';
	/* A colon only in an IPv6 literal. */
	return strchr(out, ':') && !leaf_is_ip(out) ? -1 : 0;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return -1;
	int rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

/* notBefore a day back; notAfter a year ahead but never past the CA's. */
static int set_validity(X509 *cert, X509 *ca_cert)
{
	if (!X509_gmtime_adj(X509_getm_notBefore(cert), -LEAF_SKEW_S) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), LEAF_DAYS_AHEAD, 0, NULL))
		return -1;
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca_cert);
	if (ASN1_TIME_compare(ca_end, X509_get0_notAfter(cert)) < 0 &&
	    !X509_set1_notAfter(cert, ca_end))
		return -1;
	return 0;
}

/* Subject CN=host (when it fits the 64-byte limit) and the SAN. */
static int set_names(X509 *cert, X509V3_CTX *ctx, const char *h)
{
	char san[LEAF_HOST_MAX + 8];
	int rc = -1;
	X509_NAME *name = X509_NAME_new();
	if (!name)
		return -1;
	if (strlen(h) <= 64 &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)h, -1, -1, 0))
		goto out;
	if (!X509_set_subject_name(cert, name))
		goto out;
	snprintf(san, sizeof san, "%s:%s", leaf_is_ip(h) ? "IP" : "DNS", h);
	rc = add_ext(cert, ctx, NID_subject_alt_name, san);
out:
	X509_NAME_free(name);
	return rc;
}

X509 *leaf_mint(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *key, const char *host)
{
	char h[LEAF_HOST_MAX + 1];
	X509 *cert = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;
	if (normalize(host, h) != 0)
		return NULL;
	if (!(cert = X509_new()) || !(bn = BN_new()))
		goto out;
	if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto out;
	if (!X509_set_version(cert, 2) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(ca_cert)) ||
	    !X509_set_pubkey(cert, key) || set_validity(cert, ca_cert) != 0)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca_cert, cert, NULL, NULL, 0);
	/* keyEncipherment only for RSA keys: TLS 1.2 RSA key exchange. */
	const char *ku = EVP_PKEY_is_a(key, "RSA") ? "critical,digitalSignature,keyEncipherment"
	                                           : "critical,digitalSignature";
	if (set_names(cert, &ctx, h) != 0 ||
	    add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(cert, &ctx, NID_key_usage, ku) ||
	    add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth") ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	ok = X509_sign(cert, ca_key, EVP_sha256()) > 0;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* FNV-1a: host names are short and not attacker-chosen in bulk (a CONNECT
 * costs a TCP connection each), so no keyed hash is needed. */
static unsigned long hash_str(const char *s)
{
	unsigned long h = 14695981039346656037UL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211UL;
	return h;
}

/* A legacy EC_KEY-backed copy of key (see the top of this file), or key
 * itself (one more reference) when it is not EC.  NULL on ENOMEM. */
static EVP_PKEY *legacy_twin(EVP_PKEY *key)
{
	EC_KEY *ec = EVP_PKEY_get1_EC_KEY(key);
	EVP_PKEY *twin = ec ? EVP_PKEY_new() : NULL;
	if (!ec) {
		ERR_clear_error();
		return EVP_PKEY_up_ref(key) ? key : NULL;
	}
	if (!twin || !EVP_PKEY_assign_EC_KEY(twin, ec)) {
		EVP_PKEY_free(twin);
		EC_KEY_free(ec);
		return NULL;
	}
	return twin;
}

struct leaf_cache *leaf_cache_new(X509 *ca_cert, EVP_PKEY *ca_key, int capacity,
                                  char *err, size_t errlen)
{
	struct leaf_cache *lc = calloc(1, sizeof *lc);
	size_t nb = 16;
	if (!lc || capacity < 1) {
		snprintf(err, errlen, lc ? "cert_cache_size must be at least 1" : "out of memory");
		free(lc);
		return NULL;
	}
	while (nb < (size_t)capacity)
		nb <<= 1;
	lc->magic = LEAF_MAGIC;
	lc->ca_cert = ca_cert;
	lc->ca_key = ca_key;
	lc->capacity = (size_t)capacity;
	lc->mask = nb - 1;
	lc->buckets = calloc(nb, sizeof *lc->buckets);
	pthread_mutex_init(&lc->lock, NULL);
	if (!lc->buckets) {
		snprintf(err, errlen, "out of memory");
		leaf_cache_free(lc);
		return NULL;
	}
	if (!(lc->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))) {
		unsigned long e = ERR_get_error();
		snprintf(err, errlen, "leaf key generation failed: %s", ERR_reason_error_string(e));
		ERR_clear_error();
		leaf_cache_free(lc);
		return NULL;
	}
	if (!(lc->pub = legacy_twin(lc->key))) {
		snprintf(err, errlen, "out of memory");
		leaf_cache_free(lc);
		return NULL;
	}
	return lc;
}

void leaf_cache_free(struct leaf_cache *lc)
{
	if (!lc)
		return;
	assert(lc->magic == LEAF_MAGIC);
	for (struct entry *e = lc->head, *n; e; e = n) {
		n = e->next;
		X509_free(e->cert);
		free(e);
	}
	free(lc->buckets);
	EVP_PKEY_free(lc->key);
	EVP_PKEY_free(lc->pub);
	pthread_mutex_destroy(&lc->lock);
	lc->magic = 0;
	free(lc);
}

static void list_unlink(struct leaf_cache *lc, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		lc->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		lc->tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_push_front(struct leaf_cache *lc, struct entry *e)
{
	e->prev = NULL;
	e->next = lc->head;
	if (lc->head)
		lc->head->prev = e;
	lc->head = e;
	if (!lc->tail)
		lc->tail = e;
}

static struct entry *find(struct leaf_cache *lc, const char *h, unsigned long hv)
{
	for (struct entry *e = lc->buckets[hv & lc->mask]; e; e = e->hnext)
		if (e->hash == hv && strcmp(e->host, h) == 0)
			return e;
	return NULL;
}

/* Drops the least recently used entry.  Caller holds the lock. */
static void evict_tail(struct leaf_cache *lc)
{
	struct entry *e = lc->tail;
	struct entry **pp = &lc->buckets[e->hash & lc->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(lc, e);
	X509_free(e->cert);
	free(e);
	lc->count--;
}

X509 *leaf_cache_get(struct leaf_cache *lc, const char *host)
{
	char h[LEAF_HOST_MAX + 1];
	X509 *cert = NULL;
	assert(lc->magic == LEAF_MAGIC);
	if (normalize(host, h) != 0)
		return NULL;
	unsigned long hv = hash_str(h);
	pthread_mutex_lock(&lc->lock);
	struct entry *e = find(lc, h, hv);
	if (e) {
		list_unlink(lc, e);
		list_push_front(lc, e);
		X509_up_ref(e->cert);
		cert = e->cert;
		atomic_fetch_add(&lc->hits, 1);
		goto out;
	}
	size_t hl = strlen(h);
	if (!(e = malloc(sizeof *e + hl + 1)))
		goto out;
	if (!(e->cert = leaf_mint(lc->ca_cert, lc->ca_key, lc->pub, h))) {
		free(e);
		goto out;
	}
	atomic_fetch_add(&lc->mints, 1);
	memcpy(e->host, h, hl + 1);
	e->hash = hv;
	if (lc->count >= lc->capacity)
		evict_tail(lc);
	e->hnext = lc->buckets[hv & lc->mask];
	lc->buckets[hv & lc->mask] = e;
	list_push_front(lc, e);
	lc->count++;
	X509_up_ref(e->cert);
	cert = e->cert;
out:
	pthread_mutex_unlock(&lc->lock);
	return cert;
}

EVP_PKEY *leaf_cache_key(const struct leaf_cache *lc) { return lc->key; }
unsigned long leaf_cache_mints(struct leaf_cache *lc) { return atomic_load(&lc->mints); }
unsigned long leaf_cache_hits(struct leaf_cache *lc) { return atomic_load(&lc->hits); }

size_t leaf_cache_size(struct leaf_cache *lc)
{
	pthread_mutex_lock(&lc->lock);
	size_t n = lc->count;
	pthread_mutex_unlock(&lc->lock);
	return n;
}
