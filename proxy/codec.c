/*
 * codec: one driver loop (codec_run) over per-library steps.
 *
 * Each step function takes a window of input and a window of output space
 * and advances both, like the libraries themselves; the driver peeks input
 * extents from the evbuffer, reserves output space in out, drains and
 * commits what the step used, and stops at CODEC_OUT_LIMIT.  Nothing is
 * copied besides what the libraries write.
 */
#include "proxy/codec.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <dlfcn.h>
#include <event2/buffer.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <zlib.h>
#include <zstd.h>

#define CODEC_MAGIC 0x434f4443u          /* "CODC" */
#define CODEC_STEP_OUT (16 * 1024)       /* output reserved per step */
/* ISA-L's inflate keeps its 32 KiB history by copying it out of the caller's
 * output after each call: bigger windows mean fewer such copies.  Only
 * when CODEC_ISAL_BIG_IN bytes of input are there to fill them: a stream
 * trickling in must not pin a 64 KiB chain per piece. */
#define CODEC_ISAL_STEP_OUT (64 * 1024)
#define CODEC_ISAL_BIG_IN (8 * 1024)
#define CODEC_ISAL_LEVEL_BUF ISAL_DEF_LVL1_MEDIUM   /* 148 KiB; LARGE is no faster on pages */
#define CODEC_ZSTD_WINDOW_LOG 23         /* 8 MiB */

enum { STEP_ERR = -1, STEP_OK = 0, STEP_END = 1 };

struct codec {
	unsigned magic;
	int kind;
	int encoder;
	int started;                 /* some input seen */
	int ended;                   /* stream complete (encoder: finished) */
	int discard;                 /* decoder: ignore bytes after the end */
	int failed;
	const char *error;
	int zinit;                   /* z_stream initialised */
	z_stream z;
	struct isal_zstream *ie;     /* ISA-L encoder (gzip, deflate level 1) */
	unsigned char *ie_level;     /* its level buffer */
	struct inflate_state *id;    /* ISA-L decoder (gzip, deflate) */
	unsigned member_pos;         /* ISA-L gzip: header bytes of this member seen (to 4) */
	BrotliDecoderState *brd;
	BrotliEncoderState *bre;
	ZSTD_DStream *zd;
	ZSTD_CCtx *zc;
};

static const char *const names[] = { "identity", "gzip", "deflate", "br", "zstd" };

