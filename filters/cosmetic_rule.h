/*
 * cosmetic_rule: the record the list parser (filters/lists.c) produces for
 * every cosmetic and HTML-filtering rule, and the HTML rewriter's index
 * (filters/cosmetic.c) consumes.  A shared type only: no functions.
 *
 * Strings are NUL-terminated and owned by whoever holds the array (the
 * engine snapshot); consumers copy what they keep.
 */
#ifndef QUELL_COSMETIC_RULE_H
#define QUELL_COSMETIC_RULE_H

#include <stdint.h>

enum cosm_kind {
	COSM_CSS = 0,        /* "##sel": a plain CSS selector */
	COSM_PROCEDURAL = 1, /* "#?#sel" or "##sel" using uBO/ABP procedural operators
	                        (:has-text, :has, :upward, :remove, :matches-attr, :xpath,
	                        :-abp-contains, :-abp-has, ...) */
	COSM_HTML = 2,       /* uBO "##^sel": HTML filter (remove from the response) */
	COSM_ADG_HTML = 3,   /* AdGuard "$$tag[attr=...]": HTML filter */
	COSM_STYLE = 4,      /* "##sel:style(...)": the element gets a style, not removal */
};

struct cosmetic_rule {
	const char *body;     /* text after the separator ("div.ad", "script:has-text(x)") */
	const char *domains;  /* text before the separator, as written ("a.com,~b.a.com",
	                         "example.*"); "" for a generic rule */
	uint8_t kind;         /* enum cosm_kind */
	uint8_t exception;    /* "#@#", "#@?#", "#@$#", "$@$": an exception */
	uint16_t list_id;     /* index into the engine's list table (name, path) */
	uint32_t line;        /* 1-based line in that list */
};

#endif
