/*
 * fetch: see fetch.h.  One struct fetch walks one URL through at most
 * max_redirects + 1 hops; each hop is one connection (Connection: close),
 * so there is no pooling to get wrong: list downloads are rare.
 *
 * The response head is parsed here rather than with proxy/http1: a client
 * fetching lists needs the status and six fields, and must tolerate what a
 * strict proxy parser rejects (the download only has to be a list).
 */
#include "filters/fetch.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "certs/tls.h"
#include "proxy/dns.h"

#define FETCH_CLIENT_MAGIC 0x46434c54u
#define FETCH_MAGIC 0x46455443u
#define FETCH_MAX_HEAD (64 * 1024)
#define FETCH_MAX_LINE 1024            /* a chunk-size or trailer line */
#define FETCH_DEFAULT_MAX (32u << 20)
#define FETCH_DEFAULT_TIMEOUT 60000
#define FETCH_MAX_HOPS 16              /* hard cap whatever opts say */

struct fetch_client {
	unsigned magic;
	struct event_base *base;
	struct evdns_base *dns;            /* made by the first name lookup (client_dns) */
	char *resolver;                    /* for it: "ADDR[:PORT]", or NULL: resolv.conf */
	SSL_CTX *ssl;                      /* built by the first HTTPS hop (client_tls) */
	char *ca_file;                     /* extra trusted CAs for it, or NULL */
	struct fetch *running;             /* list of running fetches */
};

struct url {
	int https;
	char host[256];                    /* without brackets */
	int port;
	char *path;                        /* path and query, malloc'd */
};

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };
enum state {
	ST_HEAD, ST_LENGTH, ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_CRLF,
	ST_TRAILER, ST_CLOSE, ST_DONE,
};

struct fetch {
	unsigned magic;
	struct fetch_client *c;
	struct fetch *next, *prev;
	fetch_done_fn done;
	void *arg;
	/* options, copied */
	size_t max_size;
	int max_redirects;
	char *inm, *ims;
	struct timespec started;
	struct event *timer;               /* the deadline */
	struct event *kick;                /* starts the first hop from the loop */
	char *first_url;
	int busy;                          /* inside a call that may report */
	int finished;                      /* result ready, delivery pending */
	/* the current hop */
	struct url u;
	char *visited[FETCH_MAX_HOPS];
	int n_visited;
	struct bufferevent *bev;
	SSL *ssl_conn;                     /* owned by bev */
	int state;
	uint64_t remaining;                /* ST_LENGTH / ST_CHUNK_DATA */
	int gzip;
	z_stream z;
	int z_live;
	int z_end;                         /* the last gzip member ended */
	struct evbuffer *body;             /* decoded */
	struct fetch_result *res;
};

/* ---- small helpers ------------------------------------------------------ */

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* 1 when s is printable ASCII without CR/LF (safe inside a header line). */
static int header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static char *dup_range(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* Parses an absolute http(s) URL.  Returns 0, or -1 with err set.
 * evhttp_uri_parse() would split it too, but resolving a relative Location
 * (url_join) and a canonical form for loop detection (url_text) are needed
 * anyway, and this is the few lines between them. */
static int url_parse(const char *s, struct url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	const char *p;
	if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
		u->port = 80;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		p = s + 8;
		u->https = 1;
		u->port = 443;
	} else {
		snprintf(err, errlen, "not an http or https URL: %.200s", s);
		return -1;
	}
	size_t alen = strcspn(p, "/?#");
	const char *auth = p, *aend = p + alen;
	const char *at = memchr(auth, '@', alen);
	if (at) {
		snprintf(err, errlen, "user names in URLs are not supported: %.200s", s);
		return -1;
	}
	const char *hend = aend, *port = NULL;
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', alen);
		if (!rb) {
			snprintf(err, errlen, "bad IPv6 address in URL: %.200s", s);
			return -1;
		}
		auth++;
		hend = rb;
		if (rb + 1 < aend && rb[1] == ':')
			port = rb + 2;
	} else {
		const char *colon = memchr(auth, ':', alen);
		if (colon) {
			hend = colon;
			port = colon + 1;
		}
	}
	size_t hl = (size_t)(hend - auth);
	if (hl == 0 || hl >= sizeof u->host) {
		snprintf(err, errlen, "bad host in URL: %.200s", s);
		return -1;
	}
	for (size_t i = 0; i < hl; i++)
		u->host[i] = (char)tolower((unsigned char)auth[i]);
	if (port) {
		char *end;
		long v = strtol(port, &end, 10);
		if (end == port || end != aend || v < 1 || v > 65535) {
			snprintf(err, errlen, "bad port in URL: %.200s", s);
			return -1;
		}
		u->port = (int)v;
	}
	const char *path = aend;
	size_t plen = strcspn(path, "#");
	if (plen == 0)
		u->path = strdup("/");
	else if (*path == '?') {
		u->path = malloc(plen + 2);
		if (u->path) {
			u->path[0] = '/';
			memcpy(u->path + 1, path, plen);
			u->path[plen + 1] = 0;
		}
	} else
		u->path = dup_range(path, plen);
	if (!u->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (const char *c = u->path; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
			snprintf(err, errlen, "URL has spaces or control characters: %.200s", s);
			free(u->path);
			u->path = NULL;
			return -1;
		}
	return 0;
}

