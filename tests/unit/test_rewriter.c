/* Unit tests for filters/rewriter: every document is rewritten whole, in
 * 1-byte chunks and in random splits (seed printed) and the outputs must
 * be identical; then the output is checked.  One test per selector
 * feature and procedural operator, implied end tags, void elements, the
 * look-ahead bound, style injection, hide mode, CSP nonces, exceptions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/cosmetic.h"
#include "filters/rewriter.h"

#define NONCE "TESTNONCE"
#define STYLE_OPEN "<style nonce=\"" NONCE "\">\n"

struct out { char *p; size_t n, cap; };

static int sink(void *arg, const char *p, size_t n)
{
	struct out *o = arg;
	if (o->n + n + 1 > o->cap) {
		o->cap = (o->n + n + 1) * 2;
		o->p = realloc(o->p, o->cap);
		assert_non_null(o->p);
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
	o->p[o->n] = 0;
	return 0;
}

static unsigned seed;

struct opts {
	int hide, xml;
	size_t lookahead, max_tag;
	unsigned flags;
	const char *host;
	struct rewriter_stats st;
};

/* Rewrites doc with rules split in the given way: mode 0 whole, 1 one byte
 * at a time, 2 random splits. */
static char *run_split(const struct cosmetic *c, const char *doc, size_t len, int mode,
                       struct opts *op)
{
	struct cosmetic_page *pg = cosmetic_page_new(c, op->host ? op->host : "www.example.com", op->flags);
	assert_non_null(pg);
	struct rewriter_opts ro = { 0 };
	ro.hide = op->hide;
	ro.xml = op->xml;
	ro.lookahead = op->lookahead;
	ro.max_tag = op->max_tag;
	ro.nonce = NONCE;
	struct rewriter *rw = rewriter_new(pg, &ro);
	assert_non_null(rw);
	struct out o = { calloc(1, 1), 0, 1 };
	size_t i = 0;
	while (i < len) {
		size_t n = mode == 0 ? len : mode == 1 ? 1 : 1 + (size_t)(rand() % 97);
		if (n > len - i)
			n = len - i;
		assert_int_equal(rewriter_feed(rw, doc + i, n, 0, sink, &o), 0);
		i += n;
	}
	assert_int_equal(rewriter_feed(rw, NULL, 0, 1, sink, &o), 0);
	rewriter_get_stats(rw, &op->st);
	rewriter_free(rw);
	cosmetic_page_free(pg);
	return o.p;
}

/* Rewrites and checks that the three ways of splitting agree. */
static char *rewrite_c(const struct cosmetic *c, const char *doc, size_t len, struct opts *op)
{
	char *whole = run_split(c, doc, len, 0, op);
	struct rewriter_stats st = op->st;
	char *one = run_split(c, doc, len, 1, op);
	assert_string_equal(whole, one);
	for (int r = 0; r < 3; r++) {
		char *rnd = run_split(c, doc, len, 2, op);
		if (strcmp(whole, rnd) != 0)
			fprintf(stderr, "split mismatch, seed %u\n", seed);
		assert_string_equal(whole, rnd);
		free(rnd);
	}
	free(one);
	op->st = st;
	return whole;
}

/* Rules as "domains|kind|body" or plain "##body"-style strings. */
static struct cosmetic *build(const char *const *rules)
{
	struct cosmetic_rule v[64];
	size_t n = 0;
	static char store[64][512];
	for (; rules && rules[n]; n++) {
		const char *r = rules[n];
		struct cosmetic_rule *x = &v[n];
		memset(x, 0, sizeof *x);
		const char *sep = NULL;
		const char *seps[] = { "#@#", "##^", "#?#", "##", "$$" };
		int kinds[] = { COSM_CSS, COSM_HTML, COSM_PROCEDURAL, COSM_CSS, COSM_ADG_HTML };
		size_t sl = 0;
		for (int k = 0; k < 5 && !sep; k++)
			if ((sep = strstr(r, seps[k]))) {
				sl = strlen(seps[k]);
				x->kind = (uint8_t)kinds[k];
				x->exception = k == 0;
			}
		assert_non_null(sep);
		snprintf(store[n], sizeof store[n], "%.*s", (int)(sep - r), r);
		x->domains = store[n];
		x->body = sep + sl;
		if (x->kind == COSM_CSS && strstr(x->body, ":has"))
			x->kind = COSM_PROCEDURAL;
		if (strstr(x->body, ":style("))
			x->kind = COSM_STYLE;
		x->line = (uint32_t)n + 1;
	}
	const char *names[] = { "test" };
	struct cosmetic *c = cosmetic_build(v, n, names, 1, NULL, NULL);
	assert_non_null(c);
	return c;
}

static char *rewrite(const char *const *rules, const char *doc, struct opts *op)
{
	struct cosmetic *c = build(rules);
	struct opts def = { 0 };
	char *out = rewrite_c(c, doc, strlen(doc), op ? op : &def);
	cosmetic_free(c);
	return out;
}

/* Checks rewrite(rules, doc) == want, ignoring injected styles. */
static void expect(const char *const *rules, const char *doc, const char *want)
{
	char *out = rewrite(rules, doc, NULL);
	/* strip <style nonce=...>...</style> */
	char *s;
	while ((s = strstr(out, STYLE_OPEN))) {
		char *e = strstr(s, "</style>");
		assert_non_null(e);
		memmove(s, e + 8, strlen(e + 8) + 1);
	}
	if (strcmp(out, want))
		fprintf(stderr, "rules %s\n  doc  %s\n  got  %s\n  want %s\n", rules[0], doc, out, want);
	assert_string_equal(out, want);
	free(out);
}

