/*
 * acl: the allow list and the loop check (see acl.h).
 */
#include "proxy/acl.h"
#include "proxy/config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

int acl_allowed(const struct config *cfg, const struct sockaddr *client)
{
	for (int i = 0; i < cfg->n_allow; i++)
		if (config_cidr_match(&cfg->allow[i], client))
			return 1;
	return 0;
}

/* The port of sa (host order), or -1; sets the address bytes (pointing into sa) and their length. */
static int split(const struct sockaddr *sa, const void **addr, size_t *alen)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		*addr = &s->sin_addr;
		*alen = 4;
		return ntohs(s->sin_port);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		*addr = &s->sin6_addr;
		*alen = 16;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			*addr = (const uint8_t *)&s->sin6_addr + 12;
			*alen = 4;
		}
		return ntohs(s->sin6_port);
	}
	return -1;
}

static int is_wildcard(const void *addr, size_t alen)
{
	static const uint8_t zero[16];
	return memcmp(addr, zero, alen) == 0;
}

/* 1 when addr is loopback or assigned to one of this host's interfaces. */
static int is_local(const void *addr, size_t alen)
{
	const uint8_t *a = addr;
	if ((alen == 4 && a[0] == 127) || is_wildcard(addr, alen) ||
	    (alen == 16 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr)))
		return 1;
	struct ifaddrs *ifs, *i;
	int found = 0;
	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		const void *ia;
		size_t il;
		if (i->ifa_addr && split(i->ifa_addr, &ia, &il) >= 0 && il == alen)
			found = memcmp(ia, addr, alen) == 0;
	}
	freeifaddrs(ifs);
	return found;
}

int acl_is_self(const struct config *cfg, const struct sockaddr *sa)
{
	const void *a;
	size_t alen;
	int port = split(sa, &a, &alen);
	if (port < 0)
		return 0;
	for (int i = 0; i < cfg->n_listen; i++) {
		const void *l;
		size_t llen;
		int lport = split((const struct sockaddr *)&cfg->listen[i].ss, &l, &llen);
		if (lport != port)
			continue;
		if (llen == alen && memcmp(l, a, alen) == 0)
			return 1;
		if (is_wildcard(l, llen) && is_local(a, alen))
			return 1;
	}
	return 0;
}
