/*
 * netfilter: the network matcher.  Network rules parsed by filters/lists.c go
 * into a builder; netfilter_build() turns them into one flat, position-
 * independent blob (arrays and offsets only, no pointers) that the engine
 * snapshot embeds, saves and loads as it is; netfilter_open() then gives a
 * read-only matcher over those bytes that any number of threads can use at
 * once without a lock.
 *
 * Indexing follows uBlock Origin: each rule is filed under one token of its
 * pattern (the rarest among the rules), pure host-name rules ("||host^", hosts
 * files) in a host-name table, token-less rules with domain= under their page
 * domains; a request looks up only the buckets of its own URL tokens and host
 * suffixes.  Semantics are uBO's: exceptions beat blocks, `important` beats
 * exceptions, `badfilter` cancels the rule it names, redirect= blocks and
 * names a resource, removeparam= and csp= are separate passes.  Regex rules
 * use PCRE2 with JIT and bounded match limits, compiled on first use.
 */
#ifndef QUELL_NETFILTER_H
#define QUELL_NETFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "filters/lists.h"

struct netfilter_builder;
struct netfilter;

enum netfilter_action {
	NETFILTER_ALLOW = 0,        /* nothing to do (maybe an exception matched) */
	NETFILTER_BLOCK,            /* answer with the type's neutral response */
	NETFILTER_REDIRECT,         /* blocked; serve resource (resources_find) */
	NETFILTER_REMOVEPARAM,      /* go to new_url instead */
	NETFILTER_CSP,              /* allowed; add csp as Content-Security-Policy */
};

#define NETFILTER_NO_RULE UINT32_MAX

struct netfilter_verdict {
	int action;                 /* enum netfilter_action */
	int matched;                /* 0 no rule, 1 a block rule decided, 2 an exception did
	                               (the bench protocol's 0/1/2) */
	uint32_t rule;              /* deciding rule id or NETFILTER_NO_RULE */
	char resource[48];          /* NETFILTER_REDIRECT: the resource name */
	char *new_url;              /* NETFILTER_REMOVEPARAM: malloc'd, caller frees */
	char csp[1024];             /* NETFILTER_CSP: policies joined with ", " */
};

/* Page-level exceptions, for the HTML rewriter and the request policy. */
enum {
	NETFILTER_PAGE_ELEMHIDE = 1 << 0,     /* no cosmetic filtering at all */
	NETFILTER_PAGE_GENERICHIDE = 1 << 1,  /* no generic cosmetic rules */
	NETFILTER_PAGE_SPECIFICHIDE = 1 << 2, /* no site-specific cosmetic rules */
	NETFILTER_PAGE_DOCUMENT = 1 << 3,     /* @@...$document names the page (uBO only lets
	                                         it undo strict blocking, not disable the
	                                         page's filtering; callers decide) */
};

/* Builder: NULL on out-of-memory.  netfilter_builder_free(NULL) is a no-op. */
struct netfilter_builder *netfilter_builder_new(void);
void netfilter_builder_free(struct netfilter_builder *b);

/* Adds one rule classified LISTS_NETWORK (r->net filled) from list list_id.
 * The builder copies what it keeps.  Returns 0, 1 when the rule is rejected
 * (a regex PCRE2 refuses: *why is set to a static reason), -1 on OOM. */
int netfilter_builder_add(struct netfilter_builder *b, const struct lists_rule *r,
                          uint16_t list_id, const char **why);

/* Checks what the builder would reject in a LISTS_NETWORK rule (a regex
 * PCRE2 refuses, an over-long rule) without building anything, for `quell
 * lists lint`.  Returns 1 when usable, 0 with *why set otherwise. */
int netfilter_rule_ok(const struct lists_rule *r, const char **why);

/* Builds the blob: malloc'd bytes in *blob, length in *len, 8-aligned.
 * The builder may be freed afterwards.  Returns 0 or -1 (OOM). */
int netfilter_build(struct netfilter_builder *b, void **blob, size_t *len);

/* The blob format's version: a snapshot saved by another version is
 * refused (its owner says so before trying to open it). */
uint32_t netfilter_format(void);

/* Opens a matcher over blob[0..len) (not copied: it must outlive the
 * matcher and stay 8-aligned).  Returns NULL when the blob is malformed. */
struct netfilter *netfilter_open(const void *blob, size_t len);
void netfilter_close(struct netfilter *nf);

/* Decides one request: url (absolute), type (one LISTS_T_* bit), page_url
 * (the page or frame that made the request, NULL when unknown: the request
 * then counts as its own page).  Fills *v.  Returns v->action.  The caller
 * frees v->new_url. */
int netfilter_match(const struct netfilter *nf, const char *url, size_t url_len,
                    uint32_t type, const char *page_url, size_t page_len,
                    struct netfilter_verdict *v);

/* The same with the request's method (one LISTS_M_* bit; 0 when unknown,
 * which no method= rule accepts). */
int netfilter_match_method(const struct netfilter *nf, const char *url, size_t url_len, uint32_t type,
                           uint32_t method, const char *page_url, size_t page_len,
                           struct netfilter_verdict *v);

/* NETFILTER_PAGE_* bits of the exceptions that apply to page_url.  If rule
 * is not NULL it receives the first such rule (or NETFILTER_NO_RULE). */
unsigned netfilter_page_flags(const struct netfilter *nf, const char *page_url, size_t len,
                              uint32_t *rule);

/* A rule's text, list id and line.  text is NUL-terminated inside the blob. */
const char *netfilter_rule_text(const struct netfilter *nf, uint32_t rule);
uint16_t netfilter_rule_list(const struct netfilter *nf, uint32_t rule);
uint32_t netfilter_rule_line(const struct netfilter *nf, uint32_t rule);

/* Number of rules kept, and of rules dropped by $badfilter, in the blob. */
uint32_t netfilter_count(const struct netfilter *nf);
uint32_t netfilter_badfiltered(const struct netfilter *nf);
/* Rules in the slow "scan for every request" bucket (no token, no domain). */
uint32_t netfilter_untokenized(const struct netfilter *nf);

#endif
