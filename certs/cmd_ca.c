/*
 * cmd_ca: "quell ca init" and "quell ca export" (see proxy/cli.h for the
 * exit status convention).  The CA directory is --dir, else ca_dir from the
 * config file (--config FILE, else the default file when it exists).
 */
#include "proxy/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs/ca.h"
#include "proxy/config.h"

static const char ca_usage[] =
"usage: quell ca init [--dir DIR] [--rsa] [--force] [--config FILE]\n"
"       quell ca export [--dir DIR] [--der] [--config FILE]\n"
"\n"
"  init    create the local CA that signs the certificates quell shows browsers\n"
"          (ECDSA P-256; --rsa: RSA-2048 for old clients; --force replaces one)\n"
"  export  print the CA certificate: PEM, or DER with --der (Android, Windows)\n"
"  --dir DIR  the CA directory (default: ca_dir from the config file)\n";

struct ca_opts {
	const char *dir, *config;
	int rsa, force, der;
};

/* Parses argv[2..].  Returns 0, or 2 (usage error, printed). */
static int parse(int argc, char **argv, int is_init, struct ca_opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if ((!strcmp(a, "--dir") || !strcmp(a, "--config")) && i + 1 < argc) {
			*(a[2] == 'd' ? &o->dir : &o->config) = argv[++i];
		} else if (is_init && !strcmp(a, "--rsa")) {
			o->rsa = 1;
		} else if (is_init && !strcmp(a, "--force")) {
			o->force = 1;
		} else if (!is_init && !strcmp(a, "--der")) {
			o->der = 1;
		} else {
			fprintf(stderr, "quell ca %s: unexpected argument '%s'\n%s", argv[1], a, ca_usage);
			return 2;
		}
	}
	return 0;
}

/* The CA directory, malloc'd, or NULL after printing why (config error). */
static char *ca_dir(const struct ca_opts *o)
{
	struct config cfg;
	char err[512];
	char *dir = NULL;
	if (o->dir)
		return strdup(o->dir);
	if (config_defaults(&cfg) != 0) {
		fprintf(stderr, "quell ca: out of memory\n");
		return NULL;
	}
	const char *path = o->config;
	if (!path && access(config_default_path(), F_OK) == 0)
		path = config_default_path();
	if (path && config_load(&cfg, path, err, sizeof err) != 0)
		fprintf(stderr, "quell ca: %s\n", err);
	else if (!(dir = strdup(cfg.ca_dir)))
		fprintf(stderr, "quell ca: out of memory\n");
	config_free(&cfg);
	return dir;
}

static int do_init(const char *dir, const struct ca_opts *o)
{
	char err[1024];
	if (ca_create(dir, o->rsa ? CA_RSA : CA_ECDSA, o->force, err, sizeof err) != 0) {
		fprintf(stderr, "quell ca init: %s\n", err);
		return 1;
	}
	struct ca *ca = ca_load(dir, 1, err, sizeof err);
	if (!ca) {
		fprintf(stderr, "quell ca init: %s\n", err);
		return 1;
	}
	printf("created %s CA \"%s\"\n  certificate: %s (install it in your browsers)\n"
	       "  private key: %s/%s (mode 0600; never share it)\n  SHA-256: %s\n"
	       "Install steps: open http://quell.home/ca through the proxy, or run 'quell ca export'.\n",
	       o->rsa ? "an RSA-2048" : "an ECDSA P-256", ca_subject(ca), ca_cert_path(ca),
	       dir, CA_KEY_FILE, ca_fingerprint(ca));
	ca_free(ca);
	return 0;
}

static int do_export(const char *dir, const struct ca_opts *o)
{
	char err[1024];
	size_t n;
	/* Without the key: exporting needs no secret, so it works for any user
	 * who may read the certificate. */
	struct ca *ca = ca_load(dir, 0, err, sizeof err);
	if (!ca) {
		fprintf(stderr, "quell ca export: %s\n", err);
		return 1;
	}
	const void *data = o->der ? (const void *)ca_der(ca, &n) : (const void *)ca_pem(ca, &n);
	int rc = fwrite(data, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		fprintf(stderr, "quell ca export: write error\n");
	ca_free(ca);
	return rc;
}

int cmd_ca(int argc, char **argv)
{
	struct ca_opts o = { 0 };
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(ca_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	int is_init = !strcmp(argv[1], "init");
	if (!is_init && strcmp(argv[1], "export") != 0) {
		fprintf(stderr, "quell ca: unknown subcommand '%s'\n%s", argv[1], ca_usage);
		return 2;
	}
	if (parse(argc, argv, is_init, &o) != 0)
		return 2;
	char *dir = ca_dir(&o);
	if (!dir)
		return 2;
	int rc = is_init ? do_init(dir, &o) : do_export(dir, &o);
	free(dir);
	return rc;
}