/* The URL as text, host lower-cased, default port omitted.  malloc'd. */
static char *url_text(const struct url *u)
{
	char buf[8192];
	int v6 = strchr(u->host, ':') != NULL;
	int defport = u->port == (u->https ? 443 : 80);
	char port[16] = "";
	if (!defport)
		snprintf(port, sizeof port, ":%d", u->port);
	int n = snprintf(buf, sizeof buf, "%s://%s%s%s%s%s", u->https ? "https" : "http",
	                 v6 ? "[" : "", u->host, v6 ? "]" : "", port, u->path);
	if (n < 0 || (size_t)n >= sizeof buf)
		return NULL;
	return strdup(buf);
}

/* Resolves a Location value against the current URL.  malloc'd or NULL. */
static char *url_join(const struct url *base, const char *loc)
{
	char buf[8192];
	int n;
	if (strncasecmp(loc, "http://", 7) == 0 || strncasecmp(loc, "https://", 8) == 0)
		return strdup(loc);
	int v6 = strchr(base->host, ':') != NULL;
	char origin[300];
	snprintf(origin, sizeof origin, "%s://%s%s%s:%d", base->https ? "https" : "http",
	         v6 ? "[" : "", base->host, v6 ? "]" : "", base->port);
	if (loc[0] == '/' && loc[1] == '/')
		n = snprintf(buf, sizeof buf, "%s:%s", base->https ? "https" : "http", loc);
	else if (loc[0] == '/')
		n = snprintf(buf, sizeof buf, "%s%s", origin, loc);
	else {
		/* relative to the current path's directory (query dropped) */
		size_t qlen = strcspn(base->path, "?");
		const char *slash = base->path;
		for (size_t i = 0; i < qlen; i++)
			if (base->path[i] == '/')
				slash = base->path + i;
		n = snprintf(buf, sizeof buf, "%s%.*s/%s", origin, (int)(slash - base->path),
		             base->path, loc);
	}
	if (n < 0 || (size_t)n >= sizeof buf)
		return NULL;
	return strdup(buf);
}

/* ---- finishing ---------------------------------------------------------- */

static void hop_close(struct fetch *f)
{
	if (f->bev) {
		bufferevent_free(f->bev);    /* frees the SSL too (BEV_OPT_CLOSE_ON_FREE) */
		f->bev = NULL;
		f->ssl_conn = NULL;
	}
	if (f->z_live) {
		inflateEnd(&f->z);
		f->z_live = 0;
	}
	free(f->u.path);
	f->u.path = NULL;
}

static void fetch_destroy(struct fetch *f)
{
	hop_close(f);
	if (f->timer)
		event_free(f->timer);
	if (f->kick)
		event_free(f->kick);
	free(f->first_url);
	if (f->prev)
		f->prev->next = f->next;
	else if (f->c->running == f)
		f->c->running = f->next;
	if (f->next)
		f->next->prev = f->prev;
	for (int i = 0; i < f->n_visited; i++)
		free(f->visited[i]);
	evbuffer_free(f->body);
	free(f->inm);
	free(f->ims);
	fetch_result_free(f->res);
	f->magic = 0;
	free(f);
}

/* Hands the result to the callback and frees the fetch. */
static void deliver(struct fetch *f)
{
	struct fetch_result *r = f->res;
	f->res = NULL;
	fetch_done_fn done = f->done;
	void *arg = f->arg;
	fetch_destroy(f);
	done(r, arg);
}

/* Completes the result; delivers it now, or when the call that made f busy
 * returns (a callback may run inside libevent calls we make). */
static void finish(struct fetch *f, int outcome)
{
	if (f->finished)
		return;
	f->finished = 1;
	struct fetch_result *r = f->res;
	r->outcome = outcome;
	r->elapsed_ms = elapsed_ms(&f->started);
	if (outcome == FETCH_OK) {
		size_t n = evbuffer_get_length(f->body);
		r->body = malloc(n + 1);
		if (!r->body) {
			r->outcome = FETCH_ERROR;
			snprintf(r->error, sizeof r->error, "out of memory for a %zu-byte list", n);
		} else {
			evbuffer_remove(f->body, r->body, n);
			r->body[n] = 0;
			r->body_len = n;
		}
	}
	if (f->n_visited && !r->url)
		r->url = strdup(f->visited[f->n_visited - 1]);
	if (!f->busy)
		deliver(f);
}

