/*
 * conn: a client connection's state machine (see conn.h).
 *
 * States and transitions (c->state):
 *   CONN_HEAD      reading a request head.  The head timer runs
 *                  (keepalive_timeout while idle between requests,
 *                  header_timeout from the head's first byte).
 *                  -> CONN_LOCAL    malformed (400/431, then close), quell's
 *                                   own page, policy answer, CONNECT refused
 *                  -> CONN_UPSTREAM a request to forward, or a CONNECT
 *                                   tunnelled blindly (bypassed, no TLS)
 *                  -> CONN_PEEK     a CONNECT to intercept
 *   CONN_PEEK      CONNECT to be intercepted: 200 sent, looking at the
 *                  client's first bytes (recv MSG_PEEK, so OpenSSL then
 *                  reads the socket itself).  -> CONN_HEAD over TLS (a
 *                  ClientHello: TLS terminated with a leaf for the host),
 *                  -> CONN_UPSTREAM for a blind tunnel (anything else)
 *   CONN_UPSTREAM  upstream_open() running (pool, DNS, connect).
 *                  -> CONN_LOCAL    failure (502/504/403 page)
 *                  -> CONN_EXCHANGE request head written upstream
 *                  -> CONN_TUNNEL   CONNECT: 200 written, bytes relayed
 *   CONN_EXCHANGE  request body streams up, response head then body down
 *                  through the chain.  -> CONN_HEAD when both ends finished
 *                  cleanly and both sides keep alive; -> CONN_CLOSING
 *                  otherwise or on an abort; -> CONN_LOCAL for an error
 *                  before any response byte went out; -> CONN_TUNNEL after a
 *                  101 to an Upgrade.
 *   CONN_LOCAL     a response quell made is queued on the client.
 *                  -> CONN_HEAD (keep-alive) or CONN_CLOSING
 *   CONN_TUNNEL    tunnel.c owns both sockets; its done callback frees us.
 *   CONN_CLOSING   flushing the client's output.  -> CONN_LINGER
 *   CONN_LINGER    our side is shut down; what the client still sends is
 *                  discarded (bounded in bytes and time) so that closing
 *                  does not reset the connection before it read our
 *                  answer (a 400 or 431 while it was still sending).
 * Everything one request allocates hangs off struct exchange and dies in
 * exchange_free().
 */
#include "proxy/conn.h"
#include "certs/tls.h"
#include "filters/consent.h"
#include "proxy/acl.h"
#include "proxy/admin.h"
#include "proxy/chain.h"
#include "proxy/config.h"
#include "proxy/errpage.h"
#include "proxy/headers.h"
#include "proxy/http1.h"
#include "proxy/log.h"
#include "proxy/policy.h"
#include "proxy/sockio.h"
#include "proxy/stats.h"
#include "proxy/target.h"
#include "proxy/tunnel.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_MAGIC 0x434f4e4eu      /* "CONN" */
#define MAX_TRAILERS 8192
#define LINGER_MS 2000
#define LINGER_BYTES (1 << 20)

enum conn_state { CONN_HEAD, CONN_UPSTREAM, CONN_EXCHANGE, CONN_LOCAL, CONN_TUNNEL, CONN_CLOSING,
                  CONN_LINGER, CONN_PEEK };
enum resp_state { RESP_HEAD, RESP_BODY, RESP_DONE };

struct exchange {
	struct timeval start;
	char *method;
	char *url;                      /* absolute URL, or host:port for CONNECT */
	char *path;                     /* origin-form target for the origin */
	char host[TARGET_HOST_MAX];
	int port;
	int is_connect, is_head, upgrade;
	int answered_connect;           /* the 200 to CONNECT went out */
	int client_minor;
	int client_close;               /* the client asked to close after this */
	int conn_tokens;                /* HTTP1_CONN_* of the request's Connection */
	struct headers *req_raw;        /* as received */
	struct headers *add;            /* policy's response additions */
	/* request body */
	int req_body;                   /* 0 none, 1 length, 2 chunked */
	int64_t req_left;
	int req_done;
	struct http1_chunked *req_dechunk;
	struct evbuffer *tmp;
	/* upstream */
	struct upstream_req *ureq;
	struct upstream *up;
	int sent_any;                   /* a byte of the request went upstream */
	int retried;
	/* response */
	int resp;                       /* enum resp_state */
	int status;
	int resp_close;                 /* the origin closes after this response */
	int close_delim;                /* the client's body ends with our close */
	int lowat;                      /* SO_RCVLOWAT set on the origin's socket */
	int lowat_slow;                 /* the origin filled no LOWAT in LOWAT_WAIT_MS */
	int lowat_timer;                /* lowat_ev is assigned */
	struct event lowat_ev;          /* see set_lowat */
	struct chain *chain;
	uint64_t bytes_out;             /* to the client, head included */
	char verdict[24];
	char rule[200];
	int logged;                     /* the access log line is written */
};

struct conn {
	unsigned magic;
	enum conn_state state;
	struct conn *prev, *next;
	struct conn_list *list;
	struct worker *w;
	struct worker_config *wc;
	const struct config *cfg;
	struct stats *stats;
	struct bufferevent *client;     /* socket, or a TLS filter over it */
	evutil_socket_t fd;
	struct tunnel *tunnel;
	struct event *timer;            /* head deadline */
	struct event *peek_ev;          /* CONN_PEEK on the socket */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char peer_text[64];
	char peer_ip[48];
	int served;                     /* requests answered on this connection */
	struct http1_parser *req_parser;
	struct http1_parser *resp_parser;
	struct exchange *x;
	int head_started;               /* a byte of the current head arrived */
	int stopping;
	int tls;                        /* client side is intercepted TLS */
	int tls_ready;                  /* its handshake completed */
	char tls_host[256];             /* the CONNECT target inside TLS */
	int tls_port;
	char tls_auth[TARGET_HOST_MAX + 8]; /* "host[:port]" of the target, for URLs */
	struct evbuffer *head;          /* message heads are built here, then moved
	                                 * to an output in one piece */
	struct bufferevent *client_to;  /* == client while its timeouts are those of
	                                 * client_timeouts(): set again only after a
	                                 * change (each set re-adds its events) */
	struct upstream *kept;          /* TLS: the origin connection parked between
	                                 * requests (upstream_park) */
	int paused_up;                  /* upstream reading paused (client output full) */
	int paused_client;              /* client reading paused (upstream output full) */
	int abort_rst;                  /* close with RST (close-delimited abort) */
	size_t lingered;                /* bytes discarded in CONN_LINGER */
};

static void client_read(struct bufferevent *bev, void *arg);
static void client_write(struct bufferevent *bev, void *arg);
static void client_event(struct bufferevent *bev, short what, void *arg);
static void up_read(struct bufferevent *bev, void *arg);
static void up_write(struct bufferevent *bev, void *arg);
static void up_event(struct bufferevent *bev, short what, void *arg);
static void enter_head(struct conn *c);
static void respond_error(struct conn *c, int status, const char *detail, int close);

/* HTTPS interception: set once before the workers start, then read-only. */
static struct tls *conn_tls;

void conn_set_tls(struct tls *t)
{
	conn_tls = t;
}

static struct timeval ms_tv(long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	return tv;
}

/* Sends what bev's output holds now instead of waiting for a write event
 * (sockio.h): most messages fit the socket buffer at once, which saves
 * arming and disarming EV_WRITE per message, over TLS too. */
static void push(struct bufferevent *bev)
{
	sockio_push(bev);
}

/* The client's timeouts between requests and once a request body is in:
 * none for reading (the head timer runs instead), io_timeout for writing. */
static void client_timeouts(struct conn *c)
{
	if (c->client_to == c->client)
		return;
	struct timeval io = ms_tv(c->cfg->io_timeout_ms);
	bufferevent_set_timeouts(c->client, NULL, &io);
	c->client_to = c->client;
}

/* Per-request text is assembled with these rather than printf: a message
 * head took a dozen printf calls, a tenth of a keep-alive request's CPU. */

/* Copies src into dst (size bytes), cut short if it does not fit. */
static void set_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void add_text(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, s, strlen(s));
}

