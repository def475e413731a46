/* Unit tests for filters/builtin: the embedded lists, their categories, and
 * the shape of every rule line (the list parser parses them for real; here we
 * check what would make a rule silently useless: an unbalanced operator
 * argument, a :has-text() regex PCRE2 refuses, a stray line). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/builtin.h"
#include "filters/cosmetic.h"
#include "filters/lists.h"
#include "proxy/config.h"

static void test_table(void **state)
{
	size_t n = 0;
	const struct builtin_list *t = builtin_lists(&n);
	static const char *names[] = { "builtin:ad-labels", "builtin:donation",
	                               "builtin:newsletter", "builtin:consent" };
	static const unsigned bits[] = { ANNOY_AD_LABELS, ANNOY_DONATION,
	                                 ANNOY_NEWSLETTER, ANNOY_CONSENT };
	unsigned all = 0;

	assert_int_equal(n, BUILTIN_MAX);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(t[i].name, names[i]);
		assert_int_equal(t[i].annoy_bit, bits[i]);
		all |= t[i].annoy_bit;
		/* embedded, non-trivial, NUL-terminated right after the file */
		assert_true(t[i].length > 200);
		assert_int_equal(t[i].bytes[t[i].length], '\0');
		assert_int_equal(strlen(t[i].bytes), t[i].length);
		assert_int_equal(t[i].bytes[t[i].length - 1], '\n');
		assert_ptr_equal(builtin_find(names[i]), &t[i]);
	}
	assert_int_equal(all, ANNOY_ALL);
	assert_null(builtin_find("builtin:nope"));
	assert_null(builtin_find(NULL));
}

static void test_enabled(void **state)
{
	const struct builtin_list *out[BUILTIN_MAX];
	struct config cfg;

	assert_int_equal(builtin_enabled(ANNOY_ALL, out, BUILTIN_MAX), 4);
	assert_int_equal(builtin_enabled(0, out, BUILTIN_MAX), 0);
	assert_int_equal(builtin_enabled(ANNOY_CONSENT | ANNOY_DONATION, out, BUILTIN_MAX), 2);
	assert_string_equal(out[0]->name, "builtin:donation");
	assert_string_equal(out[1]->name, "builtin:consent");
	/* max bounds the output */
	assert_int_equal(builtin_enabled(ANNOY_ALL, out, 1), 1);
	assert_string_equal(out[0]->name, "builtin:ad-labels");

	/* the defaults turn everything on; "builtin off" turns everything off */
	assert_int_equal(config_defaults(&cfg), 0);
	assert_int_equal(builtin_for_config(&cfg, out, BUILTIN_MAX), 4);
	cfg.annoyances = ANNOY_NEWSLETTER;
	assert_int_equal(builtin_for_config(&cfg, out, BUILTIN_MAX), 1);
	assert_string_equal(out[0]->name, "builtin:newsletter");
	cfg.builtin = 0;
	assert_int_equal(builtin_for_config(&cfg, out, BUILTIN_MAX), 0);
	config_free(&cfg);
	assert_int_equal(builtin_for_config(NULL, out, BUILTIN_MAX), 0);
}

/* Index just past the ')' closing the '(' at s[i], honouring backslash
 * escapes and /regex/ arguments; 0 when unbalanced. */
static size_t close_paren(const char *s, size_t len, size_t i)
{
	int depth = 0;
	for (size_t j = i; j < len; j++) {
		if (s[j] == '\\') {
			j++;
			continue;
		}
		if (s[j] == '(')
			depth++;
		else if (s[j] == ')' && --depth == 0)
			return j + 1;
	}
	return 0;
}

/* 1 when a[0..n) has a byte >= 0x80 inside a [...] character class: in
 * byte mode (no "u" flag) PCRE2 would take a UTF-8 sequence there as
 * separate bytes, and the class would match parts of other characters. */
static int non_ascii_in_class(const char *a, size_t n)
{
	int in = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[i] == '\\') {
			i++;
			continue;
		}
		if (!in && a[i] == '[')
			in = 1;
		else if (in && a[i] == ']')
			in = 0;
		else if (in && (unsigned char)a[i] >= 0x80)
			return 1;
	}
	return 0;
}

/* Checks every :has-text(/re/flags) argument of one rule: balanced, and
 * accepted by PCRE2 with the rule's own flags (i, m, s, u as the selector
 * module maps them).  Returns the number of regexes checked, or -1 (after
 * printing the line) on a bad one. */
static int check_has_text(const char *list, int lineno, const char *s, size_t len)
{
	static const char op[] = ":has-text(";
	int n = 0;

	for (size_t i = 0; i + sizeof op - 1 <= len; i++) {
		if (memcmp(s + i, op, sizeof op - 1))
			continue;
		size_t open = i + sizeof op - 2, end = close_paren(s, len, open);
		if (!end) {
			print_error("%s:%d: unbalanced :has-text(\n", list, lineno);
			return -1;
		}
		const char *a = s + open + 1;
		size_t alen = end - 1 - (open + 1);
		if (alen < 2 || a[0] != '/')
			continue;          /* plain text argument */
		size_t slash = alen - 1;
		while (slash > 0 && a[slash] != '/')
			slash--;
		if (slash == 0) {
			print_error("%s:%d: regex without closing '/'\n", list, lineno);
			return -1;
		}
		uint32_t opts = 0;
		for (size_t f = slash + 1; f < alen; f++) {
			if (a[f] == 'i') opts |= PCRE2_CASELESS;
			else if (a[f] == 'm') opts |= PCRE2_MULTILINE;
			else if (a[f] == 's') opts |= PCRE2_DOTALL;
			else if (a[f] == 'u') opts |= PCRE2_UTF;
			else {
				print_error("%s:%d: regex flag '%c'\n", list, lineno, a[f]);
				return -1;
			}
		}
		if (!(opts & PCRE2_UTF) && non_ascii_in_class(a + 1, slash - 1)) {
			print_error("%s:%d: non-ASCII in a class without the u flag\n", list, lineno);
			return -1;
		}
		int code;
		PCRE2_SIZE off;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)a + 1, slash - 1, opts, &code, &off, NULL);
		if (!re) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(code, msg, sizeof msg);
			print_error("%s:%d: regex at %zu: %s\n", list, lineno, (size_t)off, (char *)msg);
			return -1;
		}
		pcre2_code_free(re);
		n++;
		i = end - 1;
	}
	return n;
}