static void fail(struct fetch *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct fetch *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->res->error, sizeof f->res->error, fmt, ap);
	va_end(ap);
	finish(f, FETCH_ERROR);
}

/* ---- body decoding -------------------------------------------------------- */

/* Adds n raw body bytes, decoding gzip.  Returns 0, or -1 after fail(). */
static int body_add(struct fetch *f, const char *data, size_t n)
{
	f->res->wire_bytes += n;
	if (f->res->wire_bytes > f->max_size) {
		fail(f, "larger than the %zu-byte limit (list_max_size)", f->max_size);
		return -1;
	}
	if (!f->gzip) {
		if (n && evbuffer_add(f->body, data, n) != 0) {
			fail(f, "out of memory");
			return -1;
		}
		return 0;
	}
	if (f->z_end && n > 0) {   /* another gzip member follows */
		if (inflateReset(&f->z) != Z_OK) {
			fail(f, "gzip: cannot restart");
			return -1;
		}
		f->z_end = 0;
	}
	f->z.next_in = (Bytef *)data;
	f->z.avail_in = (uInt)n;
	while (f->z.avail_in > 0) {
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(f->body, 16384, &v, 1) < 1) {
			fail(f, "out of memory");
			return -1;
		}
		f->z.next_out = v.iov_base;
		f->z.avail_out = (uInt)v.iov_len;
		int rc = inflate(&f->z, Z_NO_FLUSH);
		v.iov_len -= f->z.avail_out;
		evbuffer_commit_space(f->body, &v, 1);
		if (rc == Z_STREAM_END) {
			/* gzip allows several members back to back */
			f->z_end = 1;
			if (f->z.avail_in > 0) {
				if (inflateReset(&f->z) != Z_OK) {
					fail(f, "gzip: cannot restart");
					return -1;
				}
				f->z_end = 0;
			}
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			fail(f, "gzip: %s", f->z.msg ? f->z.msg : "corrupt data");
			return -1;
		}
		if (evbuffer_get_length(f->body) > f->max_size) {
			fail(f, "larger than the %zu-byte limit once decompressed (list_max_size)",
			     f->max_size);
			return -1;
		}
		if (rc == Z_BUF_ERROR && f->z.avail_out > 0)
			break;   /* no progress possible: needs more input */
	}
	return 0;
}

/* Moves up to want bytes (all with want == UINT64_MAX) from in to the body.
 * Returns bytes moved, or -1 after fail(). */
static int64_t body_take(struct fetch *f, struct evbuffer *in, uint64_t want)
{
	char buf[16384];
	int64_t total = 0;
	while (want > 0 && evbuffer_get_length(in) > 0) {
		size_t n = sizeof buf;
		if (n > want)
			n = (size_t)want;
		int got = evbuffer_remove(in, buf, n);
		if (got <= 0)
			break;
		if (body_add(f, buf, (size_t)got) < 0)
			return -1;
		total += got;
		want -= (uint64_t)got;
	}
	return total;
}

/* ---- response head ---------------------------------------------------------- */

struct head {
	int status;
	int64_t content_length;           /* -1: absent */
	int chunked;
	int gzip;
	char *location;
	char *etag;
	char *last_modified;
	char bad[128];                    /* why the head is unusable, or "" */
};

static void head_free(struct head *h)
{
	free(h->location);
	free(h->etag);
	free(h->last_modified);
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && (e[0][-1] == ' ' || e[0][-1] == '\t' || e[0][-1] == '\r'))
		(*e)--;
}

/* One "Name: value" line into h. */
static void head_field(struct head *h, const char *line, const char *end)
{
	const char *colon = memchr(line, ':', (size_t)(end - line));
	if (!colon)
		return;
	const char *v = colon + 1, *ve = end;
	trim(&v, &ve);
	size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(line, name, nl) == 0)
	if (IS("content-length")) {
		int64_t n = 0;
		if (vl == 0 || vl > 18)
			goto badlen;
		for (size_t i = 0; i < vl; i++) {
			if (!isdigit((unsigned char)v[i]))
				goto badlen;
			n = n * 10 + (v[i] - '0');
		}
		if (h->content_length >= 0 && h->content_length != n)
			goto badlen;
		h->content_length = n;
	} else if (IS("transfer-encoding")) {
		/* the last coding decides; anything but chunked means read to close */
		const char *last = v;
		for (const char *p = v; p < ve; p++)
			if (*p == ',')
				last = p + 1;
		const char *le = ve;
		trim(&last, &le);
		h->chunked = (size_t)(le - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
	} else if (IS("content-encoding")) {
		if ((vl == 4 && strncasecmp(v, "gzip", 4) == 0) || (vl == 6 && strncasecmp(v, "x-gzip", 6) == 0))
			h->gzip = 1;
		else if (!(vl == 8 && strncasecmp(v, "identity", 8) == 0) && vl > 0)
			snprintf(h->bad, sizeof h->bad, "unsupported Content-Encoding '%.*s'",
			         (int)(vl > 40 ? 40 : vl), v);
	} else if (IS("location")) {
		free(h->location);
		h->location = dup_range(v, vl);
	} else if (IS("etag")) {
		free(h->etag);
		h->etag = dup_range(v, vl);
	} else if (IS("last-modified")) {
		free(h->last_modified);
		h->last_modified = dup_range(v, vl);
	}
#undef IS
	return;
badlen:
	snprintf(h->bad, sizeof h->bad, "bad Content-Length");
}

