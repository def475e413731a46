/*
 * tls: see tls.h.  The browser side picks its certificate in the SNI
 * callback, so one SSL_CTX serves every host: the leaf and the shared leaf
 * key are attached to each SSL there (SSL_use_cert_and_key), no per-host
 * SSL_CTX is built.  Session tickets are keyed by that one SSL_CTX, so a
 * resumed handshake skips the signature entirely.
 */
#include "certs/tls.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/leaf.h"
#include "proxy/config.h"
#include "proxy/log.h"

#define TLS_MAGIC 0x544c5351u   /* "TLSQ" */
#define TLS_HOST_MAX 253
#define TLS_TRACK_MAX 256       /* hosts with failures or auto-bypassed */
#define TLS_RESUME_SLOTS 512    /* origin sessions kept, direct-mapped by host */
#define TLS_TICKET_ROTATE_S 7200 /* = the session lifetime (SSL_CTX default) */

struct track {
	char host[TLS_HOST_MAX + 1];
	int failures;
	int bypassed;
};

struct resume {                 /* the last session with one origin host */
	char host[TLS_HOST_MAX + 1];
	SSL_SESSION *sess;
};

struct ticket_key {             /* session ticket protection keys */
	unsigned char name[16], aes[32], hmac[32];
	time_t born;
	int set;
};

struct tls {
	unsigned magic;
	/* The browser side is built on first use (ca_get, server_ctx_get; see
	 * tls_new): each pointer is published, release, once what it needs is
	 * complete, and never changes afterwards. */
	_Atomic(struct ca *) ca;
	struct leaf_cache *leaves;  /* complete before server_ctx is published */
	_Atomic(SSL_CTX *) server_ctx; /* browser side */
	pthread_mutex_t browser_lock;  /* serializes those first builds */
	char *ca_dir;               /* cfg->ca_dir */
	int cert_cache_size;
	_Atomic(SSL_CTX *) origin_ctx; /* origin side, built on first use (origin_ctx_get) */
	pthread_mutex_t origin_lock;    /* serializes that first build */
	char *upstream_ca_file;     /* cfg->upstream_ca_file, or NULL */
	int auto_bypass_failures;
	pthread_mutex_t track_lock;
	atomic_int n_track;         /* lets the common path skip the lock */
	struct track track[TLS_TRACK_MAX];
	pthread_mutex_t resume_lock;
	struct resume resume[TLS_RESUME_SLOTS];
	pthread_mutex_t ticket_lock;
	struct ticket_key tk_cur, tk_prev;
	EVP_CIPHER *ticket_cipher;  /* AES-256-CBC, fetched once */
};

static int host_idx = -1;       /* SSL ex_data: malloc'd CONNECT or origin host;
                                 * made by the first context built (make_idx) */
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void free_host(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void make_idx(void)
{
	host_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_host);
}

/* Logs the OpenSSL error queue at where, then clears it. */
static void log_ssl(const char *where)
{
	unsigned long e;
	char buf[256];
	int n = 0;
	while ((e = ERR_get_error()) != 0 && n++ < 4) {
		ERR_error_string_n(e, buf, sizeof buf);
		log_msg(LOG_WARN, "tls: %s: %s", where, buf);
	}
	if (n == 0)
		log_msg(LOG_WARN, "tls: %s failed", where);
	ERR_clear_error();
}

/* Copies host lower-cased, without brackets or a trailing dot, into out
 * (TLS_HOST_MAX + 1 bytes).  Returns 0, or -1 when empty or too long. */
static int norm_host(const char *host, char *out)
{
	size_t n = host ? strlen(host) : 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n && host[n - 1] == '.')
		n--;
	if (n == 0 || n > TLS_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)host[i]);
	out[n] = '\0';
	return 0;
}

/* ---- browser side ---------------------------------------------------- */

