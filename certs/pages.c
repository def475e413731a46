/*
 * pages: see pages.h.  The documents are built on each request from the
 * certificate held by struct tls (a few kilobytes; the page is rarely
 * fetched, so nothing is cached).  Registration with the admin module keeps
 * the tls pointer in a static: it is set once before the workers start and
 * only read afterwards, the admin table's own rule.
 */
#include "certs/pages.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "certs/tls.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/errpage.h"
#include "proxy/headers.h"

#define PAGES_CERT_TYPE "application/x-x509-ca-cert"
#define PAGES_PAC_TYPE "application/x-ns-proxy-autoconfig"

static struct tls *pages_tls;

/* A growable string; the first failure latches (ok = 0). */
struct sbuf {
	char *p;
	size_t len, cap;
	int ok;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (!b->ok)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->ok = 0;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_esc(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sb_str(b, "&amp;"); break;
		case '<': sb_str(b, "&lt;"); break;
		case '>': sb_str(b, "&gt;"); break;
		case '"': sb_str(b, "&quot;"); break;
		case '\'': sb_str(b, "&#39;"); break;
		default: sb_add(b, s, 1);
		}
	}
}

/* 1 when addr is "HOST:PORT" or "[V6]:PORT" made of address characters only,
 * so it can be written into JavaScript and HTML as is. */
static int plain_addr(const char *addr)
{
	size_t n = strlen(addr);
	if (n == 0 || n > 64 || !strchr(addr, ':'))
		return 0;
	return strspn(addr, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ.:[]-") == n;
}

static const char ca_page_steps[] =
"<h2>Firefox (every system)</h2>\n"
"<p>Open <a href=\"/ca.pem\">/ca.pem</a> in Firefox, tick <em>Trust this CA to identify websites</em>, OK."
" Or: Settings &rarr; Privacy &amp; Security &rarr; Certificates &rarr; View Certificates &rarr;"
" Authorities &rarr; Import&hellip;, choose the file, tick the same box.</p>\n"
"<h2>Chrome and Chromium on Linux</h2>\n"
"<p>Settings &rarr; Privacy and security &rarr; Security &rarr; Manage certificates &rarr;"
" Authorities &rarr; Import, choose <a href=\"/ca.pem\">ca.pem</a>, tick"
" <em>Trust this certificate for identifying websites</em>. From a shell (package"
" <code>libnss3-tools</code>), then restart the browser:</p>\n"
"<pre>certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n quell -i ca.pem</pre>\n"
"<p>For curl, wget and other programs, system-wide (Debian, Ubuntu):</p>\n"
"<pre>sudo cp ca.pem /usr/local/share/ca-certificates/quell.crt\nsudo update-ca-certificates</pre>\n"
"<h2>Windows (Chrome, Edge)</h2>\n"
"<p>Download <a href=\"/ca.crt\">ca.crt</a>, open it, <em>Install Certificate&hellip;</em> &rarr;"
" Current User &rarr; <em>Place all certificates in the following store</em> &rarr;"
" <em>Trusted Root Certification Authorities</em> &rarr; Finish, and confirm. Or in a"
" command prompt:</p>\n<pre>certutil -user -addstore Root ca.crt</pre>\n"
"<h2>macOS (Safari, Chrome)</h2>\n"
"<p>Download <a href=\"/ca.pem\">ca.pem</a> and open it: Keychain Access adds it to the"
" login keychain. Double-click the quell certificate there, open <em>Trust</em>, set"
" <em>When using this certificate</em> to <em>Always Trust</em>. Or in Terminal:</p>\n"
"<pre>sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ca.pem</pre>\n"
"<h2>Android</h2>\n"
"<p>Download <a href=\"/ca.crt\">ca.crt</a>, then Settings &rarr; Security &rarr; More security"
" settings (or Encryption &amp; credentials) &rarr; Install a certificate &rarr; CA certificate,"
" and pick the file. Chrome trusts it; most other apps since Android 7 trust only the"
" system's CAs and will keep failing (add them to <code>intercept_bypass</code>).</p>\n"
"<h2>iPhone and iPad</h2>\n"
"<p>Open <a href=\"/ca.pem\">/ca.pem</a> in Safari and allow the download. Settings &rarr;"
" General &rarr; VPN &amp; Device Management &rarr; the quell profile &rarr; Install. Then"
" Settings &rarr; General &rarr; About &rarr; Certificate Trust Settings: turn on full"
" trust for the quell certificate.</p>\n";

/* The install page. */
static void ca_page(struct sbuf *b, struct tls *t, const char *addr)
{
	sb_str(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Install quell's CA"
	       "</title><style>body{font:16px/1.5 sans-serif;max-width:44em;margin:2em auto;"
	       "padding:0 1em}pre,code{background:#f3f3f3}pre{padding:.5em;overflow-x:auto}"
	       "</style></head><body>\n<h1>Install quell's certificate</h1>\n"
	       "<p>quell filters HTTPS pages by presenting its own certificates, signed by a"
	       " certificate authority made on this installation alone. Install that CA"
	       " certificate in each browser that uses quell; its private key never leaves"
	       " the machine quell runs on.</p>\n<p>Certificate: <strong>");
	sb_esc(b, tls_ca_subject(t));
	sb_str(b, "</strong><br>SHA-256 fingerprint: <code>");
	sb_esc(b, tls_ca_fingerprint(t));
	sb_str(b, "</code><br>Download: <a href=\"/ca.pem\">ca.pem</a> (PEM) &middot;"
	       " <a href=\"/ca.crt\">ca.crt</a> (DER, for Windows and Android)</p>\n"
	       "<p>Compare the fingerprint with the output of"
	       " <code>openssl x509 -noout -fingerprint -sha256 -in ca.pem</code> on the machine"
	       " running quell (<code>quell ca export</code> prints the certificate).</p>\n");
	sb_str(b, ca_page_steps);
	sb_str(b, "<h2>Automatic proxy configuration</h2>\n<p>Point a browser or system at"
	       " <code>http://");
	sb_esc(b, addr);
	sb_str(b, "/proxy.pac</code> (or enable WPAD with <code>/wpad.dat</code>).</p>\n"
	       "</body></html>\n");
}

int pages_get(struct tls *t, const char *path, const char *proxy_addr, struct pages_doc *doc)
{
	struct sbuf b = { .ok = 1 };
	size_t plen = strcspn(path, "?#");
	memset(doc, 0, sizeof *doc);
#define IS(p) (plen == strlen(p) && strncmp(path, p, plen) == 0)
	if (IS("/proxy.pac") || IS("/wpad.dat")) {
		if (!plain_addr(proxy_addr))
			return -1;
		sb_str(&b, "function FindProxyForURL(url, host) { return \"PROXY ");
		sb_str(&b, proxy_addr);
		sb_str(&b, "; DIRECT\"; }\n");
		doc->content_type = PAGES_PAC_TYPE;
	} else if (!t) {
		return 0;
	} else if (IS("/ca.pem")) {
		size_t n;
		const char *pem = tls_ca_pem(t, &n);
		sb_add(&b, pem, n);
		doc->content_type = PAGES_CERT_TYPE;
	} else if (IS("/ca.crt")) {
		size_t n;
		const unsigned char *der = tls_ca_der(t, &n);
		sb_add(&b, (const char *)der, n);
		doc->content_type = PAGES_CERT_TYPE;
	} else if (IS("/ca")) {
		if (!plain_addr(proxy_addr))
			return -1;
		ca_page(&b, t, proxy_addr);
		doc->content_type = "text/html; charset=utf-8";
	} else {
		return 0;
	}
#undef IS
	if (!b.ok) {
		free(b.p);
		return -1;
	}
	doc->body = b.p;
	doc->len = b.len;
	return 1;
}

/* "IP:PORT" or "[V6]:PORT" of the local address.  0, or -1 (unknown). */
static int format_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip))
			return -1;
		snprintf(out, len, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			if (!inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, ip, sizeof ip))
				return -1;
			snprintf(out, len, "%s:%u", ip, (unsigned)ntohs(in6->sin6_port));
		} else {
			if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip))
				return -1;
			snprintf(out, len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
		}
		return 0;
	}
	return -1;
}

