/* Unit tests for filters/html_tok: byte preservation and split invariance
 * on real pages (whole, 1-byte chunks, random splits with the seed
 * printed), then tags, attributes in every quoting style, comments and
 * their odd endings, doctype, bogus comments, raw-text elements, CDATA in
 * foreign content, and the bound on a partial tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filters/html_tok.h"

static unsigned seed;

/* A canonical rendering of the token stream: pieces of the same type are
 * merged (their boundaries may differ), tags are listed with their
 * attributes; raw holds the concatenation of every token's bytes. */
struct rec {
	char *sig, *raw;
	size_t sn, scap, rn, rcap;
	int last_type;
	int foreign_on_svg;
	struct html_tok *tok;
};

static void add(char **b, size_t *n, size_t *cap, const char *p, size_t k)
{
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*b = realloc(*b, *cap);
		assert_non_null(*b);
	}
	memcpy(*b + *n, p, k);
	*n += k;
	(*b)[*n] = 0;
}

static int on_tok(void *arg, const struct html_token *t)
{
	struct rec *r = arg;
	add(&r->raw, &r->rn, &r->rcap, t->raw, t->raw_len);
	if (t->type == HTML_TOK_START || t->type == HTML_TOK_END) {
		char buf[256];
		int n = snprintf(buf, sizeof buf, "\n%s%s%s%s", t->type == HTML_TOK_START ? "<" : "</", t->name,
		                 t->flags & HTML_TOK_F_SELF_CLOSING ? "/" : "", t->flags & HTML_TOK_F_LONG ? "!LONG" : "");
		add(&r->sig, &r->sn, &r->scap, buf, (size_t)n);
		for (unsigned i = 0; i < t->n_attrs; i++) {
			add(&r->sig, &r->sn, &r->scap, " ", 1);
			add(&r->sig, &r->sn, &r->scap, t->attrs[i].name, t->attrs[i].name_len);
			add(&r->sig, &r->sn, &r->scap, "=[", 2);
			add(&r->sig, &r->sn, &r->scap, t->attrs[i].value, t->attrs[i].value_len);
			add(&r->sig, &r->sn, &r->scap, "]", 1);
		}
		if (r->foreign_on_svg && t->type == HTML_TOK_START && !strcmp(t->name, "svg"))
			html_tok_set_foreign(r->tok, 1);
		if (r->foreign_on_svg && t->type == HTML_TOK_END && !strcmp(t->name, "svg"))
			html_tok_set_foreign(r->tok, 0);
		r->last_type = t->type;
		return 0;
	}
	if (t->flags & HTML_TOK_F_LONG)
		return 0; /* the head of an over-long tag: its token follows */
	int ty = t->type == HTML_TOK_TEXT && (t->flags & HTML_TOK_F_RAWTEXT) ? 10 : t->type;
	if (ty != r->last_type) {
		const char *m = ty == HTML_TOK_TEXT ? "\nT:" : ty == 10 ? "\nR:" : "\nO:";
		add(&r->sig, &r->sn, &r->scap, m, 3);
	}
	add(&r->sig, &r->sn, &r->scap, t->raw, t->raw_len);
	r->last_type = ty;
	return 0;
}

/* mode 0 whole, 1 byte by byte, 2 random, 10 + k: chunks of k bytes */
static struct rec tokenize(const char *doc, size_t len, int mode, size_t max_tag, int foreign)
{
	struct rec r;
	memset(&r, 0, sizeof r);
	r.last_type = -1;
	r.foreign_on_svg = foreign;
	r.sig = calloc(1, 1);
	r.raw = calloc(1, 1);
	r.tok = html_tok_new(max_tag);
	assert_non_null(r.tok);
	size_t i = 0;
	while (i < len) {
		size_t n = mode == 0 ? len : mode == 1 ? 1 : mode >= 10 ? (size_t)(mode - 10) : 1 + (size_t)(rand() % 61);
		if (n > len - i)
			n = len - i;
		assert_int_equal(html_tok_feed(r.tok, doc + i, n, 0, on_tok, &r), 0);
		if (mode == 1 && html_tok_held(r.tok) > 0)
			assert_true(html_tok_held(r.tok) <= (max_tag ? max_tag : 256 * 1024) + 16);
		i += n;
	}
	assert_int_equal(html_tok_feed(r.tok, NULL, 0, 1, on_tok, &r), 0);
	assert_int_equal(html_tok_held(r.tok), 0);
	html_tok_free(r.tok);
	r.tok = NULL;
	return r;
}

