/*
 * cmd_subs: `quell lists ls|add|rm|update`, the subscription commands.
 *
 * Each takes --config FILE (default: config_default_path(), the file `quell
 * run` reads) and works on that config's `list` lines and state_dir.  add
 * and rm edit the file in place, keeping every other line and comment, and
 * write it atomically.  A config with no `list` line means the defaults, so
 * the first add or rm writes the defaults out explicitly first: adding one
 * list must not silently drop the five default ones, and removing the last
 * list writes `list none` (no list line would bring the defaults back).
 */
#include "proxy/cli.h"

#include "filters/fetch.h"
#include "filters/subs.h"
#include "proxy/config.h"

#include <ctype.h>
#include <event2/event.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1 << 20)

/* ---- shared option handling ---------------------------------------------- */

struct opts {
	const char *config;          /* --config */
	int force;                   /* --force (update) */
	const char *args[64];        /* positional arguments */
	int n_args;
};

/* Parses argv (argv[0] is the subcommand).  Returns 0, 1 for --help, or -1
 * after printing the usage error. */
static int parse_opts(int argc, char **argv, struct opts *o, int allow_force, const char *usage)
{
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: quell lists %s\n", usage);
			return 1;
		} else if (!strcmp(a, "--config") && i + 1 < argc) {
			o->config = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			o->config = a + 9;
		} else if (allow_force && !strcmp(a, "--force")) {
			o->force = 1;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "quell lists %s: unknown option '%s'\nusage: quell lists %s\n",
			        argv[0], a, usage);
			return -1;
		} else if (o->n_args < (int)(sizeof o->args / sizeof o->args[0])) {
			o->args[o->n_args++] = a;
		} else {
			fprintf(stderr, "quell lists %s: too many arguments\n", argv[0]);
			return -1;
		}
	}
	if (!o->config)
		o->config = config_default_path();
	return 0;
}

/* Loads the config; a missing file means the defaults.  Returns 0, or -1
 * after printing why. */
static int load_config(const char *cmd, const char *path, struct config *cfg)
{
	char err[600];
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		if (config_defaults(cfg) != 0) {
			fprintf(stderr, "quell lists %s: out of memory\n", cmd);
			return -1;
		}
		return 0;
	}
	if (config_defaults(cfg) != 0 || config_load(cfg, path, err, sizeof err) != 0) {
		fprintf(stderr, "quell lists %s: %s\n", cmd, err);
		config_free(cfg);
		return -1;
	}
	return 0;
}

static struct subs *open_subs(const char *cmd, const struct config *cfg)
{
	char err[600];
	struct subs *s = subs_open(cfg, err, sizeof err);
	if (!s)
		fprintf(stderr, "quell lists %s: %s\n", cmd, err);
	return s;
}

/* ---- ls ----------------------------------------------------------------- */

