/*
 * http1: strict incremental HTTP/1.x head parser and chunked decoder.
 *
 * The head parser works in two steps.  While bytes arrive it only scans for
 * line ends, byte by byte, copying the head into its own buffer and rejecting
 * what is wrong whatever follows (NUL, bare CR, bare LF, too many bytes, too
 * many lines).  When the empty line arrives it parses the complete copy in
 * one go.  Because the scan looks at one byte at a time and keeps no other
 * state, the result (status, reason, head) cannot depend on how the input was
 * split into calls.
 *
 * Choices where the RFCs leave room (all documented in the header's spirit):
 *  - leading empty lines (CRLF) before a head are skipped (RFC 9112 §2.2),
 *    they count toward max_head;
 *  - a request Transfer-Encoding whose last coding is not chunked is 400; one
 *    that ends in chunked but applies another coding first ("gzip, chunked")
 *    is 501: a proxy would have to re-apply that coding hop by hop;
 *  - a request with Transfer-Encoding in HTTP/1.0 is 400 (RFC 9112 §6.1);
 *    such a response is read until close;
 *  - HTTP/1.1 requests need exactly one Host header, 1.0 at most one (400);
 *  - an Expect other than 100-continue is 417 (ignored in HTTP/1.0);
 *  - a well-formed version other than 1.0/1.1 is 505 (502 in responses).
 */
#include "proxy/http1.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#define HTTP1_MAGIC 0x48545031u          /* "HTP1" */
#define HTTP1_MAX_LEADING_CRLF 8         /* empty lines skipped before a head */
#define HTTP1_BUF_MIN 1024
#define HTTP1_BUF_KEEP 2048              /* reset frees a larger buffer */
#define HTTP1_HDRS_KEEP 24               /* ... and a larger header array */

enum scan_state { SCAN_LEAD, SCAN_LINE, SCAN_CR, SCAN_DONE, SCAN_ERROR };

struct http1_parser {
	unsigned magic;
	int kind;
	size_t max_head;
	int max_headers;

	int state;                   /* enum scan_state */
	size_t lead;                 /* skipped leading bytes (CRLF pairs) */
	size_t seen;                 /* bytes consumed for this head, lead included */
	size_t line_len;             /* bytes of the current line so far */
	int n_lines;                 /* complete lines so far, start line included */

	char *buf;                   /* the head as received */
	size_t len, cap;
	struct http1_header *hdrs;
	int hdrs_cap;

	int err_status;
	const char *err_reason;
	struct http1_head head;
};

/* ---- character classes ----------------------------------------------------- */

/* Byte classes, one table look-up per byte: CC_TCHAR is RFC 9110 tchar
 * (bytes >= 0x80 are not tokens), CC_VALUE field-vchar / SP / HTAB with
 * obs-text allowed (RFC 9110 §5.5), CC_STOP the bytes the head scan stops
 * at (NUL, CR, LF). */
