/*
 * The CPUID a guest sees: what KVM supports on this host, filtered as
 * described in cpuid.c and vmrun(1).
 */
#ifndef SNAPVM_CPUID_H
#define SNAPVM_CPUID_H

struct kvm_cpuid2;

struct kvm_cpuid2 *cpuid_supported(int kvm_fd);
int cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported, int apic_id,
    int ncpus);

#endif
