/*
 * selector: parse and match CSS and procedural selectors in a stream
 * (see selector.h).
 *
 * Hand-written: the CSS parsers Debian packages (libcroco, libcss) build
 * cascades for a renderer and know nothing of uBO's procedural operators
 * or AdGuard's $$ attributes, and neither matches against a bounded stack
 * of open elements.  Regular expressions go to PCRE2.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filters/selector.h"
#include "filters/rxfix.h"

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h> /* text_has() */
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h> /* text_has_avx2() */
#define HAVE_AVX2_PATH 1
#endif

#define SEL_MAGIC 0x53454c31u
#define SEL_MAX_NEST 8          /* :not(:has(:not(...))) depth */
#define ADG_DEFAULT_MAX_LENGTH 8192

enum { OP_EXISTS, OP_EQ, OP_INCL, OP_DASH, OP_PRE, OP_SUF, OP_SUB, OP_MATCHES };

struct attr_test {
	char *name, *val;
	size_t nlen, vlen;
	uint8_t op, icase;
	pcre2_code *nre, *vre;      /* OP_MATCHES: NULL = literal */
};

struct compound {
	char *tag;                  /* NULL: any */
	size_t tag_len;
	char *id;
	size_t id_len;
	char **cls;
	size_t *cls_len;
	unsigned n_cls;
	struct attr_test *at;
	unsigned n_at;
	struct sel **nots, **iss;
	unsigned n_nots, n_is;
	int root, has_nth;
	long nth_a, nth_b;
	uint8_t tag_only;           /* a tag and no other test */
	uint8_t comb;               /* relation to the compound on the left;
	                               on c[0]: leading combinator of a
	                               relative selector (' ' or '>') */
};

struct complex {
	struct compound *c;
	unsigned n;
	uint64_t need;              /* name_bit() of each attribute name its
	                               subject compound must carry (id, class,
	                               [name...] tests), or 0 */
	const char *stag;           /* its subject compound's tag (NULL: any;
	                               never empty) and length, kept here for
	                               match_at's loop over a list */
	size_t stag_len;
	char stag0;                 /* stag[0]: compared without the load */
};

struct cond {
	int kind, neg;
	int inner_op;               /* SEL_COND_INNER/TEXT: what to test */
	int utf;                    /* IN_REGEX: num counts characters */
	uint64_t id;                /* text tests: hash of the argument as
	                               written (same id, same result); 0: none */
	char *str;
	size_t slen;
	pcre2_code *re;
	pcre2_code **more;          /* IN_REGEX: further patterns that must all
	                               find a match (see length_idiom) */
	struct litset *pre;         /* IN_REGEX: words a match needs, or NULL */
	const struct re_first *first; /* IN_REGEX: re's first-character filter
	                               (owned by re's table slot), or NULL */
	int cheap;                  /* costs less than hashing the text */
	size_t max_len, max_vis;    /* SEL_COND_TEXT: the most bytes, and bytes
	                               > 0x20, a passing text holds (see
	                               vis_bound); SIZE_MAX: no bound */
	unsigned n_more;
	size_t num;
	struct sel *sub;
};
enum { IN_SUBSTR, IN_WILDCARD, IN_MINLEN, IN_MAXLEN, IN_REGEX, IN_MAXCHARS };

struct alt_group { const char *tag; size_t len; uint64_t mask; };

struct sel {
	unsigned magic;
	char *text;
	int text_borrowed;          /* text is the caller's (sel_parse_borrow) */
	struct complex *alts;
	unsigned n_alts;
	struct cond *conds;
	unsigned n_conds;
	int css_ok, stream_ok;
	uint64_t static_id;         /* hash of the static part (sel_static_id) */
	uint64_t id;                /* hash of the text, syntax and relativity:
	                               equal ids, same static match */
	const char *subject_tag;    /* the tag every alternative's subject must
	                               have, or NULL */
	uint32_t desc_mask;         /* conditions descendants decide, a bit each */
	uint32_t desc_neg;          /* those of them negated (":not(:has(img))") */
	uint32_t early_mask;        /* text tests a beginning of the text may
	                               decide (sel_early_mask), a bit each */
	size_t early_len, early_vis; /* the least bounds of its text tests */
	int tag_only;               /* one compound that tests the tag alone */
	const char *ancestor_tag;   /* a tag some ancestor of the subject must
	                               have, or NULL */
	size_t ancestor_tag_len;
	uint32_t ancestor_hash;     /* FNV-1a of ancestor_tag (sel_ancestor_tag) */
	const struct attr_test *anc_test; /* an attribute test an ancestor must
	                               pass (single alternative, not relative),
	                               or NULL */
	unsigned anc_up;            /* that ancestor is exactly this many levels
	                               up (child combinators only), 0: any */
	size_t subject_tag_len;
	int reads_others;           /* a match reads the attributes (id, class,
	                               others) of an element besides the one
	                               matched: an ancestor or earlier sibling,
	                               here or in a nested selector */
	int rel_simple;             /* relative: every alternative is one compound
	                               or a chain of siblings (+, ~) of one,
	                               under a descendant combinator */
	/* a list of 3 to 64 alternatives: those of each subject tag (a bit
	 * each), and those of any tag, so match_at() tries only the ones an
	 * element's tag allows ("div[id^=a], ins.b, .c, iframe[id^=d], ..."
	 * on every element under a pending :has()); NULL otherwise */
	struct alt_group *groups;
	unsigned n_groups;
	uint64_t tagless;
	uint64_t bare_cls;          /* of those, the ones that are a class and
	                               nothing else (".OUTBRAIN"): the element's
	                               class is looked up once for all */
};

/* ---- small helpers --------------------------------------------------- */

struct cur {
	const char *p, *end;
	char *why;
	size_t whylen;
	int syntax, nest;
	int css_only;               /* saw something only a browser can decide */
	uint32_t last_opts;         /* options of the last regex compiled */
	int procedural;
};

static int fail(struct cur *c, const char *fmt, ...)
{
	if (c->why && c->whylen && !c->why[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->why, c->whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void *grow(void *arr, unsigned n, size_t sz)
{
	/* arrays grow one element at a time: selectors are small */
	return realloc(arr, (n + 1) * sz);
}

static void ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
	                         *c->p == '\r' || *c->p == '\f'))
		c->p++;
}

static int is_ident_char(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '_' || ch >= 0x80 || ch == '\\';
}

/* Reads a CSS identifier with escapes into a malloc'd string.  Returns 0
 * or -1. */
static int ident(struct cur *c, char **out, size_t *olen)
{
	size_t cap = (size_t)(c->end - c->p) + 1, n = 0;
	char *s = malloc(cap);
	if (!s)
		return fail(c, "out of memory");
	while (c->p < c->end && is_ident_char((unsigned char)*c->p)) {
		if (*c->p == '\\') {
			c->p++;
			if (c->p >= c->end)
				break;
			if (isxdigit((unsigned char)*c->p)) {
				unsigned long cp = 0;
				int k = 0;
				while (k < 6 && c->p < c->end && isxdigit((unsigned char)*c->p)) {
					cp = cp * 16 + (unsigned long)(isdigit((unsigned char)*c->p) ? *c->p - '0' : (tolower((unsigned char)*c->p) - 'a' + 10));
					c->p++;
					k++;
				}
				if (c->p < c->end && *c->p == ' ')
					c->p++;
				/* UTF-8 encode */
				if (cp < 0x80) s[n++] = (char)cp;
				else if (cp < 0x800) { s[n++] = (char)(0xc0 | (cp >> 6)); s[n++] = (char)(0x80 | (cp & 0x3f)); }
				else if (cp < 0x10000) { s[n++] = (char)(0xe0 | (cp >> 12)); s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)); s[n++] = (char)(0x80 | (cp & 0x3f)); }
				else { s[n++] = (char)(0xf0 | (cp >> 18)); s[n++] = (char)(0x80 | ((cp >> 12) & 0x3f)); s[n++] = (char)(0x80 | ((cp >> 6) & 0x3f)); s[n++] = (char)(0x80 | (cp & 0x3f)); }
				continue;
			}
		}
		s[n++] = *c->p++;
	}
	if (n == 0) {
		free(s);
		return fail(c, "expected a name at \"%.20s\"", c->p);
	}
	s[n] = 0;
	char *fit = realloc(s, n + 1);  /* sized for the rest of the selector: give it back */
	*out = fit ? fit : s;
	*olen = n;
	return 0;
}

/* Reads a quoted string ('' or "", CSS escapes; AdGuard doubles quotes). */
static int quoted(struct cur *c, char **out, size_t *olen)
{
	char q = *c->p++;
	size_t cap = (size_t)(c->end - c->p) + 1, n = 0;
	char *s = malloc(cap);
	if (!s)
		return fail(c, "out of memory");
	for (;;) {
		if (c->p >= c->end) {
			free(s);
			return fail(c, "unterminated string");
		}
		char ch = *c->p++;
		if (ch == q) {
			if (c->syntax == SEL_SYNTAX_ADG_HTML && c->p < c->end && *c->p == q) {
				s[n++] = q;
				c->p++;
				continue;
			}
			break;
		}
		if (ch == '\\' && c->p < c->end && c->syntax != SEL_SYNTAX_ADG_HTML)
			ch = *c->p++;
		s[n++] = ch;
	}
	s[n] = 0;
	char *fit = realloc(s, n + 1);  /* sized for the rest of the selector: give it back */
	*out = fit ? fit : s;
	*olen = n;
	return 0;
}

/* The text up to the ')' closing an operator's argument, with nesting,
 * quotes and escapes respected.  Leaves c->p after ')'. */
static int paren_arg(struct cur *c, const char **a, size_t *alen)
{
	const char *s = c->p;
	int depth = 1;
	char q = 0;
	while (c->p < c->end) {
		char ch = *c->p;
		if (ch == '\\') {
			c->p += 2;
			continue;
		}
		if (q) {
			if (ch == q)
				q = 0;
		} else if (ch == '"' || ch == '\'') {
			q = ch;
		} else if (ch == '(') {
			depth++;
		} else if (ch == ')' && --depth == 0) {
			*a = s;
			*alen = (size_t)(c->p - s);
			c->p++;
			return 0;
		}
		c->p++;
	}
	return fail(c, "unbalanced parentheses");
}

/* "/re/flags" into a PCRE2 pattern; NULL with a reason when it is not
 * one. */
/* uBO's idiom for "short text containing X (and Y...)":
 *   ^(?=[\s\S]{0,N}$)(?=[\s\S]*?X)(?=[\s\S]*?Y)REST   or   ^(?=[\s\S]{0,N}$)[\s\S]*?X
 * As written, PCRE2 walks each lazy prefix over the text trying the
 * alternation at every position.  Split into a length test, one
 * unanchored search per X (PCRE2 then skips to X's possible first
 * characters) and ^REST, it does the same work in a fraction of the time.
 * Patterns with a top-level '|' or back-references are left whole.
 * Fills pats[0..*np) with malloc'd patterns (pats[0] is the one matched
 * last, ^REST, or "" when none) and *max_len.  Returns 0, or -1 when the
 * idiom is not there (or out of memory): compile the original. */
#define IDIOM_MAX 8
static const char *close_paren(const char *p, const char *end)
{
	size_t depth = 0;
	for (; p < end; p++) {
		if (*p == '\\') {
			p++;
		} else if (*p == '[') {
			const char *q = p + 1;
			if (q < end && *q == '^')
				q++;
			if (q < end && *q == ']')
				q++;
			while (q < end && *q != ']')
				q += *q == '\\' ? 2 : 1;
			p = q;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (!depth)
				return p;
			depth--;
		} else if (*p == '|' && !depth) {
			return NULL; /* top-level alternation */
		}
	}
	return end;
}

static int length_idiom(const char *p, size_t n, uint32_t opts, size_t *max_len,
                        char **pats, size_t *lens, unsigned *np)
{
	static const char pre[] = "^(?=[\\s\\S]{0,";
	static const char lazy[] = "[\\s\\S]*?";
	static const char look[] = "(?=[\\s\\S]*?";
	size_t pl = sizeof pre - 1, ll = sizeof lazy - 1, kl = sizeof look - 1;
	const char *end = p + n;
	if ((opts & PCRE2_MULTILINE) || n <= pl || memcmp(p, pre, pl))
		return -1;
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\\' && (isdigit((unsigned char)p[i + 1]) || p[i + 1] == 'g' || p[i + 1] == 'k'))
			return -1;
	if (memmem(p, n, "(?P=", 4))
		return -1;
	char *e;
	unsigned long m = strtoul(p + pl, &e, 10);
	if (e == p + pl || e + 3 > end || memcmp(e, "}$)", 3))
		return -1;
	const char *rest = e + 3;
	if (close_paren(rest, end) != end)
		return -1; /* top-level '|' or stray ')' */
	*np = 1;
	while (rest + kl <= end && !memcmp(rest, look, kl) && *np < IDIOM_MAX) {
		const char *cp = close_paren(rest + kl, end);
		if (!cp || cp == end)
			break;
		lens[*np] = (size_t)(cp - (rest + kl));
		pats[*np] = strndup(rest + kl, lens[*np]);
		if (!pats[*np])
			goto oom;
		(*np)++;
		rest = cp + 1;
	}
	size_t rl = (size_t)(end - rest);
	if (rl >= ll && !memcmp(rest, lazy, ll) && *np < IDIOM_MAX) {
		/* [\s\S]*?X from the start == X anywhere */
		lens[*np] = rl - ll;
		pats[*np] = strndup(rest + ll, rl - ll);
		if (!pats[*np])
			goto oom;
		(*np)++;
		rl = 0;
	}
	pats[0] = malloc(rl + 2);
	if (!pats[0])
		goto oom;
	pats[0][0] = '^';
	memcpy(pats[0] + 1, rest, rl);
	lens[0] = rl ? rl + 1 : 0;
	*max_len = m;
	return 0;
oom:
	for (unsigned k = 1; k < *np; k++)
		free(pats[k]);
	return -1;
}

/* ---- first-character filter ----------------------------------------------
 *
 * The ad-label patterns are anchored whole-text tests,
 * "^[blanks]*+(?:advertisement|anzeige|...)[blanks]*+$"/iu, tried on most
 * paragraphs and links of a page.  PCRE2 finds no first character for
 * them (the leading class may repeat zero times), so its JIT code tries
 * each of some thirty alternatives in turn before failing on the first
 * letter of nearly every text.  For a pattern of the shape "^", then
 * optionally one atom S repeated possessively ("*+"), then an
 * item X that cannot match the empty string, a match needs the character
 * after the longest run of S-characters at the start of the text to be
 * one that X can start with: the possessive run never gives a character
 * back.  Both sets are kept for ASCII only, and are found by asking PCRE2
 * itself (each atom compiled alone with the pattern's options and tried
 * on every ASCII byte), so case folding, \s and the like mean exactly
 * what they mean in the whole pattern; a text whose first non-S character
 * is not ASCII goes to PCRE2.  Any other shape (an optional first item, a
 * look-around or inline option before the first character, a top-level
 * "|", /m, \Q, comments) gets no filter.  PCRE2's own start bitmap
 * (PCRE2_INFO_FIRSTBITMAP) holds the run's characters and X's first ones
 * together, so it cannot look past the run nor at a second character:
 * hence the hand-written reader.
 *
 * Most text starts with one of the letters the labels start with, so the
 * first two bytes after the run are checked too: whether X can begin with
 * them is asked of PCRE2 once per pair, by a hard partial match of the
 * pattern on the two bytes alone (PCRE2_ERROR_NOMATCH there means that no
 * text beginning with them matches), and remembered.  The pair alone
 * stands for the text after the run: X cannot look back at the run
 * (patterns with a look-around, a (*VERB), or after a run \b, \B, \A, \G
 * or ^ get no filter).  The pairs need no reading of X, so an anchored
 * pattern whose X is of another shape (an optional first item, a greedy
 * run, which is then part of X) gets them alone.
 */
#define QUAD_BITS 9
#define QUAD_SLOTS (1u << QUAD_BITS)

struct re_first {
	uint64_t skip[2];      /* the ASCII bytes of S (none without S) */
	uint64_t start[2];     /* the ASCII bytes X may start with (all when
	                          X's shape is not read) */
	int nonempty;          /* X needs a character (its shape was read) */
	int ws;                /* S takes the blanks \t \n \v \f \r and space
	                          (runs of them are skipped 16 at a time) */
	/* two bits for each pair of ASCII bytes X may start with, filled on
	 * first use (see first_pair_ok): bit 0 known, bit 1 possible */
	_Atomic unsigned char pairs[128 * 128 / 4];
	/* the same for the first four ASCII bytes, by value, direct-mapped
	 * (menus and buttons repeat a few words, most of which begin like
	 * some label: "News", "Sports", "Contact"): the four bytes << 8 |
	 * 0x80 (known) | possible; 0: empty */
	_Atomic uint64_t quads[QUAD_SLOTS];
};

static int bit_has(const uint64_t *set, unsigned char b) { return (int)((set[b >> 6] >> (b & 63)) & 1); }

/* End of the character class opening at p[i] ("["), or 0 when it is not
 * one this reader knows (POSIX names inside) or is unterminated. */
