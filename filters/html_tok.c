/*
 * html_tok: streaming byte-preserving HTML tokenizer (see html_tok.h).
 *
 * Hand-written because none of the Debian-packaged parsers fit: libxml2's
 * HTML parser and gumbo build a tree and normalise the bytes, and lol-html
 * (the design this follows) is Rust.  The state machine is the WHATWG
 * tokenizer's, reduced to what decides token boundaries: tag and attribute
 * states, markup declarations, comments with their odd endings, raw-text
 * end tags.  Text, comments and bogus comments are scanned with memchr and
 * passed on as pieces straight from the caller's chunk; only a partial tag,
 * or the bytes after '<' that decide what it opens, are copied (into hold).
 */
#include "filters/html_tok.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HTML_TOK_MAGIC 0x48544f4bu

enum st {
	S_DATA, S_LT, S_LT_SLASH, S_LT_BANG, S_TAG, S_COMMENT, S_BOGUS,
	S_CDATA, S_RAW, S_RAW_LT, S_PLAIN,
};

enum tst {
	T_NAME, T_BEFORE_ATTR, T_ATTR_NAME, T_AFTER_ATTR_NAME, T_BEFORE_VAL,
	T_VAL_DQ, T_VAL_SQ, T_VAL_UQ, T_AFTER_VAL_Q, T_SELF,
};

struct attr_off { uint32_t noff, nlen, voff, vlen, upper; /* upper: the name has A-Z */ };

struct html_tok {
	unsigned magic;
	int state;
	int foreign;
	size_t max_tag;

	char *hold;          /* bytes of the current token from earlier chunks */
	size_t nhold, cap;

	/* S_TAG */
	int tstate, is_end, self_closing, is_long, rec;
	unsigned any_upper;  /* an attribute name of the tag has capitals */
	size_t name_len;
	/* the tag token handed out: its name is written in tk.name as it is
	 * read (a copy read back right after the byte stores stalled on
	 * them, a tenth of the tokenizer's time) */
	struct html_token tk;
	struct attr_off attrs[HTML_TOK_MAX_ATTRS];
	unsigned n_attrs;
	struct html_attr out_attrs[HTML_TOK_MAX_ATTRS];
	char *lnames;        /* lower-cased attribute names of the last tag */
	size_t lnames_cap;

	/* S_LT_BANG: bytes matched of "--" (dash) or "[CDATA[" */
	int bang_k, bang_cdata;
	/* S_COMMENT */
	int cdash, cbang, cstart;
	/* S_CDATA: trailing ']' */
	int cbr;
	/* S_RAW / S_RAW_LT */
	char rawname[HTML_TOK_NAME_MAX];
	size_t rawname_len;
	size_t raw_k;
};

int html_tok_is_rawtext(const char *name, size_t len)
{
#define RAW(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
	switch (len ? name[0] : 0) {
	case 's': return RAW("script") || RAW("style");
	case 't': return RAW("textarea") || RAW("title");
	case 'x': return RAW("xmp");
	case 'i': return RAW("iframe");
	case 'n': return RAW("noembed") || RAW("noframes") || RAW("noscript");
	default: return 0;
	}
#undef RAW
}

struct html_tok *html_tok_new(size_t max_tag)
{
	struct html_tok *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->magic = HTML_TOK_MAGIC;
	t->max_tag = max_tag ? max_tag : 256 * 1024;
	t->state = S_DATA;
	return t;
}

void html_tok_free(struct html_tok *t)
{
	if (!t)
		return;
	assert(t->magic == HTML_TOK_MAGIC);
	free(t->hold);
	free(t->lnames);
	t->magic = 0;
	free(t);
}

void html_tok_set_foreign(struct html_tok *t, int on) { t->foreign = on; }
size_t html_tok_held(const struct html_tok *t) { return t->nhold; }

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
}
static int is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26; }
static unsigned char lower(unsigned char c)
{
	return (unsigned)(c - 'A') < 26 ? (unsigned char)(c | 0x20) : c;
}

