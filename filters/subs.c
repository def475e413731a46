/*
 * subs: see subs.h.
 */
#include "filters/subs.h"

#include "filters/builtin.h"

#include "filters/fetch.h"
#include "filters/lists.h"
#include "proxy/config.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUBS_MAGIC 0x53554253u
#define SUBS_RETRY_MIN (10L * 60)        /* first retry after a failure */
#define SUBS_RETRY_MAX (6L * 3600)
#define SUBS_STATE_MAX (64 * 1024)       /* a state file is a few hundred bytes */

/* uBlock Origin's own lists come from the CDN copies uBO itself fetches
 * first: there the "!#include" lines of the raw files are already inlined
 * (an include in a downloaded list is not fetched; the parser reports it). */
static const struct subs_catalog_entry catalog[] = {
	{ "easylist", "https://easylist.to/easylist/easylist.txt", "EasyList", 1 },
	{ "easyprivacy", "https://easylist.to/easylist/easyprivacy.txt", "EasyPrivacy", 1 },
	{ "ublock-filters", "https://ublockorigin.github.io/uAssetsCDN/filters/filters.min.txt",
	  "uBlock filters", 1 },
	{ "ublock-privacy", "https://ublockorigin.github.io/uAssetsCDN/filters/privacy.min.txt",
	  "uBlock filters - Privacy", 0 },
	{ "ublock-badware", "https://ublockorigin.github.io/uAssetsCDN/filters/badware.min.txt",
	  "uBlock filters - Badware risks", 0 },
	{ "ublock-unbreak", "https://ublockorigin.github.io/uAssetsCDN/filters/unbreak.min.txt",
	  "uBlock filters - Unbreak", 0 },
	{ "peter-lowe",
	  "https://pgl.yoyo.org/adservers/serverlist.php?hostformat=hosts&showintro=1&mimetype=plaintext",
	  "Peter Lowe's Ad and tracking server list", 0 },
	{ "fanboy-annoyance", "https://secure.fanboy.co.nz/fanboy-annoyance.txt",
	  "Fanboy's Annoyance List", 1 },
	{ "easylist-cookie", "https://secure.fanboy.co.nz/fanboy-cookiemonster.txt",
	  "EasyList Cookie List", 1 },
	{ "adguard-annoyances", "https://filters.adtidy.org/extension/ublock/filters/14.txt",
	  "AdGuard Annoyances", 0 },
	{ "stevenblack-hosts", "https://raw.githubusercontent.com/StevenBlack/hosts/master/hosts",
	  "Steven Black's unified hosts", 0 },
	{ "urlhaus", "https://malware-filter.gitlab.io/urlhaus-filter/urlhaus-filter-online.txt",
	  "Online Malicious URL Blocklist (URLhaus)", 0 },
};

struct subs {
	unsigned magic;
	char *dir;                    /* <state_dir>/lists */
	char *state_dir;
	struct subs_list *v;
	int n;
	int using_defaults;
	long default_interval;
	size_t max_size;
	long timeout_ms;
};

const struct subs_catalog_entry *subs_catalog(size_t *n)
{
	*n = sizeof catalog / sizeof catalog[0];
	return catalog;
}

const struct subs_catalog_entry *subs_catalog_find(const char *s)
{
	for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
		if (strcasecmp(catalog[i].name, s) == 0 || strcmp(catalog[i].url, s) == 0)
			return &catalog[i];
	return NULL;
}

/* ---- files ------------------------------------------------------------- */

int subs_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	/* the rename itself is durable only once the directory is synced */
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

/* mkdir -p.  0 or -1 (errno). */
static int mkdirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* ---- list text ----------------------------------------------------------- */

struct counter {
	long rules;
};

static int count_cb(void *arg, const struct lists_rule *r)
{
	struct counter *c = arg;
	if (r->cls == LISTS_NETWORK || r->cls == LISTS_COSMETIC || r->cls == LISTS_HTML)
		c->rules++;
	return 0;
}

long subs_count_rules(const char *buf, size_t len, const char *name)
{
	struct lists_source src = { .name = name ? name : "download", .path = NULL,
	                            .buf = buf, .len = len };
	struct counter c = { 0 };
	if (lists_parse(&src, count_cb, &c) < 0)
		return -1;
	return c.rules;
}