#define R(...) ((const char *const[]){ __VA_ARGS__, NULL })

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* Tag names are known by their first 8 bytes and length (tag_key) and
 * compared further only past 8 bytes: names that share their first 8
 * bytes and length must stay apart in the tag cache, in rules filed
 * under the tag and in end tags (an end tag of the current element
 * closes it directly, any other one takes the parser's way); names of
 * 8 bytes and fewer that differ in the last byte too. */
static void test_54_tag_keys(void **state)
{
	expect(R("##x-widget-b", "##abcdefgh"),
	       "<x-widget-a>1</x-widget-a><x-widget-b>2</x-widget-b><x-widget-a>3<x-widget-b>4</x-widget-b>5</x-widget-a>"
	       "<abcdefgi>6</abcdefgi><abcdefgh>7</abcdefgh><abcdefg>8</abcdefg>",
	       "<x-widget-a>1</x-widget-a><x-widget-a>35</x-widget-a><abcdefgi>6</abcdefgi><abcdefg>8</abcdefg>");
	/* an end tag of another long name of the same first bytes does not
	 * close the open one (ignored), so the rest stays inside it */
	expect(R("##x-widget-a"),
	       "<div><x-widget-a>1</x-widget-b>2</x-widget-a>3</div><p>4",
	       "<div>3</div><p>4");
	/* end tags of the current element, of an ancestor (implied closes),
	 * of a heading closing another heading, of a foreign element */
	expect(R("##.ad"),
	       "<div><p>1<b>2</div><h2>t</h3><i class=ad>x</i><svg><g><rect class=\"ad\"/></g></svg><span>3</span>",
	       "<div><p>1<b>2</div><h2>t</h3><svg><g></g></svg><span>3</span>");
	/* records of names of 1 to 31 bytes (the longest kept), read as
	 * ancestors and earlier siblings */
	expect(R("##x-0123456789abcdefghijklmnopqrs > b", "##q + i", "##x-0123456789abcdefghijklmnopqr ~ u"),
	       "<x-0123456789abcdefghijklmnopqrs><b>1</b></x-0123456789abcdefghijklmnopqrs>"
	       "<x-0123456789abcdefghijklmnopqr><b>2</b></x-0123456789abcdefghijklmnopqr><u>3</u>"
	       "<q>4</q><i>5</i><qq>6</qq><i>7</i>",
	       "<x-0123456789abcdefghijklmnopqrs></x-0123456789abcdefghijklmnopqrs>"
	       "<x-0123456789abcdefghijklmnopqr><b>2</b></x-0123456789abcdefghijklmnopqr>"
	       "<q>4</q><qq>6</qq><i>7</i>");
	/* many elements: records are reused (and siblings cut) across them */
	char doc[64 * 1024], want[64 * 1024];
	size_t d = 0, w = 0;
	d += (size_t)snprintf(doc + d, sizeof doc - d, "<div>");
	w += (size_t)snprintf(want + w, sizeof want - w, "<div>");
	for (int i = 0; i < 600; i++) {
		const char *cl = i % 7 == 3 ? "ad" : "para";
		char el[160];
		snprintf(el, sizeof el, "<p class=%s data-i=%d>t%d<a href=/x%d>l</a></p>\n", cl, i, i, i % 13);
		d += (size_t)snprintf(doc + d, sizeof doc - d, "%s", el);
		if (i % 7 != 3)
			w += (size_t)snprintf(want + w, sizeof want - w, "%s", el);
		else
			w += (size_t)snprintf(want + w, sizeof want - w, "\n");
	}
	snprintf(doc + d, sizeof doc - d, "</div>");
	snprintf(want + w, sizeof want - w, "</div>");
	expect(R("##.ad"), doc, want);
}

/* Attribute names are known by their first 8 bytes and length (read with
 * one load when the tag goes on for 8 more bytes, byte by byte at its
 * end or when lower-cased apart): names sharing their first 8 bytes,
 * of 8 bytes and one byte less or more, at the tag's end, in capitals;
 * an '&' anywhere in tags of 16 to 64 bytes and around them keeps the
 * values decoded. */
static void test_55_attribute_name_keys(void **state)
{
	expect(R("##[data-parb]", "##[data-pa]", "##[abcdefgh]"),
	       "<p data-para=1>1</p><p data-parb=1>2</p><p data-par>3</p><p data-parb>4</p><p DATA-PARB=x>5</p>"
	       "<p data-pa>6</p><p data-pab>7</p><p abcdefgh>8</p><p abcdefg=1>9</p><p abcdefghi>10</p>"
	       "<p x=1 ABCDEFGH>11</p><p class=\"data-parb\">12</p>",
	       "<p data-para=1>1</p><p data-par>3</p><p data-pab>7</p><p abcdefg=1>9</p><p abcdefghi>10</p>"
	       "<p class=\"data-parb\">12</p>");
	static char doc[32768], want[32768];
	size_t d = 0, w = 0;
	for (int pad = 0; pad <= 60; pad++) {
		/* the tag's only '&' at every place in tags of 16 to 90 bytes */
		const char *z = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
		d += (size_t)snprintf(doc + d, sizeof doc - d, "<a t=\"%.*s\" href=\"&amp;ad=\">k</a>", pad, z);
		d += (size_t)snprintf(doc + d, sizeof doc - d, "<a href=\"&amp;ad=\" t=\"%.*s\">k</a>", pad, z);
		d += (size_t)snprintf(doc + d, sizeof doc - d, "<a t=\"%.*s\" href=\"&amp;id=\">k</a>", pad, z);
		w += (size_t)snprintf(want + w, sizeof want - w, "<a t=\"%.*s\" href=\"&amp;id=\">k</a>", pad, z);
	}
	assert_true(d < sizeof doc && w < sizeof want);
	expect(R("##a[href*=\"&ad=\"]"), doc, want);
}

/* Element records come from a per-thread pool of freed ones by size
 * (rewriter after rewriter: each expect() runs five): records of every
 * size class and past them, reused for elements whose ancestors' and
 * siblings' attributes the rules read, must match as new ones. */
static void test_56_record_pool(void **state)
{
	static char doc[1 << 20], want[1 << 20];
	size_t d = 0, w = 0;
	const char *z = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
	for (int i = 0; i < 400; i++) {
		int len = (i * 37) % 700; /* attribute bytes: records of 1 to 12 units */
		char attrs[1024];
		size_t a = 0;
		for (int k = len; k > 0; k -= 80)
			a += (size_t)snprintf(attrs + a, sizeof attrs - a, " data-%d=\"%.*s\"", k, k > 80 ? 80 : k, z);
		attrs[a] = 0;
		const char *cl = i % 5 == 2 ? "box x" : "box";
		char el[4096];
		/* removed: an .ad under a div whose class has x, or right after
		 * an i with data-k="go" */
		int gone1 = i % 5 == 2, gone2 = i % 3 == 1;
		snprintf(el, sizeof el, "<div class=\"%s\"%s><p%s>t</p><i data-k=%s>s</i>",
		         cl, attrs, attrs, gone2 ? "go" : "no");
		d += (size_t)snprintf(doc + d, sizeof doc - d, "%s<b class=ad>a</b><u class=ad>b</u></div>\n", el);
		w += (size_t)snprintf(want + w, sizeof want - w, "%s%s%s</div>\n", el, gone1 ? "" : "<b class=ad>a</b>",
		                      gone1 || gone2 ? "" : "<u class=ad>b</u>");
	}
	assert_true(d < sizeof doc && w < sizeof want);
	expect(R("##.x > .ad", "##i[data-k=\"go\"] ~ u.ad"), doc, want);
}

/* The input offsets of removals (--explain): start and end tags are
 * handled by their own callbacks, which count the bytes themselves;
 * text, comments, void and implied-closed elements between them, every
 * way of splitting. */
struct spans { char s[512]; size_t n; };

static void on_explain(void *arg, const struct rewriter_removal *r)
{
	struct spans *sp = arg;
	sp->n += (size_t)snprintf(sp->s + sp->n, sizeof sp->s - sp->n, "[%llu,%llu)",
	                          (unsigned long long)r->start, (unsigned long long)r->end);
}

static void test_57_removal_offsets(void **state)
{
	static const char doc[] = "<p>ab<!--c--><i class=ad>x<br></i> t<img class=ad><ul><li class=ad>1<li>2</ul>"
	                          "<div><b class=ad>y</div>z<i class=ad>w</i>";
	/* the i, the img, the li closed by the next li, the b closed by
	 * </div>, the last i closed by the end of input */
	struct cosmetic *c = build(R("##.ad"));
	const char *want = NULL;
	for (int mode = 0; mode < 3; mode++) {
		struct cosmetic_page *pg = cosmetic_page_new(c, "www.example.com", 0);
		assert_non_null(pg);
		struct spans sp = { { 0 }, 0 };
		struct rewriter_opts ro = { 0 };
		ro.nonce = NONCE;
		ro.explain = on_explain;
		ro.explain_arg = &sp;
		struct rewriter *rw = rewriter_new(pg, &ro);
		assert_non_null(rw);
		struct out o = { calloc(1, 1), 0, 1 };
		size_t len = strlen(doc);
		for (size_t i = 0; i < len;) {
			size_t n = mode == 0 ? len : mode == 1 ? 1 : 1 + (size_t)(rand() % 7);
			if (n > len - i)
				n = len - i;
			assert_int_equal(rewriter_feed(rw, doc + i, n, 0, sink, &o), 0);
			i += n;
		}
		assert_int_equal(rewriter_feed(rw, NULL, 0, 1, sink, &o), 0);
		rewriter_free(rw);
		cosmetic_page_free(pg);
		free(o.p);
		if (!want)
			want = strdup(sp.s);
		assert_string_equal(sp.s, want);
	}
	char expect_s[256];
	const char *d = doc;
	size_t i1 = (size_t)(strstr(d, "<i class=ad>x") - d), e1 = (size_t)(strstr(d, "</i> t") - d) + 4;
	size_t i2 = (size_t)(strstr(d, "<img") - d), e2 = i2 + strlen("<img class=ad>");
	size_t i3 = (size_t)(strstr(d, "<li class=ad>") - d), e3 = (size_t)(strstr(d, "<li>2") - d);
	size_t i4 = (size_t)(strstr(d, "<b class=ad>") - d), e4 = (size_t)(strstr(d, "</div>") - d);
	size_t i5 = (size_t)(strstr(d, "<i class=ad>w") - d), e5 = strlen(d);
	snprintf(expect_s, sizeof expect_s, "[%zu,%zu)[%zu,%zu)[%zu,%zu)[%zu,%zu)[%zu,%zu)", i1, e1, i2, e2, i3, e3, i4,
	         e4, i5, e5);
	assert_string_equal(want, expect_s);
	free((void *)want);
	cosmetic_free(c);
}

/* A thread's pool of records is freed when the thread ends (LeakSanitizer
 * in the sanitized run reports the records of a worker that stopped):
 * rewriters on threads that end, output checked. */
struct pool_job { const struct cosmetic *c; char *out; };

static void *pool_thread(void *arg)
{
	struct pool_job *j = arg;
	static const char doc[] = "<div><p class=ad>1</p><p class=\"x y\">2</p><ul><li>3<li class=ad>4</ul></div>";
	struct opts op = { 0 };
	j->out = run_split(j->c, doc, strlen(doc), 1, &op);
	return NULL;
}

static void test_58_pool_thread_exit(void **state)
{
	struct cosmetic *c = build(R("##.ad", "##div > .y"));
	for (int k = 0; k < 4; k++) {
		struct pool_job j = { c, NULL };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, pool_thread, &j), 0);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_non_null(j.out);
		char *s;
		while ((s = strstr(j.out, STYLE_OPEN))) {
			char *e = strstr(s, "</style>");
			assert_non_null(e);
			memmove(s, e + 8, strlen(e + 8) + 1);
		}
		assert_string_equal(j.out, "<div><ul><li>3</ul></div>");
		free(j.out);
	}
	cosmetic_free(c);
}

/* ---- byte preservation ------------------------------------------------------- */

static void test_01_no_rules_real_pages(void **state)
{
	const char *pages[] = { "tests/data/html/bbc-1.html", "tests/data/html/wapo-1.html",
		"tests/data/html/cnet-svg-classes.html", "tests/data/html/wordpress.html",
		"tests/data/seed/seed.html" };
	/* a rule that matches nothing puts every page through the tokenizer,
	 * the tree follower and the matcher */
	struct cosmetic *c = build(R("##.quell-test-never-present", "##div > span#nope",
	                              "##a[href^=\"https://nowhere.invalid/\"]"));
	for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
		size_t n;
		char *doc = slurp(pages[i], &n);
		struct opts op = { 0 };
		char *out = rewrite_c(c, doc, n, &op);
		assert_int_equal(strlen(out), n);
		assert_memory_equal(out, doc, n);
		free(out);
		free(doc);
	}
	cosmetic_free(c);
}

static void test_02_no_rules_at_all(void **state)
{
	size_t n;
	char *doc = slurp("tests/data/html/bbc-1.html", &n);
	struct opts op = { 0 };
	char *out = rewrite_c(NULL, doc, n, &op);
	assert_memory_equal(out, doc, n);
	free(out);
	free(doc);
}

/* ---- selectors ------------------------------------------------------------------ */

static void test_10_type_universal_id_class(void **state)
{
	expect(R("##aside"), "<p>a<aside>x<b>y</b></aside>b", "<p>ab");
	expect(R("##div > *"), "<div><b>1</b><i>2</i></div>", "<div></div>");
	expect(R("###ad"), "<div id=ad>x</div><div id=ad2>y</div>", "<div id=ad2>y</div>");
	expect(R("##.ad"), "<div class=\"x ad\">x</div><div class=adx>y</div>", "<div class=adx>y</div>");
	expect(R("##div.a.b"), "<div class='a'>1</div><div class='b a'>2</div>", "<div class='a'>1</div>");
}

