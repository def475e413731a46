/*
 * Unit tests for proxy/codec: decoders against the libraries' one-shot
 * encoders, encoders against their one-shot decoders, round trips, input
 * split at every byte / in 1-byte chunks / at random (seed printed),
 * truncated and corrupt streams, concatenated gzip members, the per-call
 * output bound.  Every test runs twice: gzip and deflate on ISA-L (when
 * libisal.so.2 is installed, as tools/deps.sh makes it) and forced onto
 * zlib; streams made by one library are decoded by the other.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <zlib.h>
#include <zstd.h>

#include "proxy/codec.h"

static unsigned test_seed;

/* Some text with repeats, so it compresses, plus a few random bytes. */
static unsigned char *sample(size_t n)
{
	unsigned char *p = malloc(n);
	const char *words[] = { "<div class=\"ad\">", "hello ", "world ", "</div>\n", "quell " };
	unsigned s = 12345;
	for (size_t i = 0; i < n;) {
		s = s * 1103515245u + 12345u;
		if ((s >> 16) % 10 == 0) {
			p[i++] = (unsigned char)(s >> 8);
			continue;
		}
		const char *w = words[(s >> 16) % 5];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (unsigned char)w[k];
	}
	return p;
}

/* ---- one-shot reference encoders ------------------------------------------------------ */

static unsigned char *ref_zlib(const unsigned char *d, size_t n, int wbits, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, n) + 32;
	unsigned char *o = malloc(cap);
	z.next_in = (unsigned char *)d;
	z.avail_in = (uInt)n;
	z.next_out = o;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return o;
}

static unsigned char *ref_encode(int kind, const unsigned char *d, size_t n, size_t *out_len)
{
	if (kind == CODEC_GZIP)
		return ref_zlib(d, n, 16 + 15, out_len);
	if (kind == CODEC_DEFLATE)
		return ref_zlib(d, n, 15, out_len);
	if (kind == CODEC_BR) {
		size_t cap = BrotliEncoderMaxCompressedSize(n) + 16;
		unsigned char *o = malloc(cap);
		*out_len = cap;
		assert_true(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, n, d, out_len, o));
		return o;
	}
	size_t cap = ZSTD_compressBound(n);
	unsigned char *o = malloc(cap);
	*out_len = ZSTD_compress(o, cap, d, n, 3);
	assert_false(ZSTD_isError(*out_len));
	return o;
}

/* ---- driving a codec with a given split ------------------------------------------------ */

/* Feeds data in pieces ending at cuts[] (or byte by byte), calling codec_run
 * until it stops asking for more; returns 0/-1 and the output in *out. */
static int run_pieces(struct codec *c, const unsigned char *d, size_t n, const size_t *cuts,
                      int ncuts, int bytewise, struct evbuffer *out)
{
	struct evbuffer *in = evbuffer_new();
	size_t off = 0;
	int k = 0, rc = 0;
	do {
		size_t end = bytewise ? (off < n ? off + 1 : n) : (k < ncuts ? cuts[k++] : n);
		evbuffer_add(in, d + off, end - off);
		off = end;
		int last = off == n;
		int guard = 0;
		while ((rc = codec_run(c, in, out, last)) == CODEC_MORE)
			assert_true(++guard < 100000);
		if (rc < 0)
			break;
		/* only a deflate decoder may hold back (its first byte) */
		assert_true(evbuffer_get_length(in) <= 1);
	} while (off < n);
	evbuffer_free(in);
	return rc;
}

static int decode_pieces(int kind, const unsigned char *d, size_t n, const size_t *cuts,
                         int ncuts, int bytewise, struct evbuffer *out)
{
	struct codec *c = codec_decoder_new(kind);
	assert_non_null(c);
	int rc = run_pieces(c, d, n, cuts, ncuts, bytewise, out);
	codec_free(c);
	return rc;
}

static void expect_buffer(struct evbuffer *b, const unsigned char *want, size_t n)
{
	assert_int_equal(evbuffer_get_length(b), n);
	if (n)
		assert_memory_equal(evbuffer_pullup(b, -1), want, n);
}

/* Decodes enc (which must decode to plain) whole, split at every position,
 * byte by byte and at random points. */