/* "4 days (update frequency)", "12 hours", "1d", "6h" -> seconds, 0 if bad. */
static long parse_expires(const char *v, size_t len)
{
	char buf[64];
	if (len >= sizeof buf)
		len = sizeof buf - 1;
	memcpy(buf, v, len);
	buf[len] = 0;
	char *end;
	long n = strtol(buf, &end, 10);
	if (end == buf || n <= 0 || n > 100000)
		return 0;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end == 0 || !strncasecmp(end, "d", 1))   /* "4", "4 days", "4d": days */
		return n * 86400;
	if (!strncasecmp(end, "h", 1))
		return n * 3600;
	if (!strncasecmp(end, "m", 1))                /* "30 minutes" */
		return n * 60;
	return 0;
}

void subs_parse_header(const char *buf, size_t len, char *title, size_t tlen, long *expires_s)
{
	if (tlen)
		title[0] = 0;
	*expires_s = 0;
	const char *p = buf, *end = buf + len;
	/* The metadata sits in the leading comment block; 200 lines is plenty
	 * and bounds the scan of a list with no header at all. */
	for (int lines = 0; p < end && lines < 200; lines++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		const char *s = p;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		const char *e = le;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (s < e && (*s == '!' || *s == '#')) {
			const char *k = s + 1;
			while (k < e && *k == ' ')
				k++;
			if ((size_t)(e - k) > 6 && !strncasecmp(k, "Title:", 6)) {
				const char *v = k + 6;
				while (v < e && *v == ' ')
					v++;
				size_t n = (size_t)(e - v);
				if (tlen && !title[0]) {
					if (n >= tlen)
						n = tlen - 1;
					memcpy(title, v, n);
					title[n] = 0;
				}
			} else if ((size_t)(e - k) > 8 && !strncasecmp(k, "Expires:", 8)) {
				const char *v = k + 8;
				while (v < e && *v == ' ')
					v++;
				if (!*expires_s)
					*expires_s = parse_expires(v, (size_t)(e - v));
			}
		} else if (s < e && *s != '[') {
			break;   /* first rule: the header is over */
		}
		p = le + 1;
	}
	/* a title is shown in tables: no control characters */
	for (char *t = title; tlen && *t; t++)
		if ((unsigned char)*t < 0x20)
			*t = ' ';
}

int subs_looks_like_html(const char *buf, size_t len)
{
	size_t i = 0;
	if (len >= 3 && (unsigned char)buf[0] == 0xef && (unsigned char)buf[1] == 0xbb &&
	    (unsigned char)buf[2] == 0xbf)
		i = 3;   /* UTF-8 BOM */
	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (i >= len || buf[i] != '<')
		return 0;
	/* a list never starts with a tag; look for the usual suspects to be sure */
	size_t n = len - i < 2048 ? len - i : 2048;
	char head[2049];
	for (size_t k = 0; k < n; k++)
		head[k] = (char)tolower((unsigned char)buf[i + k]);
	head[n] = 0;
	return strstr(head, "<!doctype html") || strstr(head, "<html") ||
	       strstr(head, "<head") || strstr(head, "<body") || strstr(head, "<title");
}

/* ---- state files ----------------------------------------------------------- */

static void state_clear(struct subs_state *st)
{
	free(st->source);
	free(st->etag);
	free(st->last_modified);
	free(st->title);
	free(st->last_error);
	memset(st, 0, sizeof *st);
	st->rules = -1;
}

static int set_str(char **slot, const char *v)
{
	char *d = NULL;
	if (v && !(d = strdup(v)))
		return -1;
	free(*slot);
	*slot = d;
	return 0;
}

/* Reads l's state file; a missing or unreadable one is an empty state. */
static void state_load(struct subs_list *l)
{
	state_clear(&l->st);
	if (!l->state_path)
		return;
	size_t len;
	char *buf = lists_read_file(l->state_path, SUBS_STATE_MAX, &len);
	if (!buf)
		return;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		const char *k = line, *v = sp + 1;
		struct subs_state *st = &l->st;
		if (!strcmp(k, "source")) set_str(&st->source, v);
		else if (!strcmp(k, "etag")) set_str(&st->etag, v);
		else if (!strcmp(k, "last_modified")) set_str(&st->last_modified, v);
		else if (!strcmp(k, "title")) set_str(&st->title, v);
		else if (!strcmp(k, "last_error")) set_str(&st->last_error, v);
		else if (!strcmp(k, "last_update")) st->last_update = (time_t)strtoll(v, NULL, 10);
		else if (!strcmp(k, "last_change")) st->last_change = (time_t)strtoll(v, NULL, 10);
		else if (!strcmp(k, "last_attempt")) st->last_attempt = (time_t)strtoll(v, NULL, 10);
		else if (!strcmp(k, "next_update")) st->next_update = (time_t)strtoll(v, NULL, 10);
		else if (!strcmp(k, "rules")) st->rules = strtol(v, NULL, 10);
		else if (!strcmp(k, "bytes")) st->bytes = (size_t)strtoull(v, NULL, 10);
		else if (!strcmp(k, "expires")) st->expires_s = strtol(v, NULL, 10);
		else if (!strcmp(k, "failures")) st->failures = (int)strtol(v, NULL, 10);
	}
	free(buf);
}

