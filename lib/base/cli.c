#include <sysexits.h>

#include "cli.h"
#include "gen_version.h"
#include "log.h"

/* Per-process: the signal that asked the program to stop, 0 while none
 * has (set by the handler). */
static volatile sig_atomic_t cli_stop;

const char *
snapvm_version(void)
{
	return SNAPVM_VERSION;
}

int
cli_finish(int rc, const char *prog, void (*usage)(FILE *f))
{
	switch (rc) {
	case CLI_HELP:
		usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("%s (snapvm) %s\n", prog, SNAPVM_VERSION);
		return 0;
	default:
		usage(stderr);
		return EX_USAGE;
	}
}

static void
on_stop(int sig)
{
	cli_stop = sig;
}

const volatile sig_atomic_t *
cli_catch_stop(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return &cli_stop;
}

void
cli_stopped(void)
{
	if (cli_stop == 0)
		return;
	log_warnx("stopped by signal %d", (int)cli_stop);
	signal(cli_stop, SIG_DFL);
	raise(cli_stop);
}
