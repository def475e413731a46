/*
 * cmd_run: `quell run`, the proxy.  Loads the configuration (file, then
 * command-line overrides), starts the workers (proxy/worker.h) and turns
 * signals into actions on the main thread: SIGTERM/SIGINT a graceful stop,
 * SIGHUP reopened logs and a reloaded configuration.  A reload is all or
 * nothing where it can fail: the workers bind new listen addresses first
 * (worker_group_reload), and when that fails the old configuration stays
 * entirely, filters and log level included.
 */
#include "certs/pages.h"
#include "certs/tls.h"
#include "proxy/admin.h"
#include "proxy/conn.h"
#include "proxy/cli.h"
#include "proxy/config.h"
#include "proxy/log.h"
#include "proxy/policy.h"
#include "proxy/worker.h"

#include <event2/event.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
"usage: quell run [--config FILE] [--listen ADDR:PORT]... [--workers N] [--log-level L]\n"
"\n"
"Runs the filtering proxy (default 127.0.0.1:8228).\n"
"  --config FILE      configuration file (default %s when it exists)\n"
"  --listen ADDR:PORT listen here instead of the config's listen lines (repeatable)\n"
"  --workers N        worker threads (0: one per core)\n"
"  --log-level L      error, warn, info or debug\n"
"Signals: SIGHUP reopens the logs and reloads the configuration;\n"
"SIGTERM and SIGINT stop accepting and finish requests within shutdown_grace.\n";

struct run_args {
	const char *config;
	const char *listen[CONFIG_MAX_LISTEN];
	int n_listen;
	const char *workers;
	const char *log_level;
};

/* Parses argv.  0, 1 for --help, or -1 after printing a usage error. */
static int parse_args(int argc, char **argv, struct run_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--help") || !strcmp(o, "-h"))
			return 1;
		if (i + 1 >= argc) {
			fprintf(stderr, "quell run: unknown option or missing value: '%s'\n", o);
			return -1;
		}
		const char *v = argv[++i];
		if (!strcmp(o, "--config"))
			a->config = v;
		else if (!strcmp(o, "--workers"))
			a->workers = v;
		else if (!strcmp(o, "--log-level"))
			a->log_level = v;
		else if (!strcmp(o, "--listen") && a->n_listen < CONFIG_MAX_LISTEN)
			a->listen[a->n_listen++] = v;
		else if (!strcmp(o, "--listen")) {
			fprintf(stderr, "quell run: at most %d --listen addresses\n", CONFIG_MAX_LISTEN);
			return -1;
		} else {
			fprintf(stderr, "quell run: unknown option '%s'\n", o);
			return -1;
		}
	}
	return 0;
}

/* Builds a configuration: defaults, the file, the overrides.  0, or -1
 * with "FILE:LINE: why" in err (cfg freed then). */
