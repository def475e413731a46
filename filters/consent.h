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
 * A manager is recognised two ways.  By a request for its own script or
 * style (the plugin's directory, the library's CDN path): that request
 * names the page's host in its Referer (else its own host).  And by its
 * banner in a page of the host, for the sites whose scripts are combined
 * into one cached file (Autoptimize, WP Rocket, LiteSpeed Cache) so that
 * no path of the manager is ever asked for: the HTML rewriter
 * (filters/html_filter.c) reports each element a rule removes, and a rule
 * whose selector is one of the manager's own ids or classes
 * (consent_banner_rule) means the page shows it.  The host is remembered
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

/* The manager whose banner the cosmetic rule rule removes: rule is its
 * text as the rewriter reports a removal ("domains##selector", also
 * "#?#"), and its selector exactly one of the manager's own ids or classes
 * ("#cmplz-cookiebanner-container", ".cc-window"...; the built-in consent
 * list removes each).  CONSENT_NONE for any other rule (generic names,
 * compound selectors, text rules). */
int consent_banner_rule(const char *rule);
/* The k-th (from 0) banner selector of manager cmp, or NULL past the last
 * or out of range. */
const char *consent_banner_selector(int cmp, int k);

/* 1 when quell declines under cfg: the built-in rules, their consent
 * category and consent_decline all on; 0 otherwise (also for NULL). */
int consent_enabled(const struct config *cfg);

/* "Cookie Notice", ...; "" for CONSENT_NONE or out of range. */
const char *consent_name(int cmp);

/* This thread's memory: host (lower case) shows manager cmp.  Replaces
 * what the host showed before; the least recently used entry of a full
 * set is dropped. */
void consent_remember(const char *host, int cmp);
/* The manager remembered for host on this thread, or CONSENT_NONE. */
int consent_recall(const char *host);
/* A page of host (lower case) showed manager cmp's banner: remembered on
 * this thread as by consent_remember, and logged when it is news.  The
 * caller checks consent_enabled first. */
void consent_learn(const char *host, int cmp);

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