enum { CC_TCHAR = 1, CC_VALUE = 2, CC_STOP = 4 };
static const unsigned char cclass[256] = {
	4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2,
	2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Eight bytes at a time (SWAR): with ONES = 0x0101..01 and HIGHS =
 * 0x8080..80, (w - n * ONES) & ~w & HIGHS is nonzero exactly when some byte
 * of w is below n (n <= 128; "Bit Twiddling Hacks", haszero/hasless).
 * Heads are scanned byte by byte otherwise; these skip the common bytes. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static uint64_t load8(const char *s)
{
	uint64_t w;
	memcpy(&w, s, 8);
	return w;
}

static int has_below(uint64_t w, unsigned n) { return ((w - n * ONES) & ~w & HIGHS) != 0; }

/* 1 when one of the 8 bytes at s is NUL, CR or LF. */
static int stop8(const char *s)
{
	uint64_t w = load8(s);
	return has_below(w, 1) || has_below(w ^ ('\r' * ONES), 1) || has_below(w ^ ('\n' * ONES), 1);
}

/* 1 when the 8 bytes at s are all field-vchar or SP (HTAB, other controls
 * and DEL leave the decision to the byte loop). */
static int plain8(const char *s)
{
	uint64_t w = load8(s);
	return !has_below(w, 0x20) && !has_below(w ^ (0x7f * ONES), 1);
}

static int is_tchar(unsigned char c) { return cclass[c] & CC_TCHAR; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }
static int is_value_char(unsigned char c) { return cclass[c] & CC_VALUE; }

static int lower_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* ---- field names ------------------------------------------------------------ */

static int hop_id(int id);

/* The names of enum http1_field, lower case, sorted by length; by_len[n] is
 * the first entry of length n (by_len[n + 1] the end).  A switch on the
 * length plus one compare: cheaper than gperf's output would be to keep
 * in step, and no library has it. */
static const struct { const char *name; unsigned char id; } field_names[] = {
	{ "te", HTTP1_F_TE },
	{ "etag", HTTP1_F_ETAG },
	{ "host", HTTP1_F_HOST },
	{ "vary", HTTP1_F_VARY },
	{ "accept", HTTP1_F_ACCEPT },
	{ "cookie", HTTP1_F_COOKIE },
	{ "expect", HTTP1_F_EXPECT },
	{ "origin", HTTP1_F_ORIGIN },
	{ "ping-to", HTTP1_F_PING_TO },
	{ "referer", HTTP1_F_REFERER },
	{ "trailer", HTTP1_F_TRAILER },
	{ "upgrade", HTTP1_F_UPGRADE },
	{ "location", HTTP1_F_LOCATION },
	{ "connection", HTTP1_F_CONNECTION },
	{ "keep-alive", HTTP1_F_KEEP_ALIVE },
	{ "set-cookie", HTTP1_F_SET_COOKIE },
	{ "user-agent", HTTP1_F_USER_AGENT },
	{ "content-type", HTTP1_F_CONTENT_TYPE },
	{ "cache-control", HTTP1_F_CACHE_CONTROL },
	{ "content-length", HTTP1_F_CONTENT_LENGTH },
	{ "sec-fetch-dest", HTTP1_F_SEC_FETCH_DEST },
	{ "sec-fetch-mode", HTTP1_F_SEC_FETCH_MODE },
	{ "sec-fetch-site", HTTP1_F_SEC_FETCH_SITE },
	{ "accept-encoding", HTTP1_F_ACCEPT_ENCODING },
	{ "content-encoding", HTTP1_F_CONTENT_ENCODING },
	{ "proxy-connection", HTTP1_F_PROXY_CONNECTION },
	{ "transfer-encoding", HTTP1_F_TRANSFER_ENCODING },
	{ "proxy-authenticate", HTTP1_F_PROXY_AUTHENTICATE },
	{ "proxy-authorization", HTTP1_F_PROXY_AUTHORIZATION },
	{ "content-security-policy", HTTP1_F_CONTENT_SECURITY_POLICY },
};
#define FIELD_NAME_MAX 23
static const unsigned char by_len[FIELD_NAME_MAX + 2] = {
	0, 0, 0, 1, 1, 4, 4, 8, 12, 13, 13, 17, 17, 18, 19, 23, 24, 26, 27, 28, 29, 29, 29, 29, 30
};

/* 1 when name[0..len) equals t[0..len) but for case, t being lower-case
 * letters and '-'.  Eight bytes at a time: c | 0x20 equals a lower-case
 * letter only for that letter in either case, and equals '-' for '-' and
 * for CR, which is ruled out apart. */
static int name_eq(const char *name, const char *t, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w = load8(name + i);
		if ((w | 0x2020202020202020ULL) != load8(t + i) || has_below(w ^ ('\r' * ONES), 1))
			return 0;
	}
	for (; i < len; i++)                /* the last 1-7 bytes */
		if (((unsigned char)name[i] | 0x20) != (unsigned char)t[i] || name[i] == '\r')
			return 0;
	return 1;
}

int http1_field_id(const char *name, size_t len)
{
	if (len == 0 || len > FIELD_NAME_MAX)
		return HTTP1_F_OTHER;
	/* first and last bytes settle most candidates: names of one length
	 * share prefixes ("sec-fetch-") and suffixes ("-encoding"); | 0x20
	 * folds 'A'-'Z' and makes no other byte a lower-case letter, and both
	 * ends of every name are letters */
	unsigned char c0 = (unsigned char)name[0] | 0x20, cl = (unsigned char)name[len - 1] | 0x20;
	for (unsigned k = by_len[len]; k < by_len[len + 1]; k++) {
		const char *t = field_names[k].name;
		if (c0 == (unsigned char)t[0] && cl == (unsigned char)t[len - 1] && name_eq(name, t, len))
			return field_names[k].id;
	}
	return HTTP1_F_OTHER;
}

int http1_is_hop_id(int id)
{
	return hop_id(id);
}

/* Index of the first field of h with id at or after start, or -1. */
static int find_id(const struct http1_head *h, int id, int start)
{
	for (int i = start < 0 ? 0 : start; i < h->n_headers; i++)
		if (h->headers[i].id == id)
			return i;
	return -1;
}

/* ---- lifecycle -------------------------------------------------------------- */

struct http1_parser *http1_parser_new(int kind, size_t max_head, int max_headers)
{
	struct http1_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->magic = HTTP1_MAGIC;
	p->kind = kind;
	p->max_head = max_head;
	p->max_headers = max_headers < 0 ? 0 : max_headers;
	http1_parser_reset(p);
	return p;
}

void http1_parser_free(struct http1_parser *p)
{
	if (!p)
		return;
	assert(p->magic == HTTP1_MAGIC);
	free(p->buf);
	free(p->hdrs);
	p->magic = 0;
	free(p);
}

/* Keeps a small buffer for the next head (at most ~2.8 KiB in all); an idle
 * keep-alive connection should not hold a large head's worth of memory. */
void http1_parser_reset(struct http1_parser *p)
{
	assert(p->magic == HTTP1_MAGIC);
	if (p->cap > HTTP1_BUF_KEEP) {
		free(p->buf);
		p->buf = NULL;
		p->cap = 0;
	}
	if (p->hdrs_cap > HTTP1_HDRS_KEEP) {
		free(p->hdrs);
		p->hdrs = NULL;
		p->hdrs_cap = 0;
	}
	p->state = SCAN_LEAD;
	p->lead = p->seen = p->len = p->line_len = 0;
	p->n_lines = 0;
	p->err_status = 0;
	p->err_reason = NULL;
	memset(&p->head, 0, sizeof(p->head));
	p->head.kind = p->kind;
	p->head.content_length = -1;
}