/* Appends "HTTP/1.<minor> <status> <reason>\r\n"; status has three digits. */
static void add_status_line(struct evbuffer *out, int minor, int status,
                            const char *reason, size_t reason_len)
{
	char b[13] = "HTTP/1.0 000 ";
	b[7] = minor ? '1' : '0';
	b[9] = (char)('0' + status / 100 % 10);
	b[10] = (char)('0' + status / 10 % 10);
	b[11] = (char)('0' + status % 10);
	evbuffer_add(out, b, sizeof b);
	evbuffer_add(out, reason, reason_len);
	evbuffer_add(out, "\r\n", 2);
}

/* ---- lifetimes ---------------------------------------------------------------- */

/* Frees everything the current request holds.  The upstream connection is
 * closed unless it was released before. */
static void access_log(struct conn *c, struct exchange *x);

static void exchange_free(struct conn *c)
{
	struct exchange *x = c->x;
	if (!x)
		return;
	access_log(c, x);
	if (x->lowat_timer)
		event_del(&x->lowat_ev);
	upstream_cancel(x->ureq);
	if (x->up)
		upstream_release(x->up, 0);
	chain_free(x->chain);
	http1_chunked_free(x->req_dechunk);
	if (x->tmp)
		evbuffer_free(x->tmp);
	headers_free(x->req_raw);
	headers_free(x->add);
	free(x->method);
	free(x->url);
	free(x->path);
	free(x);
	c->x = NULL;
	c->paused_up = c->paused_client = 0;
}

static void conn_unlink(struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		c->list->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->list->count--;
}

static void conn_destroy(struct conn *c)
{
	assert(c->magic == CONN_MAGIC);
	exchange_free(c);
	if (c->kept)                    /* still good for other connections */
		upstream_release(c->kept, !c->stopping);
	if (c->tunnel)
		tunnel_free(c->tunnel);
	else if (c->client) {
		if (c->abort_rst) {
			struct linger l = { 1, 0 };
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		}
		bufferevent_free(c->client);
	}
	if (c->timer)
		event_free(c->timer);
	if (c->peek_ev)
		event_free(c->peek_ev);
	if (c->head)
		evbuffer_free(c->head);
	http1_parser_free(c->req_parser);
	http1_parser_free(c->resp_parser);
	stats_add(c->stats, STATS_ACTIVE, -1);
	conn_unlink(c);
	worker_config_put(c->wc);
	struct worker *w = c->w;
	c->magic = 0;
	free(c);
	worker_conn_closed(w);
}

/* The output is flushed: shut our side down and discard what the client
 * still sends until it closes (or the bounds are reached). */
static void linger(struct conn *c)
{
	struct timeval tv = ms_tv(LINGER_MS);
	if (c->abort_rst || shutdown(c->fd, SHUT_WR) != 0) {
		conn_destroy(c);
		return;
	}
	c->state = CONN_LINGER;
	bufferevent_disable(c->client, EV_WRITE);
	bufferevent_setwatermark(c->client, EV_READ, 0, 0);
	bufferevent_set_timeouts(c->client, &tv, NULL);
	c->client_to = NULL;
	evbuffer_drain(bufferevent_get_input(c->client), (size_t)-1);
	bufferevent_enable(c->client, EV_READ);
}

/* Flushes what is queued for the client, then frees the connection. */
static void close_after_flush(struct conn *c)
{
	exchange_free(c);
	c->state = CONN_CLOSING;
	event_del(c->timer);
	bufferevent_disable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0) {
		linger(c);
		return;
	}
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	bufferevent_enable(c->client, EV_WRITE);
}

/* Ends a response that cannot be completed: what was sent stays incomplete
 * (no terminating chunk, short Content-Length), so the client sees an
 * abort, never a clean end. */
static void abort_response(struct conn *c, const char *why)
{
	struct exchange *x = c->x;
	log_msg(LOG_INFO, "%s %s %s: response aborted: %s", c->peer_text,
	        x->method, x->url, why);
	if (x->close_delim)             /* an EOF would look like a clean end */
		c->abort_rst = 1;
	snprintf(x->verdict, sizeof x->verdict, "aborted");
	close_after_flush(c);
}

/* ---- access log and local responses ------------------------------------------ */

/* One line per request: time client method URL status bytes duration
 * verdict.  Written when the response is complete, before its last bytes
 * go out (so whoever saw the response finds the line), else when the
 * exchange is freed; once. */
static void access_log(struct conn *c, struct exchange *x)
{
	if (!x->method || x->logged)
		return;
	x->logged = 1;
	c->served++;
	stats_add(c->stats, STATS_REQUESTS, 1);
	if (!log_access_enabled())
		return;
	struct timeval now, d;
	struct tm tm;
	char t[32], line[3072];
	gettimeofday(&now, NULL);
	timersub(&now, &x->start, &d);
	gmtime_r(&now.tv_sec, &tm);
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
	int n = snprintf(line, sizeof line, "%s %s %s %s %d %llu %ldms %s%s%s", t, c->peer_text,
	                 x->method, x->url ? x->url : "-", x->status,
	                 (unsigned long long)x->bytes_out, (long)(d.tv_sec * 1000 + d.tv_usec / 1000),
	                 x->verdict[0] ? x->verdict : "-", x->rule[0] ? " " : "", x->rule);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	log_access(line, n);
}

static struct exchange *exchange_new(struct conn *c)
{
	struct exchange *x = calloc(1, sizeof *x);
	if (!x)
		return NULL;
	gettimeofday(&x->start, NULL);
	x->client_minor = 1;
	c->x = x;
	return x;
}

/* Writes a complete response quell made (status, fields, body) to the
 * client, consuming body.  keep = 0 closes after it.  Moves to CONN_LOCAL
 * and then on: the next head, or closing. */
static void respond(struct conn *c, int status, struct headers *h, struct evbuffer *body, int keep)
{
	struct exchange *x = c->x;
	struct evbuffer *out = bufferevent_get_output(c->client);
	size_t before = evbuffer_get_length(out), len = evbuffer_get_length(body);
	int minor = x ? x->client_minor : 1;
	if (x && (!x->req_done || x->client_close))
		keep = 0;               /* an unread body cannot be skipped safely */
	if (c->stopping)
		keep = 0;
	evbuffer_add_printf(out, "HTTP/1.%d %d %s\r\n", minor, status, errpage_reason(status));
	if (h)
		headers_write(h, out);
	evbuffer_add_printf(out, "Content-Length: %zu\r\n%s\r\n", len,
	                    !keep ? "Connection: close\r\n" :
	                    minor == 0 ? "Connection: keep-alive\r\n" : "");
	if (!x || !x->is_head)
		evbuffer_add_buffer(out, body);
	else
		evbuffer_drain(body, len);
	stats_add(c->stats, STATS_BYTES_OUT, (int64_t)(evbuffer_get_length(out) - before));
	if (x) {
		x->status = status;
		x->bytes_out += evbuffer_get_length(out) - before;
	}
	if (status >= 400 && x && !x->verdict[0])
		snprintf(x->verdict, sizeof x->verdict, "error");
	if (x)
		access_log(c, x);
	push(c->client);
	c->state = CONN_LOCAL;
	if (!keep) {
		close_after_flush(c);
		return;
	}
	exchange_free(c);
	enter_head(c);
}

/* An error page for status, naming what happened in detail. */
static void respond_error(struct conn *c, int status, const char *detail, int close)
{
	struct headers *h = headers_new();
	struct evbuffer *body = evbuffer_new();
	const char *accept = c->x && c->x->req_raw ? headers_get(c->x->req_raw, "Accept") : NULL;
	const char *type = "text/plain";
	stats_add(c->stats, STATS_ERRORS, 1);
	if (!h || !body || errpage_body(body, status, detail, errpage_wants_html(accept), &type)) {
		headers_free(h);
		if (body)
			evbuffer_free(body);
		close_after_flush(c);
		return;
	}
	headers_add_str(h, "Content-Type", type);
	headers_add_str(h, "Cache-Control", "no-store");
	respond(c, status, h, body, !close);
	headers_free(h);
	evbuffer_free(body);
}

/* ---- targets ------------------------------------------------------------------ */

/* Parses an absolute URL into x (host, port, path, canonical url).
 * Returns 0, or -1 with a reason. */
static int parse_url(struct exchange *x, const char *u, size_t n, int https, const char **why)
{
	return target_parse_url(u, n, https, x->host, sizeof x->host, &x->port, &x->path,
	                        &x->url, why);
}

/* ---- deciding ----------------------------------------------------------------- */

