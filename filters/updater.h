/*
 * updater: keeps `quell run`'s filter lists current and its engine snapshot
 * built from them.
 *
 * updater_new() resolves the config's subscriptions (filters/subs.h) and
 * publishes a first snapshot (engine_publish) before the workers start: the
 * one cached in <state_dir>/snapshot.bin when the lists, the user's rules and
 * the built-in rules are unchanged since it was written (no compiling), else
 * one compiled from the stored copies, which is then cached.  Lists never
 * downloaded contribute nothing: the built-in rules alone apply until their
 * first download succeeds.
 *
 * updater_start() runs a thread with its own event_base that downloads each
 * URL list when due (its every=, ! Expires: or update_interval; failures
 * retried with backoff), one at a time, and after a round that changed a
 * stored copy compiles a new snapshot on that thread (never on a worker's
 * event loop) and publishes it: requests in flight finish on the snapshot
 * they acquired, new ones see the new one.
 *
 * updater_reload() is for SIGHUP: it re-reads the config's lists and the
 * stored copies from disk (e.g. after `quell lists update`), rebuilds and
 * publishes synchronously in the calling thread.
 *
 * The status functions may be called from any thread (workers serving the
 * status page): they copy a table the updater refreshes under a lock.
 */
#ifndef QUELL_UPDATER_H
#define QUELL_UPDATER_H

#include <stddef.h>
#include <time.h>

struct config;
struct evbuffer;
struct updater;

/* Resolves cfg's lists and publishes the first snapshot.  cfg is not kept.
 * Returns NULL with a message in err (a bad state_dir, no memory, an engine
 * failure with the built-in rules alone). */
struct updater *updater_new(const struct config *cfg, char *err, size_t errlen);

/* Starts the background thread.  0, or -1 with a message in err. */
int updater_start(struct updater *u, char *err, size_t errlen);

/* SIGHUP: takes cfg's (possibly changed) lists, re-reads the stored copies,
 * rebuilds (or loads the cached snapshot) and publishes before returning.
 * The background thread picks up the new schedule.  cfg is not kept.
 * Returns 0, or -1 with err set (the previous snapshot stays in force). */
int updater_reload(struct updater *u, const struct config *cfg, char *err, size_t errlen);

/* Asks the thread to download every URL list now (force: accept a list that
 * shrank by more than half).  Returns at once. */
void updater_update_now(struct updater *u, int force);

/* Stops the thread (cancelling a download in flight) and frees u.  The
 * published snapshot stays published.  Call it after the workers stopped
 * (they may be serving updater_status_section).  NULL is a no-op. */
void updater_free(struct updater *u);

/* ---- status -------------------------------------------------------------- */

struct updater_list_status {
	char name[80];
	char source[512];
	long rules;                  /* -1: no copy */
	time_t last_update;          /* 0: never */
	time_t next_update;          /* 0: local file */
	char status[16];             /* subs_status(): ok, stale, failing, pending, local, missing */
	char last_error[256];        /* "" when none */
};

/* Copies the per-list table into *out (malloc'd, the caller frees) and a
 * one-line summary ("built-in rules only: ...", "3 lists, 81234 rules,
 * snapshot compiled in 210 ms") into summary.  Returns the number of lists,
 * or -1 (no memory). */
int updater_status(struct updater *u, struct updater_list_status **out,
                   char *summary, size_t len);

/* The updater of this process (the last one created and not freed), or NULL. */
struct updater *updater_current(void);

/* An admin status-page section (admin_section_fn): an HTML table of the
 * lists of updater_current().  The first updater_new() registers it with
 * admin_register_section(); nobody else needs to.  0, or -1 (no memory). */
int updater_status_section(struct evbuffer *out, const struct config *cfg);

#endif