int codec_parse(const char *name, size_t len)
{
	while (len && (*name == ' ' || *name == '\t'))
		name++, len--;
	while (len && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	if (len == 6 && strncasecmp(name, "x-gzip", 6) == 0)
		return CODEC_GZIP;
	for (int k = 0; k < (int)(sizeof(names) / sizeof(names[0])); k++)
		if (strlen(names[k]) == len && strncasecmp(name, names[k], len) == 0)
			return k;
	return -1;
}

const char *codec_name(int kind)
{
	return kind >= 0 && kind <= CODEC_ZSTD ? names[kind] : "unknown";
}

static int fail(struct codec *c, const char *why)
{
	c->failed = 1;
	c->error = why;
	return -1;
}

/* ---- ISA-L, loaded on first use ------------------------------------------------------ */

/*
 * gzip and deflate run on Intel's ISA-L (igzip) when libisal.so.2 is there:
 * on a 120 KB HTML page its level 1 compresses in ~200 us where zlib's level
 * 1 takes ~820 us, and it inflates in ~85 us where zlib takes ~240 us, with
 * the same streaming model (windows in, windows out) and gzip/zlib/raw
 * framing.  It is opened with dlopen on the first codec that wants it rather
 * than linked: a quell that never meets gzip does not map it (idle memory),
 * `make STATIC=1` needs no libisal.a (Debian ships none), and a machine
 * without libisal2 simply keeps zlib.  We compile against its header, so the
 * state structs are laid out as that header says; the soname pins the ABI,
 * and every function is looked up and checked before any is used (a library
 * missing one leaves zlib in charge).
 */
static struct {
	void (*deflate_init)(struct isal_zstream *);
	int (*deflate)(struct isal_zstream *);
	void (*inflate_init)(struct inflate_state *);
	int (*inflate)(struct inflate_state *);
} isal;
static int isal_loaded;                  /* written once under isal_once */
static pthread_once_t isal_once = PTHREAD_ONCE_INIT;
static atomic_int isal_off;              /* codec_force_zlib() */

/*
 * Each thread keeps the ISA-L states of its last codecs for the next ones
 * (one decoder, one encoder with its level buffer: 87 + 230 KiB).  Freed
 * after every response, they left the heap's top large enough for glibc
 * to trim it: one madvise per gzip response, the next one faulting the
 * pages back in (~80 us of a 120 KB page's 700).  A thread that never
 * served gzip keeps nothing; the states go with the thread (spare_key's
 * destructor).
 */
struct isal_spare {
	struct inflate_state *id;
	struct isal_zstream *ie;
	unsigned char *ie_level;
};
static pthread_key_t spare_key;
static int spare_key_ok;

static void spare_free(void *arg)
{
	struct isal_spare *sp = arg;
	free(sp->id);
	free(sp->ie);
	free(sp->ie_level);
	free(sp);
}

/* This thread's spare states; NULL when there is no key or no memory. */
static struct isal_spare *spare_get(void)
{
	if (!spare_key_ok)
		return NULL;
	struct isal_spare *sp = pthread_getspecific(spare_key);
	if (!sp && (sp = calloc(1, sizeof *sp)) && pthread_setspecific(spare_key, sp) != 0) {
		free(sp);
		sp = NULL;
	}
	return sp;
}

/* QUELL_NO_ISAL in the environment keeps zlib: an escape hatch should a
 * libisal misbehave, and how the e2e tests run the proxy on both. */
static void isal_load(void)
{
	if (getenv("QUELL_NO_ISAL"))
		return;
	spare_key_ok = pthread_key_create(&spare_key, spare_free) == 0;
	void *h = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	isal.deflate_init = (void (*)(struct isal_zstream *))dlsym(h, "isal_deflate_init");
	isal.deflate = (int (*)(struct isal_zstream *))dlsym(h, "isal_deflate");
	isal.inflate_init = (void (*)(struct inflate_state *))dlsym(h, "isal_inflate_init");
	isal.inflate = (int (*)(struct inflate_state *))dlsym(h, "isal_inflate");
	if (!isal.deflate_init || !isal.deflate || !isal.inflate_init || !isal.inflate) {
		dlclose(h);
		return;
	}
	isal_loaded = 1;                     /* the handle stays open for the process */
}

/* 1 when new gzip/deflate codecs should use ISA-L. */
static int isal_usable(void)
{
	if (atomic_load(&isal_off))
		return 0;
	pthread_once(&isal_once, isal_load);
	return isal_loaded;
}

const char *codec_gzip_library(void)
{
	return isal_usable() ? "isal" : "zlib";
}

void codec_force_zlib(int on)
{
	atomic_store(&isal_off, on != 0);
}

/* ISA-L's inflate error codes, in zlib's words where zlib has them. */
static const char *isal_error(int r)
{
	switch (r) {
	case ISAL_NEED_DICT:          return "preset dictionary not supported";
	case ISAL_INVALID_BLOCK:      return "invalid block";
	case ISAL_INVALID_SYMBOL:     return "invalid code";
	case ISAL_INVALID_LOOKBACK:   return "invalid distance too far back";
	case ISAL_INVALID_WRAPPER:    return "incorrect header check";
	case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
	case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
	default:                      return "corrupt stream";
	}
}

/* Starts (or restarts, for the next gzip member) an ISA-L decoder reading
 * framing fmt (ISAL_GZIP, ISAL_ZLIB, ISAL_DEFLATE).  0, or -1 on ENOMEM. */
static int isal_inflate_start(struct codec *c, int fmt)
{
	struct isal_spare *sp = c->id ? NULL : spare_get();
	if (sp && sp->id) {
		c->id = sp->id;
		sp->id = NULL;
	}
	if (!c->id && !(c->id = malloc(sizeof *c->id)))
		return -1;
	isal.inflate_init(c->id);
	c->id->crc_flag = (uint32_t)fmt;
	c->id->hist_bits = 0;                /* the whole 32 KiB window */
	return 0;
}

/* ---- constructors ------------------------------------------------------------------ */

struct codec *codec_decoder_new(int kind)
{
	if (kind < CODEC_IDENTITY || kind > CODEC_ZSTD)
		return NULL;
	struct codec *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->magic = CODEC_MAGIC;
	c->kind = kind;
	if (kind == CODEC_GZIP && isal_usable()) {
		if (isal_inflate_start(c, ISAL_GZIP) != 0)
			goto fail;
	} else if (kind == CODEC_GZIP) {
		if (inflateInit2(&c->z, 16 + MAX_WBITS) != Z_OK)
			goto fail;
		c->zinit = 1;
	} else if (kind == CODEC_BR) {
		if (!(c->brd = BrotliDecoderCreateInstance(NULL, NULL, NULL)))
			goto fail;
	} else if (kind == CODEC_ZSTD) {
		if (!(c->zd = ZSTD_createDStream()) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(c->zd, ZSTD_d_windowLogMax,
		                                        CODEC_ZSTD_WINDOW_LOG)))
			goto fail;
	}
	/* deflate: the decoder waits for the first two bytes (zlib or raw) */
	return c;
fail:
	codec_free(c);
	return NULL;
}