/* Latches an error.  Responses always map to 502: the client did nothing
 * wrong, the origin did. Returns HTTP1_ERROR. */
static int fail(struct http1_parser *p, int status, const char *reason)
{
	p->state = SCAN_ERROR;
	p->err_status = p->kind == HTTP1_RESPONSE ? 502 : status;
	p->err_reason = reason;
	return HTTP1_ERROR;
}

int http1_parser_error(const struct http1_parser *p, const char **reason)
{
	assert(p->magic == HTTP1_MAGIC);
	if (reason)
		*reason = p->err_reason ? p->err_reason : "no error";
	return p->err_status;
}

const struct http1_head *http1_parser_head(const struct http1_parser *p)
{
	assert(p->magic == HTTP1_MAGIC);
	return &p->head;
}

/* Appends n bytes to the head copy, growing geometrically up to max_head
 * (the caller checked the bound).  0 or -1 on ENOMEM. */
static int buf_append(struct http1_parser *p, const char *data, size_t n)
{
	if (p->len + n > p->cap) {
		size_t cap = p->cap ? p->cap : HTTP1_BUF_MIN;
		while (cap < p->len + n)
			cap *= 2;
		if (cap > p->max_head && p->max_head >= p->len + n)
			cap = p->max_head;
		char *nb = realloc(p->buf, cap);
		if (!nb)
			return -1;
		p->buf = nb;
		p->cap = cap;
	}
	memcpy(p->buf + p->len, data, n);
	p->len += n;
	return 0;
}

/* ---- parsing the complete head ---------------------------------------------- */

/* "HTTP/1.1" -> minor (0/1); -2 well-formed but unsupported; -1 malformed. */
static int parse_version(const char *s, size_t n)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || !is_digit(s[5]) || s[6] != '.' ||
	    !is_digit(s[7]))
		return -1;
	if (s[5] == '1' && (s[7] == '0' || s[7] == '1'))
		return s[7] - '0';
	return -2;
}

/* authority-form for CONNECT: host ":" port, host a reg-name or [IPv6]. */
static int valid_authority(const char *t, size_t n)
{
	size_t colon = n, i;
	while (colon > 0 && t[colon - 1] != ':')
		colon--;
	if (colon < 2 || colon == n || n - colon > 5)
		return 0;
	unsigned long port = 0;
	for (i = colon; i < n; i++) {
		if (!is_digit((unsigned char)t[i]))
			return 0;
		port = port * 10 + (unsigned long)(t[i] - '0');
	}
	if (port == 0 || port > 65535)
		return 0;
	size_t hlen = colon - 1;
	if (t[0] == '[')
		return hlen >= 3 && t[hlen - 1] == ']';
	for (i = 0; i < hlen; i++)
		if (strchr("@/[]:?#", t[i]))
			return 0;
	return 1;
}

static int valid_target(const char *m, size_t mlen, const char *t, size_t n)
{
	size_t i;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return 0;
	if (mlen == 7 && memcmp(m, "CONNECT", 7) == 0)
		return valid_authority(t, n);
	if (t[0] == '/')
		return 1;
	if (n == 1 && t[0] == '*')
		return mlen == 7 && memcmp(m, "OPTIONS", 7) == 0;
	/* absolute-form: scheme ":" ... */
	if (!((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
		return 0;
	for (i = 1; i < n && t[i] != ':'; i++) {
		unsigned char c = (unsigned char)t[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c);
		if (!alnum && c != '+' && c != '-' && c != '.')
			return 0;
	}
	return i < n && i + 1 < n;
}

static int parse_request_line(struct http1_parser *p, const char *s, size_t n)
{
	struct http1_head *h = &p->head;
	size_t i = 0;
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ' ')
		return fail(p, 400, "malformed method");
	h->method = s;
	h->method_len = i;
	size_t t0 = ++i;
	while (i < n && s[i] != ' ')
		i++;
	if (i >= n)
		return fail(p, 400, "malformed request line");
	h->target = s + t0;
	h->target_len = i - t0;
	int v = parse_version(s + i + 1, n - i - 1);
	if (v == -1)
		return fail(p, 400, "malformed HTTP version");
	if (v == -2)
		return fail(p, 505, "HTTP version not supported");
	h->version_minor = v;
	if (!valid_target(h->method, h->method_len, h->target, h->target_len))
		return fail(p, 400, "malformed request target");
	return 0;
}

static int parse_status_line(struct http1_parser *p, const char *s, size_t n)
{
	struct http1_head *h = &p->head;
	if (n < 12 || s[8] != ' ')
		return fail(p, 502, "malformed status line");
	int v = parse_version(s, 8);
	if (v < 0)
		return fail(p, 502, v == -1 ? "malformed HTTP version" : "unsupported HTTP version");
	h->version_minor = v;
	if (!is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) || s[9] == '0')
		return fail(p, 502, "malformed status code");
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	/* "HTTP/1.1 200" without SP and reason is common enough to accept. */
	if (n > 12 && s[12] != ' ')
		return fail(p, 502, "malformed status line");
	h->reason = n > 12 ? s + 13 : s + 12;
	h->reason_len = n > 12 ? n - 13 : 0;
	for (size_t i = 0; i < h->reason_len; i++)
		if (!is_value_char((unsigned char)h->reason[i]))
			return fail(p, 502, "control character in reason phrase");
	return 0;
}

static int parse_field_line(struct http1_parser *p, const char *s, size_t n,
                            struct http1_header *f)
{
	size_t i = 0;
	if (n > 0 && is_ows((unsigned char)s[0]))
		return fail(p, 400, "obsolete line folding");
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i < n && is_ows((unsigned char)s[i]))
		return fail(p, 400, "whitespace before colon");
	if (i == 0 || i >= n || s[i] != ':')
		return fail(p, 400, "malformed header line");
	f->name = s;
	f->name_len = i;
	f->id = http1_field_id(s, i);
	size_t a = i + 1, b = n;
	while (a < b && is_ows((unsigned char)s[a]))
		a++;
	while (b > a && is_ows((unsigned char)s[b - 1]))
		b--;
	size_t k = a;
	while (k + 8 <= b && plain8(s + k))
		k += 8;
	for (; k < b; k++)
		if (!is_value_char((unsigned char)s[k]))
			return fail(p, 400, "control character in header value");
	f->value = s + a;
	f->value_len = b - a;
	return 0;
}

