/*
 * lists: filter-list parser.  See lists.h.
 *
 * Hand-written: no C library parses ABP/uBO syntax (the reference parsers
 * are uBO's and AdGuard's JavaScript).  The grammar followed is uBO's
 * (static-filtering-parser.js): what uBO accepts we accept or report as
 * unsupported; what uBO rejects we report as invalid.
 */
#include "filters/lists.h"
#include "filters/cosmetic_rule.h"
#include "filters/resources.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

static int slice_eq(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && strncasecmp(s, lit, l) == 0;
}
static int starts(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && memcmp(s, lit, l) == 0;
}
static const char *find(const char *s, size_t n, const char *lit)
{
	return memmem(s, n, lit, strlen(lit));
}

const char *lists_class_name(int cls)
{
	static const char *names[] = {"comment", "network", "cosmetic", "html", "unsupported", "invalid"};
	return cls >= 0 && cls < LISTS_N_CLASSES ? names[cls] : "?";
}

uint32_t lists_type_parse(const char *s, size_t n)
{
	static const struct { const char *name; uint32_t bit; } t[] = {
		{"other", LISTS_T_OTHER}, {"script", LISTS_T_SCRIPT}, {"image", LISTS_T_IMAGE},
		{"imageset", LISTS_T_IMAGE}, {"stylesheet", LISTS_T_STYLESHEET}, {"css", LISTS_T_STYLESHEET},
		{"object", LISTS_T_OBJECT}, {"object_subrequest", LISTS_T_OBJECT},
		{"subdocument", LISTS_T_SUBDOCUMENT}, {"sub_frame", LISTS_T_SUBDOCUMENT},
		{"frame", LISTS_T_SUBDOCUMENT}, {"xmlhttprequest", LISTS_T_XHR}, {"xhr", LISTS_T_XHR},
		{"fetch", LISTS_T_XHR}, {"websocket", LISTS_T_WEBSOCKET}, {"ping", LISTS_T_PING},
		{"beacon", LISTS_T_PING}, {"font", LISTS_T_FONT}, {"media", LISTS_T_MEDIA},
		{"document", LISTS_T_DOCUMENT}, {"doc", LISTS_T_DOCUMENT}, {"main_frame", LISTS_T_DOCUMENT},
		{"popup", LISTS_T_POPUP}, {"texttrack", LISTS_T_OTHER}, {"manifest", LISTS_T_OTHER},
		{"eventsource", LISTS_T_OTHER}, {"csp_report", LISTS_T_OTHER},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (slice_eq(s, n, t[i].name))
			return t[i].bit;
	return 0;
}

uint32_t lists_method_parse(const char *s, size_t n)
{
	static const char *const m[] = {"connect", "delete", "get", "head", "options", "patch", "post", "put"};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (slice_eq(s, n, m[i]))
			return 1u << i;
	return 0;
}

/* ---- preprocessor expressions ------------------------------------------------ */

/* Tokens of uBO's preparser (static-filtering-parser.js, preparserTokens)
 * as on Firefox, with every env_ token false because quell is a proxy. */
static int if_token(const char *s, size_t n)
{
	static const struct { const char *tok; int val; } t[] = {
		{"ext_ublock", 1}, {"ublock", 1}, {"ext_ubol", 0}, {"ext_devbuild", 0}, {"ext_abp", 0},
		{"adguard", 0}, {"adguard_app_windows", 0}, {"adguard_app_mac", 0},
		{"adguard_app_android", 0}, {"adguard_app_ios", 0}, {"adguard_ext_safari", 0},
		{"adguard_ext_chromium", 0}, {"adguard_ext_firefox", 0}, {"adguard_ext_edge", 0},
		{"adguard_ext_opera", 0}, {"adguard_ext_android_cb", 0},
		{"cap_html_filtering", 1}, {"cap_user_stylesheet", 1}, {"cap_ipaddress", 1},
		{"false", 0}, {"true", 1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (slice_eq(s, n, t[i].tok))
			return t[i].val;
	return 0;   /* env_*, unknown tokens */
}

struct expr { const char *s; size_t n, i; int depth; };

static void ex_skip(struct expr *e) { while (e->i < e->n && is_space(e->s[e->i])) e->i++; }
static int ex_or(struct expr *e);

static int ex_atom(struct expr *e)
{
	ex_skip(e);
	if (e->i >= e->n)
		return 0;
	if (e->s[e->i] == '!') {
		e->i++;
		return !ex_atom(e);
	}
	if (e->s[e->i] == '(') {
		e->i++;
		if (++e->depth > 32)
			return 0;
		int v = ex_or(e);
		e->depth--;
		ex_skip(e);
		if (e->i < e->n && e->s[e->i] == ')')
			e->i++;
		return v;
	}
	size_t b = e->i;
	while (e->i < e->n && (is_alnum(e->s[e->i]) || e->s[e->i] == '_'))
		e->i++;
	if (e->i == b) {   /* junk: consume one char so we always progress */
		e->i++;
		return 0;
	}
	return if_token(e->s + b, e->i - b);
}

static int ex_and(struct expr *e)
{
	int v = ex_atom(e);
	for (;;) {
		ex_skip(e);
		if (e->i + 1 < e->n && e->s[e->i] == '&' && e->s[e->i + 1] == '&') {
			e->i += 2;
			int r = ex_atom(e);
			v = v && r;
		} else
			return v;
	}
}

static int ex_or(struct expr *e)
{
	int v = ex_and(e);
	for (;;) {
		ex_skip(e);
		if (e->i + 1 < e->n && e->s[e->i] == '|' && e->s[e->i + 1] == '|') {
			e->i += 2;
			int r = ex_and(e);
			v = v || r;
		} else
			return v;
	}
}

int lists_eval_if(const char *expr, size_t len)
{
	struct expr e = {expr, len, 0, 0};
	return ex_or(&e);
}

/* ---- cosmetic rules ----------------------------------------------------------- */

static const char *const procedural_ops[] = {
	":has-text(", ":-abp-contains(", ":-abp-has(", ":contains(", ":upward(", ":remove(",
	":matches-attr(", ":matches-css(", ":matches-css-before(", ":matches-css-after(",
	":matches-path(", ":matches-prop(", ":matches-media(", ":min-text-length(", ":others(",
	":watch-attr(", ":xpath(", ":has(", ":if(", ":if-not(", ":nth-ancestor(", ":remove-attr(",
	":remove-class(", ":shadow(", ":spath(",
};

static int is_procedural(const char *s, size_t n)
{
	/* every operator starts with ':' and most selectors have none */
	for (const char *c = memchr(s, ':', n); c; c = memchr(c + 1, ':', n - (size_t)(c + 1 - s)))
		for (size_t i = 0; i < sizeof(procedural_ops) / sizeof(procedural_ops[0]); i++)
			if (starts(c, n - (size_t)(c - s), procedural_ops[i]))
				return 1;
	return 0;
}

/* A cosmetic rule's domain list: "a.com,~b.a.com,example.*", regex
 * entries "/re/" and uBO's "a.com>>" ancestor forms. */
static int cosm_domains_ok(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (s[i] == '~')
			i++;
		if (i < n && s[i] == '/') {   /* regex entry: up to the closing '/' */
			size_t k = i + 1;
			while (k < n && !(s[k] == '/' && (k + 1 == n || s[k + 1] == ',')))
				k++;
			if (k >= n)
				return 0;
			i = k + 1;
		} else {
			size_t b = i;
			while (i < n && s[i] != ',') {
				unsigned char c = (unsigned char)s[i];
				if (!(is_alnum((char)c) || c == '.' || c == '-' || c == '_' || c == '*' || c == ':' ||
				      c == '[' || c == ']' || c == '>' || c >= 0x80))
					return 0;
				i++;
			}
			if (i == b)
				return 0;
		}
		if (i < n && s[i] != ',')
			return 0;
		if (i < n && ++i == n)
			return 0;   /* trailing comma */
	}
	return 1;
}

/* The text before a "##" reads as a domain list, not a URL pattern. */
static int cosm_prefix_plausible(const char *s, size_t n)
{
	if (n == 0 || cosm_domains_ok(s, n))
		return 1;
	return !memchr(s, '|', n) && !memchr(s, '^', n) && !memchr(s, '$', n) &&
	       !(s[0] != '/' && memchr(s, '/', n));
}

/* Finds a cosmetic separator in the line.  Returns its offset or -1; sets
 * *seplen and *kind: 0 "##", 1 "#@#", 2 "#?#", 3 "#@?#", 4 AdGuard "#$#"-like
 * CSS/JS injections (unsupported), 5 "$$", 6 "$@$". */
static long cosm_sep(const char *s, size_t n, size_t *seplen, int *kind)
{
	static const struct { const char *sep; int kind; } seps[] = {
		{"#@$?#", 4}, {"#@%#", 4}, {"#@$#", 4}, {"#@?#", 3}, {"#$?#", 4}, {"#%#", 4},
		{"#$#", 4}, {"#@#", 1}, {"#?#", 2}, {"##", 0},
	};
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '#') {
			for (size_t k = 0; k < sizeof(seps) / sizeof(seps[0]); k++)
				if (starts(s + i, n - i, seps[k].sep)) {
					*seplen = strlen(seps[k].sep);
					*kind = seps[k].kind;
					return (long)i;
				}
		} else if (s[i] == '$' && i + 1 < n && (s[i + 1] == '$' || (s[i + 1] == '@' && i + 2 < n && s[i + 2] == '$'))) {
			*seplen = s[i + 1] == '$' ? 2 : 3;
			*kind = s[i + 1] == '$' ? 5 : 6;
			return (long)i;
		}
	}
	return -1;
}

