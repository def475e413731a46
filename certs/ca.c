/*
 * ca: see ca.h.  Files are written to temporary names and renamed into
 * place, key first, so a crash never leaves a certificate whose key is
 * missing or a key readable by others (it is created 0600, never chmod'ed
 * down afterwards).
 */
#include "certs/ca.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define CA_MAGIC 0x43415143u  /* "CAQC" */
#define CA_DAYS (3650L + 2)   /* ten years, counting leap days */

struct ca {
	unsigned magic;
	X509 *cert;
	EVP_PKEY *key;
	char *pem;
	size_t pem_len;
	unsigned char *der;
	size_t der_len;
	char fingerprint[3 * 32];
	char subject[128];
	char path[4096];
};

/* Appends the first OpenSSL error to err, then clears the queue. */
static void ssl_reason(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "unknown error";
	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

/* mkdir -p with mode 0700 for each component created.  Returns 0 or -1. */
static int make_dirs(const char *dir)
{
	char buf[4096];
	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST)
				return -1;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Adds one extension given in openssl.cnf syntax.  Returns 0 or -1. */
static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return -1;
	int rc = X509_add_ext(cert, ext, -1) ? 0 : -1;
	X509_EXTENSION_free(ext);
	return rc;
}

/* The subject CN: "quell CA HOST YYYY-MM-DDTHH:MM:SSZ", at most 64 bytes
 * (the X.520 limit), the host name cut to fit.  The time makes two CAs made
 * on one machine differ, which NSS needs to tell them apart. */
static void make_cn(char *cn, size_t len)
{
	char host[256] = "localhost", when[32];
	time_t now = time(NULL);
	struct tm tm;
	if (gethostname(host, sizeof host - 1) != 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	int room = 64 - (int)strlen("quell CA  ") - (int)strlen(when);
	snprintf(cn, len, "quell CA %.*s %s", room, host, when);
}

/* Builds the self-signed CA certificate for key.  Returns it or NULL. */
static X509 *make_cert(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = BN_new();
	char cn[80];
	int ok = 0;
	if (!cert || !name || !bn)
		goto out;
	make_cn(cn, sizeof cn);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"quell", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
		goto out;
	if (!X509_set_version(cert, 2) || !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), CA_DAYS, 0, NULL))
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if (add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(cert, &ctx, NID_subject_key_identifier, "hash") ||
	    add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	ok = X509_sign(cert, key, EVP_sha256()) > 0;
out:
	BN_free(bn);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Writes the PEM of cert (or of key, when key) to path.tmp with mode, then
 * renames it to path.  Returns 0, or -1 with errno or the SSL queue set. */
static int write_pem(const char *path, X509 *cert, EVP_PKEY *key, mode_t mode)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	int ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
	             : PEM_write_X509(f, cert);
	if (fflush(f) != 0 || fsync(fd) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int ca_exists(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, CA_CERT_FILE);
	return access(path, F_OK) == 0;
}

int ca_create(const char *dir, int type, int force, char *err, size_t errlen)
{
	char cpath[4200], kpath[4200];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;
	snprintf(cpath, sizeof cpath, "%s/%s", dir, CA_CERT_FILE);
	snprintf(kpath, sizeof kpath, "%s/%s", dir, CA_KEY_FILE);
	if (!force && (access(cpath, F_OK) == 0 || access(kpath, F_OK) == 0)) {
		snprintf(err, errlen, "a CA already exists in %s (--force replaces it; "
		         "browsers that trust the old one must then import the new one)", dir);
		return -1;
	}
	if (make_dirs(dir) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	key = type == CA_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	                     : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key) {
		ssl_reason(err, errlen, "key generation failed");
		goto out;
	}
	if (!(cert = make_cert(key))) {
		ssl_reason(err, errlen, "CA certificate creation failed");
		goto out;
	}
	if (write_pem(kpath, NULL, key, 0600) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", kpath, errno ? strerror(errno) : "OpenSSL error");
		goto out;
	}
	if (write_pem(cpath, cert, NULL, 0644) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", cpath, errno ? strerror(errno) : "OpenSSL error");
		unlink(kpath);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Reads the key at path after checking its mode.  Returns it or NULL. */
static EVP_PKEY *load_key(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the CA key %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO))) {
		snprintf(err, errlen, "the CA key %s is readable by group or others (mode %04o): "
		         "anyone who reads it can impersonate every web site; fix it with: chmod 600 %s",
		         path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return NULL;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		ssl_reason(err, errlen, path);
	return key;
}

/* Fills the derived fields (PEM, DER, fingerprint, CN).  0 or -1. */
static int fill_derived(struct ca *ca)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	if (!b || !PEM_write_bio_X509(b, ca->cert)) {
		BIO_free(b);
		return -1;
	}
	long n = BIO_get_mem_data(b, &p);
	ca->pem = malloc((size_t)n + 1);
	if (ca->pem) {
		memcpy(ca->pem, p, (size_t)n);
		ca->pem[n] = '\0';
		ca->pem_len = (size_t)n;
	}
	BIO_free(b);
	unsigned char *der = NULL;
	int dn = i2d_X509(ca->cert, &der);
	if (!ca->pem || dn <= 0)
		return -1;
	ca->der = der;
	ca->der_len = (size_t)dn;
	if (!X509_digest(ca->cert, EVP_sha256(), md, &mdlen))
		return -1;
	for (unsigned i = 0; i < mdlen; i++)
		sprintf(ca->fingerprint + 3 * i, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(ca->cert), NID_commonName,
	                              ca->subject, sizeof ca->subject) < 0)
		snprintf(ca->subject, sizeof ca->subject, "quell CA");
	return 0;
}

