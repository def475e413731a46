/*
 * subs: filter-list subscriptions and their state on disk.
 *
 * A configuration names its lists with `list URL|PATH|NAME [name=] [every=]`
 * lines; NAME is one of the catalog of well-known lists (subs_catalog).  A
 * config without any `list` line subscribes to the defaults (easylist,
 * easyprivacy, ublock-filters, fanboy-annoyance, easylist-cookie); `list none`
 * means no list at all.
 *
 * Each URL list keeps two files in <state_dir>/lists/: ID.txt, the last good
 * copy, and ID.state, "key value" lines (source, ETag, Last-Modified, last
 * and next update, last error, rule count...).  Both are written atomically
 * (temp file, fsync, rename, fsync of the directory), so a crash or a second
 * quell process never leaves half a file.  A download replaces the stored
 * copy only when it parses into rules and has at least half the rules of the
 * last good copy (force overrides the latter); otherwise the copy stays and
 * the error is recorded.  The list's own `! Expires:` sets its schedule
 * (clamped to 1 hour .. 14 days) unless every= is given; `! Title:` names it
 * unless name= is given.
 *
 * Not thread-safe: one struct subs belongs to one thread (the CLI, or the
 * updater's thread, which publishes copies of what others may read).
 */
#ifndef QUELL_SUBS_H
#define QUELL_SUBS_H

#include <stddef.h>
#include <time.h>

struct lists_source;

struct config;
struct fetch_opts;
struct fetch_result;

struct subs_catalog_entry {
	const char *name;            /* "easylist" */
	const char *url;             /* canonical download URL */
	const char *title;           /* human name */
	int is_default;              /* in a fresh config's subscriptions */
};

/* The catalog, a static table; *n receives its length. */
const struct subs_catalog_entry *subs_catalog(size_t *n);
/* The entry whose name (case-insensitive) or URL is s, or NULL. */
const struct subs_catalog_entry *subs_catalog_find(const char *s);

#define SUBS_EXPIRES_MIN (3600L)           /* ! Expires: clamped to 1 h .. 14 d */
#define SUBS_EXPIRES_MAX (14L * 86400L)

struct subs_state {                       /* persisted in ID.state */
	char *source;                         /* the URL the copy came from */
	char *etag;                           /* validators of the stored copy */
	char *last_modified;
	char *title;                          /* ! Title: of the stored copy */
	char *last_error;                     /* NULL after a success */
	time_t last_update;                   /* last successful check (200 or 304), 0: never */
	time_t last_change;                   /* when the stored copy last changed */
	time_t last_attempt;
	time_t next_update;                   /* 0: as soon as possible */
	long rules;                           /* rules in the stored copy, -1: unknown */
	size_t bytes;                         /* size of the stored copy */
	long expires_s;                       /* its ! Expires:, 0: none */
	int failures;                         /* consecutive failed attempts */
};

struct subs_list {                        /* read-only outside subs.c */
	char *id;                             /* file-name-safe key */
	char *name;                           /* name=, ! Title:, catalog name or id */
	int named;                            /* name= given */
	char *source;                         /* URL, or a local path */
	int is_url;
	long every_s;                         /* every=, or 0 */
	int is_default;                       /* from the defaults of a fresh config */
	char *path;                           /* stored copy (URL) or the local file */
	char *state_path;                     /* NULL for local files */
	struct subs_state st;
};

struct subs;

/* Resolves cfg's subscriptions and reads their state from cfg->state_dir
 * (created if missing and allowed; a read-only one is fine for readers).
 * Returns NULL with a message in err. */
struct subs *subs_open(const struct config *cfg, char *err, size_t errlen);
void subs_free(struct subs *s);                       /* NULL: no-op */

int subs_count(const struct subs *s);
struct subs_list *subs_at(struct subs *s, int i);
/* The list called name: its id, name, title, catalog name or source
 * (case-insensitive).  NULL when none. */
struct subs_list *subs_find(struct subs *s, const char *name);
/* 1 when the config gave no list line and the defaults apply. */
int subs_using_defaults(const struct subs *s);
const char *subs_state_dir(const struct subs *s);

