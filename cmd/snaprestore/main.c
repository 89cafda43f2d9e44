/* snaprestore: start a VM from snapshot layers and serve requests.
 * See snaprestore(1). */
#include "cli.h"
#include "log.h"
#include "runner.h"

static void
usage(FILE *f)
{
	runner_usage(f, RUNNER_SNAPRESTORE);
}

int
main(int argc, char **argv)
{
	struct runner_opts o;
	int rc;

	vm_hold_signals();
	log_init(argv[0], LOG_WARN);
	if ((rc = runner_parse(argc, argv, &o, RUNNER_SNAPRESTORE)) != 0)
		return cli_finish(rc, "snaprestore", usage);
	return runner_main(&o);
}
