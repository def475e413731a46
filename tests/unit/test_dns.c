/*
 * Unit tests for proxy/dns against a tiny UDP DNS responder living in the
 * test's own event_base on 127.0.0.1 (answers A/AAAA from a table with a
 * chosen TTL, counts queries per name).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "proxy/dns.h"

/* ---- the responder --------------------------------------------------------------- */

struct zone_entry {
	const char *name;
	const char *a[3];            /* dotted quads, NULL-terminated */
	const char *aaaa[3];
	uint32_t ttl;
	int rcode;                   /* 3 = NXDOMAIN */
	int drop;                    /* never answer */
	int queries;                 /* counted by the responder */
};

static struct zone_entry zone[] = {
	{ "both.test", { "192.0.2.1", "192.0.2.2" }, { "2001:db8::1" }, 300, 0, 0, 0 },
	{ "v4only.test", { "192.0.2.9" }, { NULL }, 300, 0, 0, 0 },
	{ "short.test", { "192.0.2.3" }, { NULL }, 1, 0, 0, 0 },
	{ "nx.test", { NULL }, { NULL }, 0, 3, 0, 0 },
	{ "nodata.test", { NULL }, { NULL }, 0, 0, 0, 0 },
	{ "drop.test", { NULL }, { NULL }, 0, 0, 1, 0 },
	{ "cancel.test", { "192.0.2.4" }, { NULL }, 300, 0, 0, 0 },
	{ "free.test", { "192.0.2.5" }, { NULL }, 300, 0, 0, 0 },
};
#define NZONE (sizeof(zone) / sizeof(zone[0]))

struct responder {
	int fd;
	struct event *ev;
	int total;
};

static void put16(unsigned char *p, unsigned v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }

/* Answers one query: the question is copied as sent (evdns randomizes its
 * case and checks the echo), answers point back at it (0xc00c). */
static void responder_cb(evutil_socket_t fd, short what, void *arg)
{
	struct responder *rs = arg;
	unsigned char q[512], out[1024];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n < 17)
		return;
	char name[256];
	size_t i = 12, o = 0;
	while (i < (size_t)n && q[i] && o < sizeof(name) - 64) {
		size_t l = q[i++];
		if (o)
			name[o++] = '.';
		memcpy(name + o, q + i, l);
		o += l;
		i += l;
	}
	name[o] = 0;
	size_t qend = i + 5;                   /* zero label, type, class */
	unsigned qtype = (unsigned)(q[i + 1] << 8 | q[i + 2]);
	rs->total++;
	struct zone_entry *z = NULL;
	for (size_t k = 0; k < NZONE; k++)
		if (strcasecmp(zone[k].name, name) == 0)
			z = &zone[k];
	if (z) {
		z->queries++;
		if (z->drop)
			return;
	}
	memcpy(out, q, qend);
	put16(out + 2, 0x8180 | (unsigned)(z ? z->rcode : 3));
	put16(out + 4, 1);
	put16(out + 8, 0);
	put16(out + 10, 0);
	size_t p = qend;
	int an = 0;
	for (int k = 0; z && k < 3; k++) {
		const char *txt = qtype == 1 ? z->a[k] : qtype == 28 ? z->aaaa[k] : NULL;
		unsigned char addr[16];
		int fam = qtype == 1 ? AF_INET : AF_INET6, len = qtype == 1 ? 4 : 16;
		if (!txt || inet_pton(fam, txt, addr) != 1)
			break;
		put16(out + p, 0xc00c);
		put16(out + p + 2, qtype);
		put16(out + p + 4, 1);
		out[p + 6] = (unsigned char)(z->ttl >> 24);
		out[p + 7] = (unsigned char)(z->ttl >> 16);
		out[p + 8] = (unsigned char)(z->ttl >> 8);
		out[p + 9] = (unsigned char)z->ttl;
		put16(out + p + 10, (unsigned)len);
		memcpy(out + p + 12, addr, (size_t)len);
		p += 12 + (size_t)len;
		an++;
	}
	put16(out + 6, (unsigned)an);
	sendto(fd, out, p, 0, (struct sockaddr *)&from, flen);
}