static void check_decode_splits(int kind, const unsigned char *enc, size_t elen,
                                const unsigned char *plain, size_t plen)
{
	struct evbuffer *out = evbuffer_new();
	assert_int_equal(decode_pieces(kind, enc, elen, NULL, 0, 0, out), 0);
	expect_buffer(out, plain, plen);
	for (size_t k = 1; k < elen; k++) {
		evbuffer_drain(out, evbuffer_get_length(out));
		if (decode_pieces(kind, enc, elen, &k, 1, 0, out) != 0)
			fail_msg("%s: split at %zu failed", codec_name(kind), k);
		expect_buffer(out, plain, plen);
	}
	evbuffer_drain(out, evbuffer_get_length(out));
	assert_int_equal(decode_pieces(kind, enc, elen, NULL, 0, 1, out), 0);
	expect_buffer(out, plain, plen);
	srand(test_seed);
	for (int t = 0; t < 20; t++) {
		size_t cuts[8];
		int nc = 0;
		for (size_t pos = 0; nc < 8;) {
			pos += 1 + (size_t)rand() % (elen / 4 + 1);
			if (pos >= elen)
				break;
			cuts[nc++] = pos;
		}
		evbuffer_drain(out, evbuffer_get_length(out));
		assert_int_equal(decode_pieces(kind, enc, elen, cuts, nc, 0, out), 0);
		expect_buffer(out, plain, plen);
	}
	evbuffer_free(out);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_01_parse(void **state)
{
	assert_int_equal(codec_parse("gzip", 4), CODEC_GZIP);
	assert_int_equal(codec_parse("X-GZip", 6), CODEC_GZIP);
	assert_int_equal(codec_parse(" deflate ", 9), CODEC_DEFLATE);
	assert_int_equal(codec_parse("br", 2), CODEC_BR);
	assert_int_equal(codec_parse("zstd", 4), CODEC_ZSTD);
	assert_int_equal(codec_parse("identity", 8), CODEC_IDENTITY);
	assert_int_equal(codec_parse("compress", 8), -1);
	assert_int_equal(codec_parse("gzipx", 5), -1);
	assert_int_equal(codec_parse("gzip", 3), -1);
	assert_int_equal(codec_parse("", 0), -1);
	assert_string_equal(codec_name(CODEC_BR), "br");
	assert_null(codec_decoder_new(17));
	assert_null(codec_encoder_new(CODEC_GZIP, 10));
	assert_null(codec_encoder_new(CODEC_ZSTD, 0));
	codec_free(NULL);
}

static void test_02_decode_reference_streams(void **state)
{
	size_t plen = 700, elen;
	unsigned char *plain = sample(plen);
	for (int kind = CODEC_GZIP; kind <= CODEC_ZSTD; kind++) {
		unsigned char *enc = ref_encode(kind, plain, plen, &elen);
		check_decode_splits(kind, enc, elen, plain, plen);
		free(enc);
	}
	/* raw deflate under "deflate" */
	unsigned char *raw = ref_zlib(plain, plen, -15, &elen);
	check_decode_splits(CODEC_DEFLATE, raw, elen, plain, plen);
	free(raw);
	free(plain);
}

/* Encodes plain with codec_encoder_new(kind, level) fed in odd pieces and
 * checks the result with the library's own one-shot decoder and with our
 * decoder byte by byte. */
static void round_trip(int kind, int level, const unsigned char *plain, size_t plen)
{
	struct codec *e = codec_encoder_new(kind, level);
	assert_non_null(e);
	struct evbuffer *enc = evbuffer_new();
	size_t cuts[] = { 1, 2, 100, 4096, 30000 };
	assert_int_equal(run_pieces(e, plain, plen, cuts, 5, 0, enc), 0);
	codec_free(e);
	size_t elen = evbuffer_get_length(enc);
	unsigned char *eb = malloc(elen);
	evbuffer_remove(enc, eb, elen);
	/* independent check with the library's own one-shot decoder */
	unsigned char *back = malloc(plen);
	size_t blen = plen;
	if (kind == CODEC_GZIP || kind == CODEC_DEFLATE) {
		z_stream z;
		memset(&z, 0, sizeof(z));
		inflateInit2(&z, kind == CODEC_GZIP ? 31 : 15);
		z.next_in = eb;
		z.avail_in = (uInt)elen;
		z.next_out = back;
		z.avail_out = (uInt)plen;
		assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
		blen = plen - z.avail_out;
		inflateEnd(&z);
	} else if (kind == CODEC_BR) {
		assert_int_equal(BrotliDecoderDecompress(elen, eb, &blen, back),
		                 BROTLI_DECODER_RESULT_SUCCESS);
	} else if (kind == CODEC_ZSTD) {
		blen = ZSTD_decompress(back, plen, eb, elen);
		assert_false(ZSTD_isError(blen));
	} else {
		memcpy(back, eb, elen);
		blen = elen;
	}
	assert_int_equal(blen, plen);
	assert_memory_equal(back, plain, plen);
	if (kind != CODEC_IDENTITY)
		assert_true(elen < plen / 2);
	/* and through our decoder, byte by byte */
	struct evbuffer *dec = evbuffer_new();
	assert_int_equal(decode_pieces(kind, eb, elen, NULL, 0, 1, dec), 0);
	expect_buffer(dec, plain, plen);
	evbuffer_free(dec);
	evbuffer_free(enc);
	free(eb);
	free(back);
}

static void test_03_encode_round_trip(void **state)
{
	size_t plen = 50000;
	unsigned char *plain = sample(plen);
	for (int kind = CODEC_IDENTITY; kind <= CODEC_ZSTD; kind++)
		round_trip(kind, -1, plain, plen);
	/* level 1, quell's own: ISA-L's encoder when it is there */
	round_trip(CODEC_GZIP, 1, plain, plen);
	round_trip(CODEC_DEFLATE, 1, plain, plen);
	free(plain);
}

static void test_04_encoder_split_invariance(void **state)
{
	size_t plen = 3000;
	unsigned char *plain = sample(plen);
	for (int lap = 0; lap < 6; lap++) {
		/* every kind at its default level, then gzip and deflate at 1 */
		int kind = lap < 4 ? CODEC_GZIP + lap : lap - 4 + CODEC_GZIP, level = lap < 4 ? -1 : 1;
		struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
		struct codec *e = codec_encoder_new(kind, level);
		assert_int_equal(run_pieces(e, plain, plen, NULL, 0, 0, a), 0);
		codec_free(e);
		e = codec_encoder_new(kind, level);
		assert_int_equal(run_pieces(e, plain, plen, NULL, 0, 1, b), 0);
		codec_free(e);
		/* compressed bytes may differ with the split; the content may not */
		size_t la = evbuffer_get_length(a), lb = evbuffer_get_length(b);
		unsigned char *ea = malloc(la), *eb = malloc(lb);
		evbuffer_remove(a, ea, la);
		evbuffer_remove(b, eb, lb);
		assert_int_equal(decode_pieces(kind, ea, la, NULL, 0, 0, a), 0);
		expect_buffer(a, plain, plen);
		assert_int_equal(decode_pieces(kind, eb, lb, NULL, 0, 0, b), 0);
		expect_buffer(b, plain, plen);
		free(ea);
		free(eb);
		evbuffer_free(a);
		evbuffer_free(b);
	}
	free(plain);
}

static void test_05_truncated(void **state)
{
	size_t plen = 400, elen;
	unsigned char *plain = sample(plen);
	for (int kind = CODEC_GZIP; kind <= CODEC_ZSTD; kind++) {
		unsigned char *enc = ref_encode(kind, plain, plen, &elen);
		for (size_t cut = 1; cut < elen; cut++) {
			struct evbuffer *out = evbuffer_new();
			struct codec *c = codec_decoder_new(kind);
			int rc = run_pieces(c, enc, cut, NULL, 0, 0, out);
			if (rc != -1)
				fail_msg("%s: prefix of %zu/%zu bytes accepted", codec_name(kind), cut, elen);
			assert_string_not_equal(codec_error(c), "no error");
			/* latched */
			assert_int_equal(codec_run(c, out, out, 1), -1);
			codec_free(c);
			evbuffer_free(out);
		}
		free(enc);
	}
	free(plain);
}

static void test_06_corrupt(void **state)
{
	size_t plen = 2000, elen;
	unsigned char *plain = sample(plen);
	struct evbuffer *out = evbuffer_new();
	/* gzip: a flipped byte in the middle fails the CRC or the data */
	unsigned char *enc = ref_encode(CODEC_GZIP, plain, plen, &elen);
	enc[elen / 2] ^= 0x55;
	assert_int_equal(decode_pieces(CODEC_GZIP, enc, elen, NULL, 0, 0, out), -1);
	free(enc);
	/* zlib: a bad checksum trailer */
	enc = ref_encode(CODEC_DEFLATE, plain, plen, &elen);
	enc[elen - 1] ^= 1;
	assert_int_equal(decode_pieces(CODEC_DEFLATE, enc, elen, NULL, 0, 0, out), -1);
	free(enc);
	static const unsigned char junk[] = "\xff\xff\xff\xff\xff\xff\xff\xff not compressed";
	for (int kind = CODEC_GZIP; kind <= CODEC_ZSTD; kind++) {
		if (decode_pieces(kind, junk, sizeof(junk) - 1, NULL, 0, 0, out) != -1)
			fail_msg("%s accepted junk", codec_name(kind));
	}
	/* plain text announced as gzip */
	assert_int_equal(decode_pieces(CODEC_GZIP, (const unsigned char *)"<html>", 6, NULL, 0, 0, out), -1);
	evbuffer_free(out);
	free(plain);
}

static void test_07_gzip_members_and_trailing(void **state)
{
	size_t l1, l2;
	unsigned char *m1 = ref_encode(CODEC_GZIP, (const unsigned char *)"hello ", 6, &l1);
	unsigned char *m2 = ref_encode(CODEC_GZIP, (const unsigned char *)"world", 5, &l2);
	unsigned char both[256];
	memcpy(both, m1, l1);
	memcpy(both + l1, m2, l2);
	check_decode_splits(CODEC_GZIP, both, l1 + l2, (const unsigned char *)"hello world", 11);
	/* trailing garbage after the last member is ignored, as browsers do */
	memcpy(both + l1 + l2, "\0\0junk", 6);
	check_decode_splits(CODEC_GZIP, both, l1 + l2 + 6, (const unsigned char *)"hello world", 11);
	/* a truncated second member is an error */
	struct evbuffer *out = evbuffer_new();
	assert_int_equal(decode_pieces(CODEC_GZIP, both, l1 + l2 / 2, NULL, 0, 0, out), -1);
	evbuffer_free(out);
	free(m1);
	free(m2);
}

static void test_08_empty_and_identity(void **state)
{
	struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
	for (int kind = CODEC_IDENTITY; kind <= CODEC_ZSTD; kind++) {
		struct codec *c = codec_decoder_new(kind);
		assert_int_equal(codec_run(c, in, out, 1), 0);   /* empty body */
		assert_int_equal(evbuffer_get_length(out), 0);
		codec_free(c);
	}
	struct codec *c = codec_decoder_new(CODEC_IDENTITY);
	evbuffer_add(in, "abc", 3);
	assert_int_equal(codec_run(c, in, out, 0), 0);
	assert_int_equal(evbuffer_get_length(in), 0);
	expect_buffer(out, (const unsigned char *)"abc", 3);
	codec_free(c);
	/* an encoder refuses data after it finished */
	c = codec_encoder_new(CODEC_GZIP, 1);
	assert_int_equal(codec_run(c, in, out, 1), 0);
	evbuffer_add(in, "x", 1);
	assert_int_equal(codec_run(c, in, out, 1), -1);
	codec_free(c);
	evbuffer_free(in);
	evbuffer_free(out);
}

/* A small stream expanding to 12 MiB: no call may append more than
 * CODEC_OUT_LIMIT, and the caller gets everything by calling again. */
static void test_09_bomb_bound(void **state)
{
	size_t plen = 12u << 20;
	unsigned char *zeros = calloc(1, plen);
	for (int kind = CODEC_GZIP; kind <= CODEC_ZSTD; kind++) {
		size_t elen;
		unsigned char *enc = ref_encode(kind, zeros, plen, &elen);
		assert_true(elen < 64 * 1024);
		struct codec *c = codec_decoder_new(kind);
		struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
		evbuffer_add(in, enc, elen);
		size_t total = 0;
		int rc, calls = 0;
		do {
			rc = codec_run(c, in, out, 1);
			size_t got = evbuffer_get_length(out);
			assert_true(got <= CODEC_OUT_LIMIT);
			total += got;
			evbuffer_drain(out, got);          /* the client took it */
			assert_true(++calls < 100);
		} while (rc == CODEC_MORE);
		assert_int_equal(rc, 0);
		assert_int_equal(total, plen);
		assert_true(calls >= 12);
		codec_free(c);
		evbuffer_free(in);
		evbuffer_free(out);
		free(enc);
	}
	free(zeros);
}

/* A level-1 stream made by one library decodes through the other: the
 * encoder on ISA-L (or zlib), read by zlib's inflate and by our decoder
 * forced onto zlib; and zlib's level-1 stream read by our decoder on
 * whichever library is in charge. */
static void test_10_across_libraries(void **state)
{
	size_t plen = 70000;
	unsigned char *plain = sample(plen);
	for (int kind = CODEC_GZIP; kind <= CODEC_DEFLATE; kind++) {
		struct evbuffer *enc = evbuffer_new(), *dec = evbuffer_new();
		struct codec *e = codec_encoder_new(kind, 1);
		assert_int_equal(run_pieces(e, plain, plen, NULL, 0, 1, enc), 0);
		codec_free(e);
		size_t elen = evbuffer_get_length(enc);
		unsigned char *eb = malloc(elen);
		evbuffer_remove(enc, eb, elen);
		codec_force_zlib(1);
		assert_int_equal(decode_pieces(kind, eb, elen, NULL, 0, 0, dec), 0);
		codec_force_zlib(*(int *)*state);
		expect_buffer(dec, plain, plen);
		free(eb);
		/* zlib's own level 1 through the decoder in charge */
		unsigned char *zb = ref_zlib(plain, plen, kind == CODEC_GZIP ? 31 : 15, &elen);
		evbuffer_drain(dec, evbuffer_get_length(dec));
		assert_int_equal(decode_pieces(kind, zb, elen, NULL, 0, 0, dec), 0);
		expect_buffer(dec, plain, plen);
		free(zb);
		evbuffer_free(enc);
		evbuffer_free(dec);
	}
	free(plain);
}

/* Decodes d with the library forced (zlib = 1) or not; returns rc and the
 * output in out. */
static int decode_with(int zlib, int kind, const unsigned char *d, size_t n, const size_t *cuts,
                       int ncuts, struct evbuffer *out)
{
	codec_force_zlib(zlib);
	int rc = decode_pieces(kind, d, n, cuts, ncuts, 0, out);
	codec_force_zlib(0);
	return rc;
}

/* "at:old>new ..." for the bytes where two streams differ (failure messages). */
static const char *diffs(const unsigned char *a, const unsigned char *b, size_t n)
{
	static char msg[256];
	size_t o = 0;
	msg[0] = 0;
	for (size_t i = 0; i < n && o < sizeof(msg) - 24; i++)
		if (a[i] != b[i])
			o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%zu:%02x>%02x ", i, a[i], b[i]);
	return msg;
}

/* Corrupted gzip and deflate streams (bytes flipped at random, seed
 * printed): ISA-L and zlib agree on every one, success with the same bytes
 * or failure, whatever the split. */
static void test_11_corruption_agrees(void **state)
{
	size_t plen = 3000, elen;
	unsigned char *plain = sample(plen);
	srand(test_seed);
	for (int kind = CODEC_GZIP; kind <= CODEC_DEFLATE; kind++) {
		unsigned char *enc = ref_encode(kind, plain, plen, &elen);
		unsigned char *bad = malloc(elen);
		for (int t = 0; t < 300; t++) {
			memcpy(bad, enc, elen);
			int flips = 1 + rand() % 3;
			for (int f = 0; f < flips; f++) {
				/* the header and trailer get more than their share */
				size_t at = rand() % 2 ? (size_t)rand() % elen
				                       : (rand() % 2 ? (size_t)rand() % 12 : elen - 1 - (size_t)rand() % 8);
				bad[at] ^= (unsigned char)(1u << (rand() % 8));
			}
			size_t cut = 1 + (size_t)rand() % (elen - 1);
			struct evbuffer *a = evbuffer_new(), *b = evbuffer_new();
			int ra = decode_with(1, kind, bad, elen, NULL, 0, a);
			int rb = decode_with(0, kind, bad, elen, &cut, 1, b);
			if (ra != rb)
				fail_msg("%s try %d: zlib %d, other %d (len %zu, diff at %s)", codec_name(kind), t, ra, rb, elen, diffs(enc, bad, elen));
			if (ra == 0) {
				size_t la = evbuffer_get_length(a);
				assert_int_equal(la, evbuffer_get_length(b));
				if (la)
					assert_memory_equal(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), la);
			}
			evbuffer_free(a);
			evbuffer_free(b);
		}
		free(bad);
		free(enc);
	}
	free(plain);
	codec_force_zlib(*(int *)*state);
}