/* Appends "key value\n" with value made one line.  Returns 0/-1. */
static int put(char *buf, size_t size, size_t *off, const char *key, const char *v)
{
	if (!v)
		return 0;
	int n = snprintf(buf + *off, size - *off, "%s ", key);
	if (n < 0 || (size_t)n >= size - *off)
		return -1;
	*off += (size_t)n;
	for (; *v && *off < size - 2; v++)
		buf[(*off)++] = (*v == '\n' || *v == '\r') ? ' ' : *v;
	if (*v)
		return -1;
	buf[(*off)++] = '\n';
	buf[*off] = 0;
	return 0;
}

static int put_num(char *buf, size_t size, size_t *off, const char *key, long long v)
{
	char num[32];
	snprintf(num, sizeof num, "%lld", v);
	return put(buf, size, off, key, num);
}

static int state_save(const struct subs_list *l)
{
	char buf[8192];
	size_t off = 0;
	const struct subs_state *st = &l->st;
	buf[0] = 0;
	int rc = put(buf, sizeof buf, &off, "source", st->source) |
	         put(buf, sizeof buf, &off, "etag", st->etag) |
	         put(buf, sizeof buf, &off, "last_modified", st->last_modified) |
	         put(buf, sizeof buf, &off, "title", st->title) |
	         put(buf, sizeof buf, &off, "last_error", st->last_error) |
	         put_num(buf, sizeof buf, &off, "last_update", (long long)st->last_update) |
	         put_num(buf, sizeof buf, &off, "last_change", (long long)st->last_change) |
	         put_num(buf, sizeof buf, &off, "last_attempt", (long long)st->last_attempt) |
	         put_num(buf, sizeof buf, &off, "next_update", (long long)st->next_update) |
	         put_num(buf, sizeof buf, &off, "rules", st->rules) |
	         put_num(buf, sizeof buf, &off, "bytes", (long long)st->bytes) |
	         put_num(buf, sizeof buf, &off, "expires", st->expires_s) |
	         put_num(buf, sizeof buf, &off, "failures", st->failures);
	if (rc) {
		errno = E2BIG;
		return -1;
	}
	return subs_write_atomic(l->state_path, buf, off);
}

/* ---- resolving the config -------------------------------------------------- */

/* A file-name-safe version of s (lower case, [a-z0-9._-]), at most max-1. */
static void slug(const char *s, char *out, size_t max)
{
	size_t n = 0;
	for (; *s && n + 1 < max; s++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*s);
		out[n++] = (isalnum(c) || c == '.' || c == '_' || c == '-') ? (char)c : '-';
	}
	out[n] = 0;
	if (n == 0 || out[0] == '.')
		out[0] = '_';
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* The id of a URL list without name= and outside the catalog: host and
 * last path segment, plus a hash so two lists never share files. */
static void url_id(const char *url, char *out, size_t max)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t hl = strcspn(h, ":/?#");
	const char *path = h + strcspn(h, "/?#");
	size_t pl = strcspn(path, "?#");
	const char *seg = path;
	for (size_t i = 0; i < pl; i++)
		if (path[i] == '/' && i + 1 < pl)
			seg = path + i + 1;
	size_t sl = (size_t)(path + pl - seg);
	while (sl && seg[sl - 1] == '/')
		sl--;
	char raw[200];
	snprintf(raw, sizeof raw, "%.*s-%.*s", (int)(hl > 80 ? 80 : hl), h,
	         (int)(sl > 80 ? 80 : sl), *seg == '/' ? seg + 1 : seg);
	char s[200];
	slug(raw, s, sizeof s);
	snprintf(out, max, "%.120s-%08x", s, fnv1a(url));
}

static void list_free(struct subs_list *l)
{
	free(l->id);
	free(l->name);
	free(l->source);
	free(l->path);
	free(l->state_path);
	state_clear(&l->st);
}

/* The name shown for l: name=, else the stored copy's title, else the
 * catalog name, else the id. */
