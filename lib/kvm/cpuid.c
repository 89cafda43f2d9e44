#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "cpuid.h"
#include "cputmpl.h"
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

static void
cpuid_filter_one(struct kvm_cpuid_entry2 *e, uint32_t apic_id, uint32_t ncpus)
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

void
cpuid_filter(struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t apic_id,
    uint32_t ncpus)
{
	for (uint32_t i = 0; i < n; i++)
		cpuid_filter_one(&e[i], apic_id, ncpus);
}

struct kvm_cpuid2 *
cpuid_guest(const struct kvm_cpuid2 *supported, const struct cputmpl *t,
    uint32_t apic_id, uint32_t ncpus)
{
	size_t sz = sizeof(*supported) +
	    supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);

	if (c == NULL)
		return NULL;
	memcpy(c, supported, sz);
	cpuid_filter(c->entries, c->nent, apic_id, ncpus);
	cputmpl_apply(t, c->entries, c->nent);
	return c;
}

int
cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported,
    const struct cputmpl *t, int apic_id, int ncpus)
{
	struct kvm_cpuid2 *c = cpuid_guest(supported, t, (uint32_t)apic_id,
	    (uint32_t)ncpus);
	int rc;

	if (c == NULL)
		return -1;
	rc = ioctl(vcpu_fd, KVM_SET_CPUID2, c);
	if (rc == -1)
		log_warn("KVM_SET_CPUID2");
	free(c);
	return rc == -1 ? -1 : 0;
}
