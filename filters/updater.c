/*
 * updater: see updater.h.
 *
 * Threads: the updater thread owns u->cfg, u->subs, the event_base and the
 * download in flight.  updater_reload() runs on the caller's thread and
 * hands a new config copy and subs to the updater thread through
 * u->pending_* (under u->lock), waking it with a byte on a pipe; a pipe
 * rather than event_active() so that it works whether or not the process
 * enabled libevent's threading.  Builds are serialized by u->build_lock, so
 * the snapshot published last is always built from the newest files.
 */
#include "filters/updater.h"

#include "filters/builtin.h"
#include "filters/engine.h"
#include "filters/fetch.h"
#include "filters/html_filter.h"
#include "filters/lists.h"
#include "filters/subs.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UPDATER_MAGIC 0x55504454u
#define UPDATER_MAX_SLEEP 3600          /* re-check the schedule at least hourly */
#define UPDATER_MAX_SOURCES 1024
#define UPDATER_KEY_MAX (256 * 1024)

struct updater {
	unsigned magic;
	pthread_mutex_t lock;             /* status, pending, requests */
	pthread_mutex_t build_lock;       /* one build + publish at a time */

	/* owned by the updater thread once started */
	struct config cfg;                /* our own copy of the list settings */
	struct subs *subs;
	struct event_base *base;
	struct event *timer;
	struct event *wake;
	int pipe_fd[2];
	struct fetch_client *client;
	struct subs_download *inflight;
	int round;                        /* a round of downloads is running */
	int round_pos;                    /* next list index to look at */
	int round_all;                    /* every URL list, due or not */
	int round_force;
	pthread_t thread;
	int started;

	/* shared, under lock */
	char *published_key;              /* inputs of the snapshot in force (build_lock) */
	int stop_req;
	int now_req, now_force;
	struct config *pending_cfg;
	struct subs *pending_subs;
	struct updater_list_status *st;
	int n_st;
	char summary[256];
};

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct updater *current;

/* ---- our copy of the configuration ------------------------------------- */

static char *dup_or_null(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

/* Copies what lists, updates and the engine build need from src into dst
 * (which config_free() frees).  0 or -1 (no memory). */
static int settings_copy(struct config *dst, const struct config *src)
{
	if (config_defaults(dst) != 0)
		return -1;
	int oom = 0;
	free(dst->state_dir);
	dst->state_dir = dup_or_null(src->state_dir, &oom);
	dst->path = dup_or_null(src->path, &oom);
	dst->upstream_ca_file = dup_or_null(src->upstream_ca_file, &oom);
	free(dst->resolver);
	dst->resolver = dup_or_null(src->resolver, &oom);
	dst->snapshot = dup_or_null(src->snapshot, &oom);
	dst->lists_none = src->lists_none;
	dst->builtin = src->builtin;
	dst->annoyances = src->annoyances;
	dst->update_interval_s = src->update_interval_s;
	dst->list_max_size = src->list_max_size;
	dst->list_timeout_ms = src->list_timeout_ms;
	if (src->n_lists) {
		dst->lists = calloc((size_t)src->n_lists, sizeof *dst->lists);
		if (!dst->lists)
			oom = 1;
		for (int i = 0; dst->lists && i < src->n_lists; i++) {
			dst->lists[i] = src->lists[i];
			dst->lists[i].source = dup_or_null(src->lists[i].source, &oom);
			dst->lists[i].name = dup_or_null(src->lists[i].name, &oom);
			dst->n_lists = i + 1;
		}
	}
	if (src->n_rules) {
		dst->rules = calloc((size_t)src->n_rules, sizeof *dst->rules);
		if (!dst->rules)
			oom = 1;
		for (int i = 0; dst->rules && i < src->n_rules; i++) {
			dst->rules[i] = dup_or_null(src->rules[i], &oom);
			dst->n_rules = i + 1;
		}
	}
	if (oom) {
		config_free(dst);
		return -1;
	}
	return 0;
}

/* ---- sources and the snapshot cache -------------------------------------- */

struct sources {
	struct lists_source v[UPDATER_MAX_SOURCES];
	int n;
	int lists_with_copy;              /* subscriptions contributing */
};

/* The engine's input: built-in rules, stored copies, the user's rules. */
static void sources_collect(const struct config *cfg, struct subs *s, struct sources *out)
{
	out->n = 0;
	out->lists_with_copy = subs_sources(s, cfg, 1, out->v, &out->n, UPDATER_MAX_SOURCES);
}

static uint64_t fnv64(const void *p, size_t n, uint64_t h)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* A text naming every input exactly enough that equal keys mean equal
 * inputs: names, and for files their size, mtime (ns) and inode, for
 * buffers a hash of the bytes.  malloc'd, or NULL. */
static char *sources_key(const struct sources *src)
{
	size_t cap = 256 + (size_t)src->n * (PATH_MAX + 128);
	if (cap > UPDATER_KEY_MAX)
		cap = UPDATER_KEY_MAX;
	char *k = malloc(cap);
	if (!k)
		return NULL;
	size_t off = (size_t)snprintf(k, cap, "quell snapshot key 1\n");
	for (int i = 0; i < src->n && off < cap; i++) {
		const struct lists_source *x = &src->v[i];
		int n;
		if (x->path) {
			struct stat st;
			if (stat(x->path, &st) != 0)
				memset(&st, 0, sizeof st);
			n = snprintf(k + off, cap - off, "file %s\t%s\t%lld\t%lld.%09ld\t%llu\n", x->name,
			             x->path, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			             st.st_mtim.tv_nsec, (unsigned long long)st.st_ino);
		} else {
			n = snprintf(k + off, cap - off, "buf %s\t%zu\t%016llx\n", x->name, x->len,
			             (unsigned long long)fnv64(x->buf, x->len, 14695981039346656037ull));
		}
		if (n < 0 || (size_t)n >= cap - off) {
			free(k);
			return NULL;   /* too many inputs to key: always compile */
		}
		off += (size_t)n;
	}
	return k;
}

static void state_path(const struct config *cfg, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", cfg->state_dir, file);
}

/* 1 when the cache key file holds exactly key. */
static int key_matches(const char *path, const char *key)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t want = strlen(key);
	char *buf = malloc(want + 2);
	size_t n = buf ? fread(buf, 1, want + 1, f) : 0;
	fclose(f);
	int eq = buf && n == want && memcmp(buf, key, want) == 0;
	free(buf);
	return eq;
}