/* Tokenizes every way; checks identity and invariance; returns the sig. */
static char *check(const char *doc, size_t len, size_t max_tag, int foreign)
{
	struct rec w = tokenize(doc, len, 0, max_tag, foreign);
	assert_int_equal(w.rn, len);
	assert_memory_equal(w.raw, doc, len);
	for (int mode = 1; mode <= 4; mode++) {
		struct rec o = tokenize(doc, len, mode > 2 ? 2 : mode, max_tag, foreign);
		assert_int_equal(o.rn, len);
		assert_memory_equal(o.raw, doc, len);
		if (strcmp(o.sig, w.sig))
			fprintf(stderr, "mode %d differs (seed %u)\nwhole:%s\nsplit:%s\n", mode, seed, w.sig, o.sig);
		assert_string_equal(o.sig, w.sig);
		free(o.sig);
		free(o.raw);
	}
	free(w.raw);
	return w.sig;
}

static void expect_sig(const char *doc, const char *want)
{
	char *sig = check(doc, strlen(doc), 0, 1);
	if (strcmp(sig, want))
		fprintf(stderr, "doc: %s\ngot:%s\nwant:%s\n", doc, sig, want);
	assert_string_equal(sig, want);
	free(sig);
}

static void test_01_real_pages(void **state)
{
	const char *pages[] = { "tests/data/html/bbc-1.html", "tests/data/html/wapo-1.html",
		"tests/data/html/cnet-svg-classes.html", "tests/data/html/wordpress.html",
		"tests/data/seed/seed.html" };
	for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
		FILE *f = fopen(pages[i], "rb");
		assert_non_null(f);
		static char buf[1 << 20];
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		free(check(buf, n, 0, 1));
	}
}

static void test_02_attributes(void **state)
{
	expect_sig("<a href=\"x y\" b='1\"2' c=z/w d e = \"f\" G=H>",
	           "\n<a href=[x y] b=[1\"2] c=[z/w] d=[] e=[f] g=[H]");
	expect_sig("<br/><img src=a />", "\n<br/\n<img/ src=[a]");
	expect_sig("<p a=\"1\"b=2>", "\n<p a=[1] b=[2]");
	expect_sig("<x \"q\"=1 =y>", "\n<x \"q\"=[1] =y=[]");
	expect_sig("<div\nclass\n=\n'a'\n>t</DIV\n>", "\n<div class=[a]\nT:t\n</div");
	expect_sig("<a title='>'>x", "\n<a title=[>]\nT:x");
	/* names lower-cased wherever the capital is, also split anywhere */
	expect_sig("<DIV Class=a dAtA-X=1 data-Y data-z=2 Z ID=\"I\">",
	           "\n<div class=[a] data-x=[1] data-y=[] data-z=[2] z=[] id=[I]");
}

/* Attribute names of sixteen bytes and more (scanned a block at a time):
 * their end at each place in a block, capitals before and after it,
 * bytes past 0x7f, control bytes that end a name and one (\v) that does
 * not, all split anywhere. */
static void test_02b_long_attribute_names(void **state)
{
	expect_sig("<i data-a-long-attribute-name=1 data-another-long-name-Here data-0123456789abcdef>",
	           "\n<i data-a-long-attribute-name=[1] data-another-long-name-here=[] data-0123456789abcdef=[]");
	expect_sig("<i aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaZ/><i bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\tc>",
	           "\n<i/ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaz=[]\n<i bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb=[] c=[]");
	expect_sig("<i data-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9-x=\"v\" DATA-XXXXXXXXXXXXXXXXXX\rk=v "
	           "data-yyyyyyyyyyyyyyyyyyyy\v=w data-zzzzzzzzzzzzzzzzzzzz\fq>",
	           "\n<i data-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9-x=[v] data-xxxxxxxxxxxxxxxxxx=[] k=[v] "
	           "data-yyyyyyyyyyyyyyyyyyyy\v=[w] data-zzzzzzzzzzzzzzzzzzzz=[] q=[]");
	expect_sig("<i abcdefghijklmnoP=1 abcdefghijklmnop=2 Abcdefghijklmnopq=3 abcdefghijklmnopQ>",
	           "\n<i abcdefghijklmnop=[1] abcdefghijklmnop=[2] abcdefghijklmnopq=[3] abcdefghijklmnopq=[]");
}

