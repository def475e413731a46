/*
 * resources: the built-in responses quell serves instead of a blocked
 * request: uBO's redirect resources (named by redirect= / redirect-rule=
 * options: "noopjs", "1x1.gif", "noop.html", "noopmp4-1s", ...) and the
 * default block response for each request type (an empty script, a 1x1 GIF,
 * empty CSS, an empty 200; a block page naming the rule for documents).
 *
 * Everything is static, read-only data: safe from any thread.
 */
#ifndef QUELL_RESOURCES_H
#define QUELL_RESOURCES_H

#include <stddef.h>
#include <stdint.h>

struct resources_item {
	const char *name;          /* canonical uBO name, e.g. "noop.js" */
	const char *content_type;  /* e.g. "application/javascript" */
	const unsigned char *body;
	size_t len;
};

/* Finds a resource by any of its uBO names or aliases ("noopjs", "noop.js",
 * "abp-resource:blank-js", ...).  Returns NULL when unknown. */
const struct resources_item *resources_find(const char *name, size_t len);

/* The neutral response for a blocked request of type LISTS_T_* (script:
 * empty script; image: 1x1 GIF; stylesheet: empty CSS; anything else an
 * empty text/plain 200).  Never NULL.  Documents get resources_block_page. */
const struct resources_item *resources_for_type(uint32_t type);

/* Writes the HTML block page for a blocked document into dst (size dstlen,
 * NUL-terminated, truncated at a tag boundary if it does not fit), naming the
 * URL, the rule and its list, all HTML-escaped.  Returns the length written
 * (excluding the NUL). */
size_t resources_block_page(char *dst, size_t dstlen, const char *url,
                            const char *rule, const char *list, unsigned line);

/* HTML-escapes src[0..len) into dst (size dstlen, NUL-terminated, cut short
 * if needed).  Returns the length written. */
size_t resources_html_escape(char *dst, size_t dstlen, const char *src, size_t len);

#endif
