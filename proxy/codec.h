/*
 * codec: streaming content codings (gzip, deflate, br, zstd) for the body
 * chain, over evbuffers.
 *
 * A decoder undoes one Content-Encoding so the HTML rewriter sees text; an
 * encoder may re-apply one.  Output never depends on how input was split.
 * Decoders bound what one call produces (CODEC_OUT_LIMIT) so a decompression
 * bomb cannot make the proxy hold more than the caller lets through: the
 * caller drains out to its client and calls again.  zstd windows are capped
 * at 8 MiB (as browsers do) so one stream cannot claim 128 MiB.
 *
 * gzip and deflate run on ISA-L (Intel's igzip: libisal.so.2, opened on
 * first use) when it is installed, several times faster than zlib, which
 * stays the fallback; the encoder only at level 1 (quell's own), where the
 * two compress alike.  Behaviour is the same on both.
 *
 * Lenient where browsers are: an empty body decodes to nothing; bytes after
 * the end of a deflate/br stream or after the last gzip member (when they
 * do not start another member) are ignored.
 */
#ifndef QUELL_CODEC_H
#define QUELL_CODEC_H

#include <stddef.h>

struct evbuffer;
struct codec;

enum codec_kind { CODEC_IDENTITY, CODEC_GZIP, CODEC_DEFLATE, CODEC_BR, CODEC_ZSTD };

#define CODEC_OUT_LIMIT (1024 * 1024)   /* most bytes one codec_run call appends */

/* "gzip", "x-gzip", "deflate", "br", "zstd", "identity" (case-insensitive,
 * len bytes, surrounding spaces ignored) -> enum codec_kind; -1 unknown. */
int codec_parse(const char *name, size_t len);

/* The canonical Content-Encoding token of a kind ("gzip", ...). */
const char *codec_name(int kind);

/* A decoder for kind ("deflate" accepts zlib-wrapped and raw deflate, told
 * apart by the first two bytes).  NULL on ENOMEM or an unknown kind. */
struct codec *codec_decoder_new(int kind);

/* An encoder for kind; level -1 picks a default (gzip/deflate 6, br 5,
 * zstd 3), otherwise the library's range (zlib 0-9, br 0-11, zstd 1-19).
 * "deflate" produces the zlib format (RFC 9110 §8.4.1.2).  NULL on ENOMEM,
 * unknown kind or bad level. */
struct codec *codec_encoder_new(int kind, int level);

/* Moves in through the codec, appending the result to out.  last=1 means in
 * holds the end of the stream: the encoder finishes, the decoder checks the
 * stream is complete.  Returns:
 *   0  in fully consumed (a deflate decoder may keep its first byte in in
 *      until the second arrives) and, with last, the stream is finished;
 *   1  this call appended CODEC_OUT_LIMIT bytes and stopped: in keeps what
 *      is left; drain out, then call again (same last);
 *  -1  error (corrupt or truncated stream, data after the end, ENOMEM);
 *      latched, see codec_error(). */
#define CODEC_MORE 1
int codec_run(struct codec *c, struct evbuffer *in, struct evbuffer *out, int last);

/* A short reason after -1, "no error" otherwise. */
const char *codec_error(const struct codec *c);

void codec_free(struct codec *c);                  /* NULL is a no-op */

/* "isal" or "zlib": the library gzip/deflate codecs created now would use
 * (loads ISA-L on the first call). */
const char *codec_gzip_library(void);

/* Tests and benchmarks: on = 1 makes codecs created afterwards use zlib even
 * when ISA-L is there; 0 undoes it.  Codecs already made keep theirs. */
void codec_force_zlib(int on);

#endif
