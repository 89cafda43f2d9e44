/*
 * The gate uses the pause lock and condition, so that a stop (which
 * wakes parked vCPUs) wakes waiting ones as well.
 */
#include "jail.h"
#include "vm_seal.h"

int
vm_seal_load(struct vm *vm, enum jail_thread kind)
{
	return jail_seccomp_load(kind, vm->seccomp);
}

void
vm_seal_wait(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	while (!vm->sealed && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cv, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
}

int
vm_seal(struct vm *vm)
{
	int rc = vm_seal_load(vm, JAIL_THREAD_CONTROL);

	pthread_mutex_lock(&vm->pause_lock);
	vm->sealed = rc == 0;
	pthread_cond_broadcast(&vm->pause_cv);
	pthread_mutex_unlock(&vm->pause_lock);
	return rc;
}
