/*
 * lists: the one parser for filter lists people subscribe to: Adblock Plus /
 * EasyList syntax with the uBlock Origin and AdGuard extensions, hosts files
 * ("0.0.0.0 host", "127.0.0.1 host") and plain domain lists.
 *
 * It handles the preprocessor ("!#if", "!#else", "!#endif", "!#include"),
 * skips comments and "[Adblock Plus 2.0]" headers, and classifies every line:
 * network rule, cosmetic rule, HTML rule, comment, unsupported (with a
 * reason) or invalid (a warning, never fatal).  Network rules come out split
 * into pattern and options (struct lists_net); what they mean at match time is
 * filters/netfilter.c's business.  Cosmetic and HTML rules come out as slices
 * of struct cosmetic_rule's fields.
 *
 * The parser keeps no state between calls and is safe to run in any thread.
 */
#ifndef QUELL_LISTS_H
#define QUELL_LISTS_H

#include <stddef.h>
#include <stdint.h>

/* Request types, a bit each (uBO's names).  Shared with netfilter. */
enum {
	LISTS_T_OTHER = 1 << 0,
	LISTS_T_SCRIPT = 1 << 1,
	LISTS_T_IMAGE = 1 << 2,
	LISTS_T_STYLESHEET = 1 << 3,
	LISTS_T_OBJECT = 1 << 4,
	LISTS_T_SUBDOCUMENT = 1 << 5,
	LISTS_T_XHR = 1 << 6,
	LISTS_T_WEBSOCKET = 1 << 7,
	LISTS_T_PING = 1 << 8,
	LISTS_T_FONT = 1 << 9,
	LISTS_T_MEDIA = 1 << 10,
	LISTS_T_DOCUMENT = 1 << 11,
	LISTS_T_POPUP = 1 << 12,
	LISTS_T_NETWORK = (1 << 11) - 1,   /* every type a filter without type options covers */
	LISTS_T_ALL = (1 << 13) - 1,
};

/* HTTP methods, a bit each, for method= (uBO's list). */
enum {
	LISTS_M_CONNECT = 1 << 0, LISTS_M_DELETE = 1 << 1, LISTS_M_GET = 1 << 2, LISTS_M_HEAD = 1 << 3,
	LISTS_M_OPTIONS = 1 << 4, LISTS_M_PATCH = 1 << 5, LISTS_M_POST = 1 << 6, LISTS_M_PUT = 1 << 7,
};

enum lists_class {
	LISTS_COMMENT = 0,      /* comments, blank lines, headers, preprocessor lines */
	LISTS_NETWORK,
	LISTS_COSMETIC,
	LISTS_HTML,
	LISTS_UNSUPPORTED,      /* valid syntax quell does not implement; reason set */
	LISTS_INVALID,          /* malformed; reason set; reported as a warning */
	LISTS_N_CLASSES,
};

/* What a network rule does when it matches. */
enum lists_action {
	LISTS_A_BLOCK = 0,      /* block (or allow, for an exception) */
	LISTS_A_REDIRECT,       /* redirect=: block, served by a built-in resource */
	LISTS_A_REDIRECT_RULE,  /* redirect-rule=: redirect only if blocked otherwise */
	LISTS_A_REMOVEPARAM,    /* removeparam[=name|=/re/]: strip query parameters */
	LISTS_A_CSP,            /* csp=policy: add a Content-Security-Policy */
	LISTS_A_PAGE,           /* exceptions with only elemhide/generichide/specifichide */
};

/* Flags of a parsed network rule. */
enum {
	LISTS_F_EXCEPTION = 1 << 0,    /* "@@" */
	LISTS_F_IMPORTANT = 1 << 1,
	LISTS_F_MATCH_CASE = 1 << 2,
	LISTS_F_BADFILTER = 1 << 3,
	LISTS_F_ANCHOR_LEFT = 1 << 4,  /* "|" */
	LISTS_F_ANCHOR_HOST = 1 << 5,  /* "||" */
	LISTS_F_ANCHOR_RIGHT = 1 << 6, /* trailing "|" */
	LISTS_F_REGEX = 1 << 7,        /* "/.../": pattern is the regex source */
	LISTS_F_1P = 1 << 8,           /* first-party only */
	LISTS_F_3P = 1 << 9,           /* third-party only */
	LISTS_F_STRICT_1P = 1 << 10,   /* same host name only */
	LISTS_F_STRICT_3P = 1 << 11,   /* different host name only */
	LISTS_F_ELEMHIDE = 1 << 12,    /* exception: no cosmetic filtering on the page */
	LISTS_F_GENERICHIDE = 1 << 13, /* exception: no generic cosmetic rules */
	LISTS_F_SPECIFICHIDE = 1 << 14,/* exception: no site-specific cosmetic rules */
	LISTS_F_HOSTS = 1 << 15,       /* came from a hosts-file or domain-list line */
	LISTS_F_EXPLICIT_TYPES = 1 << 16, /* the rule names its types */
};