/* Content-Length value: a comma list of identical decimal numbers.
 * Returns the number, or -1 (malformed, differing, overflow). */
static int64_t parse_content_length(const char *s, size_t n)
{
	int64_t val = -1;
	size_t i = 0;
	for (;;) {
		while (i < n && is_ows((unsigned char)s[i]))
			i++;
		if (i >= n || !is_digit((unsigned char)s[i]))
			return -1;
		int64_t v = 0;
		while (i < n && is_digit((unsigned char)s[i])) {
			int d = s[i++] - '0';
			if (v > (INT64_MAX - d) / 10)
				return -1;
			v = v * 10 + d;
		}
		if (val >= 0 && v != val)
			return -1;
		val = v;
		while (i < n && is_ows((unsigned char)s[i]))
			i++;
		if (i == n)
			return val;
		if (s[i++] != ',')
			return -1;
	}
}

/* Visits the elements of a comma list, trimmed, skipping empty ones (RFC
 * 9110 §5.6.1).  fn returns nonzero to stop; that value is returned. */
typedef int (*list_fn)(const char *e, size_t n, void *arg);
static int list_each(const char *s, size_t n, list_fn fn, void *arg)
{
	size_t i = 0;
	while (i < n) {
		size_t a = i, b;
		while (i < n && s[i] != ',')
			i++;
		b = i++;
		while (a < b && is_ows((unsigned char)s[a]))
			a++;
		while (b > a && is_ows((unsigned char)s[b - 1]))
			b--;
		if (b > a) {
			int r = fn(s + a, b - a, arg);
			if (r)
				return r;
		}
	}
	return 0;
}

struct te_state {
	int n;                       /* codings seen */
	int chunked_seen;            /* chunked seen at all */
	int last_chunked;            /* the last coding is chunked */
	int chunked_twice;           /* chunked followed by anything */
};

static int te_coding(const char *e, size_t n, void *arg)
{
	struct te_state *t = arg;
	size_t k = 0;
	while (k < n && is_tchar((unsigned char)e[k]))
		k++;
	if (k == 0)
		return -1;               /* not a token: malformed */
	if (t->chunked_seen)
		t->chunked_twice = 1;
	t->n++;
	t->last_chunked = lower_eq(e, k, "chunked");
	if (t->last_chunked)
		t->chunked_seen = 1;
	return 0;
}

struct conn_state { int close, keep_alive, upgrade, other; };

static int conn_token(const char *e, size_t n, void *arg)
{
	struct conn_state *c = arg;
	if (lower_eq(e, n, "close"))
		c->close = 1;
	else if (lower_eq(e, n, "keep-alive"))
		c->keep_alive = 1;
	else if (lower_eq(e, n, "upgrade"))
		c->upgrade = 1;
	else
		c->other = 1;
	return 0;
}

/* Transfer-Encoding rules; see the file comment.  0 or HTTP1_ERROR. */
static int frame_transfer_encoding(struct http1_parser *p)
{
	struct http1_head *h = &p->head;
	struct te_state te = { 0 };
	int i;
	for (i = find_id(h, HTTP1_F_TRANSFER_ENCODING, 0); i >= 0;
	     i = find_id(h, HTTP1_F_TRANSFER_ENCODING, i + 1)) {
		h->has_transfer_encoding = 1;
		if (list_each(h->headers[i].value, h->headers[i].value_len, te_coding, &te))
			return fail(p, 400, "malformed Transfer-Encoding");
	}
	if (!h->has_transfer_encoding)
		return 0;
	if (te.n == 0)
		return fail(p, 400, "empty Transfer-Encoding");
	if (h->content_length >= 0)
		return fail(p, 400, "both Content-Length and Transfer-Encoding");
	if (p->kind == HTTP1_REQUEST) {
		if (h->version_minor == 0)
			return fail(p, 400, "Transfer-Encoding in HTTP/1.0 request");
		if (!te.last_chunked || te.chunked_twice)
			return fail(p, 400, "Transfer-Encoding does not end in chunked");
		if (te.n > 1)
			return fail(p, 501, "unsupported transfer coding");
		h->chunked = 1;
		return 0;
	}
	if (te.chunked_seen && te.chunked_twice && te.last_chunked)
		return fail(p, 502, "chunked applied twice");
	/* HTTP/1.0 responses with TE have faulty framing: read until close. */
	h->chunked = te.last_chunked && h->version_minor == 1;
	if (!h->chunked)
		h->conn_close = 1;
	return 0;
}