static int serve(const struct admin_request *req, struct admin_reply *rep)
{
	char addr[80];
	struct pages_doc doc;
	if (format_addr(req->local, addr, sizeof addr) != 0)
		return -1;
	if (pages_get(pages_tls, req->path, addr, &doc) != 1)
		return -1;
	int rc = headers_set(rep->headers, "Content-Type", doc.content_type) ||
	         headers_set(rep->headers, "Cache-Control", "no-cache") ||
	         evbuffer_add(rep->body, doc.body, doc.len) ? -1 : 0;
	free(doc.body);
	return rc;
}

/* The status-page section: CA, leaf counters, auto-bypassed hosts. */
static int section(struct evbuffer *out, const struct config *cfg)
{
	struct tls *t = pages_tls;
	char *hosts[32];
	if (evbuffer_add_printf(out, "<h2>HTTPS interception: %s</h2>\n",
	                        cfg && !cfg->intercept ? "off" : "on") < 0)
		return -1;
	if (!t)
		return 0;
	size_t n = tls_bypass_list(t, hosts, 32);
	int rc = evbuffer_add_printf(out, "<table>\n<tr><td>tls_leaves_minted</td><td>%lu</td></tr>\n"
	         "<tr><td>tls_leaf_cache_hits</td><td>%lu</td></tr>\n"
	         "<tr><td>tls_auto_bypassed</td><td>%zu</td></tr>\n</table>\n<p>CA: ",
	         tls_mint_count(t), tls_cache_hits(t), n) < 0;
	rc |= errpage_escape(out, tls_ca_subject(t), strlen(tls_ca_subject(t)));
	rc |= evbuffer_add_printf(out, " (<a href=\"/ca\">install it</a>)</p>\n") < 0;
	if (n)
		rc |= evbuffer_add_printf(out, "<p>Tunnelled without filtering after their clients"
		                          " rejected quell's certificate:</p>\n<ul>\n") < 0;
	for (size_t i = 0; i < n; i++) {
		rc |= evbuffer_add_printf(out, "<li>") < 0;
		rc |= errpage_escape(out, hosts[i], strlen(hosts[i]));
		rc |= evbuffer_add_printf(out, "</li>\n") < 0;
		free(hosts[i]);
	}
	if (n)
		rc |= evbuffer_add_printf(out, "</ul>\n") < 0;
	return rc ? -1 : 0;
}

int pages_register(struct tls *t)
{
	pages_tls = t;
	int rc = admin_register("/proxy.pac", "Proxy auto-configuration (PAC)", serve) |
	         admin_register("/wpad.dat", "WPAD", serve);
	if (t)
		rc |= admin_register("/ca", "Install quell's CA certificate", serve) |
		      admin_register("/ca.pem", "CA certificate (PEM)", serve) |
		      admin_register("/ca.crt", "CA certificate (DER)", serve);
	return admin_register_section(section) | rc ? -1 : 0;
}