/* ---- fixture ------------------------------------------------------------------------ */

struct fix {
	struct event_base *base;
	struct responder rs;
	struct dns *dns;
	char resolver[64];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	f->base = event_base_new();
	f->rs.fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(f->rs.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f->rs.fd, (struct sockaddr *)&sin, &sl), 0);
	evutil_make_socket_nonblocking(f->rs.fd);
	f->rs.ev = event_new(f->base, f->rs.fd, EV_READ | EV_PERSIST, responder_cb, &f->rs);
	event_add(f->rs.ev, NULL);
	snprintf(f->resolver, sizeof(f->resolver), "127.0.0.1:%d", ntohs(sin.sin_port));
	f->dns = dns_new(f->base, f->resolver, 64);
	assert_non_null(f->dns);
	/* tests must not depend on the machine's /etc/hosts */
	assert_int_equal(dns_load_hosts(f->dns, "/nonexistent/hosts"), 0);
	for (size_t k = 0; k < NZONE; k++)
		zone[k].queries = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	dns_free(f->dns);
	event_free(f->rs.ev);
	close(f->rs.fd);
	event_base_free(f->base);
	free(f);
	return 0;
}

struct result {
	int called, err, n;
	char msg[64];
	char addrs[DNS_MAX_ADDRS][64];    /* "ip port" */
	struct fix *f;
	int free_dns;                     /* the callback frees the dns */
};

static void result_cb(int err, const char *errmsg, const struct sockaddr_storage *addrs, int n,
                      void *arg)
{
	struct result *r = arg;
	r->called++;
	r->err = err;
	r->n = n;
	snprintf(r->msg, sizeof(r->msg), "%s", errmsg);
	for (int i = 0; i < n && i < DNS_MAX_ADDRS; i++) {
		char ip[INET6_ADDRSTRLEN];
		int port;
		if (addrs[i].ss_family == AF_INET) {
			const struct sockaddr_in *s = (const struct sockaddr_in *)&addrs[i];
			inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
			port = ntohs(s->sin_port);
		} else {
			const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&addrs[i];
			inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
			port = ntohs(s->sin6_port);
		}
		snprintf(r->addrs[i], sizeof(r->addrs[i]), "%s %d", ip, port);
	}
	if (r->free_dns) {
		dns_free(r->f->dns);
		r->f->dns = NULL;
	}
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Runs the loop until every result has been called back or ms pass. */
static void run_until(struct fix *f, struct result **rs, int n, int ms)
{
	struct timeval tv = { 0, 10000 };
	for (int waited = 0; waited < ms; waited += 10) {
		int done = 1;
		for (int i = 0; i < n; i++)
			done &= rs[i]->called > 0;
		if (done && n > 0)
			return;
		event_base_once(f->base, -1, EV_TIMEOUT, stop_cb, f->base, &tv);
		event_base_dispatch(f->base);
	}
}

static void resolve_one(struct fix *f, const char *host, int port, struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	assert_non_null(dns_resolve(f->dns, host, port, result_cb, r));
	assert_int_equal(r->called, 0);           /* never from inside dns_resolve */
	run_until(f, &r, 1, 3000);
	assert_int_equal(r->called, 1);
}

static int queries(const char *name)
{
	for (size_t k = 0; k < NZONE; k++)
		if (strcmp(zone[k].name, name) == 0)
			return zone[k].queries;
	return -1;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_01_literals(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "192.0.2.77", 8080, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.addrs[0], "192.0.2.77 8080");
	resolve_one(f, "[::1]", 443, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.addrs[0], "::1 443");
	resolve_one(f, "2001:db8::5", 80, &r);
	assert_string_equal(r.addrs[0], "2001:db8::5 80");
	resolve_one(f, "[::zz]", 80, &r);
	assert_int_equal(r.err, DNS_ERR_FORMAT);
	resolve_one(f, "bad host!", 80, &r);
	assert_int_equal(r.err, DNS_ERR_FORMAT);
	assert_string_equal(r.msg, "invalid host name");
	assert_int_equal(f->rs.total, 0);         /* no query for any of them */
}

static void test_02_localhost(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "localhost", 80, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.addrs[0], "127.0.0.1 80");
	assert_string_equal(r.addrs[1], "::1 80");
	resolve_one(f, "LocalHost.", 81, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(f->rs.total, 0);
}

static void test_03_a_and_aaaa(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "both.test", 443, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.addrs[0], "192.0.2.1 443");
	assert_string_equal(r.addrs[1], "192.0.2.2 443");
	assert_string_equal(r.addrs[2], "2001:db8::1 443");
	assert_int_equal(queries("both.test"), 2);
	resolve_one(f, "v4only.test", 80, &r);      /* AAAA: no data */
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.addrs[0], "192.0.2.9 80");
}