static void fmt_time(time_t t, char *buf, size_t len)
{
	if (t <= 0) {
		snprintf(buf, len, "never");
		return;
	}
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static void fmt_rules(long r, char *buf, size_t len)
{
	if (r < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%ld", r);
}

int cmd_lists_ls(int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts(argc, argv, &o, 0, "ls [--config FILE]");
	if (rc)
		return rc > 0 ? 0 : 2;
	struct config cfg;
	if (load_config("ls", o.config, &cfg) < 0)
		return 2;
	struct subs *s = open_subs("ls", &cfg);
	if (!s) {
		config_free(&cfg);
		return 1;
	}
	int n = subs_count(s);
	if (n == 0)
		printf("no lists subscribed (list none in %s); the built-in rules alone apply\n",
		       o.config);
	else {
		/* column widths from the data: names and URLs vary a lot */
		int wn = 4, ws = 6;
		for (int i = 0; i < n; i++) {
			struct subs_list *l = subs_at(s, i);
			int a = (int)strlen(l->name), b = (int)strlen(l->source);
			if (a > wn) wn = a > 40 ? 40 : a;
			if (b > ws) ws = b > 90 ? 90 : b;
		}
		printf("%-*s  %-*s  %8s  %-16s  %-16s  %-7s  %s\n", wn, "NAME", ws, "SOURCE", "RULES",
		       "LAST UPDATE", "NEXT UPDATE", "STATUS", "LAST ERROR");
		time_t now = time(NULL);
		for (int i = 0; i < n; i++) {
			struct subs_list *l = subs_at(s, i);
			char rules[32], last[32], next[32];
			fmt_rules(subs_have_copy(l) ? l->st.rules : -1, rules, sizeof rules);
			fmt_time(l->st.last_update, last, sizeof last);
			if (!l->is_url)
				snprintf(next, sizeof next, "-");
			else if (l->st.next_update <= now)
				snprintf(next, sizeof next, "due now");
			else
				fmt_time(l->st.next_update, next, sizeof next);
			printf("%-*.*s  %-*s  %8s  %-16s  %-16s  %-7s  %s\n", wn, 40, l->name, ws,
			       l->source, rules, last, next, subs_status(l),
			       l->st.last_error ? l->st.last_error : "-");
		}
	}
	if (n > 0 && subs_builtin_only(s))
		printf("no list downloaded yet: the built-in rules alone apply "
		       "(quell lists update downloads them now)\n");
	if (subs_using_defaults(s))
		printf("default subscriptions (no list line in %s)\n", o.config);
	subs_free(s);
	config_free(&cfg);
	return 0;
}

/* ---- update --------------------------------------------------------------- */

struct dl {
	struct event_base *base;
	struct fetch_client *client;
	struct fetch_result *res;
};

static void dl_done(struct fetch_result *r, void *arg)
{
	struct dl *d = arg;
	d->res = r;
	event_base_loopexit(d->base, NULL);
}

/* Downloads l (with its includes) on d's loop.  NULL: out of memory. */
static struct fetch_result *download(struct dl *d, struct subs *s, struct subs_list *l)
{
	char err[256];
	d->res = NULL;
	if (subs_download_start(d->client, s, l, dl_done, d, err, sizeof err))
		event_base_dispatch(d->base);
	else if ((d->res = calloc(1, sizeof *d->res)) != NULL) {
		d->res->outcome = FETCH_ERROR;
		snprintf(d->res->error, sizeof d->res->error, "%s", err);
	}
	return d->res;
}

int cmd_lists_update(int argc, char **argv)
{
	struct opts o;
	int rc = parse_opts(argc, argv, &o, 1, "update [--force] [--config FILE] [NAME...]");
	if (rc)
		return rc > 0 ? 0 : 2;
	struct config cfg;
	if (load_config("update", o.config, &cfg) < 0)
		return 2;
	struct subs *s = open_subs("update", &cfg);
	if (!s) {
		config_free(&cfg);
		return 1;
	}
	for (int i = 0; i < o.n_args; i++)
		if (!subs_find(s, o.args[i])) {
			fprintf(stderr, "quell lists update: no list called '%s' (see quell lists ls)\n",
			        o.args[i]);
			subs_free(s);
			config_free(&cfg);
			return 2;
		}
	struct dl dl = { 0 };
	char err[512];
	dl.base = event_base_new();
	dl.client = dl.base ? fetch_client_new(dl.base, cfg.upstream_ca_file, cfg.resolver,
	                                       err, sizeof err) : NULL;
	if (!dl.client) {
		fprintf(stderr, "quell lists update: %s\n", dl.base ? err : "cannot create an event loop");
		if (dl.base)
			event_base_free(dl.base);
		subs_free(s);
		config_free(&cfg);
		return 1;
	}
	int failed = 0, done = 0;
	for (int i = 0; i < subs_count(s); i++) {
		struct subs_list *l = subs_at(s, i);
		int wanted = o.n_args == 0;
		for (int k = 0; k < o.n_args; k++)
			wanted |= subs_find(s, o.args[k]) == l;
		if (!wanted)
			continue;
		done++;
		if (!l->is_url) {
			if (subs_refresh(s, l) < 0) {
				printf("%s: FAILED: %s\n", l->name, l->st.last_error);
				failed++;
			} else {
				printf("%s: local file, %zu bytes, %ld rules\n", l->name, l->st.bytes,
				       l->st.rules);
			}
			fflush(stdout);
			continue;
		}
		struct fetch_result *r = download(&dl, s, l);
		if (!r) {
			printf("%s: FAILED: out of memory\n", l->name);
			failed++;
			continue;
		}
		char msg[512];
		char name[256];
		snprintf(name, sizeof name, "%s", l->name);   /* a new title may rename it */
		int a = subs_apply(s, l, r, o.force, time(NULL), msg, sizeof msg);
		double secs = (double)r->elapsed_ms / 1000.0;
		if (a == SUBS_FAILED) {
			failed++;
			if (subs_have_copy(l))
				printf("%s: FAILED: %s; keeping the last good copy (%ld rules) [%.1f s]\n",
				       name, msg, l->st.rules, secs);
			else
				printf("%s: FAILED: %s; no copy yet [%.1f s]\n", name, msg, secs);
		} else if (a == SUBS_CHANGED) {
			printf("%s: updated, %ld rules, %zu bytes (%zu bytes received) [%.1f s]\n",
			       l->name, l->st.rules, l->st.bytes, r->wire_bytes, secs);
		} else {
			printf("%s: %s [%.1f s]\n", l->name, msg, secs);
		}
		fflush(stdout);
		fetch_result_free(r);
	}
	fetch_client_free(dl.client);
	event_base_loop(dl.base, EVLOOP_NONBLOCK);   /* deferred frees of cancelled lookups */
	event_base_free(dl.base);
	if (done == 0)
		printf("no lists subscribed (list none in %s)\n", o.config);
	else if (failed)
		printf("%d of %d lists failed\n", failed, done);
	subs_free(s);
	config_free(&cfg);
	return failed ? 1 : 0;
}

/* ---- editing the config file ------------------------------------------------- */

/* The config file as lines (malloc'd), or an empty set when it is missing. */
struct text {
	char **line;
	int n;
};

static void text_free(struct text *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->line[i]);
	free(t->line);
	t->line = NULL;
	t->n = 0;
}

static int text_insert(struct text *t, int at, const char *s)
{
	char **v = realloc(t->line, (size_t)(t->n + 1) * sizeof *v);
	if (!v)
		return -1;
	t->line = v;
	char *d = strdup(s);
	if (!d)
		return -1;
	memmove(v + at + 1, v + at, (size_t)(t->n - at) * sizeof *v);
	v[at] = d;
	t->n++;
	return 0;
}

static void text_remove(struct text *t, int at)
{
	free(t->line[at]);
	memmove(t->line + at, t->line + at + 1, (size_t)(t->n - at - 1) * sizeof *t->line);
	t->n--;
}

static int text_read(const char *path, struct text *t)
{
	memset(t, 0, sizeof *t);
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char buf[4096];
	size_t total = 0;
	while (fgets(buf, sizeof buf, f)) {
		total += strlen(buf);
		buf[strcspn(buf, "\n")] = 0;
		if (total > CONFIG_FILE_MAX || text_insert(t, t->n, buf) != 0) {
			fclose(f);
			text_free(t);
			errno = total > CONFIG_FILE_MAX ? EFBIG : ENOMEM;
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* mkdir -p of path's directory. */
static int make_parent(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int text_write(const char *path, const struct text *t)
{
	size_t len = 0;
	for (int i = 0; i < t->n; i++)
		len += strlen(t->line[i]) + 1;
	char *buf = malloc(len + 1), *p = buf;
	if (!buf)
		return -1;
	for (int i = 0; i < t->n; i++)
		p += sprintf(p, "%s\n", t->line[i]);
	int rc = make_parent(path) == 0 ? subs_write_atomic(path, buf, len) : -1;
	free(buf);
	return rc;
}

/* When line is a `list` line, copies its words (comment stripped) into
 * words/out and returns their count; otherwise 0. */
static int list_words(const char *line, char *copy, size_t size, char **w, int max)
{
	snprintf(copy, size, "%s", line);
	char *hash = strchr(copy, '#');
	if (hash)
		*hash = 0;
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	if (n < 2 || strcmp(w[0], "list") != 0)
		return 0;
	return n;
}

/* Index after the last `list` line (or the end). */
static int insert_point(const struct text *t)
{
	int at = t->n;
	for (int i = 0; i < t->n; i++) {
		char copy[4096], *w[8];
		if (list_words(t->line[i], copy, sizeof copy, w, 8))
			at = i + 1;
	}
	return at;
}

/* Drops `list none` lines; writes the defaults out when they were in force. */
static int materialize(struct text *t, struct subs *s, int *at)
{
	for (int i = 0; i < t->n; i++) {
		char copy[4096], *w[8];
		int n = list_words(t->line[i], copy, sizeof copy, w, 8);
		if (n == 2 && !strcmp(w[1], "none")) {
			text_remove(t, i--);
			if (*at > i + 1)
				(*at)--;
		}
	}
	if (!subs_using_defaults(s))
		return 0;
	if (text_insert(t, (*at)++, "# the default subscriptions, written out by quell lists") != 0)
		return -1;
	for (int i = 0; i < subs_count(s); i++) {
		char line[4200];
		snprintf(line, sizeof line, "list %s", subs_at(s, i)->source);
		if (text_insert(t, (*at)++, line) != 0)
			return -1;
	}
	return 0;
}

/* Checks a `list` value with the config parser, so we never write a line
 * `quell run` would refuse.  0, or -1 after printing why. */
static int check_line(const char *cmd, const char *value)
{
	struct config c;
	char err[600];
	if (config_defaults(&c) != 0) {
		fprintf(stderr, "quell lists %s: out of memory\n", cmd);
		return -1;
	}
	int rc = config_set(&c, "list", value, "argument", 1, err, sizeof err);
	config_free(&c);
	if (rc != 0)
		fprintf(stderr, "quell lists %s: %s\n", cmd, strchr(err, ' ') ? strchr(err, ' ') + 1 : err);
	return rc;
}

int cmd_lists_add(int argc, char **argv)
{
	struct opts o;
	const char *usage = "add URL|NAME|PATH [name=NAME] [every=DURATION] [--config FILE]";
	int rc = parse_opts(argc, argv, &o, 0, usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (o.n_args < 1) {
		fprintf(stderr, "usage: quell lists %s\n", usage);
		size_t n;
		const struct subs_catalog_entry *c = subs_catalog(&n);
		fprintf(stderr, "known lists:");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %s", c[i].name);
		fprintf(stderr, "\n");
		return 2;
	}
	const char *what = o.args[0];
	const struct subs_catalog_entry *cat = subs_catalog_find(what);
	const char *source = cat ? cat->url : what;
	int is_url = !strncasecmp(source, "http://", 7) || !strncasecmp(source, "https://", 8);
	char abs[PATH_MAX];
	if (!cat && !is_url) {
		if (access(what, R_OK) != 0) {
			size_t n;
			const struct subs_catalog_entry *c = subs_catalog(&n);
			fprintf(stderr, "quell lists add: '%s' is not a URL, a readable file or a known "
			        "list; known lists:", what);
			for (size_t i = 0; i < n; i++)
				fprintf(stderr, " %s", c[i].name);
			fprintf(stderr, "\n");
			return 2;
		}
		/* quell run may start elsewhere: store the absolute path */
		if (!realpath(what, abs)) {
			fprintf(stderr, "quell lists add: %s: %s\n", what, strerror(errno));
			return 2;
		}
		source = abs;
	}
	char value[4096];
	int len = snprintf(value, sizeof value, "%s", source);
	for (int i = 1; i < o.n_args && len < (int)sizeof value; i++) {
		if (strncmp(o.args[i], "name=", 5) && strncmp(o.args[i], "every=", 6)) {
			fprintf(stderr, "quell lists add: unknown option '%s' (name=NAME, every=DURATION)\n",
			        o.args[i]);
			return 2;
		}
		len += snprintf(value + len, sizeof value - (size_t)len, " %s", o.args[i]);
	}
	if (len >= (int)sizeof value || strchr(value, '#') || check_line("add", value) != 0)
		return 2;
	struct config cfg;
	if (load_config("add", o.config, &cfg) < 0)
		return 2;
	struct subs *s = open_subs("add", &cfg);
	if (!s) {
		config_free(&cfg);
		return 1;
	}
	for (int i = 0; i < subs_count(s); i++)
		if (!strcmp(subs_at(s, i)->source, source) && !subs_using_defaults(s)) {
			printf("already subscribed to %s (%s)\n", source, subs_at(s, i)->name);
			subs_free(s);
			config_free(&cfg);
			return 0;
		}
	struct text t;
	rc = 1;
	if (text_read(o.config, &t) != 0) {
		fprintf(stderr, "quell lists add: %s: %s\n", o.config, strerror(errno));
		goto out;
	}
	int at = insert_point(&t);
	int dup = 0;
	if (subs_using_defaults(s))
		for (int i = 0; i < subs_count(s); i++)
			dup |= !strcmp(subs_at(s, i)->source, source);
	char line[4200];
	snprintf(line, sizeof line, "list %s", value);
	if (materialize(&t, s, &at) != 0 || (!dup && text_insert(&t, at, line) != 0)) {
		fprintf(stderr, "quell lists add: out of memory\n");
		goto out_text;
	}
	if (text_write(o.config, &t) != 0) {
		fprintf(stderr, "quell lists add: cannot write %s: %s\n", o.config, strerror(errno));
		goto out_text;
	}
	if (dup)
		printf("%s is a default subscription; wrote the defaults to %s\n", source, o.config);
	else
		printf("added %s to %s; quell lists update downloads it now, and a running "
		       "quell takes it on SIGHUP\n", source, o.config);
	rc = 0;
out_text:
	text_free(&t);
out:
	subs_free(s);
	config_free(&cfg);
	return rc;
}

/* 1 when the `list` line words w (n of them) subscribe to l. */
static int line_is(char **w, int n, const struct subs_list *l)
{
	const struct subs_catalog_entry *c = subs_catalog_find(w[1]);
	const char *src = c && !strchr(w[1], '/') ? c->url : w[1];
	if (!strcmp(src, l->source))
		return 1;
	for (int i = 2; i < n; i++)
		if (!strncmp(w[i], "name=", 5) && l->named && !strcmp(w[i] + 5, l->name))
			return 1;
	return 0;
}

int cmd_lists_rm(int argc, char **argv)
{
	struct opts o;
	const char *usage = "rm NAME [--config FILE]";
	int rc = parse_opts(argc, argv, &o, 0, usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (o.n_args != 1) {
		fprintf(stderr, "usage: quell lists %s\n", usage);
		return 2;
	}
	struct config cfg;
	if (load_config("rm", o.config, &cfg) < 0)
		return 2;
	struct subs *s = open_subs("rm", &cfg);
	if (!s) {
		config_free(&cfg);
		return 1;
	}
	struct text t = { 0 };
	rc = 1;
	struct subs_list *l = subs_find(s, o.args[0]);
	if (!l) {
		fprintf(stderr, "quell lists rm: no list called '%s' (see quell lists ls)\n", o.args[0]);
		rc = 2;
		goto out;
	}
	if (text_read(o.config, &t) != 0) {
		fprintf(stderr, "quell lists rm: %s: %s\n", o.config, strerror(errno));
		goto out;
	}
	int at = insert_point(&t);
	if (materialize(&t, s, &at) != 0) {
		fprintf(stderr, "quell lists rm: out of memory\n");
		goto out;
	}
	int removed = 0, left = 0;
	for (int i = 0; i < t.n; i++) {
		char copy[4096], *w[16];
		int n = list_words(t.line[i], copy, sizeof copy, w, 16);
		if (!n)
			continue;
		if (line_is(w, n, l)) {
			text_remove(&t, i--);
			removed++;
		} else {
			left++;
		}
	}
	if (!removed) {
		fprintf(stderr, "quell lists rm: '%s' comes from no list line of %s\n", o.args[0],
		        o.config);
		goto out;
	}
	/* no list line at all would mean the defaults again */
	if (!left && text_insert(&t, t.n, "list none") != 0) {
		fprintf(stderr, "quell lists rm: out of memory\n");
		goto out;
	}
	if (text_write(o.config, &t) != 0) {
		fprintf(stderr, "quell lists rm: cannot write %s: %s\n", o.config, strerror(errno));
		goto out;
	}
	/* its stored copy and state go too: a later add starts afresh */
	if (l->is_url) {
		unlink(l->path);
		unlink(l->state_path);
	}
	printf("removed %s (%s) from %s%s\n", l->name, l->source, o.config,
	       left ? "" : "; no list left (list none)");
	rc = 0;
out:
	text_free(&t);
	subs_free(s);
	config_free(&cfg);
	return rc;
}