static int list_rename(struct subs_list *l, const char *given)
{
	const char *n = given;
	if (!n && l->st.title && *l->st.title)
		n = l->st.title;
	if (!n) {
		const struct subs_catalog_entry *c = subs_catalog_find(l->source);
		n = c ? c->name : l->id;
	}
	return set_str(&l->name, n);
}

/* Adds one list.  Returns 0 or -1 (out of memory, message in err). */
static int add_list(struct subs *s, const char *source, const char *name, long every_s,
                    int is_default, char *err, size_t errlen)
{
	struct subs_list *v = realloc(s->v, (size_t)(s->n + 1) * sizeof *v);
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->v = v;
	struct subs_list *l = &v[s->n];
	memset(l, 0, sizeof *l);
	l->st.rules = -1;
	const struct subs_catalog_entry *cat = NULL;
	/* a bare word naming a catalog entry ("list easyprivacy") means its URL */
	if (!strchr(source, '/'))
		cat = subs_catalog_find(source);
	if (cat)
		source = cat->url;
	else
		cat = subs_catalog_find(source);
	l->is_url = !strncasecmp(source, "http://", 7) || !strncasecmp(source, "https://", 8);
	l->every_s = every_s;
	l->is_default = is_default;
	l->named = name != NULL;
	char id[200], path[PATH_MAX];
	if (name)
		slug(name, id, sizeof id);
	else if (cat)
		snprintf(id, sizeof id, "%s", cat->name);
	else if (l->is_url)
		url_id(source, id, sizeof id);
	else {
		const char *base = strrchr(source, '/');
		slug(base ? base + 1 : source, id, sizeof id);
	}
	/* two lines with the same name would share files: keep them apart */
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].id, id)) {
			size_t n = strlen(id);
			snprintf(id + (n > 180 ? 180 : n), sizeof id - 180, "-%d", s->n);
			break;
		}
	l->id = strdup(id);
	l->source = strdup(source);
	if (l->is_url) {
		snprintf(path, sizeof path, "%s/%s.txt", s->dir, id);
		l->path = strdup(path);
		snprintf(path, sizeof path, "%s/%s.state", s->dir, id);
		l->state_path = strdup(path);
	} else {
		l->path = strdup(source);
	}
	s->n++;
	if (!l->id || !l->source || !l->path || (l->is_url && !l->state_path)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* an unreadable local list shows as "missing" with its error, not fatal */
	(void)subs_refresh(s, l);
	if (list_rename(l, name) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

struct subs *subs_open(const struct config *cfg, char *err, size_t errlen)
{
	struct subs *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->magic = SUBS_MAGIC;
	s->default_interval = cfg->update_interval_s > 0 ? cfg->update_interval_s : 86400;
	s->max_size = cfg->list_max_size;
	s->timeout_ms = cfg->list_timeout_ms;
	char dir[PATH_MAX];
	const char *sd = cfg->state_dir ? cfg->state_dir : "/var/lib/quell";
	if (snprintf(dir, sizeof dir, "%s/lists", sd) >= (int)sizeof dir) {
		snprintf(err, errlen, "state_dir too long");
		goto fail;
	}
	s->dir = strdup(dir);
	s->state_dir = strdup(sd);
	if (!s->dir || !s->state_dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Readers (quell check, lists ls) work without write access to the
	 * state directory; a download then fails with "cannot write ...". */
	if (mkdirs(dir) != 0 && errno != EACCES && errno != EROFS && errno != EPERM) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (cfg->n_lists == 0 && !cfg->lists_none) {
		s->using_defaults = 1;
		for (size_t i = 0; i < sizeof catalog / sizeof catalog[0]; i++)
			if (catalog[i].is_default &&
			    add_list(s, catalog[i].url, NULL, 0, 1, err, errlen) < 0)
				goto fail;
	}
	for (int i = 0; i < cfg->n_lists; i++) {
		const struct config_list *cl = &cfg->lists[i];
		if (add_list(s, cl->source, cl->name, cl->every_s, 0, err, errlen) < 0)
			goto fail;
	}
	return s;
fail:
	subs_free(s);
	return NULL;
}

void subs_free(struct subs *s)
{
	if (!s)
		return;
	if (s->magic != SUBS_MAGIC)
		abort();
	for (int i = 0; i < s->n; i++)
		list_free(&s->v[i]);
	free(s->v);
	free(s->dir);
	free(s->state_dir);
	s->magic = 0;
	free(s);
}

int subs_count(const struct subs *s)
{
	return s->n;
}

struct subs_list *subs_at(struct subs *s, int i)
{
	return i >= 0 && i < s->n ? &s->v[i] : NULL;
}

int subs_using_defaults(const struct subs *s)
{
	return s->using_defaults;
}

const char *subs_state_dir(const struct subs *s)
{
	return s->state_dir;
}

struct subs_list *subs_find(struct subs *s, const char *name)
{
	for (int i = 0; i < s->n; i++) {
		struct subs_list *l = &s->v[i];
		const struct subs_catalog_entry *c = subs_catalog_find(l->source);
		if (!strcasecmp(l->id, name) || !strcasecmp(l->name, name) ||
		    !strcmp(l->source, name) || (l->st.title && !strcasecmp(l->st.title, name)) ||
		    (c && !strcasecmp(c->name, name)))
			return l;
	}
	return NULL;
}

/* ---- status and schedule ---------------------------------------------------- */

int subs_have_copy(const struct subs_list *l)
{
	if (l->is_url)
		return l->st.last_change > 0 && access(l->path, R_OK) == 0;
	return access(l->path, R_OK) == 0;
}

int subs_sources(struct subs *s, const struct config *cfg, int with_builtin,
                 struct lists_source *v, int *n, int max)
{
	int copies = 0;
	if (with_builtin) {
		const struct builtin_list *b[BUILTIN_MAX];
		size_t nb = builtin_for_config(cfg, b, BUILTIN_MAX);
		for (size_t i = 0; i < nb && *n < max; i++)
			v[(*n)++] = (struct lists_source){ b[i]->name, NULL, b[i]->bytes, b[i]->length };
	}
	for (int i = 0; s && i < subs_count(s) && *n < max; i++) {
		struct subs_list *l = subs_at(s, i);
		if (!subs_have_copy(l))
			continue;
		v[(*n)++] = (struct lists_source){ l->name, l->path, NULL, 0 };
		copies++;
	}
	for (int i = 0; i < cfg->n_rules && *n < max; i++)
		v[(*n)++] = (struct lists_source){ cfg->rules[i], cfg->rules[i], NULL, 0 };
	return copies;
}

int subs_builtin_only(struct subs *s)
{
	for (int i = 0; i < s->n; i++)
		if (subs_have_copy(&s->v[i]))
			return 0;
	return 1;
}

long subs_interval(const struct subs *s, const struct subs_list *l)
{
	if (l->every_s > 0)
		return l->every_s;
	if (l->st.expires_s > 0) {
		long e = l->st.expires_s;
		return e < SUBS_EXPIRES_MIN ? SUBS_EXPIRES_MIN : e > SUBS_EXPIRES_MAX ? SUBS_EXPIRES_MAX : e;
	}
	return s->default_interval;
}

int subs_due(const struct subs_list *l, time_t now)
{
	return l->is_url && l->st.next_update <= now;
}

void subs_fetch_opts(const struct subs *s, const struct subs_list *l, struct fetch_opts *o)
{
	memset(o, 0, sizeof *o);
	o->max_size = s->max_size;
	o->timeout_ms = s->timeout_ms;
	o->max_redirects = FETCH_DEFAULT_REDIRECTS;
	/* validators only describe the copy we hold, from this very source */
	if (subs_have_copy(l) && l->st.source && !strcmp(l->st.source, l->source)) {
		o->if_none_match = l->st.etag;
		o->if_modified_since = l->st.last_modified;
	}
}

const char *subs_status(const struct subs_list *l)
{
	if (!l->is_url)
		return access(l->path, R_OK) == 0 ? "local" : "missing";
	int copy = subs_have_copy(l);
	if (l->st.last_error)
		return copy ? "stale" : "failing";
	return copy ? "ok" : "pending";
}

int subs_refresh(struct subs *s, struct subs_list *l)
{
	(void)s;
	if (l->is_url) {
		state_load(l);
		return 0;
	}
	state_clear(&l->st);
	size_t len;
	char *buf = lists_read_file(l->path, LISTS_MAX_FILE, &len);
	if (!buf) {
		char e[300];
		snprintf(e, sizeof e, "cannot read %s: %s", l->path, strerror(errno));
		set_str(&l->st.last_error, e);
		return -1;
	}
	char title[200];
	l->st.rules = subs_count_rules(buf, len, l->path);
	l->st.bytes = len;
	subs_parse_header(buf, len, title, sizeof title, &l->st.expires_s);
	if (title[0])
		set_str(&l->st.title, title);
	struct stat st;
	if (stat(l->path, &st) == 0)
		l->st.last_change = l->st.last_update = st.st_mtime;
	free(buf);
	return 0;
}

/* ---- applying a download ------------------------------------------------------ */

/* The retry delay after the n-th consecutive failure: 10 min doubling to
 * 6 h, never later than the regular interval. */
static long retry_delay(const struct subs *s, const struct subs_list *l, int failures)
{
	long d = SUBS_RETRY_MIN;
	for (int i = 1; i < failures && d < SUBS_RETRY_MAX; i++)
		d *= 2;
	if (d > SUBS_RETRY_MAX)
		d = SUBS_RETRY_MAX;
	long iv = subs_interval(s, l);
	return d < iv ? d : iv;
}

/* Success bookkeeping: schedule, clear the error, save, rename.  Returns
 * rc, or SUBS_FAILED when the state cannot be written. */
static int record_success(struct subs *s, struct subs_list *l, time_t now, int rc,
                          char *msg, size_t msglen)
{
	l->st.failures = 0;
	l->st.last_update = now;
	l->st.last_attempt = now;
	set_str(&l->st.last_error, NULL);
	l->st.next_update = now + subs_interval(s, l);
	list_rename(l, l->named ? l->name : NULL);
	if (state_save(l) != 0) {
		snprintf(msg, msglen, "cannot write %s: %s", l->state_path, strerror(errno));
		return SUBS_FAILED;
	}
	return rc;
}

static int record_failure(struct subs *s, struct subs_list *l, time_t now,
                          char *msg, size_t msglen)
{
	l->st.failures++;
	l->st.last_attempt = now;
	l->st.next_update = now + retry_delay(s, l, l->st.failures);
	set_str(&l->st.last_error, msg);
	if (state_save(l) != 0) {
		size_t n = strlen(msg);
		snprintf(msg + n, msglen - n, " (and cannot write %s: %s)", l->state_path,
		         strerror(errno));
	}
	return SUBS_FAILED;
}

int subs_apply(struct subs *s, struct subs_list *l, const struct fetch_result *r,
               int force, time_t now, char *msg, size_t msglen)
{
	int same_source = l->st.source && !strcmp(l->st.source, l->source);
	if (r->outcome == FETCH_ERROR) {
		snprintf(msg, msglen, "%s", r->error);
		return record_failure(s, l, now, msg, msglen);
	}
	if (r->outcome == FETCH_NOT_MODIFIED) {
		if (!subs_have_copy(l)) {
			snprintf(msg, msglen, "304 Not Modified but no stored copy");
			return record_failure(s, l, now, msg, msglen);
		}
		if (r->etag)
			set_str(&l->st.etag, r->etag);
		if (r->last_modified)
			set_str(&l->st.last_modified, r->last_modified);
		snprintf(msg, msglen, "not modified, %ld rules", l->st.rules);
		return record_success(s, l, now, SUBS_UNCHANGED, msg, msglen);
	}
	/* FETCH_OK: validate before anything touches the stored copy */
	if (subs_looks_like_html(r->body, r->body_len)) {
		snprintf(msg, msglen, "the server sent an HTML page, not a filter list");
		return record_failure(s, l, now, msg, msglen);
	}
	long rules = subs_count_rules(r->body, r->body_len, l->name);
	if (rules <= 0) {
		snprintf(msg, msglen, "no rules in the download (%zu bytes)", r->body_len);
		return record_failure(s, l, now, msg, msglen);
	}
	if (!force && same_source && subs_have_copy(l) && l->st.rules > 0 &&
	    rules * 2 < l->st.rules) {
		snprintf(msg, msglen, "the list shrank from %ld to %ld rules; kept the last good "
		         "copy (--force to accept)", l->st.rules, rules);
		return record_failure(s, l, now, msg, msglen);
	}
	int same = 0;
	if (same_source && subs_have_copy(l)) {
		size_t olen;
		char *old = lists_read_file(l->path, r->body_len, &olen);
		same = old && olen == r->body_len && memcmp(old, r->body, olen) == 0;
		free(old);
	}
	if (!same && subs_write_atomic(l->path, r->body, r->body_len) != 0) {
		snprintf(msg, msglen, "cannot write %s: %s", l->path, strerror(errno));
		return record_failure(s, l, now, msg, msglen);
	}
	char title[200];
	long expires;
	subs_parse_header(r->body, r->body_len, title, sizeof title, &expires);
	set_str(&l->st.title, title[0] ? title : NULL);
	set_str(&l->st.source, l->source);
	set_str(&l->st.etag, r->etag);
	set_str(&l->st.last_modified, r->last_modified);
	l->st.expires_s = expires;
	l->st.rules = rules;
	l->st.bytes = r->body_len;
	if (!same)
		l->st.last_change = now;
	snprintf(msg, msglen, "%s%zu bytes, %ld rules", same ? "unchanged, " : "", r->body_len, rules);
	return record_success(s, l, now, same ? SUBS_UNCHANGED : SUBS_CHANGED, msg, msglen);
}

/* ---- downloading, with "!#include" files inlined ------------------------------- */

#define SUBS_DOWNLOAD_MAGIC 0x53444c44u

struct subs_download {
	unsigned magic;
	struct fetch_client *c;
	struct fetch *cur;
	subs_download_fn done;
	void *arg;
	size_t max_size;
	long timeout_ms;
	struct timespec t0;
	char *base_url;                   /* where relative includes resolve */
	struct fetch_result *main;
	char *names[SUBS_MAX_INCLUDES];
	struct fetch_result *inc[SUBS_MAX_INCLUDES];
	int n, idx;
};

/* 1 when name is one the list parser would accept: relative, inside the
 * list's directory, no scheme. */
static int include_name_ok(const char *name, size_t n)
{
	if (n == 0 || n > 255 || name[0] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			return 0;
		if (c == '.' && i + 1 < n && name[i + 1] == '.')
			return 0;
		if (c == ':')
			return 0;
	}
	return 1;
}

/* Finds the "!#include NAME" line at p..e: the name's slice, or NULL. */
static const char *include_line(const char *p, const char *e, size_t *nl)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(e - p) < 10 || strncmp(p, "!#include", 9) != 0 || (p[9] != ' ' && p[9] != '\t'))
		return NULL;
	p += 9;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*nl = (size_t)(e - p);
	return p;
}

int subs_include_names(const char *buf, size_t len, char **out, int max)
{
	int n = 0;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		size_t nl;
		const char *name = include_line(p, le, &nl);
		if (name && include_name_ok(name, nl)) {
			int dup = 0;
			for (int i = 0; i < n; i++)
				dup |= strlen(out[i]) == nl && !memcmp(out[i], name, nl);
			if (!dup && n < max) {
				out[n] = malloc(nl + 1);
				if (!out[n])
					break;
				memcpy(out[n], name, nl);
				out[n][nl] = 0;
				n++;
			}
		}
		p = le + 1;
	}
	return n;
}