static void test_04_nxdomain_and_nodata(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "nx.test", 80, &r);
	assert_int_equal(r.err, DNS_ERR_NOTEXIST);
	assert_string_equal(r.msg, "no such host");
	assert_int_equal(r.n, 0);
	resolve_one(f, "nodata.test", 80, &r);
	assert_int_equal(r.err, DNS_ERR_NODATA);
	assert_string_equal(r.msg, "no address for host");
	/* negative answers are cached briefly */
	int before = queries("nx.test");
	resolve_one(f, "nx.test", 80, &r);
	assert_int_equal(r.err, DNS_ERR_NOTEXIST);
	assert_int_equal(queries("nx.test"), before);
}

static void test_05_cache_hit(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(queries("both.test"), 2);
	assert_int_equal(dns_cache_count(f->dns), 1);
	resolve_one(f, "Both.Test.", 8443, &r);     /* cached, answered with the new port */
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.addrs[0], "192.0.2.1 8443");
	assert_string_equal(r.addrs[2], "2001:db8::1 8443");
	assert_int_equal(queries("both.test"), 2);
}

static void test_06_ttl_expiry(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "short.test", 80, &r);
	assert_int_equal(r.err, 0);
	int q = queries("short.test");
	resolve_one(f, "short.test", 80, &r);
	assert_int_equal(queries("short.test"), q);  /* still fresh */
	usleep(1200 * 1000);                         /* TTL 1 s */
	resolve_one(f, "short.test", 80, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(queries("short.test"), 2 * q);
}

static void test_07_cancel(void **state)
{
	struct fix *f = *state;
	struct result r1, r2, r3;
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	struct dns_req *a = dns_resolve(f->dns, "cancel.test", 80, result_cb, &r1);
	struct dns_req *b = dns_resolve(f->dns, "cancel.test", 81, result_cb, &r2);
	struct dns_req *c = dns_resolve(f->dns, "127.0.0.1", 80, result_cb, &r3);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	dns_cancel(a);
	dns_cancel(c);
	struct result *rp = &r2;
	run_until(f, &rp, 1, 3000);
	assert_int_equal(r1.called, 0);
	assert_int_equal(r3.called, 0);
	assert_int_equal(r2.called, 1);
	assert_string_equal(r2.addrs[0], "192.0.2.4 81");
	assert_int_equal(queries("cancel.test"), 2);   /* the two requests shared a lookup */

	/* cancelling every waiter still lets the lookup finish and fill the cache */
	memset(&r1, 0, sizeof(r1));
	a = dns_resolve(f->dns, "v4only.test", 80, result_cb, &r1);
	dns_cancel(a);
	run_until(f, NULL, 0, 300);
	assert_int_equal(r1.called, 0);
	assert_int_equal(queries("v4only.test"), 2);
	resolve_one(f, "v4only.test", 80, &r1);
	assert_int_equal(queries("v4only.test"), 2);
}

static void test_08_timeout(void **state)
{
	struct fix *f = *state;
	struct result r;
	assert_int_equal(dns_set_timeout(f->dns, 0.2, 1), 0);
	assert_int_equal(dns_set_timeout(f->dns, 0, 1), -1);
	resolve_one(f, "drop.test", 80, &r);
	assert_int_equal(r.err, DNS_ERR_TIMEOUT);
	assert_string_equal(r.msg, "timeout");
}

