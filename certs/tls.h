/*
 * tls: everything the proxy needs for HTTPS interception, in one object.
 *
 * One struct tls per process, built by tls_new() before the workers start and
 * shared by all of them.  It owns the CA (certs/ca.h), the cache of minted
 * leaf certificates (certs/leaf.h), the server SSL_CTX that talks to browsers
 * and the client SSL_CTX that talks to origins.  Thread safety: every function
 * may be called from any worker; the leaf cache takes a short mutex on lookup
 * and mint, the auto-bypass table a mutex on a bypass check only while some
 * host has recorded failures; the contexts' first builds take a mutex until
 * they are published; nothing else locks.
 *
 * How the proxy uses it, per CONNECT HOST:PORT:
 *   1. tls_bypassed(t, cfg, HOST): 1 -> blind tunnel, as without interception.
 *   2. Answer "200 Connection established", then look at the client's first
 *      bytes without consuming them (left in the input evbuffer, or
 *      recv(MSG_PEEK)) with tls_peek_client_hello():
 *      0 -> blind tunnel, -1 -> wait for more bytes (bounded by a timeout).
 *   3. 1 -> ssl = tls_client_side(t, HOST) and run the TLS server handshake
 *      over those bytes (bufferevent_openssl_filter_new(..., ACCEPTING) on
 *      the client's bufferevent, as proxy/conn.c does).
 *      A leaf for the SNI name (or HOST without SNI) is picked or minted inside
 *      the handshake.  If the browser aborts the handshake (alert or EOF
 *      before it completes) call tls_client_handshake_failed(t, HOST).
 *   4. For each request inside, connect to the origin with
 *      ssl = tls_origin_side(t, HOST) (BUFFEREVENT_SSL_CONNECTING).  If the
 *      handshake fails, answer the browser 502 with tls_verify_reason(ssl):
 *      the origin's content is never relayed unverified.
 * SSL objects returned here belong to the caller (SSL_free, or the
 * bufferevent with BEV_OPT_CLOSE_ON_FREE).
 */
#ifndef QUELL_TLS_H
#define QUELL_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct config;
struct tls;

/* Sets up HTTPS interception over the CA in cfg->ca_dir, creating it there
 * (ECDSA P-256) when the directory holds none, and logs at info level where
 * it is and how to install it.  Refuses a CA key readable by group or
 * others.  The browser-side SSL_CTX (TLS 1.2 and 1.3, ALPN http/1.1 only,
 * stateless session tickets under keys rotated every two hours), with the
 * CA loaded and the leaf key made, is built now when cfg->intercept is on,
 * else by the first call that needs it (tls_client_side, tls_ca_*), so an
 * idle proxy without interception runs no OpenSSL at all.  The origin-side
 * SSL_CTX (system trust store plus cfg->upstream_ca_file, TLS >= 1.2, peer
 * verification required) is built by the first tls_origin_side;
 * cfg->upstream_ca_file is checked now (parsed with interception on; with
 * it off, only for a readable PEM certificate block).  First builds are
 * thread-safe.  Keeps cfg->ca_dir, cfg->cert_cache_size and
 * cfg->auto_bypass_failures; cfg is not referenced afterwards.  Returns the
 * object, or NULL with a one-line reason in err. */
struct tls *tls_new(const struct config *cfg, char *err, size_t errlen);

/* Frees everything.  Every SSL handed out must be freed first (their
 * callbacks use t).  NULL is a no-op. */
void tls_free(struct tls *t);

/* 1 when CONNECT to host must be tunnelled blindly: cfg->intercept off, host
 * equal to or a subdomain of an intercept_bypass entry, or host auto-bypassed
 * after repeated handshake failures.  0 otherwise (intercept). */
int tls_bypassed(struct tls *t, const struct config *cfg, const char *host);

/* Classifies the first bytes a client sent inside a CONNECT tunnel:
 * 1 a TLS ClientHello, 0 not TLS, -1 too few bytes to tell (need 6). */
int tls_peek_client_hello(const unsigned char *buf, size_t len);

/* A new server-side SSL for the browser end of an intercepted CONNECT to
 * connect_host (name, IPv4 or IPv6 literal, brackets allowed).  The leaf is
 * chosen in the handshake for the SNI name, or connect_host when the
 * ClientHello has no usable SNI; IP literals get an IP SAN.  In accept state.
 * Returns NULL on failure (logged). */
SSL *tls_client_side(struct tls *t, const char *connect_host);

/* Records one failed browser-side handshake for host.  After
 * cfg->auto_bypass_failures of them (0: never) the host is tunnelled blindly
 * from then on (tls_bypassed returns 1) and a warning is logged.  A completed
 * handshake with host resets its count. */
void tls_client_handshake_failed(struct tls *t, const char *host);

/* A new client-side SSL to the origin host (name or IP literal): SNI set for
 * names, the certificate checked against the trust store and against host
 * (DNS name or IP address), ALPN http/1.1.  The last session verified for
 * this host is offered for resumption.  In connect state.  Returns NULL on
 * failure (logged). */
SSL *tls_origin_side(struct tls *t, const char *host);

/* After a failed origin handshake: why, for the 502 page and the log, e.g.
 * "certificate has expired", "certificate is for another host name",
 * "unknown issuer", "self-signed certificate"; "TLS handshake failed" when
 * the certificate was not at fault.  Returns a static string, never NULL. */
const char *tls_verify_reason(const SSL *ssl);

/* Replaces the session ticket key now; tickets under the previous key are
 * still accepted (and renewed) until the next rotation.  This happens by
 * itself every two hours; a reload or an operator may force it.  Any thread. */
void tls_rotate_ticket_keys(struct tls *t);

/* Adds the system trust store to c (a client context), cheaply: the hashed
 * CA directory, whose certificates OpenSSL reads one issuer at a time as
 * chains need them, rather than the whole bundle file at once.  Also for
 * contexts that are not t's (the list downloader's).  1 ok, 0 not. */
int tls_load_system_trust(SSL_CTX *c);

/* Copies up to max auto-bypassed host names into out (each malloc'd, the
 * caller frees them).  Returns how many were copied. */
size_t tls_bypass_list(struct tls *t, char **out, size_t max);

/* Counters for the status page: leaves minted, leaf cache hits. */
unsigned long tls_mint_count(struct tls *t);
unsigned long tls_cache_hits(struct tls *t);

/* The CA certificate, for quell's own pages (certs/pages.h) and the log:
 * PEM text and DER bytes owned by t, and its SHA-256 fingerprint
 * "AB:CD:..." .  Never the key.  The first call may load the CA; when it
 * cannot (logged), PEM and DER are empty and the strings say unavailable. */
const char *tls_ca_pem(struct tls *t, size_t *len);
const unsigned char *tls_ca_der(struct tls *t, size_t *len);
const char *tls_ca_fingerprint(struct tls *t);
const char *tls_ca_subject(struct tls *t);

#endif
