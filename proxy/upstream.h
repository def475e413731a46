/*
 * upstream: connections from quell to origins.
 *
 * upstream_open() gives a connected bufferevent for host:port: an idle one
 * from the worker's pool when there is one, otherwise a new one (DNS through
 * proxy/dns, then each address in turn until one connects: IPv6 and IPv4,
 * next address on failure, connect_timeout per attempt).  The pool is per
 * worker (one thread, no lock) and bounded per host:port
 * (upstream_pool_size); an idle connection is dropped after
 * upstream_idle_timeout or when the origin closes it or sends anything.
 * With a struct tls (certs/tls.h), the connection is TLS: SNI set, the
 * origin's certificate verified (a failure is a 502 saying why, never a
 * silent pass); pooled apart from plain connections.
 * A connection whose address is one of quell's own listening addresses is
 * refused (loop).  The callback is always called later from the event loop,
 * never from inside upstream_open().
 */
#ifndef QUELL_UPSTREAM_H
#define QUELL_UPSTREAM_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct bufferevent;
struct config;
struct dns;
struct stats;
struct tls;
struct upstream;
struct upstream_pool;
struct upstream_req;

/* A pool for one worker.  dns may be NULL (IP literals only).  NULL on ENOMEM. */
struct upstream_pool *upstream_pool_new(struct event_base *base, struct dns *dns,
                                        struct stats *stats);
/* Frees every idle connection and the pool.  Connections handed out must be
 * released first.  NULL is a no-op. */
void upstream_pool_free(struct upstream_pool *p);
/* Closes every idle connection (graceful stop). */
void upstream_pool_flush(struct upstream_pool *p);

/* Result of an open: u is NULL on failure, then status is 502 (DNS,
 * refused, unreachable), 504 (timeout) or 403 (loop), and why a readable
 * sentence naming the host ("cannot resolve x.test: NXDOMAIN").
 * On success the callee owns u and must upstream_release() it. */
typedef void (*upstream_cb)(struct upstream *u, int status, const char *why, void *arg);

/* Starts opening host:port (host: a name, or an IP literal without
 * brackets), over TLS when tls is not NULL.  Returns a handle to cancel, or
 * NULL on ENOMEM (no callback). */
struct upstream_req *upstream_open(struct upstream_pool *p, const struct config *cfg,
                                   const char *host, int port, struct tls *tls,
                                   upstream_cb cb, void *arg);
/* Stops a pending open; its callback is never called.  NULL is a no-op. */
void upstream_cancel(struct upstream_req *r);

/* The connected bufferevent (callbacks and watermarks are the caller's to
 * set while it holds u). */
struct bufferevent *upstream_bev(struct upstream *u);
/* 1 when u came from the pool (a request on it may meet a close the origin
 * sent before it saw the request: retry idempotent requests once). */
int upstream_reused(const struct upstream *u);
/* The remote address, as text "1.2.3.4:80" / "[::1]:80". */
const char *upstream_peer(const struct upstream *u);

/* Takes the bufferevent out of u for a tunnel (CONNECT, Upgrade) and frees
 * u: the caller owns the bufferevent afterwards. */
struct bufferevent *upstream_detach(struct upstream *u);

/* Gives u back.  reusable = 1 puts it in the pool (when the response ended
 * cleanly and both sides keep the connection alive), otherwise it is closed.
 * u is invalid afterwards.  A parked u may be released too (also when its
 * origin closed it meanwhile: then it is only freed). */
void upstream_release(struct upstream *u, int reusable);

/* Parking: an idle connection kept by its owner instead of the pool, for a
 * client connection whose next requests go to the same origin (inside an
 * intercepted CONNECT, every request does).  The pool's per-host bound is
 * for connections nobody holds; with more browser connections to one host
 * than that bound, pooled connections would be closed and reopened, a full
 * TLS handshake each.  A parked connection is bounded by its owner (one per
 * client connection) and watched like a pooled one: a byte or a close from
 * the origin, or upstream_idle_timeout, closes it.
 * upstream_park: takes u (after a clean, reusable response) and returns 1
 * when it is parked, 0 when it was closed instead (pooling is off, or the
 * origin already sent more); u is invalid then. */
int upstream_park(struct upstream *u);
/* Makes a parked u ready for a request to host:port (over TLS when tls is
 * not NULL), as if upstream_open() had handed it out from the pool
 * (upstream_reused() is 1).  Returns 1 then; 0 when u is for another
 * origin (it stays parked); -1 when the origin closed it meanwhile (u stays
 * parked: upstream_release() it). */
int upstream_unpark(struct upstream *u, const char *host, int port, struct tls *tls);

#endif