static size_t fc_class_end(const char *p, size_t n, size_t i)
{
	size_t j = i + 1;
	if (j < n && p[j] == '^')
		j++;
	if (j < n && p[j] == ']')
		j++;                    /* a leading "]" is a literal */
	while (j < n) {
		if (p[j] == '\\')
			j += 2;
		else if (p[j] == '[' && j + 1 < n && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '='))
			return 0;
		else if (p[j] == ']')
			return j + 1;
		else
			j++;
	}
	return 0;
}

/* End of the atom at p[i] when it matches exactly one character: a
 * literal, ".", a class, "\" and punctuation, or \s \S \d \D \w \W.  0
 * for anything else (anchors, groups, other escapes). */
static size_t atom_end(const char *p, size_t n, size_t i, int utf)
{
	unsigned char c = (unsigned char)p[i];
	if (c == '[')
		return fc_class_end(p, n, i);
	if (c == '\\') {
		if (i + 1 >= n)
			return 0;
		unsigned char e = (unsigned char)p[i + 1];
		if ((e < 0x80 && ispunct(e)) || strchr("sSdDwW", e))
			return e ? i + 2 : 0;
		return 0;
	}
	if (strchr("^$|()?*+{}]", c))
		return 0;
	if (c >= 0x80 && utf) {
		size_t j = i + 1;
		while (j < n && ((unsigned char)p[j] & 0xc0) == 0x80)
			j++;
		return j;
	}
	return i + 1;
}

/* Adds to set the ASCII bytes the pattern p[0..n) (one or more atoms,
 * alternatives of one another, each matching one character) matches, as
 * PCRE2 sees it with opts: found by searching the 128 ASCII bytes in
 * order, each match starting at (and being) one such byte.  -1 when it
 * does not compile or out of memory. */
static int atom_bytes(const char *p, size_t n, uint32_t opts, uint64_t *set)
{
	char *buf = malloc(n + 5);
	if (!buf)
		return -1;
	memcpy(buf, "(?:", 3);
	memcpy(buf + 3, p, n);
	buf[n + 3] = ')';
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)buf, n + 4, opts, &err, &off, NULL);
	free(buf);
	pcre2_match_data *md = re ? pcre2_match_data_create(1, NULL) : NULL;
	if (!md) {
		pcre2_code_free(re);
		return -1;
	}
	unsigned char all[128];
	for (unsigned b = 0; b < 128; b++)
		all[b] = (unsigned char)b;
	for (size_t from = 0; from < sizeof all;) {
		if (pcre2_match(re, all, sizeof all, from, 0, md, NULL) < 0)
			break;
		size_t b = pcre2_get_ovector_pointer(md)[0];
		if (b >= sizeof all)
			break;
		set[b >> 6] |= (uint64_t)1 << (b & 63);
		from = b + 1;
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return 0;
}

/* The leading run's atom is the same long class in every ad-label
 * pattern, and compiling it under /iu costs some 200,000 instructions
 * (PCRE2 looks up the other case of every character of its ranges): the
 * last one's bytes are remembered (under re_mu, like the table; freed with
 * it). */
static struct {
	char *pat;
	size_t n;
	uint32_t opts;
	uint64_t set[2];
} skip_memo;

static void skip_memo_free(void)
{
	free(skip_memo.pat);
	skip_memo.pat = NULL;
}

/* atom_bytes for the run's atom, through skip_memo. */
static int skip_bytes(const char *p, size_t n, uint32_t opts, uint64_t *set)
{
	if (skip_memo.pat && skip_memo.n == n && skip_memo.opts == opts && !memcmp(skip_memo.pat, p, n)) {
		set[0] |= skip_memo.set[0];
		set[1] |= skip_memo.set[1];
		return 0;
	}
	uint64_t got[2] = { 0, 0 };
	if (atom_bytes(p, n, opts, got) < 0)
		return -1;
	char *copy = malloc(n ? n : 1);
	if (copy) {
		memcpy(copy, p, n);
		skip_memo_free();
		skip_memo.pat = copy;
		skip_memo.n = n;
		skip_memo.opts = opts;
		memcpy(skip_memo.set, got, sizeof got);
	}
	set[0] |= got[0];
	set[1] |= got[1];
	return 0;
}

/* Index of the "|" or ")" that ends the branch going on at p[i] (n at the
 * end of the pattern), or (size_t)-1 on a class this reader does not know. */
static size_t branch_end(const char *p, size_t n, size_t i)
{
	unsigned depth = 0;
	while (i < n) {
		if (p[i] == '\\') {
			i += 2;
		} else if (p[i] == '[') {
			size_t j = fc_class_end(p, n, i);
			if (!j)
				return (size_t)-1;
			i = j;
		} else if (p[i] == '(') {
			depth++;
			i++;
		} else if ((p[i] == ')' || p[i] == '|') && !depth) {
			return i;
		} else {
			if (p[i] == ')')
				depth--;
			i++;
		}
	}
	return n;
}

/* The atoms a match of X may start with, as "a1|a2|...". */
struct fc_atoms {
	char *s;
	size_t n, cap;
};

static int atoms_add(struct fc_atoms *a, const char *p, size_t n)
{
	if (a->n + n + 1 > a->cap) {
		size_t cap = (a->n + n + 1) * 2;
		char *t = realloc(a->s, cap);
		if (!t)
			return -1;
		a->s = t;
		a->cap = cap;
	}
	if (a->n)
		a->s[a->n++] = '|';
	memcpy(a->s + a->n, p, n);
	a->n += n;
	return 0;
}

/* Adds to start the atoms the sequence at p[*i] may start with, after
 * checking that its first item matches at least one character; *i is
 * left after that item.  -1 when the item is of another kind (the caller
 * then keeps no filter) or out of memory. */
static int item_first(const char *p, size_t n, size_t *i, uint32_t opts, struct fc_atoms *start,
                      unsigned depth)
{
	size_t j = *i;
	if (j >= n || depth > 8)
		return -1;
	int utf = (opts & PCRE2_UTF) != 0;
	if (p[j] == '(') {
		j++;
		if (j < n && (p[j] == '?' || p[j] == '*')) {
			if (p[j] != '?' || j + 1 >= n || p[j + 1] != ':')
				return -1;
			j += 2;
		}
		for (;;) {
			if (j >= n || p[j] == '|' || p[j] == ')')
				return -1;          /* an empty branch */
			if (item_first(p, n, &j, opts, start, depth + 1) < 0)
				return -1;
			j = branch_end(p, n, j);
			if (j >= n)
				return -1;
			if (p[j++] == ')')
				break;
		}
	} else {
		size_t e = atom_end(p, n, j, utf);
		if (!e || atoms_add(start, p + j, e - j) < 0)
			return -1;
		j = e;
	}
	if (j < n && (p[j] == '?' || p[j] == '*' || p[j] == '{'))
		return -1;                  /* may repeat zero times */
	*i = j;
	return 0;
}

/* 1 when nothing in p[i..n) looks at what comes before i (\b, \B, \A,
 * \G, ^; look-behinds are refused before), 0 otherwise. */
static int rest_blind(const char *p, size_t n, size_t i)
{
	while (i < n) {
		if (p[i] == '\\') {
			if (i + 1 < n && strchr("bBAG", p[i + 1]))
				return 0;
			i += 2;
		} else if (p[i] == '[') {
			size_t j = fc_class_end(p, n, i);
			if (!j)
				return 0;
			i = j;
		} else if (p[i] == '^') {
			return 0;
		} else {
			i++;
		}
	}
	return 1;
}

/* The filter for pattern p[0..n) compiled with opts, or NULL (no filter:
 * another shape, or out of memory). */
static struct re_first *first_make(const char *p, size_t n, uint32_t opts)
{
	if (n < 2 || p[0] != '^' || (opts & (PCRE2_MULTILINE | PCRE2_EXTENDED)))
		return NULL;
	for (size_t k = 0; k + 1 < n; k++)
		if ((p[k] == '\\' && (p[k + 1] == 'Q' || p[k + 1] == 'c')) ||
		    (p[k] == '(' && p[k + 1] == '*'))
			return NULL;
	/* inline options reach later branches; look-arounds, atomic and
	 * named groups: kept simple */
	for (size_t k = 0; k + 1 < n; k++)
		if (p[k] == '(' && p[k + 1] == '?' && (k + 2 >= n || p[k + 2] != ':'))
			return NULL;
	if (branch_end(p, n, 1) != n)
		return NULL;                /* "^a|b", or a class not understood */
	struct { uint64_t skip[2], start[2]; } f = { { 0, 0 }, { 0, 0 } };
	size_t i = 1;
	size_t e = atom_end(p, n, i, (opts & PCRE2_UTF) != 0);
	if (e && e + 1 < n && p[e] == '*' && p[e + 1] == '+') {
		if (skip_bytes(p + i, e - i, opts, f.skip) < 0)
			return NULL;
		i = e + 2;
	}
	struct fc_atoms at = { NULL, 0, 0 };
	size_t x = i;
	int known = item_first(p, n, &x, opts, &at, 0) == 0, ok;
	if (known) {
		ok = atom_bytes(at.s, at.n, opts, f.start) == 0;
	} else {
		/* X of another shape: no first-byte set, only the pairs, which
		 * need X blind to what comes before it when a run is skipped */
		f.start[0] = f.start[1] = ~(uint64_t)0;
		ok = i == 1 || rest_blind(p, n, i);
	}
	free(at.s);
	if (!ok)
		return NULL;
	struct re_first *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	r->nonempty = known;
	r->ws = (f.skip[0] & 0x100003e00ull) == 0x100003e00ull; /* bytes 9-13 and 32 */
	memcpy(r->skip, f.skip, sizeof r->skip);
	memcpy(r->start, f.start, sizeof r->start);
	for (size_t k = 0; k < sizeof r->pairs; k++)
		atomic_init(&r->pairs[k], 0);
	for (size_t k = 0; k < QUAD_SLOTS; k++)
		atomic_init(&r->quads[k], 0);
	return r;
}


/* Compiled regular expressions are shared: rules repeat the same pattern
 * (the built-in lists use 20 distinct ones in ~500 :has-text() places), and
 * each JIT-compiled copy costs tens of KB of executable memory, which made
 * up most of an idle quell's RSS.  One process-wide table keyed by pattern
 * and options hands out a reference-counted code; the mutex is taken only
 * when selectors are parsed or freed (list loads), never while matching,
 * and a shared pcre2_code is only read after its JIT compile. */
struct re_slot {
	char *pat;
	size_t n;
	uint32_t opts;
	size_t refs;
	pcre2_code *re;
	struct re_first *first;     /* see first_make; NULL: none */
};
static pthread_mutex_t re_mu = PTHREAD_MUTEX_INITIALIZER;
static struct re_slot *re_tab;
static size_t re_n, re_cap;

/* The shared code for pat/opts, compiled and JIT-compiled on first use
 * (no JIT: the interpreter runs), and with first (when not NULL) its
 * first-character filter (NULL: none), which lives as long as the code.
 * NULL with *err, *off set by PCRE2 when the pattern does not compile, or
 * with *err = 0 when out of memory. */
static pcre2_code *re_get(const char *pat, size_t n, uint32_t opts, int *err, PCRE2_SIZE *off,
                          const struct re_first **first)
{
	pcre2_code *re = NULL;
	const struct re_first *fi = NULL;
	*err = 0;
	*off = 0;
	pthread_mutex_lock(&re_mu);
	for (size_t i = 0; i < re_n; i++)
		if (re_tab[i].opts == opts && re_tab[i].n == n && !memcmp(re_tab[i].pat, pat, n)) {
			re_tab[i].refs++;
			re = re_tab[i].re;
			fi = re_tab[i].first;
			goto out;
		}
	if (re_n == re_cap) {
		size_t cap = re_cap ? re_cap * 2 : 32;
		struct re_slot *t = realloc(re_tab, cap * sizeof *t);
		if (!t)
			goto out;
		re_tab = t;
		re_cap = cap;
	}
	char *copy = malloc(n + 1);
	if (!copy)
		goto out;
	memcpy(copy, pat, n);
	copy[n] = 0;
	if (rxfix_needed(opts)) {
		/* the same pattern with PCRE2 10.42's JIT bug avoided (rxfix.h);
		 * an error offset still points into what the user wrote when
		 * the original fails too */
		char *fixed = malloc(3 * n + 1);
		if (!fixed) {
			free(copy);
			goto out;
		}
		size_t fl = rxfix_rewrite(pat, n, fixed);
		re = pcre2_compile((PCRE2_SPTR)fixed, (PCRE2_SIZE)fl, opts, err, off, NULL);
		free(fixed);
		if (!re)
			re = pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)n, opts, err, off, NULL);
	} else {
		re = pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)n, opts, err, off, NULL);
	}
	if (!re) {
		free(copy);
		goto out;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	struct re_first *f = first_make(pat, n, opts);
	re_tab[re_n++] = (struct re_slot){ copy, n, opts, 1, re, f };
	fi = f;
out:
	pthread_mutex_unlock(&re_mu);
	if (first)
		*first = fi;
	return re;
}

/* Drops one reference taken by re_get; the last frees the code. */
static void re_put(pcre2_code *re)
{
	if (!re)
		return;
	pthread_mutex_lock(&re_mu);
	for (size_t i = 0; i < re_n; i++)
		if (re_tab[i].re == re) {
			if (--re_tab[i].refs == 0) {
				pcre2_code_free(re);
				free(re_tab[i].first);
				free(re_tab[i].pat);
				re_tab[i] = re_tab[--re_n];
			}
			break;
		}
	if (!re_n) {            /* nothing shared any more: no table left behind */
		skip_memo_free();
		free(re_tab);
		re_tab = NULL;
		re_cap = 0;
	}
	pthread_mutex_unlock(&re_mu);
}

/* Compiles "/re/flags".  With x (a text condition) the length idiom is
 * split (x->num, x->more set).  NULL with a reason when it is not one. */
static pcre2_code *regex_arg(struct cur *c, const char *a, size_t n, struct cond *x)
{
	if (n < 2 || a[0] != '/')
		return NULL;
	const char *e = a + n;
	while (e > a + 1 && e[-1] != '/')
		e--;
	if (e <= a + 1) {
		fail(c, "bad regular expression");
		return NULL;
	}
	uint32_t opts = 0;
	for (const char *f = e; f < a + n; f++) {
		if (*f == 'i') opts |= PCRE2_CASELESS;
		else if (*f == 'm') opts |= PCRE2_MULTILINE;
		else if (*f == 's') opts |= PCRE2_DOTALL;
		else if (*f == 'u') opts |= PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
		else if (*f != 'g') {
			fail(c, "bad regular expression flag '%c'", *f);
			return NULL;
		}
	}
	c->last_opts = opts;
	int err;
	PCRE2_SIZE off;
	const char *pat = a + 1;
	size_t patl = (size_t)(e - 1 - (a + 1));
	char *pats[IDIOM_MAX];
	size_t lens[IDIOM_MAX];
	unsigned np = 0;
	if (x && length_idiom(pat, patl, opts, &x->num, pats, lens, &np) == 0) {
		/* pats[0] (possibly empty: then "^", always true) plus the searches */
		pat = pats[0];
		patl = lens[0] ? lens[0] : 1;
		x->more = np > 1 ? calloc(np - 1, sizeof *x->more) : NULL;
		for (unsigned k = 1; k < np; k++) {
			pcre2_code *r = x->more ? re_get(pats[k], lens[k], opts, &err, &off, NULL) : NULL;
			if (r)
				x->more[x->n_more++] = r;
			free(pats[k]);
		}
		if (x->n_more != np - 1) {
			free(pats[0]);
			fail(c, "bad regular expression");
			return NULL;
		}
	}
	pcre2_code *re = re_get(pat, patl, opts, &err, &off, x ? &x->first : NULL);
	if (np)
		free(pats[0]);
	if (!re && err)
		fail(c, "bad regular expression (PCRE2 error %d at %zu)", err, (size_t)off);
	else if (!re)
		fail(c, "out of memory");
	return re;
}

/* ---- visible-length bound -------------------------------------------------
 *
 * A whole-text test ("^\s*$", "^\s*(?:ad|sponsored)\s*$") can only pass
 * on a text with few non-blank bytes: once an element's text holds more,
 * the rewriter stops holding it (time to first byte, the copies).  PCRE2
 * tells a pattern's minimum length (PCRE2_INFO_MINLENGTH) but neither a
 * maximum nor which characters are blank, hence this reader: for a
 * pattern anchored at both ends (^ first, $ last, no top-level "|", no
 * /m), the most bytes > 0x20 (what the rewriter counts as visible) a
 * matching text holds.  Each character an item may match that is not
 * surely blank counts its most bytes (4 under /u: /iu matches "k" with
 * the 3-byte KELVIN SIGN); an item that matches only blanks (a space,
 * \t \n \r \f, \s when PCRE2 says it matches nothing else, a class of
 * those) counts nothing however often it repeats; anything visible
 * repeated without a bound, or anything this reader does not know
 * (look-around, back-references, \Q, \p, \R, (*VERB), inline options,
 * POSIX classes, a "{" that is not a quantifier) gives no bound.
 */
