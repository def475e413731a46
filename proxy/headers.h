/*
 * headers: a mutable, ordered list of header fields for one message.
 *
 * The parser (http1.h) gives read-only slices into its own copy of a head;
 * a proxy must edit heads before forwarding them (drop hop-by-hop fields,
 * add Via, let a body filter drop Content-Length or weaken ETag, let the
 * request policy add Content-Security-Policy).  A struct headers owns copies
 * of every name and value, keeps their order and repeated fields, and writes
 * itself out as "Name: value\r\n" lines.  It belongs to one exchange and is
 * freed with it.  Name comparisons are case-insensitive.
 */
#ifndef QUELL_HEADERS_H
#define QUELL_HEADERS_H

#include <stddef.h>

struct evbuffer;
struct http1_head;
struct headers;

/* A new empty list.  NULL on ENOMEM.  headers_free(NULL) is a no-op. */
struct headers *headers_new(void);
void headers_free(struct headers *h);
/* Removes every field (the list stays usable). */
void headers_clear(struct headers *h);

/* Appends a field (copies both strings).  0, or -1 on ENOMEM or when the
 * name or value holds CR, LF or NUL (never forwards a header injection). */
int headers_add(struct headers *h, const char *name, size_t name_len,
                const char *value, size_t value_len);
/* NUL-terminated convenience form of headers_add.  0/-1. */
int headers_add_str(struct headers *h, const char *name, const char *value);
/* Removes every field called name, then appends name: value.  0/-1. */
int headers_set(struct headers *h, const char *name, const char *value);
/* Removes every field called name.  Returns how many were removed. */
int headers_del(struct headers *h, const char *name);

/* The number of fields, and field i (0 <= i < count).  Returned strings are
 * NUL-terminated and live until the field is removed or the list freed. */
int headers_count(const struct headers *h);
const char *headers_name(const struct headers *h, int i);
const char *headers_value(const struct headers *h, int i);
/* The http1_field_id of field i's name (enum http1_field in http1.h). */
int headers_id(const struct headers *h, int i);
/* Index of the first field called name at or after start, or -1. */
int headers_find(const struct headers *h, const char *name, int start);
/* Value of the first field called name, or NULL. */
const char *headers_get(const struct headers *h, const char *name);
/* Value of the first field whose name has the http1_field_id id (not
 * HTTP1_F_OTHER), or NULL: headers_get without classifying the name. */
const char *headers_get_id(const struct headers *h, int id);

/* Cookies (RFC 6265 section 4.2 "Cookie: a=1; b=2", 4.1 "Set-Cookie: a=1;
 * Path=/").  A cookie name matches name[0..n) exactly, or, with prefix set,
 * when it begins with it ("cmplz_" matches "cmplz_marketing"). */

/* 1 when a Cookie field of h holds a cookie so named, else 0. */
int headers_cookie_has(const struct headers *h, const char *name, size_t n, int prefix);
/* 1 when a Set-Cookie field of h sets a cookie so named, else 0. */
int headers_set_cookie_has(const struct headers *h, const char *name, size_t n, int prefix);
/* Removes the Set-Cookie fields of h that set a cookie so named.  Returns
 * how many were removed. */
int headers_del_set_cookie(struct headers *h, const char *name, size_t n, int prefix);
/* Appends "name=value" pairs ("a=1; b=2") to the first Cookie field, or
 * adds one.  0/-1 (ENOMEM, or pairs holding CR, LF or NUL). */
int headers_cookie_append(struct headers *h, const char *pairs);

/* Copies the fields of a parsed head, skipping hop-by-hop fields when
 * skip_hop is set (http1_is_hop_header).  0/-1. */
int headers_from_head(struct headers *h, const struct http1_head *head, int skip_hop);
/* Writes every field as "Name: value\r\n" into out.  0/-1 (ENOMEM). */
int headers_write(const struct headers *h, struct evbuffer *out);

#endif