/* Appends the lines of text to out, each "!#include" line replaced: by the
 * fetched file when depth is 0 and it was fetched, else by a comment, so
 * the stored copy never makes the parser read a local file. */
static void inline_text(struct evbuffer *out, const char *buf, size_t len, int depth,
                        char *const *names, struct fetch_result *const *inc, int n)
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;
		size_t nl;
		const char *name = include_line(p, le, &nl);
		int done = 0;
		for (int i = 0; name && depth == 0 && i < n && !done; i++) {
			if (strlen(names[i]) != nl || memcmp(names[i], name, nl))
				continue;
			evbuffer_add_printf(out, "! >>> %s (inlined by quell)\n", names[i]);
			inline_text(out, inc[i]->body, inc[i]->body_len, depth + 1, names, inc, n);
			evbuffer_add_printf(out, "! <<< %s\n", names[i]);
			done = 1;
		}
		if (name && !done) {
			evbuffer_add_printf(out, "! quell: not fetched: ");
			evbuffer_add(out, p, (size_t)(le - p));
			evbuffer_add(out, "\n", 1);
		} else if (!name) {
			evbuffer_add(out, p, (size_t)(le - p));
			evbuffer_add(out, "\n", 1);
		}
		p = le + 1;
	}
}

static void download_free(struct subs_download *d)
{
	fetch_cancel(d->cur);
	fetch_result_free(d->main);
	for (int i = 0; i < d->n; i++) {
		free(d->names[i]);
		fetch_result_free(d->inc[i]);
	}
	free(d->base_url);
	d->magic = 0;
	free(d);
}

