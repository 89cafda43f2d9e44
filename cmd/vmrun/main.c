/* vmrun: boot a guest kernel in a KVM virtual machine, or resume one
 * from a snapshot.  See vmrun(1). */
#include "cli.h"
#include "log.h"
#include "runner.h"

static void
usage(FILE *f)
{
	runner_usage(f, RUNNER_VMRUN);
}

int
main(int argc, char **argv)
{
	struct runner_opts o;
	int rc;

	vm_hold_signals();
	log_init(argv[0], LOG_WARN);
	if ((rc = runner_parse(argc, argv, &o, RUNNER_VMRUN)) != 0)
		return cli_finish(rc, "vmrun", usage);
	return runner_main(&o);
}
