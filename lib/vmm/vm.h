/*
 * A virtual machine: KVM objects, guest memory, the device table and the
 * vCPU threads.  vm_boot() builds one from a kernel image; vm_run() runs
 * it until the guest stops, an error occurs or a signal arrives.
 */
#ifndef SNAPVM_VM_H
#define SNAPVM_VM_H

#include "vm_pause.h"
#include "vm_types.h"

int vm_boot(struct vm *vm, const struct vm_config *cfg);
/* vm_boot and vm_restore in parts (vm.c): */
void vm_clear(struct vm *vm);
int vm_build(struct vm *vm, const struct vm_config *cfg);
int vm_fail(struct vm *vm, int sysexits_class);	/* returns -1 */
int vm_run(struct vm *vm, struct vm_result *res);
/* vm_run in parts, for callers with a loop of their own (reqloop.c). */
void vm_hold_signals(void);
int vm_start(struct vm *vm);
int vm_take_signal(struct vm *vm);
int vm_finish(struct vm *vm, struct vm_result *res);
void vm_stop(struct vm *vm, enum vm_stop_kind kind, int status);
/* vm_stopping() is in vm_types.h, for the parts below vm.c. */
void vm_destroy(struct vm *vm);

#endif
