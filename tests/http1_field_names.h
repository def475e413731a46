/* The known HTTP field names and their ids (proxy/http1.h enum http1_field),
 * written out by hand as the slow reference that both the unit test and the
 * http1 fuzz target hold http1_field_id() against. */
#ifndef QUELL_TESTS_HTTP1_FIELD_NAMES_H
#define QUELL_TESTS_HTTP1_FIELD_NAMES_H

#include "proxy/http1.h"

struct http1_field_name {
	const char *name;
	int id;
};

static const struct http1_field_name http1_field_names[] = {
	{"accept", HTTP1_F_ACCEPT}, {"accept-encoding", HTTP1_F_ACCEPT_ENCODING},
	{"cache-control", HTTP1_F_CACHE_CONTROL}, {"connection", HTTP1_F_CONNECTION},
	{"content-encoding", HTTP1_F_CONTENT_ENCODING}, {"content-length", HTTP1_F_CONTENT_LENGTH},
	{"content-security-policy", HTTP1_F_CONTENT_SECURITY_POLICY},
	{"content-type", HTTP1_F_CONTENT_TYPE}, {"cookie", HTTP1_F_COOKIE}, {"etag", HTTP1_F_ETAG},
	{"expect", HTTP1_F_EXPECT}, {"host", HTTP1_F_HOST}, {"keep-alive", HTTP1_F_KEEP_ALIVE},
	{"location", HTTP1_F_LOCATION}, {"origin", HTTP1_F_ORIGIN}, {"ping-to", HTTP1_F_PING_TO},
	{"proxy-authenticate", HTTP1_F_PROXY_AUTHENTICATE},
	{"proxy-authorization", HTTP1_F_PROXY_AUTHORIZATION},
	{"proxy-connection", HTTP1_F_PROXY_CONNECTION}, {"referer", HTTP1_F_REFERER},
	{"sec-fetch-dest", HTTP1_F_SEC_FETCH_DEST}, {"sec-fetch-mode", HTTP1_F_SEC_FETCH_MODE},
	{"sec-fetch-site", HTTP1_F_SEC_FETCH_SITE}, {"set-cookie", HTTP1_F_SET_COOKIE},
	{"te", HTTP1_F_TE}, {"trailer", HTTP1_F_TRAILER},
	{"transfer-encoding", HTTP1_F_TRANSFER_ENCODING}, {"upgrade", HTTP1_F_UPGRADE},
	{"user-agent", HTTP1_F_USER_AGENT}, {"vary", HTTP1_F_VARY},
};

#endif
