/*
 * `quell filter`: the HTML rewriter on a file or stdin, to stdout.
 *
 *   quell filter --url URL [--lists FILE,...|none] [--no-builtin] [--explain]
 *                [--config FILE] [FILE]
 *
 * Without --lists it compiles what `quell run` compiles (the built-in lists
 * the config enables, the stored copies of its subscriptions, its rule
 * files); with --lists exactly those files plus the built-in lists unless
 * --no-builtin.  The page is rewritten as the proxy would for URL: same
 * index, same page exceptions, same remove/hide mode, same look-ahead.
 * --explain writes one line per removal to stderr.  --bench N reads the
 * whole page, then times N runs of the tokenizer alone and of the rewriter
 * with the loaded rules (16 KiB chunks, as the lol-html harness feeds) and
 * prints the medians (CPU time) to stderr instead of writing the page
 * (bench/rewrite.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filters/builtin.h"
#include "filters/cosmetic.h"
#include "filters/engine.h"
#include "filters/html_filter.h"
#include "filters/html_tok.h"
#include "filters/rewriter.h"
#include "filters/subs.h"
#include "filters/url.h"
#include "proxy/cli.h"
#include "proxy/config.h"

#define MAX_SOURCES 64

static const char usage[] =
	"usage: quell filter --url URL [--lists FILE,...|none] [--no-builtin] [--explain]\n"
	"                    [--config FILE] [--bench N] [FILE]\n";

struct filter_args {
	const char *url, *lists, *config, *file;
	int no_builtin, explain;
	long bench;
};

static int parse_args(int argc, char **argv, struct filter_args *a)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--url") && i + 1 < argc) a->url = argv[++i];
		else if (!strncmp(s, "--url=", 6)) a->url = s + 6;
		else if (!strcmp(s, "--lists") && i + 1 < argc) a->lists = argv[++i];
		else if (!strncmp(s, "--lists=", 8)) a->lists = s + 8;
		else if (!strcmp(s, "--config") && i + 1 < argc) a->config = argv[++i];
		else if (!strncmp(s, "--config=", 9)) a->config = s + 9;
		else if (!strcmp(s, "--no-builtin")) a->no_builtin = 1;
		else if (!strcmp(s, "--explain")) a->explain = 1;
		else if (!strcmp(s, "--bench") && i + 1 < argc) a->bench = strtol(argv[++i], NULL, 10);
		else if (s[0] == '-' && s[1]) return -1;
		else if (!a->file) a->file = s;
		else return -1;
	}
	return a->url && a->bench >= 0 && a->bench <= 100000 ? 0 : -1;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

struct sources {
	struct lists_source v[MAX_SOURCES];
	int n;
	char *copy;
	struct subs *subs;
};

/* The sources to compile.  Returns 0, or -1 with a message in err. */
static int gather(struct sources *s, const struct filter_args *a, const struct config *cfg,
                  char *err, size_t errlen)
{
	if (!a->no_builtin) {
		const struct builtin_list *b[BUILTIN_MAX];
		size_t nb = builtin_for_config(cfg, b, BUILTIN_MAX);
		for (size_t i = 0; i < nb; i++)
			s->v[s->n++] = (struct lists_source){ b[i]->name, NULL, b[i]->bytes, b[i]->length };
	}
	if (a->lists) {
		if (!strcmp(a->lists, "none"))
			return 0;
		s->copy = strdup(a->lists);
		if (!s->copy) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (char *tok = strtok(s->copy, ","); tok; tok = strtok(NULL, ",")) {
			if (s->n >= MAX_SOURCES) {
				snprintf(err, errlen, "too many lists (at most %d)", MAX_SOURCES);
				return -1;
			}
			s->v[s->n++] = (struct lists_source){ base_name(tok), tok, NULL, 0 };
		}
		return 0;
	}
	/* The sources `quell run` compiles (built-in lists already added). */
	s->subs = subs_open(cfg, err, errlen);
	if (!s->subs)
		return -1;
	subs_sources(s->subs, cfg, 0, s->v, &s->n, MAX_SOURCES);
	return 0;
}

