#include <string.h>

#include "vm_counts.h"

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
vm_counts(const struct vm *vm, struct vm_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = &vm->vcpu[i];

		c->io_exits += load(&v->exits[VCPU_EXIT_IO]);
		c->mmio_exits += load(&v->exits[VCPU_EXIT_MMIO]);
		c->intr_exits += load(&v->exits[VCPU_EXIT_INTR]);
		c->other_exits += load(&v->exits[VCPU_EXIT_OTHER]);
	}
	for (int i = 0; i < vm->nblk; i++)
		c->interrupts += load(&vm->blk[i].mmio.interrupts);
	if (vm->has_vsock)
		c->interrupts += load(&vm->vsock_mmio.interrupts);
	if (vm->has_net)
		c->interrupts += load(&vm->net_mmio.interrupts);
}

void
vm_counts_since(const struct vm_counts *a, const struct vm_counts *b,
    struct vm_counts *d)
{
	d->io_exits = b->io_exits - a->io_exits;
	d->mmio_exits = b->mmio_exits - a->mmio_exits;
	d->intr_exits = b->intr_exits - a->intr_exits;
	d->other_exits = b->other_exits - a->other_exits;
	d->interrupts = b->interrupts - a->interrupts;
}