/* Bytes that end a tag or attribute name: blanks, '/', '>' and (for
 * attribute names) '='.  Names are most of a tag's bytes, so they are
 * run over in a loop of their own with this table. */
enum { STOP_TAG = 1, STOP_ATTR = 2, UPPER = 4 };
static const unsigned char name_stop[256] = {
	[' '] = 3, ['\n'] = 3, ['\t'] = 3, ['\r'] = 3, ['\f'] = 3,
	['/'] = 3, ['>'] = 3, ['='] = STOP_ATTR,
	/* capitals: an attribute name's loop learns it has some from the
	 * same load that looks for its end */
	['A'] = UPPER, ['B'] = UPPER, ['C'] = UPPER, ['D'] = UPPER, ['E'] = UPPER, ['F'] = UPPER,
	['G'] = UPPER, ['H'] = UPPER, ['I'] = UPPER, ['J'] = UPPER, ['K'] = UPPER, ['L'] = UPPER,
	['M'] = UPPER, ['N'] = UPPER, ['O'] = UPPER, ['P'] = UPPER, ['Q'] = UPPER, ['R'] = UPPER,
	['S'] = UPPER, ['T'] = UPPER, ['U'] = UPPER, ['V'] = UPPER, ['W'] = UPPER, ['X'] = UPPER,
	['Y'] = UPPER, ['Z'] = UPPER,
};

/* memchr(p, c, end - p), with the first 16 bytes looked at inline: most
 * texts between tags ("\n  ") and most quoted values ("para") are short,
 * and for them a libc call cost more than the search. */
static inline const char *find_byte(const char *p, const char *end, char c)
{
#ifdef __SSE2__
	if (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(c)));
		if (m)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	return memchr(p, c, (size_t)(end - p));
}

/* Appends n bytes to hold.  Returns 0 or -1 (out of memory). */
static int hold_add(struct html_tok *t, const char *p, size_t n)
{
	if (t->nhold + n > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->nhold + n)
			cap *= 2;
		char *h = realloc(t->hold, cap);
		if (!h)
			return -1;
		t->hold = h;
		t->cap = cap;
	}
	if (n)
		memcpy(t->hold + t->nhold, p, n);
	t->nhold += n;
	return 0;
}

/* Emits an opaque piece. */
static int piece(html_tok_cb cb, void *arg, int type, unsigned flags,
                 const char *p, size_t n)
{
	if (n == 0)
		return 0;
	struct html_token tk;
	tk.type = type;
	tk.flags = flags;
	tk.raw = p;
	tk.raw_len = n;
	tk.name[0] = 0;
	tk.name_len = 0;
	tk.attrs = NULL;
	tk.n_attrs = 0;
	return cb(arg, &tk);
}

/* Emits the held bytes plus data[from, to) as one piece and empties hold. */
static int held_piece(struct html_tok *t, html_tok_cb cb, void *arg, int type,
                      unsigned flags, const char *data, size_t from, size_t to)
{
	int rc;
	if (t->nhold) {
		if (hold_add(t, data + from, to - from) < 0)
			return -1;
		rc = piece(cb, arg, type, flags, t->hold, t->nhold);
		t->nhold = 0;
	} else {
		rc = piece(cb, arg, type, flags, data + from, to - from);
	}
	return rc;
}

static void tag_begin(struct html_tok *t, int is_end)
{
	t->state = S_TAG;
	t->tstate = T_NAME;
	t->is_end = is_end;
	t->self_closing = 0;
	t->is_long = 0;
	t->name_len = 0;
	t->n_attrs = 0;
	t->rec = 0;
	t->any_upper = 0;
}

static void name_add(struct html_tok *t, unsigned char c)
{
	if (t->name_len < HTML_TOK_NAME_MAX - 1)
		t->tk.name[t->name_len++] = (char)lower(c);
}

/* Emits the finished tag (bytes hold + data[from, end)) and picks the next
 * state.  Returns 0 or -1. */