/* Derives framing and connection flags from the parsed headers. */
static int parse_framing(struct http1_parser *p)
{
	struct http1_head *h = &p->head;
	int i, hosts = 0;
	for (i = find_id(h, HTTP1_F_CONTENT_LENGTH, 0); i >= 0;
	     i = find_id(h, HTTP1_F_CONTENT_LENGTH, i + 1)) {
		int64_t v = parse_content_length(h->headers[i].value, h->headers[i].value_len);
		if (v < 0)
			return fail(p, 400, "malformed Content-Length");
		if (h->content_length >= 0 && v != h->content_length)
			return fail(p, 400, "differing Content-Length values");
		h->content_length = v;
	}

	struct conn_state c = { 0, 0, 0, 0 };
	for (i = find_id(h, HTTP1_F_CONNECTION, 0); i >= 0;
	     i = find_id(h, HTTP1_F_CONNECTION, i + 1))
		list_each(h->headers[i].value, h->headers[i].value_len, conn_token, &c);
	h->conn_tokens = (c.close ? HTTP1_CONN_CLOSE : 0) | (c.keep_alive ? HTTP1_CONN_KEEP_ALIVE : 0) |
	                 (c.upgrade ? HTTP1_CONN_UPGRADE : 0) | (c.other ? HTTP1_CONN_OTHER : 0);
	h->conn_close = c.close || (h->version_minor == 0 && !c.keep_alive);
	h->upgrade = c.upgrade && find_id(h, HTTP1_F_UPGRADE, 0) >= 0;

	if (frame_transfer_encoding(p) != 0)
		return HTTP1_ERROR;
	if (p->kind == HTTP1_RESPONSE)
		return 0;

	for (i = find_id(h, HTTP1_F_HOST, 0); i >= 0; i = find_id(h, HTTP1_F_HOST, i + 1))
		hosts++;
	if (hosts > 1)
		return fail(p, 400, "more than one Host header");
	if (hosts == 0 && h->version_minor == 1)
		return fail(p, 400, "missing Host header");
	if (h->version_minor == 1) {
		for (i = find_id(h, HTTP1_F_EXPECT, 0); i >= 0;
		     i = find_id(h, HTTP1_F_EXPECT, i + 1)) {
			if (!lower_eq(h->headers[i].value, h->headers[i].value_len, "100-continue"))
				return fail(p, 417, "unsupported expectation");
			h->expect_continue = 1;
		}
	}
	return 0;
}

/* Parses the complete head in p->buf (lines end in CRLF, the scan checked
 * NUL/CR/LF and the bounds).  HTTP1_DONE or HTTP1_ERROR. */
static int parse_head(struct http1_parser *p)
{
	struct http1_head *h = &p->head;
	int nh = p->n_lines - 1;
	if (nh > p->hdrs_cap) {
		struct http1_header *n = realloc(p->hdrs, (size_t)nh * sizeof(*n));
		if (!n)
			return fail(p, 500, "out of memory");
		p->hdrs = n;
		p->hdrs_cap = nh;
	}
	h->headers = p->hdrs;
	h->head_len = p->len;

	const char *s = p->buf, *end = p->buf + p->len;
	const char *eol = memchr(s, '\r', (size_t)(end - s));
	int r = p->kind == HTTP1_REQUEST ? parse_request_line(p, s, (size_t)(eol - s))
	                                 : parse_status_line(p, s, (size_t)(eol - s));
	if (r)
		return HTTP1_ERROR;
	s = eol + 2;
	while (h->n_headers < nh) {
		eol = memchr(s, '\r', (size_t)(end - s));
		if (parse_field_line(p, s, (size_t)(eol - s), &p->hdrs[h->n_headers]))
			return HTTP1_ERROR;
		h->n_headers++;
		s = eol + 2;
	}
	if (parse_framing(p))
		return HTTP1_ERROR;
	p->state = SCAN_DONE;
	return HTTP1_DONE;
}

/* ---- the incremental scan ---------------------------------------------------- */

/* One byte of the scan outside the fast path: leading empty lines, line
 * ends, and what is never allowed (NUL, bare CR, bare LF).  Returns
 * HTTP1_NEED_MORE to go on, HTTP1_DONE at the empty line ending the head,
 * or HTTP1_ERROR. */
