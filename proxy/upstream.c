/*
 * upstream: origin connections with DNS, next-address fallback and a
 * bounded per-worker idle pool (see upstream.h).
 *
 * The pool is a doubly linked list of idle connections, newest first, owned
 * by one worker thread.  Look-ups walk it comparing "host:port" keys: it
 * holds at most POOL_MAX_IDLE entries, so the walk stays short and needs no
 * hash table.  An idle connection keeps a read callback armed: any byte or
 * close from the origin, or the idle timeout, frees it.  A parked
 * connection is idle the same way but outside the list, held by the client
 * connection that will use it next.
 */
#include "proxy/upstream.h"
#include "certs/tls.h"
#include "proxy/acl.h"
#include "proxy/config.h"
#include "proxy/dns.h"
#include "proxy/log.h"
#include "proxy/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAGIC 0x55504f4cu      /* "UPOL" */
#define UPSTREAM_MAX_ADDRS 16
#define POOL_MAX_IDLE 1024          /* over all host:port keys of a worker */
#define KEY_MAX 290

struct upstream {
	struct upstream_pool *pool;
	struct bufferevent *bev;
	struct upstream *prev, *next;   /* idle list */
	char key[KEY_MAX];              /* "host:port" */
	char peer[64];
	int reused;
	int pool_size;                  /* from the config at open time */
	long idle_ms;
};

struct upstream_pool {
	unsigned magic;
	struct event_base *base;
	struct dns *dns;
	struct stats *stats;
	struct upstream *idle;          /* newest first */
	int n_idle;
};

struct upstream_req {
	struct upstream_pool *pool;
	upstream_cb cb;
	void *arg;
	const struct config *cfg;
	struct tls *tls;
	char host[256];
	int port;
	char key[KEY_MAX];
	struct event *ev;               /* runs step() from the loop */
	struct dns_req *dns;
	struct upstream *hit;           /* from the pool */
	int naddr, next;
	int n_self;                     /* addresses skipped as quell's own */
	struct bufferevent *bev;        /* the attempt in progress */
	int status;                     /* failure to report (0: none yet) */
	/* The large members come last and are not zeroed at creation (2.7 KB
	 * of memset per request that a pooled connection never reads): addr
	 * is read below naddr only, why as a string. */
	struct sockaddr_storage addr[UPSTREAM_MAX_ADDRS];
	char why[720];
};

struct upstream_pool *upstream_pool_new(struct event_base *base, struct dns *dns,
                                        struct stats *stats)
{
	struct upstream_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	*p = (struct upstream_pool){ POOL_MAGIC, base, dns, stats, NULL, 0 };
	return p;
}

static void idle_unlink(struct upstream *u)
{
	struct upstream_pool *p = u->pool;
	if (u->prev)
		u->prev->next = u->next;
	else
		p->idle = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	p->n_idle--;
}

static void upstream_close(struct upstream *u)
{
	if (u->bev)                     /* NULL: a parked one its origin closed */
		bufferevent_free(u->bev);
	free(u);
}

/* Appends s[0..n) to out[*at..KEY_MAX - 1), truncating like snprintf. */
static void key_put(char *out, size_t *at, const char *s, size_t n)
{
	if (n > KEY_MAX - 1 - *at)
		n = KEY_MAX - 1 - *at;
	memcpy(out + *at, s, n);
	*at += n;
}

/* The pool key of an origin: "host:port", "https://host:port" over TLS.
 * Built by hand: it is made for every request, and snprintf was a
 * noticeable part of a pooled request's cost. */
static void make_key(char *out, const char *host, int port, const struct tls *tls)
{
	char num[16], *d = num + sizeof num;
	unsigned v = port < 0 ? 0u - (unsigned)port : (unsigned)port;
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10));
	if (port < 0)
		*--d = '-';
	size_t at = 0;
	if (tls)
		key_put(out, &at, "https://", 8);
	key_put(out, &at, host, strlen(host));
	key_put(out, &at, ":", 1);
	key_put(out, &at, d, (size_t)(num + sizeof num - d));
	out[at] = 0;
}

void upstream_pool_flush(struct upstream_pool *p)
{
	while (p && p->idle) {
		struct upstream *u = p->idle;
		idle_unlink(u);
		upstream_close(u);
	}
}

