/*
 * http1: a strict, incremental HTTP/1.0 and 1.1 parser for request and
 * response heads, and a streaming decoder for chunked bodies.
 *
 * Why our own: llhttp/http-parser are not Debian -dev packages usable from C
 * without vendoring, picohttpparser is not packaged, and evhttp's parser is
 * lenient where a proxy must be strict (request smuggling).  This one rejects
 * what smuggling needs (RFC 9112 §6.3, §11.2): Content-Length with
 * Transfer-Encoding, differing or malformed Content-Length, a request
 * Transfer-Encoding whose last coding is not chunked, bad chunk sizes,
 * obs-fold, NUL and bare CR in a head.
 *
 * Input may arrive split at any byte; the result never depends on the split.
 * The parser copies what it needs, so callers may drain their buffers.
 */
#ifndef QUELL_HTTP1_H
#define QUELL_HTTP1_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum http1_kind { HTTP1_REQUEST = 0, HTTP1_RESPONSE = 1 };

/* Return values of http1_parse() and http1_chunked_run(). */
enum { HTTP1_ERROR = -1, HTTP1_NEED_MORE = 0, HTTP1_DONE = 1 };

/* Field names the proxy looks at, classified once (http1_field_id) so that
 * later look-ups compare a number instead of names.  HTTP1_F_OTHER: any
 * other name. */
enum http1_field {
	HTTP1_F_OTHER = 0,
	HTTP1_F_ACCEPT, HTTP1_F_ACCEPT_ENCODING, HTTP1_F_CACHE_CONTROL, HTTP1_F_CONNECTION,
	HTTP1_F_CONTENT_ENCODING, HTTP1_F_CONTENT_LENGTH, HTTP1_F_CONTENT_SECURITY_POLICY,
	HTTP1_F_CONTENT_TYPE, HTTP1_F_COOKIE, HTTP1_F_ETAG, HTTP1_F_EXPECT, HTTP1_F_HOST,
	HTTP1_F_KEEP_ALIVE, HTTP1_F_LOCATION, HTTP1_F_ORIGIN, HTTP1_F_PING_TO,
	HTTP1_F_PROXY_AUTHENTICATE, HTTP1_F_PROXY_AUTHORIZATION, HTTP1_F_PROXY_CONNECTION,
	HTTP1_F_REFERER, HTTP1_F_SEC_FETCH_DEST, HTTP1_F_SEC_FETCH_MODE, HTTP1_F_SEC_FETCH_SITE,
	HTTP1_F_SET_COOKIE, HTTP1_F_TE, HTTP1_F_TRAILER, HTTP1_F_TRANSFER_ENCODING,
	HTTP1_F_UPGRADE, HTTP1_F_USER_AGENT, HTTP1_F_VARY,
};

/* The enum http1_field of name[0..len) (case-insensitive), HTTP1_F_OTHER
 * for names not listed there. */
int http1_field_id(const char *name, size_t len);

struct http1_header {            /* slices into the parser's own copy */
	const char *name;
	size_t name_len;
	const char *value;           /* leading/trailing whitespace trimmed */
	size_t value_len;
	int id;                      /* http1_field_id(name, name_len) */
};

/* The tokens of a head's Connection fields, as a set (conn_tokens):
 * OTHER for any token but close, keep-alive and upgrade. */
enum { HTTP1_CONN_CLOSE = 1, HTTP1_CONN_KEEP_ALIVE = 2, HTTP1_CONN_UPGRADE = 4,
       HTTP1_CONN_OTHER = 8 };

struct http1_head {
	int kind;
	int version_minor;           /* HTTP/1.<minor>: 0 or 1 */
	/* requests */
	const char *method;
	size_t method_len;
	const char *target;          /* as sent: absolute-form, origin-form, authority-form, '*' */
	size_t target_len;
	/* responses */
	int status;
	const char *reason;
	size_t reason_len;

	struct http1_header *headers;
	int n_headers;

	/* Framing, derived and validated while parsing. */
	int64_t content_length;      /* -1 when absent */
	int chunked;                 /* Transfer-Encoding ends in chunked */
	int has_transfer_encoding;   /* any Transfer-Encoding (responses: non-chunked TE = close-delimited) */
	int conn_close;              /* Connection: close, or HTTP/1.0 without keep-alive */
	int expect_continue;         /* request: Expect: 100-continue */
	int upgrade;                 /* Connection: upgrade together with an Upgrade header */
	int conn_tokens;             /* HTTP1_CONN_* seen in Connection fields */
	size_t head_len;             /* bytes of the head, final CRLF included */
};

