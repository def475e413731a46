/*
 * worker: the threads that run the proxy.
 *
 * N worker threads (config workers, 0 = one per core), each with its own
 * event_base, its own SO_REUSEPORT listening socket per listen address (the
 * kernel spreads connections), its own DNS resolver, upstream pool and
 * counters.  A connection lives and dies on one worker: no lock is taken on
 * the per-request path.  The main thread only handles signals:
 * SIGTERM/SIGINT stop accepting, let requests in flight finish within
 * shutdown_grace, then stop; SIGHUP reopens the logs and installs a
 * reloaded configuration: new connections use it, new listen addresses are
 * bound and removed ones closed (their connections finish), workers are
 * started or retired to match the new count (a retired worker stops
 * accepting and finishes its connections within shutdown_grace), and a
 * changed resolver answers the next lookups.
 */
#ifndef QUELL_WORKER_H
#define QUELL_WORKER_H

#include <stddef.h>

struct config;
struct event_base;
struct dns;
struct stats;
struct upstream_pool;
struct worker;
struct worker_group;

/* A configuration shared by reference: workers and connections hold a
 * reference; the last worker_config_put() frees it. */
struct worker_config;
/* Takes ownership of cfg (config_free'd and freed with the last reference).
 * NULL on ENOMEM (cfg is then still the caller's). */
struct worker_config *worker_config_new(struct config *cfg);
struct worker_config *worker_config_get(struct worker_config *wc);
void worker_config_put(struct worker_config *wc);
const struct config *worker_config_cfg(const struct worker_config *wc);

/* Binds every listen address for every worker and starts the threads.
 * main_base is the main thread's loop, where retired workers are joined.
 * Takes a reference on wc.  NULL with a message in err on failure (bind). */
struct worker_group *worker_group_start(struct event_base *main_base, struct worker_config *wc,
                                        char *err, size_t errlen);
/* Applies a reloaded configuration (main thread; reference taken on wc):
 * binds the listen addresses that are new, for every worker, closes the
 * removed ones, starts or retires workers to match cfg->workers, and hands
 * wc to every worker.  All or nothing: everything that can fail (binding,
 * new workers) happens before anything changes.  0, or -1 with "cannot
 * listen on ADDR: why" (or similar) in err and the group untouched. */
int worker_group_reload(struct worker_group *g, struct worker_config *wc, char *err, size_t errlen);
/* Running workers (retired ones still finishing are not counted). */
int worker_group_count(const struct worker_group *g);
/* Stops accepting, waits for connections to end for at most grace_ms, then
 * closes the rest, joins the threads (retired ones too) and frees
 * everything. */
void worker_group_stop(struct worker_group *g, long grace_ms);

/* For connections running on a worker (worker thread only). */
struct event_base *worker_base(struct worker *w);
struct upstream_pool *worker_pool(struct worker *w);
struct stats *worker_stats(struct worker *w);
/* The worker's current configuration (a new reference). */
struct worker_config *worker_current_config(struct worker *w);
/* A connection ended: frees a slot under max_connections. */
void worker_conn_closed(struct worker *w);
/* 1 while the worker is stopping (connections close when idle). */
int worker_stopping(const struct worker *w);

#endif
