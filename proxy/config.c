/*
 * config: see config.h.  One table lists every key with its parser and its
 * default; config_defaults() runs the defaults through the same parsers, so a
 * default can never be a value the file could not hold.
 */
#include "proxy/config.h"
#include "proxy/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* ---- value parsers ---------------------------------------------------- */

int config_parse_duration_ms(const char *s, long *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0)
		return -1;
	double mul = 1000;
	if (*end == 0 || strcmp(end, "s") == 0) mul = 1000;
	else if (strcmp(end, "ms") == 0) mul = 1;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) mul = 60000;
	else if (strcmp(end, "h") == 0) mul = 3600000;
	else if (strcmp(end, "d") == 0) mul = 86400000;
	else return -1;
	double r = v * mul;
	if (r > (double)LONG_MAX)
		return -1;
	*ms = (long)r;
	return 0;
}

int config_parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -1;
	unsigned long long mul = 1;
	switch (tolower((unsigned char)*end)) {
	case 0: break;
	case 'k': mul = 1ull << 10; end++; break;
	case 'm': mul = 1ull << 20; end++; break;
	case 'g': mul = 1ull << 30; end++; break;
	case 'b': break;
	default: return -1;
	}
	if (strcasecmp(end, "ib") == 0 || strcasecmp(end, "b") == 0 || *end == 0) {
		if (v > (unsigned long long)SIZE_MAX / mul)
			return -1;
		*out = (size_t)(v * mul);
		return 0;
	}
	return -1;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long p = strtol(s, &end, 10);
	if (end == s || *end || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

int config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	int port;
	memset(ss, 0, sizeof *ss);
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, rb - s - 1);
		host[rb - s - 1] = 0;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof host)
			return -1;
		memcpy(host, s, colon - s);
		host[colon - s] = 0;
		if (!*host)
			strcpy(host, "0.0.0.0");
	}
	if (parse_port(colon + 1, &port) < 0)
		return -1;
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return 0;
	}
	if (strcasecmp(host, "localhost") == 0) {
		inet_pton(AF_INET, "127.0.0.1", &a4->sin_addr);
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

int config_parse_cidr(const char *s, struct config_cidr *out)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	if (hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	memset(out, 0, sizeof *out);
	int max;
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		return -1;
	}
	out->prefix = max;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || p < 0 || p > max)
			return -1;
		out->prefix = (int)p;
	}
	return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int bytes = bits / 8, rem = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rem == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rem));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

int config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa)
{
	static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;
		if (c->family != AF_INET)
			return 0;
		return prefix_eq((const uint8_t *)&a->sin_addr, c->addr, c->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;
		const uint8_t *b = a->sin6_addr.s6_addr;
		if (c->family == AF_INET6)
			return prefix_eq(b, c->addr, c->prefix);
		if (memcmp(b, mapped, 12) == 0)
			return prefix_eq(b + 12, c->addr, c->prefix);
	}
	return 0;
}

/* ---- the key table ------------------------------------------------------ */

/* A setter gets the whole value text (already trimmed) and the word vector. */
typedef int (*setter_fn)(struct config *cfg, int argc, char **argv, const char *raw,
                         char *err, size_t errlen);

struct key {
	const char *name;
	setter_fn set;
	const char *deflt;        /* run through set() by config_defaults; NULL: none */
	int repeat;               /* may appear more than once */
};

