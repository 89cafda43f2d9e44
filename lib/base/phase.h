/*
 * A runner's start, phase by phase (--timings, snaprestore(1)): when it
 * reached each point, counted from its main(), and the page faults the
 * process had taken by then (getrusage(2): the faults its threads took on
 * guest memory for KVM included).  Each phase is marked once, the first
 * time; a phase the runner does not go through (a cold boot loads no
 * layer) is left out of the report.
 */
#ifndef SNAPVM_PHASE_H
#define SNAPVM_PHASE_H

#include <stdbool.h>
#include <stdint.h>

enum phase {
	PHASE_LAYERS_CHECKED,		/* manifests read, digests checked */
	PHASE_MEMORY_MAPPED,		/* guest memory made, layers mapped */
	PHASE_WORKSET_READ,		/* restore: the working set read in */
	PHASE_KERNEL_LOADED,		/* cold boot: kernel and boot state */
	PHASE_STATE_LOADED,		/* restore: KVM and device state set */
	PHASE_FIRST_RUN,		/* the first vCPU enters KVM_RUN */
	PHASE_RUNTIME_CONNECTED,	/* the guest's runtime connects */
	PHASE_RUNTIME_READY,		/* it took continue and says hello */
	PHASE_FIRST_REQUEST,		/* the first request goes to it */
	PHASE_FIRST_RESPONSE,		/* its answer is written */
	PHASE_N
};

struct phases {
	uint64_t t0_us;			/* mono_us() at main(); 0: off */
	uint64_t at_us[PHASE_N];	/* mono_us(); 0: not reached */
	uint64_t minflt[PHASE_N], majflt[PHASE_N];
	bool faults[PHASE_N];		/* minflt and majflt were read */
};

/* Starts recording (p zeroed before). */
void phase_start(struct phases *p, uint64_t t0_us);
/*
 * Marks ph if it is the first time and p records (p may be NULL).  With
 * faults, the process's fault counts are read too: not from a vCPU
 * thread, whose seccomp filter has no getrusage.  Safe from any thread:
 * the time is set with one atomic compare-and-swap.
 */
void phase_mark(struct phases *p, enum phase ph, bool faults);
/* {"timings":[{"phase":NAME,"ms":M[,"minflt":N,"majflt":N]},...]}, the
 * phases reached in order, or NULL (malloc'd). */
char *phase_json(const struct phases *p);

#endif