/* ---- the engine ------------------------------------------------------------- */

/* Builds (or loads from the cache) and publishes a snapshot from cfg and s.
 * With only_if_changed, does nothing (returns 1) when the inputs are those
 * of the snapshot in force.  how receives "loaded from the cache" or
 * "compiled in N ms".  0, or -1 with err set (the published snapshot is
 * unchanged then). */
static int rebuild(struct updater *u, const struct config *cfg, struct subs *s,
                   int only_if_changed, char *how, size_t howlen, char *err, size_t errlen)
{
	static struct sources src;    /* big; guarded by build_lock */
	char bin[PATH_MAX], keyp[PATH_MAX];
	state_path(cfg, "snapshot.bin", bin, sizeof bin);
	state_path(cfg, "snapshot.key", keyp, sizeof keyp);
	pthread_mutex_lock(&u->build_lock);
	sources_collect(cfg, s, &src);
	char *key = sources_key(&src);
	if (only_if_changed && key && u->published_key && !strcmp(key, u->published_key)) {
		pthread_mutex_unlock(&u->build_lock);
		free(key);
		return 1;
	}
	struct engine *e = NULL;
	if (key && key_matches(keyp, key)) {
		char why[256];
		e = engine_load(bin, why, sizeof why);
		if (e)
			snprintf(how, howlen, "loaded from the cache");
		else
			log_msg(LOG_INFO, "lists: cached snapshot %s not usable (%s): compiling", bin, why);
	}
	if (!e) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		e = engine_build(src.v, (size_t)src.n, err, errlen);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!e) {
			pthread_mutex_unlock(&u->build_lock);
			free(key);
			return -1;
		}
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		snprintf(how, howlen, "compiled in %ld ms", ms);
		/* cache it: snapshot first, key last, so a key never names a
		 * snapshot that is not there */
		char tmp[PATH_MAX + 32];
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", bin, (long)getpid());
		char why[256];
		unlink(keyp);
		if (key && engine_save(e, tmp, why, sizeof why) == 0) {
			int fd = open(tmp, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
			if (rename(tmp, bin) == 0)
				subs_write_atomic(keyp, key, strlen(key));
			else
				unlink(tmp);
		} else if (key) {
			unlink(tmp);
			log_msg(LOG_WARN, "lists: cannot cache the snapshot in %s: %s", bin, why);
		}
	}
	/* Build the HTML rewriter's selector index here, on the updater's
	 * thread, so the first page of this snapshot does not pay 50-75 ms
	 * for it on a worker's event loop. */
	if (!html_filter_index(e))
		log_msg(LOG_WARN, "lists: no memory for the selector index; pages will build it");
	engine_publish(e);
	free(u->published_key);
	u->published_key = key;   /* NULL (unkeyable) means "always rebuild" */
	pthread_mutex_unlock(&u->build_lock);
	return 0;
}