/* Serves quell's own pages.  path: origin-form target. */
static void serve_admin(struct conn *c, const char *path, const char *host)
{
	struct exchange *x = c->x;
	struct sockaddr_storage local;
	socklen_t llen = sizeof local;
	getsockname(c->fd, (struct sockaddr *)&local, &llen);
	struct admin_request req = { x->method, path, host, x->req_raw,
	                             (struct sockaddr *)&local, c->cfg };
	struct admin_reply rep = { 200, headers_new(), evbuffer_new() };
	snprintf(x->verdict, sizeof x->verdict, "admin");
	if (!rep.headers || !rep.body || admin_handle(&req, &rep) != 0)
		respond_error(c, 500, "quell could not build this page.", 0);
	else
		respond(c, rep.status, rep.headers, rep.body, 1);
	headers_free(rep.headers);
	if (rep.body)
		evbuffer_free(rep.body);
}

/* Applies a policy answer.  Returns 1 when the request was answered here
 * (blocked, or an error), 0 to go upstream (maybe to a rewritten URL). */
static int apply_policy(struct conn *c)
{
	struct exchange *x = c->x;
	struct policy_result res = { 0 };
	struct policy_request req = {
		x->method, x->url, x->is_connect ? "" : c->tls ? "https" : "http", x->host, x->port,
		x->req_raw, c->tls, x->is_connect, (struct sockaddr *)&c->peer, c->peer_len, c->cfg };
	res.headers = x->add = headers_new();
	res.body = evbuffer_new();
	if (!res.headers || !res.body || policy_decide(&req, &res) != 0) {
		if (res.body)
			evbuffer_free(res.body);
		free(res.new_url);
		respond_error(c, 500, "quell's request policy failed.", 0);
		return 1;
	}
	set_text(x->verdict, sizeof x->verdict, res.verdict);
	set_text(x->rule, sizeof x->rule, res.rule);
	if (res.blocked)
		stats_add(c->stats, STATS_BLOCKED, 1);
	int done = 0;
	if (res.action == POLICY_RESPOND) {
		x->add = NULL;
		respond(c, res.status ? res.status : 403, res.headers, res.body, 1);
		headers_free(res.headers);
		done = 1;
	} else if (res.action == POLICY_REWRITE && res.new_url && !x->is_connect) {
		const char *why;
		free(x->url);
		free(x->path);
		x->url = x->path = NULL;
		if (parse_url(x, res.new_url, strlen(res.new_url), c->tls, &why) != 0) {
			respond_error(c, 500, "quell's request policy rewrote the URL badly.", 0);
			done = 1;
		}
	}
	/* a consent manager's "declined" cookie where one decides by cookie;
	 * out of memory it is left out, the request goes on as it came */
	if (!done && !x->is_connect)
		(void)consent_request(c->cfg, x->host, x->path, c->tls, x->req_raw, x->add);
	evbuffer_free(res.body);
	free(res.new_url);
	return done;
}

static void on_upstream(struct upstream *u, int status, const char *why, void *arg);
static void peek_socket(evutil_socket_t fd, short what, void *arg);
static void answer_and_peek(struct conn *c);

/* Sends the request on the origin connection the previous one parked
 * (intercepted HTTPS: see response_done).  Returns 1 when it did, 0 when
 * one must be opened. */
static int use_kept(struct conn *c)
{
	struct exchange *x = c->x;
	int r = upstream_unpark(c->kept, x->host, x->port, c->tls ? conn_tls : NULL);
	if (r == 0)
		return 0;
	struct upstream *u = c->kept;
	c->kept = NULL;
	if (r < 0) {
		upstream_release(u, 0);
		return 0;
	}
	on_upstream(u, 0, NULL, c);
	return 1;
}

/* Starts the upstream connection for x (state CONN_UPSTREAM). */
static void go_upstream(struct conn *c)
{
	struct exchange *x = c->x;
	c->state = CONN_UPSTREAM;
	if (c->kept && !x->is_connect && use_kept(c))
		return;
	/* The client stays readable (EOF seen early); its input is bounded by
	 * the read watermark, and nothing is parsed before the next head. */
	x->ureq = upstream_open(worker_pool(c->w), c->cfg, x->host, x->port,
	                        c->tls && !x->is_connect ? conn_tls : NULL, on_upstream, c);
	if (!x->ureq)
		respond_error(c, 500, "quell is out of memory.", 1);
}

static int port_allowed(const struct config *cfg, int port)
{
	for (int i = 0; i < cfg->n_connect_ports; i++)
		if (cfg->connect_ports[i] == port)
			return 1;
	return 0;
}

static void handle_connect(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	char msg[200];
	x->is_connect = 1;
	x->url = strndup(h->target, h->target_len);
	if (!x->url || target_authority(h->target, h->target_len, x->host, sizeof x->host,
	                                &x->port, 443) != 0) {
		respond_error(c, 400, "The CONNECT target is not host:port.", 1);
		return;
	}
	if (!port_allowed(c->cfg, x->port)) {
		snprintf(msg, sizeof msg, "CONNECT to port %d is not allowed (config connect_ports).", x->port);
		snprintf(x->verdict, sizeof x->verdict, "denied-port");
		respond_error(c, 403, msg, 0);
		return;
	}
	x->req_body = 0;               /* what follows is the tunnel's */
	x->req_done = 1;
	if (apply_policy(c))
		return;
	if (!conn_tls || c->tls || tls_bypassed(conn_tls, c->cfg, x->host)) {
		go_upstream(c);
		return;
	}
	answer_and_peek(c);
}

/* Intercept: answer the CONNECT now, then see whether the client speaks TLS
 * (CONN_PEEK). */