/* SNI callback: attaches the leaf for the SNI name, or for the CONNECT host
 * when the ClientHello carries none (or an unusable one). */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls *t = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const char *host = SSL_get_ex_data(ssl, host_idx);
	X509 *cert = NULL;
	if (sni && *sni)
		cert = leaf_cache_get(t->leaves, sni);
	if (!cert && host)
		cert = leaf_cache_get(t->leaves, host);
	if (!cert) {
		log_ssl(host ? host : "leaf for a client without a host name");
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	int ok = SSL_use_cert_and_key(ssl, cert, leaf_cache_key(t->leaves), NULL, 1);
	X509_free(cert);
	if (ok != 1) {
		log_ssl("attaching the leaf certificate");
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 when offered; otherwise no ALPN at all, which clients
 * take as HTTP/1.1. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11 - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static struct track *track_find(struct tls *t, const char *h)
{
	int n = atomic_load(&t->n_track);
	for (int i = 0; i < n; i++)
		if (strcmp(t->track[i].host, h) == 0)
			return &t->track[i];
	return NULL;
}

/* A completed browser handshake clears the host's failure count, so only
 * consecutive failures lead to a bypass. */
static void on_info(const SSL *ssl, int where, int ret)
{
	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	struct tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *host = SSL_get_ex_data(ssl, host_idx);
	char h[TLS_HOST_MAX + 1];
	if (!t || atomic_load(&t->n_track) == 0 || norm_host(host, h) != 0)
		return;
	pthread_mutex_lock(&t->track_lock);
	struct track *e = track_find(t, h);
	if (e && !e->bypassed) {
		int last = atomic_load(&t->n_track) - 1;
		*e = t->track[last];
		atomic_store(&t->n_track, last);
	}
	pthread_mutex_unlock(&t->track_lock);
}

/* Session tickets.  OpenSSL's built-in ticket keys live as long as the
 * SSL_CTX, i.e. the process: a key stolen after months would decrypt every
 * resumed session of those months.  quell rotates them every
 * TLS_TICKET_ROTATE_S and accepts the previous key for one more period
 * (tickets issued under it are renewed), so a ticket key never protects
 * more than two periods of traffic. */
static int ticket_key_make(struct ticket_key *k)
{
	k->born = time(NULL);
	k->set = RAND_bytes(k->name, sizeof k->name) > 0 &&
	         RAND_priv_bytes(k->aes, sizeof k->aes) > 0 &&
	         RAND_priv_bytes(k->hmac, sizeof k->hmac) > 0;
	return k->set ? 0 : -1;
}

/* Caller holds ticket_lock.  On failure the current key stays. */
static void ticket_rotate_locked(struct tls *t)
{
	struct ticket_key next;
	if (ticket_key_make(&next) != 0) {
		log_ssl("session ticket key rotation");
		return;
	}
	OPENSSL_cleanse(&t->tk_prev, sizeof t->tk_prev);
	t->tk_prev = t->tk_cur;
	t->tk_cur = next;
	OPENSSL_cleanse(&next, sizeof next);
}

void tls_rotate_ticket_keys(struct tls *t)
{
	assert(t && t->magic == TLS_MAGIC);
	if (!atomic_load_explicit(&t->server_ctx, memory_order_acquire))
		return;                  /* no keys yet: the first build makes fresh ones */
	pthread_mutex_lock(&t->ticket_lock);
	ticket_rotate_locked(t);
	pthread_mutex_unlock(&t->ticket_lock);
}

/* OpenSSL's ticket key callback: enc = 1 to issue a ticket, 0 to open one.
 * Returns 1 (key found), 2 (found, old: issue a new ticket), 0 (unknown
 * key: full handshake), -1 (error). */
static int on_ticket_key(SSL *ssl, unsigned char *name, unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	struct ticket_key k;
	int r = 0;
	pthread_mutex_lock(&t->ticket_lock);
	if (enc && time(NULL) - t->tk_cur.born >= TLS_TICKET_ROTATE_S)
		ticket_rotate_locked(t);
	if (enc || !memcmp(name, t->tk_cur.name, sizeof k.name)) {
		k = t->tk_cur;
		r = 1;
	} else if (t->tk_prev.set && !memcmp(name, t->tk_prev.name, sizeof k.name)) {
		k = t->tk_prev;
		r = 2;
	}
	pthread_mutex_unlock(&t->ticket_lock);
	if (r == 0)
		return 0;
	if (enc) {
		memcpy(name, k.name, sizeof k.name);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->ticket_cipher)) <= 0)
			r = -1;
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (r > 0 && (!EVP_MAC_CTX_set_params(hctx, params) ||
	              !EVP_CipherInit_ex(cctx, t->ticket_cipher, NULL, k.aes, iv, enc)))
		r = -1;
	OPENSSL_cleanse(&k, sizeof k);
	return r;
}