#define VB_NONE SIZE_MAX

static size_t vb_add(size_t a, size_t b) { return a >= VB_NONE - b ? VB_NONE : a + b; }
static size_t vb_mul(size_t a, size_t k) { return a && k >= VB_NONE / a ? VB_NONE : a * k; }

/* 1 when \s under opts matches blanks (<= 0x20) only, asked of PCRE2: the
 * ASCII bytes, and every byte >= 0x80 (no /u) or the Unicode spaces (/u),
 * none of which may match.  Remembered per option set (a race computes
 * the same answer twice). */
static int vb_space_blank(uint32_t opts)
{
	static _Atomic unsigned char known[8]; /* 0 unknown, 1 blank only, 2 not */
	if (opts & PCRE2_UCP)
		return 0;
	unsigned k = ((opts & PCRE2_UTF) ? 1u : 0u) | ((opts & PCRE2_CASELESS) ? 2u : 0u) |
	             ((opts & PCRE2_DOTALL) ? 4u : 0u);
	unsigned v = atomic_load(&known[k]);
	if (v)
		return v == 1;
	uint64_t ascii[2] = { 0, 0 };
	int blank = atom_bytes("\\s", 2, opts, ascii) == 0 && !(ascii[0] >> 33) && !ascii[1];
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = blank ? pcre2_compile((PCRE2_SPTR) "\\s", 2, opts, &err, &off, NULL) : NULL;
	pcre2_match_data *md = re ? pcre2_match_data_create(1, NULL) : NULL;
	blank = md != NULL;
	static const char *const uspace[] = { "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe1\xa0\x8e",
	                                      "\xe2\x80\x80", "\xe2\x80\x8a", "\xe2\x80\x8b", "\xe2\x80\xa8",
	                                      "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80",
	                                      "\xef\xbb\xbf" };
	if (blank && (opts & PCRE2_UTF)) {
		for (size_t i = 0; blank && i < sizeof uspace / sizeof *uspace; i++)
			blank = pcre2_match(re, (PCRE2_SPTR)uspace[i], strlen(uspace[i]), 0, 0, md, NULL) < 0;
	} else if (blank) {
		for (unsigned b = 0x80; blank && b < 0x100; b++) {
			unsigned char one = (unsigned char)b;
			blank = pcre2_match(re, &one, 1, 0, 0, md, NULL) < 0;
		}
	}
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	atomic_store(&known[k], blank ? 1 : 2);
	return blank;
}

/* The class p[i..e) (e past its "]") matches blanks only: not negated, of
 * spaces, \t \n \r \f and \s (when blank) alone. */
static int vb_class_blank(const char *p, size_t i, size_t e, uint32_t opts)
{
	if (p[i + 1] == '^')
		return 0;
	for (size_t j = i + 1; j + 1 < e;) {
		if (p[j] == ' ') {
			j++;
		} else if (p[j] == '\\' && j + 2 < e && strchr("tnrfs", p[j + 1])) {
			if (p[j + 1] == 's' && !vb_space_blank(opts))
				return 0;
			j += 2;
		} else {
			return 0;
		}
	}
	return 1;
}

/* End of the one-character (or zero-width) item at p[i], with *vis the
 * most visible bytes it matches; 0 when this reader does not know it. */
static size_t vb_atom(const char *p, size_t n, size_t i, uint32_t opts, size_t *vis)
{
	size_t w = (opts & PCRE2_UTF) ? 4 : 1;
	unsigned char c = (unsigned char)p[i];
	*vis = w;
	if (c == '^' || c == '$') {
		*vis = 0;
		return i + 1;
	}
	if (c == '.')
		return i + 1;
	if (c == '[') {
		size_t e = fc_class_end(p, n, i);
		if (e && vb_class_blank(p, i, e, opts))
			*vis = 0;
		return e;
	}
	if (c == '\\') {
		if (i + 1 >= n)
			return 0;
		unsigned char e = (unsigned char)p[i + 1];
		if (strchr("bBAzZG", e) || strchr("tnrf", e) || (e == 's' && vb_space_blank(opts))) {
			*vis = 0;
			return i + 2;
		}
		if (strchr("sSdDwWhHvVNea", e))
			return i + 2;
		if (e == 'x') {
			if (i + 2 < n && p[i + 2] == '{') {
				const char *r = memchr(p + i + 2, '}', n - i - 2);
				return r ? (size_t)(r - p) + 1 : 0;
			}
			size_t j = i + 2;
			while (j < n && j < i + 4 && isxdigit((unsigned char)p[j]))
				j++;
			return j;
		}
		return e < 0x80 && ispunct(e) ? i + 2 : 0;
	}
	if (strchr("|()?*+{", c))
		return 0;
	if (c <= 0x20) {
		*vis = 0;
		return i + 1;
	}
	size_t j = i + 1;
	if (c >= 0x80 && (opts & PCRE2_UTF))
		while (j < n && ((unsigned char)p[j] & 0xc0) == 0x80)
			j++;
	return j;
}

static size_t vb_alt(const char *p, size_t n, size_t *i, uint32_t opts, unsigned depth);

/* The bound of the sequence at p[*i] up to "|", ")" or the end (*i left
 * there), VB_NONE for none. */
static size_t vb_seq(const char *p, size_t n, size_t *i, uint32_t opts, unsigned depth)
{
	size_t total = 0;
	while (*i < n && p[*i] != '|' && p[*i] != ')') {
		size_t j = *i, item;
		if (p[j] == '(') {
			j++;
			if (j < n && (p[j] == '?' || p[j] == '*')) {
				if (p[j] != '?' || j + 1 >= n || p[j + 1] != ':')
					return VB_NONE;
				j += 2;
			}
			if (depth > 16)
				return VB_NONE;
			item = vb_alt(p, n, &j, opts, depth + 1);
			if (item == VB_NONE || j >= n || p[j] != ')')
				return VB_NONE;
			j++;
		} else {
			j = vb_atom(p, n, j, opts, &item);
			if (!j)
				return VB_NONE;
		}
		size_t max = 1;
		if (j < n && (p[j] == '?' || p[j] == '*' || p[j] == '+' || p[j] == '{')) {
			if (p[j] == '*' || p[j] == '+') {
				max = VB_NONE;
				j++;
			} else if (p[j] == '?') {
				j++;
			} else {
				/* {m}, {m,} or {m,n}; anything else is a literal "{" */
				size_t k = j + 1, lo = 0, hi;
				while (k < n && isdigit((unsigned char)p[k]) && lo < 100000)
					lo = lo * 10 + (size_t)(p[k++] - '0');
				if (k == j + 1 || k >= n)
					return VB_NONE;
				hi = lo;
				if (p[k] == ',') {
					k++;
					if (k < n && isdigit((unsigned char)p[k])) {
						hi = 0;
						while (k < n && isdigit((unsigned char)p[k]) && hi < 100000)
							hi = hi * 10 + (size_t)(p[k++] - '0');
					} else {
						hi = VB_NONE;
					}
				}
				if (k >= n || p[k] != '}')
					return VB_NONE;
				max = hi;
				j = k + 1;
			}
			if (j < n && (p[j] == '?' || p[j] == '+'))
				j++; /* lazy, possessive: the same most */
		}
		if (item) {
			if (max == VB_NONE)
				return VB_NONE;
			total = vb_add(total, vb_mul(item, max));
		}
		*i = j;
	}
	return total;
}

/* The bound of the alternatives at p[*i] up to ")" or the end. */
static size_t vb_alt(const char *p, size_t n, size_t *i, uint32_t opts, unsigned depth)
{
	size_t best = 0;
	for (;;) {
		size_t b = vb_seq(p, n, i, opts, depth);
		if (b == VB_NONE)
			return VB_NONE;
		if (b > best)
			best = b;
		if (*i >= n || p[*i] != '|')
			return best;
		(*i)++;
	}
}

/* The most visible bytes a text matching the whole-text pattern p[0..n)
 * (compiled with opts) holds, VB_NONE when it is not anchored at both ends
 * or not read. */
static size_t vis_bound(const char *p, size_t n, uint32_t opts)
{
	if (n < 2 || p[0] != '^' || p[n - 1] != '$' || (opts & (PCRE2_MULTILINE | PCRE2_EXTENDED)))
		return VB_NONE;
	size_t bs = 0; /* an escaped "$" is a literal */
	while (bs + 2 <= n && p[n - 2 - bs] == '\\')
		bs++;
	if (bs & 1)
		return VB_NONE;
	size_t i = 0;
	size_t b = vb_seq(p, n, &i, opts, 0);
	return i == n ? b : VB_NONE; /* a top-level "|" or a stray ")" */
}

/* ---- literal prefilter ----------------------------------------------------
 *
 * The lists' :has-text() searches are mostly alternations of words
 * ("(?:r(?:emind|appeler)|later|s(?:upport|ubscribe)|...)/iu").  PCRE2
 * tries every branch at every position of the text (a dozen first letters
 * that are common in any language), some 14 cycles a byte.  Every match
 * of such a pattern starts with one of the words its branches spell out,
 * so a text holding none of them (in any case) cannot match: a scan for
 * them costs a few cycles a byte and spares PCRE2 most texts.  The words
 * are read from the pattern as written, stopping at anything that is not
 * a literal character or a group of alternatives (a class, \w, a
 * quantifier, an anchor); a pattern with inline options or lookaround
 * gets no filter.  Other than ASCII, a word's character stands for any
 * one character (/iu matches "é" with "É", and a few such with ASCII
 * letters); under /iu PCRE2 matches an ASCII letter only by its two
 * cases, except k and s (also U+212A KELVIN SIGN and U+017F LONG S): texts
 * holding those skip the filter.  Hand-written: no library Debian ships builds a filter from a
 * PCRE2 pattern. */
#define LIT_MAX 64              /* words kept, more: no filter */
#define LIT_LEN 24              /* bytes a word is read to */
#define LIT_ANY 0x80            /* in a word: any one character */
#define LIT_SPECIAL 0xff        /* lead bytes of KELVIN SIGN and LONG S */

struct lit_exp { char s[LIT_LEN]; uint8_t len, open; };

struct litset {
	unsigned n;
	uint8_t len[LIT_MAX];
	char lit[LIT_MAX][LIT_LEN];  /* lower case ASCII and LIT_ANY */
	uint8_t next[LIT_MAX];       /* chain of words by first byte (second
	                                LIT_ANY) or by pair, 0xff ends */
	uint8_t head[256];
	uint8_t head2[256];          /* by lit_pair() of the first two bytes,
	                                its low 8 bits (256 bytes a pattern) */
	uint8_t fold[256];           /* a word's first byte (either case): its
	                                lower case; LIT_SPECIAL: see below; else 0 */
	uint64_t any2[4];            /* first bytes of words whose second is LIT_ANY */
	uint64_t pair[16];           /* the first two bytes (lower case), hashed */
	/* the first three bytes for lit_scan_avx2(), 32 positions at a
	 * time: each word sets its bucket's bit (of 8) under the low and
	 * the high half of each case of its first byte (nib[0], nib[1]),
	 * of its second (nib[2], nib[3]) and third (nib[4], nib[5]; every
	 * byte for LIT_ANY, a third after a LIT_ANY or none) */
	uint8_t nib[6][16];
};

static unsigned lit_pair(unsigned char a, unsigned char b) { return (a * 31u + b) & 1023; }

static int lit_alt(const char *p, size_t n, struct lit_exp *out, int depth);

/* Index of the ']' closing the class opened at p[i] == '[' (n if none). */
static size_t class_end(const char *p, size_t n, size_t i)
{
	size_t q = i + 1;
	if (q < n && p[q] == '^')
		q++;
	if (q < n && p[q] == ']')
		q++;
	while (q < n && p[q] != ']')
		q += p[q] == '\\' ? 2 : 1;
	return q < n ? q : n;
}

/* End of the group opened at p[0] == '(' in p[0..n), or NULL. */
static const char *group_end(const char *p, size_t n)
{
	size_t depth = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '[')
			i = class_end(p, n, i);
		else if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && --depth == 0)
			return p + i;
	}
	return NULL;
}

/* The words one branch (no top-level '|') starts with, into out (at most
 * LIT_MAX).  Returns their count, or -1: no filter for the pattern. */
static int lit_seq(const char *p, size_t n, struct lit_exp *out, int depth)
{
	int k = 1;
	memset(&out[0], 0, sizeof out[0]);
	out[0].open = 1;
	for (size_t i = 0; i < n;) {
		char ch = p[i];
		size_t alen;
		struct lit_exp sub[LIT_MAX];
		int ns = 0;
		if (ch == '(') {
			if (i + 1 < n && p[i + 1] == '?' && !(i + 2 < n && p[i + 2] == ':'))
				return -1; /* options, lookaround, named groups */
			const char *e = group_end(p + i, n - i);
			if (!e)
				return -1;
			size_t skip = (i + 1 < n && p[i + 1] == '?') ? 3 : 1;
			alen = (size_t)(e - (p + i)) + 1;
			if (i + alen < n && strchr("?*+{", p[i + alen]))
				break;
			ns = depth < 8 ? lit_alt(p + i + skip, (size_t)(e - (p + i)) - skip, sub, depth + 1) : -1;
			if (ns < 0)
				return -1;
			if (ns == 0)
				break;
		} else if (ch == '\\') {
			if (i + 1 >= n || isalnum((unsigned char)p[i + 1]) || (unsigned char)p[i + 1] >= 0x80)
				break; /* \w, \d, \b, \x{...}: not one literal */
			alen = 2;
			if (i + alen < n && strchr("?*+{", p[i + alen]))
				break;
			memset(&sub[0], 0, sizeof sub[0]);
			sub[0].s[0] = p[i + 1];
			sub[0].len = 1;
			sub[0].open = 1;
			ns = 1;
		} else if (strchr("^$.[]{}|)?*+", ch)) {
			break;
		} else {
			alen = 1;
			if (i + alen < n && strchr("?*+{", p[i + alen]))
				break;
			memset(&sub[0], 0, sizeof sub[0]);
			sub[0].s[0] = ch;
			sub[0].len = 1;
			sub[0].open = 1;
			ns = 1;
		}
		/* cross product of the open words with sub */
		struct lit_exp next[LIT_MAX];
		int nn = 0, grew = 0;
		for (int a = 0; a < k; a++) {
			if (!out[a].open) {
				if (nn == LIT_MAX)
					return -1;
				next[nn++] = out[a];
				continue;
			}
			for (int b = 0; b < ns; b++) {
				if (nn == LIT_MAX)
					return -1;
				struct lit_exp x = out[a];
				size_t room = LIT_LEN - x.len;
				size_t take = sub[b].len < room ? sub[b].len : room;
				memcpy(x.s + x.len, sub[b].s, take);
				x.len = (uint8_t)(x.len + take);
				x.open = take == sub[b].len && sub[b].open && x.len < LIT_LEN;
				next[nn++] = x;
				grew = 1;
			}
		}
		memcpy(out, next, (size_t)nn * sizeof *out);
		k = nn;
		if (!grew)
			break;
		i += alen;
	}
	for (int a = 0; a < k; a++)
		out[a].open = 0;
	return k;
}

/* The words of an alternation p[0..n) (no enclosing parentheses), each
 * open when its branch was literal to the end.  Returns the count or -1. */
static int lit_alt(const char *p, size_t n, struct lit_exp *out, int depth)
{
	int k = 0;
	for (size_t i = 0; i <= n;) {
		size_t j = i;
		/* the branch ends at a top-level '|' */
		while (j < n && p[j] != '|') {
			if (p[j] == '\\') {
				j += 2;
			} else if (p[j] == '(') {
				const char *e = group_end(p + j, n - j);
				if (!e)
					return -1;
				j = (size_t)(e - p) + 1;
			} else if (p[j] == '[') {
				j = class_end(p, n, j) + 1;
			} else {
				j++;
			}
		}
		if (j > n)
			return -1;
		struct lit_exp b[LIT_MAX];
		int nb = lit_seq(p + i, j - i, b, depth);
		if (nb < 0 || k + nb > LIT_MAX)
			return -1;
		/* a branch that is literal to its end stays open for what
		 * follows the group */
		int whole = 1;
		for (size_t q = i; q < j && whole; q++)
			whole = p[q] && !strchr("^$.[]{}()?*+\\", p[q]);
		for (int a = 0; a < nb; a++) {
			b[a].open = whole && b[a].len < LIT_LEN;
			out[k++] = b[a];
		}
		i = j + 1;
	}
	return k;
}

/* Files a word beginning f, g, h (lower case; LIT_ANY: any) under
 * bucket b of L->nib (both cases of letters). */
