/*
 * consent: declining, by cookie, where a consent manager decides by cookie.
 *
 * Hiding a banner (filters/builtin/consent.txt) leaves the choice unmade:
 * the site still waits for it.  A few consent managers keep the choice in
 * a first-party cookie with a fixed "declined" value that their own code
 * (the page script, and for the WordPress plugins the PHP side too) reads
 * on every page: Cookie Notice, Complianz, Cookie Law Info, cookieconsent.
 * For those quell sends the decline itself.
 *
 * A manager is recognised by a request for its own script or style (the
 * plugin's directory, the library's CDN path): that request names the
 * page's host in its Referer (else its own host).  The host is remembered
 * (host -> manager, a small table per thread: no lock, bounded, the least
 * recently used entry goes), and every later request to that host that
 * carries none of the manager's cookies gets the decline added to its
 * Cookie header, and its response a Set-Cookie with the same value
 * (Path=/, 180 days, SameSite=Lax), so the browser keeps it.  A cookie the
 * user has, accept or decline, is never touched; a response that sets one
 * of the manager's cookies itself goes out without quell's.
 *
 * Only when the built-in rules, their "consent" category and the config
 * key consent_decline are on.
 */
#ifndef QUELL_CONSENT_H
#define QUELL_CONSENT_H

struct config;
struct headers;

/* The managers quell declines for.  CONSENT_NONE is 0. */
enum consent_cmp {
	CONSENT_NONE = 0,
	CONSENT_COOKIE_NOTICE,      /* Cookie Notice (dFactory / Hu-manity), WordPress */
	CONSENT_COMPLIANZ,          /* Complianz, WordPress */
	CONSENT_COOKIE_LAW_INFO,    /* Cookie Law Info / GDPR Cookie Consent (WebToffee) v1-v2 */
	CONSENT_COOKIECONSENT,      /* Osano's open-source cookieconsent v3 */
	CONSENT_N
};

/* The manager whose script or style path (the part of a URL from its
 * first '/') is path, or CONSENT_NONE. */
int consent_detect(const char *path);

/* "Cookie Notice", ...; "" for CONSENT_NONE or out of range. */
const char *consent_name(int cmp);

/* This thread's memory: host (lower case) shows manager cmp.  Replaces
 * what the host showed before; the least recently used entry of a full
 * set is dropped. */
void consent_remember(const char *host, int cmp);
/* The manager remembered for host on this thread, or CONSENT_NONE. */
int consent_recall(const char *host);

/* The request step, for a request to host (lower case) with path (origin
 * form) over TLS or not: notes a manager's script, and when host is known
 * to show one and req carries none of its cookies, appends the decline to
 * req's Cookie field and its Set-Cookie fields to resp_add (the headers
 * quell adds to the response; may be NULL).  cfg may be NULL (nothing
 * done).  Returns the manager declined for, CONSENT_NONE, or -1 when out
 * of memory (req and resp_add may then hold part of the decline). */
int consent_request(const struct config *cfg, const char *host, const char *path, int tls,
                    struct headers *req, struct headers *resp_add);

/* The response step: when the origin's response head resp sets a cookie
 * of a manager itself, drops quell's Set-Cookie fields for that manager
 * from resp_add (the origin's choice stands).  resp_add may be NULL. */
void consent_response(const struct headers *resp, struct headers *resp_add);

#endif