static SSL_CTX *server_ctx_get(struct tls *t);

static SSL_CTX *server_ctx_new(struct tls *t)
{
	SSL_CTX *c = SSL_CTX_new(TLS_server_method());
	if (!c)
		return NULL;
	SSL_CTX_set_app_data(c, t);
	/* TLS 1.3: AES-128-GCM first (OpenSSL's own order starts with
	 * AES-256-GCM-SHA384): as strong for this purpose, cheaper per record,
	 * and its SHA-256 key schedule is cheaper per handshake (SHA extensions);
	 * ChaCha20 for clients that list it first (no AES hardware). */
	if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	                                 "TLS_CHACHA20_POLY1305_SHA256") ||
	    !SSL_CTX_set_session_id_context(c, (const unsigned char *)"quell", 5)) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	                       SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION);
	/* Stateless tickets only: no server-side session cache to lock. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(c, on_ticket_key);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_tlsext_servername_callback(c, on_servername);
	SSL_CTX_set_tlsext_servername_arg(c, t);
	SSL_CTX_set_alpn_select_cb(c, on_alpn, NULL);
	SSL_CTX_set_info_callback(c, on_info);
	return c;
}

SSL *tls_client_side(struct tls *t, const char *connect_host)
{
	assert(t && t->magic == TLS_MAGIC);
	char *h = connect_host ? strdup(connect_host) : NULL;
	SSL_CTX *ctx = server_ctx_get(t);
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	if (!ssl || (connect_host && !h) || !SSL_set_ex_data(ssl, host_idx, h)) {
		log_ssl("new browser-side SSL");
		free(h);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

int tls_peek_client_hello(const unsigned char *buf, size_t len)
{
	/* A TLS record: type 22 (handshake), version 3.x with x <= 4, a length,
	 * then handshake type 1 (client_hello).  SSLv2-style hellos are not
	 * TLS 1.2+ and go through the tunnel like any other protocol. */
	static const unsigned char min[6] = { 0x16, 0x03, 0x00, 0x00, 0x00, 0x01 };
	static const unsigned char max[6] = { 0x16, 0x03, 0x04, 0xff, 0xff, 0x01 };
	for (size_t i = 0; i < 6; i++) {
		if (i == len)
			return -1;
		if (buf[i] < min[i] || buf[i] > max[i])
			return 0;
	}
	return ((size_t)buf[3] << 8 | buf[4]) >= 4 ? 1 : 0;
}

/* ---- origin side ----------------------------------------------------- */

/* Origin sessions: quell resumes its TLS sessions with origins, so a new
 * browser connection to a host whose upstream connection was closed does
 * not pay a second full handshake.  One slot per host hash (a collision
 * replaces the older session: a miss costs one full handshake, nothing
 * else).  Sessions are stored only by OpenSSL's new-session callback, which
 * runs after a handshake that passed verification, and are keyed by the
 * host that was verified; a resumed session is one the same host's
 * certificate was checked for. */
static struct resume *resume_slot(struct tls *t, const char *h)
{
	unsigned long v = 14695981039346656037UL;
	for (const char *p = h; *p; p++)
		v = (v ^ (unsigned char)*p) * 1099511628211UL;
	return &t->resume[v % TLS_RESUME_SLOTS];
}

static int on_new_origin_session(SSL *ssl, SSL_SESSION *sess)
{
	struct tls *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	const char *h = SSL_get_ex_data(ssl, host_idx);
	/* A copy: OpenSSL marks the SSL's own session object unresumable when
	 * the SSL is freed without a close_notify, which is how connections
	 * usually end. */
	SSL_SESSION *copy;
	if (!t || !h || SSL_get_verify_result(ssl) != X509_V_OK || !(copy = SSL_SESSION_dup(sess)))
		return 0;
	pthread_mutex_lock(&t->resume_lock);
	struct resume *r = resume_slot(t, h);
	SSL_SESSION_free(r->sess);
	r->sess = copy;
	memcpy(r->host, h, strlen(h) + 1);
	pthread_mutex_unlock(&t->resume_lock);
	return 0;   /* OpenSSL keeps its own reference */
}