static void test_11_attributes(void **state)
{
	expect(R("##[data-ad]"), "<i data-ad>1</i><i data-x>2</i>", "<i data-x>2</i>");
	expect(R("##[data-k=\"v\"]"), "<i data-k=v>1</i><i data-k=vv>2</i>", "<i data-k=vv>2</i>");
	expect(R("##[class~=\"ad\"]"), "<i class='a ad'>1</i><i class='a-ad'>2</i>", "<i class='a-ad'>2</i>");
	expect(R("##[lang|=\"en\"]"), "<i lang=en-US>1</i><i lang=eng>2</i>", "<i lang=eng>2</i>");
	expect(R("##a[href^=\"https://ads.\"]"), "<a href=\"https://ads.x/\">1</a><a href=\"https://x/\">2</a>",
	       "<a href=\"https://x/\">2</a>");
	expect(R("##img[src$=\".gif\"]"), "<img src=a.gif><img src=a.png>", "<img src=a.png>");
	expect(R("##[id*=\"sponsor\"]"), "<i id=top-sponsor-1>1</i><i id=spon>2</i>", "<i id=spon>2</i>");
	expect(R("##[title=\"AD\" i]"), "<i title=ad>1</i><i title=adx>2</i>", "<i title=adx>2</i>");
	expect(R("##[title=\"AD\"]"), "<i title=ad>1</i>", "<i title=ad>1</i>");
	/* values are matched decoded, as the DOM has them */
	expect(R("##a[href*=\"&aff_id=\"]"), "<a href=\"/x?a=1&amp;aff_id=2\">1</a><a href=\"/x?aff_id=2\">2</a>",
	       "<a href=\"/x?aff_id=2\">2</a>");
	/* names with capitals (given lower-cased apart from the tag's
	 * bytes) beside names without, a decoded value before a name, and
	 * the same names again on later elements (looked up once) */
	expect(R("##[data-ad]"), "<i DATA-AD>1</i><i Data-X>2</i><i data-AD=1>3</i><i data-ad>4</i>",
	       "<i Data-X>2</i>");
	expect(R("##div[title=\"a&b\"][data-k=v] > i"),
	       "<div CLASS=c title=\"a&amp;b\" data-k=v><i>1</i></div><div title=\"a&amp;b\" Data-K=v><i>2</i></div>"
	       "<div title=\"a&amp;c\" data-k=v><i>3</i></div>",
	       "<div CLASS=c title=\"a&amp;b\" data-k=v></div><div title=\"a&amp;b\" Data-K=v></div>"
	       "<div title=\"a&amp;c\" data-k=v><i>3</i></div>");
}

static void test_12_not_and_combinators(void **state)
{
	expect(R("##div:not(.keep)"), "<div class=keep>1</div><div>2</div>", "<div class=keep>1</div>");
	expect(R("##.box span"), "<div class=box><p><span>1</span></p></div><span>2</span>",
	       "<div class=box><p></p></div><span>2</span>");
	expect(R("##.box > span"), "<div class=box><span>1</span><p><span>2</span></p></div>",
	       "<div class=box><p><span>2</span></p></div>");
	expect(R("##h2 + p"), "<h2>t</h2><p>1</p><p>2</p>", "<h2>t</h2><p>2</p>");
	expect(R("##h2 ~ p"), "<p>0</p><h2>t</h2><p>1</p><div></div><p>2</p>", "<p>0</p><h2>t</h2><div></div>");
	expect(R("##li:first-child"), "<ul><li>1<li>2</ul>", "<ul><li>2</ul>");
	expect(R("##li:nth-child(2n)"), "<ul><li>1<li>2<li>3<li>4</ul>", "<ul><li>1<li>3</ul>");
}

/* ---- procedural operators ----------------------------------------------------------- */

static void test_20_has_text(void **state)
{
	expect(R("##div:has-text(Sponsored)"), "<div>Sponsored <b>post</b></div><div>news</div>",
	       "<div>news</div>");
	expect(R("##div:has-text(/^\\s*advert\\w*\\s*$/i)"), "<div> ADVERTISEMENT </div><div>Advertisement for x</div>",
	       "<div>Advertisement for x</div>");
	expect(R("##p:-abp-contains(buy)"), "<p>buy now<p>read", "<p>read");
	expect(R("##span:has-text(a&b)"), "<span>a&amp;b</span><span>ab</span>", "<span>ab</span>");
	expect(R("##div:not(:has-text(keep))"), "<div>keep me</div><div>drop</div>", "<div>keep me</div>");
}

static void test_21_has(void **state)
{
	/* a static removal of an element that also waits for a content rule */
	expect(R("##div:has-text(x)", "##.ad"), "<p>a</p><div class=ad>x</div><p>b</p>", "<p>a</p><p>b</p>");
	/* the text of a removed descendant is gone with it, as from the DOM */
	expect(R("##section:has-text(x)", "##.ad"), "<section><b>1</b><div class=ad>x</div><i>2</i></section><p>b</p>",
	       "<section><b>1</b><i>2</i></section><p>b</p>");
	expect(R("##div:has(img.ad)"), "<div><p><img class=ad></p></div><div><img></div>", "<div><img></div>");
	expect(R("##div:has(> .ad)"), "<div><p class=ad>1</p></div><div><p><b class=ad>2</b></p></div>",
	       "<div><p><b class=ad>2</b></p></div>");
	expect(R("##section:-abp-has(span:has-text(Ad))"), "<section><span>Ad</span></section><section><span>x</span></section>",
	       "<section><span>x</span></section>");
	expect(R("##div:not(:has(p))"), "<div><p>1</p></div><div>2</div>", "<div><p>1</p></div>");
}

static void test_22_upward_remove_matches_attr(void **state)
{
	expect(R("##.label:has-text(Advertisement):upward(2)"),
	       "<section><div><span class=label>Advertisement</span></div></section><p>t",
	       "<p>t");
	expect(R("##.label:upward(.slot)"),
	       "<div class=slot><div class=slot><i class=label></i></div></div>",
	       "<div class=slot></div>");
	expect(R("##.ad:remove()"), "<b class=ad>1</b><b>2</b>", "<b>2</b>");
	expect(R("##div:matches-attr(/^data-ad/)"), "<div data-ad-slot=1>1</div><div data-x>2</div>", "<div data-x>2</div>");
	expect(R("##div:matches-attr(class=\"/^promo-\\d+$/\")"), "<div class=promo-12>1</div><div class=promo-x>2</div>",
	       "<div class=promo-x>2</div>");
}

static void test_23_adguard_and_ubo_html(void **state)
{
	expect(R("$$script[tag-content=\"adsbygoogle\"]"), "<script>(adsbygoogle=[]).push()</script><script>x()</script>",
	       "<script>x()</script>");
	expect(R("$$div[wildcard=\"*promo*code*\"]"), "<div>promo and code</div><div>code promo</div>",
	       "<div>code promo</div>");
	expect(R("$$div[id=\"ad\"][min-length=\"5\"]"), "<div id=top-ad>12345</div><div id=ad>1</div>",
	       "<div id=ad>1</div>");
	expect(R("$$div[max-length=\"3\"][id=\"x\"]"), "<div id=x>12345</div><div id=x>1</div>",
	       "<div id=x>12345</div>");
	expect(R("##^script:has-text(tracker)"), "<script>tracker()</script><p>x", "<p>x");
	/* a ##^ rule removes even in hide mode */
	struct opts op = { .hide = 1 };
	char *out = rewrite(R("##^.ad"), "<p class=ad>1</p>", &op);
	assert_null(strstr(out, "<p"));
	free(out);
}

/* ---- the document's structure ----------------------------------------------------------- */

static void test_30_implied_end_tags(void **state)
{
	expect(R("##.ad"), "<p class=ad>a<div>kept</div>", "<div>kept</div>");
	expect(R("##.ad"), "<ul><li class=ad>a<li>b</ul>", "<ul><li>b</ul>");
	expect(R("##.ad"), "<dl><dt class=ad>a<dd>b</dl>", "<dl><dd>b</dl>");
	expect(R("##.ad"), "<select><option class=ad>a<option>b</select>", "<select><option>b</select>");
	expect(R("##.ad"), "<table><tr class=ad><td>a<tr><td>b</table>", "<table><tr><td>b</table>");
	expect(R("##.ad"), "<table><tr><td class=ad>a<td>b</table>", "<table><tr><td>b</table>");
	expect(R("##.ad"), "<div class=ad><span>x</div>y", "y");
	expect(R("##.ad"), "<div class=ad>a</span></p>b</div>c", "c");
	expect(R("##head .ad"), "<html><head><meta class=ad></head><body><p class=ad>x", "<html><head></head><body><p class=ad>x");
	expect(R("##body > .ad"), "<p class=ad>x</p><p>y", "<p>y");
	/* the walks for an open p, li, dd/dt, a, button, nobr (skipped
	 * while none is open) */
	expect(R("##.ad"), "<ul><li class=ad>a<div><li>b</ul>", "<ul><li>b</ul>");
	expect(R("##.ad"), "<dl><dd class=ad>a<dt>b</dl>", "<dl><dt>b</dl>");
	expect(R("##.ad"), "<a class=ad>x<a>y</a>", "<a>y</a>");
	expect(R("##.ad"), "<button class=ad>x<button>y</button>", "<button>y</button>");
	expect(R("##.ad"), "<nobr class=ad>x<nobr>y</nobr>", "<nobr>y</nobr>");
	expect(R("##.ad"), "<div><p class=ad>x<p>y</div>", "<div><p>y</div>");
	expect(R("##.ad"), "<p class=ad>x<span><div>y</div></span>", "<div>y</div></span>");
	expect(R("##.ad"), "<li><span class=ad>x<li>y", "<li><li>y");
	/* optgroup, table sections, header cells (the names looked at only
	 * for tags flagged T_IMPLIED, T_CELL or T_SECTION) */
	expect(R("##.ad"), "<select><optgroup class=ad><option>a<optgroup>b</select>", "<select><optgroup>b</select>");
	expect(R("##.ad"), "<select><option class=ad>a<optgroup>b</select>", "<select><optgroup>b</select>");
	expect(R("##.ad"), "<table><tbody class=ad><tr><td>a<tbody><tr><th>b</table>", "<table><tbody><tr><th>b</table>");
	expect(R("##.ad"), "<table><tr><th class=ad>a<th>b</table>", "<table><tr><th>b</table>");
	expect(R("##.ad"), "<div><span class=ad>a<section>b</div>", "<div></div>");
}

