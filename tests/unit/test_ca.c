/* Unit tests for certs/ca: creation (ECDSA and RSA), loading, the fields a
 * CA must carry, key file permissions, refusal to overwrite. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"

static char tmpdir[64];

static int setup(void **state)
{
	strcpy(tmpdir, "/tmp/quell-test-ca-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t len, const char *sub, const char *file)
{
	snprintf(out, len, "%s/%s/%s", tmpdir, sub, file);
}

/* The checks every CA must pass, whatever its key type. */
static void check_ca_fields(struct ca *ca, int key_type)
{
	X509 *c = ca_cert(ca);
	char host[256] = "", cn[256];
	int crit = -1;

	assert_non_null(ca_key(ca));
	assert_int_equal(EVP_PKEY_is_a(ca_key(ca), key_type == CA_RSA ? "RSA" : "EC"), 1);
	if (key_type == CA_RSA)
		assert_int_equal(EVP_PKEY_get_bits(ca_key(ca)), 2048);
	else
		assert_int_equal(EVP_PKEY_get_bits(ca_key(ca)), 256);

	/* basicConstraints CA:TRUE, critical */
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_check_ca(c), 1);

	/* keyUsage keyCertSign + cRLSign, critical */
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(c, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_get_key_usage(c), KU_KEY_CERT_SIGN | KU_CRL_SIGN);

	/* subject names quell, this host, today's date; self-issued */
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn) > 0);
	gethostname(host, sizeof host - 1);
	host[20] = '\0';
	char today[16];
	time_t now = time(NULL);
	struct tm tm;
	strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tm));
	assert_non_null(strstr(cn, "quell"));
	assert_non_null(strstr(cn, host));
	assert_non_null(strstr(cn, today));
	assert_string_equal(cn, ca_subject(ca));
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)), 0);
	assert_int_equal(X509_verify(c, ca_key(ca)), 1);

	/* ten years, starting now (give or take the clock-skew hour) */
	int days, secs;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(c), X509_get0_notAfter(c)), 1);
	assert_in_range(days, 3650, 3654);
	assert_int_equal(X509_cmp_current_time(X509_get0_notBefore(c)), -1);

	/* PEM, DER and fingerprint agree with the certificate */
	size_t n;
	const unsigned char *der = ca_der(ca, &n);
	X509 *back = d2i_X509(NULL, &der, (long)n);
	assert_non_null(back);
	assert_int_equal(X509_cmp(back, c), 0);
	X509_free(back);
	assert_non_null(strstr(ca_pem(ca, &n), "-----BEGIN CERTIFICATE-----"));
	assert_null(strstr(ca_pem(ca, &n), "PRIVATE"));
	assert_int_equal(strlen(ca_fingerprint(ca)), 32 * 3 - 1);
}

static void create_and_load(const char *sub, int type)
{
	char dir[128], key[160], cert[160], err[512];
	struct stat st;
	snprintf(dir, sizeof dir, "%s/%s", tmpdir, sub);
	assert_int_equal(ca_exists(dir), 0);
	assert_int_equal(ca_create(dir, type, 0, err, sizeof err), 0);
	assert_int_equal(ca_exists(dir), 1);

	path_of(key, sizeof key, sub, CA_KEY_FILE);
	path_of(cert, sizeof cert, sub, CA_CERT_FILE);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);

	struct ca *ca = ca_load(dir, 1, err, sizeof err);
	if (!ca)
		fail_msg("ca_load: %s", err);
	check_ca_fields(ca, type);
	assert_string_equal(ca_cert_path(ca), cert);
	ca_free(ca);
}

static void test_create_ecdsa(void **state) { create_and_load("ec/nested", CA_ECDSA); }
static void test_create_rsa(void **state) { create_and_load("rsa", CA_RSA); }

