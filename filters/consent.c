/*
 * consent: the managers quell declines for, their detection (script paths,
 * banner selectors), the per-thread host memory and the header edits (see consent.h).
 */
#include "filters/consent.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filters/url.h"
#include "proxy/config.h"
#include "proxy/headers.h"
#include "proxy/log.h"

/* One manager.  Its cookies are recognised by name (or name prefix): the
 * user has made a choice when the request carries any of them.  pairs is
 * what a click on the manager's own "decline" / "reject" button stores.
 *
 * Only managers whose choice is a plain first-party cookie with a value
 * that does not depend on the site's configuration are here.  Left out,
 * on purpose: Borlabs Cookie (its cookie holds the site's cookie version
 * and a user id: a wrong version shows the box again), Klaro and
 * CookieYes 3 (consent keyed by the site's own service names / a consent
 * id), Moove GDPR (a JSON value whose encoding its script and PHP side
 * read differently across versions), Jetpack's EU cookie law widget (it
 * has no decline: closing it accepts), and the managers served from their
 * own hosts (OneTrust, Cookiebot, Didomi, Usercentrics...), whose loader
 * the built-in list blocks, so their banner never comes. */
struct cmp {
	const char *name;
	const char *markers[4];     /* substrings of a script/style path */
	const char *banners[6];     /* selectors of its own banner markup */
	const char *cookie;         /* the manager's cookie name or prefix */
	int prefix;
	const char *pairs[4];       /* the decline, "name=value" each */
};

static const struct cmp cmps[CONSENT_N] = {
	[CONSENT_COOKIE_NOTICE] = {
		/* dfactoryplugins/cookie-notice js/front.js: the refuse button
		 * stores cookieName ("cookie_notice_accepted") = "false" (accept:
		 * "true"); the script shows the notice only while the cookie is
		 * absent, and the PHP side (cn_cookies_accepted()) lets the
		 * blocked scripts through only on "true". */
		"Cookie Notice",
		{ "/wp-content/plugins/cookie-notice/" },
		/* front.php: <div id="cookie-notice" class="cn-position-...">
		 * holding <span id="cn-notice-text">; the revoke button after a
		 * choice is a.cn-revoke-cookie */
		{ "#cookie-notice", "#cn-notice-text", ".cn-revoke-cookie" },
		"cookie_notice_accepted", 0,
		{ "cookie_notice_accepted=false" },
	},
	[CONSENT_COMPLIANZ] = {
		/* Really-Simple-Plugins/complianz-gdpr cookiebanner/js/complianz.js:
		 * the deny button runs cmplz_set_banner_status('dismissed') and
		 * cmplz_deny_all(), which stores every category but "functional"
		 * as "deny" (prefix complianz.prefix, "cmplz_" by default); the
		 * banner stays hidden while banner-status is "dismissed", and
		 * the policy-id check resets consent only when a cmplz_policy_id
		 * cookie exists, which quell does not set. */
		"Complianz",
		{ "/wp-content/plugins/complianz-gdpr/", "/wp-content/plugins/complianz-gdpr-premium/" },
		/* cookiebanner/templates: #cmplz-cookiebanner-container holds
		 * div.cmplz-cookiebanner; the "manage consent" tab and the soft
		 * cookie wall come with it */
		{ "#cmplz-cookiebanner-container", ".cmplz-cookiebanner", "#cmplz-manage-consent",
		  ".cmplz-manage-consent", ".cmplz-soft-cookiewall", "#cmplz-manage-consent-container" },
		"cmplz_", 1,
		{ "cmplz_banner-status=dismissed", "cmplz_marketing=deny", "cmplz_statistics=deny",
		  "cmplz_preferences=deny" },
	},
	[CONSENT_COOKIE_LAW_INFO] = {
		/* cookie-law-info public/js/cookie-law-info-public.js (v1, v2 and
		 * the "legacy" UI of v3): reject_close() stores
		 * CLI_ACCEPT_COOKIE_NAME ("viewed_cookie_policy") = "no"; the bar
		 * is shown only while that cookie is absent.  The "lite" UI of
		 * CookieYes 3 keeps its choice elsewhere: not matched. */
		"Cookie Law Info",
		{ "/wp-content/plugins/cookie-law-info/public/", "/wp-content/plugins/cookie-law-info/legacy/public/",
		  "/wp-content/plugins/webtoffee-gdpr-cookie-consent/public/" },
		/* public/views: the bar, its "show again" tab and the settings
		 * popup (the CookieYes 3 "lite" UI renders .cky-* instead) */
		{ "#cookie-law-info-bar", "#cookie-law-info-again", "#cliSettingsPopup" },
		"viewed_cookie_policy", 0,
		{ "viewed_cookie_policy=no" },
	},
	[CONSENT_COOKIECONSENT] = {
		/* osano/cookieconsent src/cookieconsent.js (3.x): cookie.name
		 * defaults to "cookieconsent_status", its valid values are
		 * cc.status = deny | allow | dismiss, and a visitor with any of
		 * them has answered (no popup; opt-in sites keep their cookies
		 * off on "deny").  Served from cdnjs ("cookieconsent2/"), jsDelivr
		 * and unpkg ("cookieconsent@3") or a copy under those names. */
		"cookieconsent",
		{ "/cookieconsent2/", "/cookieconsent@3" },
		/* the popup is div.cc-window (with cc-banner or cc-floating), the
		 * re-open tab div.cc-revoke; its 1.x (.cc_banner-wrapper) kept
		 * another cookie */
		{ ".cc-window", ".cc-revoke" },
		"cookieconsent_status", 0,
		{ "cookieconsent_status=deny" },
	},
};