static void test_31_void_and_foreign(void **state)
{
	expect(R("##.ad"), "<div><img class=ad><br class=ad>x</div>", "<div>x</div>");
	expect(R("##.ad"), "<svg><path class=\"ad\"/><g class=ad><path/></g><rect/></svg>", "<svg><rect/></svg>");
	expect(R("##.ad"), "<p><input class=ad>x</p>", "<p>x</p>");
	/* an unquoted value takes the slash: class is "ad/" */
	expect(R("##.ad"), "<svg><path class=ad/></svg>", "<svg><path class=ad/></svg>");
}

static void test_31b_xhtml(void **state)
{
	struct opts op = { .xml = 1 };
	char *out = rewrite(R("##.ad"), "<div class=\"ad\"/><p>kept</p><p class=\"ad\">x<div>y</div></p>z", &op);
	assert_memory_equal(out, "<p>kept</p>z" STYLE_OPEN, strlen("<p>kept</p>z" STYLE_OPEN));
	free(out);
}

static void test_32_rawtext(void **state)
{
	expect(R("##.ad"), "<script>if (a<b) x='<div class=ad>';</script><p class=ad>x</p>",
	       "<script>if (a<b) x='<div class=ad>';</script>");
	expect(R("##.ad"), "<textarea><b class=ad></textarea>", "<textarea><b class=ad></textarea>");
	expect(R("##.ad"), "<!-- <b class=ad> --><b class=ad>x</b>", "<!-- <b class=ad> -->");
}

static void test_33_passthrough_long_tag_and_depth(void **state)
{
	char doc[8192];
	snprintf(doc, sizeof doc, "<p class=ad>x</p><div title=\"%0200d\">y</div><p class=ad>z</p>", 0);
	struct opts op = { .lookahead = 64, .max_tag = 64 };
	char *out = rewrite(R("##.ad"), doc, &op);
	/* rewriting stops at the over-long tag: what follows passes as it is */
	assert_string_equal(out, doc + strlen("<p class=ad>x</p>"));
	assert_int_equal(op.st.passthrough, 1);
	free(out);
	size_t n = 0;
	for (int i = 0; i < 600; i++)
		n += (size_t)snprintf(doc + n, sizeof doc - n, "<i>");
	snprintf(doc + n, sizeof doc - n, "<b class=ad>z</b>");
	struct opts op2 = { 0 };
	out = rewrite(R("##.ad"), doc, &op2);
	assert_string_equal(out, doc);
	assert_int_equal(op2.st.passthrough, 1);
	free(out);
}

/* ---- look-ahead, style, hide, CSP, exceptions ------------------------------------------------ */

static void test_40_lookahead_bound(void **state)
{
	char doc[1024];
	snprintf(doc, sizeof doc, "<div>%0200d zzz</div><div>zzz</div>", 0);
	struct opts op = { .lookahead = 64 };
	char *out = rewrite(R("##div:has-text(zzz)"), doc, &op);
	char want[1024];
	snprintf(want, sizeof want, "<div>%0200d zzz</div>", 0);
	assert_string_equal(out, want);
	assert_int_equal(op.st.lookahead_overflows, 1);
	assert_int_equal(op.st.removed, 1);
	free(out);
}

static void test_41_style_injection(void **state)
{
	const char *doc = "<html><head><title>t</title></head><body><p class=late>x</p></body></html>";
	char *out = rewrite(R("www.example.com##.site", "##.late"), doc, NULL);
	assert_string_equal(out,
		"<html><head><title>t</title>" STYLE_OPEN ".site{display:none!important}\n</style></head>"
		"<body>" STYLE_OPEN ".late{display:none!important}\n</style></body></html>");
	free(out);
	/* no head: before the first body element */
	out = rewrite(R("www.example.com##.site"), "<p>x", NULL);
	assert_string_equal(out, STYLE_OPEN ".site{display:none!important}\n</style><p>x");
	free(out);
	/* :style() styles, it never removes */
	out = rewrite(R("www.example.com##.s:style(color: red)"), "<p class=s>x", NULL);
	assert_string_equal(out, STYLE_OPEN ".s{color: red}\n</style><p class=s>x");
	free(out);
	/* other hosts see nothing */
	struct opts op = { .host = "other.org" };
	out = rewrite(R("www.example.com##.site"), "<p>x", &op);
	assert_string_equal(out, "<p>x");
	free(out);
}

static void test_42_hide_mode(void **state)
{
	struct opts op = { .hide = 1 };
	char *out = rewrite(R("##.ad", "##div:has-text(promo)"), "<p class=ad>x</p><div>promo</div>", &op);
	assert_non_null(strstr(out, "<p data-quell-hide class=ad>x</p>"));
	assert_non_null(strstr(out, "<div data-quell-hide>promo</div>"));
	assert_non_null(strstr(out, "[data-quell-hide]{display:none!important}"));
	assert_int_equal(op.st.hidden, 2);
	free(out);
}

static void test_43_csp(void **state)
{
	int oom;
	char *v = rewriter_csp_add_nonce("default-src 'self'", "N", &oom);
	assert_string_equal(v, "default-src 'self'; style-src 'self' 'nonce-N'");
	free(v);
	assert_null(rewriter_csp_add_nonce("default-src 'self'; style-src 'self' 'unsafe-inline'", "N", &oom));
	assert_null(rewriter_csp_add_nonce("script-src 'self'", "N", &oom));
	v = rewriter_csp_add_nonce("style-src 'self' 'nonce-abc'; img-src *", "N", &oom);
	assert_string_equal(v, "style-src 'self' 'nonce-abc' 'nonce-N'; img-src *");
	free(v);
	v = rewriter_csp_add_nonce("style-src 'none'", "N", &oom);
	assert_string_equal(v, "style-src 'nonce-N'");
	free(v);
	v = rewriter_csp_add_nonce("style-src 'unsafe-inline', default-src https:", "N", &oom);
	assert_string_equal(v, "style-src 'unsafe-inline', default-src https:; style-src https: 'nonce-N'");
	free(v);
	/* a meta CSP in the stream gets the nonce */
	char *out = rewrite(R("www.example.com##.s"),
		"<head><meta http-equiv=Content-Security-Policy content=\"style-src 'self'\"></head>", NULL);
	assert_string_equal(out, "<head><meta http-equiv=Content-Security-Policy content=\"style-src 'self' 'nonce-"
		NONCE "'\">" STYLE_OPEN ".s{display:none!important}\n</style></head>");
	free(out);
	/* no style due: the meta keeps its bytes */
	const char *doc = "<head><meta http-equiv=Content-Security-Policy content=\"style-src 'self'\"></head>";
	out = rewrite(R("##.never-seen"), doc, NULL);
	assert_string_equal(out, doc);
	free(out);
}

static void test_44_exceptions(void **state)
{
	expect(R("##.ad", "#@#.ad"), "<p class=ad>x</p>", "<p class=ad>x</p>");
	expect(R("##.ad", "www.example.com#@#.ad"), "<p class=ad>x</p>", "<p class=ad>x</p>");
	expect(R("##.ad", "other.com#@#.ad"), "<p class=ad>x</p>", "");
	expect(R("example.com,~www.example.com##.ad"), "<p class=ad>x</p>", "<p class=ad>x</p>");
	expect(R("example.*##.ad"), "<p class=ad>x</p>", "");
	struct opts op = { .flags = COSMETIC_P_GENERICHIDE };
	char *out = rewrite(R("##.ad", "www.example.com##.b"), "<p class=ad>x</p><p class=b>y</p>", &op);
	assert_non_null(strstr(out, "<p class=ad>x</p>"));
	assert_null(strstr(out, "<p class=b>"));
	free(out);
	op.flags = COSMETIC_P_ELEMHIDE;
	out = rewrite(R("##.ad"), "<p class=ad>x</p>", &op);
	assert_string_equal(out, "<p class=ad>x</p>");
	free(out);
}

static void test_45_text_guard(void **state)
{
	char *doc = malloc(8000);
	assert_non_null(doc);
	strcpy(doc, "<div class=c><span class=ad></span>");
	for (int i = 0; i < 1000; i++)
		strcat(doc, "word ");
	strcat(doc, "</div>");
	struct opts op = { 0 };
	char *out = rewrite(R("##div:has(> .ad)"), doc, &op);
	assert_string_equal(out, doc);
	assert_int_equal(op.st.guarded, 1);
	free(out);
	free(doc);
}

/* The guard's count of visible bytes (> 0x20, bytes >= 0x80 included)
 * over long runs of mixed bytes, to the byte: 3000 may go, 3001 stay. */
