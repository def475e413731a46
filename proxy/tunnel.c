/*
 * tunnel: a blind two-way relay (see tunnel.h), after libevent's
 * sample/le-proxy.c: read callbacks move whole evbuffer chains across,
 * a full output pauses the reading side, the drained output's write
 * callback resumes it.
 */
#include "proxy/tunnel.h"
#include "proxy/sockio.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/time.h>

#define TUNNEL_MAGIC 0x54554e4eu     /* "TUNN" */

struct tunnel {
	unsigned magic;
	struct bufferevent *side[2];     /* 0: client, 1: origin */
	uint64_t bytes[2];               /* read from side i (0: up, 1: down) */
	size_t buffer;
	long io_timeout_ms;
	struct timeval last;             /* last byte moved either way */
	int closing;                     /* a side closed: flushing the other */
	tunnel_done_cb done;
	void *arg;
};

static void readcb(struct bufferevent *bev, void *arg);
static void drainedcb(struct bufferevent *bev, void *arg);
static void eventcb(struct bufferevent *bev, short what, void *arg);

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	bufferevent_free(t->side[0]);
	bufferevent_free(t->side[1]);
	t->magic = 0;
	free(t);
}

static void end(struct tunnel *t, const char *why)
{
	t->done(t->bytes[0], t->bytes[1], why, t->arg);
	tunnel_free(t);
}

static int index_of(struct tunnel *t, struct bufferevent *bev)
{
	return bev == t->side[1];
}

/* Moves what side i has read to the other side; pauses side i when the
 * other side's output is over the bound. */
static void relay(struct tunnel *t, int i)
{
	struct bufferevent *src = t->side[i], *dst = t->side[!i];
	struct evbuffer *in = bufferevent_get_input(src), *out = bufferevent_get_output(dst);
	size_t n = evbuffer_get_length(in);
	if (!n)
		return;
	t->bytes[i] += n;
	event_base_gettimeofday_cached(bufferevent_get_base(src), &t->last);
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= t->buffer && !t->closing) {
		bufferevent_disable(src, EV_READ);
		bufferevent_setwatermark(dst, EV_WRITE, t->buffer / 2, 0);
		bufferevent_setcb(dst, readcb, drainedcb, eventcb, t);
	}
}

static void readcb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	int i = index_of(t, bev);
	size_t have = evbuffer_get_length(bufferevent_get_input(bev));
	/* plain sockets in large reads (sockio.h), bounded by the tunnel's buffer */
	if (!bufferevent_openssl_get_ssl(bev) && have < t->buffer &&
	    sockio_slurp(bev, t->buffer - have) < 0) {
		end(t, i ? "origin error" : "client error");
		return;
	}
	relay(t, i);
}

/* bev's output fell below the low watermark: resume the other side. */
static void drainedcb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	int i = index_of(t, bev);
	bufferevent_setcb(bev, readcb, NULL, eventcb, t);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(t->side[!i], EV_READ);
}

/* The other side closed: once bev has written everything, end. */
static void flushedcb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		end(t, "closed");
}

/* 1 when the io timeout has really passed (the other direction may have
 * moved bytes meanwhile: then the side is re-armed). */
static int expired(struct tunnel *t, struct bufferevent *bev)
{
	struct timeval now, d;
	event_base_gettimeofday_cached(bufferevent_get_base(bev), &now);
	timersub(&now, &t->last, &d);
	if (d.tv_sec * 1000L + d.tv_usec / 1000 >= t->io_timeout_ms)
		return 1;
	bufferevent_enable(bev, EV_READ);
	return 0;
}

static void eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;
	int i = index_of(t, bev);
	if ((what & BEV_EVENT_TIMEOUT) && !expired(t, bev))
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		end(t, "timeout");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		end(t, i ? "origin error" : "client error");
		return;
	}
	/* EOF: deliver what this side sent, then close once it is written. */
	relay(t, i);
	struct bufferevent *dst = t->side[!i];
	t->closing = 1;
	bufferevent_disable(bev, EV_READ);
	bufferevent_disable(dst, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
		end(t, "closed");
		return;
	}
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
	bufferevent_setcb(dst, NULL, flushedcb, eventcb, t);
	bufferevent_enable(dst, EV_WRITE);
}

struct tunnel *tunnel_start(struct bufferevent *client, struct bufferevent *origin,
                            size_t buffer, long io_timeout_ms,
                            tunnel_done_cb done, void *arg)
{
	struct tunnel *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	*t = (struct tunnel){ .magic = TUNNEL_MAGIC, .side = { client, origin },
	                      .buffer = buffer ? buffer : 65536, .io_timeout_ms = io_timeout_ms,
	                      .done = done, .arg = arg };
	struct timeval tv = { io_timeout_ms / 1000, (io_timeout_ms % 1000) * 1000 };
	event_base_gettimeofday_cached(bufferevent_get_base(client), &t->last);
	for (int i = 0; i < 2; i++) {
		bufferevent_setcb(t->side[i], readcb, NULL, eventcb, t);
		bufferevent_setwatermark(t->side[i], EV_READ | EV_WRITE, 0, 0);
		sockio_set_io_max(t->side[i], t->buffer);
		bufferevent_set_timeouts(t->side[i], &tv, NULL);
		bufferevent_enable(t->side[i], EV_READ | EV_WRITE);
	}
	relay(t, 0);
	relay(t, 1);
	return t;
}
