/*
 * dns: evdns lookups with a small TTL cache, hosts file and IP literals.
 *
 * Objects: a lookup is one name being resolved (an A and an AAAA query in
 * flight); requests (dns_req) wait on a lookup, or, when the answer is known
 * at once (literal, localhost, hosts, cache), carry the answer themselves
 * and wait for a zero-timeout event so the callback still comes from the
 * loop.  A lookup lives until both evdns callbacks arrived, even when all
 * its requests were cancelled: evdns always calls back for a started query
 * (see evdns_cancel_request), so freeing it earlier would leave evdns a
 * dangling argument.
 *
 * The hosts file is parsed once per change of the file into an immutable,
 * reference-counted table (struct dns_hosts) that every worker's dns holds
 * and only reads: a big ad-blocking hosts file costs its size once, not
 * once per worker.  evdns is never given the file (see dns_new).
 */
#include "proxy/dns.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "proxy/log.h"

#define DNS_MAGIC 0x444e5331u            /* "DNS1" */
#define DNS_MAX4 8
#define DNS_MAX6 8
#define DNS_HOSTS_FILE "/etc/hosts"
#define DNS_HOSTS_MAX_ENTRIES 200000     /* big ad-blocking hosts files exist */
#define DNS_HOSTS_MAX_LINE 4096

/* An answer without ports: what the cache and the hosts table hold. */
struct dns_result {
	int err;
	int n4, n6;
	struct in_addr a4[DNS_MAX4];
	struct in6_addr a6[DNS_MAX6];
};

struct cache_entry {
	char *host;
	uint32_t hash;
	int64_t expires;             /* CLOCK_MONOTONIC milliseconds */
	struct dns_result res;
	struct cache_entry *hnext;   /* hash chain */
	struct cache_entry *lru_prev, *lru_next;   /* most recent at head */
};

struct lookup;

/* evdns callback argument: which lookup and family. */
struct ticket {
	struct lookup *lk;
	int family;
};

struct lookup {
	struct dns *d;
	char host[256];
	struct evdns_request *q4, *q6;
	struct ticket t4, t6;
	int pending;                 /* evdns callbacks still to come */
	int err4, err6;
	int ttl;                     /* min TTL of the successful answers, -1 none */
	struct dns_result res;
	struct dns_req *waiters;
	struct lookup *prev, *next;  /* in d->lookups */
};

struct dns_req {
	struct dns *d;
	struct lookup *lk;           /* waiting on a lookup, or NULL */
	struct event *ev;            /* immediate answer: zero-timeout event */
	struct dns_result res;       /* the immediate answer */
	int port;
	dns_cb cb;
	void *arg;
	struct dns_req *prev, *next; /* in lk->waiters or d->immediate */
};

struct hosts_entry {            /* 24 bytes: 200 000 names are 4.8 MB */
	uint32_t name;               /* offset in the table's names */
	uint32_t family;
	union { struct in_addr a4; struct in6_addr a6; } u;
};

/* Immutable once built; shared by reference between threads. */
struct dns_hosts {
	atomic_int refs;
	size_t n;
	struct hosts_entry *tab;     /* sorted by name, then family */
	char *names;                 /* one allocation for all names */
	/* the file it was read from, for dns_hosts_system's change check */
	int missing;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct dns {
	unsigned magic;
	struct event_base *base;
	struct evdns_base *evdns;
	struct lookup *lookups;
	struct dns_req *immediate;
	double timeout_s;            /* dns_set_timeout's values, for dns_set_resolver */
	int attempts;
	int delivering;              /* inside lookup_complete's callback loop */
	int dying;                   /* dns_free called while delivering */

	struct cache_entry **buckets;
	size_t n_buckets;            /* power of two; buckets allocated by the first
	                              * cache_put (an idle worker keeps 8 bytes a slot) */
	struct cache_entry *lru_head, *lru_tail;
	int cache_size, cache_count;

	struct dns_hosts *hosts;     /* a reference; never NULL after dns_new */
};

/* ---- small helpers ------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;                /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void list_push(struct dns_req **head, struct dns_req *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head)
		(*head)->prev = r;
	*head = r;
}

static void list_remove(struct dns_req **head, struct dns_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static const char *err_text(int err)
{
	switch (err) {
	case 0: return "ok";
	case DNS_ERR_NOTEXIST: return "no such host";
	case DNS_ERR_NODATA: return "no address for host";
	case DNS_ERR_TIMEOUT: return "timeout";
	case DNS_ERR_SERVERFAILED: return "server failure";
	case DNS_ERR_REFUSED: return "refused by the resolver";
	case DNS_ERR_FORMAT: return "invalid host name";
	case DNS_ERR_UNKNOWN: return "resolver error";
	default: return evdns_err_to_string(err);
	}
}

/* Normalizes host into out (lowercase, no brackets, no trailing dot).
 * Returns 0, or -1 when it is not a plausible host name or literal. */
static int normalize_host(const char *host, char *out, size_t cap)
{
	size_t n = strlen(host), i;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host++;
		n -= 2;
	}
	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n >= cap || n > 253)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_' && c != ':')
			return -1;
		out[i] = (char)tolower(c);
	}
	out[n] = 0;
	return 0;
}

