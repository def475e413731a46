/*
 * chain: the response body filter chain (see chain.h for the contract).
 *
 * The chain owns one evbuffer after each active stage.  The origin's
 * framing is removed first (Content-Length counted, chunked decoded,
 * close-delimited to EOF); the client's framing is written last.  With no
 * stage active, evbuffer chains are moved from the origin's buffer to the
 * client's, never copied.
 */
#include "proxy/chain.h"
#include "filters/html_filter.h"
#include "proxy/codec.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/http1.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAIN_MAGIC 0x4348414eu       /* "CHAN" */
#define CHAIN_MAX_STAGES 8
#define CHAIN_MAX_TRAILERS 8192
#define CHAIN_DEFAULT_LIMIT (256 * 1024)
#define CHAIN_MAX_ROUNDS 64

/* ---- decode and encode: proxy/codec as chain stages ------------------------- */

static int codec_process(void *state, struct evbuffer *src, struct evbuffer *dst, int last)
{
	/* CODEC_MORE: the codec stopped at its output bound; ISA-L's inflate
	 * may have read all of src ahead, so src can be empty. */
	int r = codec_run(state, src, dst, last);
	return r < 0 ? CHAIN_ERROR : r == CODEC_MORE ? CHAIN_MORE : CHAIN_OK;
}

static void codec_close(void *state)
{
	codec_free(state);
}

/* open() of these two is not used: chain_open builds them (see below). */
static const struct chain_filter decode_filter = { "decode", 0, NULL, codec_process, codec_close };
static const struct chain_filter encode_filter = { "encode", 0, NULL, codec_process, codec_close };

/* The table of content filters, in order, between decode and encode (see
 * chain.h): the HTML rewriter (filters/html_filter.h, issue 5). */
static const struct chain_filter *const chain_table[] = {
	&chain_html_filter,
};

struct stage {
	const struct chain_filter *f;
	void *state;
	struct evbuffer *out;             /* this stage's output */
	int finished;                     /* flushed with last = 1 */
};

struct chain {
	unsigned magic;
	const struct chain_filter *const *table;
	size_t n_table;
	int in_body;                      /* enum http1_body of the origin */
	int64_t remaining;                /* HTTP1_BODY_LENGTH: bytes left */
	struct http1_chunked *dechunk;
	int out_chunked;                  /* chunk the client's body */
	int transforms;                   /* a content filter accepted */
	int reframe;                      /* the body changes: new framing */
	int in_done;                      /* the origin's body is complete */
	int pending;                      /* a stage wants another call */
	int done;
	size_t limit;
	struct evbuffer *plain;           /* the body without the origin's framing */
	struct stage st[CHAIN_MAX_STAGES];
	int n;
	const char *err;
	uint64_t bytes_in, bytes_out;
};

struct chain *chain_new(void)
{
	return chain_new_table(chain_table, sizeof chain_table / sizeof chain_table[0]);
}

struct chain *chain_new_table(const struct chain_filter *const *table, size_t n)
{
	struct chain *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->magic = CHAIN_MAGIC;
	c->table = table;
	c->n_table = n;
	c->limit = CHAIN_DEFAULT_LIMIT;
	c->plain = evbuffer_new();
	if (!c->plain) {
		free(c);
		return NULL;
	}
	return c;
}

void chain_free(struct chain *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		c->st[i].f->close(c->st[i].state);
		evbuffer_free(c->st[i].out);
	}
	http1_chunked_free(c->dechunk);
	evbuffer_free(c->plain);
	c->magic = 0;
	free(c);
}

void chain_set_limit(struct chain *c, size_t bytes)
{
	c->limit = bytes ? bytes : CHAIN_DEFAULT_LIMIT;
}

/* Latches the first error.  Returns -1. */
static int fail(struct chain *c, const char *why)
{
	if (!c->err)
		c->err = why;
	return -1;
}

/* Inserts an accepted stage at position at.  0/-1 (state closed on -1). */
static int insert(struct chain *c, int at, const struct chain_filter *f, void *state)
{
	struct evbuffer *out = c->n < CHAIN_MAX_STAGES ? evbuffer_new() : NULL;
	if (!out) {
		f->close(state);
		return fail(c, "out of memory");
	}
	memmove(&c->st[at + 1], &c->st[at], (size_t)(c->n - at) * sizeof c->st[0]);
	c->st[at] = (struct stage){ f, state, out, 0 };
	c->n++;
	return 0;
}

/* The codec for a Content-Encoding value: CODEC_IDENTITY for none, -1 when
 * quell cannot decode it (unknown, or several codings stacked). */
static int encoding_of(const char *enc)
{
	if (!enc || !*enc)
		return CODEC_IDENTITY;
	if (strchr(enc, ','))
		return -1;
	return codec_parse(enc, strlen(enc));
}

