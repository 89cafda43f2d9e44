/* snaprestore: start a VM from snapshot layers and serve requests.
 * See snaprestore(1). */
#include <sysexits.h>

#include "log.h"
#include "runner.h"

int
main(int argc, char **argv)
{
	struct runner_opts opts;
	int status;

	vm_hold_signals();
	log_init(argv[0], LOG_WARN);
	status = runner_parse(argc, argv, &opts, RUNNER_SNAPRESTORE);
	if (status == 1 || status == -1) {
		runner_usage(RUNNER_SNAPRESTORE);
		return status == 1 ? 0 : EX_USAGE;
	}
	return runner_main(&opts);
}