/* ---- status ------------------------------------------------------------------- */

/* Rebuilds the status table from s (the caller owns s).  summary_how: how
 * the last snapshot came to be, or NULL to keep the previous words. */
static void status_refresh(struct updater *u, struct subs *s, const char *how)
{
	int n = s ? subs_count(s) : 0;
	struct updater_list_status *st = n ? calloc((size_t)n, sizeof *st) : NULL;
	long total = 0;
	int with_copy = 0;
	for (int i = 0; st && i < n; i++) {
		struct subs_list *l = subs_at(s, i);
		snprintf(st[i].name, sizeof st[i].name, "%s", l->name);
		snprintf(st[i].source, sizeof st[i].source, "%s", l->source);
		int copy = subs_have_copy(l);
		st[i].rules = copy ? l->st.rules : -1;
		st[i].last_update = l->st.last_update;
		st[i].next_update = l->is_url ? l->st.next_update : 0;
		snprintf(st[i].status, sizeof st[i].status, "%s", subs_status(l));
		snprintf(st[i].last_error, sizeof st[i].last_error, "%s",
		         l->st.last_error ? l->st.last_error : "");
		if (copy) {
			with_copy++;
			total += l->st.rules > 0 ? l->st.rules : 0;
		}
	}
	pthread_mutex_lock(&u->lock);
	free(u->st);
	u->st = st;
	u->n_st = st ? n : 0;
	char old[sizeof u->summary];
	snprintf(old, sizeof old, "%s", u->summary);
	char *prev_how = strstr(old, "snapshot ");
	if (n == 0)
		snprintf(u->summary, sizeof u->summary, "no lists subscribed: the built-in rules alone apply");
	else if (with_copy == 0)
		snprintf(u->summary, sizeof u->summary,
		         "built-in rules only: none of the %d lists downloaded yet", n);
	else
		snprintf(u->summary, sizeof u->summary, "%d of %d lists in use, %ld rules; snapshot %s",
		         with_copy, n, total, how ? how : prev_how ? prev_how + 9 : "built");
	pthread_mutex_unlock(&u->lock);
}

int updater_status(struct updater *u, struct updater_list_status **out, char *summary, size_t len)
{
	pthread_mutex_lock(&u->lock);
	int n = u->n_st;
	*out = NULL;
	if (n) {
		*out = malloc((size_t)n * sizeof **out);
		if (!*out) {
			pthread_mutex_unlock(&u->lock);
			return -1;
		}
		memcpy(*out, u->st, (size_t)n * sizeof **out);
	}
	if (len)
		snprintf(summary, len, "%s", u->summary);
	pthread_mutex_unlock(&u->lock);
	return n;
}

struct updater *updater_current(void)
{
	pthread_mutex_lock(&current_lock);
	struct updater *u = current;
	pthread_mutex_unlock(&current_lock);
	return u;
}

static void html_escape(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': evbuffer_add(out, "&lt;", 4); break;
		case '>': evbuffer_add(out, "&gt;", 4); break;
		case '&': evbuffer_add(out, "&amp;", 5); break;
		case '"': evbuffer_add(out, "&quot;", 6); break;
		default: evbuffer_add(out, s, 1);
		}
	}
}

static void fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;
	if (t <= 0) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}