static void download_deliver(struct subs_download *d)
{
	struct fetch_result *r = d->main;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	r->elapsed_ms = (t.tv_sec - d->t0.tv_sec) * 1000 + (t.tv_nsec - d->t0.tv_nsec) / 1000000;
	d->main = NULL;
	d->cur = NULL;
	subs_download_fn done = d->done;
	void *arg = d->arg;
	download_free(d);
	done(r, arg);
}

/* All includes are in: builds the inlined body into d->main. */
static void download_inline(struct subs_download *d)
{
	struct fetch_result *m = d->main;
	struct evbuffer *out = evbuffer_new();
	if (out)
		inline_text(out, m->body, m->body_len, 0, d->names, d->inc, d->n);
	size_t n = out ? evbuffer_get_length(out) : 0;
	char *body = out && n <= d->max_size ? malloc(n + 1) : NULL;
	if (!body) {
		m->outcome = FETCH_ERROR;
		if (out && n > d->max_size)
			snprintf(m->error, sizeof m->error,
			         "larger than the %zu-byte limit (list_max_size) with its includes",
			         d->max_size);
		else
			snprintf(m->error, sizeof m->error, "out of memory");
	} else {
		evbuffer_remove(out, body, n);
		body[n] = 0;
		free(m->body);
		m->body = body;
		m->body_len = n;
	}
	if (out)
		evbuffer_free(out);
	download_deliver(d);
}

