#include <sysexits.h>

#include "cli.h"
#include "gen_version.h"

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