/* A zlib stream asking for a preset dictionary is refused by both. */
static void test_12_preset_dictionary(void **state)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	unsigned char out[256];
	assert_int_equal(deflateInit(&z, 6), Z_OK);
	assert_int_equal(deflateSetDictionary(&z, (const unsigned char *)"hello world", 11), Z_OK);
	z.next_in = (unsigned char *)"hello world hello";
	z.avail_in = 17;
	z.next_out = out;
	z.avail_out = sizeof(out);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = sizeof(out) - z.avail_out;
	deflateEnd(&z);
	struct evbuffer *o = evbuffer_new();
	assert_int_equal(decode_pieces(CODEC_DEFLATE, out, n, NULL, 0, 0, o), -1);
	evbuffer_free(o);
}

/* Which library is in charge: zlib when forced, else ISA-L if it loads. */
static void test_13_library(void **state)
{
	int zlib = *(int *)*state;
	if (zlib)
		assert_string_equal(codec_gzip_library(), "zlib");
	else if (strcmp(codec_gzip_library(), "isal") != 0)
		printf("test_codec: libisal.so.2 not found; both runs use zlib\n");
}

/* Decodes gzip in a codec pair alive at once (one takes the thread's spare
 * ISA-L state, the other a new one), interleaved; then both freed and new
 * ones (the spares again) decode gzip, raw deflate and zlib. */
