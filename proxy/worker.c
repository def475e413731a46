/*
 * worker: worker threads, listeners, signals' effects (see worker.h).
 *
 * Cross-thread messages go through a small queue per worker (its mutex is
 * held only to link or unlink a message, never on the request path), plus
 * one byte written to the worker's wake-up pipe, read by its own loop.  So
 * the event_bases are built without locks (EVENT_BASE_FLAG_NOLOCK, and no
 * evthread_use_pthreads()): libevent takes no mutex on the request path.
 *
 * A reload is prepared on the main thread, where everything that can fail
 * happens (binding the new listen addresses for every worker, building and
 * starting new workers), and only then committed: each running worker gets
 * one message with the new configuration and, per listen address, the index
 * of a listener it already has or a socket bound for it.  A worker applies
 * its messages in order, so an index always refers to the listeners the
 * previous message left it.  Surplus workers are retired like a stopping
 * process; the main loop joins them when they are done (a timer polls with
 * pthread_tryjoin_np: a retiring worker may take shutdown_grace).
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
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WORKER_MAGIC 0x574f524bu    /* "WORK" */
#define WORKER_BACKLOG 1024
#define WORKER_MAX 256              /* = STATS_MAX_WORKERS: one counter set each */
#define WORKER_SETTLE_MS 1000       /* a retiring worker's fresh connections get this
                                     * long to send a request before idle ones close */
#define WORKER_REAP_MS 100          /* how often the main loop looks for retired workers */
#define WORKER_ACK_MS 5000          /* a reload waits this long for the workers to apply it */

enum { STOP_NONE, STOP_EXIT, STOP_RETIRE };

struct worker_config {
	struct config cfg;
	_Atomic int refs;
};

/* A reload, for one worker (see the top of the file). */
struct worker_msg {
	struct worker_msg *next;
	unsigned gen;                        /* acknowledged when applied */
	struct worker_config *wc;            /* owned reference */
	int max_conns;
	int n_lis;
	int keep[CONFIG_MAX_LISTEN];         /* the worker's listener to keep, or -1 */
	int fd[CONFIG_MAX_LISTEN];           /* keep -1: a listening socket to adopt */
};

struct worker {
	unsigned magic;
	int id;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct evconnlistener *lis[CONFIG_MAX_LISTEN];   /* entries may be NULL (ENOMEM) */
	int n_lis;
	struct upstream_pool *pool;
	struct dns *dns;
	struct stats *stats;
	struct conn_list conns;
	struct worker_config *wc;                 /* current; owned reference */
	pthread_mutex_t mq_lock;                  /* guards mq_head/mq_tail only */
	struct worker_msg *mq_head, *mq_tail;     /* from worker_group_reload */
	_Atomic int stop_req;                     /* STOP_* */
	_Atomic unsigned stop_gen;                /* acknowledged once listeners are closed */
	struct worker_group *g;
	unsigned acked;                           /* last reload applied (g->ack_lock) */
	_Atomic long grace_ms;
	struct event *wake;
	int wake_fd[2];                           /* pipe: main thread -> worker */
	struct event *grace;
	struct event *settle;
	int stopping;
	int max_conns;
	int paused;                               /* accepting paused (max_connections) */
	struct worker *next_retired;              /* in the group's retiring list */
};

