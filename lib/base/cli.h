/*
 * What every program's command line does alike, as GNU and Debian users
 * expect: --help prints the usage on standard output and exits 0,
 * --version prints "PROG (snapvm) VERSION" on standard output and exits
 * 0, a usage error prints the usage on standard error and exits 64
 * (EX_USAGE).  The version is the tree's (scripts/version), written into
 * build/gen/gen_version.h by the Makefile.
 */
#ifndef SNAPVM_CLI_H
#define SNAPVM_CLI_H

#include <signal.h>
#include <stdio.h>

/* What a flag parser returns besides 0 (go on). */
#define CLI_HELP	1
#define CLI_VERSION	2
#define CLI_USAGE	(-1)

const char *snapvm_version(void);
/* The exit status for rc, a parser's CLI_*, after printing what it asks
 * for; usage(f) prints the program's usage on f. */
int cli_finish(int rc, const char *prog, void (*usage)(FILE *f));

/*
 * For a program that cleans up when asked to stop: SIGINT, SIGTERM and
 * SIGHUP are only recorded, without SA_RESTART (a blocking call returns
 * EINTR), and SIGPIPE is ignored.  Returns the flag, the signal's number
 * once one came, for the loops to watch.
 */
const volatile sig_atomic_t *cli_catch_stop(void);
/* If a stop signal came: says so and dies of it, as whoever interrupted
 * the program expects; else returns. */
void cli_stopped(void);

#endif