int updater_status_section(struct evbuffer *out, const struct config *cfg)
{
	(void)cfg;
	struct updater *u = updater_current();
	if (!u)
		return 0;
	/* The updater outlives the workers (freed after they stop), so u is
	 * valid for the whole request. */
	struct updater_list_status *st;
	char summary[256];
	int n = updater_status(u, &st, summary, sizeof summary);
	if (n < 0)
		return -1;
	evbuffer_add_printf(out, "<h2>Filter lists</h2>\n<p class=\"lists-summary\">");
	html_escape(out, summary);
	evbuffer_add_printf(out, "</p>\n");
	if (n > 0) {
		evbuffer_add_printf(out, "<table class=\"lists\"><tr><th>Name</th><th>Source</th>"
		                    "<th>Rules</th><th>Last update</th><th>Next update</th>"
		                    "<th>Status</th><th>Last error</th></tr>\n");
		for (int i = 0; i < n; i++) {
			char last[40], next[40], rules[24];
			fmt_time(st[i].last_update, last, sizeof last);
			if (st[i].next_update)
				fmt_time(st[i].next_update, next, sizeof next);
			else
				snprintf(next, sizeof next, "-");
			if (st[i].rules >= 0)
				snprintf(rules, sizeof rules, "%ld", st[i].rules);
			else
				snprintf(rules, sizeof rules, "-");
			evbuffer_add_printf(out, "<tr><td>");
			html_escape(out, st[i].name);
			evbuffer_add_printf(out, "</td><td>");
			html_escape(out, st[i].source);
			evbuffer_add_printf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>",
			                    rules, last, next, st[i].status);
			html_escape(out, st[i].last_error[0] ? st[i].last_error : "-");
			evbuffer_add_printf(out, "</td></tr>\n");
		}
		evbuffer_add_printf(out, "</table>\n");
	}
	free(st);
	return 0;
}

/* ---- the updater thread ----------------------------------------------------------- */

static void schedule(struct updater *u);
static void round_next(struct updater *u);

/* After a round: a new snapshot when any input changed, whether by our
 * downloads or by `quell lists update` run beside us. */
static void publish_after_round(struct updater *u)
{
	char how[64], err[512];
	int rc = rebuild(u, &u->cfg, u->subs, 1, how, sizeof how, err, sizeof err);
	if (rc == 0) {
		log_msg(LOG_INFO, "lists: new snapshot published (%s)", how);
		status_refresh(u, u->subs, how);
	} else if (rc < 0) {
		log_msg(LOG_ERROR, "lists: cannot build a snapshot from the updated lists "
		        "(the previous one stays): %s", err);
	}
}

static void on_fetched(struct fetch_result *r, void *arg)
{
	struct updater *u = arg;
	u->inflight = NULL;
	struct subs_list *l = subs_at(u->subs, u->round_pos - 1);
	char msg[512];
	char name[128];
	snprintf(name, sizeof name, "%s", l->name);
	int rc = subs_apply(u->subs, l, r, u->round_force, time(NULL), msg, sizeof msg);
	if (rc == SUBS_FAILED)
		log_msg(LOG_WARN, "lists: %s: update failed: %s%s", name, msg,
		        subs_have_copy(l) ? " (last good copy kept)" : "");
	else
		log_msg(LOG_INFO, "lists: %s: %s%s [%ld ms]", name, rc == SUBS_CHANGED ? "updated, " : "",
		        msg, r->elapsed_ms);
	fetch_result_free(r);
	status_refresh(u, u->subs, NULL);
	round_next(u);
}

/* Starts the next download of the round, or ends the round. */
static void round_next(struct updater *u)
{
	time_t now = time(NULL);
	while (u->round_pos < subs_count(u->subs)) {
		struct subs_list *l = subs_at(u->subs, u->round_pos++);
		if (!l->is_url || !(u->round_all || subs_due(l, now)))
			continue;
		char err[256];
		u->inflight = subs_download_start(u->client, u->subs, l, on_fetched, u, err, sizeof err);
		if (u->inflight)
			return;
		/* could not even start (bad URL): record it like any failure */
		struct fetch_result r = { .outcome = FETCH_ERROR };
		snprintf(r.error, sizeof r.error, "%s", err);
		char msg[512];
		subs_apply(u->subs, l, &r, 0, now, msg, sizeof msg);
		log_msg(LOG_WARN, "lists: %s: update failed: %s", l->name, msg);
	}
	u->round = 0;
	publish_after_round(u);
	status_refresh(u, u->subs, NULL);
	schedule(u);
}