static void test_46_text_guard_count(void **state)
{
	static const char unit[] = "a \t\xc3\xa9\n\x7f!\x01\xff~ \r"; /* 7 of 13 visible */
	for (int extra = 0; extra <= 1; extra++) {
		char *doc = malloc(12000);
		assert_non_null(doc);
		strcpy(doc, "<div class=c><span class=ad></span>");
		for (int i = 0; i < 428; i++) /* 2996 visible */
			strcat(doc, unit);
		strcat(doc, extra ? "\x80xyz\x1f\x20w" : "\x80xy\x1f\x20w");
		strcat(doc, "</div>");
		struct opts op = { 0 };
		char *out = rewrite(R("##div:has(> .ad)"), doc, &op);
		assert_string_equal(out, extra ? doc : "");
		assert_int_equal(op.st.guarded, extra);
		free(out);
		free(doc);
	}
}

/* Rules filed under a tag, over more tag names than the rewriter keeps
 * lists for (names that share a slot take it in turns): every element of
 * a ruled tag is removed however often its name comes back, the others
 * stay. */
static void test_47_tag_rule_lists(void **state)
{
	enum { TAGS = 48 };
	static char names[TAGS][16], rules_txt[TAGS][24];
	const char *rules[TAGS + 2];
	for (int i = 0; i < TAGS; i++) {
		snprintf(names[i], sizeof names[i], "x-t%d", i);
		snprintf(rules_txt[i], sizeof rules_txt[i], "##x-t%d", i);
		rules[i] = rules_txt[i];
	}
	rules[TAGS] = "##p:has-text(ad)";
	rules[TAGS + 1] = NULL;
	char doc[16384] = "", want[16384] = "";
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < TAGS; i++) {
			char el[96];
			snprintf(el, sizeof el, "<%s>a</%s><x-u%d>b</x-u%d><p>ad</p><p>no</p>", names[(i * 7 + round) % TAGS],
			         names[(i * 7 + round) % TAGS], i, i);
			strcat(doc, el);
			snprintf(el, sizeof el, "<x-u%d>b</x-u%d><p>no</p>", i, i);
			strcat(want, el);
		}
	expect(rules, doc, want);
}

/* Attributes that found no rule are remembered by name and value and not
 * looked up again: the same value under another name, or a value that
 * differs by a byte (long and short ones, class lists past eight bytes),
 * must still be looked up; so must a value whose lookup found rules that
 * did not match (it is tried again on the next element). */
static void test_49_attribute_memo(void **state)
{
	/* id "ad" finds nothing; class "ad" must still be looked up */
	expect(R("##.ad"), "<i id=ad>1</i><i class=ad>2</i><i id=ad>3</i><i class=ad>4</i>",
	       "<i id=ad>1</i><i id=ad>3</i>");
	/* ... and under an indexed name of the same length */
	expect(R("##.ad", "##[xname=\"qq\"]"), "<i xname=ad>1</i><i class=ad>2</i><i xname=ad>3</i><i xname=qq>4</i>",
	       "<i xname=ad>1</i><i xname=ad>3</i>");
	/* class lists that differ only at the end, past a word */
	expect(R("##.ad-slot-2"),
	       "<p class=\"flex items-center ad-slot-1\">1</p><p class=\"flex items-center ad-slot-2\">2</p>"
	       "<p class=\"flex items-center ad-slot-1\">3</p><p class=\"flex items-center ad-slot-2\">4</p>",
	       "<p class=\"flex items-center ad-slot-1\">1</p><p class=\"flex items-center ad-slot-1\">3</p>");
	/* a value whose lookup found a rule that failed on one tag */
	expect(R("##b.x"), "<i class=x>1</i><b class=x>2</b><i class=x>3</i><b class=x>4</b>",
	       "<i class=x>1</i><i class=x>3</i>");
	/* indexed attribute words and 3-byte windows */
	expect(R("##[href*=\"/promo/\"]", "##[data-k=\"v\"]"),
	       "<a href=/news/>1</a><a href=/promo/>2</a><a href=/news/>3</a><i data-k=w>4</i><i data-k=v>5</i>"
	       "<i data-k=w>6</i><i data-k=v>7</i>",
	       "<a href=/news/>1</a><a href=/news/>3</a><i data-k=w>4</i><i data-k=w>6</i>");
	/* short values (fewer than four bytes) that share their ends */
	expect(R("##.aba"), "<i class=aaa>1</i><i class=aba>2</i><i class=a>3</i><i class=ab>4</i><i class=aba>5</i>",
	       "<i class=aaa>1</i><i class=a>3</i><i class=ab>4</i>");
}

/* When no rule reads the attributes of an element besides the one
 * matched, records borrow the token's attributes for their start tag
 * only: matching on the element itself, on its tag as an ancestor or
 * sibling, :has() on descendants and decoded values still work; a rule
 * that reads an ancestor's class keeps them (and must still match). */
static void test_50_borrowed_attributes(void **state)
{
	expect(R("##.ad", "##div > p", "##h2 + i"),
	       "<div class=ad><p>1</p></div><div id=x><p>2</p><b>3</b></div><h2 class=c>t</h2><i class=d>4</i>",
	       "<div id=x><b>3</b></div><h2 class=c>t</h2>");
	expect(R("##div:has(i.x)", "##a[href*=\"&aff_id=\"]"),
	       "<div class=k><b><i class=x>1</i></b></div><div class=k><i class=y>2</i></div>"
	       "<a href=\"/x?a=1&amp;aff_id=2\">3</a><a href=\"/x?a=1&amp;aff=2\">4</a>",
	       "<div class=k><i class=y>2</i></div><a href=\"/x?a=1&amp;aff=2\">4</a>");
	/* an ancestor's class read: attributes kept */
	expect(R("##.klaro .notice", "##.ad"),
	       "<div class=klaro><p class=notice>1</p><p>2</p></div><div><p class=notice>3</p></div><i class=ad>4</i>",
	       "<div class=klaro><p>2</p></div><div><p class=notice>3</p></div>");
	expect(R("##section[id^=\"top\"] + aside"),
	       "<section id=top1>a</section><aside>1</aside><section id=x>b</section><aside>2</aside>",
	       "<section id=top1>a</section><section id=x>b</section><aside>2</aside>");
}

/* Words of an attribute value ("[name=word" keys): letters and digits in
 * any case, cut at every other byte (bytes past 0x7f too), one-byte words
 * and near misses that must not find the rule, class tokens beside them. */
static void test_53_value_words(void **state)
{
	expect(R("##a[href*=\"/Ad2x9/\"]", "##b[title*=\"q-7z_\"]", "##.Mx-1"),
	       "<a href=\"/AD2X9/\">1</a><a href=\"/x/Ad2x9/y\">2</a><a href=\"/Ad2x9z/\">3</a>"
	       "<a href=\"\xc3\xa9" "Ad2x9/\">4</a><a href=\"a/Ad2x9/\">5</a><b title=\"q-7z_\">6</b>"
	       "<b title=\"Q-7Z_\">7</b><b title=\"q-7z\">8</b><i class=\"a Mx-1\">9</i><i class=\"mx-1 Mx-1z\">10</i>",
	       "<a href=\"/AD2X9/\">1</a><a href=\"/Ad2x9z/\">3</a><a href=\"\xc3\xa9" "Ad2x9/\">4</a>"
	       "<b title=\"Q-7Z_\">7</b><b title=\"q-7z\">8</b><i class=\"mx-1 Mx-1z\">10</i>");
	/* words are found sixteen bytes a step: a word at every offset
	 * around the steps, one running to the end of the value (a full
	 * step or not), one going on past a step, words the pair filter
	 * lets through that hold no rule */
	static char doc[8192], want[8192];
	for (int off = 0; off < 40; off++) {
		char pad[64];
		memset(pad, '.', (size_t)off);
		pad[off] = 0;
		snprintf(doc, sizeof doc,
		         "<a href=\"%sAd2x9/\">1</a><a href=\"%s/Ad2x9\">2</a><a href=\"%s/Ad2x9abcdefghijklmnopq\">3</a>"
		         "<a href=\"%sAdzzzzzzzzzzzzzzzzz/Ad2x9\">4</a><a href=\"%s/Ad2x9/\">5</a>",
		         pad, pad, pad, pad, pad);
		snprintf(want, sizeof want, "<a href=\"%sAd2x9/\">1</a><a href=\"%s/Ad2x9abcdefghijklmnopq\">3</a>", pad, pad);
		expect(R("##a[href*=\"/Ad2x9/\"]", "##a[href$=\"/Ad2x9\"]"), doc, want);
	}
	/* a held rule found twice by an element's attributes (a class twice,
	 * a word twice) and rules found by the tag beside it: each waits once */
	expect(R("##.x:has-text(/^a$/)", "##div:has-text(/^a$/)", "##a[href*=\"/Qz7/\"]:has-text(b)"),
	       "<div class=\"x x\">a</div><div class=\"x x\">ab</div><p class=\"x x\">a</p><p>a</p>"
	       "<a href=\"/Qz7/Qz7/\">b</a><a href=\"/Qz7/Qz7/\">c</a>",
	       "<div class=\"x x\">ab</div><p>a</p><a href=\"/Qz7/Qz7/\">c</a>");
	/* the attribute names' cache: many names sharing first and last
	 * bytes and length, each asked twice, rules on some of them */
	{
		size_t dl = 0, wl = 0;
		for (int r = 0; r < 2; r++)
			for (int i = 0; i < 100; i++) {
				dl += (size_t)snprintf(doc + dl, sizeof doc - dl, "<i data-%c%02d-x=1>%d</i>", 'a' + i % 7, i, i);
				if (i != 57 && i != 5)
					wl += (size_t)snprintf(want + wl, sizeof want - wl, "<i data-%c%02d-x=1>%d</i>", 'a' + i % 7, i, i);
			}
		expect(R("##[data-b57-x]", "##i[data-f05-x]", "##[data-a57-x]"), doc, want);
	}
	/* rules found by the tag's key skip the tag test; those found by an
	 * attribute (of another tag) and universal ones keep it */
	expect(R("##p.x", "##div:has-text(z)", "##b", "##span[title*=\"Qz7\"]", "##u, s"),
	       "<div class=x>1</div><p class=x>2</p><div>z</div><i title=Qz7>4</i><span title=Qz7>5</span>"
	       "<b>3</b><u>6</u><s>7</s><em>8</em>",
	       "<div class=x>1</div><i title=Qz7>4</i><em>8</em>");
	/* three-byte windows, lower-cased sixteen bytes a step: a window in
	 * capitals at every offset around the steps, a near miss beside it */
	for (int off = 0; off < 40; off++) {
		char pad[64];
		memset(pad, '.', (size_t)off);
		pad[off] = 0;
		snprintf(doc, sizeof doc, "<b title=\"%sKV8\">1</b><b title=\"%sKW8\">2</b><b title=\"%skv8.\">3</b>", pad, pad,
		         pad);
		snprintf(want, sizeof want, "<b title=\"%sKW8\">2</b>", pad);
		expect(R("##b[title*=\"Kv8\" i]"), doc, want);
	}
}

