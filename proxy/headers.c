/*
 * headers: a mutable ordered list of header fields (see headers.h).
 * Each field is one malloc'd block "name\0value\0"; the array grows by
 * doubling.  Heads are bounded by max_request_head / max_headers upstream
 * of here, so the list stays small.
 */
#include "proxy/headers.h"
#include "proxy/http1.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct field {
	char *name;                 /* owns name and value (one block) */
	char *value;
	size_t name_len, value_len;
};

struct headers {
	struct field *f;
	int n, cap;
};

struct headers *headers_new(void)
{
	return calloc(1, sizeof(struct headers));
}

void headers_clear(struct headers *h)
{
	for (int i = 0; i < h->n; i++)
		free(h->f[i].name);
	h->n = 0;
}

void headers_free(struct headers *h)
{
	if (!h)
		return;
	headers_clear(h);
	free(h->f);
	free(h);
}

static int clean(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
			return 0;
	return 1;
}

/* Returns 0/-1 (ENOMEM, or a name/value that would inject a header). */
int headers_add(struct headers *h, const char *name, size_t name_len,
                const char *value, size_t value_len)
{
	if (!name_len || !clean(name, name_len) || !clean(value, value_len) || memchr(name, ':', name_len))
		return -1;
	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 16;
		struct field *f = realloc(h->f, (size_t)cap * sizeof *f);
		if (!f)
			return -1;
		h->f = f;
		h->cap = cap;
	}
	char *b = malloc(name_len + value_len + 2);
	if (!b)
		return -1;
	memcpy(b, name, name_len);
	b[name_len] = 0;
	memcpy(b + name_len + 1, value, value_len);
	b[name_len + 1 + value_len] = 0;
	h->f[h->n++] = (struct field){ b, b + name_len + 1, name_len, value_len };
	return 0;
}

int headers_add_str(struct headers *h, const char *name, const char *value)
{
	return headers_add(h, name, strlen(name), value, strlen(value));
}

int headers_del(struct headers *h, const char *name)
{
	int out = 0, removed = 0;
	for (int i = 0; i < h->n; i++) {
		if (strcasecmp(h->f[i].name, name) == 0) {
			free(h->f[i].name);
			removed++;
		} else {
			h->f[out++] = h->f[i];
		}
	}
	h->n = out;
	return removed;
}

int headers_set(struct headers *h, const char *name, const char *value)
{
	headers_del(h, name);
	return headers_add_str(h, name, value);
}

int headers_count(const struct headers *h) { return h->n; }
const char *headers_name(const struct headers *h, int i) { return h->f[i].name; }
const char *headers_value(const struct headers *h, int i) { return h->f[i].value; }

int headers_find(const struct headers *h, const char *name, int start)
{
	for (int i = start < 0 ? 0 : start; i < h->n; i++)
		if (strcasecmp(h->f[i].name, name) == 0)
			return i;
	return -1;
}

const char *headers_get(const struct headers *h, const char *name)
{
	int i = headers_find(h, name, 0);
	return i < 0 ? NULL : h->f[i].value;
}

int headers_from_head(struct headers *h, const struct http1_head *head, int skip_hop)
{
	for (int i = 0; i < head->n_headers; i++) {
		const struct http1_header *f = &head->headers[i];
		if (skip_hop && http1_is_hop_header(head, f->name, f->name_len))
			continue;
		if (headers_add(h, f->name, f->name_len, f->value, f->value_len) != 0)
			return -1;
	}
	return 0;
}

int headers_write(const struct headers *h, struct evbuffer *out)
{
	for (int i = 0; i < h->n; i++) {
		const struct field *f = &h->f[i];
		if (evbuffer_add(out, f->name, f->name_len) || evbuffer_add(out, ": ", 2) ||
		    evbuffer_add(out, f->value, f->value_len) || evbuffer_add(out, "\r\n", 2))
			return -1;
	}
	return 0;
}