void upstream_pool_free(struct upstream_pool *p)
{
	if (!p)
		return;
	upstream_pool_flush(p);
	p->magic = 0;
	free(p);
}

struct bufferevent *upstream_bev(struct upstream *u) { return u->bev; }
int upstream_reused(const struct upstream *u) { return u->reused; }
const char *upstream_peer(const struct upstream *u) { return u->peer; }

struct bufferevent *upstream_detach(struct upstream *u)
{
	struct bufferevent *bev = u->bev;
	free(u);
	return bev;
}

/* ---- the idle pool ---------------------------------------------------------- */

/* An idle connection heard from its origin (data, close, error, timeout):
 * whatever it is, the connection is no longer reusable. */
static void idle_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream *u = arg;
	idle_unlink(u);
	upstream_close(u);
}

static void idle_read(struct bufferevent *bev, void *arg)
{
	idle_event(bev, BEV_EVENT_READING, arg);
}

static int count_key(struct upstream_pool *p, const char *key, struct upstream **oldest)
{
	int n = 0;
	for (struct upstream *u = p->idle; u; u = u->next)
		if (strcmp(u->key, key) == 0) {
			n++;
			*oldest = u;
		}
	return n;
}

/* Watches an idle connection: a byte, a close or an error from the origin
 * runs read_cb or event_cb, and so does upstream_idle_timeout passing. */
static void watch_idle(struct upstream *u, bufferevent_data_cb read_cb,
                       bufferevent_event_cb event_cb)
{
	struct timeval tv = { u->idle_ms / 1000, (u->idle_ms % 1000) * 1000 };
	bufferevent_setwatermark(u->bev, EV_READ | EV_WRITE, 0, 0);
	bufferevent_setcb(u->bev, read_cb, NULL, event_cb, u);
	bufferevent_set_timeouts(u->bev, &tv, NULL);
	bufferevent_enable(u->bev, EV_READ);
}

/* Hands out an idle connection: no callbacks, no timeouts, reused.
 * Reading stays enabled (no epoll change): the new owner sets its
 * callbacks in the same loop iteration. */
static void make_ready(struct upstream *u)
{
	bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(u->bev, NULL, NULL);
	u->reused = 1;
}

void upstream_release(struct upstream *u, int reusable)
{
	struct upstream_pool *p = u->pool;
	struct upstream *oldest = NULL;
	if (!reusable || !u->bev || u->pool_size <= 0 ||
	    evbuffer_get_length(bufferevent_get_input(u->bev))) {
		upstream_close(u);
		return;
	}
	if (count_key(p, u->key, &oldest) >= u->pool_size || p->n_idle >= POOL_MAX_IDLE) {
		struct upstream *victim = oldest;
		if (!victim)                            /* pool full of other keys: drop the oldest */
			for (victim = p->idle; victim->next; victim = victim->next)
				;
		idle_unlink(victim);
		upstream_close(victim);
	}
	watch_idle(u, idle_read, idle_event);
	u->next = p->idle;
	if (p->idle)
		p->idle->prev = u;
	p->idle = u;
	p->n_idle++;
}

/* Takes the newest idle connection for key, or NULL. */
static struct upstream *pool_take(struct upstream_pool *p, const char *key)
{
	for (struct upstream *u = p->idle; u; u = u->next) {
		if (strcmp(u->key, key) != 0)
			continue;
		idle_unlink(u);
		make_ready(u);
		return u;
	}
	return NULL;
}

/* ---- parking (see upstream.h) -------------------------------------------------- */

/* A parked connection heard from its origin: closed at once; the struct
 * stays with its owner, who learns it at upstream_unpark(). */
static void parked_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream *u = arg;
	bufferevent_free(u->bev);
	u->bev = NULL;
}

static void parked_read(struct bufferevent *bev, void *arg)
{
	parked_event(bev, BEV_EVENT_READING, arg);
}

int upstream_park(struct upstream *u)
{
	if (u->pool_size <= 0 || evbuffer_get_length(bufferevent_get_input(u->bev))) {
		upstream_close(u);
		return 0;
	}
	watch_idle(u, parked_read, parked_event);
	return 1;
}