static int hosts_find(const struct dns_hosts *h, const char *name, struct dns_result *r);

/* Fills r from an IP literal, "localhost" or the hosts table.  1 when the
 * name was answered, 0 when it needs the cache or a query. */
static int answer_locally(const struct dns_hosts *h, const char *name, struct dns_result *r)
{
	memset(r, 0, sizeof(*r));
	if (inet_pton(AF_INET, name, &r->a4[0]) == 1) {
		r->n4 = 1;
		return 1;
	}
	if (strchr(name, ':'))
		return inet_pton(AF_INET6, name, &r->a6[0]) == 1 ? (r->n6 = 1) :
		       (r->err = DNS_ERR_FORMAT, 1);
	if (h && hosts_find(h, name, r))
		return 1;
	size_t n = strlen(name);
	if (strcmp(name, "localhost") == 0 || (n > 10 && strcmp(name + n - 10, ".localhost") == 0)) {
		r->a4[0].s_addr = htonl(INADDR_LOOPBACK);
		r->a6[0] = in6addr_loopback;
		r->n4 = r->n6 = 1;
		return 1;
	}
	return 0;
}

/* ---- cache --------------------------------------------------------------------- */

static void lru_unlink(struct dns *d, struct cache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		d->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		d->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct dns *d, struct cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = d->lru_head;
	if (d->lru_head)
		d->lru_head->lru_prev = e;
	d->lru_head = e;
	if (!d->lru_tail)
		d->lru_tail = e;
}