static void test_refuses_readable_key(void **state)
{
	char dir[128], key[160], err[512];
	snprintf(dir, sizeof dir, "%s/perm", tmpdir);
	path_of(key, sizeof key, "perm", CA_KEY_FILE);
	assert_int_equal(ca_create(dir, CA_ECDSA, 0, err, sizeof err), 0);
	assert_int_equal(chmod(key, 0644), 0);
	assert_null(ca_load(dir, 1, err, sizeof err));
	char fix[200];
	snprintf(fix, sizeof fix, "chmod 600 %s", key);
	assert_non_null(strstr(err, fix));
	assert_non_null(strstr(err, "0644"));
	/* group-readable only is refused too */
	assert_int_equal(chmod(key, 0640), 0);
	assert_null(ca_load(dir, 1, err, sizeof err));
	/* the certificate alone needs no secret */
	struct ca *ca = ca_load(dir, 0, err, sizeof err);
	assert_non_null(ca);
	assert_null(ca_key(ca));
	ca_free(ca);
	assert_int_equal(chmod(key, 0600), 0);
	ca = ca_load(dir, 1, err, sizeof err);
	assert_non_null(ca);
	ca_free(ca);
}

static void test_no_overwrite_without_force(void **state)
{
	char dir[128], err[512], fp[128];
	snprintf(dir, sizeof dir, "%s/force", tmpdir);
	assert_int_equal(ca_create(dir, CA_ECDSA, 0, err, sizeof err), 0);
	struct ca *ca = ca_load(dir, 1, err, sizeof err);
	assert_non_null(ca);
	strcpy(fp, ca_fingerprint(ca));
	ca_free(ca);

	assert_int_equal(ca_create(dir, CA_ECDSA, 0, err, sizeof err), -1);
	assert_non_null(strstr(err, "already exists"));
	ca = ca_load(dir, 1, err, sizeof err);
	assert_string_equal(ca_fingerprint(ca), fp);
	ca_free(ca);

	assert_int_equal(ca_create(dir, CA_RSA, 1, err, sizeof err), 0);
	ca = ca_load(dir, 1, err, sizeof err);
	assert_non_null(ca);
	assert_string_not_equal(ca_fingerprint(ca), fp);
	assert_int_equal(EVP_PKEY_is_a(ca_key(ca), "RSA"), 1);
	ca_free(ca);
}

static void test_mismatched_key_refused(void **state)
{
	char a[128], b[128], from[160], to[160], err[512], cmd[400];
	snprintf(a, sizeof a, "%s/mis-a", tmpdir);
	snprintf(b, sizeof b, "%s/mis-b", tmpdir);
	assert_int_equal(ca_create(a, CA_ECDSA, 0, err, sizeof err), 0);
	assert_int_equal(ca_create(b, CA_ECDSA, 0, err, sizeof err), 0);
	path_of(from, sizeof from, "mis-b", CA_KEY_FILE);
	path_of(to, sizeof to, "mis-a", CA_KEY_FILE);
	snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
	assert_null(ca_load(a, 1, err, sizeof err));
	assert_non_null(strstr(err, "does not belong"));
}

static void test_missing_and_not_a_ca(void **state)
{
	char dir[128], err[512], path[160];
	snprintf(dir, sizeof dir, "%s/none", tmpdir);
	assert_null(ca_load(dir, 1, err, sizeof err));
	assert_non_null(strstr(err, "quell ca init"));

	/* a certificate without CA:TRUE is refused */
	snprintf(dir, sizeof dir, "%s/leafonly", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	path_of(path, sizeof path, "leafonly", CA_CERT_FILE);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *c = X509_new();
	X509_set_version(c, 2);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (const unsigned char *)"x", -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(c));
	X509_gmtime_adj(X509_getm_notBefore(c), 0);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_set_pubkey(c, k);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(c, k, EVP_sha256()) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	PEM_write_X509(f, c);
	fclose(f);
	X509_free(c);
	EVP_PKEY_free(k);
	assert_null(ca_load(dir, 0, err, sizeof err));
	assert_non_null(strstr(err, "not a CA"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_ecdsa),
		cmocka_unit_test(test_create_rsa),
		cmocka_unit_test(test_refuses_readable_key),
		cmocka_unit_test(test_no_overwrite_without_force),
		cmocka_unit_test(test_mismatched_key_refused),
		cmocka_unit_test(test_missing_and_not_a_ca),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