int upstream_unpark(struct upstream *u, const char *host, int port, struct tls *tls)
{
	char key[KEY_MAX];
	if (!u->bev)
		return -1;
	make_key(key, host, port, tls);
	if (strcmp(key, u->key) != 0)
		return 0;
	make_ready(u);
	stats_add(u->pool->stats, STATS_UPSTREAM_REUSED, 1);
	return 1;
}

/* ---- opening ------------------------------------------------------------------ */

static void req_free(struct upstream_req *r)
{
	if (r->bev)
		bufferevent_free(r->bev);
	if (r->hit)
		upstream_close(r->hit);
	if (r->dns)
		dns_cancel(r->dns);
	event_free(r->ev);
	free(r);
}

void upstream_cancel(struct upstream_req *r)
{
	if (r)
		req_free(r);
}

/* Ends the request: the callback runs after the handle is gone, so it may
 * do anything, including opening again. */
static void finish(struct upstream_req *r, struct upstream *u)
{
	char why[sizeof r->why];
	upstream_cb cb = r->cb;
	void *arg = r->arg;
	int status = u ? 0 : (r->status ? r->status : 502);
	size_t wl = strnlen(r->why, sizeof why - 1);
	memcpy(why, r->why, wl);
	why[wl] = 0;
	req_free(r);
	cb(u, status, why, arg);
}

static int fail_with(struct upstream_req *r, int status, const char *fmt, const char *detail)
{
	r->status = status;
	snprintf(r->why, sizeof r->why, fmt, r->host, r->port, detail);
	return -1;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
		snprintf(out, n, "[%s]:%d", ip, ntohs(s->sin6_port));
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
		snprintf(out, n, "%s:%d", ip, ntohs(s->sin_port));
	}
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void try_next(struct upstream_req *r);

/* After a failed attempt over TLS: when TLS itself failed (the certificate,
 * or the handshake), reports it and returns 1; trying the other addresses
 * would meet the same certificate.  0 for network errors. */
static int tls_failed(struct upstream_req *r, struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e = bufferevent_get_openssl_error(bev);
	if (!ssl || (SSL_get_verify_result(ssl) == X509_V_OK && e == 0))
		return 0;
	r->status = 502;
	if (SSL_get_verify_result(ssl) != X509_V_OK)
		snprintf(r->why, sizeof r->why, "The certificate of %s is not valid: %s.", r->host,
		         tls_verify_reason(ssl));
	else
		snprintf(r->why, sizeof r->why, "The TLS handshake with %s:%d failed: %s.", r->host,
		         r->port, ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
	bufferevent_free(r->bev);
	r->bev = NULL;
	r->next = r->naddr;
	finish(r, NULL);
	return 1;
}

static void connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct upstream_req *r = arg;
	char peer[64];
	addr_text((struct sockaddr *)&r->addr[r->next - 1], peer, sizeof peer);
	if (!(what & BEV_EVENT_CONNECTED)) {
		if (r->tls && tls_failed(r, bev))
			return;
		if (what & BEV_EVENT_TIMEOUT)
			fail_with(r, 504, "connecting to %s:%d timed out (%s)", peer);
		else
			fail_with(r, 502, "cannot connect to %s:%d (%s)",
			          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		bufferevent_free(r->bev);
		r->bev = NULL;
		try_next(r);
		return;
	}
	struct upstream *u = calloc(1, sizeof *u);
	if (!u) {
		fail_with(r, 502, "%s:%d: %s", "out of memory");
		try_next(r);
		return;
	}
	int one = 1;
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	u->pool = r->pool;
	u->bev = bev;
	r->bev = NULL;
	snprintf(u->key, sizeof u->key, "%s", r->key);
	snprintf(u->peer, sizeof u->peer, "%s", peer);
	u->pool_size = r->cfg->upstream_pool_size;
	u->idle_ms = r->cfg->upstream_idle_timeout_ms;
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	stats_add(r->pool->stats, STATS_UPSTREAM_CONNECTS, 1);
	finish(r, u);
}

/* A bufferevent for one attempt: plain, or TLS to r->host.  NULL on error. */
static struct bufferevent *new_bev(struct upstream_req *r)
{
	int opt = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	if (!r->tls)
		return bufferevent_socket_new(r->pool->base, -1, opt);
	SSL *ssl = tls_origin_side(r->tls, r->host);
	if (!ssl)
		return NULL;
	struct bufferevent *bev = bufferevent_openssl_socket_new(r->pool->base, -1, ssl,
	                                                         BUFFEREVENT_SSL_CONNECTING, opt);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* Origins often close without close_notify: an EOF is still an EOF. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Starts a connection to the next usable address, or reports failure. */
static void try_next(struct upstream_req *r)
{
	long ms = r->cfg->connect_timeout_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	while (r->next < r->naddr) {
		struct sockaddr_storage *sa = &r->addr[r->next++];
		if (acl_is_self(r->cfg, (struct sockaddr *)sa)) {
			r->n_self++;
			continue;
		}
		r->bev = new_bev(r);
		if (!r->bev) {
			fail_with(r, 502, "%s:%d: %s", r->tls ? "cannot set up TLS" : "out of memory");
			break;
		}
		bufferevent_setcb(r->bev, NULL, NULL, connect_event, r);
		bufferevent_set_timeouts(r->bev, &tv, &tv);
		if (bufferevent_socket_connect(r->bev, (struct sockaddr *)sa, sa_len(sa)) == 0)
			return;
		fail_with(r, 502, "cannot connect to %s:%d (%s)", strerror(errno));
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
	if (r->n_self && r->n_self == r->naddr)
		fail_with(r, 403, "%s:%d is quell itself: refusing a request loop%s", "");
	finish(r, NULL);
}

/* The deferred first step of every open. */
static void step(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_req *r = arg;
	if (r->hit) {
		struct upstream *u = r->hit;
		r->hit = NULL;
		stats_add(r->pool->stats, STATS_UPSTREAM_REUSED, 1);
		finish(r, u);
		return;
	}
	if (r->status) {
		finish(r, NULL);
		return;
	}
	try_next(r);
}

/* Fills r->addr from an IP literal.  1 when host is one, else 0. */
static int literal(struct upstream_req *r)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&r->addr[0];
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->addr[0];
	memset(&r->addr[0], 0, sizeof r->addr[0]);
	if (inet_pton(AF_INET, r->host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)r->port);
	} else if (inet_pton(AF_INET6, r->host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)r->port);
	} else {
		return 0;
	}
	r->naddr = 1;
	return 1;
}