static int tag_emit(struct html_tok *t, html_tok_cb cb, void *arg,
                    const char *data, size_t from, size_t end)
{
	struct html_token *tk = &t->tk;
	const char *raw;
	size_t n;
	if (t->nhold) {
		if (hold_add(t, data + from, end - from) < 0)
			return -1;
		raw = t->hold;
		n = t->nhold;
	} else {
		raw = data + from;
		n = end - from;
	}
	tk->type = t->is_end ? HTML_TOK_END : HTML_TOK_START;
	tk->flags = t->self_closing ? HTML_TOK_F_SELF_CLOSING : 0;
	if (t->is_long || n > t->max_tag)
		tk->flags |= HTML_TOK_F_LONG;
	tk->raw = raw;
	tk->raw_len = n;
	tk->name[t->name_len] = 0;
	tk->name_len = t->name_len;
	tk->attrs = t->out_attrs;
	tk->n_attrs = 0;
	if (!t->is_end && !(tk->flags & HTML_TOK_F_LONG)) {
		size_t lo = 0, need = 1;
		for (unsigned i = 0; t->any_upper && i < t->n_attrs; i++)
			need += t->attrs[i].nlen;
		if (need > t->lnames_cap) {
			/* names are at most the tag's length, itself bounded */
			size_t cap = t->lnames_cap ? t->lnames_cap : 256;
			while (cap < need)
				cap *= 2;
			char *ln = realloc(t->lnames, cap);
			if (!ln)
				return -1;
			t->lnames = ln;
			t->lnames_cap = cap;
		}
		for (unsigned i = 0; i < t->n_attrs; i++) {
			const struct attr_off *a = &t->attrs[i];
			struct html_attr *o = &t->out_attrs[i];
			o->name_len = a->nlen;
			if (!a->upper) {
				o->name = raw + a->noff; /* already lower case */
			} else {
				for (uint32_t k = 0; k < a->nlen; k++)
					t->lnames[lo + k] = (char)lower((unsigned char)raw[a->noff + k]);
				o->name = t->lnames + lo;
				lo += a->nlen;
			}
			o->value = raw + a->voff;
			o->value_len = a->vlen;
		}
		tk->n_attrs = t->n_attrs;
	}
	t->nhold = 0;
	int rc = cb(arg, tk);
	t->state = S_DATA;
	if (rc < 0)
		return -1;
	/* the names that change the state are of 3, 5 to 8 (raw text) and 9
	 * (plaintext) bytes: most tags are told by their length alone */
	_Static_assert(HTML_TOK_NAME_MAX <= 32, "a name's length fits the shift");
	if (tk->type == HTML_TOK_START && !t->foreign && ((0x3e8u >> t->name_len) & 1)) {
		if (t->name_len == 9 && memcmp(tk->name, "plaintext", 9) == 0) {
			t->state = S_PLAIN;
		} else if (html_tok_is_rawtext(tk->name, t->name_len)) {
			t->state = S_RAW;
			memcpy(t->rawname, tk->name, t->name_len);
			t->rawname_len = t->name_len;
		}
	}
	return 0;
}

/* Runs the tag state machine over data[*ip, len) (fresh: the tag was begun
 * just now, in T_NAME).  Returns 1 when the tag is complete (*ip just past
 * '>'), 0 when the data ran out.
 *
 * Each state is a label and a move to the next byte jumps straight to the
 * next state's label (NEXT): a switch on the state for every byte cost a
 * mispredicted indirect jump at each change of state, and a tag changes
 * state a few times per attribute.  The state is written to t->tstate only
 * when the data runs out, and read back (the switch) on the next call. */
