/*
 * worker: worker threads, listeners, signals' effects (see worker.h).
 *
 * Cross-thread messages (stop, a new configuration) are atomics plus one
 * byte written to the worker's wake-up pipe, read by its own loop.  So the
 * event_bases are built without locks (EVENT_BASE_FLAG_NOLOCK, and no
 * evthread_use_pthreads()): libevent takes no mutex on the request path.
 * Nothing else is shared.
 */
#include "proxy/worker.h"
#include "proxy/config.h"
#include "proxy/conn.h"
#include "proxy/dns.h"
#include "proxy/log.h"
#include "proxy/stats.h"
#include "proxy/upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKER_MAGIC 0x574f524bu    /* "WORK" */

struct worker_config {
	struct config cfg;
	_Atomic int refs;
};

struct worker {
	unsigned magic;
	int id;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct evconnlistener *lis[CONFIG_MAX_LISTEN];
	int n_lis;
	struct upstream_pool *pool;
	struct dns *dns;
	struct stats *stats;
	struct conn_list conns;
	struct worker_config *wc;                 /* current; owned reference */
	struct worker_config *_Atomic pending;    /* from worker_group_reload */
	_Atomic int stop_req;
	_Atomic long grace_ms;
	struct event *wake;
	int wake_fd[2];                           /* pipe: main thread -> worker */
	struct event *grace;
	int stopping;
	int max_conns;
	int paused;                               /* accepting paused (max_connections) */
};

struct worker_group {
	struct worker *w;
	int n;
};

/* ---- shared configurations --------------------------------------------------- */

struct worker_config *worker_config_new(struct config *cfg)
{
	struct worker_config *wc = malloc(sizeof *wc);
	if (!wc)
		return NULL;
	wc->cfg = *cfg;                 /* the struct moves; its pointers now belong to wc */
	atomic_init(&wc->refs, 1);
	return wc;
}

struct worker_config *worker_config_get(struct worker_config *wc)
{
	atomic_fetch_add(&wc->refs, 1);
	return wc;
}

void worker_config_put(struct worker_config *wc)
{
	if (wc && atomic_fetch_sub(&wc->refs, 1) == 1) {
		config_free(&wc->cfg);
		free(wc);
	}
}

const struct config *worker_config_cfg(const struct worker_config *wc) { return &wc->cfg; }

/* ---- accessors for connections ------------------------------------------------- */

struct event_base *worker_base(struct worker *w) { return w->base; }
struct upstream_pool *worker_pool(struct worker *w) { return w->pool; }
struct stats *worker_stats(struct worker *w) { return w->stats; }
struct worker_config *worker_current_config(struct worker *w) { return worker_config_get(w->wc); }
int worker_stopping(const struct worker *w) { return w->stopping; }

static void listeners_enable(struct worker *w, int on)
{
	for (int i = 0; i < w->n_lis; i++)
		if (on)
			evconnlistener_enable(w->lis[i]);
		else
			evconnlistener_disable(w->lis[i]);
	w->paused = !on;
}

void worker_conn_closed(struct worker *w)
{
	if (w->stopping) {
		if (w->conns.count == 0)
			event_base_loopexit(w->base, NULL);
		return;
	}
	if (w->paused && w->conns.count < w->max_conns)
		listeners_enable(w, 1);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int len, void *arg)
{
	struct worker *w = arg;
	conn_accept(w, &w->conns, fd, sa, (socklen_t)len);
	if (w->conns.count >= w->max_conns && !w->paused) {
		log_msg(LOG_WARN, "worker %d: %d connections: accepting paused (max_connections)",
		        w->id, w->conns.count);
		listeners_enable(w, 0);
	}
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	if (!w->stopping && w->conns.count < w->max_conns)
		listeners_enable(w, 1);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct worker *w = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, 200000 };
	/* EMFILE and friends: stop accepting for a moment rather than spin. */
	log_msg(LOG_WARN, "worker %d: accept: %s", w->id, evutil_socket_error_to_string(err));
	if (!w->paused && !w->stopping) {
		listeners_enable(w, 0);
		event_base_once(w->base, -1, EV_TIMEOUT, resume_accept, w, &tv);
	}
}

/* ---- messages from the main thread --------------------------------------------- */

static void grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	if (w->conns.count)
		log_msg(LOG_INFO, "worker %d: closing %d connections at the end of the grace period",
		        w->id, w->conns.count);
	conn_free_all(&w->conns);
	event_base_loopexit(w->base, NULL);
}