static void cache_remove(struct dns *d, struct cache_entry *e)
{
	struct cache_entry **pp = &d->buckets[e->hash & (d->n_buckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(d, e);
	free(e->host);
	free(e);
	d->cache_count--;
}

/* Returns the live entry for name (moved to the LRU head), or NULL; an
 * expired entry is dropped. */
static struct cache_entry *cache_get(struct dns *d, const char *name)
{
	if (!d->buckets)
		return NULL;
	uint32_t h = hash_str(name);
	struct cache_entry *e = d->buckets[h & (d->n_buckets - 1)];
	while (e && (e->hash != h || strcmp(e->host, name) != 0))
		e = e->hnext;
	if (!e)
		return NULL;
	if (e->expires <= now_ms()) {
		cache_remove(d, e);
		return NULL;
	}
	lru_unlink(d, e);
	lru_push(d, e);
	return e;
}

/* Stores an answer for ttl seconds (replacing an older one, evicting the
 * least recently used entry when full).  Failure to allocate just means
 * no caching. */
static void cache_put(struct dns *d, const char *name, const struct dns_result *res, int ttl)
{
	if (!d->n_buckets || ttl <= 0)
		return;
	if (!d->buckets && !(d->buckets = calloc(d->n_buckets, sizeof(*d->buckets))))
		return;
	struct cache_entry *e = cache_get(d, name);
	if (e)
		cache_remove(d, e);
	if (d->cache_count >= d->cache_size && d->lru_tail)
		cache_remove(d, d->lru_tail);
	e = calloc(1, sizeof(*e));
	if (!e || !(e->host = strdup(name))) {
		free(e);
		return;
	}
	e->hash = hash_str(name);
	e->expires = now_ms() + 1000 * (int64_t)(ttl > DNS_MAX_TTL ? DNS_MAX_TTL : ttl);
	e->res = *res;
	struct cache_entry **b = &d->buckets[e->hash & (d->n_buckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_push(d, e);
	d->cache_count++;
}

int dns_cache_count(const struct dns *d)
{
	assert(d->magic == DNS_MAGIC);
	return d->cache_count;
}

/* ---- hosts file ------------------------------------------------------------------ */

/* The table being built: entries' name fields are offsets into names. */
struct hosts_build {
	struct hosts_entry *tab;
	size_t n, cap;
	char *names;
	size_t len, ncap;
};

/* One line "ADDR NAME [ALIAS...] [# comment]" into b; names are normalized
 * as queries are (lower case, no trailing dot).  0, or -1 on ENOMEM.
 * Malformed lines and names are skipped, as libc does. */
static int hosts_line(char *line, struct hosts_build *b)
{
	char *hash = strchr(line, '#'), *save = NULL, *tok;
	if (hash)
		*hash = 0;
	char *addr = strtok_r(line, " \t\r\n", &save);
	struct hosts_entry proto;
	memset(&proto, 0, sizeof(proto));
	if (!addr)
		return 0;
	if (inet_pton(AF_INET, addr, &proto.u.a4) == 1)
		proto.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &proto.u.a6) == 1)
		proto.family = AF_INET6;
	else
		return 0;
	while ((tok = strtok_r(NULL, " \t\r\n", &save)) && b->n < DNS_HOSTS_MAX_ENTRIES) {
		char name[256];
		if (normalize_host(tok, name, sizeof(name)) != 0)
			continue;
		size_t l = strlen(name) + 1;
		if (b->len + l > b->ncap) {
			size_t c = b->ncap ? b->ncap * 2 : 4096;
			while (c < b->len + l)
				c *= 2;
			char *nn = realloc(b->names, c);
			if (!nn)
				return -1;
			b->names = nn;
			b->ncap = c;
		}
		if (b->n == b->cap) {
			size_t c = b->cap ? b->cap * 2 : 64;
			struct hosts_entry *nt = realloc(b->tab, c * sizeof(*nt));
			if (!nt)
				return -1;
			b->tab = nt;
			b->cap = c;
		}
		memcpy(b->names + b->len, name, l);
		proto.name = (uint32_t)b->len;   /* < 200 000 x 254 bytes: fits */
		b->tab[b->n++] = proto;
		b->len += l;
	}
	return 0;
}

/* qsort_r order (glibc's, _GNU_SOURCE): by name, then family, then file
 * order (each entry's copy of its name lies after those of earlier lines),
 * so a name's addresses come out as the file lists them.  names holds the
 * names the entries point into. */
static int hosts_cmp(const void *a, const void *b, void *names)
{
	const struct hosts_entry *x = a, *y = b;
	int c = strcmp((const char *)names + x->name, (const char *)names + y->name);
	if (c == 0)
		c = (int)x->family - (int)y->family;
	return c ? c : (x->name > y->name) - (x->name < y->name);
}

struct dns_hosts *dns_hosts_load(const char *path)
{
	struct hosts_build b = { 0 };
	struct dns_hosts *h = calloc(1, sizeof(*h));
	char line[DNS_HOSTS_MAX_LINE];
	struct stat st;
	if (!h)
		return NULL;
	FILE *f = fopen(path, "re");
	int rc = 0;
	if (!f && errno != ENOENT)
		rc = -1;
	if (rc == 0 && f && fstat(fileno(f), &st) != 0)
		rc = -1;
	while (rc == 0 && f && fgets(line, sizeof(line), f))
		rc = hosts_line(line, &b);
	if (f && ferror(f))
		rc = -1;
	if (f)
		fclose(f);
	if (rc != 0) {
		free(b.tab);
		free(b.names);
		free(h);
		return NULL;
	}
	if (b.n) {
		qsort_r(b.tab, b.n, sizeof(*b.tab), hosts_cmp, b.names);
		/* give back the doubling's slack: the table lives long */
		struct hosts_entry *t = realloc(b.tab, b.n * sizeof(*t));
		char *nm = realloc(b.names, b.len);
		b.tab = t ? t : b.tab;
		b.names = nm ? nm : b.names;
	}
	atomic_init(&h->refs, 1);
	h->n = b.n;
	h->tab = b.tab;
	h->names = b.names;
	h->missing = f == NULL;
	if (f) {
		h->dev = st.st_dev;
		h->ino = st.st_ino;
		h->size = st.st_size;
		h->mtime = st.st_mtim;
	}
	return h;
}

void dns_hosts_release(struct dns_hosts *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	free(h->tab);
	free(h->names);
	free(h);
}

/* 1 when h was read from the file st describes (NULL: no file). */
static int hosts_same_file(const struct dns_hosts *h, const struct stat *st)
{
	if (!st)
		return h->missing;
	return !h->missing && h->dev == st->st_dev && h->ino == st->st_ino &&
	       h->size == st->st_size && h->mtime.tv_sec == st->st_mtim.tv_sec &&
	       h->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static pthread_mutex_t system_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dns_hosts *system_hosts;   /* the last /etc/hosts read; a reference */

struct dns_hosts *dns_hosts_system(void)
{
	struct stat st;
	int exists = stat(DNS_HOSTS_FILE, &st) == 0;
	pthread_mutex_lock(&system_lock);
	struct dns_hosts *h = system_hosts;
	if (!h || !hosts_same_file(h, exists ? &st : NULL)) {
		struct dns_hosts *fresh = dns_hosts_load(DNS_HOSTS_FILE);
		if (fresh) {
			dns_hosts_release(system_hosts);
			system_hosts = h = fresh;
		}
	}
	if (h)
		atomic_fetch_add(&h->refs, 1);
	pthread_mutex_unlock(&system_lock);
	return h;
}

/* Adds h's addresses for name (normalized) to r, up to DNS_MAX4 IPv4 and
 * DNS_MAX6 IPv6, in file order.  1 when there was any, 0 when not. */
static int hosts_find(const struct dns_hosts *h, const char *name, struct dns_result *r)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {            /* the first entry with this name */
		size_t mid = (lo + hi) / 2;
		if (strcmp(h->names + h->tab[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < h->n && strcmp(h->names + h->tab[lo].name, name) == 0; lo++) {
		const struct hosts_entry *e = &h->tab[lo];
		if (e->family == AF_INET && r->n4 < DNS_MAX4)
			r->a4[r->n4++] = e->u.a4;
		else if (e->family == AF_INET6 && r->n6 < DNS_MAX6)
			r->a6[r->n6++] = e->u.a6;
	}
	return r->n4 + r->n6 > 0;
}

/* res's addresses with port into addrs (at most max; IPv4 first).
 * Returns how many. */
static int result_addrs(const struct dns_result *res, int port, struct sockaddr_storage *addrs,
                        int max)
{
	int n = 0;
	for (int i = 0; i < res->n4 && n < max; i++, n++) {
		struct sockaddr_in *s = (struct sockaddr_in *)&addrs[n];
		memset(&addrs[n], 0, sizeof(addrs[n]));
		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		s->sin_addr = res->a4[i];
	}
	for (int i = 0; i < res->n6 && n < max; i++, n++) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&addrs[n];
		memset(&addrs[n], 0, sizeof(addrs[n]));
		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		s->sin6_addr = res->a6[i];
	}
	return n;
}

int dns_hosts_lookup(const struct dns_hosts *h, const char *host, int port,
                     struct sockaddr_storage *addrs, int max)
{
	char name[256];
	struct dns_result r;
	if (normalize_host(host, name, sizeof(name)) != 0 || !answer_locally(h, name, &r) || r.err)
		return 0;
	return result_addrs(&r, port, addrs, max);
}

int dns_load_hosts(struct dns *d, const char *path)
{
	assert(d->magic == DNS_MAGIC);
	struct dns_hosts *h = dns_hosts_load(path);
	if (!h)
		return -1;
	dns_hosts_release(d->hosts);
	d->hosts = h;
	return 0;
}

int dns_reload_hosts(struct dns *d)
{
	assert(d->magic == DNS_MAGIC);
	struct dns_hosts *h = dns_hosts_system();
	if (!h)
		return -1;
	dns_hosts_release(d->hosts);
	d->hosts = h;
	return 0;
}

/* ---- delivering answers ---------------------------------------------------------- */

/* Calls r's callback with res and the port; the request must already be
 * unlinked.  Frees r. */
static void deliver(struct dns_req *r, const struct dns_result *res)
{
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	int n = res->err == 0 ? result_addrs(res, r->port, addrs, DNS_MAX_ADDRS) : 0;
	dns_cb cb = r->cb;
	void *arg = r->arg;
	free(r);
	cb(res->err, err_text(res->err), res->err ? NULL : addrs, n, arg);
}

static void immediate_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *r = arg;
	struct dns_result res = r->res;
	list_remove(&r->d->immediate, r);
	event_free(r->ev);
	deliver(r, &res);
}

static void really_free(struct dns *d);

/* Both queries of lk answered: merge, cache, call every waiter, free lk. */
static void lookup_complete(struct lookup *lk)
{
	struct dns *d = lk->d;
	struct dns_result *res = &lk->res;
	if (res->n4 + res->n6 > 0) {
		res->err = 0;
		cache_put(d, lk->host, res, lk->ttl);
	} else {
		int e4 = lk->err4, e6 = lk->err6;
		/* The most telling error wins; only authoritative negatives are cached. */
		if (e4 == DNS_ERR_NOTEXIST || e6 == DNS_ERR_NOTEXIST)
			res->err = DNS_ERR_NOTEXIST;
		else if (e4 == DNS_ERR_TIMEOUT || e6 == DNS_ERR_TIMEOUT)
			res->err = DNS_ERR_TIMEOUT;
		else if (e4 == DNS_ERR_SERVERFAILED || e6 == DNS_ERR_SERVERFAILED)
			res->err = DNS_ERR_SERVERFAILED;
		else if (e4 == DNS_ERR_NODATA || e4 == 0)
			res->err = (e6 == DNS_ERR_NODATA || e6 == 0) ? DNS_ERR_NODATA : e6;
		else
			res->err = e4;
		if (res->err == DNS_ERR_NOTEXIST || res->err == DNS_ERR_NODATA)
			cache_put(d, lk->host, res, DNS_NEGATIVE_TTL);
	}
	if (lk->prev)
		lk->prev->next = lk->next;
	else
		d->lookups = lk->next;
	if (lk->next)
		lk->next->prev = lk->prev;

	/* A callback may cancel other waiters (they leave the list) or free
	 * the dns (then the rest are dropped in really_free). */
	d->delivering++;
	while (lk->waiters && !d->dying) {
		struct dns_req *r = lk->waiters;
		list_remove(&lk->waiters, r);
		deliver(r, res);
	}
	d->delivering--;
	while (lk->waiters) {
		struct dns_req *r = lk->waiters;
		list_remove(&lk->waiters, r);
		free(r);
	}
	free(lk);
	if (d->dying && !d->delivering)
		really_free(d);
}

static void query_cb(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct ticket *t = arg;
	struct lookup *lk = t->lk;
	struct dns_result *res = &lk->res;
	/* evdns frees the handle after this callback */
	if (t->family == AF_INET) {
		lk->q4 = NULL;
		lk->err4 = result;
		if (result == DNS_ERR_NONE && type == DNS_IPv4_A)
			for (int i = 0; i < count && res->n4 < DNS_MAX4; i++)
				memcpy(&res->a4[res->n4++], (const char *)addresses + 4 * i, 4);
	} else {
		lk->q6 = NULL;
		lk->err6 = result;
		if (result == DNS_ERR_NONE && type == DNS_IPv6_AAAA)
			for (int i = 0; i < count && res->n6 < DNS_MAX6; i++)
				memcpy(&res->a6[res->n6++], (const char *)addresses + 16 * i, 16);
	}
	if (result == DNS_ERR_NONE && count > 0 && (lk->ttl < 0 || ttl < lk->ttl))
		lk->ttl = ttl < 0 ? 0 : ttl;
	if (--lk->pending > 0)
		return;
	if (lk->d)
		lookup_complete(lk);
	else
		free(lk);                /* orphaned by dns_free */
}

/* ---- public API ---------------------------------------------------------------------- */

/* evdns logs through one process-wide hook; without it libevent writes
 * "[msg] Nameserver ... has failed" lines straight to stderr. */
static void evdns_log(int is_warning, const char *msg)
{
	log_msg(is_warning ? LOG_INFO : LOG_DEBUG, "dns: %s", msg);
}

static void evdns_log_install(void)
{
	evdns_set_log_fn(evdns_log);
}

struct dns *dns_new(struct event_base *base, const char *resolver, int cache_size)
{
	struct dns *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	static pthread_once_t log_once = PTHREAD_ONCE_INIT;
	pthread_once(&log_once, evdns_log_install);
	d->magic = DNS_MAGIC;
	d->base = base;
	/* Not EVDNS_BASE_INITIALIZE_NAMESERVERS: that parses resolv.conf with
	 * DNS_OPTION_HOSTSFILE, and evdns would keep a copy of the hosts file
	 * per worker (about 150 bytes a name) that its raw queries never
	 * consult; this module answers from the shared table instead. */
	d->evdns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!d->evdns)
		goto fail;
	if (resolver && evdns_base_nameserver_ip_add(d->evdns, resolver) != 0)
		goto fail;
	if (!resolver)   /* its failures fall back to 127.0.0.1, as evdns_base_new's do */
		evdns_base_resolv_conf_parse(d->evdns, DNS_OPTION_NAMESERVERS | DNS_OPTION_SEARCH |
		                             DNS_OPTION_MISC, "/etc/resolv.conf");
	if (dns_set_timeout(d, 3.0, 2) != 0)
		goto fail;
	dns_set_cache_size(d, cache_size);
	if (!(d->hosts = dns_hosts_system()))
		goto fail;
	return d;
fail:
	dns_free(d);
	return NULL;
}

int dns_set_timeout(struct dns *d, double seconds, int attempts)
{
	assert(d->magic == DNS_MAGIC);
	char t[32], a[16];
	if (!(seconds > 0 && seconds < 3600) || attempts < 1 || attempts > 10)
		return -1;
	snprintf(t, sizeof(t), "%.3f", seconds);
	snprintf(a, sizeof(a), "%d", attempts);
	if (evdns_base_set_option(d->evdns, "timeout:", t) != 0 ||
	    evdns_base_set_option(d->evdns, "attempts:", a) != 0)
		return -1;
	d->timeout_s = seconds;
	d->attempts = attempts;
	return 0;
}

void dns_set_cache_size(struct dns *d, int cache_size)
{
	assert(d->magic == DNS_MAGIC);
	if (cache_size == d->cache_size)
		return;
	while (d->lru_head)
		cache_remove(d, d->lru_head);
	free(d->buckets);
	d->buckets = NULL;
	d->cache_size = cache_size > 0 ? cache_size : 0;
	d->n_buckets = 0;
	if (cache_size > 0)
		for (d->n_buckets = 16; d->n_buckets < (size_t)cache_size; d->n_buckets *= 2)
			;
}

int dns_set_resolver(struct dns *d, const char *resolver)
{
	assert(d->magic == DNS_MAGIC);
	struct sockaddr_storage ss;
	int len = (int)sizeof ss;
	if (resolver && evutil_parse_sockaddr_port(resolver, (struct sockaddr *)&ss, &len) != 0)
		return -1;               /* checked first: the old servers stay */
	/* Suspending keeps the queries in flight; resume sends them again, to
	 * the new servers. */
	evdns_base_clear_nameservers_and_suspend(d->evdns);
	evdns_base_search_clear(d->evdns);
	int rc = 0;
	if (resolver)
		rc = evdns_base_nameserver_ip_add(d->evdns, resolver) == 0 ? 0 : -1;
	else  /* as dns_new: resolv.conf's servers, search list and options */
		rc = evdns_base_resolv_conf_parse(d->evdns, DNS_OPTION_NAMESERVERS | DNS_OPTION_SEARCH |
		                                  DNS_OPTION_MISC, "/etc/resolv.conf") == 0 ? 0 : -1;
	if (dns_set_timeout(d, d->timeout_s, d->attempts) != 0)
		rc = -1;
	evdns_base_resume(d->evdns);
	/* the cached answers came from the old servers */
	while (d->lru_head)
		cache_remove(d, d->lru_head);
	return rc;
}

static void really_free(struct dns *d)
{
	/* Lookups still in flight become orphans: evdns will call back for
	 * each started query (a cancelled one with DNS_ERR_CANCEL, from the
	 * loop), and query_cb frees the orphan then.  Freeing them here could
	 * leave an already scheduled evdns callback a dangling argument. */
	while (d->lookups) {
		struct lookup *lk = d->lookups;
		d->lookups = lk->next;
		while (lk->waiters) {
			struct dns_req *r = lk->waiters;
			list_remove(&lk->waiters, r);
			free(r);
		}
		lk->d = NULL;
		if (lk->q4)
			evdns_cancel_request(d->evdns, lk->q4);
		if (lk->q6)
			evdns_cancel_request(d->evdns, lk->q6);
	}
	if (d->evdns)
		evdns_base_free(d->evdns, 0);
	while (d->immediate) {
		struct dns_req *r = d->immediate;
		list_remove(&d->immediate, r);
		event_free(r->ev);
		free(r);
	}
	while (d->lru_head)
		cache_remove(d, d->lru_head);
	free(d->buckets);
	dns_hosts_release(d->hosts);
	d->magic = 0;
	free(d);
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	assert(d->magic == DNS_MAGIC);
	if (d->delivering) {
		d->dying = 1;            /* lookup_complete finishes the job */
		return;
	}
	really_free(d);
}

/* Queues an already known answer for delivery from the loop. */
static struct dns_req *resolve_now(struct dns *d, struct dns_req *r)
{
	r->ev = event_new(d->base, -1, 0, immediate_cb, r);
	if (!r->ev) {
		free(r);
		return NULL;
	}
	list_push(&d->immediate, r);
	event_active(r->ev, EV_TIMEOUT, 0);
	return r;
}

/* Starts the two queries for name.  NULL on failure. */
static struct lookup *lookup_start(struct dns *d, const char *name)
{
	struct lookup *lk = calloc(1, sizeof(*lk));
	if (!lk)
		return NULL;
	lk->d = d;
	snprintf(lk->host, sizeof(lk->host), "%s", name);
	lk->ttl = -1;
	lk->t4.lk = lk->t6.lk = lk;
	lk->t4.family = AF_INET;
	lk->t6.family = AF_INET6;
	lk->q4 = evdns_base_resolve_ipv4(d->evdns, name, 0, query_cb, &lk->t4);
	if (!lk->q4) {
		free(lk);
		return NULL;
	}
	lk->pending = 1;
	lk->q6 = evdns_base_resolve_ipv6(d->evdns, name, 0, query_cb, &lk->t6);
	if (lk->q6)
		lk->pending++;
	else
		lk->err6 = DNS_ERR_UNKNOWN;      /* the A answer alone decides */
	lk->next = d->lookups;
	if (d->lookups)
		d->lookups->prev = lk;
	d->lookups = lk;
	return lk;
}

struct dns_req *dns_resolve(struct dns *d, const char *host, int port, dns_cb cb, void *arg)
{
	assert(d->magic == DNS_MAGIC);
	struct dns_req *r = calloc(1, sizeof(*r));
	char name[256];
	if (!r)
		return NULL;
	r->d = d;
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	if (normalize_host(host, name, sizeof(name)) != 0) {
		r->res.err = DNS_ERR_FORMAT;
		return resolve_now(d, r);
	}
	if (answer_locally(d->hosts, name, &r->res))
		return resolve_now(d, r);
	struct cache_entry *e = cache_get(d, name);
	if (e) {
		r->res = e->res;
		return resolve_now(d, r);
	}
	struct lookup *lk;
	for (lk = d->lookups; lk && strcmp(lk->host, name) != 0; lk = lk->next)
		;
	if (!lk && !(lk = lookup_start(d, name))) {
		r->res.err = DNS_ERR_UNKNOWN;
		return resolve_now(d, r);
	}
	r->lk = lk;
	list_push(&lk->waiters, r);
	return r;
}

void dns_cancel(struct dns_req *r)
{
	if (!r)
		return;
	if (r->lk) {
		list_remove(&r->lk->waiters, r);
	} else {
		list_remove(&r->d->immediate, r);
		event_free(r->ev);
	}
	free(r);
}