/* 1 when an Accept-Encoding value (NULL: header absent) allows kind. */
static int client_accepts(const char *ae, int kind)
{
	if (kind == CODEC_IDENTITY)
		return 1;
	if (!ae)
		return 0;
	size_t n = strlen(ae);
	return http1_value_has_token(ae, n, codec_name(kind)) || http1_value_has_token(ae, n, "*") ||
	       (kind == CODEC_GZIP && http1_value_has_token(ae, n, "x-gzip"));
}

/* Opens the content filters in table order.  Sets *plain when one that
 * accepted needs decoded bytes.  0/-1. */
static int open_content(struct chain *c, const struct chain_msg *msg, int *plain)
{
	struct chain_msg m = *msg;
	m.decodable = encoding_of(m.content_encoding) >= 0;
	for (size_t i = 0; i < c->n_table; i++) {
		const struct chain_filter *f = c->table[i];
		void *state = NULL;
		if (!f || !(f->flags & CHAIN_F_CONTENT))
			continue;
		int r = f->open(&m, &state);
		if (r == CHAIN_ERROR)
			return fail(c, f->name);
		if (r != CHAIN_ACCEPT)
			continue;
		if (insert(c, c->n, f, state) != 0)
			return -1;
		*plain |= (f->flags & CHAIN_F_PLAIN) != 0;
	}
	c->transforms = c->n > 0;
	c->reframe = c->transforms;
	return 0;
}

/* A changed representation keeps only a weak validator. */
static int weaken_etag(struct headers *h)
{
	const char *e = headers_get(h, "ETag");
	char buf[512];
	if (!e || !strncmp(e, "W/", 2))
		return 0;
	snprintf(buf, sizeof buf, "W/%s", e);
	return headers_set(h, "ETag", buf);
}

/* Adds decode (and encode) stages when the body is encoded and a filter
 * needs plain bytes or the client cannot read the encoding.  0/-1. */
static int open_codecs(struct chain *c, const struct chain_msg *msg, int plain)
{
	struct headers *h = msg->resp_headers;
	int kind = encoding_of(msg->content_encoding);
	if (kind <= CODEC_IDENTITY || (!plain && client_accepts(msg->accept_encoding, kind)))
		return 0;
	struct codec *dec = codec_decoder_new(kind);
	if (!dec || insert(c, 0, &decode_filter, dec) != 0)
		return fail(c, "out of memory");
	headers_del(h, "Content-Encoding");
	c->reframe = 1;
	int recompress = msg->cfg && msg->cfg->recompress && client_accepts(msg->accept_encoding, CODEC_GZIP);
	if (recompress) {
		/* level 1, as nginx's gzip_comp_level default: on a LAN the
		 * proxy's CPU matters more than the last 10 % of size */
		struct codec *enc = codec_encoder_new(CODEC_GZIP, 1);
		if (!enc || insert(c, c->n, &encode_filter, enc) != 0)
			return fail(c, "out of memory");
		headers_set(h, "Content-Encoding", "gzip");
	}
	if (!headers_get(h, "Vary"))
		headers_add_str(h, "Vary", "Accept-Encoding");
	return weaken_etag(h) ? fail(c, "out of memory") : 0;
}

/* Decides the client's framing and fixes the head accordingly.  0/-1. */
static int set_framing(struct chain *c, const struct chain_msg *msg,
                       const struct chain_framing *f, int *client_close)
{
	struct headers *h = msg->resp_headers;
	*client_close = 0;
	if (f->body == HTTP1_BODY_NONE)
		return 0;
	if (f->body == HTTP1_BODY_LENGTH && !c->reframe)
		return 0;                       /* Content-Length stays as it is */
	headers_del(h, "Content-Length");
	if (f->client_minor >= 1) {
		c->out_chunked = 1;
		return headers_set(h, "Transfer-Encoding", "chunked") ? fail(c, "out of memory") : 0;
	}
	*client_close = 1;                  /* HTTP/1.0: the end is the close */
	return 0;
}

int chain_open(struct chain *c, const struct chain_msg *msg,
               const struct chain_framing *f, int *client_close)
{
	int plain = 0;
	c->in_body = f->body;
	c->remaining = f->body == HTTP1_BODY_LENGTH ? f->length : 0;
	if (f->body == HTTP1_BODY_CHUNKED && !(c->dechunk = http1_chunked_new(CHAIN_MAX_TRAILERS)))
		return fail(c, "out of memory");
	if (f->body != HTTP1_BODY_NONE &&
	    (open_content(c, msg, &plain) != 0 || open_codecs(c, msg, plain) != 0))
		return -1;
	if (c->transforms && weaken_etag(msg->resp_headers) != 0)
		return fail(c, "out of memory");
	return set_framing(c, msg, f, client_close);
}

