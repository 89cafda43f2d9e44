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

#define CPUCHECK_FP_LEN	9	/* 8 hex digits and a NUL */
/*
 * A short name for what cpucheck_missing compares: the first 32 bits of
 * the SHA-256 of the vendor and each compared register (the bits it
 * ignores cleared, a missing leaf as zeros), in hex.  Two CPUIDs with one
 * fingerprint pass cpucheck_missing against each other (but for a
 * collision); ctrl(1) names the layers of its host template by it, so
 * that hosts of different CPUs never share them.
 */
void cpucheck_fingerprint(const struct kvm_cpuid_entry2 *e, uint32_t n,
    char out[CPUCHECK_FP_LEN]);

#endif