static int set_reason(struct lists_rule *r, int cls, const char *why, const char *d, size_t dl)
{
	r->cls = cls;
	r->reason = why;
	r->detail = d;
	r->detail_len = dl;
	return cls;
}

static int parse_cosmetic(struct lists_rule *r, const char *s, size_t n, long at, size_t seplen, int kind)
{
	const char *dom = s, *body = s + at + seplen;
	size_t dl = (size_t)at, bl = n - (size_t)at - seplen;
	r->cosm_domains = dom;
	r->cosm_domains_len = dl;
	if (dl && !cosm_domains_ok(dom, dl))
		return set_reason(r, LISTS_INVALID, "bad domain list", dom, dl);
	if (kind == 4)
		return set_reason(r, LISTS_UNSUPPORTED, "AdGuard CSS/JS injection", s + at, seplen);
	while (bl && is_space(*body)) { body++; bl--; }
	if (bl == 0)
		return set_reason(r, LISTS_INVALID, "empty selector", NULL, 0);
	r->cosm_exception = kind == 1 || kind == 3 || kind == 6;
	r->cosm_body = body;
	r->cosm_body_len = bl;
	if (kind == 5 || kind == 6) {
		r->cosm_kind = COSM_ADG_HTML;
		return r->cls = LISTS_HTML;
	}
	if (starts(body, bl, "+js("))
		return set_reason(r, LISTS_UNSUPPORTED, "scriptlet (##+js)", body, bl < 40 ? bl : 40);
	if (body[0] == '^') {
		body++; bl--;
		if (starts(body, bl, "responseheader("))
			return set_reason(r, LISTS_UNSUPPORTED, "response header filter (##^responseheader)", NULL, 0);
		if (bl == 0)
			return set_reason(r, LISTS_INVALID, "empty HTML filter", NULL, 0);
		r->cosm_body = body;
		r->cosm_body_len = bl;
		r->cosm_kind = COSM_HTML;
		return r->cls = LISTS_HTML;
	}
	if (kind == 0 || kind == 1) {
		if (find(body, bl, ":style("))
			r->cosm_kind = COSM_STYLE;
		else if (is_procedural(body, bl))
			r->cosm_kind = COSM_PROCEDURAL;
		else
			r->cosm_kind = COSM_CSS;
	} else {
		r->cosm_kind = find(body, bl, ":style(") ? COSM_STYLE : COSM_PROCEDURAL;
	}
	return r->cls = LISTS_COSMETIC;
}