static int set_str(char **slot, const char *v)
{
	char *d = strdup(v);
	if (!d)
		return -1;
	free(*slot);
	*slot = d;
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	if (!strcasecmp(v, "on") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*out = 1;
	else if (!strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int push(void **arr, int *n, size_t elem, const void *item)
{
	void *p = realloc(*arr, (*n + 1) * elem);
	if (!p)
		return -1;
	memcpy((char *)p + *n * elem, item, elem);
	*arr = p;
	(*n)++;
	return 0;
}

#define ONE_ARG() do { if (argc != 1) return ERR("expects one value"); } while (0)

#define BOOL_KEY(fn, field) \
static int fn(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen) \
{ (void)raw; ONE_ARG(); \
  if (parse_bool(argv[0], &c->field)) \
    return ERR("expects on or off, not '%s'", argv[0]); \
  return 0; }

#define DUR_KEY(fn, field) \
static int fn(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen) \
{ (void)raw; ONE_ARG(); \
  if (config_parse_duration_ms(argv[0], &c->field)) \
    return ERR("expects a duration like 10s, 500ms, 5m, not '%s'", argv[0]); \
  return 0; }

#define SIZE_KEY(fn, field, lo) \
static int fn(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen) \
{ (void)raw; ONE_ARG(); size_t v; \
  if (config_parse_size(argv[0], &v) || v < (lo)) \
    return ERR("expects a size like 64k or 1m (at least %zu bytes), not '%s'", (size_t)(lo), argv[0]); \
  c->field = v; return 0; }

#define INT_KEY(fn, field, lo, hi) \
static int fn(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen) \
{ (void)raw; ONE_ARG(); char *e; long v = strtol(argv[0], &e, 10); \
  if (e == argv[0] || *e || v < (lo) || v > (hi)) \
    return ERR("expects a number from %ld to %ld, not '%s'", (long)(lo), (long)(hi), argv[0]); \
  c->field = (int)v; return 0; }

#define STR_KEY(fn, field) \
static int fn(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen) \
{ (void)argv; \
  if (argc < 1) \
    return ERR("expects a value"); \
  if (set_str(&c->field, raw)) \
    return ERR("out of memory"); \
  return 0; }

BOOL_KEY(set_via, via)
BOOL_KEY(set_xff, x_forwarded_for)
BOOL_KEY(set_intercept, intercept)
BOOL_KEY(set_recompress, recompress)
BOOL_KEY(set_builtin, builtin)
BOOL_KEY(set_consent_decline, consent_decline)
DUR_KEY(set_header_timeout, header_timeout_ms)
DUR_KEY(set_keepalive_timeout, keepalive_timeout_ms)
DUR_KEY(set_connect_timeout, connect_timeout_ms)
DUR_KEY(set_first_byte_timeout, first_byte_timeout_ms)
DUR_KEY(set_io_timeout, io_timeout_ms)
DUR_KEY(set_upstream_idle_timeout, upstream_idle_timeout_ms)
DUR_KEY(set_shutdown_grace, shutdown_grace_ms)
DUR_KEY(set_list_timeout, list_timeout_ms)
SIZE_KEY(set_max_request_head, max_request_head, 1024)
SIZE_KEY(set_conn_buffer, conn_buffer, 4096)
SIZE_KEY(set_html_lookahead, html_lookahead, 1024)
SIZE_KEY(set_list_max_size, list_max_size, 1024)
INT_KEY(set_workers, workers, 0, 256)
INT_KEY(set_max_connections, max_connections, 1, 1000000)
INT_KEY(set_upstream_pool_size, upstream_pool_size, 0, 1024)
INT_KEY(set_max_headers, max_headers, 8, 10000)
INT_KEY(set_dns_cache_size, dns_cache_size, 0, 1000000)
INT_KEY(set_cert_cache_size, cert_cache_size, 1, 1000000)
INT_KEY(set_auto_bypass_failures, auto_bypass_failures, 0, 1000)
STR_KEY(set_error_log, error_log)
STR_KEY(set_access_log, access_log)
STR_KEY(set_ca_dir, ca_dir)
STR_KEY(set_upstream_ca_file, upstream_ca_file)
STR_KEY(set_snapshot, snapshot)
STR_KEY(set_state_dir, state_dir)

static int set_listen(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	for (int i = 0; i < argc; i++) {
		if (c->n_listen >= CONFIG_MAX_LISTEN)
			return ERR("at most %d listen addresses", CONFIG_MAX_LISTEN);
		struct config_addr *a = &c->listen[c->n_listen];
		if (strlen(argv[i]) >= sizeof a->text || config_parse_addr(argv[i], &a->ss, &a->len))
			return ERR("expects ADDR:PORT (e.g. 127.0.0.1:8228 or [::1]:8228), not '%s'", argv[i]);
		snprintf(a->text, sizeof a->text, "%s", argv[i]);
		c->n_listen++;
	}
	return argc ? 0 : ERR("expects ADDR:PORT");
}

static int set_log_level(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	ONE_ARG();
	int l = log_level_parse(argv[0]);
	if (l < 0)
		return ERR("expects error, warn, info or debug, not '%s'", argv[0]);
	c->log_level = l;
	return 0;
}

static int set_allow(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	for (int i = 0; i < argc; i++) {
		struct config_cidr cidr;
		if (config_parse_cidr(argv[i], &cidr))
			return ERR("expects an address or CIDR like 192.168.1.0/24, not '%s'", argv[i]);
		if (push((void **)&c->allow, &c->n_allow, sizeof cidr, &cidr))
			return ERR("out of memory");
	}
	return argc ? 0 : ERR("expects a CIDR");
}

static int set_connect_ports(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	c->n_connect_ports = 0;
	for (int i = 0; i < argc; i++) {
		int p;
		if (parse_port(argv[i], &p))
			return ERR("expects port numbers, not '%s'", argv[i]);
		if (push((void **)&c->connect_ports, &c->n_connect_ports, sizeof p, &p))
			return ERR("out of memory");
	}
	return argc ? 0 : ERR("expects at least one port");
}

static int set_resolver(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	ONE_ARG();
	if (strcmp(argv[0], "system") == 0) {
		free(c->resolver);
		c->resolver = NULL;
		return 0;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[96];
	/* A bare address means port 53. */
	if (config_parse_addr(argv[0], &ss, &len) != 0) {
		snprintf(buf, sizeof buf, strchr(argv[0], ':') ? "[%s]:53" : "%s:53", argv[0]);
		if (config_parse_addr(buf, &ss, &len) != 0)
			return ERR("expects ADDR[:PORT] or system, not '%s'", argv[0]);
	}
	return set_str(&c->resolver, argv[0]) ? ERR("out of memory") : 0;
}

static int set_bypass(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	for (int i = 0; i < argc; i++) {
		const char *h = argv[i];
		while (*h == '.' || *h == '*')
			h++;
		char *d = strdup(h);
		if (!d)
			return ERR("out of memory");
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (push((void **)&c->intercept_bypass, &c->n_intercept_bypass, sizeof d, &d)) {
			free(d);
			return ERR("out of memory");
		}
	}
	return argc ? 0 : ERR("expects host names");
}

static int set_list(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	if (argc < 1)
		return ERR("expects a path or URL");
	if (argc == 1 && strcmp(argv[0], "none") == 0) {
		c->lists_none = 1;
		return 0;
	}
	struct config_list l = { 0 };
	l.is_url = strncmp(argv[0], "http://", 7) == 0 || strncmp(argv[0], "https://", 8) == 0;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "name=", 5) == 0 && argv[i][5]) {
			free(l.name);
			l.name = strdup(argv[i] + 5);
		} else if (strncmp(argv[i], "every=", 6) == 0) {
			long ms;
			if (config_parse_duration_ms(argv[i] + 6, &ms) || ms < 60000) {
				free(l.name);
				return ERR("every= expects a duration of at least 1m, not '%s'", argv[i] + 6);
			}
			l.every_s = ms / 1000;
		} else {
			free(l.name);
			return ERR("unknown list option '%s' (name=NAME, every=DURATION)", argv[i]);
		}
	}
	l.source = strdup(argv[0]);
	if (!l.source || push((void **)&c->lists, &c->n_lists, sizeof l, &l)) {
		free(l.source);
		free(l.name);
		return ERR("out of memory");
	}
	return 0;
}

static int set_rules(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)argv;
	if (argc < 1)
		return ERR("expects a path");
	char *d = strdup(raw);
	if (!d || push((void **)&c->rules, &c->n_rules, sizeof d, &d)) {
		free(d);
		return ERR("out of memory");
	}
	return 0;
}

