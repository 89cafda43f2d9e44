#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "cpuid.h"
#include "log.h"

#define CPUID_MAX_ENTRIES	256
#define LEAF1_ECX_MONITOR	(1U << 3)
#define LEAF1_ECX_HYPERVISOR	(1U << 31)
#define LEAF1_EDX_HTT		(1U << 28)

struct kvm_cpuid2 *
cpuid_supported(int kvm_fd)
{
	struct kvm_cpuid2 *c;
	size_t sz = sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]);

	if ((c = calloc(1, sz)) == NULL)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == -1) {
		log_warn("KVM_GET_SUPPORTED_CPUID");
		free(c);
		return NULL;
	}
	return c;
}

/*
 * The filter, per vCPU:
 *  - leaf 1: initial APIC ID and logical CPU count in EBX, HTT when there
 *    is more than one vCPU, the hypervisor bit set, MONITOR/MWAIT hidden
 *    (MWAIT in a guest would idle the host thread, not the guest);
 *  - leaves 0xb and 0x1f: the x2APIC ID in EDX of every subleaf;
 *  - leaf 0xa: zeroed, so guests find no performance counters to program.
 * Everything else is as KVM_GET_SUPPORTED_CPUID reports it.
 */
static void
cpuid_filter(struct kvm_cpuid_entry2 *e, uint32_t apic_id, uint32_t ncpus)
{
	switch (e->function) {
	case 1:
		e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) |
		    ((ncpus & 0xff) << 16);
		e->ecx = (e->ecx & ~LEAF1_ECX_MONITOR) | LEAF1_ECX_HYPERVISOR;
		e->edx = ncpus > 1 ? e->edx | LEAF1_EDX_HTT :
		    e->edx & ~LEAF1_EDX_HTT;
		break;
	case 0xb:
	case 0x1f:
		e->edx = apic_id;
		break;
	case 0xa:
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	default:
		break;
	}
}

int
cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported, int apic_id,
    int ncpus)
{
	struct kvm_cpuid2 *c;
	size_t sz = sizeof(*c) + supported->nent * sizeof(c->entries[0]);
	int rc;

	if ((c = malloc(sz)) == NULL)
		return -1;
	memcpy(c, supported, sz);
	for (uint32_t i = 0; i < c->nent; i++)
		cpuid_filter(&c->entries[i], (uint32_t)apic_id, (uint32_t)ncpus);
	rc = ioctl(vcpu_fd, KVM_SET_CPUID2, c);
	if (rc == -1)
		log_warn("KVM_SET_CPUID2");
	free(c);
	return rc == -1 ? -1 : 0;
}