static void round_start(struct updater *u, int all, int force)
{
	if (u->round)
		return;
	u->round = 1;
	u->round_pos = 0;
	u->round_all = all;
	u->round_force = force;
	/* `quell lists update` may have written new copies and state since we
	 * last looked: start from what is on disk */
	for (int i = 0; i < subs_count(u->subs); i++)
		subs_refresh(u->subs, subs_at(u->subs, i));
	round_next(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	round_start(arg, 0, 0);
}

/* Arms the timer for the earliest due list. */
static void schedule(struct updater *u)
{
	if (u->round)
		return;
	time_t now = time(NULL);
	long wait = UPDATER_MAX_SLEEP;
	for (int i = 0; i < subs_count(u->subs); i++) {
		struct subs_list *l = subs_at(u->subs, i);
		if (!l->is_url)
			continue;
		long w = (long)(l->st.next_update - now);
		if (w < wait)
			wait = w;
	}
	if (wait < 1)
		wait = 1;   /* a second lets a burst of wake-ups settle */
	struct timeval tv = { wait, 0 };
	evtimer_add(u->timer, &tv);
}

/* Adopts a reloaded config and subs; frees the old ones. */
static void adopt(struct updater *u, struct config *cfg, struct subs *s)
{
	if (u->inflight) {
		subs_download_cancel(u->inflight);
		u->inflight = NULL;
	}
	u->round = 0;
	subs_free(u->subs);
	u->subs = s;
	int client_changed =
		(cfg->upstream_ca_file == NULL) != (u->cfg.upstream_ca_file == NULL) ||
		(cfg->upstream_ca_file && strcmp(cfg->upstream_ca_file, u->cfg.upstream_ca_file)) ||
		(cfg->resolver == NULL) != (u->cfg.resolver == NULL) ||
		(cfg->resolver && strcmp(cfg->resolver, u->cfg.resolver));
	config_free(&u->cfg);
	u->cfg = *cfg;
	free(cfg);
	if (client_changed && u->base) {
		char err[512];
		struct fetch_client *c = fetch_client_new(u->base, u->cfg.upstream_ca_file,
		                                          u->cfg.resolver, err, sizeof err);
		if (c) {
			fetch_client_free(u->client);
			u->client = c;
		} else {
			log_msg(LOG_ERROR, "lists: keeping the previous download settings: %s", err);
		}
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct updater *u = arg;
	char buf[64];
	(void)what;
	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&u->lock);
	int stop = u->stop_req, now = u->now_req, force = u->now_force;
	struct config *cfg = u->pending_cfg;
	struct subs *s = u->pending_subs;
	u->now_req = u->now_force = 0;
	u->pending_cfg = NULL;
	u->pending_subs = NULL;
	pthread_mutex_unlock(&u->lock);
	if (stop) {
		if (cfg) {
			config_free(cfg);
			free(cfg);
		}
		subs_free(s);
		event_base_loopbreak(u->base);
		return;
	}
	if (cfg)
		adopt(u, cfg, s);
	evtimer_del(u->timer);
	if (now)
		round_start(u, 1, force);
	else
		schedule(u);
}

static void *thread_main(void *arg)
{
	struct updater *u = arg;
	schedule(u);
	event_base_dispatch(u->base);
	if (u->inflight) {
		subs_download_cancel(u->inflight);
		u->inflight = NULL;
	}
	return NULL;
}

static void wake(struct updater *u)
{
	if (u->pipe_fd[1] >= 0) {
		ssize_t w = write(u->pipe_fd[1], "w", 1);
		(void)w;   /* a full pipe already holds a wake-up */
	}
}

/* ---- public API ---------------------------------------------------------------------- */

struct updater *updater_new(const struct config *cfg, char *err, size_t errlen)
{
	struct updater *u = calloc(1, sizeof *u);
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->magic = UPDATER_MAGIC;
	u->pipe_fd[0] = u->pipe_fd[1] = -1;
	pthread_mutex_init(&u->lock, NULL);
	pthread_mutex_init(&u->build_lock, NULL);
	if (settings_copy(&u->cfg, cfg) != 0) {
		snprintf(err, errlen, "out of memory");
		free(u);
		return NULL;
	}
	u->subs = subs_open(&u->cfg, err, errlen);
	if (!u->subs)
		goto fail;
	char how[64];
	if (rebuild(u, &u->cfg, u->subs, 0, how, sizeof how, err, errlen) != 0)
		goto fail;
	status_refresh(u, u->subs, how);
	char summary[256];
	pthread_mutex_lock(&u->lock);
	snprintf(summary, sizeof summary, "%s", u->summary);
	pthread_mutex_unlock(&u->lock);
	log_msg(LOG_INFO, "lists: %s", summary);
	pthread_mutex_lock(&current_lock);
	current = u;
	/* updater_new runs before the workers start (admin's rule), once per
	 * process in quell run; the section follows whichever updater is current */
	static int registered;
	if (!registered && admin_register_section(updater_status_section) == 0)
		registered = 1;
	pthread_mutex_unlock(&current_lock);
	return u;
fail:
	subs_free(u->subs);
	config_free(&u->cfg);
	free(u->published_key);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->build_lock);
	free(u);
	return NULL;
}