struct codec *codec_encoder_new(int kind, int level)
{
	if (kind < CODEC_IDENTITY || kind > CODEC_ZSTD)
		return NULL;
	struct codec *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->magic = CODEC_MAGIC;
	c->kind = kind;
	c->encoder = 1;
	if ((kind == CODEC_GZIP || kind == CODEC_DEFLATE) && level == 1 && isal_usable()) {
		/* Only level 1, quell's own: ISA-L has no match for zlib's stored
		 * level 0 nor for its slow 4-9; its level 1 compresses pages as
		 * well as zlib's (32.5 KB against 32.7 KB on the 120 KB page). */
		struct isal_spare *sp = spare_get();
		if (sp && sp->ie) {
			c->ie = sp->ie;
			c->ie_level = sp->ie_level;
			sp->ie = NULL;
			sp->ie_level = NULL;
		}
		if ((!c->ie && !(c->ie = malloc(sizeof *c->ie))) ||
		    (!c->ie_level && !(c->ie_level = malloc(CODEC_ISAL_LEVEL_BUF))))
			goto fail;
		isal.deflate_init(c->ie);
		c->ie->level = 1;
		c->ie->level_buf = c->ie_level;
		c->ie->level_buf_size = CODEC_ISAL_LEVEL_BUF;
		c->ie->gzip_flag = kind == CODEC_GZIP ? IGZIP_GZIP : IGZIP_ZLIB;
		c->ie->flush = NO_FLUSH;
	} else if (kind == CODEC_GZIP || kind == CODEC_DEFLATE) {
		if (level == -1)
			level = 6;
		if (level < 0 || level > 9 ||
		    deflateInit2(&c->z, level, Z_DEFLATED, (kind == CODEC_GZIP ? 16 : 0) + MAX_WBITS,
		                 8, Z_DEFAULT_STRATEGY) != Z_OK)
			goto fail;
		c->zinit = 1;
	} else if (kind == CODEC_BR) {
		if (level == -1)
			level = 5;
		if (level < BROTLI_MIN_QUALITY || level > BROTLI_MAX_QUALITY ||
		    !(c->bre = BrotliEncoderCreateInstance(NULL, NULL, NULL)) ||
		    !BrotliEncoderSetParameter(c->bre, BROTLI_PARAM_QUALITY, (uint32_t)level))
			goto fail;
	} else if (kind == CODEC_ZSTD) {
		if (level == -1)
			level = 3;
		if (level < 1 || level > ZSTD_maxCLevel() || !(c->zc = ZSTD_createCCtx()) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, level)))
			goto fail;
	}
	return c;
