/*
 * cli: the subcommands of the one quell binary.  main() (proxy/main.c) only
 * dispatches; each command lives beside the module it drives and returns the
 * process exit status: 0 success, 1 failure, 2 usage or configuration error.
 * argv[0] is the subcommand's own name ("run", "lint", ...).
 */
#ifndef QUELL_CLI_H
#define QUELL_CLI_H

int cmd_run(int argc, char **argv);            /* proxy/cmd_run.c */
int cmd_ca(int argc, char **argv);             /* certs/cmd_ca.c */
int cmd_check(int argc, char **argv);          /* filters/cmd_check.c */
int cmd_filter(int argc, char **argv);         /* filters/cmd_filter.c */
int cmd_lists_lint(int argc, char **argv);     /* filters/cmd_check.c */
int cmd_lists_compile(int argc, char **argv);  /* filters/cmd_check.c */
int cmd_lists_ls(int argc, char **argv);       /* filters/cmd_subs.c */
int cmd_lists_add(int argc, char **argv);      /* filters/cmd_subs.c */
int cmd_lists_rm(int argc, char **argv);       /* filters/cmd_subs.c */
int cmd_lists_update(int argc, char **argv);   /* filters/cmd_subs.c */

#endif