static void answer_and_peek(struct conn *c)
{
	struct exchange *x = c->x;
	struct timeval tv = ms_tv(c->cfg->header_timeout_ms);
	evbuffer_add_printf(bufferevent_get_output(c->client),
	                    "HTTP/1.%d 200 Connection established\r\n\r\n", x->client_minor);
	x->answered_connect = 1;
	x->status = 200;
	push(c->client);
	c->state = CONN_PEEK;
	evtimer_add(c->timer, &tv);
	if (!evbuffer_get_length(bufferevent_get_input(c->client)) &&
	    !evbuffer_get_length(bufferevent_get_output(c->client)) &&
	    (c->peek_ev = event_new(worker_base(c->w), c->fd, EV_READ, peek_socket, c))) {
		bufferevent_disable(c->client, EV_READ);
		event_add(c->peek_ev, NULL);
		return;
	}
	/* bytes already read (or the 200 still queued): peek in the buffer */
	bufferevent_enable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->client)))
		bufferevent_trigger(c->client, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* A TLS bufferevent for the client: over the socket itself when the
 * ClientHello is still in the kernel (peeked), else as a filter over the
 * socket bufferevent that already read it.  NULL on failure. */
static struct bufferevent *tls_bev(struct conn *c, SSL *ssl)
{
	int opt = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	if (!c->peek_ev)
		return bufferevent_openssl_filter_new(worker_base(c->w), c->client, ssl,
		                                      BUFFEREVENT_SSL_ACCEPTING, opt);
	struct bufferevent *b = bufferevent_openssl_socket_new(worker_base(c->w), c->fd, ssl,
	                                                       BUFFEREVENT_SSL_ACCEPTING, opt);
	if (b) {                        /* the old one lets go of the socket */
		bufferevent_setfd(c->client, -1);
		bufferevent_free(c->client);
		sockio_set_io_max(b, c->cfg->conn_buffer);
	}
	return b;
}

/* Terminates the client's TLS with a leaf for the CONNECT host; the same
 * pipeline then runs inside (scheme https). */
static void start_tls(struct conn *c)
{
	struct exchange *x = c->x;
	SSL *ssl = tls_client_side(conn_tls, x->host);
	struct bufferevent *b = ssl ? tls_bev(c, ssl) : NULL;
	if (!b) {
		if (ssl)
			SSL_free(ssl);
		snprintf(x->verdict, sizeof x->verdict, "tls-error");
		close_after_flush(c);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(b, 1);
	snprintf(c->tls_host, sizeof c->tls_host, "%s", x->host);
	c->tls_port = x->port;
	target_authority_text(c->tls_auth, sizeof c->tls_auth, c->tls_host, c->tls_port, 443);
	c->tls = 1;
	c->client = b;
	c->client_to = NULL;
	if (c->peek_ev) {
		event_free(c->peek_ev);
		c->peek_ev = NULL;
	}
	snprintf(x->verdict, sizeof x->verdict, "intercept");
	bufferevent_setcb(b, client_read, client_write, client_event, c);
	exchange_free(c);
	enter_head(c);
}

/* 1 to terminate TLS, 0 for a blind tunnel: the first bytes (hello = 1
 * for a ClientHello) and the bypass list asked again now, since a host
 * may have been auto-bypassed (handshake failures on another worker) while
 * this client was sending its hello. */
static int intercept_now(struct conn *c, int hello)
{
	return hello == 1 && !tls_bypassed(conn_tls, c->cfg, c->x->host);
}

/* CONN_PEEK with the bytes still in the kernel: recv(MSG_PEEK) looks at
 * them without taking them, so OpenSSL reads the socket directly. */
static void peek_socket(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	unsigned char buf[16];
	ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
	if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
		conn_destroy(c);                 /* closed (or failed) before a byte */
		return;
	}
	int r = n > 0 ? tls_peek_client_hello(buf, (size_t)n) : -1;
	struct pollfd pfd = { fd, POLLRDHUP, 0 };
	if (r < 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		conn_destroy(c);                 /* a few bytes, then the client closed */
		return;
	}
	if (r < 0) {                         /* too few bytes: look again shortly */
		struct timeval tv = { 0, 20000 };  /* (a timer: the socket stays readable) */
		event_assign(c->peek_ev, worker_base(c->w), fd, 0, peek_socket, c);
		event_add(c->peek_ev, &tv);
		return;
	}
	event_del(c->timer);
	if (intercept_now(c, r)) {
		start_tls(c);
		return;
	}
	event_free(c->peek_ev);
	c->peek_ev = NULL;
	bufferevent_enable(c->client, EV_READ);
	go_upstream(c);
}

/* CONN_PEEK: a ClientHello is intercepted, anything else tunnelled. */
static void peek(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	size_t n = evbuffer_get_length(in) < 16 ? evbuffer_get_length(in) : 16;
	int r = tls_peek_client_hello(evbuffer_pullup(in, (ev_ssize_t)n), n);
	if (r < 0)
		return;
	event_del(c->timer);
	if (intercept_now(c, r))
		start_tls(c);
	else
		go_upstream(c);
}

/* Copies the request's framing and forwarded fields into x.  0/-1. */
static int take_request(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	x->method = strndup(h->method, h->method_len);
	x->client_minor = h->version_minor;
	x->client_close = h->conn_close;
	x->conn_tokens = h->conn_tokens;
	x->req_raw = headers_new();
	if (!x->method || !x->req_raw || headers_from_head(x->req_raw, h, 0) != 0)
		return -1;
	x->is_head = !strcmp(x->method, "HEAD");
	x->upgrade = h->upgrade;
	if (h->chunked) {
		x->req_body = 2;
		if (!(x->req_dechunk = http1_chunked_new(MAX_TRAILERS)) || !(x->tmp = evbuffer_new()))
			return -1;
	} else if (h->content_length > 0) {
		x->req_body = 1;
		x->req_left = h->content_length;
	}
	x->req_done = x->req_body == 0;
	return 0;
}

/* A request inside an intercepted TLS connection: origin-form, for the
 * host and port of the CONNECT. */
static void handle_inner(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	if (!h->target_len || h->target[0] != '/') {
		x->url = strndup(h->target, h->target_len);
		respond_error(c, 400, "Inside HTTPS, requests name a path.", 1);
		return;
	}
	set_text(x->host, sizeof x->host, c->tls_host);
	x->port = c->tls_port;
	x->path = strndup(h->target, h->target_len);
	size_t alen = strlen(c->tls_auth), plen = x->path ? strlen(x->path) : 0;
	if (!x->path || !(x->url = malloc(8 + alen + plen + 1))) {
		respond_error(c, 500, "quell is out of memory.", 1);
		return;
	}
	memcpy(x->url, "https://", 8);       /* "https://" auth path */
	memcpy(x->url + 8, c->tls_auth, alen);
	memcpy(x->url + 8 + alen, x->path, plen + 1);
	if (admin_is_admin_host(x->host)) {     /* https://quell.home/ */
		serve_admin(c, x->path, x->host);
		return;
	}
	if (!apply_policy(c))
		go_upstream(c);
}

/* A complete request head: decide what to do with it. */
static void handle_request(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	const char *why;
	event_del(c->timer);
	if (take_request(c, h) != 0) {
		respond_error(c, 500, "quell is out of memory.", 1);
		return;
	}
	if (!strcmp(x->method, "CONNECT") && !c->tls) {
		handle_connect(c, h);
		return;
	}
	if (c->tls) {
		handle_inner(c, h);
		return;
	}
	if (h->target_len && h->target[0] == '/') {
		x->url = strndup(h->target, h->target_len);
		if (x->url)
			serve_admin(c, x->url, headers_get(x->req_raw, "Host"));
		else
			respond_error(c, 500, "quell is out of memory.", 1);
		return;
	}
	if (parse_url(x, h->target, h->target_len, 0, &why) != 0) {
		x->url = strndup(h->target, h->target_len);
		respond_error(c, 400, why, 1);
		return;
	}
	if (admin_is_admin_host(x->host)) {
		serve_admin(c, x->path, x->host);
		return;
	}
	if (!apply_policy(c))
		go_upstream(c);
}

/* 1 when name is listed in one of the message's Connection fields. */
static int conn_listed(const struct headers *h, const char *name)
{
	for (int i = headers_find(h, "Connection", 0); i >= 0; i = headers_find(h, "Connection", i + 1)) {
		const char *v = headers_value(h, i);
		if (http1_value_has_token(v, strlen(v), name))
			return 1;
	}
	return 0;
}

/* ---- the request upstream ------------------------------------------------------ */

/* Heads are written in pieces of a few bytes each; one evbuffer_add per
 * piece costs more than the copy.  A head_out gathers them in a stack
 * buffer and adds it when full and at the end; the first failure latches. */
struct head_out {
	struct evbuffer *out;
	int err;
	size_t n;
	char b[2048];
};

static void ho_add(struct head_out *o, const char *s, size_t n)
{
	if (o->n + n > sizeof o->b) {
		if (evbuffer_add(o->out, o->b, o->n))
			o->err = 1;
		o->n = 0;
		if (n > sizeof o->b) {
			if (evbuffer_add(o->out, s, n))
				o->err = 1;
			return;
		}
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
}

/* Adds what is gathered.  0, or -1 when any part failed (ENOMEM). */
static int ho_flush(struct head_out *o)
{
	if (o->n && evbuffer_add(o->out, o->b, o->n))
		o->err = 1;
	o->n = 0;
	return o->err ? -1 : 0;
}

/* The authority ("host[:port]") for the Host field.  x->url is scheme "://"
 * authority x->path, with the authority as target_authority_text writes it
 * for the port that is the default of the scheme quell uses (target.c,
 * handle_inner): cut out of it rather than formatted again. */
static void request_authority(struct conn *c, char *buf, size_t n, const char **auth, size_t *len)
{
	struct exchange *x = c->x;
	const char *sep = x->url ? strstr(x->url, "://") : NULL;
	size_t ul = x->url ? strlen(x->url) : 0, pl = strlen(x->path);
	if (sep && ul >= pl && (size_t)(sep + 3 - x->url) <= ul - pl &&
	    !strcmp(x->url + ul - pl, x->path)) {
		*auth = sep + 3;
		*len = (size_t)(x->url + ul - pl - *auth);
		return;
	}
	target_authority_text(buf, n, x->host, x->port, c->tls ? 443 : 80);
	*auth = buf;
	*len = strlen(buf);
}

/* Writes the request head for the origin: origin-form target, Host from the
 * URL, hop-by-hop fields already gone, the framing quell uses.  0/-1. */
static int write_request_head(struct conn *c, struct evbuffer *out)
{
	struct exchange *x = c->x;
	struct head_out o = { .out = out };
	char buf[TARGET_HOST_MAX + 8];
	const char *ae = chain_accept_encoding(), *auth;
	size_t alen;
	request_authority(c, buf, sizeof buf, &auth, &alen);
	ho_add(&o, x->method, strlen(x->method));
	ho_add(&o, " ", 1);
	ho_add(&o, x->path, strlen(x->path));
	ho_add(&o, " HTTP/1.1\r\nHost: ", 17);
	ho_add(&o, auth, alen);
	ho_add(&o, "\r\n", 2);
	/* Fields the request's Connection lists are dropped.  conn_listed
	 * walks the fields again for each: only when Connection names more
	 * than close, keep-alive and upgrade (the parser noted which; fields
	 * called keep-alive and upgrade are dropped by name anyway). */
	int listed = x->conn_tokens & HTTP1_CONN_OTHER;
	int close_listed = x->conn_tokens & HTTP1_CONN_CLOSE;
	for (int i = 0; i < headers_count(x->req_raw); i++) {
		const char *n = headers_name(x->req_raw, i), *v = headers_value(x->req_raw, i);
		int id = headers_id(x->req_raw, i);
		size_t nl = strlen(n);
		if (id == HTTP1_F_HOST || http1_is_hop_id(id) ||
		    (listed ? conn_listed(x->req_raw, n) : close_listed && !strcasecmp(n, "close")))
			continue;
		if (ae && id == HTTP1_F_ACCEPT_ENCODING)
			v = ae;
		ho_add(&o, n, nl);
		ho_add(&o, ": ", 2);
		ho_add(&o, v, strlen(v));
		ho_add(&o, "\r\n", 2);
	}
	if (ho_flush(&o) != 0)
		return -1;
	/* rarely on: formatted straight into out, after what is gathered */
	if (c->cfg->via)
		evbuffer_add_printf(out, "Via: 1.%d quell\r\n", x->client_minor);
	if (c->cfg->x_forwarded_for)
		evbuffer_add_printf(out, "X-Forwarded-For: %s\r\n", c->peer_ip);
	if (x->req_body == 2)
		evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
	if (x->upgrade && headers_get(x->req_raw, "Upgrade"))
		evbuffer_add_printf(out, "Connection: upgrade\r\nUpgrade: %s\r\n",
		                    headers_get(x->req_raw, "Upgrade"));
	return evbuffer_add(out, "\r\n", 2);
}

/* Moves request body bytes from the client to the origin, with the
 * origin's output bounded by conn_buffer.  Returns 0, or -1 on a malformed
 * chunked body (handled: the connection is answered or aborted). */
static int relay_request(struct conn *c)
{
	struct exchange *x = c->x;
	struct evbuffer *in = bufferevent_get_input(c->client);
	struct evbuffer *out = bufferevent_get_output(upstream_bev(x->up));
	if (x->req_done || c->paused_client)
		return 0;
	if (x->req_body == 1) {
		size_t avail = evbuffer_get_length(in);
		size_t n = (uint64_t)x->req_left < avail ? (size_t)x->req_left : avail;
		evbuffer_remove_buffer(in, out, n);
		x->req_left -= (int64_t)n;
		x->req_done = x->req_left == 0;
	} else if (x->req_body == 2) {
		int r = http1_chunked_run(x->req_dechunk, in, x->tmp);
		http1_chunk_write(out, x->tmp);
		if (r == HTTP1_ERROR) {
			if (x->resp == RESP_HEAD)
				respond_error(c, 400, http1_chunked_error(x->req_dechunk), 1);
			else
				abort_response(c, "malformed chunked request body");
			return -1;
		}
		if (r == HTTP1_DONE) {
			size_t tlen;
			const char *tr = http1_chunked_trailers(x->req_dechunk, &tlen);
			http1_chunk_last(out, tr, tlen);
			x->req_done = 1;
		}
	}
	push(upstream_bev(x->up));
	if (x->req_done) {
		client_timeouts(c);
	} else if (evbuffer_get_length(out) >= c->cfg->conn_buffer) {
		c->paused_client = 1;
		bufferevent_disable(c->client, EV_READ);
		bufferevent_setwatermark(upstream_bev(x->up), EV_WRITE, c->cfg->conn_buffer / 2, 0);
	}
	return 0;
}

static void tunnel_done(uint64_t up, uint64_t down, const char *why, void *arg)
{
	struct conn *c = arg;
	struct exchange *x = c->x;
	x->bytes_out += down;
	stats_add(c->stats, STATS_BYTES_OUT, (int64_t)down);
	stats_add(c->stats, STATS_BYTES_IN, (int64_t)up);
	c->tunnel = NULL;               /* tunnel.c frees both sockets */
	c->client = NULL;
	conn_destroy(c);
}

/* Hands the client and the origin to tunnel.c (CONNECT, or after 101). */
static void start_tunnel(struct conn *c)
{
	struct exchange *x = c->x;
	struct bufferevent *origin = upstream_detach(x->up);
	x->up = NULL;
	stats_add(c->stats, STATS_TUNNELS, 1);
	event_del(c->timer);
	c->state = CONN_TUNNEL;
	c->tunnel = tunnel_start(c->client, origin, c->cfg->conn_buffer, c->cfg->io_timeout_ms,
	                         tunnel_done, c);
	if (!c->tunnel) {
		bufferevent_free(origin);
		close_after_flush(c);
	}
}

/* The upstream could not be opened: an error page, or a close when the
 * CONNECT was already answered. */
static void upstream_failed(struct conn *c, int status, const char *why)
{
	struct exchange *x = c->x;
	if (status == 403)
		snprintf(x->verdict, sizeof x->verdict, "loop");
	log_msg(LOG_INFO, "%s %s %s: %s", c->peer_text, x->method, x->url, why);
	if (x->answered_connect) {       /* the tunnel was promised: close it */
		x->status = status;
		close_after_flush(c);
	} else {
		respond_error(c, status, why, 0);
	}
}

/* The origin is connected: send the request head, then the body as it comes
 * (CONN_EXCHANGE). */
static void start_exchange(struct conn *c)
{
	struct exchange *x = c->x;
	struct bufferevent *ub = upstream_bev(x->up);
	struct timeval fb = ms_tv(c->cfg->first_byte_timeout_ms), io = ms_tv(c->cfg->io_timeout_ms);
	c->state = CONN_EXCHANGE;
	x->resp = RESP_HEAD;
	http1_parser_reset(c->resp_parser);
	bufferevent_setcb(ub, up_read, up_write, up_event, c);
	bufferevent_setwatermark(ub, EV_READ, 0, c->cfg->conn_buffer);
	/* libevent reads 16 KiB per call by default: a page would take a
	 * dozen passes through the loop and the chain */
	sockio_set_io_max(ub, c->cfg->conn_buffer);
	bufferevent_set_timeouts(ub, &fb, &io);
	bufferevent_enable(ub, EV_READ | EV_WRITE);
	write_request_head(c, c->head);
	evbuffer_add_buffer(bufferevent_get_output(ub), c->head);
	x->sent_any = 1;
	if (x->req_done) {
		push(ub);
		return;
	}
	bufferevent_set_timeouts(c->client, &io, &io);
	c->client_to = NULL;
	bufferevent_enable(c->client, EV_READ);
	relay_request(c);
}

static void on_upstream(struct upstream *u, int status, const char *why, void *arg)
{
	struct conn *c = arg;
	struct exchange *x = c->x;
	x->ureq = NULL;
	if (!u) {
		upstream_failed(c, status, why);
		return;
	}
	x->up = u;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "%s %s %s: upstream %s (%s)", c->peer_text, x->method, x->url,
		        upstream_peer(u), upstream_reused(u) ? "reused" : "new");
	if (upstream_reused(u) && evbuffer_get_length(bufferevent_get_input(upstream_bev(u))) &&
	    x->retried < 3) {
		/* an idle origin spoke (a 408 before closing?): not ours to relay */
		x->retried++;
		upstream_release(u, 0);
		x->up = NULL;
		go_upstream(c);
		return;
	}
	if (!x->is_connect) {
		start_exchange(c);
		return;
	}
	if (!x->answered_connect)
		evbuffer_add_printf(bufferevent_get_output(c->client),
		                    "HTTP/1.%d 200 Connection established\r\n\r\n", x->client_minor);
	x->status = 200;
	start_tunnel(c);
}

#define LOWAT_MAX (128 * 1024)
#define LOWAT_WAIT_MS 20

static void lowat_expired(evutil_socket_t fd, short what, void *arg);

/* A large Content-Length body arrives in small pieces, each a wake-up and a
 * read; SO_RCVLOWAT makes the kernel wake us once a useful amount is there
 * (never more than the body still owes, so the end is not held back).
 * Plain origin sockets only; set back to 1 before the connection is reused
 * or pooled.
 *
 * The kernel holds bytes below the mark back from epoll for as long as it
 * takes, so an origin slower than the mark would stall the client's stream
 * (a 1 KB/s trickle: two minutes between wake-ups, and io_timeout firing
 * while bytes are arriving).  A timer bounds that: when LOWAT_WAIT_MS pass
 * without a read, the origin is slower than LOWAT_MAX per LOWAT_WAIT_MS
 * (6.4 MB/s) and the rest of the response is read as it comes. */
static void set_lowat(struct conn *c, int want)
{
	struct exchange *x = c->x;
	if (c->tls || !x->up || want == x->lowat || (want > 1 && (x->lowat_slow || (x->lowat > 1 && want >= x->lowat))))
		return;
	evutil_socket_t fd = bufferevent_getfd(upstream_bev(x->up));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof want) == 0)
		x->lowat = want;
}