#define DECLINE_ATTRS "; Path=/; Max-Age=15552000; SameSite=Lax"  /* 180 days */

int consent_detect(const char *path)
{
	/* a manager's files all live under its directory, which no page of
	 * a site names otherwise; the common case (no "/wp-content/plugins/c"
	 * nor "/cookieconsent") costs two substring searches */
	if (!path || (!strstr(path, "/wp-content/plugins/c") && !strstr(path, "/wp-content/plugins/w") &&
	              !strstr(path, "/cookieconsent")))
		return CONSENT_NONE;
	for (int m = 1; m < CONSENT_N; m++)
		for (int k = 0; k < 4 && cmps[m].markers[k]; k++)
			if (strstr(path, cmps[m].markers[k]))
				return m;
	return CONSENT_NONE;
}

const char *consent_name(int cmp)
{
	return cmp > 0 && cmp < CONSENT_N ? cmps[cmp].name : "";
}

int consent_banner_rule(const char *rule)
{
	/* rule is "domains" + separator + selector, the domains free of '#':
	 * "##" for a hiding rule, "#?#" / "#$#" for the extended forms, and a
	 * selector of its own begins with '#' or '.' */
	const char *p = rule ? strchr(rule, '#') : NULL;
	if (!p)
		return CONSENT_NONE;
	if (p[1] == '#')
		p += 2;
	else if (p[1] && p[1] != '@' && p[2] == '#') /* "#@#": an exception removes nothing */
		p += 3;
	else
		return CONSENT_NONE;
	if (*p != '#' && *p != '.')
		return CONSENT_NONE;
	for (int m = 1; m < CONSENT_N; m++)
		for (int k = 0; k < 6 && cmps[m].banners[k]; k++)
			if (!strcmp(p, cmps[m].banners[k]))
				return m;
	return CONSENT_NONE;
}

const char *consent_banner_selector(int cmp, int k)
{
	if (cmp <= 0 || cmp >= CONSENT_N || k < 0 || k >= 6)
		return NULL;
	return cmps[cmp].banners[k];
}

int consent_enabled(const struct config *cfg)
{
	return cfg && cfg->builtin && cfg->consent_decline && (cfg->annoyances & ANNOY_CONSENT);
}

/* ---- memory ------------------------------------------------------------------- */

/* Per thread (each worker has its own event loop, so no lock): SETS sets
 * of WAYS hosts, by a 64-bit hash of the name (a collision would at worst
 * decline on a second host).  16 KiB per thread. */
#define SETS 256
#define WAYS 4

struct slot { uint64_t hash; uint32_t stamp; uint8_t cmp; };
static _Thread_local struct slot memory[SETS][WAYS];
static _Thread_local uint32_t clock_now;

static uint64_t host_hash(const char *host)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = host; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h ? h : 1;
}

static struct slot *set_of(uint64_t h) { return memory[(h ^ (h >> 32)) & (SETS - 1)]; }

