/* TEMPORARY entry points: replaced by the module's implementation. */
#include "proxy/cli.h"
#include <stdio.h>
int cmd_lists_ls(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
int cmd_lists_add(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
int cmd_lists_rm(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
int cmd_lists_update(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
