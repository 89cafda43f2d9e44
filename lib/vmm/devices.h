/*
 * The device table: creates the devices a config asks for, gives them
 * their ports, MMIO slots and IRQs, and destroys them.  Devices that end
 * the VM or pause it at a checkpoint do so through the caller's ops,
 * called with the VM as their opaque pointer, never by calling the VMM.
 */
#ifndef SNAPVM_DEVICES_H
#define SNAPVM_DEVICES_H

#include "ckpt.h"
#include "debugexit.h"
#include "i8042.h"
#include "vm_types.h"

struct devices_ops {
	i8042_reset_fn *reset;		/* the guest reset the machine */
	debugexit_fn *exit;		/* the guest wrote its exit status */
	ckpt_fn *checkpoint;		/* the guest reached a checkpoint */
};

/* vm->kvm, vm->mem, the console fds and vm->restores must be set. */
int devices_create(struct vm *vm, const struct vm_config *cfg,
    const struct devices_ops *ops);
void devices_destroy(struct vm *vm);

#endif
