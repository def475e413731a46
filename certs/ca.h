/*
 * ca: quell's local certificate authority, the root that browsers install so
 * that quell may present certificates for the sites it filters.
 *
 * A CA lives in a directory: ca.pem (the certificate, mode 0644) and ca.key
 * (the private key, PEM PKCS#8, mode 0600).  Each install makes its own
 * (ECDSA P-256, or RSA-2048 for old clients), so no two users share a key.
 * A key readable by anyone but its owner is refused: whoever can read it can
 * impersonate every site to this browser.
 */
#ifndef QUELL_CA_H
#define QUELL_CA_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct ca;

enum { CA_ECDSA = 0, CA_RSA = 1 };

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE "ca.key"

/* Creates a new CA in dir (made 0700 when missing): key type CA_ECDSA or
 * CA_RSA, subject "quell CA HOSTNAME DATE" O=quell, 10 years, basicConstraints
 * CA:TRUE (critical, pathlen 0), keyUsage keyCertSign+cRLSign (critical).
 * Refuses to overwrite an existing CA unless force.  Returns 0, or -1 with a
 * reason in err. */
int ca_create(const char *dir, int type, int force, char *err, size_t errlen);

/* 1 when dir holds a CA certificate file, 0 when not. */
int ca_exists(const char *dir);

/* Loads the CA in dir: the certificate and, when with_key, the key, which
 * must be mode 0600 or stricter, match the certificate, and the certificate
 * must be a CA.  Returns the CA (free with ca_free), or NULL with a reason in
 * err that says how to fix it. */
struct ca *ca_load(const char *dir, int with_key, char *err, size_t errlen);

void ca_free(struct ca *ca);

/* Borrowed pointers, valid until ca_free.  ca_key is NULL when loaded
 * without the key. */
X509 *ca_cert(const struct ca *ca);
EVP_PKEY *ca_key(const struct ca *ca);
const char *ca_pem(const struct ca *ca, size_t *len);
const unsigned char *ca_der(const struct ca *ca, size_t *len);
const char *ca_fingerprint(const struct ca *ca);  /* SHA-256, "AB:CD:..." */
const char *ca_subject(const struct ca *ca);      /* the CN */
const char *ca_cert_path(const struct ca *ca);

#endif