/* ---- network rules -------------------------------------------------------------- */

/* A bare host name: labels of [a-z0-9-_], at least one dot, no leading or
 * trailing dot or hyphen. */
static int is_hostname(const char *s, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	int dots = 0;
	size_t lab = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (lab == 0 || s[i - 1] == '-')
				return 0;
			dots++;
			lab = 0;
		} else if (is_alnum(c) || c == '_' || (c == '-' && lab > 0) || (unsigned char)c >= 0x80) {
			lab++;
		} else
			return 0;
	}
	return dots > 0 && lab > 0 && s[n - 1] != '-';
}

static int domain_list_ok(const char *s, size_t n, int allow_neg)
{
	size_t i = 0;
	if (n == 0)
		return 0;
	while (i <= n) {
		size_t b = i;
		while (i < n && s[i] != '|')
			i++;
		const char *d = s + b;
		size_t dl = i - b;
		if (dl && d[0] == '~' && allow_neg) { d++; dl--; }
		if (dl == 0)
			return 0;
		if (dl >= 2 && d[0] == '/' && d[dl - 1] == '/')
			return -1;   /* regex domain: unsupported */
		for (size_t k = 0; k < dl; k++) {
			unsigned char c = (unsigned char)d[k];
			if (!(is_alnum((char)c) || c == '.' || c == '-' || c == '_' || c >= 0x80 ||
			      (c == '*' && k == dl - 1 && k > 0 && d[k - 1] == '.') || c == ':' || c == '[' || c == ']'))
				return 0;
		}
		i++;
	}
	return 1;
}

/* Finds the '$' that starts the options: the rightmost one followed by
 * something that reads as an option name (values such as removeparam=/re$/
 * may hold '$' themselves). */