static int parse_mode(const char *v, int *mode)
{
	if (strcmp(v, "remove") == 0) *mode = COSMETIC_REMOVE;
	else if (strcmp(v, "hide") == 0) *mode = COSMETIC_HIDE;
	else return -1;
	return 0;
}

static int set_cosmetic(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	ONE_ARG();
	return parse_mode(argv[0], &c->cosmetic) ? ERR("expects remove or hide, not '%s'", argv[0]) : 0;
}

static int set_cosmetic_site(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	struct config_site_mode m;
	if (argc != 2 || parse_mode(argv[1], &m.mode))
		return ERR("expects DOMAIN remove|hide");
	m.domain = strdup(argv[0]);
	if (!m.domain || push((void **)&c->cosmetic_sites, &c->n_cosmetic_sites, sizeof m, &m)) {
		free(m.domain);
		return ERR("out of memory");
	}
	return 0;
}

static int set_annoyances(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	unsigned bits = 0;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (!strcmp(w, "all")) bits |= ANNOY_ALL;
		else if (!strcmp(w, "none")) bits = 0;
		else if (!strcmp(w, "ad-labels") || !strcmp(w, "ads")) bits |= ANNOY_AD_LABELS;
		else if (!strcmp(w, "donation")) bits |= ANNOY_DONATION;
		else if (!strcmp(w, "newsletter")) bits |= ANNOY_NEWSLETTER;
		else if (!strcmp(w, "consent")) bits |= ANNOY_CONSENT;
		else return ERR("unknown category '%s' (ad-labels, donation, newsletter, consent, all, none)", w);
	}
	if (!argc)
		return ERR("expects categories");
	c->annoyances = bits;
	return 0;
}

