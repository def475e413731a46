/*
 * policy: the request policy hook, asked once per request before quell does
 * anything on the network for it (no DNS lookup, no connect).
 *
 * conn.c fills a struct policy_request and calls policy_decide() for every
 * request it would send upstream: absolute-form HTTP requests, requests
 * inside an intercepted TLS connection (tls = 1, scheme "https"), and CONNECT
 * (is_connect = 1) before the tunnel or interception is set up.  Requests to
 * quell's own pages never reach the policy.  The answer is one of:
 *   POLICY_ALLOW    go upstream as asked;
 *   POLICY_RESPOND  answer with the synthetic response in the result (block
 *                   page, empty script, 1x1 GIF, 204, a 302 to a clean URL...);
 *                   nothing goes to the network;
 *   POLICY_REWRITE  go upstream to new_url instead (removeparam): an absolute
 *                   URL of the request's scheme; host and port may change
 *                   (conn.c re-parses it).
 * With ALLOW and REWRITE, the fields in result.headers are added to the response
 * sent to the client (e.g. Content-Security-Policy for csp=).
 *
 * policy_decide() runs on a worker thread, concurrently on every worker: it
 * must not block, and must only read shared state (an immutable snapshot).
 * This file's default implementation (policy.c) allows everything; the filter
 * engine replaces policy.c's body.
 */
#ifndef QUELL_POLICY_H
#define QUELL_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

struct config;
struct headers;
struct evbuffer;

enum policy_action { POLICY_ALLOW = 0, POLICY_RESPOND = 1, POLICY_REWRITE = 2 };

struct policy_request {              /* read-only for the policy */
	const char *method;              /* "GET", "CONNECT", ... */
	const char *url;                 /* absolute URL "http://host[:port]/path?q";
	                                    for CONNECT "host:port" */
	const char *scheme;              /* "http" or "https" ("" for CONNECT) */
	const char *host;                /* lower case; IPv6 without brackets */
	int port;
	const struct headers *headers;   /* the request head as received */
	int tls;                         /* inside an intercepted TLS connection */
	int is_connect;
	const struct sockaddr *client;   /* the client's address */
	socklen_t client_len;
	const struct config *cfg;        /* the configuration in force */
};

struct policy_result {               /* zeroed by conn.c before the call */
	int action;                      /* enum policy_action */
	/* POLICY_RESPOND: status and the response's own header fields (conn.c
	 * adds Content-Length and Connection) and body. */
	int status;
	struct headers *headers;         /* created by conn.c; response fields for
	                                    RESPOND, fields added to the upstream
	                                    response for ALLOW and REWRITE */
	struct evbuffer *body;           /* created by conn.c, empty */
	/* POLICY_REWRITE: malloc'd absolute URL; conn.c frees it. */
	char *new_url;
	/* For the access log and the status page counters: a short verdict word
	 * ("allow", "block", "redirect", "removeparam", "csp") and the deciding
	 * rule as "list:line rule-text" (empty when none). blocked = 1 counts
	 * the request as blocked on the status page. */
	char verdict[24];
	char rule[200];
	int blocked;
};

/* Called once before the workers start.  0, or -1 with a message in err
 * (quell run exits 1). */
int policy_init(const struct config *cfg, char *err, size_t errlen);
/* Called from the main thread on SIGHUP with the new configuration while
 * workers keep calling policy_decide (swap an immutable snapshot).  0/-1;
 * on -1 the previous state stays in force and err says why. */
int policy_reload(const struct config *cfg, char *err, size_t errlen);
/* Called once after the workers stopped.  Frees what policy_init made. */
void policy_shutdown(void);

/* Decides one request (see above).  Returns 0, or -1 on an internal error
 * (conn.c answers 500). */
int policy_decide(const struct policy_request *req, struct policy_result *res);

#endif