static void update_lowat(struct conn *c)
{
	struct exchange *x = c->x;
	int64_t left = chain_remaining(x->chain);
	if (left > 0 && !chain_transforms(x->chain))
		set_lowat(c, left < LOWAT_MAX ? (int)left : LOWAT_MAX);
	else if (x->lowat > 1)
		set_lowat(c, 1);
	if (x->lowat > 1) {
		/* (re)armed after every read: it fires only when a whole
		 * LOWAT_WAIT_MS passed without one */
		if (!x->lowat_timer) {
			event_assign(&x->lowat_ev, bufferevent_get_base(c->client), -1, 0, lowat_expired, c);
			x->lowat_timer = 1;
		}
		struct timeval tv = { 0, LOWAT_WAIT_MS * 1000 };
		event_add(&x->lowat_ev, &tv);
	} else if (x->lowat_timer) {
		event_del(&x->lowat_ev);
	}
}

static void lowat_expired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	/* not reading because the client is behind says nothing of the
	 * origin: the next relay arms the timer again */
	if (!c->x || c->x->lowat <= 1 || c->paused_up)
		return;
	c->x->lowat_slow = 1;
	set_lowat(c, 1);
}

/* ---- the response down ---------------------------------------------------------- */

static void response_done(struct conn *c)
{
	struct exchange *x = c->x;
	if (x->lowat > 1)
		set_lowat(c, 1);
	if (x->lowat_timer)
		event_del(&x->lowat_ev);
	struct bufferevent *ub = upstream_bev(x->up);
	int reusable = !x->resp_close && x->req_done &&
	               evbuffer_get_length(bufferevent_get_input(ub)) == 0;
	int keep = !x->client_close && !x->close_delim && x->req_done && !c->stopping;
	struct upstream *u = x->up;
	x->up = NULL;
	/* Inside an intercepted CONNECT the next request goes to the same
	 * origin: the connection waits parked for it, not in the pool, whose
	 * per-host bound would close it when many browser connections share a
	 * host (a full TLS handshake to reopen each). */
	if (reusable && keep && c->tls && !c->kept)
		c->kept = upstream_park(u) ? u : NULL;
	else
		upstream_release(u, reusable);
	if (!keep) {
		close_after_flush(c);
		return;
	}
	exchange_free(c);
	enter_head(c);
}

