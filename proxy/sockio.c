/*
 * sockio: large reads into a socket bufferevent's input, writes without
 * waiting for the loop (see sockio.h).
 */
#include "proxy/sockio.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/uio.h>

ssize_t sockio_slurp(struct bufferevent *bev, size_t room)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	struct iovec io[2];
	if (room == 0)
		return 0;
	evbuffer_unfreeze(in, 0);
	int n = evbuffer_reserve_space(in, (ev_ssize_t)room, v, 2);
	size_t want = room;              /* reserve_space may give more than asked */
	for (int i = 0; i < n; i++) {
		size_t len = v[i].iov_len < want ? v[i].iov_len : want;
		io[i] = (struct iovec){ v[i].iov_base, len };
		want -= len;
	}
	ssize_t r = n > 0 ? readv(bufferevent_getfd(bev), io, n) : 0;
	int err = errno;
	ssize_t left = r;
	for (int i = 0; i < n; i++) {
		size_t take = left <= 0 ? 0 : (size_t)left < v[i].iov_len ? (size_t)left : v[i].iov_len;
		v[i].iov_len = take;
		left -= (ssize_t)take;
	}
	if (n > 0)
		evbuffer_commit_space(in, v, n);
	evbuffer_freeze(in, 0);
	if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
		return 0;
	errno = err;
	return r < 0 ? -1 : r;
}

/* libevent has no call that makes a TLS bufferevent write now
 * (bufferevent_flush is a no-op for it, bufferevent_enable only arms
 * EV_WRITE).  Its write handler is the callback of the bufferevent's
 * ev_write event (struct bufferevent is public in bufferevent_struct.h,
 * stable across 2.1): run it here as the loop would on a writable socket.
 * Once the handshake is done that handler is libevent's "write what the
 * output holds"; before it, it would step the handshake, so it is not used
 * then.  With the epoll changelist, the EV_WRITE that adding to the output
 * armed and the disarm after the write cancel out: no epoll_ctl at all. */
static void push_tls(struct bufferevent *bev, SSL *ssl)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	size_t len = evbuffer_get_length(out);
	evutil_socket_t fd = bufferevent_getfd(bev);
	if (!SSL_is_init_finished(ssl) || bufferevent_get_underlying(bev) || fd < 0) {
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	size_t join = len < SOCKIO_RECORD ? len : SOCKIO_RECORD;
	struct evbuffer_iovec first;
	if (evbuffer_peek(out, -1, NULL, &first, 1) >= 1 && first.iov_len < join)
		evbuffer_pullup(out, (ev_ssize_t)join);
	if (!(bufferevent_get_enabled(bev) & EV_WRITE))
		bufferevent_enable(bev, EV_WRITE);
	event_callback_fn write_handler = event_get_callback(&bev->ev_write);
	write_handler(fd, EV_WRITE, event_get_callback_arg(&bev->ev_write));
}

void sockio_push(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	if (!evbuffer_get_length(out))
		return;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	if (ssl) {
		push_tls(bev, ssl);
		return;
	}
	/* Most messages fit the socket buffer at once.  A socket
	 * bufferevent keeps its output's front frozen; its own write path
	 * unfreezes it the same way around the write. */
	bufferevent_disable(bev, EV_WRITE);
	evbuffer_unfreeze(out, 1);
	evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out))
		bufferevent_enable(bev, EV_WRITE);
}

void sockio_set_io_max(struct bufferevent *bev, size_t max)
{
	size_t rmax = bufferevent_openssl_get_ssl(bev) && max > SOCKIO_RECORD ? SOCKIO_RECORD : max;
	bufferevent_set_max_single_read(bev, (ev_ssize_t)rmax);
	bufferevent_set_max_single_write(bev, (ev_ssize_t)max);
}
