/*
 * The device table: creates the devices a config asks for at the places
 * vmconf_layout() gives them, and drives every per-device step of the VMM
 * (snapshot save and load, the locks of a pause, destruction) as one loop
 * over vm->dev.  Devices that end the VM or pause it at a checkpoint do
 * so through the caller's ops, called with the VM as their opaque
 * pointer, never by calling the VMM.
 */
#ifndef SNAPVM_DEVICES_H
#define SNAPVM_DEVICES_H

#include "ckpt.h"
#include "debugexit.h"
#include "i8042.h"
#include "snapstate.h"
#include "vm_types.h"

struct devices_ops {
	i8042_reset_fn *reset;		/* the guest reset the machine */
	debugexit_fn *exit;		/* the guest wrote its exit status */
	ckpt_fn *checkpoint;		/* the guest reached a checkpoint */
};

/* vm->kvm, vm->mem, the console fds and vm->restores must be set.  On
 * failure the devices made so far stay in the table for devices_destroy;
 * errno ENOENT, EACCES or EINVAL: an input (drive, tap) cannot be used. */
int devices_create(struct vm *vm, const struct vm_config *cfg,
    const struct devices_ops *ops);
void devices_destroy(struct vm *vm);

/* Every device's sections, in table order. */
void devices_save(struct vm *vm, struct snapbuf *b);
/* Loads every device's sections, then tells each it was restored; -1
 * with a message naming the file, section and field at fault. */
int devices_load(struct vm *vm, const struct snapstate *st);
/* Before anything is built: st has exactly the device sections of the
 * machine cfg describes, each of its struct's size (the devices check
 * their contents when they load).  -1 with a message. */
int devices_check_sections(const struct vm_config *cfg,
    const struct snapstate *st);
/* The locks of every device, in table order; unlock in reverse. */
void devices_lock(struct vm *vm);
void devices_unlock(struct vm *vm);

#endif