static void lit_nib(struct litset *L, unsigned char f, unsigned char g, unsigned char h, unsigned b)
{
	uint8_t bit = (uint8_t)(1u << b);
	unsigned char fc[2] = { f, (unsigned char)(f < 0x80 ? toupper(f) : f) };
	for (int k = 0; k < 2; k++) {
		L->nib[0][fc[k] & 15] |= bit;
		L->nib[1][fc[k] >> 4] |= bit;
	}
	unsigned char later[2] = { g, h };
	for (int j = 0; j < 2; j++) {
		uint8_t *lo = L->nib[2 + 2 * j], *hi = L->nib[3 + 2 * j];
		if (later[j] == LIT_ANY) {
			for (int k = 0; k < 16; k++) {
				lo[k] |= bit;
				hi[k] |= bit;
			}
			continue;
		}
		unsigned char gc[2] = { later[j], (unsigned char)toupper(later[j]) };
		for (int k = 0; k < 2; k++) {
			lo[gc[k] & 15] |= bit;
			hi[gc[k] >> 4] |= bit;
		}
	}
}

/* The filter for pattern p[0..n), or NULL (none: every text is tried). */
static struct litset *lit_build(const char *p, size_t n)
{
	if (memmem(p, n, "\\Q", 2) || memmem(p, n, "(?#", 3) || memmem(p, n, "[:", 2))
		return NULL; /* quoting, comments, POSIX classes: not read here */
	struct lit_exp *e = malloc(LIT_MAX * sizeof *e);
	struct litset *L = calloc(1, sizeof *L);
	int k = e && L ? lit_alt(p, n, e, 0) : -1;
	if (k <= 0)
		goto none;
	memset(L->head, 0xff, sizeof L->head);
	memset(L->head2, 0xff, sizeof L->head2);
	for (int a = 0; a < k; a++) {
		/* ASCII bytes as they are (lower case), any other character
		 * as LIT_ANY, one per character */
		char w[LIT_LEN];
		size_t wl = 0, ascii = 0;
		for (size_t i = 0; i < e[a].len;) {
			unsigned char ch = (unsigned char)e[a].s[i];
			size_t cl = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 0;
			if (!cl || i + cl > e[a].len || !ch)
				break; /* a character cut by the length cap */
			w[wl++] = ch < 0x80 ? (char)tolower(ch) : (char)LIT_ANY;
			ascii += ch < 0x80;
			i += cl;
		}
		while (wl && (unsigned char)w[wl - 1] == LIT_ANY)
			wl--;
		size_t at = 0;
		while (at < wl && (unsigned char)w[at] == LIT_ANY)
			at++;
		ascii = 0;
		for (size_t i = at; i < wl; i++)
			ascii += (unsigned char)w[i] != LIT_ANY;
		if (ascii < 2)
			goto none; /* a branch nearly any text may start: no filter */
		size_t best = wl - at;
		int dup = 0;
		for (unsigned b = 0; b < L->n && !dup; b++)
			dup = L->len[b] == best && !memcmp(L->lit[b], w + at, best);
		if (dup)
			continue;
		unsigned x = L->n++;
		memcpy(L->lit[x], w + at, best);
		L->len[x] = (uint8_t)best;
		unsigned char f = (unsigned char)w[at];
		L->fold[f] = f;
		L->fold[(unsigned char)toupper(f)] = f;
		unsigned char g = (unsigned char)w[at + 1]; /* ascii >= 2: there is one */
		if (g == LIT_ANY) {
			L->any2[f >> 6] |= 1ull << (f & 63);
			L->next[x] = L->head[f];
			L->head[f] = (uint8_t)x;
		} else {
			/* words are walked by their first two bytes: many share
			 * a first letter */
			unsigned h = lit_pair(f, g);
			L->pair[h / 64] |= 1ull << (h % 64);
			L->next[x] = L->head2[h & 255];
			L->head2[h & 255] = (uint8_t)x;
		}
		unsigned char h3 = g == LIT_ANY || best < 3 ? LIT_ANY : (unsigned char)w[at + 2];
		lit_nib(L, f, g, h3, (unsigned)(x & 7));
	}
	L->fold[0xc5] = L->fold[0xe2] = LIT_SPECIAL;
	lit_nib(L, 0xc5, LIT_ANY, LIT_ANY, 7);
	lit_nib(L, 0xe2, LIT_ANY, LIT_ANY, 7);
	free(e);
	return L;
none:
	free(e);
	free(L);
	return NULL;
}

/* 1 when word x of L starts at t[i]. */
static inline int lit_word_at(const struct litset *L, unsigned x, const unsigned char *t, size_t n, size_t i)
{
	size_t m = L->len[x], j = 1, q = i + 1;
	while (j < m && q < n) {
		unsigned char d = t[q], w = (unsigned char)L->lit[x][j];
		if (w == LIT_ANY) {
			/* one character, whatever it is (a valid one has one
			 * length; a match never holds an invalid one) */
			q += d < 0xc0 ? 1 : d >= 0xf0 ? 4 : d >= 0xe0 ? 3 : 2;
		} else {
			if ((unsigned)(d - 'A') < 26u)
				d |= 0x20;
			if (d != w)
				return 0;
			q++;
		}
		j++;
	}
	return j == m && q <= n;
}

/* 1 when one of L's words starts at t[i] (fold[t[i]] not 0): those whose
 * second character is any (by first byte), then those of the pair. */
static inline int lit_at(const struct litset *L, const unsigned char *t, size_t n, size_t i)
{
	unsigned char c = L->fold[t[i]];
	if (c == LIT_SPECIAL)
		return (t[i] == 0xc5 && i + 1 < n && t[i + 1] == 0xbf) ||
		       (t[i] == 0xe2 && i + 2 < n && t[i + 1] == 0x84 && t[i + 2] == 0xaa);
	if (L->any2[c >> 6] >> (c & 63) & 1)
		for (unsigned x = L->head[c]; x != 0xff; x = L->next[x])
			if (lit_word_at(L, x, t, n, i))
				return 1;
	if (i + 1 >= n)
		return 0;
	unsigned char d = t[i + 1];
	if ((unsigned)(d - 'A') < 26u)
		d |= 0x20;
	unsigned h = lit_pair(c, d);
	if (!(L->pair[h / 64] >> (h % 64) & 1))
		return 0; /* most first letters are common: the pair decides */
	for (unsigned x = L->head2[h & 255]; x != 0xff; x = L->next[x])
		if ((unsigned char)L->lit[x][0] == c && lit_word_at(L, x, t, n, i))
			return 1;
	return 0;
}

/* lit_scan() over the positions from..to - 1 where 32 of them and the
 * two bytes after fit before n: the first three bytes of each position
 * looked up in L->nib (six nibble lookups, pshufb), lit_at() on those
 * some bucket lets through.  Returns 1 on a word, else the position where the
 * caller goes on (byte at a time). */
__attribute__((target("avx2"))) static size_t lit_scan_avx2(const struct litset *L, const unsigned char *t,
                                                              size_t n, size_t from, size_t to, int *hit)
{
	const __m256i n0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[0]));
	const __m256i n1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[1]));
	const __m256i n2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[2]));
	const __m256i n3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[3]));
	const __m256i n4 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[4]));
	const __m256i n5 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)L->nib[5]));
	const __m256i lo = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
	size_t i = from;
	for (; i + 32 <= to && i + 34 <= n; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(t + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(t + i + 1));
		__m256i c = _mm256_loadu_si256((const __m256i *)(t + i + 2));
		__m256i m = _mm256_and_si256(
			_mm256_and_si256(_mm256_shuffle_epi8(n0, _mm256_and_si256(a, lo)),
		                         _mm256_shuffle_epi8(n1, _mm256_and_si256(_mm256_srli_epi16(a, 4), lo))),
			_mm256_and_si256(_mm256_shuffle_epi8(n2, _mm256_and_si256(b, lo)),
		                         _mm256_shuffle_epi8(n3, _mm256_and_si256(_mm256_srli_epi16(b, 4), lo))));
		m = _mm256_and_si256(m, _mm256_and_si256(_mm256_shuffle_epi8(n4, _mm256_and_si256(c, lo)),
		                                         _mm256_shuffle_epi8(n5, _mm256_and_si256(_mm256_srli_epi16(c, 4), lo))));
		uint32_t cand = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(m, zero));
		for (; cand; cand &= cand - 1) {
			size_t q = i + (unsigned)__builtin_ctz(cand);
			unsigned char c = L->fold[t[q]];
			if (!c)
				continue;
			if (c != LIT_SPECIAL && !(L->any2[c >> 6] >> (c & 63) & 1)) {
				/* lit_at()'s pair test without the call: the nibble
				 * buckets let through many pairs no word has */
				unsigned char d = t[q + 1];
				if ((unsigned)(d - 'A') < 26u)
					d |= 0x20;
				unsigned h = lit_pair(c, d);
				if (!(L->pair[h / 64] >> (h % 64) & 1))
					continue;
			}
			if (lit_at(L, t, n, q)) {
				*hit = 1;
				return q;
			}
		}
	}
	*hit = 0;
	return i;
}

/* 0 when text[from..to) starts none of L's words (in any ASCII case), so
 * the pattern cannot match there; 1 when one may.  A KELVIN SIGN or LONG
 * S (which /iu matches as k and s) makes it 1 too. */
static int lit_scan(const struct litset *L, const char *text, size_t n, size_t from, size_t to)
{
	const unsigned char *t = (const unsigned char *)text;
	static _Atomic int avx2 = -1; /* (a race stores the same answer) */
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") != 0;
	size_t i = from;
	if (avx2 && to > from + 64) {
		int hit;
		i = lit_scan_avx2(L, t, n, from, to, &hit);
		if (hit)
			return 1;
	}
	for (; i < to && i < n; i++)
		if (L->fold[t[i]] && lit_at(L, t, n, i)) /* most bytes: one load and a branch */
			return 1;
	return 0;
}

static int lit_may_match(const struct litset *L, const char *text, size_t n)
{
	return lit_scan(L, text, n, 0, n);
}

static int is_regex(const char *a, size_t n)
{
	if (n < 2 || a[0] != '/')
		return 0;
	for (size_t k = n; k-- > 1;)
		if (a[k] == '/')
			return 1;
	return 0;
}

static struct sel *sel_alloc(const char *text, size_t n)
{
	struct sel *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->magic = SEL_MAGIC;
	s->early_len = s->early_vis = SIZE_MAX; /* no early decision until set_desc_mask */
	s->text = strndup(text, n);
	if (!s->text) {
		free(s);
		return NULL;
	}
	return s;
}

static void compound_free(struct compound *k)
{
	free(k->tag);
	free(k->id);
	for (unsigned i = 0; i < k->n_cls; i++)
		free(k->cls[i]);
	free(k->cls);
	free(k->cls_len);
	for (unsigned i = 0; i < k->n_at; i++) {
		free(k->at[i].name);
		free(k->at[i].val);
		re_put(k->at[i].nre);
		re_put(k->at[i].vre);
	}
	free(k->at);
	for (unsigned i = 0; i < k->n_nots; i++)
		sel_free(k->nots[i]);
	free(k->nots);
	for (unsigned i = 0; i < k->n_is; i++)
		sel_free(k->iss[i]);
	free(k->iss);
}

static void complex_free(struct complex *x)
{
	for (unsigned i = 0; i < x->n; i++)
		compound_free(&x->c[i]);
	free(x->c);
	x->c = NULL;
	x->n = 0;
}

static void conds_free(struct cond *cs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(cs[i].str);
		re_put(cs[i].re);
		for (unsigned k = 0; k < cs[i].n_more; k++)
			re_put(cs[i].more[k]);
		free(cs[i].more);
		free(cs[i].pre);
		sel_free(cs[i].sub);
	}
	free(cs);
}

void sel_free(struct sel *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n_alts; i++)
		complex_free(&s->alts[i]);
	free(s->alts);
	free(s->groups);
	conds_free(s->conds, s->n_conds);
	if (!s->text_borrowed)
		free(s->text);
	s->magic = 0;
	free(s);
}

/* ---- parsing ------------------------------------------------------------ */

static struct sel *parse_sel(struct cur *c, int relative, int allow_conds);

/* The bits of the conditions that descendants decide (:has(), :upward()),
 * and of the text tests a beginning of the text may decide (a bound on
 * its length, a first-character filter; not negated: a :not() of them
 * fails only on the whole text), once its conditions are final. */
static void set_desc_mask(struct sel *s)
{
	s->desc_mask = 0;
	s->desc_neg = 0;
	s->early_mask = 0;
	s->early_len = s->early_vis = SIZE_MAX;
	for (unsigned c = 0; c < s->n_conds; c++) {
		const struct cond *x = &s->conds[c];
		int k = x->kind;
		if (c < 32 && (k == SEL_COND_HAS || k == SEL_COND_UPWARD || k == SEL_COND_DEPTH)) {
			s->desc_mask |= 1u << c;
			if (x->neg)
				s->desc_neg |= 1u << c;
		}
		if (k != SEL_COND_TEXT || x->neg)
			continue;
		if (c < 32 && x->inner_op == IN_REGEX && x->first)
			s->early_mask |= 1u << c;
		if (x->max_len < s->early_len)
			s->early_len = x->max_len;
		if (x->max_vis < s->early_vis)
			s->early_vis = x->max_vis;
	}
}


/* One of 64 bits for an attribute name, from its length and end bytes:
 * equal names get the same bit, so a compound whose needed bits are not
 * all among an element's cannot match it (see match_at). */
static inline uint64_t name_bit(const char *name, size_t n)
{
	if (n == 0)
		return 1;
	unsigned h = (unsigned)n * 7u + (unsigned char)name[0] + (unsigned char)name[n - 1] * 3u;
	return 1ull << (h & 63);
}

static uint64_t mix_u(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x100000001b3ull;
	return h ^ (h >> 31);
}

static uint64_t mix_str(uint64_t h, const char *p, size_t n)
{
	h = mix_u(h, n + 1);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h;
}

/* A hash of what sel_match() reads of s: its alternatives' compounds (tag,
 * id, classes, attribute tests, :not() and :is() by their ids, position
 * tests) and combinators, not its content conditions ("li > a:has-text(x)"
 * and "li > a:has-text(y)" share it). */
static uint64_t static_id_of(const struct sel *s, int relative, int syntax)
{
	uint64_t h = mix_u(0xcbf29ce484222325ull, (uint64_t)(relative * 2 + syntax) << 8 | s->stream_ok);
	h = mix_u(h, s->n_alts);
	for (unsigned i = 0; i < s->n_alts; i++) {
		const struct complex *x = &s->alts[i];
		h = mix_u(h, x->n);
		for (unsigned j = 0; j < x->n; j++) {
			const struct compound *k = &x->c[j];
			h = mix_u(h, (uint64_t)k->comb << 16 | (uint64_t)k->root << 8 | (uint64_t)k->has_nth);
			if (k->has_nth)
				h = mix_u(mix_u(h, (uint64_t)k->nth_a), (uint64_t)k->nth_b);
			h = k->tag ? mix_str(h, k->tag, k->tag_len) : mix_u(h, 0);
			h = k->id ? mix_str(h, k->id, k->id_len) : mix_u(h, 0);
			h = mix_u(h, k->n_cls);
			for (unsigned q = 0; q < k->n_cls; q++)
				h = mix_str(h, k->cls[q], k->cls_len[q]);
			h = mix_u(h, k->n_at);
			for (unsigned q = 0; q < k->n_at; q++) {
				const struct attr_test *t = &k->at[q];
				h = mix_u(h, (uint64_t)t->op << 8 | t->icase);
				h = t->name ? mix_str(h, t->name, t->nlen) : mix_u(h, 0);
				h = t->val ? mix_str(h, t->val, t->vlen) : mix_u(h, 0);
				/* (regex codes are shared by pattern and flags) */
				h = mix_u(mix_u(h, (uint64_t)(uintptr_t)t->nre), (uint64_t)(uintptr_t)t->vre);
			}
			h = mix_u(h, k->n_nots);
			for (unsigned q = 0; q < k->n_nots; q++)
				h = mix_u(h, k->nots[q]->id);
			h = mix_u(h, k->n_is);
			for (unsigned q = 0; q < k->n_is; q++)
				h = mix_u(h, k->iss[q]->id);
		}
	}
	return h;
}

/* Fills s->groups for a list of 3 to 64 alternatives (see struct sel).
 * Returns 0, or -1 when out of memory. */
static int alt_groups(struct sel *s)
{
	if (s->n_alts < 3 || s->n_alts > 64)
		return 0;
	struct alt_group *g = calloc(s->n_alts, sizeof *g);
	if (!g)
		return -1;
	unsigned n = 0;
	for (unsigned i = 0; i < s->n_alts; i++) {
		const struct complex *x = &s->alts[i];
		if (!x->stag) {
			const struct compound *k = &x->c[0];
			s->tagless |= 1ull << i;
			if (x->n == 1 && !k->tag && !k->id && k->n_cls == 1 && !k->n_at && !k->n_nots && !k->n_is &&
			    !k->root && !k->has_nth)
				s->bare_cls |= 1ull << i;
			continue;
		}
		unsigned k = 0;
		while (k < n && !(g[k].len == x->stag_len && !memcmp(g[k].tag, x->stag, x->stag_len)))
			k++;
		if (k == n)
			g[n++] = (struct alt_group){ x->stag, x->stag_len, 0 };
		g[k].mask |= 1ull << i;
	}
	s->groups = g;
	s->n_groups = n;
	return 0;
}