struct http1_parser;

/* Creates a parser for one kind of head.  max_head bounds the whole head
 * (exceeding it is an error with status 431 for requests, 502 for responses);
 * max_headers bounds the header count (same statuses).  NULL on ENOMEM. */
struct http1_parser *http1_parser_new(int kind, size_t max_head, int max_headers);
void http1_parser_free(struct http1_parser *p);          /* NULL is a no-op */
void http1_parser_reset(struct http1_parser *p);         /* ready for the next head */

/* Feeds len bytes.  Returns HTTP1_DONE when the head is complete: *consumed
 * is the number of bytes of data that belonged to the head, the rest is body
 * or the next message.  HTTP1_NEED_MORE: all of data was consumed.
 * HTTP1_ERROR: see http1_parser_error().  After DONE or ERROR, call reset
 * before feeding again. */
int http1_parse(struct http1_parser *p, const char *data, size_t len, size_t *consumed);

/* The parsed head, valid after HTTP1_DONE until reset/free. */
const struct http1_head *http1_parser_head(const struct http1_parser *p);

/* After HTTP1_ERROR: the status to answer with (400, 431, 501, 505; 502 for
 * response heads) and a short reason for logs and error pages. */
int http1_parser_error(const struct http1_parser *p, const char **reason);

/* Finds a header (case-insensitive name); returns its index or -1.  start
 * lets the caller iterate over repeated headers. */
int http1_find_header(const struct http1_head *h, const char *name, int start);

/* 1 when the comma-separated header value list contains token (case-insensitive). */
int http1_value_has_token(const char *value, size_t len, const char *token);

/* How a response body is delimited, given the request method (RFC 9112 §6.3). */
enum http1_body { HTTP1_BODY_NONE, HTTP1_BODY_LENGTH, HTTP1_BODY_CHUNKED, HTTP1_BODY_CLOSE };
int http1_response_body(const struct http1_head *resp, const char *method, size_t method_len);

/* Chunked body decoder.  Moves the decoded payload from in to out
 * (evbuffer_remove_buffer, no copy where possible).  Trailer fields are kept
 * (raw "Name: value\r\n" lines) for the re-framer.  max_trailers bounds the
 * trailer section (bytes).  Returns HTTP1_DONE after the last chunk and
 * trailers (in keeps any bytes after them), HTTP1_NEED_MORE, or HTTP1_ERROR
 * (bad chunk size, overflow, missing CRLF, oversized trailers). */
struct http1_chunked;
struct http1_chunked *http1_chunked_new(size_t max_trailers);
void http1_chunked_free(struct http1_chunked *d);
void http1_chunked_reset(struct http1_chunked *d);
int http1_chunked_run(struct http1_chunked *d, struct evbuffer *in, struct evbuffer *out);
/* The trailer section as received (without the final CRLF), or len 0. */
const char *http1_chunked_trailers(const struct http1_chunked *d, size_t *len);
const char *http1_chunked_error(const struct http1_chunked *d);

/* Writes one chunk ("%zx\r\n" data "\r\n") moving all of data into out; a
 * zero-length data writes nothing.  http1_chunk_last writes "0\r\n",
 * trailers (may be NULL) and the final "\r\n".  0 or -1 (ENOMEM). */
int http1_chunk_write(struct evbuffer *out, struct evbuffer *data);
int http1_chunk_last(struct evbuffer *out, const char *trailers, size_t len);

/* 1 when name is a hop-by-hop header a proxy must not forward: Connection,
 * Proxy-Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-Authorization, Proxy-Authenticate, plus any name listed in the
 * message's own Connection header (pass the head). */
int http1_is_hop_header(const struct http1_head *h, const char *name, size_t len);
/* The same test for field i of h (0 <= i < h->n_headers), by its id. */
int http1_is_hop_field(const struct http1_head *h, int i);
/* 1 when the field named by an http1_field_id is hop-by-hop by its name
 * alone (the fixed list above, without any Connection). */
int http1_is_hop_id(int id);

#endif