static int tag_scan(struct html_tok *t, const char *data, size_t *ip, size_t len,
                    size_t from, int fresh)
{
	size_t i = *ip;
	/* position of data[i] within the token */
#define POS(i) ((uint32_t)(t->nhold + ((i) - from)))
	/* on to the next byte, in state st */
#define NEXT(st) do { if (++i == len) { t->tstate = st; goto more; } \
                      c = (unsigned char)data[i]; goto st##_l; } while (0)
	/* the current byte again, in state st */
#define STAY(st) do { if (++i == len) { t->tstate = st; goto more; } \
                      c = (unsigned char)data[i]; } while (0)
	struct attr_off *a = t->rec ? &t->attrs[t->n_attrs - 1] : NULL;
	if (i >= len)
		goto more;
	unsigned char c = (unsigned char)data[i];
	if (fresh)
		goto T_NAME_l; /* a tag begun in this chunk: its name, no switch */
	switch (t->tstate) {
	case T_NAME: goto T_NAME_l;
	case T_BEFORE_ATTR: goto T_BEFORE_ATTR_l;
	case T_ATTR_NAME: goto T_ATTR_NAME_l;
	case T_AFTER_ATTR_NAME: goto T_AFTER_ATTR_NAME_l;
	case T_BEFORE_VAL: goto T_BEFORE_VAL_l;
	case T_VAL_DQ: goto T_VAL_DQ_l;
	case T_VAL_SQ: goto T_VAL_SQ_l;
	case T_VAL_UQ: goto T_VAL_UQ_l;
	case T_AFTER_VAL_Q: goto T_AFTER_VAL_Q_l;
	case T_SELF: goto T_SELF_l;
	}
	goto more; /* not reached: every state is above */

T_NAME_l: {
	/* the length in a local: the name's byte stores may alias t->name_len
	 * for the compiler, which then loaded and stored it for every byte */
	size_t nl = t->name_len;
	while (!(name_stop[c] & STOP_TAG)) {
		if (nl < HTML_TOK_NAME_MAX - 1)
			t->tk.name[nl++] = (char)lower(c);
		if (++i == len) {
			t->name_len = nl;
			t->tstate = T_NAME;
			goto more;
		}
		c = (unsigned char)data[i];
	}
	t->name_len = nl;
}
	if (is_ws(c)) NEXT(T_BEFORE_ATTR);
	if (c == '/') NEXT(T_SELF);
	goto done; /* '>' */

T_BEFORE_ATTR_l:
	while (is_ws(c))
		STAY(T_BEFORE_ATTR);
	if (c == '/') NEXT(T_SELF);
	if (c == '>') goto done;
new_attr:
	if (!t->is_long && t->n_attrs < HTML_TOK_MAX_ATTRS) {
		a = &t->attrs[t->n_attrs++];
		a->noff = POS(i);
		a->nlen = a->voff = a->vlen = 0;
		a->upper = (unsigned)(c - 'A') < 26; /* its first byte */
		t->rec = 1;
	} else {
		a = NULL;
		t->rec = 0;
	}
	NEXT(T_ATTR_NAME);

T_ATTR_NAME_l: {
	unsigned up = 0, k;
	while (!((k = name_stop[c]) & STOP_ATTR)) {
		up |= k; /* UPPER or 0 */
		if (++i == len) {
			if (a)
				a->upper |= up;
			t->tstate = T_ATTR_NAME;
			goto more;
		}
		c = (unsigned char)data[i];
	}
	if (a) {
		a->upper |= up;
		a->nlen = POS(i) - a->noff;
		t->any_upper |= a->upper;
	}
	if (c == '>') goto done;
	if (is_ws(c)) NEXT(T_AFTER_ATTR_NAME);
	if (c == '/') NEXT(T_SELF);
	NEXT(T_BEFORE_VAL); /* '=' */
}

T_AFTER_ATTR_NAME_l:
	while (is_ws(c))
		STAY(T_AFTER_ATTR_NAME);
	if (c == '/') NEXT(T_SELF);
	if (c == '=') NEXT(T_BEFORE_VAL);
	if (c == '>') goto done;
	goto new_attr;