static void on_dns(int err, const char *errmsg, const struct sockaddr_storage *addrs,
                   int naddrs, void *arg)
{
	struct upstream_req *r = arg;
	r->dns = NULL;                  /* finished: no cancel from here on */
	if (err || naddrs <= 0) {
		r->status = 502;
		snprintf(r->why, sizeof r->why, "cannot resolve %s: %s", r->host,
		         errmsg ? errmsg : "no address");
		finish(r, NULL);
		return;
	}
	r->naddr = naddrs < UPSTREAM_MAX_ADDRS ? naddrs : UPSTREAM_MAX_ADDRS;
	memcpy(r->addr, addrs, (size_t)r->naddr * sizeof r->addr[0]);
	try_next(r);
}

/* Starts resolving r->host.  0, or -1 with r->status set. */
static int resolve(struct upstream_req *r)
{
	if (!r->pool->dns)
		return fail_with(r, 502, "cannot resolve %s (port %d): %s", "no resolver");
	r->dns = dns_resolve(r->pool->dns, r->host, r->port, on_dns, r);
	if (!r->dns)
		return fail_with(r, 502, "cannot resolve %s (port %d): %s", "out of memory");
	return 0;
}

struct upstream_req *upstream_open(struct upstream_pool *p, const struct config *cfg,
                                   const char *host, int port, struct tls *tls,
                                   upstream_cb cb, void *arg)
{
	struct upstream_req *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	memset(r, 0, offsetof(struct upstream_req, addr));
	r->why[0] = 0;
	r->pool = p;
	r->cb = cb;
	r->arg = arg;
	r->cfg = cfg;
	r->port = port;
	size_t hl = strnlen(host, sizeof r->host - 1);
	memcpy(r->host, host, hl);
	r->host[hl] = 0;
	r->tls = tls;
	make_key(r->key, host, port, tls);
	r->ev = event_new(p->base, -1, 0, step, r);
	if (!r->ev) {
		free(r);
		return NULL;
	}
	r->hit = pool_take(p, r->key);
	if (r->hit || literal(r) || resolve(r) != 0)
		event_active(r->ev, 0, 0);
	return r;
}
