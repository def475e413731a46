/*
 * builtin: the annoyance rules compiled into quell.
 *
 * What no subscription list removes well is what quell exists for: the lone
 * "ADVERTISEMENT" label left where an ad slot sat, donation and membership
 * prompts, newsletter nags, cookie-consent banners.  The rules live in
 * filters/builtin/<category>.txt, in the same syntax as any filter list
 * (uBO/ABP: "##" cosmetic and procedural rules, "##^" HTML rules, "||host^"
 * network rules), and are pulled into the binary by filters/builtin_data.S with
 * .incbin, so quell needs no data file to do its main job.
 *
 * One list per category, each switched by its ANNOY_* bit (proxy/config.h,
 * config key "annoyances"); the list names ("builtin:consent", ...) are what
 * --explain and the logs print as the list of a rule.  The bytes are static
 * and read-only; they end with a NUL byte not counted in length, so a caller
 * may treat them as a C string.
 */
#ifndef QUELL_BUILTIN_H
#define QUELL_BUILTIN_H

#include <stddef.h>

struct config;

struct builtin_list {
	const char *name;     /* "builtin:ad-labels", "builtin:donation", ... */
	const char *bytes;    /* the list text, NUL-terminated */
	size_t length;        /* without the NUL */
	unsigned annoy_bit;   /* ANNOY_AD_LABELS, ANNOY_DONATION, ... */
};

#define BUILTIN_MAX 4     /* number of built-in lists */

/* All built-in lists in a fixed order (ad-labels, donation, newsletter,
 * consent).  Returns the static table; *n receives its length. */
const struct builtin_list *builtin_lists(size_t *n);

/* The lists whose category bit is set in annoyances (ANNOY_* bits).  Fills
 * out[0..max) with pointers into the static table, in table order.  Returns
 * how many were written (at most max). */
size_t builtin_enabled(unsigned annoyances, const struct builtin_list **out, size_t max);

/* The lists a configuration turns on: none when cfg->builtin is 0, else
 * those of cfg->annoyances.  Same convention as builtin_enabled. */
size_t builtin_for_config(const struct config *cfg, const struct builtin_list **out, size_t max);

/* The list called name ("builtin:consent"), or NULL. */
const struct builtin_list *builtin_find(const char *name);

#endif