void consent_remember(const char *host, int cmp)
{
	if (!host || !*host || cmp <= 0 || cmp >= CONSENT_N)
		return;
	uint64_t h = host_hash(host);
	struct slot *s = set_of(h), *victim = &s[0];
	for (int i = 0; i < WAYS; i++) {
		if (s[i].hash == h) {
			victim = &s[i];
			break;
		}
		if (s[i].stamp < victim->stamp)
			victim = &s[i];
	}
	*victim = (struct slot){ h, ++clock_now, (uint8_t)cmp };
}

int consent_recall(const char *host)
{
	if (!host || !*host)
		return CONSENT_NONE;
	uint64_t h = host_hash(host);
	struct slot *s = set_of(h);
	for (int i = 0; i < WAYS; i++)
		if (s[i].hash == h) {
			s[i].stamp = ++clock_now;
			return s[i].cmp;
		}
	return CONSENT_NONE;
}

void consent_learn(const char *host, int cmp)
{
	if (!host || !*host || cmp <= 0 || cmp >= CONSENT_N || consent_recall(host) == cmp)
		return;
	consent_remember(host, cmp);
	log_msg(LOG_DEBUG, "consent %s: %s banner in a page, declining from now on", host, cmps[cmp].name);
}

/* ---- header edits -------------------------------------------------------------- */

/* 1 when h's Cookie (set_cookie 0) or Set-Cookie (1) fields hold one of
 * manager m's cookies. */
static int has_cookie(const struct headers *h, int m, int set_cookie)
{
	const struct cmp *c = &cmps[m];
	size_t n = strlen(c->cookie);
	return set_cookie ? headers_set_cookie_has(h, c->cookie, n, c->prefix)
	                  : headers_cookie_has(h, c->cookie, n, c->prefix);
}

/* The host of the page a request belongs to: its Referer's, else host.
 * Writes into page (size n).  Returns page. */
static const char *page_host(const struct headers *req, const char *host, char *page, size_t n)
{
	const char *ref = headers_get(req, "Referer");
	if (!ref || url_host(ref, strlen(ref), page, n) <= 0)
		snprintf(page, n, "%s", host);
	return page;
}

/* Adds manager m's decline to req and resp_add.  Returns 0 or -1. */
static int decline(int m, int tls, struct headers *req, struct headers *resp_add)
{
	const struct cmp *c = &cmps[m];
	char pairs[256], set[256];
	size_t len = 0;
	pairs[0] = 0;
	for (int k = 0; k < 4 && c->pairs[k]; k++) {
		int w = snprintf(pairs + len, sizeof pairs - len, "%s%s", len ? "; " : "", c->pairs[k]);
		if (w < 0 || (size_t)w >= sizeof pairs - len)
			return -1; /* the table's pairs fit: cannot happen */
		len += (size_t)w;
		snprintf(set, sizeof set, "%s%s%s", c->pairs[k], DECLINE_ATTRS, tls ? "; Secure" : "");
		if (resp_add && headers_add_str(resp_add, "Set-Cookie", set) != 0)
			return -1;
	}
	return headers_cookie_append(req, pairs);
}

int consent_request(const struct config *cfg, const char *host, const char *path, int tls,
                    struct headers *req, struct headers *resp_add)
{
	if (!consent_enabled(cfg) || !host || !req)
		return CONSENT_NONE;
	int seen = consent_detect(path);
	if (seen) {
		char page[256];
		consent_remember(page_host(req, host, page, sizeof page), seen);
	}
	int m = consent_recall(host);
	if (!m || has_cookie(req, m, 0))
		return CONSENT_NONE;
	if (decline(m, tls, req, resp_add) != 0)
		return -1;
	log_msg(LOG_DEBUG, "consent %s: %s declined by cookie", host, cmps[m].name);
	return m;
}

void consent_response(const struct headers *resp, struct headers *resp_add)
{
	if (!resp || !resp_add || headers_find(resp_add, "Set-Cookie", 0) < 0)
		return;
	for (int m = 1; m < CONSENT_N; m++)
		if (has_cookie(resp, m, 1))
			headers_del_set_cookie(resp_add, cmps[m].cookie, strlen(cmps[m].cookie), cmps[m].prefix);
}