static void test_09_hosts_file(void **state)
{
	struct fix *f = *state;
	char path[] = "/tmp/quell-test-hosts-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment\n127.0.0.1 localhost\n192.0.2.50  Intranet.Example  alias # x\n"
	                   "2001:db8::50 intranet.example\nnot-an-ip foo\n\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(dns_load_hosts(f->dns, path), 0);
	unlink(path);
	struct result r;
	resolve_one(f, "intranet.example", 80, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.addrs[0], "192.0.2.50 80");
	assert_string_equal(r.addrs[1], "2001:db8::50 80");
	resolve_one(f, "alias", 80, &r);
	assert_int_equal(r.n, 1);
	resolve_one(f, "foo", 80, &r);             /* not from the bad line: a query */
	assert_int_equal(r.err, DNS_ERR_NOTEXIST);
	assert_int_equal(f->rs.total, 2);
}

static void test_10_lru_bound(void **state)
{
	struct fix *f = *state;
	dns_free(f->dns);
	f->dns = dns_new(f->base, f->resolver, 2);
	assert_non_null(f->dns);
	dns_load_hosts(f->dns, "/nonexistent");
	struct result r;
	resolve_one(f, "both.test", 80, &r);
	resolve_one(f, "v4only.test", 80, &r);
	resolve_one(f, "both.test", 80, &r);       /* hit: both.test most recent */
	resolve_one(f, "cancel.test", 80, &r);     /* evicts v4only.test */
	assert_int_equal(dns_cache_count(f->dns), 2);
	int qb = queries("both.test"), qv = queries("v4only.test");
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(queries("both.test"), qb);
	resolve_one(f, "v4only.test", 80, &r);
	assert_int_equal(queries("v4only.test"), qv + 2);
}

static void test_11_free_with_pending(void **state)
{
	struct fix *f = *state;
	struct result r1, r2;
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	assert_non_null(dns_resolve(f->dns, "free.test", 80, result_cb, &r1));
	assert_non_null(dns_resolve(f->dns, "10.0.0.1", 80, result_cb, &r2));
	dns_free(f->dns);
	f->dns = NULL;
	run_until(f, NULL, 0, 200);                /* orphaned queries finish quietly */
	assert_int_equal(r1.called, 0);
	assert_int_equal(r2.called, 0);
	dns_free(NULL);
}

static void test_12_free_from_callback(void **state)
{
	struct fix *f = *state;
	struct result r1, r2;
	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	r1.f = r2.f = f;
	r1.free_dns = r2.free_dns = 1;
	assert_non_null(dns_resolve(f->dns, "both.test", 80, result_cb, &r1));
	assert_non_null(dns_resolve(f->dns, "both.test", 80, result_cb, &r2));
	run_until(f, NULL, 0, 300);
	assert_int_equal(r1.called + r2.called, 1);   /* the second is dropped */
	assert_null(f->dns);
}

static void test_13_bad_resolver(void **state)
{
	struct fix *f = *state;
	assert_null(dns_new(f->base, "not an address", 16));
	assert_null(dns_new(f->base, "127.0.0.1:99999", 16));
	struct dns *d = dns_new(f->base, "[::1]:5353", 0);     /* IPv6 resolver, no cache */
	assert_non_null(d);
	assert_int_equal(dns_cache_count(d), 0);
	dns_free(d);
}

/* A second responder on its own port (same zone), for dns_set_resolver. */
static void responder_open(struct fix *f, struct responder *rs, char *resolver, size_t len)
{
	rs->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(rs->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(rs->fd, (struct sockaddr *)&sin, &sl), 0);
	evutil_make_socket_nonblocking(rs->fd);
	rs->ev = event_new(f->base, rs->fd, EV_READ | EV_PERSIST, responder_cb, rs);
	event_add(rs->ev, NULL);
	snprintf(resolver, len, "127.0.0.1:%d", ntohs(sin.sin_port));
}

