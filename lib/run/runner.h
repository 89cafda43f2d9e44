/*
 * The runner behind vmrun(1) and snaprestore(1): their shared flags, and
 * the life of one VM from boot or restore to exit, with request mode,
 * snapshots at the guest's checkpoints and the control socket.
 */
#ifndef SNAPVM_RUNNER_H
#define SNAPVM_RUNNER_H

#include <stdbool.h>
#include <stdio.h>

#include "cputmpl.h"
#include "cpuwa.h"
#include "snapshot.h"
#include "vm.h"

enum runner_mode { RUNNER_VMRUN, RUNNER_SNAPRESTORE };

struct runner_opts {
	enum runner_mode mode;
	struct vm_config vm;
	int verbosity;
	bool serve;
	long max_request;
	long timeout_ms;
	const char *api_sock;
	const char *dump_dir;
	char *load;			/* --load-dir: comma-separated layers */
	int nlayers;
	char *layer[SNAP_MAX_LAYERS];
	char *rootfs, *appfs;
	int ndrives;
	char *drive[VM_MAX_DRIVES];
	uint64_t start_us;		/* mono_us() as parsing began */
	bool timings;			/* --timings */
	const char *record_workset;	/* --record-workset FILE */
	const char *add_workset;	/* --add-workset FILE: no VM */
	bool check_only;		/* --check-only: restore, never run */
	struct phases phases;
	enum cpuwa cpu_workarounds;	/* --cpu-workarounds */
	const char *cpu_template;	/* --cpu-template NAME|FILE, or NULL */
	struct cputmpl tmpl;		/* what it names, once loaded */
};

/* 0: run; or CLI_HELP, CLI_VERSION, CLI_USAGE (an error, reported). */
int runner_parse(int argc, char **argv, struct runner_opts *o,
    enum runner_mode mode);
void runner_usage(FILE *f, enum runner_mode mode);
/*
 * Loads --cpu-template and settles --cpu-workarounds into o->vm
 * (runcpu.c): 0, or the exit status after a message.
 */
int runner_cpu(struct runner_opts *o);
/* Runs the VM; returns the exit status (vmrun(1), EXIT STATUS). */
int runner_main(struct runner_opts *o);

#endif
