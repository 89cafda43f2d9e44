/*
 * Whether this host can give a restored guest the CPU the guest was
 * given when its snapshot was made (snapvm-snapshot(5), CPU): the same
 * vendor, and every feature bit the recorded CPUID has set also set in
 * what this host would give a guest with no template.  Only the leaves
 * and registers that enumerate features are compared; bits KVM changes
 * at run time (OSXSAVE and OSPKE follow the guest's CR4) and the fields
 * that describe rather than enable (family, cache sizes, APIC IDs) are
 * not.  Pure: the caller reads both sides.
 */
#ifndef SNAPVM_CPUCHECK_H
#define SNAPVM_CPUCHECK_H

#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid_entry2;

/*
 * 0 if the host (nhost entries) covers the record (nrec entries);
 * otherwise the number of features missing, named in why (size bytes,
 * ", "-separated, cut short with "..." if it does not fit): a feature by
 * its /proc/cpuinfo name where cputmpl.h knows it, else as
 * "CPUID 0xLEAF.SUB REG bit N"; an XSAVE state component as
 * "XSAVE component N"; another vendor as "vendor GenuineIntel (this host
 * AuthenticAMD)".
 */
int cpucheck_missing(const struct kvm_cpuid_entry2 *rec, uint32_t nrec,
    const struct kvm_cpuid_entry2 *host, uint32_t nhost, char *why,
    size_t size);

#endif
