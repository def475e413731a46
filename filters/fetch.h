/*
 * fetch: quell's own HTTP(S) client for downloading filter lists.
 *
 * One GET at a time per struct fetch, on an event_base the caller runs (the
 * updater's thread, or a private one in fetch_blocking() for the CLI).  It
 * sends conditional headers (If-None-Match / If-Modified-Since), follows up
 * to max_redirects redirects (a loop is detected and reported as such),
 * decodes gzip Content-Encoding, reads Content-Length, chunked and
 * close-delimited bodies, enforces a size limit on both the wire and the
 * decoded body and one deadline for the whole transfer, redirects included.
 * HTTPS certificates are verified against the system store plus an optional
 * extra CA file, and the host name (or IP address) is checked.
 *
 * Why not evhttp's client: its timeout is per read (a server dribbling one
 * byte a minute keeps it alive forever, where a list download needs one
 * deadline), its body limit counts wire bytes only (a gzip bomb passes), it
 * neither follows redirects nor decodes gzip, and its error callback cannot
 * tell a DNS failure from a certificate failure, which users need to see.
 */
#ifndef QUELL_FETCH_H
#define QUELL_FETCH_H

#include <stddef.h>

struct event_base;
struct fetch_client;
struct fetch;

enum fetch_outcome {
	FETCH_OK = 0,            /* 200: body holds the decoded content */
	FETCH_NOT_MODIFIED = 1,  /* 304 to the conditional request */
	FETCH_ERROR = 2,         /* see error */
};

struct fetch_opts {
	size_t max_size;              /* bytes, wire and decoded; 0: 32 MiB */
	long timeout_ms;              /* the whole fetch; 0: 60 s */
	int max_redirects;            /* 0: none followed; FETCH_DEFAULT_REDIRECTS */
	const char *if_none_match;    /* an ETag, or NULL */
	const char *if_modified_since;/* an HTTP date, or NULL */
};

#define FETCH_DEFAULT_REDIRECTS 5

struct fetch_result {
	int outcome;                  /* enum fetch_outcome */
	int http_status;              /* last status seen, 0 before any */
	char error[256];              /* FETCH_ERROR: one line for humans */
	char *body;                   /* FETCH_OK: malloc'd, NUL-terminated */
	size_t body_len;
	char *etag;                   /* response validators, or NULL */
	char *last_modified;
	char *url;                    /* the final URL (after redirects) */
	size_t wire_bytes;            /* body bytes received, before decoding */
	int redirects;
	long elapsed_ms;
};

/* Called once per fetch_start(), on the client's event_base.  The callee
 * owns res (fetch_result_free); the struct fetch is gone when it runs. */
typedef void (*fetch_done_fn)(struct fetch_result *res, void *arg);

/* A client: DNS resolver and TLS context, shared by the fetches it starts.
 * ca_file: extra trusted CAs (PEM) on top of the system store, or NULL; the
 * TLS context, and so ca_file, is loaded by the first HTTPS fetch, which
 * fails with the reason when it cannot be (an idle client costs no trust
 * store).
 * resolver: "ADDR[:PORT]" of a DNS server, or NULL for /etc/resolv.conf,
 * set up by the first name to resolve; names of /etc/hosts (the table
 * proxy/dns.h shares), localhost and IP literals need none.  Returns NULL
 * with a message in err (a malformed resolver address, no memory). */
struct fetch_client *fetch_client_new(struct event_base *base, const char *ca_file,
                                      const char *resolver, char *err, size_t errlen);
/* Frees the client; fetches still running are cancelled first.  NULL: no-op. */
void fetch_client_free(struct fetch_client *c);

/* Starts GET url ("http://..." or "https://...").  opts is copied.  Returns
 * the fetch, or NULL when it could not start (bad URL, no memory): then done
 * is not called and err says why. */
struct fetch *fetch_start(struct fetch_client *c, const char *url,
                          const struct fetch_opts *opts, fetch_done_fn done,
                          void *arg, char *err, size_t errlen);
/* Stops a running fetch without calling its callback.  NULL: no-op. */
void fetch_cancel(struct fetch *f);

/* Blocking convenience for the CLI: its own event_base and client, one
 * fetch.  Returns the result (never NULL except out of memory); the caller
 * frees it with fetch_result_free. */
struct fetch_result *fetch_blocking(const char *url, const struct fetch_opts *opts,
                                    const char *ca_file, const char *resolver);

void fetch_result_free(struct fetch_result *res);   /* NULL: no-op */

/* ref (absolute, "//host/..", "/path" or relative) resolved against the
 * absolute http(s) URL base.  malloc'd, or NULL (bad base, no memory). */
char *fetch_url_join(const char *base, const char *ref);

#endif