static long find_options(const char *s, size_t n)
{
	for (size_t i = n; i > 0; i--) {
		if (s[i - 1] != '$')
			continue;
		size_t k = i;
		if (k >= n)
			continue;
		char c = s[k];
		if (!(c == '~' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			continue;
		/* the option name must be followed by ',', '=' or the end */
		while (k < n && (is_alnum(s[k]) || s[k] == '-' || s[k] == '_' || s[k] == '~'))
			k++;
		if (k == n || s[k] == ',' || s[k] == '=')
			return (long)(i - 1);
	}
	return -1;
}

struct opt_state {
	uint32_t pos_types, neg_types;
	int has_redirect;
};

static int set_action(struct lists_rule *r, int action, const char *v, size_t vl, const char *opt, size_t ol)
{
	if (r->net.action != LISTS_A_BLOCK && r->net.action != action)
		return set_reason(r, LISTS_UNSUPPORTED, "conflicting options", opt, ol);
	r->net.action = action;
	r->net.value = v;
	r->net.value_len = vl;
	return 0;
}

static int parse_redirect(struct lists_rule *r, int action, const char *v, size_t vl, const char *opt, size_t ol)
{
	int prio = 0;
	const char *colon = memchr(v, ':', vl);
	/* "abp-resource:x" holds a colon of its own */
	if (colon && starts(v, vl, "abp-resource:"))
		colon = memchr(v + 13, ':', vl - 13);
	size_t nl = vl;
	if (colon) {
		nl = (size_t)(colon - v);
		char *end;
		char tmp[16];
		size_t pl = vl - nl - 1;
		if (pl == 0 || pl >= sizeof(tmp))
			return set_reason(r, LISTS_INVALID, "bad redirect priority", opt, ol);
		memcpy(tmp, colon + 1, pl);
		tmp[pl] = '\0';
		long p = strtol(tmp, &end, 10);
		if (*end || p < -1000000 || p > 1000000)
			return set_reason(r, LISTS_INVALID, "bad redirect priority", opt, ol);
		prio = (int)p;
	}
	/* a resource quell lacks (uBO's script surrogates) still blocks: the
	 * request gets the type's neutral response instead, as uBO's block
	 * half of redirect= would */
	if (set_action(r, action, v, nl, opt, ol))
		return r->cls;
	r->net.priority = prio;
	return 0;
}

/* 1 when s[0..n) is all '_' (uBO's "_" no-op option may be repeated).  The
 * option is a slice, not a C string: strspn would read past its end (found
 * by tests/fuzz/fuzz_lists.c). */
static int all_underscores(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '_')
			return 0;
	return 1;
}

/* Parses one option.  Returns 0, or the class (unsupported/invalid) set. */
static int parse_option(struct lists_rule *r, struct opt_state *st, const char *o, size_t ol)
{
	int neg = 0;
	const char *name = o, *val = NULL;
	size_t nl = ol, vl = 0;
	const char *eq = memchr(o, '=', ol);
	if (eq) {
		nl = (size_t)(eq - o);
		val = eq + 1;
		vl = ol - nl - 1;
	}
	if (nl && name[0] == '~') { neg = 1; name++; nl--; }
	uint32_t *f = &r->net.flags;
	int exc = (*f & LISTS_F_EXCEPTION) != 0;

	uint32_t t = lists_type_parse(name, nl);
	if (t && !val && !slice_eq(name, nl, "fetch") && !slice_eq(name, nl, "sub_frame") &&
	    !slice_eq(name, nl, "main_frame") && !slice_eq(name, nl, "texttrack") &&
	    !slice_eq(name, nl, "manifest") && !slice_eq(name, nl, "eventsource") &&
	    !slice_eq(name, nl, "imageset") && !slice_eq(name, nl, "csp_report")) {
		if (neg) st->neg_types |= t;
		else st->pos_types |= t;
		*f |= LISTS_F_EXPLICIT_TYPES;
		return 0;
	}
	if (slice_eq(name, nl, "popunder") && !val) {
		if (!neg) st->pos_types |= LISTS_T_POPUP;
		*f |= LISTS_F_EXPLICIT_TYPES;
		return 0;
	}
	if (slice_eq(name, nl, "all") && !val && !neg) {
		st->pos_types |= LISTS_T_ALL;
		*f |= LISTS_F_EXPLICIT_TYPES;
		return 0;
	}
	if ((slice_eq(name, nl, "third-party") || slice_eq(name, nl, "3p")) && !val) {
		*f |= neg ? LISTS_F_1P : LISTS_F_3P;
		return 0;
	}
	if ((slice_eq(name, nl, "first-party") || slice_eq(name, nl, "1p")) && !val) {
		*f |= neg ? LISTS_F_3P : LISTS_F_1P;
		return 0;
	}
	if (slice_eq(name, nl, "strict1p") && !val && !neg) { *f |= LISTS_F_STRICT_1P; return 0; }
	if (slice_eq(name, nl, "strict3p") && !val && !neg) { *f |= LISTS_F_STRICT_3P; return 0; }
	if (neg)
		return set_reason(r, LISTS_INVALID, "option cannot be negated", o, ol);
	if (slice_eq(name, nl, "important") && !val) { *f |= LISTS_F_IMPORTANT; return 0; }
	if (slice_eq(name, nl, "match-case") && !val) { *f |= LISTS_F_MATCH_CASE; return 0; }
	if (slice_eq(name, nl, "badfilter") && !val) { *f |= LISTS_F_BADFILTER; return 0; }
	if ((slice_eq(name, nl, "domain") || slice_eq(name, nl, "from")) && val) {
		int ok = domain_list_ok(val, vl, 1);
		if (ok < 0) return set_reason(r, LISTS_UNSUPPORTED, "regex in domain=", o, ol);
		if (!ok) return set_reason(r, LISTS_INVALID, "bad domain= list", o, ol);
		r->net.domains = val;
		r->net.domains_len = vl;
		return 0;
	}
	if (slice_eq(name, nl, "to") && val) {
		int ok = domain_list_ok(val, vl, 1);
		if (ok < 0) return set_reason(r, LISTS_UNSUPPORTED, "regex in to=", o, ol);
		if (!ok) return set_reason(r, LISTS_INVALID, "bad to= list", o, ol);
		r->net.to = val;
		r->net.to_len = vl;
		return 0;
	}
	if (slice_eq(name, nl, "denyallow") && val) {
		if (domain_list_ok(val, vl, 0) != 1)
			return set_reason(r, LISTS_INVALID, "bad denyallow= list", o, ol);
		r->net.denyallow = val;
		r->net.denyallow_len = vl;
		return 0;
	}
	if (slice_eq(name, nl, "method") && val && vl) {
		for (size_t i = 0; i <= vl;) {
			size_t b = i;
			while (i < vl && val[i] != '|')
				i++;
			int mneg = i > b && val[b] == '~';
			uint32_t bit = lists_method_parse(val + b + mneg, i - b - (size_t)mneg);
			if (!bit)
				return set_reason(r, LISTS_INVALID, "bad method=", o, ol);
			if (mneg)
				r->net.methods_out |= (uint16_t)bit;
			else
				r->net.methods_in |= (uint16_t)bit;
			i++;
		}
		return 0;
	}
	if ((slice_eq(name, nl, "elemhide") || slice_eq(name, nl, "ehide")) && !val) { *f |= LISTS_F_ELEMHIDE; return 0; }
	if ((slice_eq(name, nl, "generichide") || slice_eq(name, nl, "ghide")) && !val) { *f |= LISTS_F_GENERICHIDE; return 0; }
	if ((slice_eq(name, nl, "specifichide") || slice_eq(name, nl, "shide")) && !val) { *f |= LISTS_F_SPECIFICHIDE; return 0; }
	if (slice_eq(name, nl, "redirect") && (val || exc)) {
		st->has_redirect = 1;
		return parse_redirect(r, exc ? LISTS_A_REDIRECT_RULE : LISTS_A_REDIRECT, val ? val : "", vl, o, ol);
	}
	if (slice_eq(name, nl, "redirect-rule") && (val || exc)) {
		st->has_redirect = 1;
		return parse_redirect(r, LISTS_A_REDIRECT_RULE, val ? val : "", vl, o, ol);
	}
	if (slice_eq(name, nl, "rewrite") && val && starts(val, vl, "abp-resource:")) {
		st->has_redirect = 1;
		return parse_redirect(r, LISTS_A_REDIRECT, val, vl, o, ol);
	}
	if (slice_eq(name, nl, "empty") && !val) {
		st->has_redirect = 1;
		return parse_redirect(r, LISTS_A_REDIRECT, "empty", 5, o, ol);
	}
	if (slice_eq(name, nl, "mp4") && !val) {
		st->has_redirect = 1;
		st->pos_types |= LISTS_T_MEDIA;
		*f |= LISTS_F_EXPLICIT_TYPES;
		return parse_redirect(r, LISTS_A_REDIRECT, "noopmp4-1s", 10, o, ol);
	}
	if (slice_eq(name, nl, "removeparam") || slice_eq(name, nl, "queryprune")) {
		if (val && vl == 0)
			return set_reason(r, LISTS_INVALID, "empty removeparam=", o, ol);
		if (val && vl >= 1 && val[0] == '~')
			return set_reason(r, LISTS_UNSUPPORTED, "negated removeparam=", o, ol);
		if (set_action(r, LISTS_A_REMOVEPARAM, val ? val : "", vl, o, ol))
			return r->cls;
		return 0;
	}
	if (slice_eq(name, nl, "csp")) {
		if (!val && !exc)
			return set_reason(r, LISTS_INVALID, "csp needs a value", o, ol);
		for (size_t k = 0; k < vl; k++)
			if (val[k] == '\r' || val[k] == '\n')
				return set_reason(r, LISTS_INVALID, "bad csp value", o, ol);
		if (set_action(r, LISTS_A_CSP, val ? val : "", vl, o, ol))
			return r->cls;
		return 0;
	}
	if (slice_eq(name, nl, "_") || (nl > 1 && all_underscores(name, nl)) ||
	    slice_eq(name, nl, "reason") || slice_eq(name, nl, "cname") || slice_eq(name, nl, "stealth-ignore"))
		return 0;   /* no-ops in uBO */
	static const char *const unsup[] = {
		"header", "permissions", "ipaddress", "urlskip", "uritransform", "urltransform",
		"replace", "stealth", "cookie", "network", "app", "extension", "jsonprune", "jsinject",
		"content", "inline-script", "inline-font", "genericblock", "webrtc", "hls", "jsonp",
		"referrerpolicy", "xmlprune", "to-url", "first-party-only", "sitekey", "rewrite",
		"object-subrequest", "specificblock", "redirect-url", "badfilter-url",
	};
	for (size_t i = 0; i < sizeof(unsup) / sizeof(unsup[0]); i++)
		if (slice_eq(name, nl, unsup[i]))
			return set_reason(r, LISTS_UNSUPPORTED, "unsupported option", o, ol);
	return set_reason(r, LISTS_UNSUPPORTED, "unknown option", o, ol);
}

static int parse_network(struct lists_rule *r, const char *s, size_t n)
{
	struct lists_net *net = &r->net;
	if (starts(s, n, "@@")) {
		net->flags |= LISTS_F_EXCEPTION;
		s += 2; n -= 2;
	}
	long dollar = find_options(s, n);
	const char *p = s, *opts = NULL;
	size_t pl = n, olen = 0;
	if (dollar >= 0) {
		pl = (size_t)dollar;
		opts = s + dollar + 1;
		olen = n - (size_t)dollar - 1;
	}
	struct opt_state st = {0, 0, 0};
	/* options, split on ',' not escaped with a backslash */
	for (size_t i = 0; opts && i <= olen;) {
		size_t b = i;
		while (i < olen && !(opts[i] == ',' && (i == 0 || opts[i - 1] != '\\')))
			i++;
		if (i > b && parse_option(r, &st, opts + b, i - b))
			return r->cls;
		if (i == b)
			return set_reason(r, LISTS_INVALID, "empty option", NULL, 0);
		i++;
	}
	/* pattern and anchors */
	if (pl >= 2 && p[0] == '/' && p[pl - 1] == '/' && pl > 2) {
		net->flags |= LISTS_F_REGEX;
		p++; pl -= 2;
	} else {
		if (starts(p, pl, "||")) { net->flags |= LISTS_F_ANCHOR_HOST; p += 2; pl -= 2; }
		else if (starts(p, pl, "|")) { net->flags |= LISTS_F_ANCHOR_LEFT; p++; pl--; }
		if (pl && p[pl - 1] == '|') { net->flags |= LISTS_F_ANCHOR_RIGHT; pl--; }
		size_t lead = 0;
		while (lead < pl && p[lead] == '*')
			lead++;
		if (lead) {
			net->flags &= ~(uint32_t)(LISTS_F_ANCHOR_HOST | LISTS_F_ANCHOR_LEFT);
			p += lead; pl -= lead;
		}
		size_t trail = 0;
		while (trail < pl && p[pl - 1 - trail] == '*')
			trail++;
		if (trail) {
			net->flags &= ~(uint32_t)LISTS_F_ANCHOR_RIGHT;
			pl -= trail;
		}
		/* uBO: a bare host name without options means ||host^ */
		if (!opts && !(net->flags & (LISTS_F_ANCHOR_HOST | LISTS_F_ANCHOR_LEFT | LISTS_F_ANCHOR_RIGHT)) &&
		    is_hostname(p, pl))
			net->flags |= LISTS_F_HOSTS;
	}
	for (size_t i = 0; i < pl; i++)
		if (is_space(p[i]))
			return set_reason(r, LISTS_INVALID, "whitespace in pattern", NULL, 0);
	net->pattern = p;
	net->pattern_len = pl;

	/* types */
	uint32_t types;
	if (st.pos_types)
		types = st.pos_types & ~st.neg_types;
	else if (st.neg_types)
		types = LISTS_T_NETWORK & ~st.neg_types;
	else
		types = LISTS_T_NETWORK;
	uint32_t hide = net->flags & (LISTS_F_ELEMHIDE | LISTS_F_GENERICHIDE | LISTS_F_SPECIFICHIDE);
	if (hide) {
		if (!(net->flags & LISTS_F_EXCEPTION))
			return set_reason(r, LISTS_UNSUPPORTED, "elemhide/generichide on a blocking rule", opts, olen);
		if (!(net->flags & LISTS_F_EXPLICIT_TYPES)) {
			types = LISTS_T_DOCUMENT;
			if (net->action == LISTS_A_BLOCK)
				net->action = LISTS_A_PAGE;
		}
	}
	/* removeparam= and csp= act on navigations first of all */
	if ((net->action == LISTS_A_REMOVEPARAM || net->action == LISTS_A_CSP) &&
	    !(net->flags & LISTS_F_EXPLICIT_TYPES))
		types |= LISTS_T_DOCUMENT;
	if (types == 0)
		return set_reason(r, LISTS_INVALID, "no request type left", opts, olen);
	net->types = types;
	if (pl == 0 && !(net->flags & LISTS_F_REGEX) && !net->domains_len && !net->to_len &&
	    net->action == LISTS_A_BLOCK && !(net->flags & LISTS_F_EXPLICIT_TYPES) && !hide &&
	    !(net->flags & (LISTS_F_1P | LISTS_F_3P)))
		return set_reason(r, LISTS_INVALID, "matches every request", NULL, 0);
	return r->cls = LISTS_NETWORK;
}

/* ---- lines ------------------------------------------------------------------------ */

/* "0.0.0.0 host", "127.0.0.1 host", "::1 host", "::", "0 host": the IP
 * prefix length (with the blank after it), or 0. */
static size_t hosts_prefix(const char *s, size_t n)
{
	static const char *const ips[] = {"0.0.0.0", "127.0.0.1", "::1", "::", "0", "255.255.255.255",
	                                  "fe80::1%lo0", "ff02::1", "ff02::2", "ff00::0", "fe00::0"};
	if (n == 0 || !(s[0] == '0' || s[0] == '1' || s[0] == '2' || s[0] == ':' || s[0] == 'f'))
		return 0;
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		size_t l = strlen(ips[i]);
		if (n > l && memcmp(s, ips[i], l) == 0 && is_space(s[l])) {
			while (l < n && is_space(s[l]))
				l++;
			return l;
		}
	}
	return 0;
}