struct worker_group {
	struct worker **w;                        /* running workers, w[0..n) */
	int n;
	struct worker *retiring;                  /* stopping, not yet joined */
	struct config_addr addr[CONFIG_MAX_LISTEN];   /* what w[i]->lis[] listen on */
	int n_addr;
	int next_id;
	struct stats *spare[WORKER_MAX];          /* counter sets of joined workers */
	int n_spare;
	struct event *reap;                       /* on the main loop */
	pthread_mutex_t ack_lock;                 /* workers acknowledging a reload */
	pthread_cond_t ack_cond;
	unsigned gen;                             /* reloads so far */
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
		if (w->lis[i] && on)
			evconnlistener_enable(w->lis[i]);
		else if (w->lis[i])
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

/* Wraps a bound, listening socket for w's loop (fd is consumed either way).
 * Returns the listener, or NULL (logged). */
static struct evconnlistener *listener_adopt(struct worker *w, int fd)
{
	struct evconnlistener *l = evconnlistener_new(w->base, on_accept, w,
	                                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
	                                              0, fd);
	if (!l) {
		log_msg(LOG_ERROR, "worker %d: out of memory for a listener", w->id);
		close(fd);
		return NULL;
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	return l;
}

/* Closes l after accepting what its queue already holds: with SO_REUSEPORT
 * every worker's socket has its own queue, and closing one resets the
 * connections the kernel has already handed to it.  Bounded by the backlog. */
static void listener_close(struct worker *w, struct evconnlistener *l)
{
	evutil_socket_t fd = evconnlistener_get_fd(l);
	evconnlistener_disable(l);
	for (int i = 0; i < WORKER_BACKLOG; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			break;
		conn_accept(w, &w->conns, c, (struct sockaddr *)&ss, len);
	}
	evconnlistener_free(l);
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

static void settle_over(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	conn_stop_all(&w->conns);
	if (w->conns.count == 0)
		event_base_loopexit(w->base, NULL);
}

/* Stops accepting and lets the connections finish.  A retiring worker
 * (the process goes on) first leaves its newest connections settle_ms to
 * send their request, since their clients did nothing wrong; a stopping
 * process closes the idle ones at once. */
static void begin_stop(struct worker *w, long settle_ms)
{
	long ms = atomic_load(&w->grace_ms);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct timeval st = { settle_ms / 1000, (settle_ms % 1000) * 1000 };
	w->stopping = 1;
	for (int i = 0; i < w->n_lis; i++)
		if (w->lis[i])
			listener_close(w, w->lis[i]);
	w->n_lis = 0;
	upstream_pool_flush(w->pool);
	if (settle_ms <= 0 || settle_ms >= ms || !(w->settle = evtimer_new(w->base, settle_over, w)))
		conn_stop_all(&w->conns);
	else
		evtimer_add(w->settle, &st);
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

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Installs one reload (consumed): listeners, limits, resolver, DNS cache
 * size and hosts table, config. */
static void apply(struct worker *w, struct worker_msg *m)
{
	struct evconnlistener *lis[CONFIG_MAX_LISTEN] = { NULL };
	const struct config *cfg = worker_config_cfg(m->wc);
	for (int i = 0; i < m->n_lis; i++) {
		if (m->keep[i] >= 0) {
			lis[i] = w->lis[m->keep[i]];
			w->lis[m->keep[i]] = NULL;
		} else if (w->stopping) {
			close(m->fd[i]);
		} else {
			lis[i] = listener_adopt(w, m->fd[i]);
		}
	}
	for (int i = 0; i < w->n_lis; i++)
		if (w->lis[i])
			listener_close(w, w->lis[i]);      /* an address no longer listened on */
	memcpy(w->lis, lis, sizeof lis);
	w->n_lis = w->stopping ? 0 : m->n_lis;
	w->max_conns = m->max_conns;
	if (!w->stopping)
		listeners_enable(w, w->conns.count < w->max_conns);
	if (!same_str(worker_config_cfg(w->wc)->resolver, cfg->resolver) &&
	    dns_set_resolver(w->dns, cfg->resolver) != 0)
		log_msg(LOG_ERROR, "worker %d: cannot use resolver %s", w->id,
		        cfg->resolver ? cfg->resolver : "from /etc/resolv.conf");
	dns_set_cache_size(w->dns, cfg->dns_cache_size);
	/* /etc/hosts is parsed again only when it changed, once for all workers */
	if (dns_reload_hosts(w->dns) != 0)
		log_msg(LOG_ERROR, "worker %d: cannot read /etc/hosts again; keeping the old table", w->id);
	worker_config_put(w->wc);
	w->wc = m->wc;
	free(m);
}

static struct worker_msg *mq_pop(struct worker *w)
{
	pthread_mutex_lock(&w->mq_lock);
	struct worker_msg *m = w->mq_head;
	if (m && !(w->mq_head = m->next))
		w->mq_tail = NULL;
	pthread_mutex_unlock(&w->mq_lock);
	return m;
}

static void mq_push(struct worker *w, struct worker_msg *m)
{
	m->next = NULL;
	pthread_mutex_lock(&w->mq_lock);
	if (w->mq_tail)
		w->mq_tail->next = m;
	else
		w->mq_head = m;
	w->mq_tail = m;
	pthread_mutex_unlock(&w->mq_lock);
}

/* Tells the main thread that reload gen is in force on w: a connection
 * accepted from now on sees it (worker_group_reload waits for this). */
static void ack(struct worker *w, unsigned gen)
{
	struct worker_group *g = w->g;
	pthread_mutex_lock(&g->ack_lock);
	if (gen > w->acked)
		w->acked = gen;
	pthread_cond_broadcast(&g->ack_cond);
	pthread_mutex_unlock(&g->ack_lock);
}

/* Frees an unapplied message: closes its sockets, drops its reference. */
static void msg_free(struct worker_msg *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_lis; i++)
		if (m->keep[i] < 0 && m->fd[i] >= 0)
			close(m->fd[i]);
	worker_config_put(m->wc);
	free(m);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	char buf[64];
	struct worker_msg *m;
	while (read(fd, buf, sizeof buf) > 0)
		;
	while ((m = mq_pop(w))) {
		unsigned gen = m->gen;
		apply(w, m);
		ack(w, gen);
	}
	int stop = atomic_load(&w->stop_req);
	if (stop != STOP_NONE && !w->stopping)
		begin_stop(w, stop == STOP_RETIRE ? WORKER_SETTLE_MS : 0);
	if (stop == STOP_RETIRE)
		ack(w, atomic_load(&w->stop_gen));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	stats_add(w->stats, STATS_WORKERS, 1);
	event_base_dispatch(w->base);
	/* Connections and the resolver go on this thread, with one more pass
	 * of the loop so evdns can release what its cancelled queries held. */
	conn_free_all(&w->conns);
	upstream_pool_flush(w->pool);
	dns_free(w->dns);
	w->dns = NULL;
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	stats_add(w->stats, STATS_WORKERS, -1);
	return NULL;
}

/* Wakes worker w up to read its messages. */
static void wake(struct worker *w)
{
	ssize_t n = write(w->wake_fd[1], "", 1);
	(void)n;                  /* a full pipe already holds a wake-up */
}

/* ---- building and freeing workers ------------------------------------------------ */

/* A non-blocking listening socket on a, with SO_REUSEADDR and SO_REUSEPORT
 * so that every worker binds its own (the kernel spreads connections).
 * Returns the fd, or -1 with "cannot listen on ADDR: why" in err. */
static int bind_listener(const struct config_addr *a, char *err, size_t errlen)
{
	int on = 1;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, WORKER_BACKLOG) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", a->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Frees a worker whose thread has ended or never started (main thread). */
static void worker_free(struct worker_group *g, struct worker *w)
{
	if (!w)
		return;
	conn_free_all(&w->conns);
	for (int i = 0; i < w->n_lis; i++)
		if (w->lis[i])
			evconnlistener_free(w->lis[i]);
	upstream_pool_free(w->pool);
	dns_free(w->dns);
	if (w->wake)
		event_free(w->wake);
	if (w->grace)
		event_free(w->grace);
	if (w->settle)
		event_free(w->settle);
	for (int i = 0; i < 2; i++)
		if (w->wake_fd[i] >= 0)
			close(w->wake_fd[i]);
	if (w->base)
		event_base_free(w->base);
	struct worker_msg *m;
	while ((m = mq_pop(w)))
		msg_free(m);
	pthread_mutex_destroy(&w->mq_lock);
	worker_config_put(w->wc);
	if (w->stats && g->n_spare < WORKER_MAX)
		g->spare[g->n_spare++] = w->stats;     /* stats are never freed (stats.h) */
	w->magic = 0;
	free(w);
}

/* Builds worker id on wc, listening on each of wc's addresses.  The thread
 * is not started.  Returns it, or NULL with err. */
static struct worker *worker_new(struct worker_group *g, int id, struct worker_config *wc,
                                 int max_conns, char *err, size_t errlen)
{
	const struct config *cfg = worker_config_cfg(wc);
	struct worker *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->magic = WORKER_MAGIC;
	w->id = id;
	w->g = g;
	w->acked = g->gen;
	w->wake_fd[0] = w->wake_fd[1] = -1;
	pthread_mutex_init(&w->mq_lock, NULL);
	w->wc = worker_config_get(wc);
	w->max_conns = max_conns;
	w->stats = g->n_spare ? g->spare[--g->n_spare] : stats_new();
	struct event_config *ec = event_config_new();
	if (ec)
		event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!w->base) {
		snprintf(err, errlen, "worker %d: out of memory", id);
		goto fail;
	}
	w->dns = dns_new(w->base, cfg->resolver, cfg->dns_cache_size);
	if (!w->dns) {
		snprintf(err, errlen, "cannot set up DNS (resolver %s)",
		         cfg->resolver ? cfg->resolver : "from /etc/resolv.conf");
		goto fail;
	}
	w->pool = upstream_pool_new(w->base, w->dns, w->stats);
	if (pipe2(w->wake_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errlen, "worker %d: pipe: %s", id, strerror(errno));
		goto fail;
	}
	w->wake = event_new(w->base, w->wake_fd[0], EV_READ | EV_PERSIST, on_wake, w);
	if (!w->pool || !w->wake || event_add(w->wake, NULL) != 0) {
		snprintf(err, errlen, "worker %d: out of memory", id);
		goto fail;
	}
	for (int i = 0; i < cfg->n_listen; i++) {
		int fd = bind_listener(&cfg->listen[i], err, errlen);
		if (fd < 0 || !(w->lis[i] = listener_adopt(w, fd))) {
			if (fd >= 0)
				snprintf(err, errlen, "worker %d: out of memory", id);
			goto fail;
		}
		w->n_lis++;
	}
	return w;
fail:
	worker_free(g, w);
	return NULL;
}

/* Starts w's thread with every signal blocked: the main thread takes them.
 * 0, or -1 (w is not running then). */
static int worker_run(struct worker *w)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w->started ? 0 : -1;
}

/* ---- retiring workers ------------------------------------------------------------ */

static void reap(evutil_socket_t fd, short what, void *arg)
{
	struct worker_group *g = arg;
	struct worker **pp = &g->retiring;
	while (*pp) {
		struct worker *w = *pp;
		if (w->started && pthread_tryjoin_np(w->thread, NULL) != 0) {
			pp = &w->next_retired;
			continue;
		}
		*pp = w->next_retired;
		log_msg(LOG_INFO, "worker %d: retired", w->id);
		worker_free(g, w);
	}
	if (!g->retiring)
		event_del(g->reap);
}

/* Asks a running worker to stop accepting and finish its connections within
 * grace_ms; the main loop joins and frees it afterwards. */
static void retire(struct worker_group *g, struct worker *w, long grace_ms)
{
	struct timeval tv = { 0, WORKER_REAP_MS * 1000 };
	atomic_store(&w->stop_gen, g->gen);
	atomic_store(&w->grace_ms, grace_ms);
	atomic_store(&w->stop_req, STOP_RETIRE);
	wake(w);
	w->next_retired = g->retiring;
	g->retiring = w;
	if (g->reap)
		event_add(g->reap, &tv);
}

/* ---- the group ----------------------------------------------------------------- */

static int want_workers(const struct config *cfg)
{
	int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > WORKER_MAX ? WORKER_MAX : n;
}

static int per_worker(const struct config *cfg, int n)
{
	int m = (cfg->max_connections + n - 1) / n;
	return m < 1 ? 1 : m;
}

static int addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static void group_free(struct worker_group *g)
{
	for (int i = 0; i < g->n; i++)
		worker_free(g, g->w[i]);
	while (g->retiring) {
		struct worker *w = g->retiring;
		g->retiring = w->next_retired;
		worker_free(g, w);
	}
	if (g->reap)
		event_free(g->reap);
	pthread_mutex_destroy(&g->ack_lock);
	pthread_cond_destroy(&g->ack_cond);
	free(g->w);
	free(g);
}

struct worker_group *worker_group_start(struct event_base *main_base, struct worker_config *wc,
                                        char *err, size_t errlen)
{
	const struct config *cfg = worker_config_cfg(wc);
	int n = want_workers(cfg);
	struct worker_group *g = calloc(1, sizeof *g);
	if (!g || !(g->w = calloc(WORKER_MAX, sizeof *g->w)) ||
	    !(g->reap = event_new(main_base, -1, EV_PERSIST, reap, g))) {
		if (g)
			free(g->w);
		free(g);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&g->ack_lock, NULL);
	pthread_cond_init(&g->ack_cond, NULL);
	for (g->n = 0; g->n < n; g->n++)
		if (!(g->w[g->n] = worker_new(g, g->n, wc, per_worker(cfg, n), err, errlen))) {
			group_free(g);
			return NULL;
		}
	g->next_id = n;
	memcpy(g->addr, cfg->listen, sizeof g->addr);
	g->n_addr = cfg->n_listen;
	for (int i = 0; i < n; i++)
		if (worker_run(g->w[i]) != 0) {
			snprintf(err, errlen, "cannot start a worker thread");
			worker_group_stop(g, 0);
			return NULL;
		}
	return g;
}

/* The reload message for one running worker: keeps the listeners on
 * addresses it has, binds the others.  NULL with err on failure. */
static struct worker_msg *msg_new(const struct worker_group *g, const struct config *cfg,
                                  int max_conns, char *err, size_t errlen)
{
	struct worker_msg *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->max_conns = max_conns;
	for (int i = 0; i < cfg->n_listen; i++) {
		m->keep[i] = -1;
		m->fd[i] = -1;
		for (int j = 0; j < g->n_addr && m->keep[i] < 0; j++)
			if (addr_equal(&cfg->listen[i], &g->addr[j]))
				m->keep[i] = j;
		m->n_lis = i + 1;
		if (m->keep[i] < 0 && (m->fd[i] = bind_listener(&cfg->listen[i], err, errlen)) < 0) {
			msg_free(m);
			return NULL;
		}
	}
	return m;
}

/* Logs what a reload changes in the listen addresses and the workers. */
static void log_changes(const struct worker_group *g, const struct config *cfg, int n)
{
	for (int i = 0; i < cfg->n_listen; i++) {
		int j = 0;
		while (j < g->n_addr && !addr_equal(&cfg->listen[i], &g->addr[j]))
			j++;
		if (j == g->n_addr)
			log_msg(LOG_INFO, "reload: now listening on %s", cfg->listen[i].text);
	}
	for (int j = 0; j < g->n_addr; j++) {
		int i = 0;
		while (i < cfg->n_listen && !addr_equal(&cfg->listen[i], &g->addr[j]))
			i++;
		if (i == cfg->n_listen)
			log_msg(LOG_INFO, "reload: no longer listening on %s", g->addr[j].text);
	}
	if (n != g->n)
		log_msg(LOG_INFO, "reload: workers %d -> %d", g->n, n);
}

/* Waits until each of ws[0..n) has acknowledged reload gen, for at most
 * WORKER_ACK_MS (a worker's loop never blocks, so this takes a moment;
 * the bound only keeps signals flowing if one were stuck). */
static void wait_acks(struct worker_group *g, struct worker **ws, int n, unsigned gen)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WORKER_ACK_MS / 1000;
	pthread_mutex_lock(&g->ack_lock);
	for (int i = 0; i < n;) {
		if (ws[i]->acked >= gen) {
			i++;
			continue;
		}
		if (pthread_cond_timedwait(&g->ack_cond, &g->ack_lock, &until) == ETIMEDOUT) {
			log_msg(LOG_WARN, "reload: worker %d has not applied it yet", ws[i]->id);
			break;
		}
	}
	pthread_mutex_unlock(&g->ack_lock);
}