static void *decode_pairs(void *arg)
{
	size_t plen = 40000, l1, l2;
	unsigned char *plain = sample(plen);
	unsigned char *g = ref_zlib(plain, plen, 31, &l1), *r = ref_zlib(plain, plen, -15, &l2);
	for (int round = 0; round < 3; round++) {
		struct codec *a = codec_decoder_new(CODEC_GZIP), *b = codec_decoder_new(CODEC_GZIP);
		struct evbuffer *ia = evbuffer_new(), *ib = evbuffer_new();
		struct evbuffer *oa = evbuffer_new(), *ob = evbuffer_new();
		for (size_t off = 0; off < l1; off += 1000) {
			size_t k = l1 - off < 1000 ? l1 - off : 1000;
			evbuffer_add(ia, g + off, k);
			evbuffer_add(ib, g + off, k);
			assert_int_equal(codec_run(a, ia, oa, off + k == l1), 0);
			assert_int_equal(codec_run(b, ib, ob, off + k == l1), 0);
		}
		expect_buffer(oa, plain, plen);
		expect_buffer(ob, plain, plen);
		codec_free(a);
		codec_free(b);
		evbuffer_free(ia);
		evbuffer_free(ib);
		evbuffer_free(oa);
		evbuffer_free(ob);
		struct evbuffer *o = evbuffer_new();
		assert_int_equal(decode_pieces(CODEC_DEFLATE, r, l2, NULL, 0, 1, o), 0);
		expect_buffer(o, plain, plen);
		evbuffer_free(o);
		round_trip(CODEC_GZIP, 1, plain, plen);
	}
	free(g);
	free(r);
	free(plain);
	return arg;
}