/* The attribute names compound k tests by exact name: id, class and the
 * [name...] tests (not the regex names of OP_MATCHES). */
static uint64_t compound_need(const struct compound *k)
{
	uint64_t need = 0;
	if (k->id)
		need |= name_bit("id", 2);
	if (k->n_cls)
		need |= name_bit("class", 5);
	for (unsigned i = 0; i < k->n_at; i++)
		if (k->at[i].name && !k->at[i].nre)
			need |= name_bit(k->at[i].name, k->at[i].nlen);
	return need;
}
/* Sets s->reads_others: a compound left of the subject that tests more
 * than the tag, position or root (its element is an ancestor or earlier
 * sibling when matched), or a nested selector (:not, :is, :has and the
 * other conditions) that reads others.  Nested selectors are parsed
 * before s is, so their flags are final. */
static void set_reads_others(struct sel *s)
{
	int r = 0;
	for (unsigned i = 0; i < s->n_alts; i++) {
		const struct complex *x = &s->alts[i];
		for (unsigned j = 0; j < x->n; j++) {
			const struct compound *k = &x->c[j];
			if (j + 1 < x->n && (k->id || k->n_cls || k->n_at || k->n_nots || k->n_is))
				r = 1;
			for (unsigned q = 0; q < k->n_nots; q++)
				r |= k->nots[q]->reads_others;
			for (unsigned q = 0; q < k->n_is; q++)
				r |= k->iss[q]->reads_others;
		}
	}
	for (unsigned i = 0; i < s->n_conds; i++)
		if (s->conds[i].sub)
			r |= s->conds[i].sub->reads_others;
	s->reads_others = r;
}

/* 1 when matching s may read an element's earlier siblings or its
 * position among them (sel_reads_siblings): an nth pseudo-class, a '+' or
 * '~' combinator (or a relative selector's leading one), here or in a
 * nested selector.  Computed when asked (once per rule, at list load). */
static int reads_siblings(const struct sel *s)
{
	for (unsigned i = 0; i < s->n_alts; i++) {
		const struct complex *x = &s->alts[i];
		for (unsigned j = 0; j < x->n; j++) {
			const struct compound *k = &x->c[j];
			if (k->has_nth || k->comb == '+' || k->comb == '~')
				return 1;
			for (unsigned q = 0; q < k->n_nots; q++)
				if (reads_siblings(k->nots[q]))
					return 1;
			for (unsigned q = 0; q < k->n_is; q++)
				if (reads_siblings(k->iss[q]))
					return 1;
		}
	}
	for (unsigned i = 0; i < s->n_conds; i++)
		if (s->conds[i].sub && reads_siblings(s->conds[i].sub))
			return 1;
	return 0;
}

/* Parses a nested selector from an operator argument. */
static struct sel *sub_sel(struct cur *c, const char *a, size_t n, int relative, int allow_conds)
{
	if (c->nest >= SEL_MAX_NEST) {
		fail(c, "selector nested too deeply");
		return NULL;
	}
	struct cur sub = *c;
	sub.p = a;
	sub.end = a + n;
	sub.nest = c->nest + 1;
	sub.css_only = 0;
	sub.procedural = 0;
	struct sel *s = parse_sel(&sub, relative, allow_conds);
	if (s) {
		s->stream_ok = !sub.css_only;
		set_desc_mask(s);
	}
	c->css_only |= sub.css_only;
	c->procedural |= sub.procedural;
	return s;
}

static struct cond *cond_add(struct cond **cs, unsigned *n, int kind, int neg)
{
	struct cond *x = grow(*cs, *n, sizeof **cs);
	if (!x)
		return NULL;
	*cs = x;
	memset(&x[*n], 0, sizeof x[*n]);
	x[*n].kind = kind;
	x[*n].neg = neg;
	x[*n].max_len = SIZE_MAX;
	x[*n].max_vis = SIZE_MAX;
	return &x[(*n)++];
}

static int parse_nth(struct cur *c, const char *a, size_t n, long *pa, long *pb)
{
	char buf[64];
	size_t k = 0;
	for (size_t i = 0; i < n && k < sizeof buf - 1; i++)
		if (!isspace((unsigned char)a[i]))
			buf[k++] = (char)tolower((unsigned char)a[i]);
	buf[k] = 0;
	if (!strcmp(buf, "odd")) { *pa = 2; *pb = 1; return 0; }
	if (!strcmp(buf, "even")) { *pa = 2; *pb = 0; return 0; }
	char *np = strchr(buf, 'n');
	char *e;
	if (!np) {
		*pa = 0;
		*pb = strtol(buf, &e, 10);
		return *e ? fail(c, "bad :nth-child argument") : 0;
	}
	*np = 0;
	if (!buf[0] || !strcmp(buf, "+")) *pa = 1;
	else if (!strcmp(buf, "-")) *pa = -1;
	else {
		*pa = strtol(buf, &e, 10);
		if (*e)
			return fail(c, "bad :nth-child argument");
	}
	*pb = np[1] ? strtol(np + 1, &e, 10) : 0;
	if (np[1] && *e)
		return fail(c, "bad :nth-child argument");
	return 0;
}

/* A text argument: "/re/flags" or literal. */
static int text_cond(struct cur *c, struct cond *x, const char *a, size_t n)
{
	/* the lists repeat a handful of texts over hundreds of rules: the
	 * rewriter tests each once per element, whatever the rule */
	x->id = 14695981039346656037ull ^ (uint64_t)x->kind;
	for (size_t i = 0; i < n; i++)
		x->id = (x->id ^ (unsigned char)a[i]) * 1099511628211ull;
	x->id |= 1;
	x->inner_op = IN_SUBSTR;
	unsigned long lo, hi;
	int used = 0;
	if (sscanf(a, "/^[\\s\\S]{%lu,%lu}$/%n", &lo, &hi, &used) == 2 && used > 0 &&
	    ((size_t)used == n || ((size_t)used + 1 == n && a[used] == 'u')) && lo == 0) {
		/* a bare length test: counted, not matched */
		x->inner_op = IN_MAXCHARS;
		x->cheap = 1;
		x->num = hi;
		x->utf = (size_t)used + 1 == n;
		/* in bytes without /u; under /u stray continuation bytes
		 * count no character, so no byte count bounds it */
		if (!x->utf)
			x->max_len = hi;
		return 0;
	}
	if (is_regex(a, n)) {
		x->num = (size_t)-1;
		x->re = regex_arg(c, a, n, x);
		x->utf = x->re && (c->last_opts & PCRE2_UTF);
		if (!x->re)
			return -1;
		x->inner_op = IN_REGEX;
		if (x->num != (size_t)-1 && !x->utf)
			x->max_len = x->num; /* the length idiom (see IN_MAXCHARS) */
		if (x->num == (size_t)-1) {
			/* a plain search (the length idiom has its own split):
			 * the words its matches start with, when it has some */
			const char *e = a + n;
			while (e > a + 1 && e[-1] != '/')
				e--;
			x->pre = lit_build(a + 1, (size_t)(e - 1 - (a + 1)));
			x->max_vis = vis_bound(a + 1, (size_t)(e - 1 - (a + 1)), c->last_opts);
			/* anchored at the start: tried once, most texts fail
			 * within their first characters */
			uint32_t all = 0;
			x->cheap = !(c->last_opts & PCRE2_MULTILINE) &&
			           pcre2_pattern_info(x->re, PCRE2_INFO_ALLOPTIONS, &all) == 0 &&
			           (all & PCRE2_ANCHORED);
		}
		return 0;
	}
	if (n >= 2 && (a[0] == '"' || a[0] == '\'') && a[n - 1] == a[0]) {
		a++;
		n -= 2;
	}
	x->str = strndup(a, n);
	x->slen = n;
	x->cheap = 1; /* a search costs less than the hash (see text_has) */
	return x->str ? 0 : fail(c, "out of memory");
}

/* :matches-attr(name=value), each side literal, "quoted" or /re/. */
static int matches_attr(struct cur *c, struct compound *k, const char *a, size_t n)
{
	const char *eq = NULL;
	char q = 0;
	int in_re = 0;
	for (size_t i = 0; i < n; i++) {
		if (q) { if (a[i] == q) q = 0; continue; }
		if (a[i] == '"' || a[i] == '\'') { q = a[i]; continue; }
		if (a[i] == '/' && (i == 0 || in_re)) { in_re = !in_re; continue; }
		if (a[i] == '=' && !in_re) { eq = a + i; break; }
	}
	struct attr_test *at = grow(k->at, k->n_at, sizeof *k->at);
	if (!at)
		return fail(c, "out of memory");
	k->at = at;
	at = &k->at[k->n_at++];
	memset(at, 0, sizeof *at);
	at->op = OP_MATCHES;
	const char *sides[2] = { a, eq ? eq + 1 : NULL };
	size_t lens[2] = { eq ? (size_t)(eq - a) : n, eq ? n - (size_t)(eq + 1 - a) : 0 };
	for (int s = 0; s < 2; s++) {
		const char *p = sides[s];
		size_t l = lens[s];
		if (!p)
			continue;
		while (l && isspace((unsigned char)*p)) { p++; l--; }
		while (l && isspace((unsigned char)p[l - 1])) l--;
		if (l >= 2 && (p[0] == '"' || p[0] == '\'') && p[l - 1] == p[0]) { p++; l -= 2; }
		if (is_regex(p, l)) {
			pcre2_code *re = regex_arg(c, p, l, NULL);
			if (!re)
				return -1;
			if (s == 0) at->nre = re; else at->vre = re;
		} else {
			char *lit = strndup(p, l);
			if (!lit)
				return fail(c, "out of memory");
			if (s == 0) {
				for (size_t i = 0; i < l; i++)
					lit[i] = (char)tolower((unsigned char)lit[i]);
				at->name = lit;
				at->nlen = l;
			} else {
				at->val = lit;
				at->vlen = l;
			}
		}
	}
	if (eq && !at->val && !at->vre)
		at->op = OP_MATCHES; /* "name=" matches an empty value */
	if (eq && !at->vre && !at->val) {
		at->val = strdup("");
		if (!at->val)
			return fail(c, "out of memory");
	}
	return 0;
}

/* [name op value flag] */
static int attr_sel(struct cur *c, struct compound *k, struct cond **cs, unsigned *nc)
{
	c->p++; /* '[' */
	ws(c);
	char *name = NULL, *val = NULL;
	size_t nlen = 0, vlen = 0;
	if (ident(c, &name, &nlen) < 0)
		return -1;
	for (size_t i = 0; i < nlen; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	ws(c);
	int op = OP_EXISTS, icase = 0;
	if (c->p < c->end && *c->p != ']') {
		static const char ops[] = "~|^$*";
		if (*c->p == '=') {
			op = OP_EQ;
			c->p++;
		} else if (strchr(ops, *c->p) && c->p + 1 < c->end && c->p[1] == '=') {
			op = *c->p == '~' ? OP_INCL : *c->p == '|' ? OP_DASH : *c->p == '^' ? OP_PRE
			   : *c->p == '$' ? OP_SUF : OP_SUB;
			c->p += 2;
		} else {
			free(name);
			return fail(c, "bad attribute selector");
		}
		ws(c);
		int rc = (c->p < c->end && (*c->p == '"' || *c->p == '\'')) ? quoted(c, &val, &vlen)
		                                                            : ident(c, &val, &vlen);
		if (rc < 0) {
			free(name);
			return -1;
		}
		ws(c);
		if (c->p < c->end && (*c->p == 'i' || *c->p == 'I' || *c->p == 's' || *c->p == 'S')) {
			icase = (*c->p | 0x20) == 'i';
			c->p++;
			ws(c);
		}
	}
	if (c->p >= c->end || *c->p != ']') {
		free(name);
		free(val);
		return fail(c, "unterminated attribute selector");
	}
	c->p++;
	if (c->syntax == SEL_SYNTAX_ADG_HTML) {
		/* AdGuard's special attributes test the element's contents */
		int which = !strcmp(name, "tag-content") ? IN_SUBSTR : !strcmp(name, "wildcard") ? IN_WILDCARD
		          : !strcmp(name, "min-length") ? IN_MINLEN : !strcmp(name, "max-length") ? IN_MAXLEN : -1;
		if (!strcmp(name, "parent-elements") || !strcmp(name, "parent-search-level")) {
			free(name);
			free(val);
			return fail(c, "unsupported: AdGuard parent-elements");
		}
		if (which >= 0) {
			free(name);
			if (!val)
				return fail(c, "AdGuard attribute without a value");
			struct cond *x = cond_add(cs, nc, SEL_COND_INNER, 0);
			if (!x) {
				free(val);
				return fail(c, "out of memory");
			}
			x->inner_op = which;
			if (which == IN_MINLEN || which == IN_MAXLEN) {
				char *e;
				x->num = strtoul(val, &e, 10);
				int bad = *e != 0;
				free(val);
				if (bad)
					return fail(c, "bad AdGuard length");
			} else {
				x->str = val;
				x->slen = vlen;
			}
			c->procedural = 1;
			return 0;
		}
		if (op == OP_EQ)
			op = OP_SUB; /* AdGuard: the attribute value contains it */
	}
	struct attr_test *at = grow(k->at, k->n_at, sizeof *k->at);
	if (!at) {
		free(name);
		free(val);
		return fail(c, "out of memory");
	}
	k->at = at;
	at = &k->at[k->n_at++];
	memset(at, 0, sizeof *at);
	at->name = name;
	at->nlen = nlen;
	at->val = val;
	at->vlen = vlen;
	at->op = (uint8_t)op;
	at->icase = (uint8_t)icase;
	return 0;
}

static int known(const char *name, size_t n, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == n && !memcmp(*list, name, n))
			return 1;
	return 0;
}

/* What to do with "sel:upward(arg)": set by pseudo() for parse_sel. */
struct upward {
	int seen;
	const char *arg;
	size_t alen;
};

/* :name or :name(arg) or ::name.  Content conditions go to cs. */
static int pseudo(struct cur *c, struct compound *k, struct cond **cs, unsigned *nc,
                  struct upward *up)
{
	static const char *const css_only[] = {
		"last-child", "only-child", "empty", "last-of-type", "only-of-type",
		"nth-last-child", "nth-of-type", "nth-last-of-type", "first-of-type",
		"hover", "focus", "focus-within", "focus-visible", "active", "visited",
		"link", "any-link", "checked", "disabled", "enabled", "target", "lang",
		"dir", "placeholder-shown", "defined", "required", "optional", "invalid",
		"valid", "read-only", "read-write", "fullscreen", "modal", NULL,
	};
	static const char *const text_ops[] = { "has-text", "-abp-contains", "contains", NULL };
	static const char *const has_ops[] = { "has", "-abp-has", "if", NULL };
	static const char *const unsupported[] = {
		"xpath", "matches-css", "matches-css-before", "matches-css-after",
		"-abp-properties", "matches-media", "matches-path", "matches-prop",
		"others", "shadow", "remove-attr", "remove-class", "style", "if-not",
		"nth-ancestor", NULL,
	};
	c->p++;
	int element = 0;
	if (c->p < c->end && *c->p == ':') {
		element = 1;
		c->p++;
	}
	const char *nm = c->p;
	while (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '-' || *c->p == '_'))
		c->p++;
	size_t nl = (size_t)(c->p - nm);
	const char *a = NULL;
	size_t alen = 0;
	int has_arg = c->p < c->end && *c->p == '(';
	if (has_arg) {
		c->p++;
		if (paren_arg(c, &a, &alen) < 0)
			return -1;
	}
	if (nl == 0)
		return fail(c, "bad pseudo-class");
	if (element) {
		c->css_only = 1; /* ::before and the like: hidden by style only */
		return 0;
	}
	if (known(nm, nl, text_ops) && has_arg) {
		struct cond *x = cond_add(cs, nc, SEL_COND_TEXT, 0);
		if (!x)
			return fail(c, "out of memory");
		c->procedural = 1;
		return text_cond(c, x, a, alen);
	}
	if (nl == 15 && !memcmp(nm, "min-text-length", 15) && has_arg) {
		struct cond *x = cond_add(cs, nc, SEL_COND_TEXT, 0);
		if (!x)
			return fail(c, "out of memory");
		x->inner_op = IN_MINLEN;
		x->num = strtoul(a, NULL, 10);
		c->procedural = 1;
		return 0;
	}
	if (known(nm, nl, has_ops) && has_arg) {
		struct cond *x = cond_add(cs, nc, SEL_COND_HAS, 0);
		if (!x)
			return fail(c, "out of memory");
		x->sub = sub_sel(c, a, alen, 1, 1);
		c->procedural = 1;
		return x->sub ? 0 : -1;
	}
	if (nl == 3 && !memcmp(nm, "not", 3) && has_arg) {
		/* :not(:has-text(x)) and :not(:has(x)) are negated conditions */
		struct cur in = *c;
		in.p = a;
		in.end = a + alen;
		ws(&in);
		if (in.p < in.end && *in.p == ':') {
			const char *n2 = in.p + 1;
			size_t l2 = 0;
			while (n2 + l2 < in.end && (isalnum((unsigned char)n2[l2]) || n2[l2] == '-'))
				l2++;
			if (known(n2, l2, text_ops) || known(n2, l2, has_ops)) {
				unsigned before = *nc;
				struct upward up2 = { 0, NULL, 0 };
				if (pseudo(&in, k, cs, nc, &up2) < 0)
					return -1;
				ws(&in);
				if (in.p != in.end || *nc != before + 1)
					return fail(c, "unsupported: :not() mixing procedural and CSS");
				(*cs)[before].neg = 1;
				c->procedural = 1;
				return 0;
			}
		}
		struct sel *s = sub_sel(c, a, alen, 0, 0);
		if (!s)
			return -1;
		struct sel **v = grow(k->nots, k->n_nots, sizeof *v);
		if (!v) {
			sel_free(s);
			return fail(c, "out of memory");
		}
		k->nots = v;
		v[k->n_nots++] = s;
		return 0;
	}
	if ((known(nm, nl, (const char *const[]){ "is", "where", "matches", "-webkit-any", "any", NULL })) && has_arg) {
		struct sel *s = sub_sel(c, a, alen, 0, 0);
		if (!s)
			return -1;
		struct sel **v = grow(k->iss, k->n_is, sizeof *v);
		if (!v) {
			sel_free(s);
			return fail(c, "out of memory");
		}
		k->iss = v;
		v[k->n_is++] = s;
		return 0;
	}
	if (nl == 11 && !memcmp(nm, "first-child", 11)) {
		k->has_nth = 1;
		k->nth_a = 0;
		k->nth_b = 1;
		return 0;
	}
	if (nl == 9 && !memcmp(nm, "nth-child", 9) && has_arg) {
		k->has_nth = 1;
		return parse_nth(c, a, alen, &k->nth_a, &k->nth_b);
	}
	if (nl == 4 && !memcmp(nm, "root", 4)) {
		k->root = 1;
		return 0;
	}
	if (nl == 12 && !memcmp(nm, "matches-attr", 12) && has_arg) {
		c->procedural = 1;
		return matches_attr(c, k, a, alen);
	}
	if (nl == 6 && !memcmp(nm, "upward", 6) && has_arg) {
		up->seen = 1;
		up->arg = a;
		up->alen = alen;
		c->procedural = 1;
		return 0;
	}
	if ((nl == 6 && !memcmp(nm, "remove", 6)) || (nl == 10 && !memcmp(nm, "watch-attr", 10))) {
		c->procedural = 1; /* removal is what quell does anyway */
		return 0;
	}
	if (known(nm, nl, css_only)) {
		c->css_only = 1;
		return 0;
	}
	if (known(nm, nl, unsupported))
		return fail(c, "unsupported: :%.*s()", (int)nl, nm);
	return fail(c, "unsupported: unknown pseudo-class :%.*s", (int)nl, nm);
}

