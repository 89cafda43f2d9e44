/*
 * Pausing a started VM: vCPUs out of KVM_RUN with their pending I/O
 * completed, device locks held, so that its state can be read; and the
 * guest's checkpoints, which pause it the same way until the thread that
 * waits for the VM has acted on them.
 */
#ifndef SNAPVM_VM_PAUSE_H
#define SNAPVM_VM_PAUSE_H

#include <stdint.h>

#include "vm_types.h"

int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* A stopping VM wakes its parked vCPUs so that they can be joined. */
void vm_unpark_all(struct vm *vm);
/* A vCPU thread whose KVM_RUN was interrupted: waits while paused. */
void vm_park(struct vm *vm);
/* The checkpoint port's callback, on a vCPU thread. */
void vm_checkpoint(struct vm *vm, uint32_t point);
/* The waiting thread: a checkpoint the guest reached, if any. */
void vm_take_ckpt(struct vm *vm);

#endif