fail:
	codec_free(c);
	return NULL;
}

void codec_free(struct codec *c)
{
	if (!c)
		return;
	assert(c->magic == CODEC_MAGIC);
	if (c->zinit)
		(void)(c->encoder ? deflateEnd(&c->z) : inflateEnd(&c->z));
	if (c->brd)
		BrotliDecoderDestroyInstance(c->brd);
	if (c->bre)
		BrotliEncoderDestroyInstance(c->bre);
	ZSTD_freeDStream(c->zd);                /* NULL is fine for both */
	ZSTD_freeCCtx(c->zc);
	struct isal_spare *sp = c->ie || c->id ? spare_get() : NULL;
	if (sp && c->id && !sp->id) {
		sp->id = c->id;
		c->id = NULL;
	}
	if (sp && c->ie && c->ie_level && !sp->ie) {
		sp->ie = c->ie;
		sp->ie_level = c->ie_level;
		c->ie = NULL;
		c->ie_level = NULL;
	}
	free(c->ie);
	free(c->ie_level);
	free(c->id);
	c->magic = 0;
	free(c);
}

const char *codec_error(const struct codec *c)
{
	assert(c->magic == CODEC_MAGIC);
	return c->error ? c->error : "no error";
}

/* ---- steps: advance the input window (ip, il) and the output window (op, ol) ---- */

static int step_inflate(struct codec *c, const unsigned char **ip, size_t *il,
                        unsigned char **op, size_t *ol)
{
	if (c->ended) {
		if (*il == 0)
			return STEP_OK;
		/* After a gzip member another may follow; anything else is ignored. */
		if (c->kind == CODEC_GZIP && !c->discard && *il > 0 && **ip == 0x1f) {
			if (inflateReset(&c->z) != Z_OK)
				return STEP_ERR;
			c->ended = 0;
		} else {
			c->discard = 1;
			*ip += *il;
			*il = 0;
			return STEP_OK;
		}
	}
	c->z.next_in = (unsigned char *)(uintptr_t)*ip;
	c->z.avail_in = (uInt)(*il > UINT32_MAX ? UINT32_MAX : *il);
	c->z.next_out = *op;
	c->z.avail_out = (uInt)*ol;
	uInt in0 = c->z.avail_in, out0 = c->z.avail_out;
	int r = inflate(&c->z, Z_NO_FLUSH);
	*ip += in0 - c->z.avail_in;
	*il -= in0 - c->z.avail_in;
	*op += out0 - c->z.avail_out;
	*ol -= out0 - c->z.avail_out;
	if (r == Z_STREAM_END) {
		c->ended = 1;
		return STEP_OK;
	}
	if (r == Z_OK || r == Z_BUF_ERROR)      /* BUF_ERROR: no progress possible now */
		return STEP_OK;
	c->error = c->z.msg ? c->z.msg : "corrupt stream";
	return STEP_ERR;
}

static int step_deflate(struct codec *c, const unsigned char **ip, size_t *il,
                        unsigned char **op, size_t *ol, int finish)
{
	c->z.next_in = (unsigned char *)(uintptr_t)*ip;
	c->z.avail_in = (uInt)(*il > UINT32_MAX ? UINT32_MAX : *il);
	c->z.next_out = *op;
	c->z.avail_out = (uInt)*ol;
	uInt in0 = c->z.avail_in, out0 = c->z.avail_out;
	int r = deflate(&c->z, finish && c->z.avail_in == *il ? Z_FINISH : Z_NO_FLUSH);
	*ip += in0 - c->z.avail_in;
	*il -= in0 - c->z.avail_in;
	*op += out0 - c->z.avail_out;
	*ol -= out0 - c->z.avail_out;
	if (r == Z_STREAM_END)
		return STEP_END;
	if (r == Z_OK || r == Z_BUF_ERROR)
		return STEP_OK;
	c->error = c->z.msg ? c->z.msg : "deflate failed";
	return STEP_ERR;
}