/* One compound: [type|*] then #id .class [attr] :pseudo in any order. */
static int parse_compound(struct cur *c, struct compound *k, struct cond **cs, unsigned *nc,
                          struct upward *up)
{
	int any = 0;
	if (c->p < c->end && *c->p == '*') {
		c->p++;
		any = 1;
	} else if (c->p < c->end && is_ident_char((unsigned char)*c->p)) {
		if (ident(c, &k->tag, &k->tag_len) < 0)
			return -1;
		for (size_t i = 0; i < k->tag_len; i++)
			k->tag[i] = (char)tolower((unsigned char)k->tag[i]);
		any = 1;
	}
	while (c->p < c->end && !up->seen) {
		char ch = *c->p;
		if (ch == '#') {
			c->p++;
			char *id;
			size_t n;
			if (ident(c, &id, &n) < 0)
				return -1;
			if (k->id) {
				/* two ids: only matches if equal */
				int same = n == k->id_len && !memcmp(id, k->id, n);
				free(id);
				if (!same)
					return fail(c, "selector can never match (two ids)");
			} else {
				k->id = id;
				k->id_len = n;
			}
		} else if (ch == '.') {
			c->p++;
			char *cl;
			size_t n;
			if (ident(c, &cl, &n) < 0)
				return -1;
			char **v = grow(k->cls, k->n_cls, sizeof *v);
			size_t *l = v ? grow(k->cls_len, k->n_cls, sizeof *l) : NULL;
			if (v) k->cls = v;
			if (l) k->cls_len = l;
			if (!v || !l) {
				free(cl);
				return fail(c, "out of memory");
			}
			k->cls[k->n_cls] = cl;
			k->cls_len[k->n_cls++] = n;
		} else if (ch == '[') {
			if (attr_sel(c, k, cs, nc) < 0)
				return -1;
		} else if (ch == ':') {
			if (pseudo(c, k, cs, nc, up) < 0)
				return -1;
		} else {
			break;
		}
		any = 1;
	}
	return any ? 0 : fail(c, "expected a selector at \"%.20s\"", c->p);
}

static int parse_upward(struct cur *c, struct sel *s, struct complex *x, struct cond *cs,
                        unsigned nc, const struct upward *up);

/* selector list: complex (, complex)*.  relative: each may start with a
 * combinator (">" only: "+" and "~" would need later siblings).
 * allow_conds: content conditions allowed on the subject. */
static struct sel *parse_sel(struct cur *c, int relative, int allow_conds)
{
	const char *start = c->p;
	struct sel *s = sel_alloc(c->p, (size_t)(c->end - c->p));
	if (!s) {
		fail(c, "out of memory");
		return NULL;
	}
	struct cond *cs = NULL;
	unsigned nc = 0;
	for (;;) {
		ws(c);
		struct complex x = { NULL, 0, 0, NULL, 0, 0 };
		uint8_t comb = 0;
		if (relative) {
			comb = ' ';
			if (c->p < c->end && (*c->p == '>' || *c->p == '+' || *c->p == '~')) {
				if (*c->p != '>') {
					fail(c, "unsupported: :has() on following siblings");
					goto bad;
				}
				comb = '>';
				c->p++;
				ws(c);
			}
		}
		for (;;) {
			struct compound *v = grow(x.c, x.n, sizeof *v);
			if (!v) {
				fail(c, "out of memory");
				complex_free(&x);
				goto bad;
			}
			x.c = v;
			memset(&x.c[x.n], 0, sizeof x.c[x.n]);
			x.c[x.n].comb = comb;
			x.n++;
			unsigned nc_before = nc;
			struct upward up = { 0, NULL, 0 };
			if (parse_compound(c, &x.c[x.n - 1], &cs, &nc, &up) < 0) {
				complex_free(&x);
				goto bad;
			}
			if (up.seen) {
				/* everything so far is what the ancestor must contain */
				if (s->n_alts || parse_upward(c, s, &x, cs, nc, &up) < 0) {
					if (s->n_alts)
						fail(c, "unsupported: :upward() in a selector list");
					complex_free(&x);
					goto bad;
				}
				cs = NULL;
				nc = 0;
				ws(c);
				while (c->p < c->end && *c->p == ':') {
					/* only ":remove()" may follow */
					if (c->end - c->p >= 9 && !memcmp(c->p, ":remove()", 9)) {
						c->p += 9;
						ws(c);
						continue;
					}
					break;
				}
				if (c->p != c->end) {
					fail(c, "unsupported: operators after :upward()");
					sel_free(s);
					return NULL;
				}
				if (!allow_conds) {
					fail(c, "unsupported: procedural operator inside :not()");
					sel_free(s);
					return NULL;
				}
				return s;
			}
			(void)nc_before;
			const char *save = c->p;
			ws(c);
			if (c->p >= c->end || *c->p == ',' ) {
				break;
			}
			if (*c->p == '>' || *c->p == '+' || *c->p == '~') {
				comb = (uint8_t)*c->p++;
				ws(c);
			} else if (c->p > save) {
				comb = ' ';
			} else {
				fail(c, "unexpected \"%.20s\"", c->p);
				complex_free(&x);
				goto bad;
			}
			if (nc) {
				fail(c, "unsupported: content test on a non-final compound");
				complex_free(&x);
				goto bad;
			}
		}
		struct complex *alts = grow(s->alts, s->n_alts, sizeof *alts);
		if (!alts) {
			fail(c, "out of memory");
			complex_free(&x);
			goto bad;
		}
		s->alts = alts;
		s->alts[s->n_alts++] = x;
		if (c->p >= c->end)
			break;
		c->p++; /* ',' */
	}
	if (nc && (s->n_alts > 1 || !allow_conds)) {
		fail(c, s->n_alts > 1 ? "unsupported: procedural operators in a selector list"
		                      : "unsupported: procedural operator inside :not()");
		goto bad;
	}
	s->conds = cs;
	s->n_conds = nc;
	s->rel_simple = relative;
	/* FNV-1a over the text as written: rules repeat the same inner
	 * selector (":has(img, video, iframe)"), and the rewriter matches it
	 * once per element for all of them */
	s->id = 14695981039346656037ull ^ (uint64_t)(relative * 2 + c->syntax);
	for (const char *t = s->text; *t; t++)
		s->id = (s->id ^ (unsigned char)*t) * 1099511628211ull;
	if (s->n_alts == 1 && !relative) {
		/* the nearest compound up the chain of ancestors (descendant
		 * and child combinators only) that names a tag */
		const struct complex *x = &s->alts[0];
		for (unsigned j = x->n - 1; j-- > 0;) {
			if (x->c[j + 1].comb != ' ' && x->c[j + 1].comb != '>')
				break;
			if (x->c[j].tag) {
				s->ancestor_tag = x->c[j].tag;
				s->ancestor_tag_len = x->c[j].tag_len;
				s->ancestor_hash = 2166136261u;
				for (size_t i = 0; i < x->c[j].tag_len; i++)
					s->ancestor_hash = (s->ancestor_hash ^ (unsigned char)x->c[j].tag[i]) * 16777619u;
				break;
			}
		}
		/* the nearest such compound with an attribute test: EasyList
		 * files dozens of "[href^=...] > img" under img, and the test
		 * alone turns most images down */
		int child_only = 1;
		for (unsigned j = x->n - 1; j-- > 0;) {
			if (x->c[j + 1].comb != ' ' && x->c[j + 1].comb != '>')
				break;
			child_only &= x->c[j + 1].comb == '>';
			const struct compound *k = &x->c[j];
			unsigned q = 0;
			while (q < k->n_at && k->at[q].op == OP_MATCHES)
				q++;
			if (q < k->n_at) {
				s->anc_test = &k->at[q];
				s->anc_up = child_only ? x->n - 1 - j : 0;
				break;
			}
		}
	}
	if (s->n_alts == 1 && s->alts[0].n == 1) {
		const struct compound *k = &s->alts[0].c[0];
		s->tag_only = k->tag && !k->id && !k->n_cls && !k->n_at && !k->n_nots && !k->n_is &&
		              !k->root && !k->has_nth;
	}
	for (unsigned i = 0; i < s->n_alts; i++) {
		const struct compound *k = &s->alts[i].c[s->alts[i].n - 1];
		if (!k->tag || (i && (k->tag_len != s->subject_tag_len || memcmp(k->tag, s->subject_tag, k->tag_len)))) {
			s->subject_tag = NULL;
			break;
		}
		s->subject_tag = k->tag;
		s->subject_tag_len = k->tag_len;
	}
	/* scope-free: under the scope anywhere, and the rest of each
	 * alternative among the subject's earlier siblings (+ and ~), who
	 * are at its level, under every ancestor as it is ("p + p + p") */
	for (unsigned i = 0; i < s->n_alts; i++) {
		if (s->alts[i].c[0].comb != ' ')
			s->rel_simple = 0;
		for (unsigned j = 1; j < s->alts[i].n; j++)
			if (s->alts[i].c[j].comb != '+' && s->alts[i].c[j].comb != '~')
				s->rel_simple = 0;
	}
	for (unsigned i = 0; i < s->n_alts; i++) {
		s->alts[i].need = compound_need(&s->alts[i].c[s->alts[i].n - 1]);
		s->alts[i].stag = s->alts[i].c[s->alts[i].n - 1].tag;
		s->alts[i].stag_len = s->alts[i].c[s->alts[i].n - 1].tag_len;
		if (s->alts[i].stag && !s->alts[i].stag_len)
			s->alts[i].stag = NULL; /* (the old test let an empty tag through) */
		s->alts[i].stag0 = s->alts[i].stag ? s->alts[i].stag[0] : 0;
		for (unsigned j = 0; j < s->alts[i].n; j++) {
			struct compound *k = &s->alts[i].c[j];
			k->tag_only = k->tag && !k->id && !k->n_cls && !k->n_at && !k->n_nots && !k->n_is &&
			              !k->root && !k->has_nth;
		}
	}
	s->static_id = static_id_of(s, relative, c->syntax);
	if (alt_groups(s) < 0) {
		fail(c, "out of memory");
		goto bad;
	}
	set_reads_others(s);
	(void)start;
	return s;
bad:
	conds_free(cs, nc);
	sel_free(s);
	return NULL;
}

/* "A:upward(sel)" becomes subject sel with condition UPWARD(A);
 * "A:upward(n)" becomes subject * with condition DEPTH(A, n).  x and cs
 * (A's last complex and conditions) are consumed. */
static int parse_upward(struct cur *c, struct sel *s, struct complex *x, struct cond *cs,
                        unsigned nc, const struct upward *up)
{
	struct sel *a = sel_alloc(s->text, strlen(s->text));
	if (!a) {
		conds_free(cs, nc);
		return fail(c, "out of memory");
	}
	a->alts = malloc(sizeof *a->alts);
	if (!a->alts) {
		conds_free(cs, nc);
		sel_free(a);
		return fail(c, "out of memory");
	}
	a->alts[0] = *x;
	a->n_alts = 1;
	x->c = NULL;
	x->n = 0;
	a->conds = cs;
	a->n_conds = nc;
	a->stream_ok = 1;
	/* A is matched relative to the ancestor: its leftmost compound is a
	 * descendant of it */
	a->alts[0].c[0].comb = ' ';
	set_reads_others(a);
	char *e;
	unsigned long n = strtoul(up->arg, &e, 10);
	int numeric = e != up->arg && (size_t)(e - up->arg) == up->alen;
	struct sel *target;
	if (numeric) {
		if (n < 1 || n > 64) {
			sel_free(a);
			return fail(c, "bad :upward() count");
		}
		char star[] = "*";
		struct cur sc = *c;
		sc.p = star;
		sc.end = star + 1;
		target = parse_sel(&sc, 0, 0);
	} else {
		target = sub_sel(c, up->arg, up->alen, 0, 0);
	}
	if (!target) {
		sel_free(a);
		return -1;
	}
	/* s takes target's alternatives and one condition */
	s->alts = target->alts;
	s->n_alts = target->n_alts;
	target->alts = NULL;
	target->n_alts = 0;
	sel_free(target);
	struct cond *k = calloc(1, sizeof *k);
	if (!k) {
		sel_free(a);
		return fail(c, "out of memory");
	}
	k->kind = numeric ? SEL_COND_DEPTH : SEL_COND_UPWARD;
	k->num = numeric ? n : 0;
	k->sub = a;
	s->conds = k;
	s->n_conds = 1;
	set_reads_others(s);
	return 0;
}

struct sel *sel_parse(const char *text, int syntax, char *why, size_t whylen)
{
	struct cur c = { text, text + strlen(text), why, whylen, syntax, 0, 0, 0, 0 };
	if (why && whylen)
		why[0] = 0;
	const char *e = c.end;
	while (e > text && isspace((unsigned char)e[-1]))
		e--;
	c.end = e;
	while (c.p < c.end && isspace((unsigned char)*c.p))
		c.p++;
	if (c.p == c.end) {
		fail(&c, "empty selector");
		return NULL;
	}
	struct sel *s = parse_sel(&c, 0, 1);
	if (!s)
		return NULL;
	if (syntax == SEL_SYNTAX_ADG_HTML) {
		int has_content = 0, has_max = 0;
		for (unsigned i = 0; i < s->n_conds; i++) {
			if (s->conds[i].kind != SEL_COND_INNER)
				continue;
			has_content |= s->conds[i].inner_op == IN_SUBSTR || s->conds[i].inner_op == IN_WILDCARD;
			has_max |= s->conds[i].inner_op == IN_MAXLEN;
		}
		if (has_content && !has_max) {
			/* AdGuard's default: longer contents are left alone */
			struct cond *x = cond_add(&s->conds, &s->n_conds, SEL_COND_INNER, 0);
			if (!x) {
				sel_free(s);
				fail(&c, "out of memory");
				return NULL;
			}
			x->inner_op = IN_MAXLEN;
			x->num = ADG_DEFAULT_MAX_LENGTH;
		}
	}
	s->stream_ok = !c.css_only;
	set_desc_mask(s);
	s->css_ok = !c.procedural && s->n_conds == 0 && syntax == SEL_SYNTAX_CSS &&
	            !strpbrk(s->text, "{}<@;");
	return s;
}

struct sel *sel_parse_borrow(const char *text, int syntax, char *why, size_t whylen)
{
	struct sel *s = sel_parse(text, syntax, why, whylen);
	if (s && !strcmp(s->text, text)) {
		free(s->text);
		s->text = (char *)text; /* never written through: text_borrowed */
		s->text_borrowed = 1;
	}
	return s;
}

