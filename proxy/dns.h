/*
 * dns: asynchronous host name resolution for one worker's event_base.
 *
 * One struct dns per worker thread (no locks): evdns queries A and AAAA in
 * parallel, results are cached (bounded, LRU, honouring the answers' TTLs;
 * "no such host" and "no address" answers for DNS_NEGATIVE_TTL seconds) and
 * concurrent lookups of one name share one pair of queries.  IP literals
 * ("192.0.2.1", "::1", "[::1]"), "localhost" (and *.localhost) and names
 * from the hosts file (/etc/hosts) are answered without a query.  The hosts
 * file is parsed into one immutable table shared by every worker (struct
 * dns_hosts, reference-counted), read again only when the file changed.
 *
 * Why not evdns_getaddrinfo: it reports no TTL, so a cache could not honour
 * them; and evdns consults its hosts table only from evdns_getaddrinfo, so
 * this module reads the hosts file itself.
 *
 * The callback is always called from the event loop, never from inside
 * dns_resolve, exactly once unless the request is cancelled or the dns
 * freed first.  Addresses: IPv4 first, then IPv6, each carrying the port.
 */
#ifndef QUELL_DNS_H
#define QUELL_DNS_H

#include <sys/socket.h>

struct event_base;
struct dns;
struct dns_req;
struct dns_hosts;

#define DNS_MAX_ADDRS 16         /* per answer: up to 8 IPv4 and 8 IPv6 */
#define DNS_NEGATIVE_TTL 5       /* seconds a negative answer is cached */
#define DNS_MAX_TTL 3600         /* longer TTLs are cut to this */

/* err: 0 on success, else a DNS_ERR_* code of <event2/dns.h> (DNS_ERR_NOTEXIST
 * "no such host", DNS_ERR_NODATA "no address for host", DNS_ERR_TIMEOUT
 * "timeout", DNS_ERR_SERVERFAILED "server failure", DNS_ERR_FORMAT "invalid
 * host name", DNS_ERR_UNKNOWN for out of memory...).  errmsg is human
 * readable (static).  addrs (NULL on error) is valid during the call only.
 * The request is finished when the callback runs: do not cancel it there. */
typedef void (*dns_cb)(int err, const char *errmsg, const struct sockaddr_storage *addrs,
                       int naddrs, void *arg);

/* Creates the resolver.  resolver: "ADDR[:PORT]" (IPv6 as "[ADDR]:PORT") or
 * NULL to use /etc/resolv.conf; cache_size: cached names (0 disables the
 * cache).  Holds the shared /etc/hosts table (dns_hosts_system).  NULL on
 * error (bad resolver address, ENOMEM, hosts file unreadable). */
struct dns *dns_new(struct event_base *base, const char *resolver, int cache_size);

/* Frees the resolver; pending requests are dropped without calling back.
 * May be called from any callback, a dns_cb included.  Queries still in
 * flight are cancelled; their last few bytes of state are released when the
 * event loop next runs (evdns calls back from the loop), so free the dns
 * before the loop's last run to leave nothing behind. */
void dns_free(struct dns *d);

/* Replaces the hosts table with the file at path, parsed for d alone (the
 * default is the shared /etc/hosts table; a missing file gives an empty
 * table).  0, or -1 on a read error / ENOMEM (the old table is kept then). */
int dns_load_hosts(struct dns *d, const char *path);

/* Switches d to the current shared /etc/hosts table (a reload: the file is
 * parsed again only when it changed).  Call from d's thread.  0, or -1 on a
 * read error / ENOMEM (the old table is kept then). */
int dns_reload_hosts(struct dns *d);

/* Hosts tables.  dns_hosts_load parses the hosts file at path ("ADDR NAME
 * [ALIAS...]", IPv4 and IPv6, '#' comments; names matched without case or a
 * trailing dot; at most 200 000 names; a missing file is an empty table).
 * dns_hosts_system returns the /etc/hosts table shared by the whole process,
 * parsed by the first call and again only when the file changed (inode,
 * size, mtime).  Both return a reference the caller releases, or NULL on a
 * read error / ENOMEM.  Tables never change: any thread may read one without
 * a lock.  dns_hosts_release(NULL) is a no-op; the last release frees. */
struct dns_hosts *dns_hosts_load(const char *path);
struct dns_hosts *dns_hosts_system(void);
void dns_hosts_release(struct dns_hosts *h);

/* Answers host as dns_resolve does without a query: an IP literal, names of
 * the table h (may be NULL), "localhost" and *.localhost.  Writes up to max
 * addresses carrying port, IPv4 first.  Returns how many; 0 when host needs
 * a DNS query (or is not a valid name). */
int dns_hosts_lookup(const struct dns_hosts *h, const char *host, int port,
                     struct sockaddr_storage *addrs, int max);

/* Sends new lookups (and those in flight) to resolver ("ADDR[:PORT]", NULL:
 * the servers of /etc/resolv.conf), and empties the cache, whose answers
 * came from the old servers.  Timeout and attempts are kept.  0, or -1: a
 * bad address (nothing changed), or resolv.conf unreadable (libevent then
 * falls back to 127.0.0.1). */
int dns_set_resolver(struct dns *d, const char *resolver);

/* Changes the number of cached names (0 disables the cache).  A change
 * empties the cache. */
void dns_set_cache_size(struct dns *d, int cache_size);

/* Per-query timeout (seconds, may be fractional, > 0) and attempts (>= 1);
 * defaults 3 s and 2 attempts.  0 or -1 on a bad value. */
int dns_set_timeout(struct dns *d, double seconds, int attempts);

/* Starts resolving host (a name or an IP literal, IPv6 possibly in brackets)
 * for port.  The result goes to cb(arg) later.  Returns the request, or NULL
 * on ENOMEM (cb will not be called then). */
struct dns_req *dns_resolve(struct dns *d, const char *host, int port, dns_cb cb, void *arg);

/* Cancels a request whose callback has not run yet; cb will not be called.
 * The lookup itself goes on and fills the cache. */
void dns_cancel(struct dns_req *r);

/* Number of cached names (for the status page and tests). */
int dns_cache_count(const struct dns *d);

#endif