int updater_start(struct updater *u, char *err, size_t errlen)
{
	if (u->magic != UPDATER_MAGIC)
		abort();
	if (u->started)
		return 0;
	if (pipe2(u->pipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	u->base = event_base_new();
	if (u->base) {
		u->timer = evtimer_new(u->base, on_timer, u);
		u->wake = event_new(u->base, u->pipe_fd[0], EV_READ | EV_PERSIST, on_wake, u);
		u->client = fetch_client_new(u->base, u->cfg.upstream_ca_file, u->cfg.resolver,
		                             err, errlen);
	} else {
		snprintf(err, errlen, "cannot create an event loop");
	}
	if (!u->base || !u->timer || !u->wake || !u->client || event_add(u->wake, NULL) != 0)
		goto fail;
	int rc = pthread_create(&u->thread, NULL, thread_main, u);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the updater thread: %s", strerror(rc));
		goto fail;
	}
	u->started = 1;
	return 0;
fail:
	if (!err[0])
		snprintf(err, errlen, "out of memory");
	fetch_client_free(u->client);
	u->client = NULL;
	if (u->wake)
		event_free(u->wake);
	if (u->timer)
		event_free(u->timer);
	u->wake = u->timer = NULL;
	if (u->base)
		event_base_free(u->base);
	u->base = NULL;
	close(u->pipe_fd[0]);
	close(u->pipe_fd[1]);
	u->pipe_fd[0] = u->pipe_fd[1] = -1;
	return -1;
}

int updater_reload(struct updater *u, const struct config *cfg, char *err, size_t errlen)
{
	if (u->magic != UPDATER_MAGIC)
		abort();
	struct config *c = calloc(1, sizeof *c);
	if (!c || settings_copy(c, cfg) != 0) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct subs *s = subs_open(c, err, errlen);
	char how[64];
	if (!s || rebuild(u, c, s, 0, how, sizeof how, err, errlen) != 0) {
		subs_free(s);
		config_free(c);
		free(c);
		return -1;
	}
	status_refresh(u, s, how);
	log_msg(LOG_INFO, "lists: reloaded from disk, snapshot %s", how);
	if (!u->started) {
		adopt(u, c, s);
		return 0;
	}
	pthread_mutex_lock(&u->lock);
	if (u->pending_cfg) {
		config_free(u->pending_cfg);
		free(u->pending_cfg);
	}
	subs_free(u->pending_subs);
	u->pending_cfg = c;
	u->pending_subs = s;
	pthread_mutex_unlock(&u->lock);
	wake(u);
	return 0;
}

void updater_update_now(struct updater *u, int force)
{
	pthread_mutex_lock(&u->lock);
	u->now_req = 1;
	u->now_force |= force;
	pthread_mutex_unlock(&u->lock);
	wake(u);
}

void updater_free(struct updater *u)
{
	if (!u)
		return;
	if (u->magic != UPDATER_MAGIC)
		abort();
	pthread_mutex_lock(&current_lock);
	if (current == u)
		current = NULL;
	pthread_mutex_unlock(&current_lock);
	if (u->started) {
		pthread_mutex_lock(&u->lock);
		u->stop_req = 1;
		pthread_mutex_unlock(&u->lock);
		wake(u);
		pthread_join(u->thread, NULL);
	}
	if (u->pending_cfg) {
		config_free(u->pending_cfg);
		free(u->pending_cfg);
	}
	subs_free(u->pending_subs);
	fetch_client_free(u->client);
	if (u->wake)
		event_free(u->wake);
	if (u->timer)
		event_free(u->timer);
	if (u->base)
		event_base_free(u->base);
	if (u->pipe_fd[0] >= 0) {
		close(u->pipe_fd[0]);
		close(u->pipe_fd[1]);
	}
	subs_free(u->subs);
	config_free(&u->cfg);
	free(u->st);
	free(u->published_key);
	pthread_mutex_destroy(&u->lock);
	pthread_mutex_destroy(&u->build_lock);
	u->magic = 0;
	free(u);
}
