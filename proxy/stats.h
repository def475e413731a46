/*
 * stats: counters for the status page, without locks on the request path.
 *
 * Each worker thread owns one struct stats and is its only writer; it adds
 * with relaxed atomic increments (no lock, no contended cache line).  The
 * status page sums every registered struct with relaxed loads: a sum may mix
 * values from a few microseconds apart, which a status page can afford.
 * stats_new() registers the struct in a fixed global table (under a mutex,
 * at worker start only); structs live until exit so a sum never reads freed
 * memory.
 */
#ifndef QUELL_STATS_H
#define QUELL_STATS_H

#include <stdint.h>

enum stats_counter {
	STATS_CONNECTIONS,        /* client connections accepted */
	STATS_ACTIVE,             /* client connections open now (gauge) */
	STATS_REQUESTS,           /* requests answered (any status) */
	STATS_BLOCKED,            /* requests the policy blocked */
	STATS_ERRORS,             /* requests answered with an error status by quell */
	STATS_BYTES_IN,           /* body bytes received from origins (and tunnels) */
	STATS_BYTES_OUT,          /* bytes written to clients */
	STATS_TUNNELS,            /* CONNECT and Upgrade tunnels opened */
	STATS_UPSTREAM_CONNECTS,  /* new upstream connections */
	STATS_UPSTREAM_REUSED,    /* requests sent on a pooled upstream connection */
	STATS_DENIED,             /* clients refused by the allow list */
	STATS_WORKERS,            /* worker threads running (gauge: 1 per running worker) */
	STATS__COUNT
};

#define STATS_MAX_WORKERS 256

struct stats;

/* A zeroed, registered counter set.  NULL when the table is full or on
 * ENOMEM.  Never freed (see above). */
struct stats *stats_new(void);
/* Adds n (may be negative for gauges).  s may be NULL (no-op). */
void stats_add(struct stats *s, enum stats_counter c, int64_t n);
/* One struct's value, and the sum over every registered struct. */
int64_t stats_get(const struct stats *s, enum stats_counter c);
int64_t stats_sum(enum stats_counter c);
/* A short lower-case name ("requests", "bytes_out"...) for pages and logs. */
const char *stats_name(enum stats_counter c);

#endif