T_BEFORE_VAL_l:
	while (is_ws(c))
		STAY(T_BEFORE_VAL);
	if (c == '>') goto done;
	if (c == '"' || c == '\'') {
		/* the value's block reads which quote from t->tstate */
		t->tstate = c == '"' ? T_VAL_DQ : T_VAL_SQ;
		if (a) a->voff = POS(i + 1);
		if (++i == len)
			goto more;
		c = (unsigned char)data[i];
		goto T_VAL_Q_l;
	}
	if (a) a->voff = POS(i);
	NEXT(T_VAL_UQ);

T_VAL_DQ_l:
T_VAL_SQ_l:
T_VAL_Q_l: {
	int dq = t->tstate == T_VAL_DQ;
	const char *q = find_byte(data + i, data + len, dq ? '"' : '\'');
	if (!q) {
		i = len;
		goto more; /* t->tstate is already the quote's state */
	}
	i = (size_t)(q - data);
	if (a) a->vlen = POS(i) - a->voff;
	NEXT(T_AFTER_VAL_Q);
}

T_VAL_UQ_l:
	while (!is_ws(c) && c != '>')
		STAY(T_VAL_UQ);
	if (a) a->vlen = POS(i) - a->voff;
	if (c == '>') goto done;
	NEXT(T_BEFORE_ATTR);

T_AFTER_VAL_Q_l:
	if (is_ws(c)) NEXT(T_BEFORE_ATTR);
	if (c == '/') NEXT(T_SELF);
	if (c == '>') goto done;
	goto new_attr;

T_SELF_l:
	if (c == '>') {
		t->self_closing = 1;
		goto done;
	}
	goto T_BEFORE_ATTR_l; /* reconsume */

more:
	*ip = i;
	return 0;
done:
	*ip = i + 1;
	return 1;
#undef POS
#undef NEXT
#undef STAY
}

/* One step of the comment-end recogniser ("-->", "--!>", "<!-->"). */
static void comment_step(struct html_tok *t, unsigned char c)
{
	if (t->cstart == 1) {
		if (c == '-') { t->cstart = 2; return; }
		t->cstart = 0;
	} else if (t->cstart == 2) {
		t->cstart = 0;
		t->cdash = c == '-' ? 2 : 0;
		t->cbang = 0;
		return;
	}
	if (c == '-') {
		t->cdash = t->cbang ? 1 : (t->cdash < 2 ? t->cdash + 1 : 2);
		t->cbang = 0;
	} else if (c == '!' && t->cdash == 2 && !t->cbang) {
		t->cbang = 1;
	} else {
		t->cdash = 0;
		t->cbang = 0;
	}
}

/* Runs the recogniser over data[from, to): only the last three bytes can
 * matter once the start state is left. */
static void comment_steps(struct html_tok *t, const char *data, size_t from, size_t to)
{
	if (to - from >= 3) {
		t->cstart = 0;
		t->cdash = 0;
		t->cbang = 0;
		from = to - 3;
	}
	for (size_t k = from; k < to; k++)
		comment_step(t, (unsigned char)data[k]);
}

/* (Aligned to 64 bytes: its loops' places in the CPU's 32- and 64-byte
 * fetch blocks otherwise move with the size of whatever is linked before
 * it, and its speed by 5% with them: 13.5 -> 14.4 us on the 120 KB page
 * when cosmetic.o grew by 48 bytes.) */