static int scan_byte(struct http1_parser *p, unsigned char c)
{
	if (c == 0)
		return fail(p, 400, "NUL in head");
	if (p->state == SCAN_LEAD) {
		/* Skipping empty lines: only CR LF pairs, a bounded number. */
		if (c == '\r' && p->line_len == 0) {
			p->line_len = 1;
			return HTTP1_NEED_MORE;
		}
		if (p->line_len == 1) {
			if (c != '\n')
				return fail(p, 400, "bare CR in head");
			p->line_len = 0;
			p->lead += 2;
			if (p->lead > 2 * HTTP1_MAX_LEADING_CRLF)
				return fail(p, 400, "too many empty lines");
			return HTTP1_NEED_MORE;
		}
		p->state = SCAN_LINE;            /* the start line begins here */
	}
	if (p->state == SCAN_CR) {
		if (c != '\n')
			return fail(p, 400, "bare CR in head");
		if (p->line_len == 0)
			return HTTP1_DONE;
		if (++p->n_lines > p->max_headers + 1)
			return fail(p, 431, "too many header fields");
		p->line_len = 0;
		p->state = SCAN_LINE;
		return HTTP1_NEED_MORE;
	}
	if (c == '\r')
		p->state = SCAN_CR;
	else if (c == '\n')
		return fail(p, 400, "bare LF in head");
	else
		p->line_len++;
	return HTTP1_NEED_MORE;
}

int http1_parse(struct http1_parser *p, const char *data, size_t len, size_t *consumed)
{
	assert(p->magic == HTTP1_MAGIC);
	size_t i = 0, copy_from = 0;
	*consumed = 0;
	if (p->state == SCAN_DONE)
		return HTTP1_DONE;
	if (p->state == SCAN_ERROR)
		return HTTP1_ERROR;

	int status = HTTP1_NEED_MORE;
	while (i < len && status == HTTP1_NEED_MORE) {
		if (p->state == SCAN_LINE) {
			/* Fast path: skip ordinary line bytes up to the size bound. */
			size_t room = p->max_head - p->seen, j = i;
			size_t end = len - i < room ? len : i + room;
			while (j + 8 <= end && !stop8(data + j))
				j += 8;
			while (j < end && !(cclass[(unsigned char)data[j]] & CC_STOP))
				j++;
			p->seen += j - i;
			p->line_len += j - i;
			i = j;
			if (i == len)
				break;
		}
		if (++p->seen > p->max_head) {
			status = fail(p, 431, p->kind == HTTP1_REQUEST ? "request head too large"
			                                               : "response head too large");
			break;
		}
		int was_lead = p->state == SCAN_LEAD;
		status = scan_byte(p, (unsigned char)data[i]);
		if (was_lead && p->state != SCAN_LEAD)
			copy_from = i;           /* leading empty lines are not copied */
		if (status != HTTP1_ERROR)
			i++;
	}
	if (status != HTTP1_ERROR && p->state != SCAN_LEAD &&
	    buf_append(p, data + copy_from, i - copy_from) != 0)
		status = fail(p, 500, "out of memory");
	*consumed = i;
	if (status == HTTP1_DONE)
		status = parse_head(p);
	return status;
}

/* ---- helpers on parsed heads -------------------------------------------------- */

int http1_find_header(const struct http1_head *h, const char *name, int start)
{
	size_t n = strlen(name);
	int id = http1_field_id(name, n);
	if (id != HTTP1_F_OTHER)
		return find_id(h, id, start);
	/* a name not in the table can only equal fields of id OTHER */
	for (int i = start < 0 ? 0 : start; i < h->n_headers; i++)
		if (h->headers[i].id == HTTP1_F_OTHER && h->headers[i].name_len == n &&
		    strncasecmp(h->headers[i].name, name, n) == 0)
			return i;
	return -1;
}

struct token_find { const char *token; size_t len; };

static int token_match(const char *e, size_t n, void *arg)
{
	struct token_find *t = arg;
	size_t k = 0;
	while (k < n && e[k] != ';')        /* ignore parameters ("gzip;q=1") */
		k++;
	while (k > 0 && is_ows((unsigned char)e[k - 1]))
		k--;
	return k == t->len && strncasecmp(e, t->token, k) == 0;
}

int http1_value_has_token(const char *value, size_t len, const char *token)
{
	struct token_find t = { token, strlen(token) };
	return list_each(value, len, token_match, &t) ? 1 : 0;
}

int http1_response_body(const struct http1_head *resp, const char *method, size_t method_len)
{
	int s = resp->status;
	if (method && method_len == 4 && memcmp(method, "HEAD", 4) == 0)
		return HTTP1_BODY_NONE;
	if ((s >= 100 && s < 200) || s == 204 || s == 304)
		return HTTP1_BODY_NONE;
	if (method && method_len == 7 && memcmp(method, "CONNECT", 7) == 0 && s >= 200 && s < 300)
		return HTTP1_BODY_NONE;
	if (resp->chunked)
		return HTTP1_BODY_CHUNKED;
	if (resp->has_transfer_encoding)
		return HTTP1_BODY_CLOSE;
	if (resp->content_length >= 0)
		return HTTP1_BODY_LENGTH;
	return HTTP1_BODY_CLOSE;
}

/* 1 for the ids of hop-by-hop fields (RFC 9110 §7.6.1 and the header). */
static int hop_id(int id)
{
	switch (id) {
	case HTTP1_F_CONNECTION: case HTTP1_F_PROXY_CONNECTION: case HTTP1_F_KEEP_ALIVE:
	case HTTP1_F_TE: case HTTP1_F_TRAILER: case HTTP1_F_TRANSFER_ENCODING: case HTTP1_F_UPGRADE:
	case HTTP1_F_PROXY_AUTHORIZATION: case HTTP1_F_PROXY_AUTHENTICATE:
		return 1;
	default:
		return 0;
	}
}