/* One pass of the chain: origin bytes in, client bytes out and sent.
 * Returns chain_run's result. */
static int relay_once(struct conn *c, int eof)
{
	struct exchange *x = c->x;
	struct evbuffer *in = bufferevent_get_input(upstream_bev(x->up));
	struct evbuffer *out = bufferevent_get_output(c->client);
	size_t before = evbuffer_get_length(out), in_before = evbuffer_get_length(in);
	int r = chain_run(x->chain, in, out, eof);
	x->bytes_out += evbuffer_get_length(out) - before;
	stats_add(c->stats, STATS_BYTES_OUT, (int64_t)(evbuffer_get_length(out) - before));
	stats_add(c->stats, STATS_BYTES_IN, (int64_t)(in_before - evbuffer_get_length(in)));
	/* Over TLS every evbuffer chunk becomes one SSL_write, one record and
	 * one send(): join the (4 KiB) chunks so records come out full size.
	 * Only when nothing was waiting, so each byte is joined at most once. */
	if (c->tls && before == 0 && evbuffer_get_length(out) > 4096)
		evbuffer_pullup(out, -1);
	if (r == 1)
		access_log(c, x);
	push(c->client);
	return r;
}

/* Runs the body chain on what the origin sent.  eof: the origin closed. */
static void relay_response(struct conn *c, int eof)
{
	struct exchange *x = c->x;
	struct evbuffer *out = bufferevent_get_output(c->client);
	int r = 0;
	/* a stage with more output (a decompressor) runs again while the
	 * socket takes everything at once */
	for (int round = 0; round < 16; round++) {
		r = relay_once(c, eof);
		if (r != 0 || !chain_pending(x->chain) || evbuffer_get_length(out))
			break;
	}
	if (r < 0) {
		abort_response(c, chain_error(x->chain));
		return;
	}
	if (r == 1) {
		response_done(c);
		return;
	}
	update_lowat(c);
	/* Pause the origin when the client is behind, or when a stage has more
	 * output waiting: the client's drain calls us again. */
	if ((evbuffer_get_length(out) >= c->cfg->conn_buffer || chain_pending(x->chain)) &&
	    !c->paused_up) {
		c->paused_up = 1;
		bufferevent_disable(upstream_bev(x->up), EV_READ);
		bufferevent_setwatermark(c->client, EV_WRITE, c->cfg->conn_buffer / 2, 0);
		if (!evbuffer_get_length(out))   /* nothing to drain: resume from the loop */
			bufferevent_trigger(c->client, EV_WRITE,
			                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

/* The media type of a Content-Type value, lower case, without parameters. */
static void media_type(const char *ct, char *out, size_t n)
{
	size_t i = 0;
	for (; ct && ct[i] && ct[i] != ';' && ct[i] != ' ' && i + 1 < n; i++)
		out[i] = (char)tolower((unsigned char)ct[i]);
	out[i] = 0;
}

/* Writes the final response head to the client and opens the chain.
 * 0, or -1 (answered with a 502 already). */
static int start_response(struct conn *c, const struct http1_head *h, struct headers *rh)
{
	struct exchange *x = c->x;
	char type[96];
	int client_close = 0;
	const char *enc = headers_get_id(rh, HTTP1_F_CONTENT_ENCODING);
	media_type(headers_get_id(rh, HTTP1_F_CONTENT_TYPE), type, sizeof type);
	struct chain_msg msg = { .url = x->url, .method = x->method, .status = h->status,
	                         .resp_headers = rh, .req_headers = x->req_raw,
	                         .content_type = type, .content_encoding = enc ? enc : "",
	                         .tls = c->tls, .cfg = c->cfg };
	const char *ae = headers_get_id(x->req_raw, HTTP1_F_ACCEPT_ENCODING);
	msg.client_gzip = ae && http1_value_has_token(ae, strlen(ae), "gzip");
	msg.accept_encoding = ae;
	struct chain_framing f = { http1_response_body(h, x->method, strlen(x->method)),
	                           h->content_length, x->client_minor };
	x->resp_close = h->conn_close || f.body == HTTP1_BODY_CLOSE;
	if ((x->chain = chain_new()))
		chain_set_limit(x->chain, c->cfg->conn_buffer);
	if (!x->chain || chain_open(x->chain, &msg, &f, &client_close) != 0) {
		char why[160];
		snprintf(why, sizeof why, "quell could not process the response: %s",
		         x->chain ? chain_error(x->chain) : "out of memory");
		respond_error(c, 502, why, 1);
		return -1;
	}
	x->close_delim = client_close;
	int keep = !x->client_close && !client_close && !c->stopping;
	struct evbuffer *out = c->head;
	add_status_line(out, x->client_minor, h->status, h->reason, h->reason_len);
	headers_write(rh, out);
	if (x->add) {
		consent_response(rh, x->add); /* the origin's own consent cookie wins */
		headers_write(x->add, out);
	}
	if (c->cfg->via)
		add_text(out, "Via: 1.1 quell\r\n");
	add_text(out, !keep ? "Connection: close\r\n\r\n" :
	              x->client_minor == 0 ? "Connection: keep-alive\r\n\r\n" : "\r\n");
	x->client_close = !keep;
	x->bytes_out += evbuffer_get_length(out);
	evbuffer_add_buffer(bufferevent_get_output(c->client), out);
	return 0;
}

/* Forwards an interim response (100, 103) to an HTTP/1.1 client. */
static void interim(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	if (x->client_minor == 0)
		return;
	struct evbuffer *out = bufferevent_get_output(c->client);
	evbuffer_add_printf(out, "HTTP/1.1 %d %.*s\r\n", h->status, (int)h->reason_len, h->reason);
	for (int i = 0; i < h->n_headers; i++)
		if (!http1_is_hop_field(h, i))
			evbuffer_add_printf(out, "%.*s: %.*s\r\n", (int)h->headers[i].name_len,
			                    h->headers[i].name, (int)h->headers[i].value_len,
			                    h->headers[i].value);
	evbuffer_add(out, "\r\n", 2);
	push(c->client);
}

/* The origin switched protocols: forward the 101 and become a tunnel. */
static void switch_protocols(struct conn *c, const struct http1_head *h, struct headers *rh)
{
	struct exchange *x = c->x;
	struct evbuffer *out = bufferevent_get_output(c->client);
	int i = http1_find_header(h, "Upgrade", 0);
	evbuffer_add_printf(out, "HTTP/1.1 101 %.*s\r\n", (int)h->reason_len, h->reason);
	headers_write(rh, out);
	if (i >= 0)
		evbuffer_add_printf(out, "Connection: Upgrade\r\nUpgrade: %.*s\r\n",
		                    (int)h->headers[i].value_len, h->headers[i].value);
	evbuffer_add(out, "\r\n", 2);
	x->status = 101;
	bufferevent_setcb(upstream_bev(x->up), NULL, NULL, NULL, NULL);
	start_tunnel(c);
}

/* 1 when the body of the response h (whose chain is open) may be waiting
 * in the origin's socket beyond what was read with the head.  libevent
 * reads at most 4 KiB a call (EVBUFFER_MAX_READ), so a head and body sent
 * together are mostly still there: taking them before the first relay
 * gives the chain the body in one piece, and the client head and body in
 * one write (120 KB page: one FIONREAD, one read and one write to the
 * client fewer a response).  A Content-Length body already in hand is
 * not waited for (no read that would only say EAGAIN). */
static ssize_t slurp(struct conn *c, struct bufferevent *bev);

static int body_waits(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	if (c->tls || http1_response_body(h, x->method, strlen(x->method)) == HTTP1_BODY_NONE)
		return 0;
	int64_t left = chain_remaining(x->chain);
	return left < 0 || (uint64_t)left > evbuffer_get_length(bufferevent_get_input(upstream_bev(x->up)));
}

/* Handles a complete response head.  Returns 1 to keep parsing (an interim
 * response was forwarded), 0 otherwise. */
static int on_response_head(struct conn *c, const struct http1_head *h)
{
	struct exchange *x = c->x;
	struct headers *rh = headers_new();
	if (!rh || headers_from_head(rh, h, 1) != 0) {
		headers_free(rh);
		respond_error(c, 502, "quell is out of memory.", 1);
		return 0;
	}
	if (h->status == 101 && x->upgrade) {
		switch_protocols(c, h, rh);
		headers_free(rh);
		return 0;
	}
	if (h->status >= 100 && h->status < 200) {
		headers_free(rh);
		if (h->status == 101) {
			respond_error(c, 502, "The origin switched protocols without being asked to.", 1);
			return 0;
		}
		interim(c, h);
		http1_parser_reset(c->resp_parser);
		return 1;
	}
	x->status = h->status;
	int rc = start_response(c, h, rh);
	headers_free(rh);
	if (rc != 0)
		return 0;
	struct timeval io = ms_tv(c->cfg->io_timeout_ms);
	bufferevent_set_timeouts(upstream_bev(x->up), &io, &io);
	x->resp = RESP_BODY;
	int more = body_waits(c, h);
	http1_parser_reset(c->resp_parser);
	if (more && slurp(c, upstream_bev(x->up)) < 0) {
		abort_response(c, "the origin's connection failed");
		return 0;
	}
	relay_response(c, 0);
	return 0;
}

/* Feeds the origin's bytes to the response parser. */
static void read_response_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(upstream_bev(c->x->up));
	for (int rounds = 0; rounds < 64 && evbuffer_get_length(in); rounds++) {
		struct evbuffer_iovec v;
		size_t used;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		int r = http1_parse(c->resp_parser, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (r == HTTP1_NEED_MORE)
			continue;
		if (r == HTTP1_ERROR) {
			const char *reason;
			char why[600];
			http1_parser_error(c->resp_parser, &reason);
			snprintf(why, sizeof why, "The origin %s sent an invalid response: %s.",
			         c->x->host, reason);
			c->x->resp_close = 1;
			respond_error(c, 502, why, 1);
			return;
		}
		if (!on_response_head(c, http1_parser_head(c->resp_parser)))
			return;
	}
}

/* Reads a plain socket in large pieces (sockio.h), bounded by conn_buffer.
 * Returns sockio_slurp's result. */
static ssize_t slurp(struct conn *c, struct bufferevent *bev)
{
	size_t have = evbuffer_get_length(bufferevent_get_input(bev));
	if (c->tls || have >= c->cfg->conn_buffer)
		return 0;
	size_t room = c->cfg->conn_buffer - have;
	/* A Content-Length body: no more than the origin still owes, so a
	 * 120 KB page does not reserve (and fault in) a 256 KiB chain. */
	int64_t left = c->x && c->x->chain ? chain_remaining(c->x->chain) : -1;
	if (left >= 0 && (uint64_t)left > have && (uint64_t)left - have < room)
		room = (size_t)left - have;
	return sockio_slurp(bev, room);
}

static void up_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->x->resp == RESP_HEAD)
		read_response_head(c);
	else if (c->x->resp == RESP_BODY && !c->paused_up) {
		if (slurp(c, bev) < 0) {
			abort_response(c, "the origin's connection failed");
			return;
		}
		relay_response(c, 0);
	}
}

/* The origin's output drained below the mark: resume the request body. */
static void up_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (!c->paused_client)
		return;
	c->paused_client = 0;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->client, EV_READ);
	relay_request(c);
}