/* Offers the stored session for h on ssl, if any.  0, or -1 (ENOMEM). */
static int resume_offer(struct tls *t, SSL *ssl, const char *h)
{
	SSL_SESSION *copy = NULL;
	pthread_mutex_lock(&t->resume_lock);
	struct resume *r = resume_slot(t, h);
	if (r->sess && !strcmp(r->host, h) && SSL_SESSION_is_resumable(r->sess))
		copy = SSL_SESSION_dup(r->sess);
	pthread_mutex_unlock(&t->resume_lock);
	if (!copy)
		return 0;
	int ok = SSL_set_session(ssl, copy);
	SSL_SESSION_free(copy);
	return ok ? 0 : -1;
}

/* 1 when dir holds at least one c_rehash link ("9d66eef0.0"), as Debian's
 * /etc/ssl/certs does: then OpenSSL's directory lookup finds every system
 * CA by itself.  Looks at no more than 4096 entries. */
static int dir_has_hash_links(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;
	for (int i = 0; d && !found && i < 4096 && (de = readdir(d)); i++) {
		const char *n = de->d_name;
		size_t k = 0;
		while (k < 8 && isxdigit((unsigned char)n[k]))
			k++;
		found = k == 8 && n[8] == '.' && isdigit((unsigned char)n[9]);
	}
	if (d)
		closedir(d);
	return found;
}

/* See tls.h.  SSL_CTX_set_default_verify_paths parses the whole bundle
 * file (~140 CAs, ~0.7 MB of heap for the process's life) besides adding
 * the hashed directory; the directory alone is read per issuer when a chain
 * needs it, and caches only those.  So the directory alone when it is
 * hashed and the environment names no other place (SSL_CERT_FILE /
 * SSL_CERT_DIR keep their usual meaning). */
int tls_load_system_trust(SSL_CTX *c)
{
	const char *dir = X509_get_default_cert_dir();
	if (!getenv(X509_get_default_cert_file_env()) && !getenv(X509_get_default_cert_dir_env()) &&
	    dir_has_hash_links(dir))
		return SSL_CTX_load_verify_dir(c, dir);
	return SSL_CTX_set_default_verify_paths(c);
}

/* Builds the origin-side context: system trust store plus ca_file (NULL:
 * none).  Returns it, or NULL with the reason in err. */
static SSL_CTX *origin_ctx_new(struct tls *t, const char *ca_file, char *err, size_t errlen)
{
	static const unsigned char h11[] = "\x08http/1.1";
	pthread_once(&idx_once, make_idx);   /* the SSLs of this context carry the host */
	if (host_idx < 0) {
		snprintf(err, errlen, "OpenSSL ex_data index unavailable");
		return NULL;
	}
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(c, h11, sizeof h11 - 1) != 0 ||
	    !tls_load_system_trust(c)) {
		snprintf(err, errlen, "cannot set up the origin TLS context");
		SSL_CTX_free(c);
		return NULL;
	}
	if (ca_file && !SSL_CTX_load_verify_locations(c, ca_file, NULL)) {
		unsigned long e = ERR_peek_last_error();
		snprintf(err, errlen, "upstream_ca_file %s: %s", ca_file,
		         e ? ERR_reason_error_string(e) : "cannot load");
		ERR_clear_error();
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	X509_VERIFY_PARAM_set_hostflags(SSL_CTX_get0_param(c), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_app_data(c, t);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c, on_new_origin_session);
	return c;
}

/* The origin-side context, built by the first caller: an idle proxy, or
 * one that never talks TLS to an origin (interception off), never loads a
 * trust store.  Returns it, or NULL (logged; the next call tries again). */
