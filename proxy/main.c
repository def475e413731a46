/*
 * quell: an ad-, tracker- and annoyance-blocking filtering proxy.
 * main() dispatches to the subcommands declared in proxy/cli.h.
 */
#include "proxy/cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
"usage: quell COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  run [--config FILE] [--listen ADDR:PORT]... [--workers N] [--log-level L]\n"
"                        run the filtering proxy (default 127.0.0.1:8228)\n"
"  ca init [--dir DIR] [--rsa]   create the local CA used for HTTPS filtering\n"
"  ca export [--dir DIR] [--der] print the CA certificate to install in browsers\n"
"  check URL [--type T] [--source PAGE] [--lists F,...] [--config FILE]\n"
"  check --batch [--lists F,...]  the network verdict for URLs (stdin: url TAB type TAB page)\n"
"  filter --url URL [--lists F,...] [--no-builtin] [--explain] [FILE]\n"
"                        clean an HTML page (file or stdin) to stdout\n"
"  lists lint FILE...    classify every line of filter lists, report problems\n"
"  lists compile [--lists F,...] -o FILE   compile lists into a snapshot\n"
"  lists ls|add|rm|update [--config FILE]  manage list subscriptions\n"
"  help                  this text;  --version  the version\n"
"\n"
"'quell COMMAND --help' describes a command.  See README.md for the config file.\n";

/* The version, for --version and (through a weak reference in admin.c, so
 * unit tests link without main.o) the status page and logs. */
const char quell_version[] = QUELL_VERSION;

struct sub {
	const char *name;
	int (*fn)(int, char **);
};

static const struct sub lists_subs[] = {
	{ "lint", cmd_lists_lint },
	{ "compile", cmd_lists_compile },
	{ "ls", cmd_lists_ls },
	{ "add", cmd_lists_add },
	{ "rm", cmd_lists_rm },
	{ "update", cmd_lists_update },
};

static int cmd_lists(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs("usage: quell lists lint|compile|ls|add|rm|update ...\n", argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof lists_subs / sizeof lists_subs[0]; i++)
		if (strcmp(argv[1], lists_subs[i].name) == 0)
			return lists_subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "quell lists: unknown subcommand '%s'\n", argv[1]);
	return 2;
}

static const struct sub subs[] = {
	{ "run", cmd_run },
	{ "ca", cmd_ca },
	{ "check", cmd_check },
	{ "filter", cmd_filter },
	{ "lists", cmd_lists },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("quell %s\n", quell_version);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "quell: unknown command '%s'\n\n%s", argv[1], usage);
	return 2;
}