/* Parses a complete head (text up to and including the blank line).
 * Returns 0, or -1 when the status line is not HTTP. */
static int head_parse(const char *text, size_t len, struct head *h)
{
	memset(h, 0, sizeof *h);
	h->content_length = -1;
	const char *end = text + len;
	const char *eol = memchr(text, '\n', len);
	if (!eol || len < 12 || strncmp(text, "HTTP/1.", 7) != 0 || text[8] != ' ')
		return -1;
	if (!isdigit((unsigned char)text[9]) || !isdigit((unsigned char)text[10]) ||
	    !isdigit((unsigned char)text[11]))
		return -1;
	h->status = (text[9] - '0') * 100 + (text[10] - '0') * 10 + (text[11] - '0');
	for (const char *line = eol + 1; line < end;) {
		const char *le = memchr(line, '\n', (size_t)(end - line));
		if (!le)
			le = end;
		if (le > line && !(le - line == 1 && *line == '\r'))
			head_field(h, line, le);
		line = le + 1;
	}
	return 0;
}

/* ---- hops ------------------------------------------------------------------ */

static int hop_start(struct fetch *f, const char *url);

static void redirect(struct fetch *f, const struct head *h)
{
	if (!h->location || !*h->location) {
		fail(f, "HTTP %d redirect without a Location", h->status);
		return;
	}
	char *next = url_join(&f->u, h->location);
	if (!next) {
		fail(f, "bad redirect Location");
		return;
	}
	struct url probe;
	char err[256];
	if (url_parse(next, &probe, err, sizeof err) < 0) {
		free(next);
		fail(f, "redirect to %s", err);
		return;
	}
	char *canon = url_text(&probe);
	free(probe.path);
	free(next);
	if (!canon) {
		fail(f, "out of memory");
		return;
	}
	for (int i = 0; i < f->n_visited; i++)
		if (strcmp(f->visited[i], canon) == 0) {
			fail(f, "redirect loop: %.200s was already visited", canon);
			free(canon);
			return;
		}
	if (f->res->redirects >= f->max_redirects) {
		fail(f, "more than %d redirects (last to %.200s)", f->max_redirects, canon);
		free(canon);
		return;
	}
	f->res->redirects++;
	hop_close(f);
	f->state = ST_HEAD;
	hop_start(f, canon);   /* reports its own failure */
	free(canon);
}

/* Ends the body: checks a gzip stream is complete. */
static void body_end(struct fetch *f)
{
	if (f->gzip && !f->z_end) {
		fail(f, "gzip: the compressed body is truncated");
		return;
	}
	finish(f, FETCH_OK);
}

/* The head is complete: decides what the rest of the response means.
 * Returns 0 when a body follows on this connection, 1 when f finished or
 * moved on to another hop (the current bufferevent is gone then). */
static int on_head(struct fetch *f, struct head *h)
{
	f->res->http_status = h->status;
	if (h->status >= 300 && h->status < 400 && h->status != 304) {
		if (h->status == 301 || h->status == 302 || h->status == 303 ||
		    h->status == 307 || h->status == 308)
			redirect(f, h);
		else
			fail(f, "HTTP %d", h->status);
		return 1;
	}
	if (h->status == 304) {
		f->res->etag = h->etag;
		f->res->last_modified = h->last_modified;
		h->etag = h->last_modified = NULL;
		finish(f, FETCH_NOT_MODIFIED);
		return 1;
	}
	if (h->status != 200) {
		fail(f, "HTTP %d from %.200s", h->status, f->visited[f->n_visited - 1]);
		return 1;
	}
	if (h->bad[0]) {
		fail(f, "%s", h->bad);
		return 1;
	}
	if (h->content_length >= 0 && !h->chunked && (uint64_t)h->content_length > f->max_size) {
		fail(f, "larger than the %zu-byte limit (list_max_size): Content-Length %lld",
		     f->max_size, (long long)h->content_length);
		return 1;
	}
	f->res->etag = h->etag;
	f->res->last_modified = h->last_modified;
	h->etag = h->last_modified = NULL;
	if (h->gzip) {
		memset(&f->z, 0, sizeof f->z);
		if (inflateInit2(&f->z, 15 + 32) != Z_OK) {   /* +32: gzip or zlib header */
			fail(f, "out of memory");
			return 1;
		}
		f->z_live = 1;
		f->gzip = 1;
	}
	if (h->chunked)
		f->state = ST_CHUNK_SIZE;
	else if (h->content_length >= 0) {
		f->state = ST_LENGTH;
		f->remaining = (uint64_t)h->content_length;
		if (f->remaining == 0) {
			body_end(f);
			return 1;
		}
	} else
		f->state = ST_CLOSE;
	return 0;
}

