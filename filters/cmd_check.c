/*
 * cmd_check: `quell check`, `quell lists lint` and `quell lists compile`,
 * the command-line faces of the filter engine.
 *
 *   quell check URL [--type T] [--source PAGE_URL] [--method M] [--lists F,...] [--config FILE]
 *   quell check --batch [--lists F,...] [--config FILE] [--snapshot FILE]
 *   quell check --bench-protocol [--lists F,...] [--snapshot FILE] [LIST...]
 *   quell lists lint FILE...
 *   quell lists compile [--lists F,...|--config FILE] -o FILE
 */
#include "filters/builtin.h"
#include "filters/engine.h"
#include "filters/lists.h"
#include "filters/resources.h"
#include "filters/subs.h"
#include "proxy/cli.h"
#include "proxy/config.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOURCES 256

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

struct srcset {
	struct lists_source v[MAX_SOURCES];
	int n;
	char *lists_copy;           /* the --lists argument, split in place */
	struct config cfg;
	int have_cfg;
	struct subs *subs;
};

static void srcset_free(struct srcset *s)
{
	free(s->lists_copy);
	subs_free(s->subs);
	if (s->have_cfg)
		config_free(&s->cfg);
}

/* Adds the comma-separated files of arg. */
static int add_lists(struct srcset *s, const char *arg)
{
	char *copy = strdup(arg);
	if (!copy)
		return -1;
	free(s->lists_copy);
	s->lists_copy = copy;
	for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
		if (s->n >= MAX_SOURCES)
			return -1;
		s->v[s->n++] = (struct lists_source){base_name(tok), tok, NULL, 0};
	}
	return 0;
}

/* The sources a configuration names: built-in lists, the stored copies of
 * its subscriptions, the user's rules (the same set `quell run` compiles). */