/* ---- properties and keys --------------------------------------------- */

int sel_css_ok(const struct sel *s) { return s->css_ok; }
int sel_stream_ok(const struct sel *s) { return s->stream_ok; }
int sel_has_conds(const struct sel *s) { return s->n_conds > 0; }
const char *sel_text(const struct sel *s) { return s->text; }
unsigned sel_n_conds(const struct sel *s) { return s->n_conds; }
int sel_rel_simple(const struct sel *s) { return s->rel_simple; }
int sel_reads_others(const struct sel *s) { return s->reads_others; }
int sel_reads_siblings(const struct sel *s) { return reads_siblings(s); }
uint64_t sel_id(const struct sel *s) { return s->id; }
uint64_t sel_static_id(const struct sel *s) { return s->static_id; }
uint32_t sel_desc_mask(const struct sel *s) { return s->desc_mask; }
uint32_t sel_desc_neg(const struct sel *s) { return s->desc_neg; }
int sel_tag_only(const struct sel *s) { return s->tag_only && s->stream_ok; }
uint32_t sel_ancestor_hash(const struct sel *s) { return s->ancestor_hash; }
const char *sel_ancestor_tag(const struct sel *s, size_t *len)
{
	*len = s->ancestor_tag_len;
	return s->ancestor_tag;
}
const char *sel_subject_tag(const struct sel *s, size_t *len)
{
	*len = s->subject_tag_len;
	return s->subject_tag;
}
uint64_t sel_cond_id(const struct sel *s, unsigned i) { return s->conds[i].id; }
int sel_cond_cheap(const struct sel *s, unsigned i) { return s->conds[i].cheap; }
void sel_cond_brief(const struct sel *s, unsigned i, struct sel_cond_brief *b)
{
	const struct cond *c = &s->conds[i];
	b->kind = c->kind;
	b->neg = c->neg;
	b->cheap = c->cheap;
	b->id = c->id;
}
int sel_cond_kind(const struct sel *s, unsigned i) { return s->conds[i].kind; }
int sel_cond_negated(const struct sel *s, unsigned i) { return s->conds[i].neg; }
const struct sel *sel_cond_sel(const struct sel *s, unsigned i) { return s->conds[i].sub; }
unsigned sel_cond_depth(const struct sel *s, unsigned i) { return (unsigned)s->conds[i].num; }

static int alnum(unsigned char ch) { return isalnum(ch); }

/* The longest alphanumeric run of an attribute test's value that any
 * matching value must contain as a whole run. */
static int attr_token(const struct attr_test *at, const char **tok, size_t *tl)
{
	if (at->op == OP_EXISTS || at->op == OP_MATCHES || !at->val)
		return 0;
	int start_ok = at->op == OP_EQ || at->op == OP_PRE || at->op == OP_INCL || at->op == OP_DASH;
	int end_ok = at->op == OP_EQ || at->op == OP_SUF || at->op == OP_INCL || at->op == OP_DASH;
	const char *v = at->val;
	size_t n = at->vlen, best = 0;
	for (size_t i = 0; i < n;) {
		if (!alnum((unsigned char)v[i])) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && alnum((unsigned char)v[j]))
			j++;
		int ok = (i > 0 || start_ok) && (j < n || end_ok);
		if (ok && j - i > best && j - i >= 2) {
			best = j - i;
			*tok = v + i;
		}
		i = j;
	}
	*tl = best;
	return best > 0;
}

/* Where the 3-byte window of v[0..n) (n >= 3) least likely in attribute
 * values starts: a value holding v holds each of its windows, so any one
 * can file the rule, and the rewriter tries the rule on every element
 * whose value has that window ("con" of "consent" is in container,
 * content, icon...).  Rarity by English letter frequency (class names
 * are mostly English words); '-', '_', digits and others count as
 * common; the first rarest wins. */
static size_t rare_window(const char *v, size_t n)
{
	static const char order[] = "etaoinsrlcdhumpgfbywvkxjqz"; /* most common first */
	/* windows of the words class names are made of everywhere (layout
	 * and component vocabulary): never the pick while another is left */
	static const char *const common[] = {
		"container", "content", "wrapper", "header", "footer", "section", "button", "item",
		"title", "text", "link", "icon", "image", "column", "layout", "flex", "grid", "menu",
		"list", "card", "inner", "outer", "main", "page", "center", "border", "margin", "padding",
		"width", "height", "hidden", "block", "inline", "font", "color", "background", "active",
		"mobile", "desktop", "large", "small", "medium", "row", "col", "nav", "btn", "wrap",
	};
	size_t best = 0;
	int best_score = -1000;
	for (size_t i = 0; i + 3 <= n; i++) {
		int score = 0;
		char w[3];
		for (size_t j = 0; j < 3; j++) {
			w[j] = (char)tolower((unsigned char)v[i + j]);
			const char *r = strchr(order, w[j]);
			score += r && w[j] ? (int)(r - order) : 0;
		}
		for (size_t c = 0; c < sizeof common / sizeof *common; c++) {
			const char *cw = common[c];
			for (size_t k = 0; cw[k] && cw[k + 1] && cw[k + 2]; k++)
				if (cw[k] == w[0] && cw[k + 1] == w[1] && cw[k + 2] == w[2])
					score -= 100;
		}
		if (score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return best;
}

int sel_index_key(const struct sel *s, char *buf, size_t len)
{
	if (s->n_alts != 1)
		return snprintf(buf, len, "%s", "") < (int)len ? 0 : -1;
	const struct complex *x = &s->alts[0];
	const struct compound *k = &x->c[x->n - 1];
	int n;
	if (k->id) {
		n = snprintf(buf, len, "#%s", k->id);
	} else if (k->n_cls) {
		unsigned b = 0;
		for (unsigned i = 1; i < k->n_cls; i++)
			if (k->cls_len[i] > k->cls_len[b])
				b = i;
		n = snprintf(buf, len, ".%s", k->cls[b]);
	} else {
		const char *tok = NULL;
		size_t tl = 0, best = 0;
		const struct attr_test *bat = NULL;
		for (unsigned i = 0; i < k->n_at; i++) {
			const char *t2 = NULL;
			size_t l2;
			if (attr_token(&k->at[i], &t2, &l2) && l2 > best) {
				best = l2;
				tok = t2;
				tl = l2;
				bat = &k->at[i];
			}
		}
		if (!bat) {
			/* no whole token: the first three bytes of a value the
			 * attribute must contain (a "~name=abc" key: the element's
			 * attribute is probed at every position) */
			for (unsigned i = 0; i < k->n_at && !bat; i++) {
				const struct attr_test *at = &k->at[i];
				if ((at->op == OP_SUB || at->op == OP_PRE || at->op == OP_EQ || at->op == OP_SUF) &&
				    at->vlen >= 3)
					bat = at;
			}
			if (bat) {
				size_t at = rare_window(bat->val, bat->vlen);
				n = snprintf(buf, len, "~%s=%c%c%c", bat->name, tolower((unsigned char)bat->val[at]),
				             tolower((unsigned char)bat->val[at + 1]),
				             tolower((unsigned char)bat->val[at + 2]));
				return (n < 0 || (size_t)n >= len) ? -1 : n;
			}
		} else {
			n = snprintf(buf, len, "[%s=", bat->name);
			if (n < 0 || (size_t)n + tl + 1 > len)
				return -1;
			for (size_t i = 0; i < tl; i++)
				buf[n + (int)i] = (char)tolower((unsigned char)tok[i]);
			n += (int)tl;
			buf[n] = 0;
			return n;
		}
		const struct attr_test *named = NULL;
		for (unsigned i = 0; i < k->n_at && !named; i++)
			if (k->at[i].name && k->at[i].op != OP_MATCHES)
				named = &k->at[i];
		if (named) {
			/* an attribute the element must have: rarer than any tag */
			n = snprintf(buf, len, "@%s", named->name);
		} else if (k->tag) {
			n = snprintf(buf, len, "<%s", k->tag);
		} else {
			n = snprintf(buf, len, "%s", "");
		}
	}
	return (n < 0 || (size_t)n >= len) ? -1 : n;
}

/* ---- matching ------------------------------------------------------------ */

/* Short byte strings (tag and attribute names, class tokens) compared
 * inline: a libc call cost more than the compare, and matching asks it
 * for every candidate rule on every element. */
static inline int bytes_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static const struct html_attr *find_attr(const struct sel_node *e, const char *name, size_t n)
{
	for (unsigned i = 0; i < e->n_attrs; i++)
		if (e->attrs[i].name_len == n && bytes_eq(e->attrs[i].name, name, n))
			return &e->attrs[i];
	return NULL;
}

static int eq_n(const char *a, const char *b, size_t n, int icase)
{
	return icase ? strncasecmp(a, b, n) == 0 : memcmp(a, b, n) == 0;
}

static const char *find_sub(const char *h, size_t hl, const char *nd, size_t nl, int icase)
{
	if (nl == 0)
		return h;
	if (!icase)
		return memmem(h, hl, nd, nl);
	/* ASCII case folding; the first byte is searched with memchr in both
	 * cases, the rest compared inline (strncasecmp per position costs a
	 * call and a locale lookup) */
	unsigned char f0 = (unsigned char)tolower((unsigned char)nd[0]);
	unsigned char f1 = (unsigned char)toupper((unsigned char)nd[0]);
	if (nl >= 2 && hl >= nl + 15) {
		/* both cases of the first and the last byte at 16 positions at
		 * once (SSE2), the middle compared where both are there: two
		 * memchr() calls per occurrence of the first byte cost more on
		 * long class lists ("[class*=\"consent\" i]" on every c) */
		unsigned char l0 = (unsigned char)tolower((unsigned char)nd[nl - 1]);
		unsigned char l1 = (unsigned char)toupper((unsigned char)nd[nl - 1]);
		const __m128i a0 = _mm_set1_epi8((char)f0), a1 = _mm_set1_epi8((char)f1);
		const __m128i b0 = _mm_set1_epi8((char)l0), b1 = _mm_set1_epi8((char)l1);
		size_t i = 0;
		for (; i + nl - 1 + 16 <= hl; i += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
			__m128i y = _mm_loadu_si128((const __m128i *)(const void *)(h + i + nl - 1));
			__m128i m = _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(x, a0), _mm_cmpeq_epi8(x, a1)),
			                          _mm_or_si128(_mm_cmpeq_epi8(y, b0), _mm_cmpeq_epi8(y, b1)));
			for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1) {
				const char *c = h + i + (unsigned)__builtin_ctz(bits);
				size_t k = 1;
				while (k < nl - 1 && tolower((unsigned char)c[k]) == tolower((unsigned char)nd[k]))
					k++;
				if (k >= nl - 1)
					return c;
			}
		}
		/* the last positions one at a time */
		for (; i + nl <= hl; i++) {
			size_t k = 0;
			while (k < nl && tolower((unsigned char)h[i + k]) == tolower((unsigned char)nd[k]))
				k++;
			if (k == nl)
				return h + i;
		}
		return NULL;
	}
	for (size_t i = 0; i + nl <= hl;) {
		const char *a = memchr(h + i, f0, hl - nl + 1 - i);
		const char *b = f1 != f0 ? memchr(h + i, f1, hl - nl + 1 - i) : NULL;
		const char *c = a && b ? (a < b ? a : b) : a ? a : b;
		if (!c)
			return NULL;
		size_t k = 1;
		while (k < nl && tolower((unsigned char)c[k]) == tolower((unsigned char)nd[k]))
			k++;
		if (k == nl)
			return c;
		i = (size_t)(c - h) + 1;
	}
	return NULL;
}

/* 1 when nd[0..nl) occurs in h[0..hl), 0 when not.  glibc's memmem runs
 * a two-way search at some four instructions a byte of article text (the
 * :has-text() searches of every element a literal rule waits for):
 * testing the needle's first and last bytes at 16 positions at once and
 * comparing the rest only where both are there takes a fraction of it. */
#ifdef HAVE_AVX2_PATH
/* The same 32 positions at a time, on CPUs that have AVX2 (asked once):
 * from i on, the position where the search stopped is returned (the
 * caller finishes it), or SIZE_MAX when it found the needle. */
__attribute__((target("avx2"))) static size_t text_has_avx2(const char *h, size_t last, const char *nd,
                                                            size_t nl)
{
	const __m256i f = _mm256_set1_epi8(nd[0]), l = _mm256_set1_epi8(nd[nl - 1]);
	size_t i = 0;
	for (; i + 31 <= last; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(h + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(h + i + nl - 1));
		unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, f),
		                                                             _mm256_cmpeq_epi8(b, l)));
		for (; m; m &= m - 1)
			if (!memcmp(h + i + __builtin_ctz(m) + 1, nd + 1, nl - 2))
				return SIZE_MAX;
	}
	return i;
}
#endif

static int text_has(const char *h, size_t hl, const char *nd, size_t nl)
{
	if (nl == 0)
		return 1;
	if (nl > hl)
		return 0;
	if (nl == 1)
		return memchr(h, nd[0], hl) != NULL;
	size_t i = 0, last = hl - nl; /* the last position a match may start at */
#ifdef HAVE_AVX2_PATH
	static _Atomic int avx2 = -1; /* (a race stores the same answer) */
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") != 0;
	if (avx2 && (i = text_has_avx2(h, last, nd, nl)) == SIZE_MAX)
		return 1;
#endif
#ifdef __SSE2__
	const __m128i f = _mm_set1_epi8(nd[0]), l = _mm_set1_epi8(nd[nl - 1]);
	for (; i + 15 <= last; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + nl - 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, f), _mm_cmpeq_epi8(b, l)));
		for (; m; m &= m - 1)
			if (!memcmp(h + i + __builtin_ctz(m) + 1, nd + 1, nl - 2))
				return 1;
	}
#endif
	for (; i <= last; i++)
		if (h[i] == nd[0] && h[i + nl - 1] == nd[nl - 1] && !memcmp(h + i + 1, nd + 1, nl - 2))
			return 1;
	return 0;
}

/* One match context for every thread (read-only once made): bounds the
 * work a pathological pattern may do on page text. */
static pcre2_match_context *match_ctx;
static pthread_once_t match_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key;     /* frees a thread's match data when it exits */
static int md_key_ok;

static void md_free(void *md) { pcre2_match_data_free(md); }

static void match_ctx_init(void)
{
	md_key_ok = pthread_key_create(&md_key, md_free) == 0;
	match_ctx = pcre2_match_context_create(NULL);
	if (match_ctx) {
		pcre2_set_match_limit(match_ctx, 100000);
		pcre2_set_depth_limit(match_ctx, 10000);
	}
}

/* One match-data block per thread, made on first use and freed when the
 * thread exits: a test asks only "does it match", so one ovector pair
 * serves every pattern, and a malloc/free per test would cost more than
 * most matches. */
static _Thread_local pcre2_match_data *thread_md;

/* The calling thread's match data, or NULL when out of memory. */
static pcre2_match_data *md_get(void)
{
	pthread_once(&match_once, match_ctx_init);
	if (!thread_md) {
		if (!md_key_ok || !(thread_md = pcre2_match_data_create(1, NULL)))
			return NULL;
		if (pthread_setspecific(md_key, thread_md) != 0) {
			pcre2_match_data_free(thread_md);
			thread_md = NULL;
			return NULL;
		}
	}
	return thread_md;
}

static int re_match(const pcre2_code *re, const char *s, size_t n)
{
	if (!md_get())
		return 0;
	/* straight into the JIT code (patterns are compiled with
	 * MATCH_INVALID_UTF under /u, so no separate UTF check is needed);
	 * the interpreter when JIT compilation failed */
	int rc = pcre2_jit_match(re, (PCRE2_SPTR)s, n, 0, 0, thread_md, match_ctx);
	if (rc == PCRE2_ERROR_JIT_BADOPTION)
		rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, thread_md, match_ctx);
	return rc >= 0;
}

/* The pair at text[i] allows a match: the first four bytes there, when
 * all ASCII, by the same partial match, remembered by value.  Returns as
 * first_check. */
static int quad_check(const struct re_first *f, const pcre2_code *re, const char *text, size_t len,
                      size_t i, int whole)
{
	if (len - i < 4)
		return whole ? 1 : -1;
	if ((unsigned char)text[i + 2] >= 0x80 || (unsigned char)text[i + 3] >= 0x80)
		return 1;
	uint32_t key;
	memcpy(&key, text + i, 4);
	_Atomic uint64_t *slot = (_Atomic uint64_t *)&f->quads[(key * 0x9e3779b1u) >> (32 - QUAD_BITS)];
	uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
	if ((v & 0x80) && (uint32_t)(v >> 8) == key)
		return (int)(v & 1);
	pcre2_match_data *md = md_get();
	if (!md)
		return 1;
	int rc = pcre2_match(re, (PCRE2_SPTR)text + i, 4, 0, PCRE2_PARTIAL_HARD, md, match_ctx);
	int possible = rc != PCRE2_ERROR_NOMATCH;
	atomic_store_explicit(slot, (uint64_t)key << 8 | 0x80 | (uint64_t)possible, memory_order_relaxed);
	return possible;
}