static SSL_CTX *origin_ctx_get(struct tls *t)
{
	SSL_CTX *c = atomic_load_explicit(&t->origin_ctx, memory_order_acquire);
	if (c)
		return c;
	char err[600];
	pthread_mutex_lock(&t->origin_lock);
	c = atomic_load_explicit(&t->origin_ctx, memory_order_relaxed);
	if (!c && (c = origin_ctx_new(t, t->upstream_ca_file, err, sizeof err)))
		atomic_store_explicit(&t->origin_ctx, c, memory_order_release);
	else if (!c)
		log_msg(LOG_ERROR, "tls: %s", err);
	ERR_clear_error();
	pthread_mutex_unlock(&t->origin_lock);
	return c;
}

/* Checks at start that path holds at least one certificate OpenSSL can
 * read, so a wrong upstream_ca_file is still an error of `quell run` though
 * the context using it is built later.  0, or -1 with the reason in err. */
static int ca_file_check(const char *path, char *err, size_t errlen)
{
	X509_STORE *s = X509_STORE_new();
	int ok = s && X509_STORE_load_file(s, path);
	if (!ok) {
		unsigned long e = ERR_peek_last_error();
		snprintf(err, errlen, "upstream_ca_file %s: %s", path,
		         e ? ERR_reason_error_string(e) : "cannot load");
	}
	X509_STORE_free(s);
	ERR_clear_error();
	return ok ? 0 : -1;
}

SSL *tls_origin_side(struct tls *t, const char *host)
{
	assert(t && t->magic == TLS_MAGIC);
	char h[TLS_HOST_MAX + 1];
	if (norm_host(host, h) != 0) {
		log_msg(LOG_WARN, "tls: bad origin host name");
		return NULL;
	}
	SSL_CTX *ctx = origin_ctx_get(t);
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	char *copy = strdup(h);
	if (!ssl || !copy || !SSL_set_ex_data(ssl, host_idx, copy)) {
		log_ssl("new origin SSL");
		free(copy);
		SSL_free(ssl);
		return NULL;
	}
	int ok = leaf_is_ip(h)
	       ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), h)
	       : SSL_set_tlsext_host_name(ssl, h) && SSL_set1_host(ssl, h);
	if (!ok || resume_offer(t, ssl, h) != 0) {
		log_ssl(h);
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *tls_verify_reason(const SSL *ssl)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	switch (v) {
	case X509_V_OK:
		return "TLS handshake failed";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate is not yet valid";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "certificate is for another host name";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return "self-signed certificate";
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "self-signed certificate in the chain (unknown root)";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return "unknown issuer";
	case X509_V_ERR_CERT_REVOKED:
		return "certificate has been revoked";
	case X509_V_ERR_INVALID_PURPOSE:
		return "certificate is not for a web server";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "certificate signature is invalid";
	default:
		return X509_verify_cert_error_string(v);
	}
}

/* ---- bypass ---------------------------------------------------------- */

/* 1 when h equals suffix or ends with "." suffix. */
static int suffix_match(const char *h, const char *suffix)
{
	size_t hl = strlen(h), sl = strlen(suffix);
	if (sl == 0 || sl > hl)
		return 0;
	return strcmp(h + hl - sl, suffix) == 0 && (hl == sl || h[hl - sl - 1] == '.');
}

int tls_bypassed(struct tls *t, const struct config *cfg, const char *host)
{
	char h[TLS_HOST_MAX + 1];
	if (!cfg->intercept)
		return 1;
	if (norm_host(host, h) != 0)
		return 0;
	for (int i = 0; i < cfg->n_intercept_bypass; i++)
		if (suffix_match(h, cfg->intercept_bypass[i]))
			return 1;
	if (!t || atomic_load(&t->n_track) == 0)
		return 0;
	pthread_mutex_lock(&t->track_lock);
	struct track *e = track_find(t, h);
	int r = e && e->bypassed;
	pthread_mutex_unlock(&t->track_lock);
	return r;
}

/* A slot for a new host: a free one, else the non-bypassed host with the
 * fewest failures (failures on many hosts at once are noise, not pinning).
 * NULL when all slots hold bypassed hosts.  Caller holds the lock. */