/* Runs the body state machine over what is buffered.  Returns 1 when the
 * fetch finished (f is gone), 0 when more input is needed. */
static int body_run(struct fetch *f, struct evbuffer *in)
{
	for (;;) {
		switch (f->state) {
		case ST_LENGTH: {
			int64_t got = body_take(f, in, f->remaining);
			if (got < 0)
				return 1;
			f->remaining -= (uint64_t)got;
			if (f->remaining == 0) {
				body_end(f);
				return 1;
			}
			return 0;
		}
		case ST_CLOSE:
			return body_take(f, in, UINT64_MAX) < 0;
		case ST_CHUNK_SIZE:
		case ST_TRAILER: {
			size_t n;
			char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
			if (!line) {
				if (evbuffer_get_length(in) > FETCH_MAX_LINE) {
					fail(f, "chunked body: line too long");
					return 1;
				}
				return 0;
			}
			if (f->state == ST_TRAILER) {
				free(line);
				if (n == 0) {
					body_end(f);
					return 1;
				}
				continue;
			}
			char *end;
			errno = 0;
			unsigned long long size = strtoull(line, &end, 16);
			int ok = end != line && !errno && (*end == 0 || *end == ';' || *end == ' ' || *end == '\t');
			free(line);
			if (!ok) {
				fail(f, "chunked body: bad chunk size");
				return 1;
			}
			if (size > f->max_size) {
				fail(f, "larger than the %zu-byte limit (list_max_size)", f->max_size);
				return 1;
			}
			f->remaining = size;
			f->state = size ? ST_CHUNK_DATA : ST_TRAILER;
			continue;
		}
		case ST_CHUNK_DATA: {
			int64_t got = body_take(f, in, f->remaining);
			if (got < 0)
				return 1;
			f->remaining -= (uint64_t)got;
			if (f->remaining)
				return 0;
			f->state = ST_CHUNK_CRLF;
			continue;
		}
		case ST_CHUNK_CRLF: {
			if (evbuffer_get_length(in) < 2)
				return 0;
			char crlf[2];
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n') {
				fail(f, "chunked body: missing CRLF after a chunk");
				return 1;
			}
			f->state = ST_CHUNK_SIZE;
			continue;
		}
		default:
			return 0;
		}
	}
}

/* Reads and parses the head.  Returns 0 when the body may follow, 1 when
 * f finished or moved to another hop, 2 when more input is needed. */
