/*
 * libFuzzer target for proxy/http1: the first input byte picks the head kind
 * and a split position; the rest is fed to the head parser in two pieces
 * (the result must match a one-piece parse), then whatever follows the head
 * goes through the chunked decoder, also in two pieces.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "proxy/http1.h"
#include "tests/http1_field_names.h"

/* A slow reference for http1_field_id: the same names, strncasecmp. */
static int field_id_ref(const char *name, size_t len)
{
	for (size_t k = 0; k < sizeof http1_field_names / sizeof http1_field_names[0]; k++)
		if (strlen(http1_field_names[k].name) == len &&
		    strncasecmp(name, http1_field_names[k].name, len) == 0)
			return http1_field_names[k].id;
	return HTTP1_F_OTHER;
}

static int parse_split(int kind, const uint8_t *d, size_t n, size_t cut, size_t *used, int *status)
{
	struct http1_parser *p = http1_parser_new(kind, 8192, 64);
	size_t c1 = 0, c2 = 0;
	if (!p)
		abort();
	int rc = http1_parse(p, (const char *)d, cut, &c1);
	if (rc == HTTP1_NEED_MORE && cut < n)
		rc = http1_parse(p, (const char *)d + cut, n - cut, &c2);
	*used = c1 + c2;
	*status = rc == HTTP1_ERROR ? http1_parser_error(p, NULL) : 0;
	if (rc == HTTP1_DONE) {
		/* touch every slice so ASan checks they point into live memory */
		const struct http1_head *h = http1_parser_head(p);
		volatile unsigned sum = 0;
		for (int i = 0; i < h->n_headers; i++) {
			for (size_t k = 0; k < h->headers[i].name_len; k++)
				sum += (unsigned char)h->headers[i].name[k];
			for (size_t k = 0; k < h->headers[i].value_len; k++)
				sum += (unsigned char)h->headers[i].value[k];
			/* the classified forms agree with the plain ones */
			if (http1_is_hop_field(h, i) !=
			    http1_is_hop_header(h, h->headers[i].name, h->headers[i].name_len))
				abort();
			if (h->headers[i].id != field_id_ref(h->headers[i].name, h->headers[i].name_len))
				abort();
		}
		(void)http1_response_body(h, "GET", 3);
		(void)sum;
	}
	http1_parser_free(p);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int kind = data[0] & 1;
	const uint8_t *d = data + 1;
	size_t n = size - 1, cut = n ? (size_t)(data[0] >> 1) % (n + 1) : 0;

	/* field names from any bytes (CR, NUL, high bytes, case) */
	size_t m = n < 30 ? n : 30;
	if (http1_field_id((const char *)d, m) != field_id_ref((const char *)d, m))
		abort();

	size_t used1, used2;
	int st1, st2;
	int rc1 = parse_split(kind, d, n, n, &used1, &st1);
	int rc2 = parse_split(kind, d, n, cut, &used2, &st2);
	if (rc1 != rc2 || used1 != used2 || st1 != st2)
		abort();                 /* the result depends on the split */

	/* Body: what follows a complete head, or the whole input otherwise. */
	size_t off = rc1 == HTTP1_DONE ? used1 : 0;
	struct http1_chunked *ch = http1_chunked_new(1024);
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	if (!ch || !in || !out)
		abort();
	size_t bcut = off + (n - off) / 2;
	evbuffer_add(in, d + off, bcut - off);
	int rc = http1_chunked_run(ch, in, out);
	if (rc == HTTP1_NEED_MORE) {
		evbuffer_add(in, d + bcut, n - bcut);
		rc = http1_chunked_run(ch, in, out);
	}
	if (rc == HTTP1_DONE) {
		size_t tl;
		const char *tr = http1_chunked_trailers(ch, &tl);
		struct evbuffer *re = evbuffer_new();
		if (http1_chunk_write(re, out) || http1_chunk_last(re, tr, tl))
			abort();
		evbuffer_free(re);
	}
	http1_chunked_free(ch);
	evbuffer_free(in);
	evbuffer_free(out);
	return 0;
}