/* 0 when a text cannot match re, whose first-character filter is f; 1
 * when PCRE2 must decide.  Skips the leading S-bytes the possessive run
 * would take, then looks at the next byte: the end of the text (X needs a
 * character) or an ASCII byte X cannot start with is a certain failure;
 * then at the pair of ASCII bytes there, if any.  With whole 0, text is
 * only the beginning of the text to test: -1 when the bytes the filter
 * looks at are not all there yet (every verdict is then one on any text
 * that begins so: the run is read from the start and the pair check is a
 * partial match). */
static int first_check(const struct re_first *f, const pcre2_code *re, const char *text, size_t len,
                       int whole)
{
	size_t i = 0;
#ifdef __SSE2__
	if (f->ws) {
		/* pages indent: texts often open with long runs of blanks;
		 * x is one when x == ' ' or x - 9 <= 4 (unsigned: min_epu8) */
		const __m128i sp = _mm_set1_epi8(' '), nine = _mm_set1_epi8(9), four = _mm_set1_epi8(4);
		for (; i + 16 <= len; i += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
			__m128i d = _mm_sub_epi8(x, nine);
			__m128i ws = _mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(_mm_min_epu8(d, four), d));
			if (_mm_movemask_epi8(ws) != 0xffff)
				break;
		}
	}
#endif
	while (i < len && (unsigned char)text[i] < 0x80 && bit_has(f->skip, (unsigned char)text[i]))
		i++;
	if (i == len)
		return whole ? !f->nonempty : -1;
	unsigned char c = (unsigned char)text[i];
	if (c >= 0x80)
		return 1;
	if (!bit_has(f->start, c))
		return 0;
	if (i + 1 == len)
		return whole ? 1 : -1;
	if ((unsigned char)text[i + 1] >= 0x80)
		return 1;
	unsigned k = c * 128u + (unsigned char)text[i + 1], sh = (k & 3) * 2;
	_Atomic unsigned char *slot = (_Atomic unsigned char *)&f->pairs[k >> 2];
	unsigned st = (atomic_load_explicit(slot, memory_order_relaxed) >> sh) & 3;
	if (st & 1)
		return (st >> 1) ? quad_check(f, re, text, len, i, whole) : 0;
	pcre2_match_data *md = md_get();
	if (!md)
		return 1;
	/* the interpreter: the code is JIT-compiled for complete matches only */
	int rc = pcre2_match(re, (PCRE2_SPTR)text + i, 2, 0, PCRE2_PARTIAL_HARD, md, match_ctx);
	int possible = rc != PCRE2_ERROR_NOMATCH;
	atomic_fetch_or_explicit(slot, (unsigned char)((1u | (unsigned)possible << 1) << sh),
	                         memory_order_relaxed);
	return possible ? quad_check(f, re, text, len, i, whole) : 0;
}

static int first_may_match(const struct re_first *f, const pcre2_code *re, const char *text,
                           size_t len)
{
	return first_check(f, re, text, len, 1);
}

static int attr_ok(const struct attr_test *t, const struct sel_node *e)
{
	if (t->op == OP_MATCHES) {
		for (unsigned i = 0; i < e->n_attrs; i++) {
			const struct html_attr *a = &e->attrs[i];
			int nok = t->nre ? re_match(t->nre, a->name, a->name_len)
			                 : (t->name && a->name_len == t->nlen && !memcmp(a->name, t->name, t->nlen));
			if (!nok)
				continue;
			if (!t->val && !t->vre)
				return 1;
			if (t->vre ? re_match(t->vre, a->value, a->value_len)
			           : (a->value_len == t->vlen && !memcmp(a->value, t->val, t->vlen)))
				return 1;
		}
		return 0;
	}
	const struct html_attr *a = find_attr(e, t->name, t->nlen);
	if (!a)
		return 0;
	const char *v = a->value;
	size_t n = a->value_len, m = t->vlen;
	switch (t->op) {
	case OP_EXISTS: return 1;
	case OP_EQ: return n == m && eq_n(v, t->val, m, t->icase);
	case OP_PRE: return m > 0 && n >= m && eq_n(v, t->val, m, t->icase);
	case OP_SUF: return m > 0 && n >= m && eq_n(v + n - m, t->val, m, t->icase);
	case OP_SUB: return m > 0 && find_sub(v, n, t->val, m, t->icase) != NULL;
	case OP_DASH: return n >= m && eq_n(v, t->val, m, t->icase) && (n == m || v[m] == '-');
	case OP_INCL:
		if (m == 0 || memchr(t->val, ' ', m))
			return 0;
		for (size_t i = 0; i < n;) {
			while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r' || v[i] == '\f'))
				i++;
			size_t j = i;
			while (j < n && !(v[j] == ' ' || v[j] == '\t' || v[j] == '\n' || v[j] == '\r' || v[j] == '\f'))
				j++;
			if (j - i == m && eq_n(v + i, t->val, m, t->icase))
				return 1;
			i = j;
		}
		return 0;
	}
	return 0;
}

static int is_html_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
}

/* Is cl one of the whitespace-separated tokens of the class attribute?
 * Its first byte is searched with memchr (pages carry class lists of
 * dozens of names), then an occurrence must stand alone and hold the
 * rest: memmem cost a call of some 200 instructions for these short
 * needles. */
static int has_class(const struct html_attr *a, const char *cl, size_t m)
{
	const char *v = a->value, *end = v + a->value_len;
	if (m == 0)
		return 0;
	for (const char *p = v; (size_t)(end - p) >= m; p++) {
		p = memchr(p, cl[0], (size_t)(end - p) - m + 1);
		if (!p)
			return 0;
		if ((p == v || is_html_space(p[-1])) && (p + m == end || is_html_space(p[m])) &&
		    bytes_eq(p + 1, cl + 1, m - 1)) {
			/* a token never holds a blank: asked of the name only
			 * here, not on every call (most find no occurrence) */
			for (size_t i = 0; i < m; i++)
				if (is_html_space(cl[i]))
					return 0;
			return 1;
		}
	}
	return 0;
}

static int match_at(const struct sel *s, const struct sel_node *const *path, unsigned k,
                    const struct sel_node *node, int scope);

static int compound_ok(const struct compound *k, const struct sel_node *const *path,
                       unsigned lvl, const struct sel_node *e)
{
	if (k->tag && !(e->name_len == k->tag_len && bytes_eq(e->name, k->tag, k->tag_len)))
		return 0;
	if (k->id) {
		const struct html_attr *a = find_attr(e, "id", 2);
		if (!a || a->value_len != k->id_len || memcmp(a->value, k->id, k->id_len))
			return 0;
	}
	if (k->n_cls) {
		const struct html_attr *a = find_attr(e, "class", 5);
		if (!a)
			return 0;
		for (unsigned i = 0; i < k->n_cls; i++)
			if (!has_class(a, k->cls[i], k->cls_len[i]))
				return 0;
	}
	for (unsigned i = 0; i < k->n_at; i++)
		if (!attr_ok(&k->at[i], e))
			return 0;
	if (k->root && (lvl != 0 || e != path[0]))
		return 0;
	if (k->has_nth) {
		long pos = (long)e->index + 1 - k->nth_b;
		if (k->nth_a == 0 ? pos != 0 : (pos % k->nth_a != 0 || pos / k->nth_a < 0))
			return 0;
	}
	for (unsigned i = 0; i < k->n_nots; i++)
		if (match_at(k->nots[i], path, lvl, e, -1))
			return 0;
	for (unsigned i = 0; i < k->n_is; i++)
		if (!match_at(k->iss[i], path, lvl, e, -1))
			return 0;
	return 1;
}

/* Does x's compound ci match node (at level lvl; path[0..lvl-1] are its
 * ancestors), and the compounds on its left match around it?  scope >= 0:
 * a relative selector anchored at path[scope]. */
static int match_from(const struct complex *x, unsigned ci, const struct sel_node *const *path,
                      unsigned lvl, const struct sel_node *node, int scope)
{
	const struct compound *k = &x->c[ci];
	if (!compound_ok(k, path, lvl, node))
		return 0;
	if (ci == 0) {
		if (scope < 0)
			return 1;
		return k->comb == '>' ? lvl == (unsigned)scope + 1 : lvl > (unsigned)scope;
	}
	unsigned low = scope < 0 ? 0 : (unsigned)scope + 1;
	switch (k->comb) {
	case '>':
		return lvl > low && match_from(x, ci - 1, path, lvl - 1, path[lvl - 1], scope);
	case '+':
		return node->prev && match_from(x, ci - 1, path, lvl, node->prev, scope);
	case '~':
		for (const struct sel_node *p = node->prev; p; p = p->prev)
			if (match_from(x, ci - 1, path, lvl, p, scope))
				return 1;
		return 0;
	default:
		if (ci == 1 && scope < 0 && x->c[0].tag_only) {
			/* "nav a", "header a": the walk up compares names,
			 * without a call a level */
			const struct compound *a = &x->c[0];
			for (unsigned j = lvl; j-- > 0;)
				if (path[j]->name_len == a->tag_len && bytes_eq(path[j]->name, a->tag, a->tag_len))
					return 1;
			return 0;
		}
		for (unsigned j = lvl; j-- > low;)
			if (match_from(x, ci - 1, path, j, path[j], scope))
				return 1;
		return 0;
	}
}

/* 1 when node lacks one of the attribute names in need (name_bit()s);
 * *have holds node's names once *made is set, so a list builds it once. */
static int lacks_attrs(uint64_t need, const struct sel_node *node, uint64_t *have, int *made)
{
	if (!*made) {
		for (unsigned a = 0; a < node->n_attrs; a++)
			*have |= name_bit(node->attrs[a].name, node->attrs[a].name_len);
		*made = 1;
	}
	return (need & ~*have) != 0;
}

static int match_at(const struct sel *s, const struct sel_node *const *path, unsigned k,
                    const struct sel_node *node, int scope)
{
	/* the element's attribute names as name_bit()s, made for lists
	 * only ("div[id^=a], div[data-b], .c, ..."): most alternatives ask
	 * for a name the element lacks, and a look at the mask spares their
	 * find_attr() walks; one alternative walks once anyway */
	uint64_t have = 0;
	int masked = s->n_alts > 2, have_made = 0;
	if (s->groups) {
		/* the alternatives of the element's tag and of any tag, by
		 * their bits: the others are not looked at */
		uint64_t todo = s->tagless;
		for (unsigned g = 0; g < s->n_groups; g++)
			if (s->groups[g].len == node->name_len && bytes_eq(s->groups[g].tag, node->name, node->name_len)) {
				todo |= s->groups[g].mask;
				break;
			}
		if (todo & s->bare_cls) {
			/* one lookup of the class for all of them; each stands
			 * alone (one compound: only its relation to the scope) */
			const struct html_attr *ca = find_attr(node, "class", 5);
			for (uint64_t b = ca ? todo & s->bare_cls : 0; b; b &= b - 1) {
				const struct complex *x = &s->alts[__builtin_ctzll(b)];
				if ((scope < 0 || (x->c[0].comb == '>' ? k == (unsigned)scope + 1 : k > (unsigned)scope)) &&
				    has_class(ca, x->c[0].cls[0], x->c[0].cls_len[0]))
					return 1;
			}
			todo &= ~s->bare_cls;
		}
		for (; todo; todo &= todo - 1) {
			unsigned i = (unsigned)__builtin_ctzll(todo);
			const struct complex *x = &s->alts[i];
			if (x->need && lacks_attrs(x->need, node, &have, &have_made))
				continue;
			if (match_from(x, x->n - 1, path, k, node, scope))
				return 1;
		}
		return 0;
	}
	for (unsigned i = 0; i < s->n_alts; i++) {
		/* the subject's tag first, without the call: a selector list
		 * ("img, video, iframe") mostly has an alternative of another
		 * tag than the element */
		const struct complex *x = &s->alts[i];
		if (x->stag && (x->stag_len != node->name_len || x->stag0 != node->name[0]))
			continue;
		if (masked && x->need && lacks_attrs(x->need, node, &have, &have_made))
			continue;
		if (match_from(&s->alts[i], s->alts[i].n - 1, path, k, node, scope))
			return 1;
	}
	return 0;
}

/* 0 when no ancestor of path[n - 1] (or not the one anc_up levels up)
 * passes s's ancestor attribute test: a necessary condition, cheaper than
 * the walk of match_from() it spares. */
static int anc_test_ok(const struct sel *s, const struct sel_node *const *path, unsigned n)
{
	if (s->anc_up)
		return s->anc_up < n && attr_ok(s->anc_test, path[n - 1 - s->anc_up]);
	for (unsigned j = n - 1; j-- > 0;)
		if (attr_ok(s->anc_test, path[j]))
			return 1;
	return 0;
}

int sel_match(const struct sel *s, const struct sel_node *const *path, unsigned n)
{
	if (n == 0 || !s->stream_ok)
		return 0;
	if (s->anc_test && !anc_test_ok(s, path, n))
		return 0;
	return match_at(s, path, n - 1, path[n - 1], -1);
}

int sel_match_rel(const struct sel *s, const struct sel_node *const *path, unsigned n,
                  unsigned scope)
{
	if (n == 0 || scope + 1 >= n || !s->stream_ok)
		return 0;
	return match_at(s, path, n - 1, path[n - 1], (int)scope);
}

/* '*' any run, '?' one byte; iterative with one backtrack point. */
static int wildcard(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
	while (si < sl) {
		if (pi < pl && (p[pi] == '?' || p[pi] == s[si])) {
			pi++;
			si++;
		} else if (pi < pl && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return 0;
		}
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

size_t sel_cond_word_span(const struct sel *s, unsigned i)
{
	const struct cond *x = &s->conds[i];
	/* a word's first byte is ASCII, each other entry at most a
	 * four-byte character */
	return x->inner_op == IN_REGEX && x->pre ? 4 * LIT_LEN : 0;
}

int sel_cond_words_at(const struct sel *s, unsigned i, const char *text, size_t len, size_t from,
                      size_t to)
{
	return lit_scan(s->conds[i].pre, text, len, from, to);
}

uint32_t sel_early_mask(const struct sel *s) { return s->early_mask; }
void sel_early_bounds(const struct sel *s, size_t *len, size_t *vis)
{
	*len = s->early_len;
	*vis = s->early_vis;
}
size_t sel_cond_max_len(const struct sel *s, unsigned i) { return s->conds[i].max_len; }
size_t sel_cond_max_visible(const struct sel *s, unsigned i) { return s->conds[i].max_vis; }

/* For a pattern anchored at the start, its first-character filter on the
 * beginning.  (PCRE2's hard partial match would also refuse sentences
 * that start like a label, "Reservoir" for "report this ad"; tried, it cost
 * more than the test of the whole text it spared.) */
int sel_cond_test_prefix(const struct sel *s, unsigned i, const char *text, size_t len)
{
	const struct cond *x = &s->conds[i];
	if (x->kind != SEL_COND_TEXT || x->inner_op != IN_REGEX || !x->first)
		return 1;
	return first_check(x->first, x->re, text, len, 0);
}

int sel_cond_first_filtered(const struct sel *s, unsigned i)
{
	return s->conds[i].inner_op == IN_REGEX && s->conds[i].first;
}

static int cond_test(const struct cond *x, const char *text, size_t len, int use_words);

int sel_cond_test_words(const struct sel *s, unsigned i, const char *text, size_t len, int words)
{
	return words ? cond_test(&s->conds[i], text, len, 0) : 0;
}

int sel_cond_test(const struct sel *s, unsigned i, const char *text, size_t len)
{
	return cond_test(&s->conds[i], text, len, 1);
}

static int cond_test(const struct cond *x, const char *text, size_t len, int use_words)
{
	switch (x->inner_op) {
	case IN_SUBSTR: return text_has(text, len, x->str, x->slen);
	case IN_REGEX:
		if (x->num != (size_t)-1 && len > x->num) {
			/* the length idiom: characters, not bytes, under /u (a
			 * character is at most 4 bytes) */
			if (!x->utf || len / 4 > x->num)
				return 0;
			size_t chars = 0;
			for (size_t i = 0; i < len && chars <= x->num; i++)
				chars += ((unsigned char)text[i] & 0xc0) != 0x80;
			if (chars > x->num)
				return 0;
		}
		if (x->first && !first_may_match(x->first, x->re, text, len))
			return 0;
		for (unsigned k = 0; k < x->n_more; k++)
			if (!re_match(x->more[k], text, len))
				return 0;
		if (use_words && x->pre && !lit_may_match(x->pre, text, len))
			return 0;
		return re_match(x->re, text, len);
	case IN_WILDCARD: return wildcard(x->str, x->slen, text, len);
	case IN_MINLEN: return len >= x->num;
	case IN_MAXLEN: return len <= x->num;
	case IN_MAXCHARS: {
		if (len <= x->num)
			return 1;
		if (!x->utf || len / 4 > x->num)
			return 0;
		size_t chars = 0;
		for (size_t i = 0; i < len && chars <= x->num; i++)
			chars += ((unsigned char)text[i] & 0xc0) != 0x80;
		return chars <= x->num;
	}
	}
	return 0;
}
