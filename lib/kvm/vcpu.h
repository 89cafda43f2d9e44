/*
 * A vCPU: its KVM object, its run area and its thread (vcpu_exit.c runs
 * the thread).  A vCPU is kicked out of KVM_RUN by setting immediate_exit
 * and sending it VCPU_KICK_SIGNAL: the flag covers the window before the
 * ioctl, the signal the time inside it.  A vCPU knows nothing of the VM
 * it belongs to: it reaches guest memory and the buses through struct
 * vcpu_host, and tells the VM what happened through its ops.
 */
#ifndef SNAPVM_VCPU_H
#define SNAPVM_VCPU_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "bus.h"
#include "kvm.h"
#include "mem.h"

#define VCPU_KICK_SIGNAL SIGUSR1

struct kvm_run;

/* Why a vCPU ends the VM. */
enum vcpu_stop {
	VCPU_STOP_POWEROFF,	/* KVM shutdown event */
	VCPU_STOP_RESET,	/* KVM reset event */
	VCPU_STOP_ERROR,	/* unhandled exit or host error, reported */
};

/* Called on the vCPU's thread with the host's opaque pointer. */
struct vcpu_ops {
	/* The VM is stopping: the thread leaves its loop. */
	bool (*stopping)(void *opaque);
	/* Stops the VM; the first reason given to the VM wins. */
	void (*stop)(void *opaque, enum vcpu_stop why);
	/* KVM_RUN was interrupted: waits while the VM is paused. */
	void (*park)(void *opaque);
	/* On the thread, before its first KVM_RUN (may be NULL): -1 ends
	 * the thread, which has stopped the VM. */
	int (*enter)(void *opaque);
};

/* What the vCPUs of one VM share; the VM owns it. */
struct vcpu_host {
	const struct kvm *kvm;
	struct mem *mem;
	struct bus *pio, *mmio;
	const struct vcpu_ops *ops;
	void *opaque;
	/* Finish what KVM's emulator gives up on (emulate.h); false: such
	 * an exit ends the VM, reported. */
	bool emulate;
};

/* Returns from KVM_RUN to the VMM, by kind: counted by the vCPU's
 * thread, read by others with relaxed atomic loads (vm_counts). */
enum vcpu_exit_kind { VCPU_EXIT_IO, VCPU_EXIT_MMIO, VCPU_EXIT_INTR,
	VCPU_EXIT_OTHER, VCPU_EXIT_KINDS };

struct vcpu {
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	const struct vcpu_host *host;
	uint64_t exits[VCPU_EXIT_KINDS];
};

int vcpu_create(struct vcpu *v, const struct vcpu_host *host, int id);
void vcpu_kick(struct vcpu *v);
/* Lets a kicked vCPU enter KVM_RUN again. */
void vcpu_unkick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
int vcpu_signals_init(void);

#endif
