/*
 * stats: per-worker counters summed without locks (see stats.h).
 * Each counter sits in its worker's own struct, aligned so that two workers
 * never share a cache line; the writer is always that worker's thread.
 */
#include "proxy/stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct stats {
	_Alignas(64) _Atomic int64_t v[STATS__COUNT];
};

static struct stats *registry[STATS_MAX_WORKERS];
static _Atomic int n_registered;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const names[STATS__COUNT] = {
	[STATS_CONNECTIONS] = "connections",
	[STATS_ACTIVE] = "active_connections",
	[STATS_REQUESTS] = "requests",
	[STATS_BLOCKED] = "blocked",
	[STATS_ERRORS] = "errors",
	[STATS_BYTES_IN] = "bytes_in",
	[STATS_BYTES_OUT] = "bytes_out",
	[STATS_TUNNELS] = "tunnels",
	[STATS_UPSTREAM_CONNECTS] = "upstream_connects",
	[STATS_UPSTREAM_REUSED] = "upstream_reused",
	[STATS_DENIED] = "denied",
	[STATS_WORKERS] = "workers",
};

/* Returns a registered zeroed struct, or NULL (table full, ENOMEM). */
struct stats *stats_new(void)
{
	struct stats *s = aligned_alloc(64, sizeof *s);
	if (!s)
		return NULL;
	for (int i = 0; i < STATS__COUNT; i++)
		atomic_init(&s->v[i], 0);
	pthread_mutex_lock(&reg_lock);
	int n = atomic_load(&n_registered);
	if (n == STATS_MAX_WORKERS) {
		pthread_mutex_unlock(&reg_lock);
		free(s);
		return NULL;
	}
	registry[n] = s;
	/* release: a reader that sees the new count sees the pointer */
	atomic_store_explicit(&n_registered, n + 1, memory_order_release);
	pthread_mutex_unlock(&reg_lock);
	return s;
}

void stats_add(struct stats *s, enum stats_counter c, int64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->v[c], n, memory_order_relaxed);
}

int64_t stats_get(const struct stats *s, enum stats_counter c)
{
	return atomic_load_explicit(&((struct stats *)s)->v[c], memory_order_relaxed);
}

int64_t stats_sum(enum stats_counter c)
{
	int n = atomic_load_explicit(&n_registered, memory_order_acquire);
	int64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += stats_get(registry[i], c);
	return sum;
}

const char *stats_name(enum stats_counter c)
{
	return (unsigned)c < STATS__COUNT ? names[c] : "?";
}
