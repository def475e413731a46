/*
 * engine: one immutable compiled snapshot of every filter list in force -
 * the network matcher (filters/netfilter.h), the cosmetic and HTML rules
 * (struct cosmetic_rule, for the HTML rewriter), the table of lists (name,
 * path) and per-class counts - and the process-wide "current snapshot".
 *
 * A snapshot is one flat block of bytes (offsets, no pointers), so
 * engine_save() writes it as it is and engine_load() reads it back with one
 * read and a few fix-ups: a router starts in milliseconds instead of
 * compiling lists.  Snapshots are reference-counted.  Workers call
 * engine_current_acquire() per request (two atomic operations, no lock) and
 * engine_release() when done; engine_publish() swaps in a new snapshot and
 * drops the old one once the last request in flight on it releases it.
 *
 * Snapshots are immutable: every function taking a const struct engine * is
 * safe from any number of threads at once.  The one mutable slot is the
 * attachment (the HTML rewriter's compiled selector index), set at most once
 * with an atomic compare-and-swap.
 */
#ifndef QUELL_ENGINE_H
#define QUELL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "filters/cosmetic_rule.h"
#include "filters/lists.h"
#include "filters/netfilter.h"

struct engine;

struct engine_counts {
	uint32_t lines;                      /* lines read, includes included */
	uint32_t cls[LISTS_N_CLASSES];       /* lines per enum lists_class */
	uint32_t network;                    /* network rules kept */
	uint32_t rejected;                   /* network rules PCRE2 refused */
	uint32_t badfiltered;                /* rules cancelled by $badfilter */
	uint32_t cosmetic;                   /* cosmetic + HTML rules kept */
};

/* Called for every line classified unsupported or invalid, and for network
 * rules the matcher rejects (r->reason then says why). */
typedef void (*engine_report_fn)(void *arg, const struct lists_rule *r);

/* Compiles the sources (files or memory buffers, e.g. the built-in lists) in
 * order; list ids are their indexes.  A source that cannot be read is an
 * error.  Returns a snapshot holding one reference, or NULL with a message
 * in err. */
struct engine *engine_build(const struct lists_source *src, size_t n, char *err, size_t errlen);
struct engine *engine_build_ex(const struct lists_source *src, size_t n, engine_report_fn report,
                               void *arg, char *err, size_t errlen);

/* Writes the snapshot to path (written in place; callers wanting atomicity
 * write a temp file and rename).  0, or -1 with a message in err. */
int engine_save(const struct engine *e, const char *path, char *err, size_t errlen);
/* Reads a snapshot written by engine_save (same quell version and machine
 * word layout).  Returns it with one reference, or NULL with err set. */
struct engine *engine_load(const char *path, char *err, size_t errlen);

/* References.  engine_ref returns e; engine_release(NULL) is a no-op; the
 * last release frees the snapshot and its attachment. */
struct engine *engine_ref(struct engine *e);
void engine_release(struct engine *e);

/* The current snapshot with a reference the caller releases, or NULL when
 * none was published.  Lock-free. */
struct engine *engine_current_acquire(void);
/* Makes e current, taking over the caller's reference (NULL unpublishes).
 * The previous snapshot is released once the readers of the swap window are
 * gone; requests still holding it finish on it.  Call from one thread at a
 * time (the updater serializes). */
void engine_publish(struct engine *e);

/* ---- queries ------------------------------------------------------------------ */

/* The verdict of the network rules (see netfilter_match); page_url may be
 * NULL.  The caller frees v->new_url.  Returns v->action. */
int engine_match(const struct engine *e, const char *url, uint32_t type, const char *page_url,
                 struct netfilter_verdict *v);
/* The same for a request whose method is known ("GET", "POST"...; method=
 * rules apply only then). */
int engine_match_method(const struct engine *e, const char *url, uint32_t type, const char *method,
                        const char *page_url, struct netfilter_verdict *v);
/* NETFILTER_PAGE_* exceptions for a page (elemhide, generichide, ...). */
unsigned engine_page_flags(const struct engine *e, const char *page_url);

/* A rule's text, list name and line (rule from a verdict); "" / 0 when none. */
const char *engine_rule_text(const struct engine *e, uint32_t rule);
const char *engine_rule_list(const struct engine *e, uint32_t rule);
uint32_t engine_rule_line(const struct engine *e, uint32_t rule);

const struct netfilter *engine_netfilter(const struct engine *e);
/* The cosmetic and HTML rules, in list order; *n receives the count. */
const struct cosmetic_rule *engine_cosmetic_rules(const struct engine *e, size_t *n);

/* The list table: names and paths ("" for buffers) by list id. */
size_t engine_list_count(const struct engine *e);
const char *engine_list_name(const struct engine *e, size_t id);
const char *engine_list_path(const struct engine *e, size_t id);
/* Network / cosmetic rules a list contributed. */
uint32_t engine_list_rules(const struct engine *e, size_t id);
const struct engine_counts *engine_counts(const struct engine *e);
/* Bytes of the snapshot block (what engine_save writes). */
size_t engine_size(const struct engine *e);

/* The attachment slot: set once (0), or 1 when one is already set (the
 * caller keeps ptr and should use engine_attachment instead), -1 out of
 * memory.  free_fn
 * runs when the snapshot is freed. */
int engine_set_attachment(struct engine *e, void *ptr, void (*free_fn)(void *));
void *engine_attachment(const struct engine *e);

#endif