static int read_head(struct fetch *f, struct evbuffer *in)
{
	for (;;) {
		struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		size_t len;
		if (p.pos >= 0)
			len = (size_t)p.pos + 4;
		else {
			p = evbuffer_search(in, "\n\n", 2, NULL);   /* bare-LF heads */
			if (p.pos < 0) {
				if (evbuffer_get_length(in) > FETCH_MAX_HEAD) {
					fail(f, "response head larger than %d bytes", FETCH_MAX_HEAD);
					return 1;
				}
				return 2;
			}
			len = (size_t)p.pos + 2;
		}
		if (len > FETCH_MAX_HEAD) {
			fail(f, "response head larger than %d bytes", FETCH_MAX_HEAD);
			return 1;
		}
		char *text = malloc(len + 1);
		if (!text) {
			fail(f, "out of memory");
			return 1;
		}
		evbuffer_remove(in, text, len);
		text[len] = 0;
		struct head h;
		int rc = head_parse(text, len, &h);
		free(text);
		if (rc < 0) {
			head_free(&h);
			fail(f, "not an HTTP response");
			return 1;
		}
		if (h.status >= 100 && h.status < 200) {   /* interim: the real head follows */
			head_free(&h);
			continue;
		}
		rc = on_head(f, &h);
		head_free(&h);
		return rc;
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct fetch *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	if (f->state == ST_HEAD && read_head(f, in) != 0)
		return;
	body_run(f, in);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct fetch *f = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		/* what is still buffered belongs to us before the close counts */
		struct evbuffer *in = bufferevent_get_input(bev);
		if (evbuffer_get_length(in) > 0) {
			if (f->state == ST_HEAD) {
				int rc = read_head(f, in);
				if (rc == 1)
					return;            /* finished or moved on */
			}
			if (f->state != ST_HEAD && body_run(f, in))
				return;
		}
		if (f->state == ST_CLOSE)
			body_end(f);
		else if (f->state == ST_HEAD)
			fail(f, "connection closed before a response from %.200s",
			     f->visited[f->n_visited - 1]);
		else
			fail(f, "connection closed in the middle of the body (%zu bytes received)",
			     f->res->wire_bytes);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		char why[sizeof f->res->error] = "";
		int dnserr = bufferevent_socket_get_dns_error(bev);
		unsigned long sslerr = 0;
		if (dnserr)
			snprintf(why, sizeof why, "cannot resolve %.100s: %s", f->u.host,
			         evutil_gai_strerror(dnserr));
		else if (f->ssl_conn && SSL_get_verify_result(f->ssl_conn) != X509_V_OK)
			snprintf(why, sizeof why, "certificate of %.100s not trusted: %s", f->u.host,
			         X509_verify_cert_error_string(SSL_get_verify_result(f->ssl_conn)));
		else if (f->ssl_conn && (sslerr = bufferevent_get_openssl_error(bev)) != 0) {
			char e[160];
			ERR_error_string_n(sslerr, e, sizeof e);
			snprintf(why, sizeof why, "TLS with %.60s failed: %.150s", f->u.host, e);
		} else {
			int e = EVUTIL_SOCKET_ERROR();
			snprintf(why, sizeof why, "cannot connect to %.100s port %d: %s", f->u.host,
			         f->u.port, e ? evutil_socket_error_to_string(e) : "connection failed");
		}
		while (ERR_get_error())   /* leave the thread's queue clean */
			;
		fail(f, "%s", why);
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;
	(void)fd;
	(void)what;
	hop_start(f, f->first_url);   /* reports its own failure */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;
	(void)fd;
	(void)what;
	fail(f, "timed out after %ld ms", elapsed_ms(&f->started));
}

/* The client's TLS context, built by the first HTTPS hop: the updater
 * holds a client for the process's life, and with no list on HTTPS (or
 * `list none`) an idle proxy never pays for a trust store, nor for
 * OpenSSL's initialisation when nothing else needs it.  The system store is
 * the hashed directory, read per issuer (tls_load_system_trust).  Returns
 * the context, or NULL with the reason in err (the next hop tries again). */
static SSL_CTX *client_tls(struct fetch_client *c, char *err, size_t errlen)
{
	if (c->ssl)
		return c->ssl;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		snprintf(err, errlen, "TLS: cannot create a context");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!tls_load_system_trust(ctx)) {
		snprintf(err, errlen, "TLS: cannot load the system certificate store");
		goto fail;
	}
	if (c->ca_file && SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1) {
		char why[160];
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof why);
		snprintf(err, errlen, "upstream_ca_file %s: %s", c->ca_file, why);
		goto fail;
	}
	ERR_clear_error();
	return c->ssl = ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* The client's resolver, made by the first name that needs a query.  It is
 * never given the hosts file (evdns would keep its own copy, ~150 bytes a
 * name, for the process's life): names are first looked up in the table
 * proxy/dns shares (connect_to).  Returns it, or NULL (out of memory). */
static struct evdns_base *client_dns(struct fetch_client *c)
{
	if (c->dns)
		return c->dns;
	struct evdns_base *d = evdns_base_new(c->base, 0);
	if (!d)
		return NULL;
	if (c->resolver && evdns_base_nameserver_ip_add(d, c->resolver) != 0) {
		evdns_base_free(d, 0);   /* checked by fetch_client_new: out of memory */
		return NULL;
	}
	if (!c->resolver)   /* failures fall back to 127.0.0.1, as evdns_base_new's do */
		evdns_base_resolv_conf_parse(d, DNS_OPTION_NAMESERVERS | DNS_OPTION_SEARCH |
		                             DNS_OPTION_MISC, "/etc/resolv.conf");
	return c->dns = d;
}

/* Starts connecting f->bev to the current hop's host: an IP literal,
 * localhost or a name of /etc/hosts directly, any other name through the
 * resolver.  Returns 0, or -1 when it could not start (the event callback
 * may have run already, with an error). */
static int connect_to(struct fetch *f)
{
	struct sockaddr_storage sa;
	struct dns_hosts *h = dns_hosts_system();
	int n = dns_hosts_lookup(h, f->u.host, f->u.port, &sa, 1);
	dns_hosts_release(h);
	if (n > 0)
		return bufferevent_socket_connect(f->bev, (struct sockaddr *)&sa,
		                                  sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                                           : sizeof(struct sockaddr_in));
	struct evdns_base *dns = client_dns(f->c);
	if (!dns)
		return -1;
	return bufferevent_socket_connect_hostname(f->bev, dns, AF_UNSPEC, f->u.host, f->u.port);
}

/* Connects to url and sends the request.  Returns 0, or -1 after fail(). */
static int hop_start(struct fetch *f, const char *url)
{
	char err[256];
	if (url_parse(url, &f->u, err, sizeof err) < 0) {
		fail(f, "%s", err);
		return -1;
	}
	char *canon = url_text(&f->u);
	if (!canon || f->n_visited >= FETCH_MAX_HOPS) {
		free(canon);
		fail(f, "out of memory");
		return -1;
	}
	f->visited[f->n_visited++] = canon;
	f->state = ST_HEAD;
	f->gzip = 0;
	evbuffer_drain(f->body, evbuffer_get_length(f->body));
	f->res->wire_bytes = 0;
	struct event_base *base = f->c->base;
	if (f->u.https) {
		SSL_CTX *ctx = client_tls(f->c, err, sizeof err);
		if (!ctx) {
			fail(f, "%s", err);
			return -1;
		}
		SSL *ssl = SSL_new(ctx);
		if (!ssl) {
			fail(f, "TLS: out of memory");
			return -1;
		}
		unsigned char ip[16];
		int is_ip = inet_pton(AF_INET, f->u.host, ip) == 1 || inet_pton(AF_INET6, f->u.host, ip) == 1;
		int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), f->u.host)
		               : (SSL_set_tlsext_host_name(ssl, f->u.host) && SSL_set1_host(ssl, f->u.host));
		if (!ok) {
			SSL_free(ssl);
			fail(f, "TLS: cannot set the host name to verify");
			return -1;
		}
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
		f->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
		if (!f->bev) {
			SSL_free(ssl);
			fail(f, "out of memory");
			return -1;
		}
		f->ssl_conn = ssl;
		/* Servers often close without close_notify; the framing tells us
		 * whether the body is complete. */
		bufferevent_openssl_set_allow_dirty_shutdown(f->bev, 1);
	} else {
		f->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!f->bev) {
			fail(f, "out of memory");
			return -1;
		}
	}
	bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
	int v6 = strchr(f->u.host, ':') != NULL;
	int defport = f->u.port == (f->u.https ? 443 : 80);
	struct evbuffer *out = bufferevent_get_output(f->bev);
	evbuffer_add_printf(out, "GET %s HTTP/1.1\r\nHost: %s%s%s", f->u.path, v6 ? "[" : "",
	                    f->u.host, v6 ? "]" : "");
	if (!defport)
		evbuffer_add_printf(out, ":%d", f->u.port);
	evbuffer_add_printf(out, "\r\nUser-Agent: quell-list-updater\r\nAccept: */*\r\n"
	                    "Accept-Encoding: gzip\r\nConnection: close\r\n");
	if (f->inm)
		evbuffer_add_printf(out, "If-None-Match: %s\r\n", f->inm);
	if (f->ims)
		evbuffer_add_printf(out, "If-Modified-Since: %s\r\n", f->ims);
	if (evbuffer_add(out, "\r\n", 2) != 0) {
		fail(f, "out of memory");
		return -1;
	}
	bufferevent_enable(f->bev, EV_READ | EV_WRITE);
	/* The resolver may call on_event before this returns (a failed lookup
	 * of a literal): busy defers the delivery until we are out. */
	f->busy++;
	int rc = connect_to(f);
	f->busy--;
	if (f->finished) {
		deliver(f);
		return -1;
	}
	if (rc != 0) {
		fail(f, "cannot connect to %s port %d", f->u.host, f->u.port);
		return -1;
	}
	return 0;
}