static void test_14_set_resolver(void **state)
{
	struct fix *f = *state;
	struct responder rs2 = { 0 };
	char resolver2[64];
	struct result r;
	responder_open(f, &rs2, resolver2, sizeof resolver2);
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(r.err, 0);
	int first = f->rs.total;
	assert_true(first > 0);
	assert_int_equal(dns_set_resolver(f->dns, resolver2), 0);
	assert_int_equal(dns_cache_count(f->dns), 0);     /* old answers dropped */
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(f->rs.total, first);             /* not asked again */
	assert_true(rs2.total > 0);
	/* a bad address changes nothing */
	assert_int_equal(dns_set_resolver(f->dns, "not an address"), -1);
	int second = rs2.total;
	resolve_one(f, "v4only.test", 80, &r);
	assert_int_equal(r.err, 0);
	assert_true(rs2.total > second);
	assert_int_equal(f->rs.total, first);
	/* a query in flight moves to the new server: the old one drops it */
	struct zone_entry *drop = &zone[0];
	while (strcmp(drop->name, "drop.test") != 0)
		drop++;
	drop->drop = 1;
	assert_int_equal(dns_set_resolver(f->dns, f->resolver), 0);
	memset(&r, 0, sizeof r);
	assert_non_null(dns_resolve(f->dns, "drop.test", 80, result_cb, &r));
	struct result *rp = &r;
	run_until(f, &rp, 1, 100);                        /* sent to the first responder */
	assert_int_equal(r.called, 0);
	drop->drop = 0;
	second = rs2.total;
	assert_int_equal(dns_set_resolver(f->dns, resolver2), 0);
	run_until(f, &rp, 1, 3000);
	assert_int_equal(r.called, 1);
	assert_true(rs2.total > second);                  /* resent to the second */
	event_free(rs2.ev);
	close(rs2.fd);
}

static void test_15_set_cache_size(void **state)
{
	struct fix *f = *state;
	struct result r;
	resolve_one(f, "both.test", 80, &r);
	resolve_one(f, "v4only.test", 80, &r);
	assert_int_equal(dns_cache_count(f->dns), 2);
	dns_set_cache_size(f->dns, 64);                    /* unchanged: kept */
	assert_int_equal(dns_cache_count(f->dns), 2);
	dns_set_cache_size(f->dns, 1);
	assert_int_equal(dns_cache_count(f->dns), 0);
	resolve_one(f, "both.test", 80, &r);
	resolve_one(f, "v4only.test", 80, &r);
	assert_int_equal(dns_cache_count(f->dns), 1);      /* the new bound holds */
	dns_set_cache_size(f->dns, 0);
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(dns_cache_count(f->dns), 0);      /* no cache at all */
	int q = queries("both.test");
	resolve_one(f, "both.test", 80, &r);
	assert_int_equal(queries("both.test"), q + 2);
}

/* Writes text to a new temporary file; its path goes to path (32 bytes). */
static void temp_hosts(char *path, const char *text)
{
	strcpy(path, "/tmp/quell-test-hosts-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s %d", ip, ntohs(s->sin_port));
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "%s %d", ip, ntohs(s->sin6_port));
	}
}

/* The shared table on its own: names and aliases without case or a
 * trailing dot, IPv4 before IPv6, a name's addresses in file order,
 * comments and malformed lines skipped; literals and localhost answered as
 * dns_resolve does; the system table is one object for every caller. */
