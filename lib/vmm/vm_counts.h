/*
 * What a running VM has cost its VMM so far: the vCPUs' returns from
 * KVM_RUN by kind (exits KVM handles itself, such as ioeventfd
 * notifications, are not among them) and the interrupts its virtio
 * devices raised.  Read from any thread while the VM runs; each counter
 * is exact, the set is not a snapshot of one instant.
 */
#ifndef SNAPVM_VM_COUNTS_H
#define SNAPVM_VM_COUNTS_H

#include <stdint.h>

#include "vm_types.h"

struct vm_counts {
	uint64_t io_exits, mmio_exits, intr_exits, other_exits;
	uint64_t interrupts;
};

void vm_counts(const struct vm *vm, struct vm_counts *c);
/* b - a, member by member. */
void vm_counts_since(const struct vm_counts *a, const struct vm_counts *b,
    struct vm_counts *d);

#endif