static void test_03_comments(void **state)
{
	expect_sig("<!-- a -- b -->x", "\nO:<!-- a -- b -->\nT:x");
	expect_sig("<!-->x", "\nO:<!-->\nT:x");
	expect_sig("<!--->x", "\nO:<!--->\nT:x");
	expect_sig("<!-- a --!>x", "\nO:<!-- a --!>\nT:x");
	expect_sig("<!--<p>-->x", "\nO:<!--<p>-->\nT:x");
	expect_sig("<!---->x", "\nO:<!---->\nT:x");
	expect_sig("<!-- -- >-->x", "\nO:<!-- -- >-->\nT:x");
}

static void test_04_doctype_bogus(void **state)
{
	expect_sig("<!DOCTYPE html><p>", "\nO:<!DOCTYPE html>\n<p");
	expect_sig("<?xml version=\"1\"?>x", "\nO:<?xml version=\"1\"?>\nT:x");
	expect_sig("</ x>y", "\nO:</ x>\nT:y");
	expect_sig("</>y", "\nO:</>\nT:y");
	expect_sig("a < b <3 c", "\nT:a < b <3 c");
	expect_sig("<![CDATA[x]]>y", "\nO:<![CDATA[x]]>\nT:y");
}

static void test_05_rawtext(void **state)
{
	expect_sig("<script>if (a<b && c</d) x='</div>'</script>y",
	           "\n<script\nR:if (a<b && c</d) x='</div>'\n</script\nT:y");
	expect_sig("<style>p>a{}</STYLE >y", "\n<style\nR:p>a{}\n</style\nT:y");
	expect_sig("<title><b>t</b></title>", "\n<title\nR:<b>t</b>\n</title");
	expect_sig("<textarea></textareax></textarea>", "\n<textarea\nR:</textareax>\n</textarea");
	expect_sig("<script></script x=\">\">y", "\n<script\n</script\nT:y");
	expect_sig("<plaintext></plaintext><p>", "\n<plaintext\nR:</plaintext><p>");
}

static void test_06_foreign_cdata(void **state)
{
	expect_sig("<svg><![CDATA[<p>]]></svg>x", "\n<svg\nO:<![CDATA[<p>]]>\n</svg\nT:x");
	/* raw-text element names are not raw text inside svg */
	expect_sig("<svg><style><a/></style></svg>", "\n<svg\n<style\n<a/\n</style\n</svg");
}

static void test_07_long_tag(void **state)
{
	char doc[512];
	snprintf(doc, sizeof doc, "<p>x<div class=\"%0200d\">y</div>", 0);
	char *sig = check(doc, strlen(doc), 64, 0);
	assert_non_null(strstr(sig, "<div!LONG"));
	assert_null(strstr(sig, "class=["));
	free(sig);
}

static void test_08_unfinished_at_end(void **state)
{
	expect_sig("x<div class=", "\nT:x\nO:<div class=");
	expect_sig("x<", "\nT:x<");
	expect_sig("<!-- open", "\nO:<!-- open");
}

/* "<x" and "</x" go from text straight into the tag states when the
 * chunk holds the byte after the name's first; at the chunk's end, or
 * when '<' opens something else, through the '<' states: every chunk size
 * must give the same tokens. */
static void test_09_tag_starts_at_chunk_ends(void **state)
{
	static const char doc[] = "a<b>c</b>d<3 <!x> </ x></><p><P>x</P><i\tk=1>e</I >f<a<b>g</\n"
	                          "<s></s><br/><!--c--><x-y z>t</x-y><script>1<2</script><z";
	const char *want = "\nT:a\n<b\nT:c\n</b\nT:d<3 \nO:<!x>\nT: \nO:</ x></>\n<p\n<p\nT:x\n</p\n<i k=[1]\nT:e"
	                   "\n</i\nT:f\n<a<b\nT:g\nO:</\n<s>\n</s\n<br/\nO:<!--c-->\n<x-y z=[]\nT:t\n</x-y\n<script"
	                   "\nR:1<2\n</script\nO:<z";
	expect_sig(doc, want);
	size_t len = strlen(doc);
	char *whole = check(doc, len, 0, 1);
	for (int k = 2; k <= 9; k++) {
		struct rec o = tokenize(doc, len, 10 + k, 0, 1);
		assert_int_equal(o.rn, len);
		assert_memory_equal(o.raw, doc, len);
		if (strcmp(o.sig, whole))
			fprintf(stderr, "chunks of %d differ\nwhole:%s\nsplit:%s\n", k, whole, o.sig);
		assert_string_equal(o.sig, whole);
		free(o.sig);
		free(o.raw);
	}
	free(whole);
}