/* The same as step_inflate on ISA-L.  At the end of a member ISA-L hands
 * back the input it read ahead, so what follows is seen as zlib sees it. */
static int step_isal_inflate(struct codec *c, const unsigned char **ip, size_t *il,
                             unsigned char **op, size_t *ol)
{
	struct inflate_state *s = c->id;
	if (c->ended) {
		if (*il == 0)
			return STEP_OK;
		if (c->kind == CODEC_GZIP && !c->discard && **ip == 0x1f) {
			isal_inflate_start(c, ISAL_GZIP);        /* reuses c->id: cannot fail */
			c->ended = 0;
			c->member_pos = 0;
		} else {
			c->discard = 1;
			*ip += *il;
			*il = 0;
			return STEP_OK;
		}
	}
	/* zlib refuses a gzip header with reserved flag bits set (FLG, the
	 * fourth byte); ISA-L ignores them.  Refuse them here too. */
	for (size_t k = c->member_pos; c->kind == CODEC_GZIP && k < 4 && k - c->member_pos < *il; k++)
		if (k == 3 && ((*ip)[k - c->member_pos] & 0xe0)) {
			c->error = "unknown header flags set";
			return STEP_ERR;
		}
	uint32_t in0 = (uint32_t)(*il > UINT32_MAX ? UINT32_MAX : *il), out0 = (uint32_t)*ol;
	s->next_in = (uint8_t *)(uintptr_t)*ip;
	s->avail_in = in0;
	s->next_out = *op;
	s->avail_out = out0;
	int r = isal.inflate(s);
	if (c->member_pos < 4)
		c->member_pos += in0 - s->avail_in < 4 ? (unsigned)(in0 - s->avail_in) : 4;
	*ip += in0 - s->avail_in;
	*il -= in0 - s->avail_in;
	*op += out0 - s->avail_out;
	*ol -= out0 - s->avail_out;
	if (r != ISAL_DECOMP_OK) {               /* errors are < 0; NEED_DICT is > 0 */
		c->error = isal_error(r);
		return STEP_ERR;
	}
	if (s->block_state == ISAL_BLOCK_FINISH)
		c->ended = 1;
	return STEP_OK;
}

/* The same as step_deflate on ISA-L: end_of_stream only once the window
 * holds the last input, as Z_FINISH. */
static int step_isal_deflate(struct codec *c, const unsigned char **ip, size_t *il,
                             unsigned char **op, size_t *ol, int finish)
{
	struct isal_zstream *s = c->ie;
	uint32_t in0 = (uint32_t)(*il > UINT32_MAX ? UINT32_MAX : *il), out0 = (uint32_t)*ol;
	s->next_in = (uint8_t *)(uintptr_t)*ip;
	s->avail_in = in0;
	s->next_out = *op;
	s->avail_out = out0;
	s->end_of_stream = finish && in0 == *il;
	int r = isal.deflate(s);
	*ip += in0 - s->avail_in;
	*il -= in0 - s->avail_in;
	*op += out0 - s->avail_out;
	*ol -= out0 - s->avail_out;
	if (r != COMP_OK) {
		c->error = "deflate failed";
		return STEP_ERR;
	}
	return s->internal_state.state == ZSTATE_END ? STEP_END : STEP_OK;
}