/* A pooled connection the origin had closed meanwhile: send the request
 * again on another connection.  Only for requests without a body, twice at
 * most.  Returns 1 when retried. */
static int retry(struct conn *c)
{
	struct exchange *x = c->x;
	if (!upstream_reused(x->up) || x->retried >= 2 || x->req_body ||
	    evbuffer_get_length(bufferevent_get_input(upstream_bev(x->up))))
		return 0;
	x->retried++;
	upstream_release(x->up, 0);
	x->up = NULL;
	go_upstream(c);
	return 1;
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct exchange *x = c->x;
	char why[600];
	int timeout = what & BEV_EVENT_TIMEOUT;
	if (x->resp == RESP_BODY) {
		if (what & BEV_EVENT_EOF) {
			/* what is left is at most the read watermark: move it now */
			x->resp_close = 1;
			relay_response(c, 1);
			return;
		}
		abort_response(c, timeout ? "no data from the origin within io_timeout"
		                          : "the origin's connection failed");
		return;
	}
	if (!timeout && retry(c))
		return;
	if (timeout)
		snprintf(why, sizeof why, "The origin %s did not answer within %ld seconds.",
		         x->host, (what & BEV_EVENT_READING ? c->cfg->first_byte_timeout_ms
		                                            : c->cfg->io_timeout_ms) / 1000);
	else
		snprintf(why, sizeof why, "The origin %s closed the connection without answering.",
		         x->host);
	log_msg(LOG_INFO, "%s %s %s: %s", c->peer_text, x->method, x->url, why);
	x->resp_close = 1;
	respond_error(c, timeout ? 504 : 502, why, 0);
}

/* ---- the client side -------------------------------------------------------------- */

