/*
 * reqctx: what the network filter needs to know about a proxied request and
 * the browser does not say outright: its request type (script, image,
 * document...) and the page that made it.
 *
 * The type comes from Sec-Fetch-Dest when the browser sends it, then from
 * Accept, then from the URL's extension; a top-level navigation is
 * "document".  The page comes from Referer, then Origin, then Sec-Fetch-Site
 * ("same-origin"/"same-site"/"none" mean the request's own origin).  Pure
 * functions over header values: no I/O, any thread.
 */
#ifndef QUELL_REQCTX_H
#define QUELL_REQCTX_H

#include <stddef.h>
#include <stdint.h>

struct reqctx_fields {              /* header values; NULL when absent */
	const char *sec_fetch_dest;
	const char *sec_fetch_mode;
	const char *sec_fetch_site;
	const char *accept;
	const char *referer;
	const char *origin;
	const char *upgrade;
	const char *ping_to;            /* <a ping> requests carry Ping-From/Ping-To */
};

/* The LISTS_T_* type of a request for url with these fields. */
uint32_t reqctx_type(const char *url, const struct reqctx_fields *f);

/* The page given for a cross-site request whose page is not named. */
#define REQCTX_CROSS_SITE "https://cross-site.invalid/"

/* Writes the page URL into page (size len, NUL-terminated): Referer,
 * Origin, or the request's own origin for same-site, same-origin and
 * user-initiated requests and for documents, REQCTX_CROSS_SITE for other
 * cross-site requests.  Returns 1 when a page was found, 0 when unknown
 * (page is then ""). */
int reqctx_page(const char *url, uint32_t type, const struct reqctx_fields *f, char *page, size_t len);

/* The LISTS_T_* type a URL's extension suggests, or 0. */
uint32_t reqctx_type_from_extension(const char *url);

#endif