/* 1 when a stored copy exists for l (always for a readable local file). */
int subs_have_copy(const struct subs_list *l);
/* Appends to v[*n..max) the sources a configuration compiles, in the order
 * `quell run` uses: the built-in lists cfg turns on (when with_builtin), the
 * stored copies of s's subscriptions (s may be NULL), then cfg's own rules
 * files.  The strings point into s, cfg and the static built-in table.
 * Returns how many subscription copies were appended. */
int subs_sources(struct subs *s, const struct config *cfg, int with_builtin,
                 struct lists_source *v, int *n, int max);
/* 1 when no list has a usable copy yet: the built-in rules alone apply. */
int subs_builtin_only(struct subs *s);
/* 1 when l is a URL list due for an update at now. */
int subs_due(const struct subs_list *l, time_t now);
/* The update interval of l: every=, else its Expires (clamped), else the
 * config's update_interval.  Seconds. */
long subs_interval(const struct subs *s, const struct subs_list *l);
/* Fills o for downloading l: limits from the config, validators of the
 * stored copy.  The strings point into l (valid until the next subs_apply). */
void subs_fetch_opts(const struct subs *s, const struct subs_list *l, struct fetch_opts *o);

enum { SUBS_FAILED = -1, SUBS_UNCHANGED = 0, SUBS_CHANGED = 1 };

/* Records a download of l: validates r's body (a list, not an HTML page;
 * rules > 0; no shrink below half of the last good copy unless force),
 * writes the copy and the state.  msg receives one line (what changed, or
 * the error).  Returns SUBS_CHANGED (new copy stored), SUBS_UNCHANGED (304,
 * or same content) or SUBS_FAILED (error recorded, last good copy kept).
 * l->st is updated either way. */
int subs_apply(struct subs *s, struct subs_list *l, const struct fetch_result *r,
               int force, time_t now, char *msg, size_t msglen);

/* Re-reads l's state file and, for local lists, re-counts the file's rules.
 * 0, or -1 when the local file cannot be read (recorded in last_error). */
int subs_refresh(struct subs *s, struct subs_list *l);

/* One word for l's state: "ok", "stale" (failing, last good copy in use),
 * "failing" (no copy yet), "pending" (never downloaded), "local",
 * "missing" (local file unreadable). */
const char *subs_status(const struct subs_list *l);

/* Counts the rules (network, cosmetic, HTML) in a list text.  -1 on error. */
long subs_count_rules(const char *buf, size_t len, const char *name);
/* Reads "! Title:" (into title, "" when absent) and "! Expires:" (seconds,
 * unclamped, 0 when absent) from the header comments of a list. */
void subs_parse_header(const char *buf, size_t len, char *title, size_t tlen,
                       long *expires_s);
/* 1 when buf looks like an HTML document rather than a filter list. */
int subs_looks_like_html(const char *buf, size_t len);

/* ---- downloading ------------------------------------------------------- */

struct fetch_client;
struct subs_download;

#define SUBS_MAX_INCLUDES 16

/* Called once per subs_download_start(); the callee owns r (fetch_result_free)
 * and passes it to subs_apply(). */
typedef void (*subs_download_fn)(struct fetch_result *r, void *arg);

/* Downloads l on c's event_base: its URL with the validators of the stored
 * copy (subs_fetch_opts), then, for a 200, each "!#include NAME" file beside
 * it (at most SUBS_MAX_INCLUDES, one deadline for all), inlined where the
 * line was; other include lines become comments, so a stored copy never
 * makes the parser read local files.  A failed include fails the download.
 * Returns the download, or NULL with err set (done is not called then). */
struct subs_download *subs_download_start(struct fetch_client *c, const struct subs *s,
                                          const struct subs_list *l, subs_download_fn done,
                                          void *arg, char *err, size_t errlen);
/* Stops a download without calling done.  NULL: no-op. */
void subs_download_cancel(struct subs_download *d);

/* The fetchable "!#include" names of a list text (relative, no "..", no
 * scheme), deduplicated, at most max, malloc'd into out.  Returns the count. */
int subs_include_names(const char *buf, size_t len, char **out, int max);

/* Writes len bytes to path atomically: temp file in the same directory,
 * fsync, rename, fsync of the directory.  0, or -1 with errno set. */
int subs_write_atomic(const char *path, const void *data, size_t len);

#endif
