/* TEMPORARY entry point: replaced by the module's implementation. */
#include "proxy/cli.h"
#include <stdio.h>
int cmd_run(int argc, char **argv) { (void)argc; fprintf(stderr, "quell %s: not built yet\n", argv[0]); return 1; }