static void download_next(struct subs_download *d);

static void on_include(struct fetch_result *r, void *arg)
{
	struct subs_download *d = arg;
	d->cur = NULL;
	d->main->wire_bytes += r->wire_bytes;
	if (r->outcome != FETCH_OK) {
		d->main->outcome = FETCH_ERROR;
		snprintf(d->main->error, sizeof d->main->error, "!#include %.60s: %.180s",
		         d->names[d->idx], r->outcome == FETCH_NOT_MODIFIED ? "unexpected 304" : r->error);
		fetch_result_free(r);
		download_deliver(d);
		return;
	}
	d->inc[d->idx++] = r;
	download_next(d);
}

/* Starts the next include, or finishes. */
static void download_next(struct subs_download *d)
{
	if (d->idx >= d->n) {
		download_inline(d);
		return;
	}
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	long spent = (t.tv_sec - d->t0.tv_sec) * 1000 + (t.tv_nsec - d->t0.tv_nsec) / 1000000;
	struct fetch_opts o = { .max_size = d->max_size, .max_redirects = FETCH_DEFAULT_REDIRECTS };
	/* one deadline for the list and its includes */
	o.timeout_ms = d->timeout_ms - spent;
	if (o.timeout_ms < 1)
		o.timeout_ms = 1;
	char *url = fetch_url_join(d->base_url, d->names[d->idx]);
	char err[256] = "out of memory";
	d->cur = url ? fetch_start(d->c, url, &o, on_include, d, err, sizeof err) : NULL;
	free(url);
	if (!d->cur) {
		d->main->outcome = FETCH_ERROR;
		snprintf(d->main->error, sizeof d->main->error, "!#include %.60s: %.180s",
		         d->names[d->idx], err);
		download_deliver(d);
	}
}