/* Three-byte windows of a value ("~name=abc" keys): one asked twice is
 * looked up once; past the windows remembered (32), further ones are
 * still looked up and their rules kept once. */
static void test_51_value_windows(void **state)
{
	static char rules_txt[41][32], val[512], doc[2048], want[2048];
	const char *rules[42];
	for (int i = 0; i < 39; i++) {
		snprintf(rules_txt[i], sizeof rules_txt[i], "##i[title*=\"k%d\"]", 10 + i);
		rules[i] = rules_txt[i];
	}
	rules[39] = "##b[title*=\"k49\"]";
	rules[40] = "##b[title*=\"z-z\"]";
	rules[41] = NULL;
	val[0] = 0;
	for (int i = 0; i < 39; i++)
		snprintf(val + strlen(val), sizeof val - strlen(val), "k%d ", 10 + i);
	/* 39 windows of rules for i before k49's; then a value without it;
	 * then the same window twice, and one rule found twice in a value */
	snprintf(doc, sizeof doc, "<b title=\"%sk49\">1</b><b title=\"%sk48\">2</b><b title=\"z-z z-z\">3</b>"
	         "<i title=\"k10 k10\">4</i><b title=\"k4 k49 k49\">5</b>", val, val);
	snprintf(want, sizeof want, "<b title=\"%sk48\">2</b>", val);
	expect(rules, doc, want);
}

/* Attributes that found rules, seen again: the same rules are tried
 * (remembered lists replayed: on other tags, a class listed twice, rules
 * with conditions, words of indexed values and windows); a value whose
 * windows outrun those the lookup remembers drops rules an earlier
 * attribute found, so what it adds depends on that attribute and is not
 * replayed where it is absent. */
static void test_54_attribute_memo_found(void **state)
{
	expect(R("##b.x", "##i.x.z", "##[data-k*=\"promo\"]", "##a[href*=\"/promo/\"]", "##em.q:has-text(go)"),
	       "<i class=\"x y\">1</i><b class=\"x y\">2</b><i class=\"x y\">3</i><b class=\"x y\">4</b>"
	       "<i class=\"x z\">5</i><i class=\"x z\">6</i><p data-k=promo-1>7</p><p data-k=promo-1>8</p>"
	       "<a href=/promo/>9</a><a href=/promo/>10</a><em class=\"q q\">go</em><em class=\"q q\">stay</em>"
	       "<em class=\"q q\">go on</em>",
	       "<i class=\"x y\">1</i><i class=\"x y\">3</i><em class=\"q q\">stay</em>");
	static char rules_txt[40][32], val[512], doc[2048];
	const char *rules[41];
	for (int i = 0; i < 39; i++) {
		snprintf(rules_txt[i], sizeof rules_txt[i], "##i[title*=\"k%d\"]", 10 + i);
		rules[i] = rules_txt[i];
	}
	rules[39] = "##b[title*=\"k49\"]";
	rules[40] = NULL;
	val[0] = 0;
	for (int i = 0; i < 39; i++)
		snprintf(val + strlen(val), sizeof val - strlen(val), "k%d ", 10 + i);
	/* the first title (the one matched) finds k49's rule; the second's
	 * 40th window finds it again, dropped as found */
	snprintf(doc, sizeof doc, "<b title=k49 title=\"%sk49\">1</b><b title=\"%sk49\">2</b><b title=\"%s\">3</b>",
	         val, val, val);
	char want[1024];
	snprintf(want, sizeof want, "<b title=\"%s\">3</b>", val);
	expect(rules, doc, want);
	/* more distinct attributes finding rules than the memo has slots (a
	 * set's two ways hit in turn when the same ones come round again),
	 * then more than its pool has room for: evicted, moved between the
	 * ways of a set, no longer kept */
	for (int K = 1500; K <= 6000; K += 4500) {
		size_t cap = (size_t)K * 3 * 64; /* three rounds of at most 64 bytes a value */
		char *big = malloc(cap), *bw = malloc(cap);
		assert_non_null(big);
		assert_non_null(bw);
		size_t bl = 0, wl = 0;
		for (int round = 0; round < 3; round++)
			for (int k = 0; k < K; k++) {
				const char *fmt = k % 2 ? "<i class=\"y k%d\">3</i>" : "<b class=\"x k%d\">1</b>";
				bl += (size_t)snprintf(big + bl, cap - bl, fmt, k);
				if (round == 2 && k % 5 == 0) {
					/* the same values on the other tag: kept */
					fmt = k % 2 ? "<b class=\"y k%d\">4</b>" : "<i class=\"x k%d\">2</i>";
					bl += (size_t)snprintf(big + bl, cap - bl, fmt, k);
					wl += (size_t)snprintf(bw + wl, cap - wl, fmt, k);
				}
			}
		expect(R("##b.x", "##i.y"), big, bw);
		free(big);
		free(bw);
	}
}

/* Label rules decided on the first words read ahead after the start tag
 * (no pend when they refuse them): the same output as the pends that
 * wait for the text (1-byte splits never read ahead), for words after
 * blanks, a reference, a child or a comment first, words cut by a
 * reference, raw text; a refused element holds nothing back (no
 * look-ahead overflow on a start tag longer than the bound). */
static void test_55_first_text(void **state)
{
	const char *const rules[] = { "##p:has-text(/^[\\s]*+(?:advertisement|anzeige)[\\s]*+$/i)",
	                              "##li:has-text(/^[\\s]*+advertisement/i)",
	                              "##textarea:has-text(/^[\\s]*+advertisement/i)", NULL };
	expect(rules,
	       "<p>Advertisement</p><p>News</p><p> \n Anzeige </p><p>&nbsp;Advertisement</p><p><b>Advertisement</b></p>"
	       "<p>\n  <i>ADVERTISEMENT</i>\n</p><p>Adv&shy;ertisement</p><p>Advertisement <i>x</i></p>"
	       "<p>An<!-- -->zeige</p><p>Annonce</p><ul><li>Advertisements here<li>Other</ul>"
	       "<textarea>Advertisement</textarea><textarea>Other</textarea>",
	       "<p>News</p><p>Advertisement <i>x</i></p><p>Annonce</p><ul><li>Other</ul><textarea>Other</textarea>");
	struct cosmetic *c = build(rules);
	struct opts op = { 0 };
	op.lookahead = 16;
	const char *doc = "<p class=\"abcdefghijklmnop\">News</p><p class=\"abcdefghijklmnop\">Advertisement</p>";
	char *out = rewrite_c(c, doc, strlen(doc), &op);
	/* the second waits for its text past the bound: passed unchanged;
	 * the first is refused at its start tag */
	assert_string_equal(out, doc);
	assert_int_equal(op.st.lookahead_overflows, 1);
	free(out);
	cosmetic_free(c);
}

/* Rules that need an ancestor of some tag are tried only while one is
 * open (counted by the tag's hash, which the selector makes when it is
 * parsed): inside and outside such ancestors, a long tag name. */
static void test_56_ancestor_tags(void **state)
{
	expect(R("##nav a", "##ul > li b.x", "##section p", "##blockquote i"),
	       "<nav><div><a>1</a></div></nav><a>2</a><ul><li><b class=x>3</b></li></ul><b class=x>4</b>"
	       "<section><p>5</p></section><p>6</p><blockquote><i>7</i></blockquote><i>8</i>",
	       "<nav><div></div></nav><a>2</a><ul><li></li></ul><b class=x>4</b><section></section><p>6</p>"
	       "<blockquote></blockquote><i>8</i>");
}

/* The rules filed under a tag, read once per tag and page: :style() and
 * css-only rules among them never remove, tag-only rules with and without
 * conditions, rules with an ancestor or a parent, a tag name too long to
 * be kept (its rules asked of the index each time), elements of the same
 * tags again after others. */