static void begin_stop(struct worker *w)
{
	long ms = atomic_load(&w->grace_ms);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	w->stopping = 1;
	for (int i = 0; i < w->n_lis; i++)
		evconnlistener_free(w->lis[i]);
	w->n_lis = 0;
	upstream_pool_flush(w->pool);
	conn_stop_all(&w->conns);
	if (w->conns.count == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	w->grace = evtimer_new(w->base, grace_over, w);
	if (!w->grace) {
		grace_over(-1, 0, w);
		return;
	}
	evtimer_add(w->grace, &tv);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[64];
	while (read(fd, buf, sizeof buf) > 0)
		;
	struct worker_config *wc = atomic_exchange(&w->pending, NULL);
	if (wc) {
		worker_config_put(w->wc);
		w->wc = wc;
	}
	if (atomic_load(&w->stop_req) && !w->stopping)
		begin_stop(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	/* Connections and the resolver go on this thread, with one more pass
	 * of the loop so evdns can release what its cancelled queries held. */
	conn_free_all(&w->conns);
	upstream_pool_flush(w->pool);
	dns_free(w->dns);
	w->dns = NULL;
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	return NULL;
}

/* ---- the group ----------------------------------------------------------------- */

/* Sets up worker i: base, listeners, pool.  0, or -1 with err. */
static int worker_init(struct worker *w, int id, struct worker_config *wc, int n,
                       char *err, size_t errlen)
{
	const struct config *cfg = worker_config_cfg(wc);
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
	                 LEV_OPT_CLOSE_ON_EXEC;
	w->magic = WORKER_MAGIC;
	w->id = id;
	w->wake_fd[0] = w->wake_fd[1] = -1;
	w->wc = worker_config_get(wc);
	w->max_conns = (cfg->max_connections + n - 1) / n;
	if (w->max_conns < 1)
		w->max_conns = 1;
	struct event_config *ec = event_config_new();
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	w->stats = stats_new();
	if (!w->base) {
		snprintf(err, errlen, "worker %d: out of memory", id);
		return -1;
	}
	w->dns = dns_new(w->base, cfg->resolver, cfg->dns_cache_size);
	if (!w->dns) {
		snprintf(err, errlen, "cannot set up DNS (resolver %s)",
		         cfg->resolver ? cfg->resolver : "from /etc/resolv.conf");
		return -1;
	}
	w->pool = upstream_pool_new(w->base, w->dns, w->stats);
	if (pipe2(w->wake_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errlen, "worker %d: pipe: %s", id, strerror(errno));
		return -1;
	}
	w->wake = event_new(w->base, w->wake_fd[0], EV_READ | EV_PERSIST, on_wake, w);
	if (!w->pool || !w->wake) {
		snprintf(err, errlen, "worker %d: out of memory", id);
		return -1;
	}
	event_add(w->wake, NULL);
	for (int i = 0; i < cfg->n_listen; i++) {
		const struct config_addr *a = &cfg->listen[i];
		w->lis[i] = evconnlistener_new_bind(w->base, on_accept, w, flags, 1024,
		                                    (const struct sockaddr *)&a->ss, (int)a->len);
		if (!w->lis[i]) {
			snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(w->lis[i], on_accept_error);
		w->n_lis++;
	}
	return 0;
}

static void worker_fini(struct worker *w)
{
	conn_free_all(&w->conns);
	for (int i = 0; i < w->n_lis; i++)
		evconnlistener_free(w->lis[i]);
	upstream_pool_free(w->pool);
	dns_free(w->dns);
	if (w->wake)
		event_free(w->wake);
	if (w->grace)
		event_free(w->grace);
	for (int i = 0; i < 2; i++)
		if (w->wake_fd[i] >= 0)
			close(w->wake_fd[i]);
	if (w->base)
		event_base_free(w->base);
	worker_config_put(atomic_exchange(&w->pending, NULL));
	worker_config_put(w->wc);
	w->magic = 0;
}

/* Wakes worker w up to read its messages. */
static void wake(struct worker *w)
{
	ssize_t n = write(w->wake_fd[1], "", 1);
	(void)n;                  /* a full pipe already holds a wake-up */
}

static void group_free(struct worker_group *g)
{
	for (int i = 0; i < g->n; i++)
		worker_fini(&g->w[i]);
	free(g->w);
	free(g);
}

struct worker_group *worker_group_start(struct worker_config *wc, char *err, size_t errlen)
{
	const struct config *cfg = worker_config_cfg(wc);
	int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	struct worker_group *g = calloc(1, sizeof *g);
	if (n < 1)
		n = 1;
	if (!g || !(g->w = calloc((size_t)n, sizeof *g->w))) {
		free(g);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (g->n = 0; g->n < n; g->n++)
		if (worker_init(&g->w[g->n], g->n, wc, n, err, errlen) != 0) {
			g->n++;
			group_free(g);
			return NULL;
		}
	/* Workers never take signals: the main thread handles them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < n; i++)
		g->w[i].started = pthread_create(&g->w[i].thread, NULL, worker_main, &g->w[i]) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return g;
}

void worker_group_reload(struct worker_group *g, struct worker_config *wc)
{
	for (int i = 0; i < g->n; i++) {
		worker_config_put(atomic_exchange(&g->w[i].pending, worker_config_get(wc)));
		wake(&g->w[i]);
	}
}

void worker_group_stop(struct worker_group *g, long grace_ms)
{
	for (int i = 0; i < g->n; i++) {
		atomic_store(&g->w[i].grace_ms, grace_ms);
		atomic_store(&g->w[i].stop_req, 1);
		wake(&g->w[i]);
	}
	for (int i = 0; i < g->n; i++)
		if (g->w[i].started)
			pthread_join(g->w[i].thread, NULL);
	group_free(g);
}
