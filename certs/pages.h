/*
 * pages: quell's own documents about HTTPS set-up, served by the proxy's
 * admin module on requests addressed to quell itself (e.g. http://quell.home/):
 *   /ca.pem    the CA certificate, PEM (application/x-pem-file)
 *   /ca.crt    the same, DER (application/x-x509-ca-cert: Android, Windows)
 *   /ca        an HTML page: fingerprint and install steps for Firefox,
 *              Chrome/Chromium on Linux, Windows, macOS, Android, iOS
 *   /proxy.pac, /wpad.dat   a PAC file sending everything through quell
 * The CA private key is never part of any page.
 */
#ifndef QUELL_PAGES_H
#define QUELL_PAGES_H

#include <stddef.h>

struct tls;

struct pages_doc {
	const char *content_type;   /* static string */
	char *body;                 /* malloc'd, the caller frees it */
	size_t len;
};

/* Builds the document for path (a query string is ignored).  t may be NULL
 * (interception not set up): then only the PAC paths are served.  proxy_addr
 * is the address the browser reached quell on, "HOST:PORT" or "[V6]:PORT"
 * (the local address of its connection, getsockname(), not the Host header,
 * which may be a name only quell knows); it is written into the PAC file.
 * Returns 1 with *doc filled, 0 when path is none of these pages, -1 when
 * proxy_addr is not a plain address or out of memory. */
int pages_get(struct tls *t, const char *path, const char *proxy_addr,
              struct pages_doc *doc);

/* Registers the pages above with the admin module (proxy/admin.h), serving
 * them with the local address of each request, plus a status-page section
 * (CA, tls_leaves_minted, tls_leaf_cache_hits, auto-bypassed hosts).  t may
 * be NULL: PAC pages only.  t must outlive the workers.  Call once, before
 * the workers start.  Returns 0, or -1 when the admin table is full. */
int pages_register(struct tls *t);

#endif