static struct track *track_slot(struct tls *t)
{
	int n = atomic_load(&t->n_track);
	if (n < TLS_TRACK_MAX) {
		atomic_store(&t->n_track, n + 1);
		return &t->track[n];
	}
	struct track *best = NULL;
	for (int i = 0; i < n; i++)
		if (!t->track[i].bypassed && (!best || t->track[i].failures < best->failures))
			best = &t->track[i];
	return best;
}

void tls_client_handshake_failed(struct tls *t, const char *host)
{
	assert(t && t->magic == TLS_MAGIC);
	char h[TLS_HOST_MAX + 1];
	if (t->auto_bypass_failures <= 0 || norm_host(host, h) != 0)
		return;
	pthread_mutex_lock(&t->track_lock);
	struct track *e = track_find(t, h);
	if (!e && (e = track_slot(t)) != NULL) {
		memcpy(e->host, h, strlen(h) + 1);
		e->failures = 0;
		e->bypassed = 0;
	}
	if (e && !e->bypassed && ++e->failures >= t->auto_bypass_failures) {
		e->bypassed = 1;
		log_msg(LOG_WARN, "tls: %s rejected quell's certificate %d times in a row (a pinning "
		        "client?): tunnelling it without filtering from now on; add it to "
		        "intercept_bypass to keep it so", h, e->failures);
	}
	pthread_mutex_unlock(&t->track_lock);
}

size_t tls_bypass_list(struct tls *t, char **out, size_t max)
{
	size_t k = 0;
	pthread_mutex_lock(&t->track_lock);
	int n = atomic_load(&t->n_track);
	for (int i = 0; i < n && k < max; i++)
		if (t->track[i].bypassed && (out[k] = strdup(t->track[i].host)) != NULL)
			k++;
	pthread_mutex_unlock(&t->track_lock);
	return k;
}

/* ---- life cycle ------------------------------------------------------ */

/* Loads the CA in dir, creating it first when there is none. */
static struct ca *load_or_create(const char *dir, char *err, size_t errlen)
{
	int created = 0;
	if (!ca_exists(dir)) {
		if (ca_create(dir, CA_ECDSA, 0, err, errlen) != 0)
			return NULL;
		created = 1;
	}
	struct ca *ca = ca_load(dir, 1, err, errlen);
	if (!ca)
		return NULL;
	if (created)
		log_msg(LOG_INFO, "tls: created a new CA in %s; browsers must trust %s to filter HTTPS: "
		        "open http://quell.home/ca through the proxy for install steps, or run "
		        "'quell ca export' (SHA-256 %s)", dir, ca_cert_path(ca), ca_fingerprint(ca));
	else
		log_msg(LOG_INFO, "tls: CA %s (%s, SHA-256 %s)", ca_cert_path(ca), ca_subject(ca),
		        ca_fingerprint(ca));
	return ca;
}

/* The CA, loaded (or created) by the first caller unless tls_new did.
 * Caller holds browser_lock (or is tls_new, before t is shared).  Returns
 * it, or NULL with the reason in err. */
static struct ca *ca_get_locked(struct tls *t, char *err, size_t errlen)
{
	struct ca *ca = atomic_load_explicit(&t->ca, memory_order_relaxed);
	if (!ca && (ca = load_or_create(t->ca_dir, err, errlen)))
		atomic_store_explicit(&t->ca, ca, memory_order_release);
	return ca;
}

/* The CA for quell's pages and the status page.  Returns it, or NULL
 * (logged; the next call tries again). */
static struct ca *ca_get(struct tls *t)
{
	struct ca *ca = atomic_load_explicit(&t->ca, memory_order_acquire);
	if (ca)
		return ca;
	char err[600];
	pthread_mutex_lock(&t->browser_lock);
	if (!(ca = ca_get_locked(t, err, sizeof err)))
		log_msg(LOG_ERROR, "tls: %s", err);
	ERR_clear_error();
	pthread_mutex_unlock(&t->browser_lock);
	return ca;
}

/* Builds the browser side: CA, leaf cache and leaf key, ticket keys, then
 * publishes the SSL_CTX.  What a failed attempt made is kept for the next.
 * Caller holds browser_lock (or is tls_new, before t is shared).  0, or -1
 * with the reason in err. */