static int load(const struct run_args *a, struct config *cfg, char *err, size_t errlen)
{
	const char *path = a->config;
	if (config_defaults(cfg) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!path && access(config_default_path(), R_OK) == 0)
		path = config_default_path();
	int rc = path ? config_load(cfg, path, err, errlen) : 0;
	if (rc == 0 && a->n_listen)
		cfg->n_listen = 0;      /* --listen replaces the file's addresses */
	for (int i = 0; rc == 0 && i < a->n_listen; i++)
		rc = config_set(cfg, "listen", a->listen[i], "--listen", 0, err, errlen);
	if (rc == 0 && a->workers)
		rc = config_set(cfg, "workers", a->workers, "--workers", 0, err, errlen);
	if (rc == 0 && a->log_level)
		rc = config_set(cfg, "log_level", a->log_level, "--log-level", 0, err, errlen);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

struct run_state {
	struct run_args args;
	struct worker_group *group;
	struct event_base *base;
	struct tls *tls;
	long grace_ms;
};

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct run_state *s = arg;
	log_msg(LOG_INFO, "signal %d: stopping (grace %ld ms)", (int)sig, s->grace_ms);
	event_base_loopexit(s->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct run_state *s = arg;
	struct config cfg;
	char err[600];
	if (log_reopen() != 0)
		log_msg(LOG_ERROR, "SIGHUP: cannot reopen the logs");
	if (load(&s->args, &cfg, err, sizeof err) != 0) {
		log_msg(LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
		return;
	}
	struct worker_config *wc = worker_config_new(&cfg);
	if (!wc) {
		config_free(&cfg);
		log_msg(LOG_ERROR, "SIGHUP: configuration not reloaded: out of memory");
		return;
	}
	if (worker_group_reload(s->group, wc, err, sizeof err) != 0) {
		log_msg(LOG_ERROR, "SIGHUP: configuration not reloaded: %s", err);
		worker_config_put(wc);
		return;
	}
	const struct config *c = worker_config_cfg(wc);
	if (policy_reload(c, err, sizeof err) != 0)
		log_msg(LOG_ERROR, "SIGHUP: filters not reloaded: %s", err);
	log_set_level(c->log_level);
	s->grace_ms = c->shutdown_grace_ms;
	log_msg(LOG_INFO, "SIGHUP: logs reopened, configuration reloaded (%d workers; "
	        "cert_cache_size, upstream_ca_file and auto_bypass_failures take a restart)",
	        worker_group_count(s->group));
	worker_config_put(wc);
}

/* The signals quell run handles.  They stay blocked from the start until
 * the main loop handles them: the listeners accept (and a supervisor may
 * signal) before that, and SIGHUP's default action would kill the proxy. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* Runs the main loop with the signal events.  0/-1. */
static int serve(struct run_state *s)
{
	struct event *ev[3] = {
		evsignal_new(s->base, SIGTERM, on_stop, s),
		evsignal_new(s->base, SIGINT, on_stop, s),
		evsignal_new(s->base, SIGHUP, on_hup, s),
	};
	int rc = 0;
	for (int i = 0; i < 3; i++)
		if (!ev[i] || event_add(ev[i], NULL) != 0)
			rc = -1;
	/* what arrived while starting (see stop_signals) is delivered now */
	sigset_t set;
	stop_signals(&set);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (rc == 0)
		event_base_dispatch(s->base);
	for (int i = 0; i < 3; i++)
		if (ev[i])
			event_free(ev[i]);
	return rc;
}

/* Sets up HTTPS interception (tls_new: the CA is created when missing; its
 * OpenSSL objects are built now only with interception on, else on first
 * use, so an idle proxy without interception runs no OpenSSL), registers
 * the CA and PAC pages, and hands the object to the connections.  0, or -1
 * after printing why. */
static int start_tls(struct run_state *s, const struct config *cfg)
{
	char err[600];
	s->tls = tls_new(cfg, err, sizeof err);
	if (!s->tls) {
		fprintf(stderr, "quell run: %s\n", err);
		return -1;
	}
	if (pages_register(s->tls) != 0) {
		fprintf(stderr, "quell run: too many admin pages\n");
		return -1;
	}
	conn_set_tls(s->tls);
	return 0;
}

/* Starts everything on a loaded configuration (consumed).  Exit status. */
static int run(struct run_state *s, struct config *cfg)
{
	char err[600];
	struct worker_config *wc;
	if (log_open(cfg->error_log, cfg->access_log, cfg->log_level) != 0) {
		fprintf(stderr, "quell run: cannot open the logs: %s\n", strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (policy_init(cfg, err, sizeof err) != 0) {
		fprintf(stderr, "quell run: %s\n", err);
		config_free(cfg);
		return 1;
	}
	s->grace_ms = cfg->shutdown_grace_ms;
	if (start_tls(s, cfg) != 0 || !(wc = worker_config_new(cfg))) {
		config_free(cfg);
		policy_shutdown();
		tls_free(s->tls);
		return 1;
	}
	admin_started();
	s->group = worker_group_start(s->base, wc, err, sizeof err);
	const struct config *c = worker_config_cfg(wc);
	if (!s->group) {
		fprintf(stderr, "quell run: %s\n", err);
		worker_config_put(wc);
		policy_shutdown();
		tls_free(s->tls);
		return 1;
	}
	log_msg(LOG_INFO, "quell %s listening on %s%s (config %s)", admin_version(),
	        c->listen[0].text, c->n_listen > 1 ? " and more" : "", c->path ? c->path : "defaults");
	worker_config_put(wc);
	int rc = serve(s);
	worker_group_stop(s->group, s->grace_ms);
	policy_shutdown();
	tls_free(s->tls);
	log_msg(LOG_INFO, "stopped");
	return rc ? 1 : 0;
}

int cmd_run(int argc, char **argv)
{
	struct run_state s = { 0 };
	struct config cfg;
	char err[600];
	int r = parse_args(argc, argv, &s.args);
	if (r != 0) {
		fprintf(r > 0 ? stdout : stderr, usage, config_default_path());
		return r > 0 ? 0 : 2;
	}
	if (load(&s.args, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "quell run: %s\n", err);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/* Each filtered response allocates and frees a few hundred KB (codec
	 * states, rewriter buffers); with glibc's defaults the free trims
	 * the heap (an madvise) and the next response faults the pages back
	 * in, ~40 us a gzip page.  Keep up to 512 KB free per arena instead;
	 * idle RSS does not move (nothing is freed before the first page). */
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	mallopt(M_TRIM_THRESHOLD, 512 * 1024);
#endif
	sigset_t set;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (!(s.base = event_base_new())) {
		fprintf(stderr, "quell run: cannot set up libevent\n");
		config_free(&cfg);
		return 1;
	}
	int rc = run(&s, &cfg);
	event_base_free(s.base);
	return rc;
}