/* 1 when name[0..len) is listed in a Connection field of h. */
static int connection_lists(const struct http1_head *h, const char *name, size_t len)
{
	/* Most heads list only close, keep-alive or upgrade (the parser noted
	 * which): the fields so named, Keep-Alive and Upgrade, are hop-by-hop
	 * by name already, so only a field called "close" is left to test. */
	if (!(h->conn_tokens & HTTP1_CONN_OTHER))
		return (h->conn_tokens & HTTP1_CONN_CLOSE) && lower_eq(name, len, "close");
	struct token_find t = { name, len };     /* token_match needs no NUL */
	for (int i = find_id(h, HTTP1_F_CONNECTION, 0); i >= 0;
	     i = find_id(h, HTTP1_F_CONNECTION, i + 1))
		if (list_each(h->headers[i].value, h->headers[i].value_len, token_match, &t))
			return 1;
	return 0;
}

int http1_is_hop_header(const struct http1_head *h, const char *name, size_t len)
{
	if (hop_id(http1_field_id(name, len)))
		return 1;
	return h ? connection_lists(h, name, len) : 0;
}

int http1_is_hop_field(const struct http1_head *h, int i)
{
	const struct http1_header *f = &h->headers[i];
	return hop_id(f->id) || connection_lists(h, f->name, f->name_len);
}

/* ---- chunked decoder ------------------------------------------------------------ */

#define CHUNK_SIZE_MAX ((uint64_t)1 << 62)
#define CHUNK_MAX_DIGITS 32          /* leading zeros included */
#define CHUNK_MAX_EXT 4096           /* chunk-ext bytes per chunk line */

enum chunk_state {
	CH_SIZE,          /* hex digits */
	CH_SIZE_WS,       /* BWS after the size, before ';' or CR */
	CH_EXT,           /* chunk-ext, ignored */
	CH_SIZE_LF,       /* CR seen after the size line */
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,       /* inside a trailer line */
	CH_TRAILER_LF,    /* CR seen at the end of a trailer line (or empty line) */
	CH_DONE,
	CH_ERROR,
};

struct http1_chunked {
	unsigned magic;
	int state;
	size_t max_trailers;
	uint64_t remaining;          /* data bytes left in the current chunk */
	int digits;
	size_t ext_len;
	char *trailers;              /* raw trailer lines, CRLF included */
	size_t tr_len, tr_cap;
	size_t line_start;           /* offset of the current trailer line */
	const char *error;
};

#define CHUNKED_MAGIC 0x43484e4bu    /* "CHNK" */

struct http1_chunked *http1_chunked_new(size_t max_trailers)
{
	struct http1_chunked *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->magic = CHUNKED_MAGIC;
	d->max_trailers = max_trailers;
	http1_chunked_reset(d);
	return d;
}

void http1_chunked_free(struct http1_chunked *d)
{
	if (!d)
		return;
	assert(d->magic == CHUNKED_MAGIC);
	free(d->trailers);
	d->magic = 0;
	free(d);
}

void http1_chunked_reset(struct http1_chunked *d)
{
	assert(d->magic == CHUNKED_MAGIC);
	free(d->trailers);
	d->trailers = NULL;
	d->tr_len = d->tr_cap = d->line_start = 0;
	d->state = CH_SIZE;
	d->remaining = 0;
	d->digits = 0;
	d->ext_len = 0;
	d->error = NULL;
}

static int chunk_fail(struct http1_chunked *d, const char *why)
{
	d->state = CH_ERROR;
	d->error = why;
	return HTTP1_ERROR;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Keeps one trailer byte; bounded by max_trailers.  0 or HTTP1_ERROR. */
static int trailer_add(struct http1_chunked *d, unsigned char c)
{
	if (d->tr_len + 1 > d->max_trailers)
		return chunk_fail(d, "trailer section too large");
	if (d->tr_len == d->tr_cap) {
		size_t cap = d->tr_cap ? d->tr_cap * 2 : 256;
		if (cap > d->max_trailers)
			cap = d->max_trailers;
		char *n = realloc(d->trailers, cap);
		if (!n)
			return chunk_fail(d, "out of memory");
		d->trailers = n;
		d->tr_cap = cap;
	}
	d->trailers[d->tr_len++] = (char)c;
	return 0;
}

/* A complete trailer line [line_start, tr_len) without CRLF: field-line
 * syntax as in a head. 0 or HTTP1_ERROR. */
static int trailer_line_check(struct http1_chunked *d)
{
	const char *s = d->trailers + d->line_start;
	size_t n = d->tr_len - d->line_start, i = 0;
	if (is_ows((unsigned char)s[0]))
		return chunk_fail(d, "obsolete line folding in trailers");
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i == 0 || i >= n || s[i] != ':')
		return chunk_fail(d, "malformed trailer field");
	for (i++; i < n; i++)
		if (!is_value_char((unsigned char)s[i]))
			return chunk_fail(d, "control character in trailer field");
	return 0;
}