static int add_config(struct srcset *s, const char *path, char *err, size_t errlen)
{
	if (config_defaults(&s->cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->have_cfg = 1;
	const char *p = path ? path : config_default_path();
	if ((path || access(p, R_OK) == 0) && config_load(&s->cfg, p, err, errlen) < 0)
		return -1;
	s->subs = subs_open(&s->cfg, err, errlen);
	if (!s->subs)
		return -1;
	subs_sources(s->subs, &s->cfg, 1, s->v, &s->n, MAX_SOURCES);
	return 0;
}

static const char *verdict_word(const struct netfilter_verdict *v)
{
	static const char *w[] = {"allow", "block", "redirect", "removeparam", "csp"};
	return v->action >= 0 && v->action <= NETFILTER_CSP ? w[v->action] : "?";
}

/* Maps a type name; batch/bench inputs treat "document" as a sub-frame, as
 * the request set's README and the bench harness do. */
static uint32_t parse_type(const char *t, int document_is_frame)
{
	if (document_is_frame && strcmp(t, "document") == 0)
		return LISTS_T_SUBDOCUMENT;
	uint32_t x = lists_type_parse(t, strlen(t));
	return x ? x : LISTS_T_OTHER;
}

/* Splits "a<TAB>b<TAB>c" in place into up to 3 fields.  Returns the count. */
static int split3(char *line, char **f)
{
	int n = 0;
	f[0] = f[1] = f[2] = "";
	char *p = line;
	while (n < 3) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

static int run_batch(struct engine *e)
{
	size_t cap = 0;
	char *line = NULL;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *f[3];
		split3(line, f);
		struct netfilter_verdict v;
		engine_match(e, f[0], parse_type(f[1], 1), f[2][0] ? f[2] : NULL, &v);
		printf("%s\t%s\n", verdict_word(&v), engine_rule_text(e, v.rule));
		free(v.new_url);
	}
	free(line);
	return ferror(stdin) ? 1 : 0;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The stdin/stdout protocol of the engine benchmark harness
 * (bench/README.md): "READY ..." once loaded, then per request line
 * "url<TAB>frameUrl<TAB>type" one "verdict<TAB>ns" line, verdict 0 (no
 * rule), 1 (blocked) or 2 (an exception matched). */
static int run_bench(struct engine *e, double load_ms)
{
	static char obuf[1 << 20];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	const struct engine_counts *c = engine_counts(e);
	/* heap_kb: what the engine keeps (the snapshot and its fix-ups) plus the
	 * little the CLI holds; rss_kb adds the binary, libraries and libpsl */
	struct mallinfo2 mi = mallinfo2();
	printf("READY parse_ms=%.1f rules=%u snapshot_kb=%zu heap_kb=%zu rss_kb=%ld\n", load_ms, c->network,
	       engine_size(e) / 1024, (mi.uordblks + mi.hblkhd) / 1024, rss_kb());
	fflush(stdout);
	size_t cap = 0;
	char *line = NULL;
	ssize_t len;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *f[3];
		split3(line, f);
		uint32_t type = parse_type(f[2], 1);
		struct netfilter_verdict v;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		engine_match(e, f[0], type, f[1][0] ? f[1] : NULL, &v);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
		printf("%d\t%ld\n", v.matched, ns);
		free(v.new_url);
	}
	free(line);
	fflush(stdout);
	return 0;
}

static void print_verdict(struct engine *e, const char *url, const struct netfilter_verdict *v,
                          const char *page)
{
	printf("verdict: %s\n", verdict_word(v));
	if (v->rule != NETFILTER_NO_RULE) {
		printf("rule: %s\n", engine_rule_text(e, v->rule));
		printf("list: %s:%u\n", engine_rule_list(e, v->rule), engine_rule_line(e, v->rule));
		if (v->matched == 2)
			printf("exception: yes\n");
	} else
		printf("rule: (none)\n");
	if (v->action == NETFILTER_REDIRECT) {
		const struct resources_item *r = resources_find(v->resource, strlen(v->resource));
		printf("resource: %s%s\n", r ? r->name : v->resource, r ? "" : " (not built in: neutral response)");
	}
	if (v->action == NETFILTER_REMOVEPARAM)
		printf("url: %s\n", v->new_url);
	if (v->action == NETFILTER_CSP)
		printf("csp: %s\n", v->csp);
	unsigned pf = engine_page_flags(e, page ? page : url);
	if (pf)
		printf("page:%s%s%s%s\n", pf & NETFILTER_PAGE_ELEMHIDE ? " elemhide" : "",
		       pf & NETFILTER_PAGE_GENERICHIDE ? " generichide" : "",
		       pf & NETFILTER_PAGE_SPECIFICHIDE ? " specifichide" : "",
		       pf & NETFILTER_PAGE_DOCUMENT ? " document" : "");
}

static void usage_check(void)
{
	fprintf(stderr,
	        "usage: quell check URL [--type T] [--source PAGE_URL] [--method M] [--lists F,...] [--config FILE]\n"
	        "       quell check --batch [--lists F,...] [--config FILE] [--snapshot FILE]\n"
	        "       quell check --bench-protocol [--lists F,...] [--snapshot FILE] [LIST...]\n");
}

/* Loads the engine from --snapshot, or compiles the sources. */
static struct engine *get_engine(struct srcset *s, const char *snapshot, const char *config,
                                 double *ms)
{
	char err[512];
	double t0 = now_ms();
	struct engine *e;
	if (snapshot) {
		e = engine_load(snapshot, err, sizeof(err));
	} else {
		if (s->n == 0 && add_config(s, config, err, sizeof(err)) < 0) {
			fprintf(stderr, "quell: %s\n", err);
			return NULL;
		}
		e = engine_build(s->v, (size_t)s->n, err, sizeof(err));
		/* give the compiler's scratch memory back: what stays is the snapshot */
		malloc_trim(0);
	}
	*ms = now_ms() - t0;
	if (!e)
		fprintf(stderr, "quell: %s\n", err);
	return e;
}

int cmd_check(int argc, char **argv)
{
	struct srcset s;
	memset(&s, 0, sizeof(s));
	const char *url = NULL, *type = NULL, *page = NULL, *config = NULL, *snapshot = NULL, *method = NULL;
	int batch = 0, bench = 0, rc = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--batch") == 0)
			batch = 1;
		else if (strcmp(a, "--bench-protocol") == 0)
			bench = 1;
		else if ((strcmp(a, "--type") == 0 || strcmp(a, "-t") == 0) && val)
			type = argv[++i];
		else if ((strcmp(a, "--source") == 0 || strcmp(a, "-s") == 0) && val)
			page = argv[++i];
		else if (strcmp(a, "--config") == 0 && val)
			config = argv[++i];
		else if (strcmp(a, "--method") == 0 && val)
			method = argv[++i];
		else if (strcmp(a, "--snapshot") == 0 && val)
			snapshot = argv[++i];
		else if (strcmp(a, "--lists") == 0 && val) {
			if (add_lists(&s, argv[++i]) < 0) {
				fprintf(stderr, "quell check: too many lists\n");
				goto out;
			}
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_check();
			rc = 0;
			goto out;
		} else if (a[0] == '-') {
			fprintf(stderr, "quell check: unknown option %s\n", a);
			usage_check();
			goto out;
		} else if (bench) {
			if (s.n >= MAX_SOURCES)
				goto out;
			s.v[s.n++] = (struct lists_source){base_name(a), a, NULL, 0};
		} else if (!url)
			url = a;
		else {
			usage_check();
			goto out;
		}
	}
	if (!batch && !bench && !url) {
		usage_check();
		goto out;
	}
	double ms;
	struct engine *e = get_engine(&s, snapshot, config, &ms);
	if (!e) {
		rc = 1;
		goto out;
	}
	if (bench)
		rc = run_bench(e, ms);
	else if (batch)
		rc = run_batch(e);
	else {
		struct netfilter_verdict v;
		engine_match_method(e, url, type ? parse_type(type, 0) : LISTS_T_DOCUMENT, method, page, &v);
		print_verdict(e, url, &v, page);
		free(v.new_url);
		rc = 0;
	}
	engine_release(e);
out:
	srcset_free(&s);
	return rc;
}

/* ---- lists lint ----------------------------------------------------------------------- */

#define LINT_REASONS 64
#define LINT_WARN_MAX 200

struct lint {
	long cls[LISTS_N_CLASSES];
	struct { const char *reason; char key[96]; char example[100]; char where[200]; long n; } r[LINT_REASONS];
	int nr;
	long warnings;
};

static int lint_cb(void *arg, const struct lists_rule *in)
{
	struct lint *l = arg;
	struct lists_rule fixed;
	const struct lists_rule *r = in;
	const char *why;
	if (in->cls == LISTS_NETWORK && !netfilter_rule_ok(in, &why)) {
		/* what the engine would drop is a warning too */
		fixed = *in;
		fixed.cls = LISTS_INVALID;
		fixed.reason = why;
		fixed.detail = NULL;
		fixed.detail_len = 0;
		r = &fixed;
	}
	if (r->cls < 0 || r->cls >= LISTS_N_CLASSES)
		return 0;
	l->cls[r->cls]++;
	if (r->cls == LISTS_INVALID) {
		if (l->warnings++ < LINT_WARN_MAX)
			printf("warning: %s:%u: %s%s%.*s: %.*s\n", r->file, r->line, r->reason, r->detail ? " " : "",
			       r->detail ? (int)r->detail_len : 0, r->detail ? r->detail : "", (int)(r->len > 200 ? 200 : r->len),
			       r->text);
	}
	if (r->cls == LISTS_UNSUPPORTED || r->cls == LISTS_INVALID) {
		/* group by reason and, for options, by the option's name */
		char key[96];
		size_t dl = r->detail ? strcspn(r->detail, "=") : 0;
		if (r->detail && dl > r->detail_len)
			dl = r->detail_len;
		if (r->reason && (strstr(r->reason, "option") != NULL) && r->detail)
			snprintf(key, sizeof(key), "%s %.*s", r->reason, (int)(dl > 40 ? 40 : dl), r->detail);
		else
			snprintf(key, sizeof(key), "%s", r->reason ? r->reason : "?");
		int i;
		for (i = 0; i < l->nr; i++)
			if (strcmp(l->r[i].key, key) == 0)
				break;
		if (i == l->nr && l->nr < LINT_REASONS) {
			l->nr++;
			l->r[i].reason = r->cls == LISTS_INVALID ? "invalid" : "unsupported";
			snprintf(l->r[i].example, sizeof(l->r[i].example), "%.*s", (int)(r->len > 99 ? 99 : r->len), r->text);
			snprintf(l->r[i].key, sizeof(l->r[i].key), "%s", key);
			snprintf(l->r[i].where, sizeof(l->r[i].where), "%s:%u", r->file, r->line);
		}
		if (i < l->nr)
			l->r[i].n++;
	}
	return 0;
}

int cmd_lists_lint(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: quell lists lint FILE...\n");
		return 2;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		static struct lint l;
		memset(&l, 0, sizeof(l));
		struct lists_source src = {base_name(argv[i]), argv[i], NULL, 0};
		long n = lists_parse(&src, lint_cb, &l);
		if (n < 0) {
			fprintf(stderr, "quell lists lint: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
			continue;
		}
		if (l.warnings > LINT_WARN_MAX)
			printf("warning: %s: %ld more warnings\n", argv[i], l.warnings - LINT_WARN_MAX);
		printf("%s: %ld lines\n", argv[i], n);
		for (int k = 0; k < LISTS_N_CLASSES; k++)
			printf("  %-12s %ld\n", lists_class_name(k), l.cls[k]);
		for (int k = 0; k < l.nr; k++)
			printf("  %s: %s: %ld (e.g. %s: %s)\n", l.r[k].reason, l.r[k].key, l.r[k].n,
			       l.r[k].where, l.r[k].example);
	}
	return rc;
}

/* ---- lists compile ------------------------------------------------------------------------ */

int cmd_lists_compile(int argc, char **argv)
{
	struct srcset s;
	memset(&s, 0, sizeof(s));
	const char *out = NULL, *config = NULL;
	int rc = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--lists") == 0 && i + 1 < argc) {
			if (add_lists(&s, argv[++i]) < 0)
				goto out;
		} else {
			fprintf(stderr, "usage: quell lists compile [--lists F,...|--config FILE] -o FILE\n");
			goto out;
		}
	}
	if (!out) {
		fprintf(stderr, "usage: quell lists compile [--lists F,...|--config FILE] -o FILE\n");
		goto out;
	}
	double ms;
	struct engine *e = get_engine(&s, NULL, config, &ms);
	if (!e) {
		rc = 1;
		goto out;
	}
	char err[512];
	if (engine_save(e, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "quell lists compile: %s\n", err);
		rc = 1;
	} else {
		const struct engine_counts *c = engine_counts(e);
		printf("%s: %zu lists, %u network rules, %u cosmetic/HTML rules, %zu bytes, compiled in %.0f ms\n",
		       out, engine_list_count(e), c->network, c->cosmetic, engine_size(e), ms);
		rc = 0;
	}
	engine_release(e);
out:
	srcset_free(&s);
	return rc;
}
