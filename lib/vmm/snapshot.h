/*
 * Writing and loading snapshots of a VM (snapvm-snapshot(5)).
 */
#ifndef SNAPVM_SNAPSHOT_H
#define SNAPVM_SNAPSHOT_H

#include <stdbool.h>

#include "snapmeta.h"
#include "vm.h"

/* Writes a full or diff snapshot of a paused VM to dir: built under a
 * temporary name next to it and renamed into place when complete.
 * point names the guest checkpoint ("runtime", "app") or is "". */
int snapshot_write(struct vm *vm, const char *dir, bool diff,
    const char *point);

/* Builds a VM from layers (a full snapshot, then diffs in order) instead
 * of booting: cfg gives the drives, vsock and console; its memory size
 * and vCPU count must be 0 or match the snapshot's.  Every file is
 * checked before anything runs.  On failure vm->fail_class says why. */
int vm_restore(struct vm *vm, struct vm_config *cfg, char *const *layers,
    int nlayers);

#endif