static int set_update_interval(struct config *c, int argc, char **argv, const char *raw, char *err, size_t errlen)
{
	(void)raw;
	ONE_ARG();
	long ms;
	if (config_parse_duration_ms(argv[0], &ms) || ms < 60000)
		return ERR("expects a duration of at least 1m, not '%s'", argv[0]);
	c->update_interval_s = ms / 1000;
	return 0;
}

static const struct key keys[] = {
	/* proxy core */
	{ "listen", set_listen, "127.0.0.1:8228", 1 },
	{ "workers", set_workers, "0", 0 },
	{ "log_level", set_log_level, "info", 0 },
	{ "error_log", set_error_log, "stderr", 0 },
	{ "access_log", set_access_log, "stderr", 0 },
	{ "allow", set_allow, "127.0.0.1 ::1", 1 },
	{ "connect_ports", set_connect_ports, "443", 0 },
	{ "resolver", set_resolver, "system", 0 },
	{ "via", set_via, "off", 0 },
	{ "x_forwarded_for", set_xff, "off", 0 },
	{ "max_connections", set_max_connections, "4096", 0 },
	{ "header_timeout", set_header_timeout, "10s", 0 },
	{ "keepalive_timeout", set_keepalive_timeout, "60s", 0 },
	{ "connect_timeout", set_connect_timeout, "10s", 0 },
	{ "first_byte_timeout", set_first_byte_timeout, "60s", 0 },
	{ "io_timeout", set_io_timeout, "120s", 0 },
	{ "upstream_idle_timeout", set_upstream_idle_timeout, "30s", 0 },
	{ "upstream_pool_size", set_upstream_pool_size, "16", 0 },
	{ "shutdown_grace", set_shutdown_grace, "10s", 0 },
	{ "max_request_head", set_max_request_head, "64k", 0 },
	{ "max_headers", set_max_headers, "128", 0 },
	{ "conn_buffer", set_conn_buffer, "256k", 0 },
	{ "dns_cache_size", set_dns_cache_size, "4096", 0 },
	/* certs */
	{ "ca_dir", set_ca_dir, NULL, 0 },
	{ "intercept", set_intercept, "on", 0 },
	{ "intercept_bypass", set_bypass, NULL, 1 },
	{ "upstream_ca_file", set_upstream_ca_file, NULL, 0 },
	{ "cert_cache_size", set_cert_cache_size, "1000", 0 },
	{ "auto_bypass_failures", set_auto_bypass_failures, "3", 0 },
	/* filters */
	{ "list", set_list, NULL, 1 },
	{ "rules", set_rules, NULL, 1 },
	{ "snapshot", set_snapshot, NULL, 0 },
	{ "cosmetic", set_cosmetic, "remove", 0 },
	{ "cosmetic_site", set_cosmetic_site, NULL, 1 },
	{ "html_lookahead", set_html_lookahead, "256k", 0 },
	{ "recompress", set_recompress, "on", 0 },
	{ "annoyances", set_annoyances, "all", 0 },
	{ "builtin", set_builtin, "on", 0 },
	{ "consent_decline", set_consent_decline, "on", 0 },
	/* list maintenance */
	{ "state_dir", set_state_dir, NULL, 0 },
	{ "update_interval", set_update_interval, "1d", 0 },
	{ "list_max_size", set_list_max_size, "32m", 0 },
	{ "list_timeout", set_list_timeout, "60s", 0 },
};

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Splits v (modified in place) into words.  Returns the count. */
static int split_words(char *v, char **argv, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(v, " \t", &save); w && n < max; w = strtok_r(NULL, " \t", &save))
		argv[n++] = w;
	return n;
}