/* Text up to '<' and quoted values up to their quote are looked for in
 * the first 16 bytes inline, then with memchr: the delimiter at every
 * offset around 16, with chunk ends anywhere (chunks of 1 to 40 bytes);
 * capitals in some attribute names of a tag and none in the next. */
static void test_10_short_scans(void **state)
{
	for (int k = 0; k < 40; k++) {
		char doc[512], want[512];
		char run[64];
		memset(run, 'x', (size_t)k);
		run[k] = 0;
		snprintf(doc, sizeof doc, "%s<i a=\"%s\" B='%s'>%s</i>", run, run, run, run);
		snprintf(want, sizeof want, "%s%s\n<i a=[%s] b=[%s]%s%s\n</i", k ? "\nT:" : "", run, run, run,
		         k ? "\nT:" : "", run);
		expect_sig(doc, want);
		size_t len = strlen(doc);
		for (int c = 2; c <= 40; c += 3) {
			struct rec o = tokenize(doc, len, 10 + c, 0, 1);
			assert_int_equal(o.rn, len);
			assert_memory_equal(o.raw, doc, len);
			assert_string_equal(o.sig, want);
			free(o.sig);
			free(o.raw);
		}
	}
	expect_sig("<i A=1><i b=2 C=3><i d=4 e=5>", "\n<i a=[1]\n<i b=[2] c=[3]\n<i d=[4] e=[5]");
}

/* Every start tag that changes the state (raw-text elements, plaintext),
 * told first by its name's length, and names of those lengths that do
 * not. */
static void test_11_state_names(void **state)
{
	static const char *const raw[] = { "xmp", "style", "title", "script", "iframe", "noembed", "textarea",
		"noframes", "noscript" };
	for (size_t k = 0; k < sizeof raw / sizeof *raw; k++) {
		char doc[128], want[160];
		snprintf(doc, sizeof doc, "<%s><b>x</b></%s>y", raw[k], raw[k]);
		snprintf(want, sizeof want, "\n<%s\nR:<b>x</b>\n</%s\nT:y", raw[k], raw[k]);
		expect_sig(doc, want);
	}
	expect_sig("<div><b>x</b></div><table><b>y</b><button><b>z</b><section><b>w</b><fieldset><b>v</b>"
	           "<plaintexx><b>u</b>",
	           "\n<div\n<b\nT:x\n</b\n</div\n<table\n<b\nT:y\n</b\n<button\n<b\nT:z\n</b\n<section\n<b\nT:w\n</b"
	           "\n<fieldset\n<b\nT:v\n</b\n<plaintexx\n<b\nT:u\n</b");
	expect_sig("<PlainText><b>", "\n<plaintext\nR:<b>");
	/* names past HTML_TOK_NAME_MAX - 1 bytes are cut there, split anywhere */
	expect_sig("<abcdefghijklmnopqrstuvwxyz0123456789ABCD x=1></ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd>",
	           "\n<abcdefghijklmnopqrstuvwxyz01234 x=[1]\n</abcdefghijklmnopqrstuvwxyz01234");
}

int main(void)
{
	seed = (unsigned)time(NULL);
	fprintf(stderr, "test_html_tok: random split seed %u\n", seed);
	srand(seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_01_real_pages),
		cmocka_unit_test(test_02_attributes),
		cmocka_unit_test(test_02b_long_attribute_names),
		cmocka_unit_test(test_03_comments),
		cmocka_unit_test(test_04_doctype_bogus),
		cmocka_unit_test(test_05_rawtext),
		cmocka_unit_test(test_06_foreign_cdata),
		cmocka_unit_test(test_07_long_tag),
		cmocka_unit_test(test_08_unfinished_at_end),
		cmocka_unit_test(test_09_tag_starts_at_chunk_ends),
		cmocka_unit_test(test_10_short_scans),
		cmocka_unit_test(test_11_state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