int worker_group_reload(struct worker_group *g, struct worker_config *wc, char *err, size_t errlen)
{
	const struct config *cfg = worker_config_cfg(wc);
	int n = want_workers(cfg), kept = n < g->n ? n : g->n, n_new = n - kept, i;
	int max_conns = per_worker(cfg, n);
	struct worker_msg *msg[WORKER_MAX] = { NULL };
	struct worker *fresh[WORKER_MAX] = { NULL };
	/* 1. everything that can fail, nothing visible yet */
	for (i = 0; i < kept; i++)
		if (!(msg[i] = msg_new(g, cfg, max_conns, err, errlen)))
			goto fail;
	for (i = 0; i < n_new; i++)
		if (!(fresh[i] = worker_new(g, g->next_id + i, wc, max_conns, err, errlen)))
			goto fail;
	for (i = 0; i < n_new; i++)
		if (worker_run(fresh[i]) != 0) {
			snprintf(err, errlen, "cannot start a worker thread");
			goto fail;
		}
	/* 2. commit, and wait until every old worker has taken it in: when
	 * the reload's log line appears, a new connection sees the new
	 * configuration, and removed addresses refuse. */
	log_changes(g, cfg, n);
	g->gen++;
	struct worker *old[WORKER_MAX];
	int n_old = g->n;
	memcpy(old, g->w, sizeof(*old) * (size_t)n_old);
	for (i = 0; i < kept; i++) {
		msg[i]->wc = worker_config_get(wc);
		msg[i]->gen = g->gen;
		mq_push(g->w[i], msg[i]);
		wake(g->w[i]);
	}
	for (i = kept; i < g->n; i++) {
		retire(g, g->w[i], cfg->shutdown_grace_ms);
		g->w[i] = NULL;
	}
	wait_acks(g, old, n_old, g->gen);
	for (i = 0; i < n_new; i++)
		g->w[kept + i] = fresh[i];
	g->next_id += n_new;
	g->n = n;
	memcpy(g->addr, cfg->listen, sizeof g->addr);
	g->n_addr = cfg->n_listen;
	return 0;
fail:
	for (i = 0; i < kept; i++)
		msg_free(msg[i]);
	for (i = 0; i < n_new && fresh[i]; i++)
		if (fresh[i]->started)
			retire(g, fresh[i], 0);          /* ran a moment: may hold a connection */
		else
			worker_free(g, fresh[i]);
	return -1;
}

int worker_group_count(const struct worker_group *g) { return g->n; }

void worker_group_stop(struct worker_group *g, long grace_ms)
{
	for (int i = 0; i < g->n; i++) {
		atomic_store(&g->w[i]->grace_ms, grace_ms);
		atomic_store(&g->w[i]->stop_req, STOP_EXIT);
		wake(g->w[i]);
	}
	for (int i = 0; i < g->n; i++)
		if (g->w[i]->started)
			pthread_join(g->w[i]->thread, NULL);
	for (struct worker *w = g->retiring; w; w = w->next_retired)
		if (w->started)
			pthread_join(w->thread, NULL);   /* each has its own grace period */
	group_free(g);
}