static void test_57_tag_rule_briefs(void **state)
{
	expect(R("##p:style(color: red)", "##p:last-child", "##li", "##nav span", "##span:has-text(ad)",
	         "##a-very-long-custom-element-name:has-text(zz)", "##a-very-long-custom-element-name > i",
	         "##section > b"),
	       "<p>1</p><ul><li>2</li></ul><nav><span>3</span></nav><span>ad</span><span>no</span>"
	       "<a-very-long-custom-element-name>zz</a-very-long-custom-element-name>"
	       "<a-very-long-custom-element-name><i>4</i>5</a-very-long-custom-element-name>"
	       "<section><b>6</b><i><b>7</b></i></section><p>8</p><ul><li>9</li></ul><nav><b><span>10</span></b></nav>"
	       "<span>ad</span><section><b>11</b></section>",
	       "<p>1</p><ul></ul><nav></nav><span>no</span>"
	       "<a-very-long-custom-element-name>5</a-very-long-custom-element-name>"
	       "<section><i><b>7</b></i></section><p>8</p><ul></ul><nav><b></b></nav><section></section>");
	/* rules of one tag sharing a static part under other texts, beside
	 * near static parts: each matched once an element, each its texts */
	expect(R("##li > a:has-text(one)", "##li a:has-text(two)", "##li > a:has-text(three)", "##ul > a:has-text(four)",
	         "##li > a.x:has-text(five)", "##li > a:has-text(six)"),
	       "<ul><li><a>one</a><a>two</a><a>three</a><a>four</a><a class=x>five</a><a>six</a><a>seven</a>"
	       "<b><a>two</a><a>three</a></b></li><a>four</a><a>one</a></ul>",
	       "<ul><li><a>four</a><a>seven</a><b><a>three</a></b></li><a>one</a></ul>");
}

/* Descendant conditions decided at the end all at once (each passes when
 * its match differs from its negation), beside a text test after them. */
static void test_58_descendant_flags(void **state)
{
	expect(R("##div:has(b):not(:has(i))", "##section:not(:has(i)):not(:has(u))", "##aside:has(b):has(u):has-text(k)"),
	       "<div><b>1</b></div><div><b>2</b><i>3</i></div><div><u>4</u></div>"
	       "<section>5</section><section><i>6</i></section><section><u>7</u></section>"
	       "<aside><b>k</b><u>8</u></aside><aside><b>9</b><u>9</u></aside><aside><b>k</b></aside>",
	       "<div><b>2</b><i>3</i></div><div><u>4</u></div><section><i>6</i></section><section><u>7</u></section>"
	       "<aside><b>9</b><u>9</u></aside><aside><b>k</b></aside>");
}

/* The selectors pending :has() rules wait on: more distinct ones than
 * the rewriter lists (each element then asks every pend), one selector
 * text in rules parsed apart, and selectors whose match depends on the
 * scope ("p + p", "> i") beside plain ones. */
static void test_48_waited_selectors(void **state)
{
	enum { N = 20 };
	static char rules_txt[N][32];
	const char *rules[N + 1];
	for (int i = 0; i < N; i++) {
		snprintf(rules_txt[i], sizeof rules_txt[i], "##div:has(.k%d)", i);
		rules[i] = rules_txt[i];
	}
	rules[N] = NULL;
	expect(rules, "<div><div><p class=k19>a</p></div></div><div><p class=k5>b</p></div><div><p class=z>c</p></div>",
	       "<div><p class=z>c</p></div>");
	expect(R("##div:has(b.x)", "##section:has(b.x)", "##article:has(p + p)", "##aside:has(> i)"),
	       "<section><div><b class=x>1</b></div></section><article><p>1</p><p>2</p></article>"
	       "<article><p>1</p></article><aside><i>1</i></aside><aside><b><i>2</i></b></aside>",
	       "<article><p>1</p></article><aside><b><i>2</i></b></aside>");
	/* chains of siblings ("p + p + p", "p ~ h2") match alike under every
	 * pending ancestor: one match an element for all scopes; "> p + p"
	 * still depends on the scope */
	expect(R("##div:has(p + p + p)", "##section:not(:has(p ~ h2)):has(i)", "##aside:has(> p + p)"),
	       "<div><div><p>1</p><p>2</p></div></div><div><div><p>1</p><p>2</p><p>3</p></div></div>"
	       "<section><h2>t</h2><p>x</p><i>1</i></section><section><p>x</p><h2>t</h2><i>1</i></section>"
	       "<aside><p>1</p><div><p>2</p><p>3</p></div></aside><aside><p>1</p><p>2</p></aside>",
	       "<div><div><p>1</p><p>2</p></div></div><section><p>x</p><h2>t</h2><i>1</i></section>"
	       "<aside><p>1</p><div><p>2</p><p>3</p></div></aside>");
	/* the list is made again once nothing waits on the old one */
	expect(R("##div:has(u)", "##span:has(em)"), "<div><u>1</u></div><span><em>2</em></span><span><u>3</u></span>",
	       "<span><u>3</u></span>");
	expect(R("##div:has(u)", "##span:has(em)"), "<div><span><u>1</u></span><em>2</em></div><span><b><em>3</em></b></span>x",
	       "x");
}

/* Nonces made by the rewriter itself: 24 base64 characters, and no two
 * alike over more pages than one 4 KB pool of random bytes serves. */
static void test_52_own_nonces(void **state)
{
	enum { N = 600 };
	static char seen[N][32];
	for (int i = 0; i < N; i++) {
		struct rewriter *rw = rewriter_new(NULL, NULL);
		assert_non_null(rw);
		const char *n = rewriter_nonce(rw);
		assert_int_equal(strlen(n), 24);
		assert_int_equal(strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), 24);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(seen[k], n);
		strcpy(seen[i], n);
		rewriter_free(rw);
	}
}

#define SPACES70 "          " "          " "          " "          " "          " "          " "          "

/* Feeds head (not the end of the body) and tells whether mark came out
 * already: 1 when the element was let go before its end tag. */
static int out_early(const char *const *rules, const char *head, const char *mark)
{
	struct cosmetic *c = build(rules);
	struct cosmetic_page *pg = cosmetic_page_new(c, "www.example.com", 0);
	assert_non_null(pg);
	struct rewriter_opts ro = { 0 };
	ro.nonce = NONCE;
	struct rewriter *rw = rewriter_new(pg, &ro);
	assert_non_null(rw);
	struct out o = { calloc(1, 1), 0, 1 };
	assert_int_equal(rewriter_feed(rw, head, strlen(head), 0, sink, &o), 0);
	int r = strstr(o.p, mark) != NULL;
	rewriter_free(rw);
	cosmetic_page_free(pg);
	cosmetic_free(c);
	free(o.p);
	return r;
}

/* Early decisions: an element whose content rules can no longer match
 * streams out before its end tag (a label test refused by the first
 * words, a bound on the visible text passed), with the same bytes
 * whatever the split; shapes without a bound stay held. */
static void test_49_early_release(void **state)
{
	static const char label[] = "##p:has-text(/^\\s*+(?:ad|sponsored)\\s*+$/i)";
	/* the first-character filter: "Th" starts no label, "Adve" none
	 * either (four bytes), "spon" may; then the bound: "sponsored" has 9
	 * visible bytes, "sponsor" 7, "sponsored x" 10 */
	assert_true(out_early(R(label), "<body><p>The reservoir", "The reservoir"));
	assert_true(out_early(R(label), "<body><p> Adverts", "Adverts"));
	assert_false(out_early(R(label), "<body><p> sponsor", "sponsor"));
	assert_true(out_early(R(label), "<body><p> sponsored x", "sponsored x"));
	assert_false(out_early(R(label), "<body><p> Ad", "Ad"));
	assert_false(out_early(R(label), "<body><p>\n  ", "\n  "));
	expect(R(label), "<body><p>The reservoir</p><p> Sponsored </p><p>Adverts</p>",
	       "<body><p>The reservoir</p><p>Adverts</p>");
	/* a bound on the visible text: none for \s*, four under /u (a k may
	 * be the KELVIN SIGN) */
	assert_true(out_early(R("##div:has-text(/^\\s*$/)"), "<body><div> \n x", " x"));
	assert_false(out_early(R("##div:has-text(/^\\s*$/)"), "<body><div> \n ", "\n "));
	assert_false(out_early(R("##div:has-text(/^\\s*(?:x)?\\s*$/u)"), "<body><div>" SPACES70 "abcd", "abcd"));
	assert_true(out_early(R("##div:has-text(/^\\s*(?:x)?\\s*$/u)"), "<body><div>" SPACES70 "abcde", "abcde"));
	/* length tests count bytes */
	assert_true(out_early(R("##div:has-text(/^[\\s\\S]{0,5}$/)"), "<body><div>abcdef", "abcdef"));
	assert_false(out_early(R("##div:has-text(/^[\\s\\S]{0,5}$/u)"), "<body><div>abcdef", "abcdef"));
	/* references decode to fewer visible bytes: "&nbsp;" is a blank */
	assert_false(out_early(R("##div:has-text(/^\\s*$/)"), "<body><div>&nbsp;&nbsp; ", "&nbsp; "));
	expect(R("##div:has-text(/^\\s*$/)"), "<body><div>&nbsp;&nbsp;</div><div>x</div>", "<body><div>x</div>");
	/* no bound: unanchored, greedy and lazy runs, \s under UCP (takes
	 * NBSP, C2 A0), an alternation with an unbounded branch */
	assert_false(out_early(R("##div:has-text(/x/)"), "<body><div>abcdefgh", "abcdefgh"));
	assert_false(out_early(R("##div:has-text(/^.*$/)"), "<body><div>abcdefgh", "abcdefgh"));
	assert_false(out_early(R("##div:has-text(/^.*?$/)"), "<body><div>abcdefgh", "abcdefgh"));
	assert_false(out_early(R("##div:has-text(/(*UCP)^\\s*$/u)"), "<body><div>\xc2\xa0\xc2\xa0", "\xc2\xa0\xc2\xa0"));
	expect(R("##div:has-text(/(*UCP)^\\s*$/u)"), "<body><div>\xc2\xa0\xc2\xa0</div><div>x</div>",
	       "<body><div>x</div>");
	assert_false(out_early(R("##div:has-text(/^(?:ad|x+)$/)"), "<body><div>xxxxxxxx", "xxxxxxxx"));
	expect(R("##div:has-text(/^(?:ad|x+)$/)"), "<body><div>xxxxxxxx</div><div>xy</div>", "<body><div>xy</div>");
	/* a negated test decides on the whole text only */
	assert_false(out_early(R("##div:not(:has-text(/^\\s*$/))"), "<body><div>abc", "abc"));
	/* the first words after a run of blanks (sixteen bytes a step):
	 * found at every offset around the steps, a blank run alone decides
	 * nothing */
	for (size_t k = 0; k <= 40; k++) {
		char head[128] = "<body><p>", mark[64] = "";
		size_t h = strlen(head);
		for (size_t j = 0; j < k; j++)
			head[h++] = " \n\t\r"[j % 4];
		head[h] = 0;
		strcpy(mark, head + 9);
		assert_false(out_early(R(label), head, k ? mark : "<p>x"));
		strcat(head, "The reservoir");
		strcat(mark, "The reservoir");
		assert_true(out_early(R(label), head, mark));
	}
}