static int hosts_ignored(const char *h, size_t n)
{
	static const char *const skip[] = {"localhost", "localhost.localdomain", "local", "broadcasthost",
	                                   "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
	                                   "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0"};
	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (slice_eq(h, n, skip[i]))
			return 1;
	return 0;
}

/* Fills r for hosts-file host h. */
static int hosts_rule(struct lists_rule *r, const char *h, size_t n)
{
	if (hosts_ignored(h, n))
		return r->cls = LISTS_COMMENT;
	if (!is_hostname(h, n) && !(n && memchr(h, '.', n) == NULL && is_hostname(h, n)))
		return set_reason(r, LISTS_INVALID, "bad host name", h, n);
	r->net.flags |= LISTS_F_HOSTS;
	r->net.types = LISTS_T_NETWORK;
	r->net.pattern = h;
	r->net.pattern_len = n;
	return r->cls = LISTS_NETWORK;
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s)) { (*s)++; (*n)--; }
	while (*n && is_space((*s)[*n - 1])) (*n)--;
}

int lists_parse_line(const char *text, size_t len, const char *file, uint32_t line, struct lists_rule *r)
{
	memset(r, 0, sizeof(*r));
	trim(&text, &len);
	r->text = text;
	r->len = len;
	r->file = file;
	r->line = line;
	if (len == 0 || text[0] == '!' || (text[0] == '[' && text[len - 1] == ']'))
		return r->cls = LISTS_COMMENT;
	if (text[0] == '#' && !(len > 1 && (text[1] == '#' || text[1] == '@' || text[1] == '?' ||
	                                   text[1] == '$' || text[1] == '%')))
		return r->cls = LISTS_COMMENT;
	size_t hp = hosts_prefix(text, len);
	if (hp) {
		const char *h = text + hp;
		size_t hl = 0;
		while (hp + hl < len && !is_space(h[hl]) && h[hl] != '#')
			hl++;
		return hosts_rule(r, h, hl);
	}
	size_t seplen;
	int kind;
	long at = cosm_sep(text, len, &seplen, &kind);
	if (at >= 0 && (kind != 0 || cosm_prefix_plausible(text, (size_t)at)))
		return parse_cosmetic(r, text, len, at, seplen, kind);
	return parse_network(r, text, len);
}