struct ca *ca_load(const char *dir, int with_key, char *err, size_t errlen)
{
	struct ca *ca = calloc(1, sizeof *ca);
	char kpath[4200];
	FILE *f = NULL;
	if (!ca) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ca->magic = CA_MAGIC;
	snprintf(ca->path, sizeof ca->path, "%s/%s", dir, CA_CERT_FILE);
	snprintf(kpath, sizeof kpath, "%s/%s", dir, CA_KEY_FILE);
	if (!(f = fopen(ca->path, "re"))) {
		snprintf(err, errlen, "cannot open the CA certificate %s: %s (quell ca init creates one)",
		         ca->path, strerror(errno));
		goto fail;
	}
	ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->cert) {
		ssl_reason(err, errlen, ca->path);
		goto fail;
	}
	if (X509_check_ca(ca->cert) == 0) {
		snprintf(err, errlen, "%s is not a CA certificate (basicConstraints CA:TRUE missing)", ca->path);
		goto fail;
	}
	if (with_key) {
		if (!(ca->key = load_key(kpath, err, errlen)))
			goto fail;
		if (X509_check_private_key(ca->cert, ca->key) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "the CA key %s does not belong to the certificate %s", kpath, ca->path);
			goto fail;
		}
	}
	if (fill_derived(ca) != 0) {
		ssl_reason(err, errlen, "cannot encode the CA certificate");
		goto fail;
	}
	return ca;
fail:
	ca_free(ca);
	return NULL;
}

void ca_free(struct ca *ca)
{
	if (!ca)
		return;
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->pem);
	OPENSSL_free(ca->der);
	ca->magic = 0;
	free(ca);
}

#define CHECK(ca) assert((ca) && (ca)->magic == CA_MAGIC)

X509 *ca_cert(const struct ca *ca) { CHECK(ca); return ca->cert; }
EVP_PKEY *ca_key(const struct ca *ca) { CHECK(ca); return ca->key; }
const char *ca_fingerprint(const struct ca *ca) { CHECK(ca); return ca->fingerprint; }
const char *ca_subject(const struct ca *ca) { CHECK(ca); return ca->subject; }
const char *ca_cert_path(const struct ca *ca) { CHECK(ca); return ca->path; }

const char *ca_pem(const struct ca *ca, size_t *len)
{
	CHECK(ca);
	if (len)
		*len = ca->pem_len;
	return ca->pem;
}

const unsigned char *ca_der(const struct ca *ca, size_t *len)
{
	CHECK(ca);
	if (len)
		*len = ca->der_len;
	return ca->der;
}
