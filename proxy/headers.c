/*
 * headers: a mutable ordered list of header fields (see headers.h).
 * Each field is one block "name\0value\0".  The first blocks are carved
 * from an arena inside the list and the first HEADERS_INLINE fields live
 * in it too: a typical head costs no allocation beyond the list itself
 * (one malloc and free per field was a tenth of a proxied request's
 * instructions).  Later blocks are malloc'd one by one (own set) and the
 * array grows by doubling.  A removed field's arena bytes come back only at
 * headers_clear; the arena is fixed in size, so that bounds the waste.
 * Heads are bounded by max_request_head / max_headers upstream of here, so
 * the list stays small.
 */
#include "proxy/headers.h"
#include "proxy/http1.h"

#include <event2/buffer.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* sizeof(struct headers) stays within malloc's per-thread cache (requests
 * up to 1032 bytes on glibc): a larger one costs several times more to
 * allocate and free than the per-field blocks it saves */
#define HEADERS_INLINE 12
#define HEADERS_ARENA 512

struct field {
	char *name;                 /* the block: name and value */
	char *value;
	size_t name_len, value_len;
	int id;                     /* http1_field_id(name): look-ups compare it */
	int own;                    /* the block is malloc'd, not in the arena */
};

struct headers {
	struct field *f;            /* inl, or malloc'd once past HEADERS_INLINE */
	int n, cap;
	size_t used;                /* arena bytes handed out */
	struct field inl[HEADERS_INLINE];
	char arena[HEADERS_ARENA];
};

struct headers *headers_new(void)
{
	/* not calloc: the arena needs no zeroing */
	struct headers *h = malloc(sizeof *h);
	if (!h)
		return NULL;
	h->f = h->inl;
	h->n = 0;
	h->cap = HEADERS_INLINE;
	h->used = 0;
	return h;
}

static void field_free(struct field *f)
{
	if (f->own)
		free(f->name);
}

void headers_clear(struct headers *h)
{
	for (int i = 0; i < h->n; i++)
		field_free(&h->f[i]);
	h->n = 0;
	h->used = 0;
}

void headers_free(struct headers *h)
{
	if (!h)
		return;
	headers_clear(h);
	if (h->f != h->inl)
		free(h->f);
	free(h);
}

/* A block of n bytes for a field: from the arena while it lasts.  NULL on
 * ENOMEM; *own says whether it was malloc'd. */
static char *block(struct headers *h, size_t n, int *own)
{
	if (n <= HEADERS_ARENA - h->used) {
		char *b = h->arena + h->used;
		h->used += n;
		*own = 0;
		return b;
	}
	*own = 1;
	return malloc(n);
}

static int clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
			return 0;
	return 1;
}

/* headers_add with the name's http1_field_id known.  0/-1. */
static int add_id(struct headers *h, const char *name, size_t name_len,
                  const char *value, size_t value_len, int id)
{
	if (h->n == h->cap) {
		int cap = h->cap * 2;
		struct field *f = h->f == h->inl ? malloc((size_t)cap * sizeof *f)
		                                 : realloc(h->f, (size_t)cap * sizeof *f);
		if (!f)
			return -1;
		if (h->f == h->inl)
			memcpy(f, h->inl, sizeof h->inl);
		h->f = f;
		h->cap = cap;
	}
	int own;
	char *b = block(h, name_len + value_len + 2, &own);
	if (!b)
		return -1;
	memcpy(b, name, name_len);
	b[name_len] = 0;
	memcpy(b + name_len + 1, value, value_len);
	b[name_len + 1 + value_len] = 0;
	h->f[h->n++] = (struct field){ b, b + name_len + 1, name_len, value_len, id, own };
	return 0;
}

/* Returns 0/-1 (ENOMEM, or a name/value that would inject a header). */
int headers_add(struct headers *h, const char *name, size_t name_len,
                const char *value, size_t value_len)
{
	if (!name_len || !clean(name, name_len) || !clean(value, value_len) || memchr(name, ':', name_len))
		return -1;
	return add_id(h, name, name_len, value, value_len, http1_field_id(name, name_len));
}

/* 1 when field f is called name, whose http1_field_id is id: names in the
 * table compare by id alone, others by name among the fields of id OTHER. */
static int is_named(const struct field *f, const char *name, int id)
{
	return f->id == id && (id != HTTP1_F_OTHER || strcasecmp(f->name, name) == 0);
}

int headers_add_str(struct headers *h, const char *name, const char *value)
{
	return headers_add(h, name, strlen(name), value, strlen(value));
}

/* Removes the fields drop() says 1 to, keeping the others in order.
 * Returns how many went. */
static int del_where(struct headers *h, int (*drop)(const struct field *f, const void *arg),
                     const void *arg)
{
	int out = 0, removed = 0;
	for (int i = 0; i < h->n; i++) {
		if (drop(&h->f[i], arg)) {
			field_free(&h->f[i]);
			removed++;
		} else {
			h->f[out++] = h->f[i];
		}
	}
	h->n = out;
	return removed;
}

struct by_name { const char *name; int id; };

static int drop_named(const struct field *f, const void *arg)
{
	const struct by_name *b = arg;
	return is_named(f, b->name, b->id);
}

int headers_del(struct headers *h, const char *name)
{
	struct by_name b = { name, http1_field_id(name, strlen(name)) };
	return del_where(h, drop_named, &b);
}

int headers_set(struct headers *h, const char *name, const char *value)
{
	headers_del(h, name);
	return headers_add_str(h, name, value);
}

int headers_count(const struct headers *h) { return h->n; }
const char *headers_name(const struct headers *h, int i) { return h->f[i].name; }
const char *headers_value(const struct headers *h, int i) { return h->f[i].value; }
int headers_id(const struct headers *h, int i) { return h->f[i].id; }

