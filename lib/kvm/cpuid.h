/*
 * The CPUID a guest sees: what KVM_GET_SUPPORTED_CPUID reports on this
 * host, through cpuid_filter (the one place that decides what a vCPU is
 * told about itself and the machine), then masked by the CPU template
 * (cputmpl.h).  vmrun(1) and snapvm-cpu-template(5) describe the result.
 */
#ifndef SNAPVM_CPUID_H
#define SNAPVM_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;
struct kvm_cpuid_entry2;
struct cputmpl;

/* KVM_GET_SUPPORTED_CPUID (free it), or NULL after a message. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd);

/*
 * The filter, pure: rewrites n entries of what KVM supports into what
 * vCPU apic_id of ncpus sees:
 *  - leaf 1: initial APIC ID and logical CPU count in EBX, HTT only with
 *    more than one vCPU, the hypervisor bit set, MONITOR/MWAIT hidden
 *    (MWAIT in a guest would idle the host thread, not the guest);
 *  - leaves 0xb and 0x1f: the x2APIC ID in EDX of every subleaf;
 *  - leaf 0xa: zeroed, so that guests find no performance counters.
 * Everything else passes as KVM reports it: the host's own features, as
 * far as KVM can run them natively (KVM leaves out what it cannot).
 */
void cpuid_filter(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t apic_id,
    uint32_t ncpus);

/* A copy of supported, filtered for one vCPU and masked by t (NULL: the
 * host template); free it.  NULL if out of memory. */
struct kvm_cpuid2 *cpuid_guest(const struct kvm_cpuid2 *supported,
    const struct cputmpl *t, uint32_t apic_id, uint32_t ncpus);

/* KVM_SET_CPUID2 of cpuid_guest(...) on the vCPU; 0 or -1, reported. */
int cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported,
    const struct cputmpl *t, int apic_id, int ncpus);

#endif
