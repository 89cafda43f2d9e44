/*
 * The KVM side of a snapshot: every vCPU's registers and interrupt state,
 * and the in-kernel interrupt controllers, PIT and clock of the VM, to and
 * from state-file sections (snapvm-snapshot(5)).
 */
#ifndef SNAPVM_SNAP_KVM_H
#define SNAPVM_SNAP_KVM_H

#include <stdbool.h>

#include "kvm.h"
#include "snapstate.h"

#define SNAP_MAX_MSRS	256
#define SNAP_MAX_CPUID	256	/* CPUID entries of one vCPU */

int snap_save_vcpu(const struct kvm *k, int vcpu_fd, int index,
    struct snapbuf *b);
int snap_load_vcpu(const struct kvm *k, int vcpu_fd, int index,
    const struct snapstate *st);
int snap_save_vm(const struct kvm *k, struct snapbuf *b);
int snap_load_vm(const struct kvm *k, const struct snapstate *st);
/* Every KVM section of a state for nvcpus vCPUs, checked before KVM is
 * touched: present where KVM requires it, of its exact size, counts and
 * enumerated fields within what KVM hands out, none for a vCPU the
 * machine does not have.  With cpuid, each vCPU's CPUID section too (a
 * layer of format 4 and later has them).  Messages name the file,
 * section and field. */
int snap_kvm_check(const struct snapstate *st, int nvcpus, bool cpuid);
/*
 * Whether this host can give each vCPU the CPUID its section records
 * (cpucheck.h): 0, or -1 after a message naming every feature missing.
 * A state without CPUID sections (format 3) passes: it records nothing
 * to check.
 */
struct kvm_cpuid2;
int snap_kvm_cpu_check(const struct kvm_cpuid2 *supported,
    const struct snapstate *st, int nvcpus);

#endif
