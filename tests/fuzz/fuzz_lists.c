/*
 * libFuzzer target for filters/lists and filters/engine: the input is a filter
 * list; it is parsed line by line (every line must be classified, never crash)
 * and compiled into a snapshot, which then answers a few requests.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/engine.h"
#include "filters/lists.h"

static int count_line(void *arg, const struct lists_rule *r)
{
	if (r->cls < 0 || r->cls >= LISTS_N_CLASSES)
		abort();
	(*(long *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lists_source src = { .name = "fuzz", .path = NULL, .buf = (const char *)data, .len = size };
	long n = 0;
	if (lists_parse(&src, count_line, &n) < 0)
		return 0;
	char err[256];
	struct engine *e = engine_build(&src, 1, err, sizeof err);
	if (!e)
		return 0;
	static const char *urls[] = {
		"https://ads.example.com/banner.js?utm_source=x",
		"http://example.org/",
		"https://cdn.example.net/img/ad_300x250.gif",
	};
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
		struct netfilter_verdict v;
		memset(&v, 0, sizeof v);
		engine_match(e, urls[i], i == 2 ? LISTS_T_IMAGE : LISTS_T_SCRIPT, "https://news.example/article", &v);
		free(v.new_url);
	}
	size_t nc;
	engine_cosmetic_rules(e, &nc);
	engine_release(e);
	return 0;
}