/* Moves body bytes from in to c->plain.  Returns 1 when the origin's body
 * is complete, 0 when more is expected, -1 on error. */
static int unframe(struct chain *c, struct evbuffer *in, int eof)
{
	size_t before = evbuffer_get_length(c->plain), avail = evbuffer_get_length(in);
	int done = 0;
	switch (c->in_body) {
	case HTTP1_BODY_NONE:
		return 1;
	case HTTP1_BODY_LENGTH: {
		size_t n = (uint64_t)c->remaining < avail ? (size_t)c->remaining : avail;
		if (n && evbuffer_remove_buffer(in, c->plain, n) != (int)n)
			return fail(c, "out of memory");
		c->remaining -= (int64_t)n;
		done = c->remaining == 0;
		break;
	}
	case HTTP1_BODY_CHUNKED: {
		int r = http1_chunked_run(c->dechunk, in, c->plain);
		if (r == HTTP1_ERROR)
			return fail(c, http1_chunked_error(c->dechunk));
		done = r == HTTP1_DONE;
		break;
	}
	default:
		if (evbuffer_add_buffer(c->plain, in) != 0)
			return fail(c, "out of memory");
		done = eof;
	}
	c->bytes_in += evbuffer_get_length(c->plain) - before;
	if (!done && eof)
		return fail(c, "the origin closed the connection before the end of the body");
	return done;
}

/* Runs every stage once; sets c->pending when one stopped early.  Returns
 * the buffer holding the final bytes, or NULL on error. */
static struct evbuffer *run_stages(struct chain *c)
{
	struct evbuffer *src = c->plain;
	int earlier_pending = 0;
	c->pending = 0;
	for (int i = 0; i < c->n; i++) {
		struct stage *s = &c->st[i];
		int last = c->in_done && !earlier_pending;
		if (!s->finished) {
			int r = s->f->process(s->state, src, s->out, last);
			int left = evbuffer_get_length(src) > 0;
			if (r == CHAIN_ERROR) {
				fail(c, s->f->name);
				return NULL;
			}
			if (r == CHAIN_MORE || (left && r == CHAIN_OK))
				c->pending = earlier_pending = 1;
			else if (left && last) {
				fail(c, "a filter kept bytes at the end of the body");
				return NULL;
			} else if (last)
				s->finished = 1;
		}
		src = s->out;
	}
	return src;
}

/* Writes the client's framing.  0/-1. */
static int frame(struct chain *c, struct evbuffer *src, struct evbuffer *out, int last)
{
	c->bytes_out += evbuffer_get_length(src);
	if (!c->out_chunked)
		return evbuffer_add_buffer(out, src) ? fail(c, "out of memory") : 0;
	if (http1_chunk_write(out, src) != 0)
		return fail(c, "out of memory");
	if (last) {
		size_t tlen = 0;
		const char *tr = c->dechunk ? http1_chunked_trailers(c->dechunk, &tlen) : NULL;
		if (http1_chunk_last(out, tr, tlen) != 0)
			return fail(c, "out of memory");
	}
	return 0;
}

int chain_run(struct chain *c, struct evbuffer *in, struct evbuffer *out, int eof)
{
	if (c->err)
		return -1;
	if (c->done)
		return 1;
	if (!c->in_done) {
		int r = unframe(c, in, eof);
		if (r < 0)
			return -1;
		c->in_done = r;
	}
	for (int round = 0; round < CHAIN_MAX_ROUNDS; round++) {
		struct evbuffer *src = run_stages(c);
		if (!src)
			return -1;
		int last = c->in_done && !c->pending;
		if (frame(c, src, out, last) != 0)
			return -1;
		if (last) {
			c->done = 1;
			return 1;
		}
		if (!c->pending || evbuffer_get_length(out) >= c->limit)
			break;
	}
	return 0;
}

const char *chain_accept_encoding(void)
{
	for (size_t i = 0; i < sizeof chain_table / sizeof chain_table[0]; i++)
		if (chain_table[i] && (chain_table[i]->flags & CHAIN_F_PLAIN))
			return "gzip, deflate, br, zstd";
	return NULL;
}

int64_t chain_remaining(const struct chain *c)
{
	return c->in_body == HTTP1_BODY_LENGTH && !c->in_done ? c->remaining : -1;
}

int chain_pending(const struct chain *c) { return c->pending; }
const char *chain_error(const struct chain *c) { return c->err; }
int chain_transforms(const struct chain *c) { return c->transforms; }
uint64_t chain_bytes_in(const struct chain *c) { return c->bytes_in; }
uint64_t chain_bytes_out(const struct chain *c) { return c->bytes_out; }