static int step_brotli_dec(struct codec *c, const unsigned char **ip, size_t *il,
                           unsigned char **op, size_t *ol)
{
	if (c->ended) {
		c->discard = 1;
		*ip += *il;
		*il = 0;
		return STEP_OK;
	}
	BrotliDecoderResult r = BrotliDecoderDecompressStream(c->brd, il, ip, ol, op, NULL);
	if (r == BROTLI_DECODER_RESULT_SUCCESS) {
		c->ended = 1;
		return STEP_OK;
	}
	if (r == BROTLI_DECODER_RESULT_ERROR) {
		c->error = BrotliDecoderErrorString(BrotliDecoderGetErrorCode(c->brd));
		return STEP_ERR;
	}
	return STEP_OK;
}

static int step_brotli_enc(struct codec *c, const unsigned char **ip, size_t *il,
                           unsigned char **op, size_t *ol, int finish)
{
	BrotliEncoderOperation o = finish ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
	if (!BrotliEncoderCompressStream(c->bre, o, il, ip, ol, op, NULL)) {
		c->error = "brotli encoder failed";
		return STEP_ERR;
	}
	return finish && BrotliEncoderIsFinished(c->bre) ? STEP_END : STEP_OK;
}

/* zstd decodes frame after frame; ended tracks "no frame half done". */
static int step_zstd_dec(struct codec *c, const unsigned char **ip, size_t *il,
                         unsigned char **op, size_t *ol)
{
	ZSTD_inBuffer in = { *ip, *il, 0 };
	ZSTD_outBuffer out = { *op, *ol, 0 };
	size_t r = ZSTD_decompressStream(c->zd, &out, &in);
	*ip += in.pos;
	*il -= in.pos;
	*op += out.pos;
	*ol -= out.pos;
	if (ZSTD_isError(r)) {
		c->error = ZSTD_getErrorName(r);
		return STEP_ERR;
	}
	if (in.pos || out.pos)
		c->ended = r == 0;
	return STEP_OK;
}

