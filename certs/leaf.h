/*
 * leaf: the certificates quell presents to browsers, one per host name or IP
 * literal, signed by the CA, and the cache that keeps them.
 *
 * All leaves share one ECDSA P-256 key pair made when the cache is built, so
 * minting is one signature (about 0.1 ms with an ECDSA CA) and no key
 * generation.  Leaves: SAN DNS:host or IP:addr, notBefore one day back (clock
 * skew), 365 days after now (under the 397-day limit browsers enforce) and
 * never past the CA's own expiry, keyUsage digitalSignature, extKeyUsage
 * serverAuth, a random 127-bit serial.
 *
 * The cache is an LRU of cert_cache_size leaves keyed by the lower-cased
 * name; lookups and mints take one mutex, so it is shared by all workers and
 * a second connection to a host never mints again.
 */
#ifndef QUELL_LEAF_H
#define QUELL_LEAF_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct leaf_cache;

/* Mints one leaf for host (DNS name, IPv4 or IPv6 literal, brackets allowed)
 * with public key key, signed by ca_cert/ca_key.  Returns a new X509 the
 * caller frees, or NULL (bad host name or OpenSSL failure; the error queue
 * holds why). */
X509 *leaf_mint(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *key, const char *host);

/* 1 when host is an IP literal (IPv4, IPv6, or [IPv6]), else 0. */
int leaf_is_ip(const char *host);

/* A cache of at most capacity leaves (>= 1), signing with ca_cert/ca_key
 * (referenced, not copied: they must outlive the cache), and a fresh shared
 * leaf key.  Returns NULL on failure with a reason in err. */
struct leaf_cache *leaf_cache_new(X509 *ca_cert, EVP_PKEY *ca_key, int capacity,
                                  char *err, size_t errlen);
void leaf_cache_free(struct leaf_cache *lc);

/* The leaf for host, from the cache or minted and cached (evicting the least
 * recently used leaf when full).  Returns a new reference the caller
 * X509_free()s, or NULL (host not a valid name, or minting failed). */
X509 *leaf_cache_get(struct leaf_cache *lc, const char *host);

/* The key pair of every leaf (borrowed). */
EVP_PKEY *leaf_cache_key(const struct leaf_cache *lc);

unsigned long leaf_cache_mints(struct leaf_cache *lc);
unsigned long leaf_cache_hits(struct leaf_cache *lc);
size_t leaf_cache_size(struct leaf_cache *lc);

#endif