static void test_every_line(void **state)
{
	size_t n;
	const struct builtin_list *t = builtin_lists(&n);
	int cosmetic = 0, network = 0, regexes = 0;

	for (size_t k = 0; k < n; k++) {
		const char *p = t[k].bytes, *end = p + t[k].length;
		int lineno = 0, rules = 0;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
			lineno++;
			if (len == 0 || p[0] == '!') {
				/* comment or blank */
			} else if (len > 2 && p[0] == '#' && p[1] == '#') {
				int r = check_has_text(t[k].name, lineno, p, len);
				if (r < 0)
					fail();
				regexes += r;
				/* a selector, not a stray "##" */
				assert_true(len > 2 + (p[2] == '^'));
				assert_null(memchr(p, '\r', len));
				cosmetic++;
				rules++;
			} else if (len > 3 && p[0] == '|' && p[1] == '|') {
				assert_non_null(memchr(p, '^', len));
				network++;
				rules++;
			} else {
				print_error("%s:%d: not a rule: %.*s\n", t[k].name, lineno, (int)len, p);
				fail();
			}
			p += len + 1;
		}
		/* every list has rules and starts with its title */
		assert_true(rules > 5);
		assert_memory_equal(t[k].bytes, "! Title: quell built-in rules", 29);
	}
	assert_true(cosmetic > 100);
	assert_true(network > 10);
	assert_true(regexes > 20);
}

/* What the list parser made of the built-in lists. */
struct parsed {
	struct cosmetic_rule rules[2048];
	size_t n;
	int per_class[LISTS_N_CLASSES];
	int bad;
	uint16_t list_id;
};

static int on_rule(void *arg, const struct lists_rule *r)
{
	struct parsed *p = arg;

	p->per_class[r->cls]++;
	if (r->cls == LISTS_UNSUPPORTED || r->cls == LISTS_INVALID) {
		print_error("%s:%u: %s (%s): %.*s\n", r->file, (unsigned)r->line, lists_class_name(r->cls),
		            r->reason ? r->reason : "", (int)(r->len > 120 ? 120 : r->len), r->text);
		p->bad++;
	}
	if ((r->cls == LISTS_COSMETIC || r->cls == LISTS_HTML) && p->n < sizeof p->rules / sizeof p->rules[0]) {
		struct cosmetic_rule *c = &p->rules[p->n++];
		c->body = strndup(r->cosm_body, r->cosm_body_len);
		c->domains = strndup(r->cosm_domains ? r->cosm_domains : "", r->cosm_domains_len);
		c->kind = (uint8_t)r->cosm_kind;
		c->exception = (uint8_t)r->cosm_exception;
		c->list_id = p->list_id;
		c->line = r->line;
	}
	return 0;
}

static void on_reject(void *arg, const struct cosmetic_rule *r, const char *why)
{
	int *rejected = arg;
	print_error("rejected by the cosmetic index: list %u line %u: %s: %.120s\n",
	            (unsigned)r->list_id, (unsigned)r->line, why, r->body);
	(*rejected)++;
}

/* Every line of every built-in list is a rule quell implements: the list
 * parser classifies none as unsupported or invalid, and the cosmetic index
 * (selector parser included) compiles every cosmetic and HTML rule. */
static void test_parse_and_compile(void **state)
{
	static struct parsed p;
	size_t n;
	const struct builtin_list *t = builtin_lists(&n);
	const char *names[BUILTIN_MAX];
	int rejected = 0;

	memset(&p, 0, sizeof p);
	for (size_t k = 0; k < n; k++) {
		struct lists_source src = { t[k].name, NULL, t[k].bytes, t[k].length };
		names[k] = t[k].name;
		p.list_id = (uint16_t)k;
		assert_true(lists_parse(&src, on_rule, &p) > 0);
	}
	assert_int_equal(p.bad, 0);
	assert_true(p.per_class[LISTS_NETWORK] > 10);
	assert_true(p.per_class[LISTS_HTML] > 10);
	assert_true(p.per_class[LISTS_COSMETIC] > 200);
	assert_true(p.n < sizeof p.rules / sizeof p.rules[0]);
	for (size_t i = 0; i < p.n; i++)
		assert_true(p.rules[i].body && p.rules[i].domains);

	struct cosmetic *c = cosmetic_build(p.rules, p.n, names, n, on_reject, &rejected);
	assert_non_null(c);
	assert_int_equal(rejected, 0);
	assert_int_equal(cosmetic_n_rejected(c), 0);
	assert_int_equal(cosmetic_n_rules(c), p.n);
	cosmetic_free(c);
	for (size_t i = 0; i < p.n; i++) {
		free((char *)p.rules[i].body);
		free((char *)p.rules[i].domains);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_enabled),
		cmocka_unit_test(test_every_line),
		cmocka_unit_test(test_parse_and_compile),
	};
	return cmocka_run_group_tests_name("builtin", tests, NULL, NULL);
}