/* ISA-L states kept per thread serve the next codecs, in this thread and
 * in one that exits (its spares go with it: no leak under ASan). */
static void test_14_states_reused(void **state)
{
	decode_pairs(NULL);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, decode_pairs, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static int use_zlib = 1, use_default = 0;

static int setup_zlib(void **state)
{
	codec_force_zlib(1);
	*state = &use_zlib;
	return 0;
}

static int setup_default(void **state)
{
	codec_force_zlib(0);
	*state = &use_default;
	return 0;
}

int main(void)
{
	const char *env = getenv("TEST_SEED");
	test_seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
	printf("test_codec: random splits with TEST_SEED=%u\n", test_seed);
	printf("test_codec: gzip/deflate on %s, then forced onto zlib\n", codec_gzip_library());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_parse),
		cmocka_unit_test(test_02_decode_reference_streams),
		cmocka_unit_test(test_03_encode_round_trip),
		cmocka_unit_test(test_04_encoder_split_invariance),
		cmocka_unit_test(test_05_truncated),
		cmocka_unit_test(test_06_corrupt),
		cmocka_unit_test(test_07_gzip_members_and_trailing),
		cmocka_unit_test(test_08_empty_and_identity),
		cmocka_unit_test(test_09_bomb_bound),
		cmocka_unit_test(test_10_across_libraries),
		cmocka_unit_test(test_11_corruption_agrees),
		cmocka_unit_test(test_12_preset_dictionary),
		cmocka_unit_test(test_13_library),
		cmocka_unit_test(test_14_states_reused),
	};
	int failed = cmocka_run_group_tests_name("codec (default library)", tests, setup_default, NULL);
	failed += cmocka_run_group_tests_name("codec (zlib forced)", tests, setup_zlib, NULL);
	return failed;
}