static int browser_build_locked(struct tls *t, char *err, size_t errlen)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_once(&idx_once, make_idx);
	if (host_idx < 0) {
		snprintf(err, errlen, "OpenSSL ex_data index unavailable");
		return -1;
	}
	struct ca *ca = ca_get_locked(t, err, errlen);
	if (!ca)
		return -1;
	if (!t->leaves &&
	    !(t->leaves = leaf_cache_new(ca_cert(ca), ca_key(ca), t->cert_cache_size, err, errlen)))
		return -1;
	if ((!t->ticket_cipher && !(t->ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL))) ||
	    (!t->tk_cur.set && ticket_key_make(&t->tk_cur) != 0)) {
		snprintf(err, errlen, "cannot make session ticket keys");
		return -1;
	}
	SSL_CTX *c = server_ctx_new(t);
	if (!c) {
		snprintf(err, errlen, "cannot set up the browser-side TLS context");
		return -1;
	}
	atomic_store_explicit(&t->server_ctx, c, memory_order_release);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_msg(LOG_DEBUG, "tls: browser-side TLS context built in %.1f ms",
	        (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

/* The browser-side context, built by the first intercepted CONNECT unless
 * tls_new did.  Returns it, or NULL (logged; the next call tries again). */
static SSL_CTX *server_ctx_get(struct tls *t)
{
	SSL_CTX *c = atomic_load_explicit(&t->server_ctx, memory_order_acquire);
	if (c)
		return c;
	char err[600];
	pthread_mutex_lock(&t->browser_lock);
	if (!(c = atomic_load_explicit(&t->server_ctx, memory_order_relaxed))) {
		if (browser_build_locked(t, err, sizeof err) == 0)
			c = atomic_load_explicit(&t->server_ctx, memory_order_relaxed);
		else
			log_msg(LOG_ERROR, "tls: %s", err);
	}
	ERR_clear_error();
	pthread_mutex_unlock(&t->browser_lock);
	return c;
}

/* With interception off, tls_new checks the CA without OpenSSL: the key's
 * mode, as ca_load would (the full load happens on first use and reports
 * its own errors).  0, or -1 with the reason in err. */
static int ca_key_mode_check(const char *dir, char *err, size_t errlen)
{
	char path[4200];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, CA_KEY_FILE);
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot open the CA key %s: %s", path, strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "the CA key %s is readable by group or others (mode %04o): "
		         "anyone who reads it can impersonate every web site; fix it with: chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/* upstream_ca_file's check at start with interception off: readable and
 * holding a PEM certificate block.  OpenSSL's parser (ca_file_check) would
 * say more, but running any of it at start costs its initialisation (about
 * 1 MB resident for the process's life) that a proxy without interception
 * needs only if it downloads lists over HTTPS; the file's first real use
 * parses it and reports what is wrong.  Reads at most 16 MiB.  0, or -1
 * with the reason in err. */
static int ca_file_peek(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char line[256];
	int found = 0;
	if (!f) {
		snprintf(err, errlen, "upstream_ca_file %s: %s", path, strerror(errno));
		return -1;
	}
	for (long n = 0; !found && n < (16L << 20) && fgets(line, sizeof line, f); n += (long)strlen(line))
		found = strncmp(line, "-----BEGIN ", 11) == 0 && strstr(line, "CERTIFICATE-----") != NULL;
	fclose(f);
	if (!found)
		snprintf(err, errlen, "upstream_ca_file %s: no PEM certificate in it", path);
	return found ? 0 : -1;
}

struct tls *tls_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->magic = TLS_MAGIC;
	t->auto_bypass_failures = cfg->auto_bypass_failures;
	pthread_mutex_init(&t->track_lock, NULL);
	pthread_mutex_init(&t->resume_lock, NULL);
	pthread_mutex_init(&t->ticket_lock, NULL);
	pthread_mutex_init(&t->origin_lock, NULL);
	pthread_mutex_init(&t->browser_lock, NULL);
	t->cert_cache_size = cfg->cert_cache_size;
	if (!cfg->ca_dir || !*cfg->ca_dir) {
		snprintf(err, errlen, "ca_dir is not set");
		goto fail;
	}
	if (!(t->ca_dir = strdup(cfg->ca_dir))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Interception on: the browser side is built now, so a broken CA stops
	 * `quell run` rather than failing every HTTPS page, and the first page
	 * does not wait for it (measured: the build takes ~3 ms, OpenSSL's own
	 * start-up included; the leaf key is one P-256 key, ~0.1 ms).  Such a
	 * proxy builds it at its first CONNECT anyway.  Interception off:
	 * nothing of OpenSSL runs at start unless the CA must be created, since
	 * OpenSSL's initialisation and these objects cost ~3 MB resident
	 * (idle 22.8 MB on, 19.5 off) that such a proxy needs only if a reload
	 * switches interception on, or for the CA pages (ca_get). */
	if (cfg->intercept) {
		if (browser_build_locked(t, err, errlen) != 0)
			goto fail;
		ERR_clear_error();
	} else if (!ca_exists(cfg->ca_dir)) {
		if (!ca_get_locked(t, err, errlen))
			goto fail;
		ERR_clear_error();
	} else if (ca_key_mode_check(cfg->ca_dir, err, errlen) != 0) {
		goto fail;
	} else {
		log_msg(LOG_INFO, "tls: CA in %s (interception off: loaded when first needed)",
		        cfg->ca_dir);
	}
	if (cfg->upstream_ca_file && *cfg->upstream_ca_file) {
		if ((cfg->intercept ? ca_file_check : ca_file_peek)(cfg->upstream_ca_file, err, errlen) != 0)
			goto fail;
		if (!(t->upstream_ca_file = strdup(cfg->upstream_ca_file))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	/* no ERR_clear_error() here: even that initialises OpenSSL; the
	 * branches above that ran OpenSSL left its queue clean */
	return t;
fail:
	ERR_clear_error();
	tls_free(t);
	return NULL;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	assert(t->magic == TLS_MAGIC);
	SSL_CTX_free(atomic_load(&t->server_ctx));
	SSL_CTX_free(atomic_load(&t->origin_ctx));
	pthread_mutex_destroy(&t->origin_lock);
	free(t->upstream_ca_file);
	leaf_cache_free(t->leaves);
	ca_free(atomic_load(&t->ca));
	free(t->ca_dir);
	pthread_mutex_destroy(&t->browser_lock);
	pthread_mutex_destroy(&t->track_lock);
	for (int i = 0; i < TLS_RESUME_SLOTS; i++)
		SSL_SESSION_free(t->resume[i].sess);
	pthread_mutex_destroy(&t->resume_lock);
	EVP_CIPHER_free(t->ticket_cipher);
	OPENSSL_cleanse(&t->tk_cur, sizeof t->tk_cur);
	OPENSSL_cleanse(&t->tk_prev, sizeof t->tk_prev);
	pthread_mutex_destroy(&t->ticket_lock);
	t->magic = 0;
	free(t);
}

/* The leaf cache exists once the browser side is published. */
unsigned long tls_mint_count(struct tls *t)
{
	return atomic_load_explicit(&t->server_ctx, memory_order_acquire) ? leaf_cache_mints(t->leaves) : 0;
}

unsigned long tls_cache_hits(struct tls *t)
{
	return atomic_load_explicit(&t->server_ctx, memory_order_acquire) ? leaf_cache_hits(t->leaves) : 0;
}

#define TLS_CA_UNAVAILABLE "unavailable (the CA did not load: see the log)"

const char *tls_ca_pem(struct tls *t, size_t *len)
{
	struct ca *ca = ca_get(t);
	*len = 0;
	return ca ? ca_pem(ca, len) : "";
}

const unsigned char *tls_ca_der(struct tls *t, size_t *len)
{
	struct ca *ca = ca_get(t);
	*len = 0;
	return ca ? ca_der(ca, len) : (const unsigned char *)"";
}

const char *tls_ca_fingerprint(struct tls *t)
{
	struct ca *ca = ca_get(t);
	return ca ? ca_fingerprint(ca) : TLS_CA_UNAVAILABLE;
}

const char *tls_ca_subject(struct tls *t)
{
	struct ca *ca = ca_get(t);
	return ca ? ca_subject(ca) : TLS_CA_UNAVAILABLE;
}