static void explain_line(void *arg, const struct rewriter_removal *r)
{
	(void)arg;
	fprintf(stderr, "%s %s (%s:%u) bytes %llu-%llu: %s\n", r->kept ? "kept (too much text)" : r->hidden ? "hidden" : "removed",
	        r->rule, r->list, r->line, (unsigned long long)r->start, (unsigned long long)r->end,
	        r->text[0] ? r->text : "(no text)");
}

static int sink_stdout(void *arg, const char *p, size_t n)
{
	return fwrite(p, 1, n, arg) == n ? 0 : -1;
}

/* Streams in through rw to stdout.  Returns 0 or -1 (message printed). */
static int run(struct rewriter *rw, FILE *in, const char *name)
{
	static char buf[64 * 1024];
	for (;;) {
		size_t n = fread(buf, 1, sizeof buf, in);
		if (n && rewriter_feed(rw, buf, n, 0, sink_stdout, stdout) < 0) {
			fprintf(stderr, "quell filter: rewriting failed (out of memory or write error)\n");
			return -1;
		}
		if (n < sizeof buf) {
			if (ferror(in)) {
				fprintf(stderr, "quell filter: %s: %s\n", name, strerror(errno));
				return -1;
			}
			break;
		}
	}
	if (rewriter_feed(rw, NULL, 0, 1, sink_stdout, stdout) < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "quell filter: rewriting failed (out of memory or write error)\n");
		return -1;
	}
	return 0;
}


/* ---- --bench ------------------------------------------------------------ */

#define BENCH_CHUNK 16384
#define BENCH_MAX (256u << 20)

static int count_sink(void *arg, const char *p, size_t n)
{
	(void)p;
	*(size_t *)arg += n;
	return 0;
}

static int count_tok(void *arg, const struct html_token *t)
{
	*(size_t *)arg += t->raw_len;
	return 0;
}

/* CPU time of this thread: on a machine others share, wall time counts
 * the time the scheduler gave them. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Reads all of in (at most BENCH_MAX bytes).  NULL on error. */
