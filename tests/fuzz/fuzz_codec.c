/*
 * libFuzzer target for proxy/codec: the first byte picks a content coding and
 * a split position; the rest is decoded in two pieces and must give the same
 * bytes (or the same failure) as a one-piece decode.  gzip and deflate are
 * decoded whole on zlib and split on ISA-L (when libisal.so.2 is there), so
 * the two libraries must agree too.  Output is bounded by the codec's
 * per-call limit, so a bomb cannot exhaust memory here.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "proxy/codec.h"

/* Decodes d[0..n) fed as d[0..cut) then the rest; returns -1 on a decode
 * error, else 0 with the output in out (capped at 8 MiB). */
static int decode(int kind, const uint8_t *d, size_t n, size_t cut, struct evbuffer *out)
{
	struct codec *c = codec_decoder_new(kind);
	struct evbuffer *in = evbuffer_new();
	int rc = 0;
	if (!c || !in)
		abort();
	size_t pieces[2][2] = { { 0, cut }, { cut, n - cut } };
	for (int i = 0; i < 2 && rc >= 0; i++) {
		evbuffer_add(in, d + pieces[i][0], pieces[i][1]);
		int last = i == 1;
		do {
			rc = codec_run(c, in, out, last);
			if (evbuffer_get_length(out) > (8u << 20))
				evbuffer_drain(out, evbuffer_get_length(out) - (8u << 20));
		} while (rc == CODEC_MORE);
	}
	codec_free(c);
	evbuffer_free(in);
	return rc < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int kinds[] = { CODEC_GZIP, CODEC_DEFLATE, CODEC_BR, CODEC_ZSTD };
	if (size < 2)
		return 0;
	int kind = kinds[data[0] & 3];
	data++;
	size--;
	size_t cut = size ? (size_t)data[0] % (size + 1) : 0;
	struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
	codec_force_zlib(1);
	int ra = decode(kind, data, size, size, a);
	codec_force_zlib(0);
	int rb = decode(kind, data, size, cut, b);
	if (ra != rb && (ra == 0) != (rb == 0))
		abort();
	if (ra == 0 && evbuffer_get_length(a) < (8u << 20)) {
		size_t la = evbuffer_get_length(a), lb = evbuffer_get_length(b);
		if (la != lb || (la && memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), la) != 0))
			abort();
	}
	evbuffer_free(a);
	evbuffer_free(b);
	return 0;
}