/* ---- public API ------------------------------------------------------------- */

struct fetch_client *fetch_client_new(struct event_base *base, const char *ca_file,
                                      const char *resolver, char *err, size_t errlen)
{
	struct fetch_client *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->magic = FETCH_CLIENT_MAGIC;
	c->base = base;
	/* the TLS context comes with the first HTTPS hop (client_tls) */
	if (ca_file && !(c->ca_file = strdup(ca_file))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* the resolver comes with the first name to look up (client_dns); its
	 * address is checked now, with the parser evdns uses */
	struct sockaddr_storage ss;
	int sslen = (int)sizeof ss;
	if (resolver && evutil_parse_sockaddr_port(resolver, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "bad resolver address '%s'", resolver);
		goto fail;
	}
	if (resolver && !(c->resolver = strdup(resolver))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return c;
fail:
	fetch_client_free(c);
	return NULL;
}

void fetch_client_free(struct fetch_client *c)
{
	if (!c)
		return;
	if (c->magic != FETCH_CLIENT_MAGIC)
		abort();
	while (c->running)
		fetch_destroy(c->running);
	/* fail_requests = 1: a lookup still pending holds a reference to its
	 * bufferevent, dropped only when its callback runs */
	if (c->dns)
		evdns_base_free(c->dns, 1);
	SSL_CTX_free(c->ssl);
	free(c->ca_file);
	free(c->resolver);
	c->magic = 0;
	free(c);
}

struct fetch *fetch_start(struct fetch_client *c, const char *url,
                          const struct fetch_opts *opts, fetch_done_fn done,
                          void *arg, char *err, size_t errlen)
{
	if (c->magic != FETCH_CLIENT_MAGIC)
		abort();
	struct url probe;
	if (url_parse(url, &probe, err, errlen) < 0)
		return NULL;
	free(probe.path);
	if ((opts->if_none_match && !header_safe(opts->if_none_match)) ||
	    (opts->if_modified_since && !header_safe(opts->if_modified_since))) {
		snprintf(err, errlen, "validator with control characters");
		return NULL;
	}
	struct fetch *f = calloc(1, sizeof *f);
	if (!f)
		goto oom;
	f->magic = FETCH_MAGIC;
	f->c = c;
	f->done = done;
	f->arg = arg;
	f->max_size = opts->max_size ? opts->max_size : FETCH_DEFAULT_MAX;
	f->max_redirects = opts->max_redirects < 0 ? 0 : opts->max_redirects;
	if (f->max_redirects > FETCH_MAX_HOPS - 1)
		f->max_redirects = FETCH_MAX_HOPS - 1;
	clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->res = calloc(1, sizeof *f->res);
	f->body = evbuffer_new();
	f->timer = evtimer_new(c->base, on_timeout, f);
	f->kick = evtimer_new(c->base, on_kick, f);
	f->first_url = strdup(url);
	f->inm = opts->if_none_match && *opts->if_none_match ? strdup(opts->if_none_match) : NULL;
	f->ims = opts->if_modified_since && *opts->if_modified_since ? strdup(opts->if_modified_since) : NULL;
	if (!f->res || !f->body || !f->timer || !f->kick || !f->first_url ||
	    (opts->if_none_match && *opts->if_none_match && !f->inm) ||
	    (opts->if_modified_since && *opts->if_modified_since && !f->ims)) {
		f->next = NULL;
		fetch_destroy(f);
		goto oom;
	}
	long ms = opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_DEFAULT_TIMEOUT;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(f->timer, &tv);
	f->next = c->running;
	if (c->running)
		c->running->prev = f;
	c->running = f;
	/* The first hop starts from the loop, so done never runs inside
	 * fetch_start and the pointer returned is valid until done runs. */
	struct timeval zero = { 0, 0 };
	evtimer_add(f->kick, &zero);
	return f;
oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void fetch_cancel(struct fetch *f)
{
	if (!f)
		return;
	if (f->magic != FETCH_MAGIC)
		abort();
	fetch_destroy(f);
}

char *fetch_url_join(const char *base, const char *ref)
{
	struct url u;
	char err[256];
	if (url_parse(base, &u, err, sizeof err) < 0)
		return NULL;
	char *joined = url_join(&u, ref);
	free(u.path);
	return joined;
}

void fetch_result_free(struct fetch_result *res)
{
	if (!res)
		return;
	free(res->body);
	free(res->etag);
	free(res->last_modified);
	free(res->url);
	free(res);
}

struct blocking {
	struct fetch_result *res;
	struct event_base *base;
};

static void blocking_done(struct fetch_result *res, void *arg)
{
	struct blocking *b = arg;
	b->res = res;
	event_base_loopexit(b->base, NULL);
}

struct fetch_result *fetch_blocking(const char *url, const struct fetch_opts *opts,
                                    const char *ca_file, const char *resolver)
{
	struct blocking b = { 0 };
	char err[256] = "";
	struct fetch_client *c = NULL;
	b.base = event_base_new();
	if (b.base)
		c = fetch_client_new(b.base, ca_file, resolver, err, sizeof err);
	else
		snprintf(err, sizeof err, "cannot create an event loop");
	if (c && fetch_start(c, url, opts, blocking_done, &b, err, sizeof err))
		event_base_dispatch(b.base);
	if (c && !b.res && !err[0])
		snprintf(err, sizeof err, "event loop ended early");
	/* Cancelled lookups report through deferred callbacks: let them run so
	 * what they hold is freed. */
	if (b.base)
		event_base_loop(b.base, EVLOOP_NONBLOCK);
	fetch_client_free(c);
	if (b.base) {
		event_base_loop(b.base, EVLOOP_NONBLOCK);
		event_base_free(b.base);
	}
	if (b.res)
		return b.res;
	struct fetch_result *r = calloc(1, sizeof *r);
	if (r) {
		r->outcome = FETCH_ERROR;
		snprintf(r->error, sizeof r->error, "%s", err);
	}
	return r;
}
