/* vmrun: boot a guest kernel in a KVM virtual machine, or resume one
 * from a snapshot.  See vmrun(1). */
#include <sysexits.h>

#include "log.h"
#include "runner.h"

int
main(int argc, char **argv)
{
	struct runner_opts o;
	int rc;

	vm_hold_signals();
	log_init(argv[0], LOG_WARN);
	if ((rc = runner_parse(argc, argv, &o, RUNNER_VMRUN)) != 0) {
		runner_usage(RUNNER_VMRUN);
		return rc == 1 ? 0 : EX_USAGE;
	}
	return runner_main(&o);
}