static void on_main(struct fetch_result *r, void *arg)
{
	struct subs_download *d = arg;
	d->cur = NULL;
	d->main = r;
	if (r->outcome != FETCH_OK) {
		download_deliver(d);
		return;
	}
	d->n = subs_include_names(r->body, r->body_len, d->names, SUBS_MAX_INCLUDES);
	if (d->n == 0) {
		/* still neutralize includes we would not fetch (absolute, "..") */
		if (strstr(r->body, "!#include"))
			download_inline(d);
		else
			download_deliver(d);
		return;
	}
	d->base_url = strdup(r->url ? r->url : "");
	if (!d->base_url) {
		r->outcome = FETCH_ERROR;
		snprintf(r->error, sizeof r->error, "out of memory");
		download_deliver(d);
		return;
	}
	download_next(d);
}

struct subs_download *subs_download_start(struct fetch_client *c, const struct subs *s,
                                          const struct subs_list *l, subs_download_fn done,
                                          void *arg, char *err, size_t errlen)
{
	struct subs_download *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->magic = SUBS_DOWNLOAD_MAGIC;
	d->c = c;
	d->done = done;
	d->arg = arg;
	struct fetch_opts o;
	subs_fetch_opts(s, l, &o);
	d->max_size = o.max_size;
	d->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : 60000;
	clock_gettime(CLOCK_MONOTONIC, &d->t0);
	d->cur = fetch_start(c, l->source, &o, on_main, d, err, errlen);
	if (!d->cur) {
		free(d);
		return NULL;
	}
	return d;
}

void subs_download_cancel(struct subs_download *d)
{
	if (!d)
		return;
	if (d->magic != SUBS_DOWNLOAD_MAGIC)
		abort();
	download_free(d);
}
