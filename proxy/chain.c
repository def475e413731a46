/*
 * chain: the response body filter chain (see chain.h for the contract).
 *
 * The chain owns one evbuffer between consecutive active stages.  The
 * origin's framing is removed first (Content-Length counted, chunked
 * decoded, close-delimited to EOF); the client's framing is written last.
 * With no content filter accepted there are no stages, and evbuffer chains
 * are moved from the origin's buffer to the client's, never copied.
 */
#include "proxy/chain.h"
#include "proxy/headers.h"
#include "proxy/http1.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAIN_MAGIC 0x4348414eu       /* "CHAN" */
#define CHAIN_MAX_STAGES 8
#define CHAIN_MAX_TRAILERS 8192

/* The table, in order.  The content filters go between decode and encode;
 * the lead adds &chain_html_filter (filters/html_filter.h) here. */
static const struct chain_filter *const chain_table[] = {
	NULL,
};

struct stage {
	const struct chain_filter *f;
	void *state;
	struct evbuffer *out;             /* this stage's output */
};

struct chain {
	unsigned magic;
	const struct chain_filter *const *table;
	size_t n_table;
	int in_body;                      /* enum http1_body of the origin */
	int64_t remaining;                /* HTTP1_BODY_LENGTH: bytes left */
	struct http1_chunked *dechunk;
	int out_chunked;                  /* chunk the client's body */
	int transforms;
	int done;
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

/* Latches the first error.  Returns -1. */
static int fail(struct chain *c, const char *why)
{
	if (!c->err)
		c->err = why;
	return -1;
}

/* Adds an accepted filter.  0/-1. */
static int push(struct chain *c, const struct chain_filter *f, void *state)
{
	struct evbuffer *out = c->n < CHAIN_MAX_STAGES ? evbuffer_new() : NULL;
	if (!out) {
		f->close(state);
		return fail(c, "out of memory");
	}
	c->st[c->n++] = (struct stage){ f, state, out };
	return 0;
}

/* 1 when proxy/chain can give the filters plain bytes for this encoding. */
static int decodable(const char *enc)
{
	return !enc[0] || !strcasecmp(enc, "identity");
}

/* Opens the content filters in table order.  0/-1. */
static int open_content(struct chain *c, const struct chain_msg *msg)
{
	struct chain_msg m = *msg;
	m.decodable = decodable(m.content_encoding ? m.content_encoding : "");
	for (size_t i = 0; i < c->n_table; i++) {
		const struct chain_filter *f = c->table[i];
		void *state = NULL;
		if (!f || !(f->flags & CHAIN_F_CONTENT))
			continue;
		int r = f->open(&m, &state);
		if (r == CHAIN_ERROR)
			return fail(c, f->name);
		if (r == CHAIN_ACCEPT && push(c, f, state) != 0)
			return -1;
	}
	c->transforms = c->n > 0;
	return 0;
}

/* Decides the client's framing and fixes the head accordingly.  0/-1. */
static int set_framing(struct chain *c, const struct chain_msg *msg,
                       const struct chain_framing *f, int *client_close)
{
	struct headers *h = msg->resp_headers;
	*client_close = 0;
	if (f->body == HTTP1_BODY_NONE)
		return 0;
	if (f->body == HTTP1_BODY_LENGTH && !c->transforms)
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
	c->in_body = f->body;
	c->remaining = f->body == HTTP1_BODY_LENGTH ? f->length : 0;
	if (f->body == HTTP1_BODY_CHUNKED && !(c->dechunk = http1_chunked_new(CHAIN_MAX_TRAILERS)))
		return fail(c, "out of memory");
	if (f->body != HTTP1_BODY_NONE && open_content(c, msg) != 0)
		return -1;
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

/* Runs the stages; returns the buffer holding the final bytes, or NULL. */
static struct evbuffer *run_stages(struct chain *c, int last)
{
	struct evbuffer *src = c->plain;
	for (int i = 0; i < c->n; i++) {
		struct stage *s = &c->st[i];
		if (s->f->process(s->state, src, s->out, last) == CHAIN_ERROR) {
			fail(c, s->f->name);
			return NULL;
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
	int last = unframe(c, in, eof);
	if (last < 0)
		return -1;
	struct evbuffer *src = run_stages(c, last);
	if (!src || frame(c, src, out, last) != 0)
		return -1;
	c->done = last;
	return last;
}

const char *chain_error(const struct chain *c) { return c->err; }
int chain_transforms(const struct chain *c) { return c->transforms; }
uint64_t chain_bytes_in(const struct chain *c) { return c->bytes_in; }
uint64_t chain_bytes_out(const struct chain *c) { return c->bytes_out; }