int headers_find(const struct headers *h, const char *name, int start)
{
	int id = http1_field_id(name, strlen(name));
	for (int i = start < 0 ? 0 : start; i < h->n; i++)
		if (is_named(&h->f[i], name, id))
			return i;
	return -1;
}

const char *headers_get(const struct headers *h, const char *name)
{
	int i = headers_find(h, name, 0);
	return i < 0 ? NULL : h->f[i].value;
}

const char *headers_get_id(const struct headers *h, int id)
{
	for (int i = 0; i < h->n; i++)
		if (h->f[i].id == id)
			return h->f[i].value;
	return NULL;
}

int headers_from_head(struct headers *h, const struct http1_head *head, int skip_hop)
{
	for (int i = 0; i < head->n_headers; i++) {
		const struct http1_header *f = &head->headers[i];
		if (skip_hop && http1_is_hop_field(head, i))
			continue;
		/* the parser checked the name (a token) and the value (no CR,
		 * LF or NUL) and classified the name */
		if (add_id(h, f->name, f->name_len, f->value, f->value_len, f->id) != 0)
			return -1;
	}
	return 0;
}

/* One reserved extent for all lines: four evbuffer_add calls per field
 * cost more than the copying. */
int headers_write(const struct headers *h, struct evbuffer *out)
{
	size_t total = 0;
	for (int i = 0; i < h->n; i++)
		total += h->f[i].name_len + h->f[i].value_len + 4;
	if (!total)
		return 0;
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1)
		return -1;
	char *p = v.iov_base;
	for (int i = 0; i < h->n; i++) {
		const struct field *f = &h->f[i];
		memcpy(p, f->name, f->name_len);
		p += f->name_len;
		*p++ = ':';
		*p++ = ' ';
		memcpy(p, f->value, f->value_len);
		p += f->value_len;
		*p++ = '\r';
		*p++ = '\n';
	}
	v.iov_len = total;
	return evbuffer_commit_space(out, &v, 1);
}

/* ---- cookies --------------------------------------------------------------- */

/* 1 when the cookie name s[0..len) matches name[0..n) (see headers.h). */
static int cookie_name_is(const char *s, size_t len, const char *name, size_t n, int prefix)
{
	return prefix ? len >= n && !memcmp(s, name, n) : len == n && !memcmp(s, name, n);
}

/* Calls the match test on each cookie name of a Cookie value ("a=1; b=2";
 * RFC 6265 puts "; " between pairs, white space is skipped anyway).
 * Returns 1 on the first match, else 0. */
static int cookie_list_has(const char *v, const char *name, size_t n, int prefix)
{
	while (*v) {
		while (*v == ';' || isspace((unsigned char)*v))
			v++;
		const char *s = v;
		while (*v && *v != '=' && *v != ';')
			v++;
		size_t len = (size_t)(v - s);
		while (len && isspace((unsigned char)s[len - 1]))
			len--;
		if (len && cookie_name_is(s, len, name, n, prefix))
			return 1;
		while (*v && *v != ';')
			v++;
	}
	return 0;
}

int headers_cookie_has(const struct headers *h, const char *name, size_t n, int prefix)
{
	for (int i = headers_find(h, "Cookie", 0); i >= 0; i = headers_find(h, "Cookie", i + 1))
		if (cookie_list_has(h->f[i].value, name, n, prefix))
			return 1;
	return 0;
}

/* 1 when the Set-Cookie value v sets a cookie so named. */
static int set_cookie_is(const char *v, const char *name, size_t n, int prefix)
{
	while (isspace((unsigned char)*v))
		v++;
	size_t len = strcspn(v, "=;");
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	return len && cookie_name_is(v, len, name, n, prefix);
}

int headers_set_cookie_has(const struct headers *h, const char *name, size_t n, int prefix)
{
	for (int i = headers_find(h, "Set-Cookie", 0); i >= 0; i = headers_find(h, "Set-Cookie", i + 1))
		if (set_cookie_is(h->f[i].value, name, n, prefix))
			return 1;
	return 0;
}

struct by_cookie { const char *name; size_t n; int prefix; };

static int drop_set_cookie(const struct field *f, const void *arg)
{
	const struct by_cookie *c = arg;
	return f->id == HTTP1_F_SET_COOKIE && set_cookie_is(f->value, c->name, c->n, c->prefix);
}

int headers_del_set_cookie(struct headers *h, const char *name, size_t n, int prefix)
{
	struct by_cookie c = { name, n, prefix };
	return del_where(h, drop_set_cookie, &c);
}

int headers_cookie_append(struct headers *h, const char *pairs)
{
	size_t pl = strlen(pairs);
	int i = headers_find(h, "Cookie", 0);
	if (i < 0)
		return headers_add(h, "Cookie", 6, pairs, pl);
	struct field *f = &h->f[i];
	if (!clean(pairs, pl))
		return -1;
	/* the field is one block "name\0value\0": a new block, same place */
	size_t vl = f->value_len;
	while (vl && (f->value[vl - 1] == ' ' || f->value[vl - 1] == ';'))
		vl--;
	size_t nvl = vl + (vl ? 2 : 0) + pl;
	char *b = malloc(f->name_len + nvl + 2);
	if (!b)
		return -1;
	memcpy(b, f->name, f->name_len + 1);
	char *nv = b + f->name_len + 1;
	memcpy(nv, f->value, vl);
	if (vl)
		memcpy(nv + vl, "; ", 2);
	memcpy(nv + vl + (vl ? 2 : 0), pairs, pl);
	nv[nvl] = 0;
	field_free(f);
	*f = (struct field){ b, nv, f->name_len, nvl, f->id, 1 };
	return 0;
}
