/* Unit tests for proxy/sockio: large reads bounded by room, nothing to
 * read, EOF, and the input stays frozen for its users afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/sockio.h"

struct pair {
	struct event_base *base;
	struct bufferevent *bev;
	int peer;
};

static struct pair make_pair(void)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int big = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	struct pair p = { event_base_new(), NULL, sv[1] };
	p.bev = bufferevent_socket_new(p.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(p.bev);
	return p;
}

static void free_pair(struct pair *p)
{
	bufferevent_free(p->bev);
	if (p->peer >= 0)
		close(p->peer);
	event_base_free(p->base);
}

static void test_reads_large_pieces_bounded(void **state)
{
	struct pair p = make_pair();
	static char data[100000];
	memset(data, 'q', sizeof data);
	assert_int_equal(write(p.peer, data, sizeof data), (ssize_t)sizeof data);
	struct evbuffer *in = bufferevent_get_input(p.bev);
	ssize_t n = sockio_slurp(p.bev, 60000);
	assert_int_equal(n, 60000);                         /* more than libevent's 4 KiB */
	assert_int_equal(evbuffer_get_length(in), 60000);
	assert_int_equal(sockio_slurp(p.bev, 0), 0);       /* no room */
	assert_int_equal(sockio_slurp(p.bev, 1 << 20), 40000);
	assert_int_equal(sockio_slurp(p.bev, 1 << 20), 0); /* nothing left: EAGAIN */
	assert_int_equal(evbuffer_get_length(in), sizeof data);
	/* the input's end is frozen again: users cannot append */
	assert_int_equal(evbuffer_add(in, "x", 1), -1);
	free_pair(&p);
}

static void test_eof_is_zero(void **state)
{
	struct pair p = make_pair();
	assert_int_equal(write(p.peer, "abc", 3), 3);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(sockio_slurp(p.bev, 100), 3);
	assert_int_equal(sockio_slurp(p.bev, 100), 0);     /* EOF: left for libevent */
	free_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_large_pieces_bounded),
		cmocka_unit_test(test_eof_is_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