static char *slurp(FILE *in, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap);
	while (b) {
		if (n == cap) {
			char *x = cap < BENCH_MAX ? realloc(b, cap * 2) : NULL;
			if (!x) {
				free(b);
				return NULL;
			}
			b = x;
			cap *= 2;
		}
		size_t k = fread(b + n, 1, cap - n, in);
		n += k;
		if (k == 0)
			break;
	}
	if (b && ferror(in)) {
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

/* Times runs of the tokenizer alone and of the whole rewriter on page.
 * Returns 0 or -1 (out of memory). */
static int bench(const struct cosmetic *idx, const char *host, unsigned flags,
                 const struct rewriter_opts *o, const char *page, size_t len, long runs)
{
	double *tt = calloc((size_t)runs, sizeof *tt), *tr = calloc((size_t)runs, sizeof *tr);
	struct rewriter_stats st = { 0 };
	int rc = -1;
	if (!tt || !tr)
		goto out;
	for (long r = 0; r < runs; r++) {
		size_t got = 0;
		double t0 = now_s();
		struct html_tok *tok = html_tok_new(o->lookahead);
		if (!tok)
			goto out;
		for (size_t i = 0; i < len; i += BENCH_CHUNK)
			html_tok_feed(tok, page + i, len - i < BENCH_CHUNK ? len - i : BENCH_CHUNK, 0, count_tok, &got);
		html_tok_feed(tok, NULL, 0, 1, count_tok, &got);
		html_tok_free(tok);
		tt[r] = now_s() - t0;
		got = 0;
		t0 = now_s();
		struct cosmetic_page *pg = cosmetic_page_new(idx, host, flags);
		struct rewriter *rw = pg ? rewriter_new(pg, o) : NULL;
		if (!rw) {
			cosmetic_page_free(pg);
			goto out;
		}
		for (size_t i = 0; i < len; i += BENCH_CHUNK)
			if (rewriter_feed(rw, page + i, len - i < BENCH_CHUNK ? len - i : BENCH_CHUNK, 0, count_sink, &got) < 0)
				break;
		rewriter_feed(rw, NULL, 0, 1, count_sink, &got);
		rewriter_get_stats(rw, &st);
		rewriter_free(rw);
		cosmetic_page_free(pg);
		tr[r] = now_s() - t0;
	}
	qsort(tt, (size_t)runs, sizeof *tt, dbl_cmp);
	qsort(tr, (size_t)runs, sizeof *tr, dbl_cmp);
	double mt = tt[runs / 2], mr = tr[runs / 2];
	fprintf(stderr, "bench: %zu bytes, %ld runs (median): tokenizer %.1f MB/s (%.4f ms), "
	        "rewrite %.1f MB/s (%.4f ms), %llu removed, %zu rules\n", len, runs,
	        (double)len / 1e6 / mt, mt * 1e3, (double)len / 1e6 / mr, mr * 1e3,
	        (unsigned long long)st.removed, cosmetic_n_rules(idx));
	rc = 0;
out:
	free(tt);
	free(tr);
	return rc;
}

int cmd_filter(int argc, char **argv)
{
	struct filter_args a;
	struct config cfg;
	struct sources src = { .n = 0 };
	struct engine *e = NULL;
	struct cosmetic_page *page = NULL;
	struct rewriter *rw = NULL;
	FILE *in = stdin;
	char err[512];
	int rc = 2, have_cfg = 0;
	if (parse_args(argc, argv, &a) < 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (config_defaults(&cfg) < 0) {
		fprintf(stderr, "quell filter: out of memory\n");
		return 1;
	}
	have_cfg = 1;
	const char *cp = a.config ? a.config : config_default_path();
	if ((a.config || access(cp, R_OK) == 0) && config_load(&cfg, cp, err, sizeof err) < 0) {
		fprintf(stderr, "quell filter: %s\n", err);
		goto out;
	}
	if (gather(&src, &a, &cfg, err, sizeof err) < 0) {
		fprintf(stderr, "quell filter: %s\n", err);
		goto out;
	}
	rc = 1;
	if (a.file && !(in = fopen(a.file, "rb"))) {
		fprintf(stderr, "quell filter: %s: %s\n", a.file, strerror(errno));
		goto out;
	}
	char host[256] = "";
	if (url_host(a.url, strlen(a.url), host, sizeof host) < 0)
		host[0] = 0;
	struct cosmetic *idx = NULL;
	unsigned flags = 0;
	if (src.n) {
		e = engine_build(src.v, src.n, err, sizeof err);
		if (!e) {
			fprintf(stderr, "quell filter: %s\n", err);
			goto out;
		}
		flags = html_filter_page_flags(engine_page_flags(e, a.url));
		idx = html_filter_index(e);
		if (!idx) {
			fprintf(stderr, "quell filter: out of memory\n");
			goto out;
		}
	}
	page = cosmetic_page_new(idx, host, flags);
	struct rewriter_opts o = { 0 };
	o.hide = html_filter_mode(&cfg, host) == COSMETIC_HIDE;
	o.lookahead = cfg.html_lookahead;
	o.explain = a.explain ? explain_line : NULL;
	o.log_host = host;
	rw = page ? rewriter_new(page, &o) : NULL;
	if (!rw) {
		fprintf(stderr, "quell filter: out of memory\n");
		goto out;
	}
	if (a.bench) {
		size_t len;
		char *pagebuf = slurp(in, &len);
		if (pagebuf && bench(idx, host, flags, &o, pagebuf, len, a.bench) == 0)
			rc = 0;
		else
			fprintf(stderr, "quell filter: cannot read the page or out of memory\n");
		free(pagebuf);
	} else if (run(rw, in, a.file ? a.file : "stdin") == 0) {
		rc = 0;
	}
	if (a.explain) {
		struct rewriter_stats st;
		rewriter_get_stats(rw, &st);
		fprintf(stderr, "quell filter: %llu removed, %llu hidden, %llu kept (too much text), %llu look-ahead overflows, %llu -> %llu bytes\n",
		        (unsigned long long)st.removed, (unsigned long long)st.hidden, (unsigned long long)st.guarded,
		        (unsigned long long)st.lookahead_overflows, (unsigned long long)st.bytes_in,
		        (unsigned long long)st.bytes_out);
	}
out:
	rewriter_free(rw);
	cosmetic_page_free(page);
	engine_release(e);
	if (in && in != stdin)
		fclose(in);
	free(src.copy);
	subs_free(src.subs);
	if (have_cfg)
		config_free(&cfg);
	return rc;
}
