/*
 * config: quell's configuration file and its defaults.
 *
 * The file is "key value..." lines with '#' comments.  Every key of every
 * module is declared in config.c's table with its default, so an unknown key
 * or a bad value is reported as FILE:LINE and nothing half-configured runs.
 *
 * struct config is deliberately a plain, public, read-only record: it is
 * built once, then shared read-only by every worker (a reload builds a new
 * one), and dozens of modules read a field or two; accessors would add
 * nothing but noise.
 */
#ifndef QUELL_CONFIG_H
#define QUELL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_MAX_LISTEN 16

struct config_addr {            /* a listen address */
	char text[80];              /* as written, e.g. "127.0.0.1:8228" */
	struct sockaddr_storage ss;
	socklen_t len;
};

struct config_cidr {            /* an allow line */
	int family;                 /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

struct config_list {            /* a list line: local path or URL */
	char *source;
	char *name;                 /* name=, or NULL */
	long every_s;               /* every=, or 0 (use the list's Expires) */
	int is_url;
};

struct config_site_mode {       /* cosmetic_site DOMAIN remove|hide */
	char *domain;
	int mode;
};

enum { COSMETIC_REMOVE = 0, COSMETIC_HIDE = 1 };

/* annoyances categories, a bit each */
enum {
	ANNOY_AD_LABELS = 1 << 0,
	ANNOY_DONATION = 1 << 1,
	ANNOY_NEWSLETTER = 1 << 2,
	ANNOY_CONSENT = 1 << 3,
	ANNOY_ALL = 0xf,
};

struct config {
	char *path;                 /* file read, or NULL for defaults only */

	/* proxy core */
	struct config_addr listen[CONFIG_MAX_LISTEN];
	int n_listen;
	int workers;                /* 0: one per core */
	int log_level;
	char *error_log;            /* "stderr", "off" or a path */
	char *access_log;
	struct config_cidr *allow;
	int n_allow;
	int *connect_ports;
	int n_connect_ports;
	char *resolver;             /* "ADDR[:PORT]" or NULL for /etc/resolv.conf */
	int via;
	int x_forwarded_for;
	int max_connections;        /* per process */
	long header_timeout_ms;     /* client request head (slowloris) */
	long keepalive_timeout_ms;  /* idle client connection between requests */
	long connect_timeout_ms;    /* upstream TCP (+TLS) connect */
	long first_byte_timeout_ms; /* upstream response head */
	long io_timeout_ms;         /* no progress during a body transfer */
	long upstream_idle_timeout_ms; /* pooled upstream connection */
	int upstream_pool_size;     /* idle connections per worker and host:port */
	long shutdown_grace_ms;
	size_t max_request_head;    /* 431 beyond */
	int max_headers;
	size_t conn_buffer;         /* bytes buffered per direction per connection */
	int dns_cache_size;

	/* certs / interception */
	char *ca_dir;
	int intercept;
	char **intercept_bypass;    /* host suffixes */
	int n_intercept_bypass;
	char *upstream_ca_file;
	int cert_cache_size;
	int auto_bypass_failures;   /* handshake failures before a host is tunnelled */

	/* filters */
	struct config_list *lists;
	int n_lists;
	int lists_none;             /* "list none": no subscriptions at all */
	char **rules;               /* the user's own rule files */
	int n_rules;
	char *snapshot;             /* compiled snapshot to load at start-up */
	int cosmetic;               /* COSMETIC_REMOVE or COSMETIC_HIDE */
	struct config_site_mode *cosmetic_sites;
	int n_cosmetic_sites;
	size_t html_lookahead;
	int recompress;
	unsigned annoyances;        /* ANNOY_* bits */
	int builtin;                /* built-in rules on */
	int consent_decline;        /* send a consent manager's "declined" cookie (filters/consent.h) */

	/* list maintenance */
	char *state_dir;
	long update_interval_s;
	size_t list_max_size;
	long list_timeout_ms;
};

/* Fills *cfg with every default.  Returns 0 or -1 (out of memory). */
int config_defaults(struct config *cfg);

/* Reads FILE over the defaults.  Returns 0, or -1 with a message
 * "FILE:LINE: why" in err (size errlen).  cfg holds defaults on failure. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Applies one "key value..." setting as if read at src:line (used for
 * command-line overrides).  Same return convention as config_load. */
int config_set(struct config *cfg, const char *key, const char *value,
               const char *src, int line, char *err, size_t errlen);

/* Frees everything config_defaults/config_load allocated.  NULL is a no-op. */
void config_free(struct config *cfg);

/* The config file quell uses when none is given: ~/.config/quell/quell.conf,
 * /etc/quell/quell.conf for root.  Returns a static string. */
const char *config_default_path(void);

/* Default directories: ~/.local/state/quell (/var/lib/quell for root) and
 * its "ca" subdirectory.  Return malloc'd strings. */
char *config_default_state_dir(void);

/* Parses "10s", "250ms", "5m", "2h", "3d" (a bare number is seconds) into
 * milliseconds.  Returns 0 or -1. */
int config_parse_duration_ms(const char *s, long *ms);
/* Parses "64k", "1m", "2g", "512" (bytes; KiB/MiB suffixes accepted).  0/-1. */
int config_parse_size(const char *s, size_t *out);
/* Parses "ADDR:PORT", "[V6]:PORT" or ":PORT" into a sockaddr.  0/-1. */
int config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/* Parses "A.B.C.D[/N]" or "V6[/N]".  0/-1. */
int config_parse_cidr(const char *s, struct config_cidr *out);
/* 1 when the address matches the CIDR (IPv4-mapped IPv6 matches IPv4). */
int config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa);

#endif