/* Parses what the client sent as a request head. */
static void read_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->client);
	int got = evbuffer_get_length(in) > 0;
	for (int rounds = 0; rounds < 64 && evbuffer_get_length(in); rounds++) {
		struct evbuffer_iovec v;
		size_t used;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		int r = http1_parse(c->req_parser, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		if (r == HTTP1_NEED_MORE)
			continue;
		if (!exchange_new(c)) {
			close_after_flush(c);
			return;
		}
		if (r == HTTP1_ERROR) {
			const char *reason;
			int status = http1_parser_error(c->req_parser, &reason);
			c->x->method = strdup("-");
			log_msg(LOG_INFO, "%s: bad request: %s", c->peer_text, reason);
			respond_error(c, status, reason, 1);
			return;
		}
		handle_request(c, http1_parser_head(c->req_parser));
		return;
	}
	/* Incomplete: from its first byte on, the head has header_timeout to
	 * arrive (a head that arrives whole, the usual case, arms no timer). */
	if (!c->head_started && got) {
		struct timeval tv = ms_tv(c->cfg->header_timeout_ms);
		c->head_started = 1;
		evtimer_add(c->timer, &tv);
	}
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->state == CONN_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);
		c->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, (size_t)-1);
		if (c->lingered > LINGER_BYTES)
			conn_destroy(c);
	} else if (c->state == CONN_HEAD)
		read_head(c);
	else if (c->state == CONN_PEEK)
		peek(c);
	else if (c->state == CONN_EXCHANGE && !c->x->req_done) {
		if (!c->paused_client && slurp(c, bev) < 0) {
			snprintf(c->x->verdict, sizeof c->x->verdict, "client-gone");
			conn_destroy(c);
			return;
		}
		relay_request(c);
	}
}

/* The client's output drained to the low watermark: finish closing, or
 * resume reading the origin. */
static void client_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->state == CONN_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			linger(c);
		return;
	}
	if (!c->paused_up || c->state != CONN_EXCHANGE)
		return;
	c->paused_up = 0;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(upstream_bev(c->x->up), EV_READ);
	relay_response(c, 0);
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct exchange *x = c->x;
	if (what & BEV_EVENT_CONNECTED) {   /* the client's TLS handshake completed */
		c->tls_ready = 1;
		return;
	}
	if (c->tls && !c->tls_ready) {
		log_msg(LOG_INFO, "%s: TLS handshake for %s failed (client rejected quell's certificate?)",
		        c->peer_text, c->tls_host);
		tls_client_handshake_failed(conn_tls, c->tls_host);
		conn_destroy(c);
		return;
	}
	if (c->state == CONN_LINGER) {
		conn_destroy(c);
		return;
	}
	/* An EOF while reading is a half-close; while writing (TLS: the
	 * client's socket is gone) it is the end, like an error. */
	if ((what & BEV_EVENT_EOF) && !(what & (BEV_EVENT_ERROR | BEV_EVENT_WRITING))) {
		/* A half-close after a complete request still wants its answer. */
		if (c->state == CONN_HEAD || c->state == CONN_CLOSING || c->state == CONN_LOCAL ||
		    c->state == CONN_PEEK) {
			close_after_flush(c);
			return;
		}
		if (x && x->req_done) {
			x->client_close = 1;
			return;
		}
	}
	if (x && !x->verdict[0])
		snprintf(x->verdict, sizeof x->verdict, "client-gone");
	conn_destroy(c);
}

/* The head timer: an idle keep-alive connection closes quietly; a head
 * that is still incomplete gets a 408 (slowloris). */
static void head_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->state == CONN_PEEK) {        /* nothing after CONNECT: give up */
		close_after_flush(c);
		return;
	}
	if (c->state != CONN_HEAD)
		return;
	if (!c->head_started) {
		close_after_flush(c);
		return;
	}
	if (!exchange_new(c)) {
		close_after_flush(c);
		return;
	}
	c->x->method = strdup("-");
	log_msg(LOG_INFO, "%s: request head not complete after %ld ms", c->peer_text,
	        c->cfg->header_timeout_ms);
	respond_error(c, 408, "The request head did not arrive in time.", 1);
}

/* Waits for the next request head (also the first). */
static void enter_head(struct conn *c)
{
	struct timeval tv = ms_tv(c->served ? c->cfg->keepalive_timeout_ms : c->cfg->header_timeout_ms);
	c->state = CONN_HEAD;
	c->head_started = 0;
	http1_parser_reset(c->req_parser);
	if (c->stopping) {
		close_after_flush(c);
		return;
	}
	evtimer_add(c->timer, &tv);
	client_timeouts(c);
	bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
	/* EV_WRITE stays enabled from the start: enabling it again would arm a
	 * write event (a syscall and a wake-up) with nothing to write. */
	bufferevent_enable(c->client, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->client)))
		bufferevent_trigger(c->client, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- accepting and stopping ---------------------------------------------------- */

static void peer_text(struct conn *c)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (c->peer.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&c->peer;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
		port = ntohs(s->sin6_port);
	} else if (c->peer.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&c->peer;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
		port = ntohs(s->sin_port);
	}
	snprintf(c->peer_ip, sizeof c->peer_ip, "%s", ip);
	snprintf(c->peer_text, sizeof c->peer_text, "%s:%d", ip, port);
}

/* A client outside the allow list: one 403 and close, nothing parsed. */
static void deny(struct conn *c)
{
	stats_add(c->stats, STATS_DENIED, 1);
	log_msg(LOG_WARN, "%s: denied: not in any allow line", c->peer_text);
	if (exchange_new(c)) {
		c->x->method = strdup("-");
		snprintf(c->x->verdict, sizeof c->x->verdict, "denied");
	}
	respond_error(c, 403, "This address may not use this proxy (config allow).", 1);
}

static struct conn *conn_new(struct worker *w, struct conn_list *list, evutil_socket_t fd)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->magic = CONN_MAGIC;
	c->w = w;
	c->wc = worker_current_config(w);
	c->cfg = worker_config_cfg(c->wc);
	c->stats = worker_stats(w);
	c->list = list;
	c->next = list->head;
	if (list->head)
		list->head->prev = c;
	list->head = c;
	list->count++;
	stats_add(c->stats, STATS_ACTIVE, 1);
	stats_add(c->stats, STATS_CONNECTIONS, 1);
	c->client = bufferevent_socket_new(worker_base(w), fd,
	                                   BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	c->timer = evtimer_new(worker_base(w), head_timeout, c);
	c->head = evbuffer_new();
	size_t head = c->cfg->max_request_head * 2;
	c->req_parser = http1_parser_new(HTTP1_REQUEST, c->cfg->max_request_head, c->cfg->max_headers);
	c->resp_parser = http1_parser_new(HTTP1_RESPONSE, head < 65536 ? 65536 : head,
	                                  c->cfg->max_headers * 2);
	return c;
}

struct conn *conn_accept(struct worker *w, struct conn_list *list, evutil_socket_t fd,
                         const struct sockaddr *client, socklen_t client_len)
{
	struct conn *c = conn_new(w, list, fd);
	if (!c) {
		evutil_closesocket(fd);
		return NULL;
	}
	if (!c->client || !c->timer || !c->head || !c->req_parser || !c->resp_parser) {
		if (!c->client)
			evutil_closesocket(fd);
		conn_destroy(c);
		return NULL;
	}
	memcpy(&c->peer, client, client_len < sizeof c->peer ? client_len : sizeof c->peer);
	c->peer_len = client_len;
	peer_text(c);
	c->fd = fd;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	size_t high = c->cfg->conn_buffer;
	if (high <= c->cfg->max_request_head)
		high = c->cfg->max_request_head + 1;
	bufferevent_setcb(c->client, client_read, client_write, client_event, c);
	bufferevent_setwatermark(c->client, EV_READ, 0, high);
	bufferevent_set_max_single_read(c->client, c->cfg->conn_buffer);
	bufferevent_set_max_single_write(c->client, c->cfg->conn_buffer);
	if (!acl_allowed(c->cfg, client)) {
		deny(c);
		return c;
	}
	enter_head(c);
	return c;
}

void conn_stop_all(struct conn_list *list)
{
	struct conn *c = list->head, *next;
	for (; c; c = next) {
		next = c->next;
		c->stopping = 1;
		if (c->state == CONN_LINGER || c->state == CONN_PEEK)
			conn_destroy(c);
		else if (c->state == CONN_HEAD && !c->head_started)
			close_after_flush(c);
	}
}

void conn_free_all(struct conn_list *list)
{
	while (list->head)
		conn_destroy(list->head);
}
