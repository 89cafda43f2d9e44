/*
 * What a VM cost its VMM (vm_counts.c): exits summed over the vCPUs by
 * kind, interrupts over the virtio devices there are, and differences.
 */
#include <string.h>

#include "unit.h"
#include "vm_counts.h"

static struct vm vm;

static void
test_sums(void)
{
	struct vm_counts a, b, d;

	memset(&vm, 0, sizeof(vm));
	vm.nvcpus = 2;
	vm.vcpu[0].exits[VCPU_EXIT_IO] = 3;
	vm.vcpu[1].exits[VCPU_EXIT_IO] = 4;
	vm.vcpu[1].exits[VCPU_EXIT_MMIO] = 5;
	vm.vcpu[0].exits[VCPU_EXIT_INTR] = 1;
	vm.vcpu[1].exits[VCPU_EXIT_OTHER] = 2;
	vm.vcpu[2].exits[VCPU_EXIT_IO] = 100;	/* not a vCPU of this VM */
	vm.nblk = 1;
	vm.blk[0].mmio.interrupts = 6;
	vm.blk[1].mmio.interrupts = 100;	/* no such drive */
	vm.vsock_mmio.interrupts = 7;		/* has_vsock: false */
	vm_counts(&vm, &a);
	CHECK_EQ(a.io_exits, 7);
	CHECK_EQ(a.mmio_exits, 5);
	CHECK_EQ(a.intr_exits, 1);
	CHECK_EQ(a.other_exits, 2);
	CHECK_EQ(a.interrupts, 6);
	vm.has_vsock = true;
	vm.vcpu[0].exits[VCPU_EXIT_MMIO] = 10;
	vm_counts(&vm, &b);
	CHECK_EQ(b.interrupts, 13);
	vm_counts_since(&a, &b, &d);
	CHECK_EQ(d.mmio_exits, 10);
	CHECK_EQ(d.interrupts, 7);
	CHECK_EQ(d.io_exits, 0);
}

static const struct unit_test tests[] = {
	{ "sums", test_sums },
};

UNIT_MAIN(tests)