__attribute__((aligned(64))) int html_tok_feed(struct html_tok *t, const char *data, size_t len, int last,
                  html_tok_cb cb, void *arg)
{
	assert(t && t->magic == HTML_TOK_MAGIC);
	size_t i = 0, from = 0; /* from: this chunk's part of the current token */
	int fresh = 0;          /* tag_scan() of a tag begun by the text state */
	while (i < len) {
		unsigned char c = (unsigned char)data[i];
		switch (t->state) {
		case S_DATA:
		in_data: {
			const char *lt = find_byte(data + i, data + len, '<');
			size_t p = lt ? (size_t)(lt - data) : len;
			if (piece(cb, arg, HTML_TOK_TEXT, 0, data + i, p - i) < 0)
				return -1;
			if (!lt)
				return 0;
			from = p;
			/* "<x" and "</x" straight into the tag states: most '<' open
			 * a tag, and a pass through the switch for S_LT and again
			 * for S_TAG cost two mispredicted jumps a tag */
			if (p + 2 < len && is_alpha((unsigned char)data[p + 1])) {
				tag_begin(t, 0);
				name_add(t, (unsigned char)data[p + 1]);
				i = p + 2;
			} else if (p + 3 < len && data[p + 1] == '/' && is_alpha((unsigned char)data[p + 2])) {
				tag_begin(t, 1);
				name_add(t, (unsigned char)data[p + 2]);
				i = p + 3;
			} else {
				t->state = S_LT;
				i = p + 1;
				continue;
			}
			fresh = 1;
			goto in_tag;
		}
		case S_LT:
			if (is_alpha(c)) {
				tag_begin(t, 0);
				name_add(t, c);
				i++;
			} else if (c == '/') {
				t->state = S_LT_SLASH;
				i++;
			} else if (c == '!') {
				t->state = S_LT_BANG;
				t->bang_k = 0;
				t->bang_cdata = 0;
				i++;
			} else {
				/* "<?" opens a bogus comment; anything else is text */
				int ty = c == '?' ? HTML_TOK_OTHER : HTML_TOK_TEXT;
				if (held_piece(t, cb, arg, ty, 0, data, from, i) < 0)
					return -1;
				t->state = c == '?' ? S_BOGUS : S_DATA;
			}
			continue;
		case S_LT_SLASH:
			if (is_alpha(c)) {
				tag_begin(t, 1);
				name_add(t, c);
				i++;
			} else if (c == '>') {
				if (held_piece(t, cb, arg, HTML_TOK_OTHER, 0, data, from, i + 1) < 0)
					return -1;
				t->state = S_DATA;
				i++;
			} else {
				if (held_piece(t, cb, arg, HTML_TOK_OTHER, 0, data, from, i) < 0)
					return -1;
				t->state = S_BOGUS;
			}
			continue;
		case S_LT_BANG: {
			static const char cdata[] = "[CDATA[";
			if (t->bang_k == 0 && c == '[' && t->foreign)
				t->bang_cdata = 1;
			int ok = t->bang_cdata ? c == (unsigned char)cdata[t->bang_k] : c == '-';
			if (!ok) {
				if (held_piece(t, cb, arg, HTML_TOK_OTHER, 0, data, from, i) < 0)
					return -1;
				t->state = S_BOGUS;
				continue;
			}
			i++;
			t->bang_k++;
			if (t->bang_cdata ? t->bang_k == 7 : t->bang_k == 2) {
				if (held_piece(t, cb, arg, HTML_TOK_OTHER, 0, data, from, i) < 0)
					return -1;
				if (t->bang_cdata) {
					t->state = S_CDATA;
					t->cbr = 0;
				} else {
					t->state = S_COMMENT;
					t->cdash = 2;
					t->cbang = 0;
					t->cstart = 1;
				}
			}
			continue;
		}
		case S_TAG:
			fresh = 0;
		in_tag:
			if (tag_scan(t, data, &i, len, from, fresh)) {
				if (tag_emit(t, cb, arg, data, from, i) < 0)
					return -1;
				if (t->state == S_DATA && i < len)
					goto in_data; /* the usual next state, without the switch */
			}
			continue;
		case S_COMMENT: {
			const char *gt = memchr(data + i, '>', len - i);
			size_t p = gt ? (size_t)(gt - data) : len;
			comment_steps(t, data, i, p);
			int end = gt && (t->cstart || t->cdash == 2 || t->cbang);
			if (gt && !end)
				comment_step(t, '>');
			size_t to = gt ? p + 1 : len;
			if (piece(cb, arg, HTML_TOK_OTHER, 0, data + i, to - i) < 0)
				return -1;
			if (end)
				t->state = S_DATA;
			i = to;
			continue;
		}
		case S_CDATA: {
			const char *gt = memchr(data + i, '>', len - i);
			size_t p = gt ? (size_t)(gt - data) : len;
			size_t k = p - i >= 2 ? p - 2 : i;
			if (p - i >= 2)
				t->cbr = 0;
			for (; k < p; k++)
				t->cbr = data[k] == ']' ? (t->cbr < 2 ? t->cbr + 1 : 2) : 0;
			int end = gt && t->cbr == 2;
			if (gt && !end)
				t->cbr = 0;
			size_t to = gt ? p + 1 : len;
			if (piece(cb, arg, HTML_TOK_OTHER, 0, data + i, to - i) < 0)
				return -1;
			if (end)
				t->state = S_DATA;
			i = to;
			continue;
		}
		case S_BOGUS: {
			const char *gt = memchr(data + i, '>', len - i);
			size_t to = gt ? (size_t)(gt - data) + 1 : len;
			if (piece(cb, arg, HTML_TOK_OTHER, 0, data + i, to - i) < 0)
				return -1;
			if (gt)
				t->state = S_DATA;
			i = to;
			continue;
		}
		case S_RAW: {
			const char *lt = memchr(data + i, '<', len - i);
			size_t p = lt ? (size_t)(lt - data) : len;
			if (piece(cb, arg, HTML_TOK_TEXT, HTML_TOK_F_RAWTEXT, data + i, p - i) < 0)
				return -1;
			if (!lt)
				return 0;
			from = p;
			t->state = S_RAW_LT;
			t->raw_k = 0;
			i = p + 1;
			continue;
		}
		case S_RAW_LT: {
			int ok;
			if (t->raw_k == 0)
				ok = c == '/';
			else if (t->raw_k - 1 < t->rawname_len)
				ok = lower(c) == (unsigned char)t->rawname[t->raw_k - 1];
			else
				ok = is_ws(c) || c == '/' || c == '>';
			if (!ok) {
				if (held_piece(t, cb, arg, HTML_TOK_TEXT, HTML_TOK_F_RAWTEXT, data, from, i) < 0)
					return -1;
				t->state = S_RAW;
				continue;
			}
			if (t->raw_k - 1 == t->rawname_len && t->raw_k > 0) {
				/* "</script" + delimiter: an end tag; the delimiter is
				 * reconsumed in the tag-name state */
				tag_begin(t, 1);
				memcpy(t->tk.name, t->rawname, t->rawname_len);
				t->name_len = t->rawname_len;
				continue;
			}
			t->raw_k++;
			i++;
			continue;
		}
		case S_PLAIN:
			if (piece(cb, arg, HTML_TOK_TEXT, HTML_TOK_F_RAWTEXT, data + i, len - i) < 0)
				return -1;
			i = len;
			continue;
		}
	}
	/* the chunk is used up: keep what is still undecided */
	switch (len ? t->state : S_DATA) {
	case S_LT: case S_LT_SLASH: case S_LT_BANG: case S_RAW_LT:
		if (hold_add(t, data + from, len - from) < 0)
			return -1;
		break;
	case S_TAG:
		if (t->is_long || t->nhold + (len - from) > t->max_tag) {
			/* over-long tag: pass its bytes on as they come, without
			 * attributes; the flag tells the consumer to stop rewriting */
			if (held_piece(t, cb, arg, HTML_TOK_OTHER, HTML_TOK_F_LONG, data, from, len) < 0)
				return -1;
			t->is_long = 1;
			t->rec = 0;
		} else if (hold_add(t, data + from, len - from) < 0) {
			return -1;
		}
		break;
	default:
		break;
	}
	if (last && t->nhold) {
		/* an unfinished token at the end of input is passed on as it is */
		int ty = (t->state == S_RAW_LT || t->state == S_LT) ? HTML_TOK_TEXT : HTML_TOK_OTHER;
		if (piece(cb, arg, ty, 0, t->hold, t->nhold) < 0)
			return -1;
		t->nhold = 0;
		t->state = S_DATA;
	}
	return 0;
}