/* A network rule split into parts.  Every slice points into the line (or
 * into a static string for hosts-file lines) and lives during the callback
 * only.  Empty slices have len 0. */
struct lists_net {
	uint32_t flags;          /* LISTS_F_* */
	uint32_t types;          /* LISTS_T_* the rule applies to (never 0) */
	int action;              /* enum lists_action */
	int priority;            /* redirect=name:N priority, default 0 */
	const char *pattern;     /* without anchors; regex source for LISTS_F_REGEX */
	size_t pattern_len;
	const char *domains;     /* domain=/from= value: "a.com|~b.a.com|c.*" */
	size_t domains_len;
	const char *to;          /* to= value */
	size_t to_len;
	const char *denyallow;   /* denyallow= value */
	size_t denyallow_len;
	const char *value;       /* redirect resource, removeparam value, csp policy */
	size_t value_len;
	uint16_t methods_in;     /* method=: LISTS_M_* the request must use (0: any) */
	uint16_t methods_out;    /* method=~x: LISTS_M_* it must not use */
};

/* One classified line handed to the callback. */
struct lists_rule {
	int cls;                 /* enum lists_class */
	const char *text;        /* the rule as written, trimmed (not NUL-terminated) */
	size_t len;
	const char *file;        /* file path or source name (NUL-terminated) */
	uint32_t line;           /* 1-based */
	const char *reason;      /* LISTS_UNSUPPORTED / LISTS_INVALID: static text */
	const char *detail;      /* the offending option or token, or NULL */
	size_t detail_len;
	struct lists_net net;    /* LISTS_NETWORK */
	/* LISTS_COSMETIC / LISTS_HTML: struct cosmetic_rule's fields as slices */
	const char *cosm_body;
	size_t cosm_body_len;
	const char *cosm_domains;
	size_t cosm_domains_len;
	int cosm_kind;           /* enum cosm_kind */
	int cosm_exception;
};

/* Called once per line (hosts lines naming several hosts: once per host).
 * Return 0 to go on, nonzero to stop parsing. */
typedef int (*lists_cb)(void *arg, const struct lists_rule *r);

/* A list to parse: a file path, or an in-memory buffer (built-in rules). */
struct lists_source {
	const char *name;        /* shown in verdicts and warnings */
	const char *path;        /* file to read, or NULL */
	const char *buf;         /* used when path is NULL */
	size_t len;
};

#define LISTS_MAX_FILE (64u << 20)   /* bigger files are refused */
#define LISTS_MAX_INCLUDE_DEPTH 4

/* Parses one source, including its "!#include" files, calling cb for every
 * line.  Returns the number of lines seen, or -1 when the source (not an
 * included file) cannot be read (errno set); a missing include is reported
 * through cb as LISTS_INVALID. */
long lists_parse(const struct lists_source *src, lists_cb cb, void *arg);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * with a NUL after the last byte (not counted in *len); the caller frees it.
 * Returns NULL with errno set: the open/fstat error, EISDIR or EINVAL for
 * what is not a regular file, EFBIG when larger than max, ENOMEM. */
char *lists_read_file(const char *path, size_t max, size_t *len);

/* Parses one line in isolation (no preprocessor).  Fills *r (file/line as
 * given).  Returns r->cls.  Hosts lines naming several hosts yield the first. */
int lists_parse_line(const char *text, size_t len, const char *file, uint32_t line,
                     struct lists_rule *r);

/* Evaluates a "!#if" expression as uBO on Firefox would, except that every
 * env_ token is false (quell is a proxy, not a browser).  Returns 1 or 0. */
int lists_eval_if(const char *expr, size_t len);

/* The LISTS_M_* bit of an HTTP method name ("GET", "post"), or 0. */
uint32_t lists_method_parse(const char *name, size_t len);

/* "network", "cosmetic", ... for an enum lists_class. */
const char *lists_class_name(int cls);

/* Parses a request type name as uBO and the bench data spell them
 * ("script", "xhr", "sub_frame", "document", "fetch", ...) into one LISTS_T_
 * bit.  Returns 0 for an unknown name. */
uint32_t lists_type_parse(const char *name, size_t len);

#endif