static int step_zstd_enc(struct codec *c, const unsigned char **ip, size_t *il,
                         unsigned char **op, size_t *ol, int finish)
{
	ZSTD_inBuffer in = { *ip, *il, 0 };
	ZSTD_outBuffer out = { *op, *ol, 0 };
	size_t r = ZSTD_compressStream2(c->zc, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
	*ip += in.pos;
	*il -= in.pos;
	*op += out.pos;
	*ol -= out.pos;
	if (ZSTD_isError(r)) {
		c->error = ZSTD_getErrorName(r);
		return STEP_ERR;
	}
	return finish && r == 0 ? STEP_END : STEP_OK;
}

/* finish: in holds the last input and this window is all of it. */
static int step(struct codec *c, const unsigned char **ip, size_t *il, unsigned char **op,
                size_t *ol, int finish)
{
	switch (c->kind) {
	case CODEC_GZIP:
	case CODEC_DEFLATE:
		if (c->ie)
			return step_isal_deflate(c, ip, il, op, ol, finish);
		if (c->id)
			return step_isal_inflate(c, ip, il, op, ol);
		return c->encoder ? step_deflate(c, ip, il, op, ol, finish)
		                  : step_inflate(c, ip, il, op, ol);
	case CODEC_BR:
		return c->encoder ? step_brotli_enc(c, ip, il, op, ol, finish)
		                  : step_brotli_dec(c, ip, il, op, ol);
	default:
		return c->encoder ? step_zstd_enc(c, ip, il, op, ol, finish)
		                  : step_zstd_dec(c, ip, il, op, ol);
	}
}

/* ---- the driver -------------------------------------------------------------------------- */

/* A deflate decoder picks zlib or raw from the first two bytes (RFC 1950
 * header: CM 8, CINFO <= 7, checksum).  0 decided, 1 wait, -1 ENOMEM. */
static int deflate_detect(struct codec *c, struct evbuffer *in, int last)
{
	unsigned char h[2] = { 0, 0 };
	size_t n = evbuffer_copyout(in, h, 2) < 0 ? 0 : evbuffer_get_length(in);
	if (n < 2 && !last)
		return 1;
	int zlib = n >= 2 && (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
	if (isal_usable())
		return isal_inflate_start(c, zlib ? ISAL_ZLIB : ISAL_DEFLATE);
	if (inflateInit2(&c->z, zlib ? MAX_WBITS : -MAX_WBITS) != Z_OK)
		return -1;
	c->zinit = 1;
	return 0;
}

/* 1 when a deflate decoder has not yet seen the two bytes that decide. */
static int undecided(const struct codec *c)
{
	return c->kind == CODEC_DEFLATE && !c->encoder && !c->zinit && !c->id;
}

int codec_run(struct codec *c, struct evbuffer *in, struct evbuffer *out, int last)
{
	assert(c->magic == CODEC_MAGIC);
	if (c->failed)
		return -1;
	if (c->kind == CODEC_IDENTITY) {
		if (evbuffer_add_buffer(out, in) != 0)
			return fail(c, "out of memory");
		return 0;
	}
	if (c->encoder && c->ended) {
		if (evbuffer_get_length(in))
			return fail(c, "data after the end of the stream");
		return 0;
	}
	if (undecided(c)) {
		if (evbuffer_get_length(in) == 0 && last)
			return 0;                        /* empty body */
		int r = deflate_detect(c, in, last);
		if (r)
			return r < 0 ? fail(c, "out of memory") : 0;
	}
	size_t produced = 0;
	for (;;) {
		struct evbuffer_iovec vin, vout;
		/* Never NULL: the steps advance ip by what was read, and NULL + 0
		 * is undefined behaviour (found by tests/fuzz/fuzz_codec.c). */
		static const unsigned char no_input[1];
		const unsigned char *ip = no_input;
		size_t il = 0, total = evbuffer_get_length(in);
		if (total && evbuffer_peek(in, -1, NULL, &vin, 1) >= 1) {
			ip = vin.iov_base;
			il = vin.iov_len;
		}
		if (il)
			c->started = 1;
		size_t room = CODEC_OUT_LIMIT - produced, step_out = CODEC_STEP_OUT;
		if (c->id && total >= CODEC_ISAL_BIG_IN)
			step_out = CODEC_ISAL_STEP_OUT;
		if (room > step_out)
			room = step_out;
		if (evbuffer_reserve_space(out, (ev_ssize_t)room, &vout, 1) < 1)
			return fail(c, "out of memory");
		unsigned char *op = vout.iov_base;
		size_t ol = room < vout.iov_len ? room : vout.iov_len;
		size_t il0 = il, ol0 = ol;
		int r = step(c, &ip, &il, &op, &ol, last && il == total);
		vout.iov_len = ol0 - ol;
		if (evbuffer_commit_space(out, &vout, 1) != 0)
			return fail(c, "out of memory");
		evbuffer_drain(in, il0 - il);
		produced += ol0 - ol;
		if (r == STEP_ERR)
			return fail(c, c->error ? c->error : "codec error");
		if (r == STEP_END) {
			c->ended = 1;
			if (evbuffer_get_length(in))
				return fail(c, "data after the end of the stream");
			return 0;
		}
		int progress = il0 != il || ol0 != ol;
		if (produced >= CODEC_OUT_LIMIT)
			return CODEC_MORE;
		/* Done when nothing moved, or input is gone and output space was
		 * left over (so the library has nothing more to give). */
		if (!progress || (evbuffer_get_length(in) == 0 && ol > 0 && !(c->encoder && last)))
			break;
	}
	if (evbuffer_get_length(in) && !undecided(c))
		return fail(c, "codec stalled");
	if (last && !c->encoder && c->started && !c->ended)
		return fail(c, "truncated stream");
	if (last && c->encoder && !c->ended)
		return fail(c, "encoder did not finish");
	return 0;
}
