/*
 * chain: the response body filter chain.
 *
 * A response body flows from the origin's bytes to the client's bytes through
 * one ordered table of filters (chain.c): dechunk (remove the origin's
 * framing), decode (gzip/deflate/br/zstd to plain bytes, via proxy/codec),
 * the content filters (the HTML rewriter), encode (gzip again when the
 * client accepts it and config recompress is on), frame (the client's
 * framing: the origin's Content-Length kept when nothing rewrites, otherwise
 * chunked for HTTP/1.1 clients and close-delimited for HTTP/1.0).
 *
 * A filter is {name, flags, open, process, close}:
 *  - open(msg, &state) runs once at the response head.  It returns
 *    CHAIN_ACCEPT (state set, process will see every body byte),
 *    CHAIN_DECLINE (never called again for this response), or CHAIN_ERROR
 *    (the client gets a 502).  An accepting filter may edit msg->resp_headers
 *    (drop Content-Length, weaken ETag, add a header); the chain itself drops
 *    Content-Length and sets the framing whenever a content filter accepted.
 *    Content filters are opened first, in table order; decode is opened
 *    afterwards when the body is encoded and either an accepted filter has
 *    CHAIN_F_PLAIN or the client does not accept the encoding (quell asks
 *    origins for every encoding it decodes); encode (gzip) follows a decode
 *    when config recompress is on and the client accepts gzip.  A
 *    CHAIN_F_PLAIN filter must decline when msg->decodable is 0 (an
 *    encoding quell cannot decode).  chain_open sets msg->decodable.
 *  - process(state, src, dst, last) moves what it can from src into dst and
 *    returns CHAIN_OK, CHAIN_NEED_MORE or CHAIN_ERROR.  Bytes it leaves in
 *    src mean: with CHAIN_NEED_MORE, a bounded tail held until more input
 *    arrives (a split tag); with CHAIN_OK, it stopped early to bound its
 *    output and wants to be called again (same last) once dst drained.
 *    CHAIN_MORE says the same when src may be empty (a decompressor holding
 *    output it read ahead for): call again, same last.
 *    last = 1 when src holds the end of the body: everything must then be
 *    flushed to dst (CHAIN_NEED_MORE with last is an error).  A filter that
 *    returned CHAIN_OK with last = 1 and an empty src is not called again.
 *    Output must not depend on how the input was split.
 *  - close(state) frees the state; called once for every accepted filter,
 *    also when the response is aborted.
 * When no content filter accepts, the body passes untouched (evbuffer chains
 * are moved, not copied), only the framing is checked and rewritten.
 * The chain latches its first error (chain_error()).
 */
#ifndef QUELL_CHAIN_H
#define QUELL_CHAIN_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct headers;
struct config;

enum { CHAIN_ERROR = -1, CHAIN_OK = 0, CHAIN_NEED_MORE = 1, CHAIN_MORE = 2 };   /* process() */
enum { CHAIN_DECLINE = 0, CHAIN_ACCEPT = 1 };                   /* open() */

enum {
	CHAIN_F_CONTENT = 1 << 0,   /* a content filter (rewrites the body) */
	CHAIN_F_PLAIN = 1 << 1,     /* needs the body decoded (no Content-Encoding) */
};

/* What open() sees.  Strings are NUL-terminated and live until the response
 * ends.  resp_headers is the head that will go to the client (hop-by-hop
 * fields already removed) and may be edited in open(). */
struct chain_msg {
	const char *url;                    /* absolute request URL */
	const char *method;
	int status;
	struct headers *resp_headers;
	const struct headers *req_headers;  /* the request as the client sent it */
	const char *content_type;           /* media type, lower case, no parameters ("" if none) */
	const char *content_encoding;       /* as received, "" if none */
	int decodable;                      /* 1: identity, or an encoding proxy/codec decodes */
	int client_gzip;                    /* the client accepts gzip */
	const char *accept_encoding;        /* the client's Accept-Encoding, NULL if none */
	int tls;                            /* the request came over intercepted TLS */
	const struct config *cfg;
};

struct chain_filter {
	const char *name;
	unsigned flags;                     /* CHAIN_F_* */
	int (*open)(const struct chain_msg *msg, void **state);
	int (*process)(void *state, struct evbuffer *src, struct evbuffer *dst, int last);
	void (*close)(void *state);
};

/* How the origin delimits the body (http1_response_body()) and how the
 * client wants it: client_minor is the client's HTTP/1.x minor version. */
struct chain_framing {
	int body;                           /* enum http1_body */
	int64_t length;                     /* HTTP1_BODY_LENGTH */
	int client_minor;
};

struct chain;

/* A new chain for one response (the table of filters is fixed in chain.c).
 * NULL on ENOMEM.  chain_free(NULL) is a no-op; it closes open filters. */
struct chain *chain_new(void);
/* The same over another table of filters (unit tests, tools); the table must
 * outlive the chain. */
struct chain *chain_new_table(const struct chain_filter *const *table, size_t n);
void chain_free(struct chain *c);

/* Opens the filters for a response (see above) and fixes the framing fields
 * of msg->resp_headers (Content-Length, Transfer-Encoding).  Returns 0, or -1
 * (chain_error() says why; answer 502).  *client_close is set to 1 when the
 * body to the client is close-delimited, so the connection must close. */
int chain_open(struct chain *c, const struct chain_msg *msg,
               const struct chain_framing *f, int *client_close);

/* The Accept-Encoding to send origins in place of the client's when the
 * client sent one: every encoding quell decodes, when a content filter of
 * the table wants plain bytes (so it can read any encoding; chain_open
 * decodes for clients that do not accept it).  NULL: forward the client's. */
const char *chain_accept_encoding(void);

/* Bounds what one chain_run appends to out when a stage could produce more
 * (a decompressor): the rest comes on the next call.  Default 256 KiB. */
void chain_set_limit(struct chain *c, size_t bytes);

/* Moves body bytes from in (the origin's raw bytes, framing included) to out
 * (the client's bytes, framing included).  eof = 1 when the origin closed.
 * Returns 1 when the body is complete (bytes after it stay in in), 0 when
 * more is expected, -1 on error: a framing error, a filter error, or the
 * origin closing before the end (chain_error() says which); the client's
 * response must then be aborted, never ended cleanly.  0 may leave work
 * pending with the input complete: call again (eof as before) once out has
 * drained; chain_pending() tells. */
int chain_run(struct chain *c, struct evbuffer *in, struct evbuffer *out, int eof);

/* Body bytes the origin still owes for a Content-Length body, else -1
 * (chunked, close-delimited, none, or complete). */
int64_t chain_remaining(const struct chain *c);
/* 1 when a stage has output waiting (call chain_run again after draining). */
int chain_pending(const struct chain *c);
/* The first error latched, or NULL. */
const char *chain_error(const struct chain *c);
/* 1 when a content filter accepted this response. */
int chain_transforms(const struct chain *c);
/* Body bytes seen from the origin (after dechunking) and sent to the client
 * (before framing). */
uint64_t chain_bytes_in(const struct chain *c);
uint64_t chain_bytes_out(const struct chain *c);

#endif