/* One byte of framing (everything but chunk data).  0 or HTTP1_ERROR. */
static int chunk_step(struct http1_chunked *d, unsigned char c)
{
	int v;
	switch (d->state) {
	case CH_SIZE:
		if ((v = hexval(c)) >= 0) {
			if (++d->digits > CHUNK_MAX_DIGITS)
				return chunk_fail(d, "chunk size too long");
			if (d->remaining > (CHUNK_SIZE_MAX - (uint64_t)v) / 16)
				return chunk_fail(d, "chunk size overflow");
			d->remaining = d->remaining * 16 + (uint64_t)v;
			return 0;
		}
		if (d->digits == 0)
			return chunk_fail(d, "bad chunk size");
		d->state = CH_SIZE_WS;
		/* fall through */
	case CH_SIZE_WS:
		if (is_ows(c))
			return 0;
		if (c == ';') {
			d->state = CH_EXT;
			return 0;
		}
		if (c == '\r') {
			d->state = CH_SIZE_LF;
			return 0;
		}
		return chunk_fail(d, "bad chunk size");
	case CH_EXT:
		if (c == '\r') {
			d->state = CH_SIZE_LF;
			return 0;
		}
		if (!is_value_char(c))
			return chunk_fail(d, "control character in chunk extension");
		if (++d->ext_len > CHUNK_MAX_EXT)
			return chunk_fail(d, "chunk extension too long");
		return 0;
	case CH_SIZE_LF:
		if (c != '\n')
			return chunk_fail(d, "bare CR in chunk size line");
		d->state = d->remaining ? CH_DATA : CH_TRAILER;
		d->line_start = d->tr_len;
		return 0;
	case CH_DATA_CR:
		if (c != '\r')
			return chunk_fail(d, "missing CRLF after chunk data");
		d->state = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		if (c != '\n')
			return chunk_fail(d, "missing CRLF after chunk data");
		d->state = CH_SIZE;
		d->digits = 0;
		d->ext_len = 0;
		d->remaining = 0;
		return 0;
	case CH_TRAILER:
		if (c == '\r') {
			d->state = CH_TRAILER_LF;
			return 0;
		}
		if (c == '\n' || c == 0)
			return chunk_fail(d, "bare LF or NUL in trailers");
		return trailer_add(d, c);
	case CH_TRAILER_LF:
		if (c != '\n')
			return chunk_fail(d, "bare CR in trailers");
		if (d->tr_len == d->line_start) {
			d->state = CH_DONE;
			return 0;
		}
		if (trailer_line_check(d) || trailer_add(d, '\r') || trailer_add(d, '\n'))
			return HTTP1_ERROR;
		d->line_start = d->tr_len;
		d->state = CH_TRAILER;
		return 0;
	default:
		return chunk_fail(d, "internal state error");
	}
}

int http1_chunked_run(struct http1_chunked *d, struct evbuffer *in, struct evbuffer *out)
{
	assert(d->magic == CHUNKED_MAGIC);
	for (;;) {
		if (d->state == CH_DONE)
			return HTTP1_DONE;
		if (d->state == CH_ERROR)
			return HTTP1_ERROR;
		size_t avail = evbuffer_get_length(in);
		if (avail == 0)
			return HTTP1_NEED_MORE;
		if (d->state == CH_DATA) {
			size_t n = d->remaining < avail ? (size_t)d->remaining : avail;
			if (evbuffer_remove_buffer(in, out, n) != (int)n)
				return chunk_fail(d, "out of memory");
			d->remaining -= n;
			if (d->remaining == 0)
				d->state = CH_DATA_CR;
			continue;
		}
		/* Framing bytes: walk the first extent until data begins. */
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return HTTP1_NEED_MORE;
		const unsigned char *b = v.iov_base;
		size_t i = 0;
		while (i < v.iov_len && d->state != CH_DATA && d->state != CH_DONE &&
		       d->state != CH_ERROR)
			chunk_step(d, b[i++]);
		evbuffer_drain(in, i);
	}
}

const char *http1_chunked_trailers(const struct http1_chunked *d, size_t *len)
{
	assert(d->magic == CHUNKED_MAGIC);
	*len = d->state == CH_DONE ? d->tr_len : 0;
	return d->state == CH_DONE && d->trailers ? d->trailers : "";
}

const char *http1_chunked_error(const struct http1_chunked *d)
{
	assert(d->magic == CHUNKED_MAGIC);
	return d->error ? d->error : "no error";
}

/* ---- chunked encoder -------------------------------------------------------------- */

int http1_chunk_write(struct evbuffer *out, struct evbuffer *data)
{
	size_t n = evbuffer_get_length(data);
	if (n == 0)
		return 0;
	/* the size line by hand: evbuffer_add_printf's vsnprintf cost more
	 * than the rest of the chunk's framing */
	char line[2 * sizeof n + 2], *p = line + sizeof line;
	*--p = '\n';
	*--p = '\r';
	do
		*--p = "0123456789abcdef"[n & 15];
	while (n >>= 4);
	if (evbuffer_add(out, p, (size_t)(line + sizeof line - p)) != 0 || evbuffer_add_buffer(out, data) != 0 ||
	    evbuffer_add(out, "\r\n", 2) != 0)
		return -1;
	return 0;
}

int http1_chunk_last(struct evbuffer *out, const char *trailers, size_t len)
{
	if (evbuffer_add(out, "0\r\n", 3) != 0)
		return -1;
	if (trailers && len && evbuffer_add(out, trailers, len) != 0)
		return -1;
	return evbuffer_add(out, "\r\n", 2);
}