/* ---- sources and the preprocessor --------------------------------------------------- */

struct pp_frame { int active, taken; };

char *lists_read_file(const char *path, size_t max, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	int e = 0;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	else if ((uint64_t)st.st_size > max)
		e = EFBIG;
	if (e) {
		close(fd);
		errno = e;
		return NULL;
	}
	size_t cap = (size_t)st.st_size, got = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	while (got < cap) {
		ssize_t k = read(fd, buf + got, cap - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

static long parse_buf(const char *buf, size_t len, const char *file, const char *dir, int depth,
                      lists_cb cb, void *arg, int *stop);

/* "!#include name": only names inside the including file's directory. */
static long do_include(const char *name, size_t nl, const char *file, uint32_t line, const char *dir,
                       int depth, lists_cb cb, void *arg, int *stop)
{
	struct lists_rule r;
	memset(&r, 0, sizeof(r));
	r.file = file;
	r.line = line;
	r.text = name;
	r.len = nl;
	if (!dir || depth >= LISTS_MAX_INCLUDE_DEPTH || nl == 0 || name[0] == '/' ||
	    find(name, nl, "..") || find(name, nl, "://") || nl > 255) {
		set_reason(&r, LISTS_INVALID, !dir ? "!#include in a list without a directory"
		                                   : "!#include outside the list's directory", name, nl);
		return cb(arg, &r) ? (*stop = 1, 0) : 0;
	}
	char path[PATH_MAX];
	int pn = snprintf(path, sizeof(path), "%s/%.*s", dir, (int)nl, name);
	size_t blen;
	char *buf = pn > 0 && (size_t)pn < sizeof(path) ? lists_read_file(path, LISTS_MAX_FILE, &blen) : NULL;
	if (!buf) {
		set_reason(&r, LISTS_INVALID, "!#include file cannot be read", name, nl);
		return cb(arg, &r) ? (*stop = 1, 0) : 0;
	}
	/* nested includes stay relative to the top directory */
	long n = parse_buf(buf, blen, path, dir, depth + 1, cb, arg, stop);
	free(buf);
	return n;
}

static long parse_buf(const char *buf, size_t len, const char *file, const char *dir, int depth,
                      lists_cb cb, void *arg, int *stop)
{
	struct pp_frame stack[32];
	int sp = 0;
	int active = 1;
	long count = 0;
	uint32_t line = 0;
	size_t i = 0;
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;   /* a UTF-8 byte order mark */
	while (i < len && !*stop) {
		size_t b = i;
		const char *nlp = memchr(buf + i, '\n', len - i);
		size_t e = nlp ? (size_t)(nlp - buf) : len;
		i = e + 1;
		line++;
		count++;
		const char *s = buf + b;
		size_t n = e - b;
		trim(&s, &n);
		if (starts(s, n, "!#if ") || slice_eq(s, n, "!#if")) {
			if (sp < 32) {
				stack[sp].active = active;
				int v = lists_eval_if(s + 4, n - 4);
				stack[sp].taken = v;
				sp++;
				active = active && v;
			}
		} else if (starts(s, n, "!#else")) {
			if (sp > 0)
				active = stack[sp - 1].active && !stack[sp - 1].taken;
		} else if (starts(s, n, "!#endif")) {
			if (sp > 0)
				active = stack[--sp].active;
		} else if (starts(s, n, "!#include") && active) {
			const char *nm = s + 9;
			size_t nml = n - 9;
			trim(&nm, &nml);
			count += do_include(nm, nml, file, line, dir, depth, cb, arg, stop);
			continue;
		}
		struct lists_rule r;
		if (!active || (n >= 2 && s[0] == '!' && s[1] == '#')) {
			memset(&r, 0, sizeof(r));
			r.text = s; r.len = n; r.file = file; r.line = line;
			r.cls = LISTS_COMMENT;
			if (cb(arg, &r))
				*stop = 1;
			continue;
		}
		lists_parse_line(s, n, file, line, &r);
		if (cb(arg, &r)) {
			*stop = 1;
			break;
		}
		/* hosts files may name several hosts on one line */
		size_t hp = hosts_prefix(s, n);
		if (hp && r.cls != LISTS_INVALID) {
			const char *h = r.net.pattern ? r.net.pattern + r.net.pattern_len : s + hp;
			const char *end = s + n;
			if (r.cls == LISTS_COMMENT)
				while (h < end && !is_space(*h) && *h != '#') h++;
			for (;;) {
				while (h < end && is_space(*h)) h++;
				if (h >= end || *h == '#')
					break;
				const char *he = h;
				while (he < end && !is_space(*he) && *he != '#') he++;
				struct lists_rule r2;
				memset(&r2, 0, sizeof(r2));
				r2.text = s; r2.len = n; r2.file = file; r2.line = line;
				hosts_rule(&r2, h, (size_t)(he - h));
				if (cb(arg, &r2)) {
					*stop = 1;
					break;
				}
				h = he;
			}
		}
	}
	return count;
}

long lists_parse(const struct lists_source *src, lists_cb cb, void *arg)
{
	int stop = 0;
	const char *name = src->name ? src->name : (src->path ? src->path : "(buffer)");
	if (!src->path)
		return parse_buf(src->buf ? src->buf : "", src->buf ? src->len : 0, name, NULL, 0, cb, arg, &stop);
	size_t len;
	char *buf = lists_read_file(src->path, LISTS_MAX_FILE, &len);
	if (!buf)
		return -1;
	char dir[PATH_MAX];
	const char *slash = strrchr(src->path, '/');
	if (slash && (size_t)(slash - src->path) < sizeof(dir)) {
		memcpy(dir, src->path, (size_t)(slash - src->path));
		dir[slash - src->path] = '\0';
		if (dir[0] == '\0')
			strcpy(dir, "/");
	} else
		strcpy(dir, ".");
	long n = parse_buf(buf, len, src->path, dir, 0, cb, arg, &stop);
	free(buf);
	return n;
}
