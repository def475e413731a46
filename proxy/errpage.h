/*
 * errpage: the small, readable pages quell answers with when it cannot
 * deliver what was asked: a title from the status, one sentence saying what
 * happened (naming the host, the DNS error, the timeout), nothing else.
 * HTML for clients that accept text/html, plain text for the rest (curl,
 * scripts).  Pure functions over an evbuffer, so they are unit-tested.
 */
#ifndef QUELL_ERRPAGE_H
#define QUELL_ERRPAGE_H

#include <stddef.h>

struct evbuffer;

/* The standard reason phrase for a status ("Bad Gateway"), "Unknown" else. */
const char *errpage_reason(int status);

/* 1 when an Accept header value (may be NULL) accepts text/html with a
 * non-zero q (an explicit text/html, text/(any), or a browser-style list). */
int errpage_wants_html(const char *accept);

/* Appends the page body for status to body: detail is the sentence (plain
 * text; it is HTML-escaped in the HTML form).  *content_type is set to a
 * static string with charset.  Returns 0 or -1 (ENOMEM). */
int errpage_body(struct evbuffer *body, int status, const char *detail,
                 int html, const char **content_type);

/* Escapes text for HTML (& < > " ') into out.  0/-1. */
int errpage_escape(struct evbuffer *out, const char *text, size_t len);

#endif