/* What a deeper element adds to an ancestor's text is only certain once
 * no rule may remove it; an element let go early may still go with an
 * ancestor a later rule removes. */
static void test_50_early_release_ancestors(void **state)
{
	static const char label[] = "##p:has-text(/^\\s*+(?:ad|sponsored)\\s*+$/i)";
	/* the p is removed at its end: the div's text is then empty */
	expect(R("##div:has-text(/^\\s*$/)", label), "<body><div><p>Ad</p></div><div><p>Hi</p></div>",
	       "<body><div><p>Hi</p></div>");
	/* the p is let go early, the div that holds it is removed later */
	assert_false(out_early(R("##div:has(> span.ad)", label), "<body><div><p>The reservoir", "The reservoir"));
	expect(R("##div:has(> span.ad)", label),
	       "<body><div><p>The reservoir</p><span class=ad></span></div><p>The end</p>",
	       "<body><p>The end</p>");
	expect(R("##div:has-text(/^[\\s\\S]{0,20}$/)", label),
	       "<body><div><p>The reservoir</p></div><div><p>The reservoir is low</p> and falling</div>",
	       "<body><div><p>The reservoir is low</p> and falling</div>");
	/* a link that fills a list item: dropped first, then the item */
	expect(R("##li:has-text(/^\\s*+ad\\s*+$/i)", "##li > a:has-text(/^\\s*+ad\\s*+$/i)"),
	       "<body><ul><li><a>News</a></li><li><a> AD </a></li><li>ad</li></ul>",
	       "<body><ul><li><a>News</a></li><li></li></ul>");
}

/* The guard counts visible bytes only when some text could pass it: code
 * (a script) is text but not visible, however long, and counts nothing;
 * visible text split over many tokens and inner elements counts to the
 * byte. */
static void test_51_guard_lazy_count(void **state)
{
	char *doc = malloc(16000);
	assert_non_null(doc);
	strcpy(doc, "<div class=c><span class=ad></span><script>");
	for (int i = 0; i < 800; i++)
		strcat(doc, "x=1; ");
	strcat(doc, "</script>short</div>");
	struct opts op = { 0 };
	char *out = rewrite(R("##div:has(> span.ad)"), doc, &op);
	assert_string_equal(out, "");
	assert_int_equal(op.st.guarded, 0);
	free(out);
	for (int extra = 0; extra <= 1; extra++) {
		strcpy(doc, "<div class=c><span class=ad></span>");
		for (int i = 0; i < 300; i++)
			strcat(doc, "<b>abcd</b> efghij ");  /* 300 x 10 visible */
		strcat(doc, extra ? "<i>z</i></div>" : "</div>");
		out = rewrite(R("##div:has(> span.ad)"), doc, &op);
		assert_string_equal(out, extra ? doc : "");
		assert_int_equal(op.st.guarded, extra);
		free(out);
	}
	free(doc);
}

/* When no rule reads an element's siblings, its position or the
 * attributes of another element, records are one per level (lean_el),
 * rewritten by the next element there: the same output as with records
 * kept, for implied ends, void and foreign elements, removals, '&' in
 * values (matched on a decoded copy), ancestors' names and :has(> ...),
 * at depths entered, left and entered again.  The second rule set adds
 * a sibling rule that matches nothing: records are kept there. */
static void test_59_lean_records(void **state)
{
	static char doc[16384], want[16384];
	size_t d = 0, w = 0;
#define BOTH(in, out) do { \
		d += (size_t)snprintf(doc + d, sizeof doc - d, "%s", in); \
		w += (size_t)snprintf(want + w, sizeof want - w, "%s", out); \
	} while (0)
	BOTH("<!doctype html><title>t</title>", "<!doctype html><title>t</title>");
	BOTH("<p class=ad>1<p>2", "<p>2");
	BOTH("<ul><li>a<li class=ad>b<li>c</ul>", "<ul><li>a<li>c</ul>");
	BOTH("<section><div><p class=x>s</p><p>k</p></div></section><p class=x>out</p>",
	     "<section><div><p>k</p></div></section><p class=x>out</p>");
	BOTH("<a href=\"/r?a=1&amp;aff=2\">A</a><a href=\"/r?a=1&amp;afx=2\" class=ad>B</a><a href=\"/r?q&amp;z\">C</a>",
	     "<a href=\"/r?q&amp;z\">C</a>");
	BOTH("<div><b class=k>k</b></div><div><i><b class=k>n</b></i></div>", "<div><i><b class=k>n</b></i></div>");
	BOTH("<img class=ad src=x><br id=cookie><hr>", "<hr>");
	BOTH("<svg><g class=\"ad\"/><rect/></svg>", "<svg><rect/></svg>");
	BOTH("<p>please buy now</p><p>read</p>", "<p>read</p>");
	for (int r = 0; r < 3; r++) {
		/* deeper each time, then back up: levels made, reused, made */
		for (int i = 0; i < 30 + 20 * r; i++)
			BOTH(i % 2 ? "<div>" : "<span>", i % 2 ? "<div>" : "<span>");
		BOTH("<em class=ad>x</em><em id=k>y</em><br class=ad>", "<em id=k>y</em>");
		for (int i = 30 + 20 * r; i-- > 0;)
			BOTH(i % 2 ? "</div>" : "</span>", i % 2 ? "</div>" : "</span>");
	}
	BOTH("<p class=ad>left open", "");
#undef BOTH
	assert_true(d < sizeof doc - 1 && w < sizeof want - 1);
	const char *const *sets[2] = {
		R("##.ad", "###cookie", "##section p.x", "##a[href*=\"&aff=\"]", "##div:has(> b.k)",
		  "##p:has-text(buy)"),
		R("##.ad", "###cookie", "##section p.x", "##a[href*=\"&aff=\"]", "##div:has(> b.k)",
		  "##p:has-text(buy)", "##q + q.never"),
	};
	for (int k = 0; k < 2; k++) {
		struct cosmetic *c = build(sets[k]);
		struct cosmetic_page *pg = cosmetic_page_new(c, "www.example.com", 0);
		assert_non_null(pg);
		assert_int_equal(cosmetic_page_reads_siblings(pg), k);
		assert_int_equal(cosmetic_page_reads_others(pg), 0);
		cosmetic_page_free(pg);
		cosmetic_free(c);
		expect(sets[k], doc, want);
	}
}

int main(void)
{
	seed = (unsigned)time(NULL);
	fprintf(stderr, "test_rewriter: random split seed %u\n", seed);
	srand(seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_no_rules_real_pages),
		cmocka_unit_test(test_02_no_rules_at_all),
		cmocka_unit_test(test_10_type_universal_id_class),
		cmocka_unit_test(test_11_attributes),
		cmocka_unit_test(test_12_not_and_combinators),
		cmocka_unit_test(test_20_has_text),
		cmocka_unit_test(test_21_has),
		cmocka_unit_test(test_22_upward_remove_matches_attr),
		cmocka_unit_test(test_23_adguard_and_ubo_html),
		cmocka_unit_test(test_30_implied_end_tags),
		cmocka_unit_test(test_31_void_and_foreign),
		cmocka_unit_test(test_31b_xhtml),
		cmocka_unit_test(test_32_rawtext),
		cmocka_unit_test(test_33_passthrough_long_tag_and_depth),
		cmocka_unit_test(test_40_lookahead_bound),
		cmocka_unit_test(test_41_style_injection),
		cmocka_unit_test(test_42_hide_mode),
		cmocka_unit_test(test_43_csp),
		cmocka_unit_test(test_44_exceptions),
		cmocka_unit_test(test_45_text_guard),
		cmocka_unit_test(test_46_text_guard_count),
		cmocka_unit_test(test_47_tag_rule_lists),
		cmocka_unit_test(test_48_waited_selectors),
		cmocka_unit_test(test_52_own_nonces),
		cmocka_unit_test(test_49_attribute_memo),
		cmocka_unit_test(test_50_borrowed_attributes),
		cmocka_unit_test(test_51_value_windows),
		cmocka_unit_test(test_53_value_words),
		cmocka_unit_test(test_54_attribute_memo_found),
		cmocka_unit_test(test_55_first_text),
		cmocka_unit_test(test_56_ancestor_tags),
		cmocka_unit_test(test_57_tag_rule_briefs),
		cmocka_unit_test(test_58_descendant_flags),
		cmocka_unit_test(test_49_early_release),
		cmocka_unit_test(test_50_early_release_ancestors),
		cmocka_unit_test(test_51_guard_lazy_count),
		cmocka_unit_test(test_54_tag_keys),
		cmocka_unit_test(test_55_attribute_name_keys),
		cmocka_unit_test(test_56_record_pool),
		cmocka_unit_test(test_57_removal_offsets),
		cmocka_unit_test(test_58_pool_thread_exit),
		cmocka_unit_test(test_59_lean_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
