/* TEMPORARY entry points: replaced by the module's implementation. */
#include "proxy/cli.h"
#include <stdio.h>
int cmd_check(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
int cmd_lists_lint(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
int cmd_lists_compile(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