static void test_16_hosts_table(void **state)
{
	char path[32], a[96];
	temp_hosts(path, "# comment\n2001:db8::7 Multi.Example\n192.0.2.72 multi.example\n"
	                 "192.0.2.71\tMULTI.example. other # trailing\n"
	                 "bad-address name.example\n192.0.2.80 name.example\n");
	struct dns_hosts *h = dns_hosts_load(path);
	unlink(path);
	assert_non_null(h);
	struct sockaddr_storage ss[8];
	assert_int_equal(dns_hosts_lookup(h, "multi.EXAMPLE.", 443, ss, 8), 3);
	addr_text(&ss[0], a, sizeof(a));
	assert_string_equal(a, "192.0.2.72 443");
	addr_text(&ss[1], a, sizeof(a));
	assert_string_equal(a, "192.0.2.71 443");
	addr_text(&ss[2], a, sizeof(a));
	assert_string_equal(a, "2001:db8::7 443");
	assert_int_equal(dns_hosts_lookup(h, "multi.example", 443, ss, 1), 1);   /* bounded */
	assert_int_equal(dns_hosts_lookup(h, "other", 80, ss, 8), 1);
	assert_int_equal(dns_hosts_lookup(h, "name.example", 80, ss, 8), 1);
	addr_text(&ss[0], a, sizeof(a));
	assert_string_equal(a, "192.0.2.80 80");
	assert_int_equal(dns_hosts_lookup(h, "comment", 80, ss, 8), 0);
	assert_int_equal(dns_hosts_lookup(h, "nowhere.example", 80, ss, 8), 0);
	assert_int_equal(dns_hosts_lookup(h, "bad name", 80, ss, 8), 0);
	assert_int_equal(dns_hosts_lookup(h, "[2001:db8::1]", 80, ss, 8), 1);
	assert_int_equal(dns_hosts_lookup(NULL, "192.0.2.1", 80, ss, 8), 1);
	assert_int_equal(dns_hosts_lookup(NULL, "db.localhost", 80, ss, 8), 2);
	dns_hosts_release(h);
	dns_hosts_release(NULL);

	h = dns_hosts_load("/nonexistent/hosts");         /* missing: empty */
	assert_non_null(h);
	assert_int_equal(dns_hosts_lookup(h, "multi.example", 80, ss, 8), 0);
	dns_hosts_release(h);

	struct dns_hosts *s1 = dns_hosts_system(), *s2 = dns_hosts_system();
	assert_non_null(s1);
	assert_ptr_equal(s1, s2);                         /* parsed once, shared */
	dns_hosts_release(s1);
	dns_hosts_release(s2);
}

/* A big ad-blocking hosts file: every name found, the 200 000 names bound
 * kept, parsed in well under a second. */
static void test_17_big_hosts_file(void **state)
{
	char path[] = "/tmp/quell-test-hosts-XXXXXX", name[64];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	for (int i = 0; i < 200100; i++)
		fprintf(f, "0.0.0.0 ads%d.tracker%d.example\n", i, i % 977);
	fclose(f);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct dns_hosts *h = dns_hosts_load(path);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	unlink(path);
	assert_non_null(h);
	double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("200 000-name hosts file parsed in %.0f ms\n", ms);
	assert_true(ms < 5000);
	struct sockaddr_storage ss[2];
	for (int i = 0; i < 200000; i += 19999) {
		snprintf(name, sizeof(name), "ads%d.tracker%d.example", i, i % 977);
		assert_int_equal(dns_hosts_lookup(h, name, 80, ss, 2), 1);
	}
	snprintf(name, sizeof(name), "ads%d.tracker%d.example", 200050, 200050 % 977);
	assert_int_equal(dns_hosts_lookup(h, name, 80, ss, 2), 0);   /* past the bound */
	dns_hosts_release(h);
}

/* A reload swaps a worker's table for the shared /etc/hosts one. */
static void test_18_reload_hosts(void **state)
{
	struct fix *f = *state;
	char path[32];
	temp_hosts(path, "192.0.2.77 nx.test\n");
	assert_int_equal(dns_load_hosts(f->dns, path), 0);
	unlink(path);
	struct result r;
	resolve_one(f, "nx.test", 80, &r);
	assert_int_equal(r.err, 0);
	assert_string_equal(r.addrs[0], "192.0.2.77 80");
	assert_int_equal(f->rs.total, 0);
	assert_int_equal(dns_reload_hosts(f->dns), 0);     /* the machine's table */
	resolve_one(f, "nx.test", 80, &r);
	assert_int_equal(r.err, DNS_ERR_NOTEXIST);
	assert_true(f->rs.total > 0);
	assert_int_equal(dns_load_hosts(f->dns, "/nonexistent/dir/hosts"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_01_literals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_02_localhost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_03_a_and_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_04_nxdomain_and_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_05_cache_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_06_ttl_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_07_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_08_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_09_hosts_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_10_lru_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_11_free_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12_free_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_13_bad_resolver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_14_set_resolver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_15_set_cache_size, setup, teardown),
		cmocka_unit_test(test_16_hosts_table),
		cmocka_unit_test(test_17_big_hosts_file),
		cmocka_unit_test_setup_teardown(test_18_reload_hosts, setup, teardown),
	};
	return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
