/*
 * The seccomp filters of a VM's threads (jail_seccomp.c has the lists).
 * Every thread loads its own as it begins; the vCPUs then wait until the
 * thread that started the VM has loaded its filter too, so that no guest
 * instruction runs before every thread is filtered.  A thread whose
 * filter cannot be loaded must not serve the guest: its caller stops the
 * VM.
 */
#ifndef SNAPVM_VM_SEAL_H
#define SNAPVM_VM_SEAL_H

#include "vm_types.h"

/* The calling thread's filter.  -1, reported, if it failed. */
int vm_seal_load(struct vm *vm, enum jail_thread kind);
/* A vCPU thread: waits until vm_seal() or a stop. */
void vm_seal_wait(struct vm *vm);
/* On the thread that started the VM, once every thread exists: its own
 * filter, then the vCPUs are let go.  -1 if the filter failed (the
 * vCPUs then wait for the stop). */
int vm_seal(struct vm *vm);

#endif