static int apply(struct config *cfg, const struct key *k, const char *value,
                 char *err, size_t errlen)
{
	char buf[4096], raw[4096];
	if (strlen(value) >= sizeof buf)
		return ERR("value too long");
	strcpy(buf, value);
	strcpy(raw, value);
	char *argv[256];
	int argc = split_words(buf, argv, 256);
	return k->set(cfg, argc, argv, raw, err, errlen);
}

char *config_default_state_dir(void)
{
	char buf[4096];
	const char *home = getenv("HOME");
	if (geteuid() == 0 || !home || !*home)
		snprintf(buf, sizeof buf, "/var/lib/quell");
	else
		snprintf(buf, sizeof buf, "%s/.local/state/quell", home);
	return strdup(buf);
}

const char *config_default_path(void)
{
	static char buf[4096];
	const char *home = getenv("HOME");
	if (geteuid() == 0 || !home || !*home)
		snprintf(buf, sizeof buf, "/etc/quell/quell.conf");
	else
		snprintf(buf, sizeof buf, "%s/.config/quell/quell.conf", home);
	return buf;
}

int config_defaults(struct config *cfg)
{
	char err[256];
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (keys[i].deflt && apply(cfg, &keys[i], keys[i].deflt, err, sizeof err) != 0) {
			fprintf(stderr, "quell: bad built-in default for %s: %s\n", keys[i].name, err);
			abort(); /* our invariant, not input */
		}
	}
	cfg->state_dir = config_default_state_dir();
	if (!cfg->state_dir)
		return -1;
	char buf[4200];
	snprintf(buf, sizeof buf, "%s/ca", cfg->state_dir);
	cfg->ca_dir = strdup(buf);
	return cfg->ca_dir ? 0 : -1;
}

/* Repeatable keys given in a file replace the defaults on first use. */
static void reset_repeatable(struct config *cfg, const char *name)
{
	if (strcmp(name, "listen") == 0)
		cfg->n_listen = 0;
	else if (strcmp(name, "allow") == 0)
		cfg->n_allow = 0;
}

int config_set(struct config *cfg, const char *key, const char *value,
               const char *src, int line, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	char why[512];
	if (!k) {
		snprintf(err, errlen, "%s:%d: unknown key '%s'", src, line, key);
		return -1;
	}
	if (apply(cfg, k, value, why, sizeof why) != 0) {
		snprintf(err, errlen, "%s:%d: %s: %s", src, line, key, why);
		return -1;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[4096];
	int lineno = 0, rc = 0;
	unsigned char seen[sizeof keys / sizeof keys[0]] = { 0 };
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = 0;
		if (!*s)
			continue;
		char *key = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = 0;
		while (isspace((unsigned char)*s))
			s++;
		const struct key *k = find_key(key);
		if (k) {
			size_t idx = (size_t)(k - keys);
			if (!seen[idx])
				reset_repeatable(cfg, key);
			else if (!k->repeat) {
				snprintf(err, errlen, "%s:%d: '%s' given twice", path, lineno, key);
				rc = -1;
				break;
			}
			seen[idx] = 1;
		}
		if (config_set(cfg, key, s, path, lineno, err, errlen) != 0) {
			rc = -1;
			break;
		}
	}
	fclose(f);
	if (rc == 0) {
		free(cfg->path);
		cfg->path = strdup(path);
	}
	return rc;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->error_log);
	free(cfg->access_log);
	free(cfg->allow);
	free(cfg->connect_ports);
	free(cfg->resolver);
	free(cfg->ca_dir);
	for (int i = 0; i < cfg->n_intercept_bypass; i++)
		free(cfg->intercept_bypass[i]);
	free(cfg->intercept_bypass);
	free(cfg->upstream_ca_file);
	for (int i = 0; i < cfg->n_lists; i++) {
		free(cfg->lists[i].source);
		free(cfg->lists[i].name);
	}
	free(cfg->lists);
	for (int i = 0; i < cfg->n_rules; i++)
		free(cfg->rules[i]);
	free(cfg->rules);
	free(cfg->snapshot);
	for (int i = 0; i < cfg->n_cosmetic_sites; i++)
		free(cfg->cosmetic_sites[i].domain);
	free(cfg->cosmetic_sites);
	free(cfg->state_dir);
	memset(cfg, 0, sizeof *cfg);
}
