/*
 * sockio: large reads into a socket bufferevent's input (see sockio.h).
 */
#include "proxy/sockio.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
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
