/*
 * Pausing a running VM and the guest's checkpoints.  A pause kicks every
 * vCPU out of KVM_RUN with immediate_exit set, which makes KVM finish the
 * instruction of a pending I/O exit first (its state would otherwise be
 * invisible to KVM_GET_*), then parks the vCPU threads and takes the
 * device locks, so that neither the guest nor a device changes state
 * while a snapshot reads it.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "devices.h"
#include "log.h"
#include "vm_pause.h"

static int
vm_started_vcpus(const struct vm *vm)
{
	int n = 0;

	for (int i = 0; i < vm->nvcpus; i++)
		n += vm->vcpu[i].started;
	return n;
}

int
vm_pause(struct vm *vm)
{
	int want = vm_started_vcpus(vm);

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->pause_lock);
		return 0;
	}
	vm->pause_req = true;
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpu[i]);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->parked < want && !vm_stopping(vm))
		pthread_cond_wait(&vm->pause_cv, &vm->pause_lock);
	vm->paused = !vm_stopping(vm);
	if (!vm->paused)
		vm->pause_req = false;
	pthread_mutex_unlock(&vm->pause_lock);
	if (!vm->paused) {
		errno = ESRCH;
		return -1;
	}
	devices_lock(vm);
	return 0;
}

void
vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->paused) {
		devices_unlock(vm);
		vm->paused = false;
	}
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->pause_cv);
	pthread_mutex_unlock(&vm->pause_lock);
}

/* A stopping VM wakes its parked vCPUs so that they can be joined. */
void
vm_unpark_all(struct vm *vm)
{
	vm_resume(vm);
}

void
vm_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (vm->pause_req && !vm_stopping(vm)) {
		vm->parked++;
		pthread_cond_broadcast(&vm->pause_cv);
		while (vm->pause_req && !vm_stopping(vm))
			pthread_cond_wait(&vm->pause_cv, &vm->pause_lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->pause_lock);
}

/*
 * The port's callback, on a vCPU thread.  Every vCPU parks first, the
 * writer right after its port write, so that a snapshot taken now holds
 * the guest exactly at its checkpoint; the waiting thread acts and then
 * lets them go.
 */
void
vm_checkpoint(struct vm *vm, uint32_t point)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_req = true;
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpu[i]);
	atomic_store(&vm->ckpt_point, point);
	if (write(vm->ckpt_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd write");
}

void
vm_take_ckpt(struct vm *vm)
{
	uint64_t n;

	if (read(vm->ckpt_fd, &n, sizeof(n)) != sizeof(n))
		return;
	if (vm->on_ckpt != NULL)
		vm->on_ckpt(vm, atomic_load(&vm->ckpt_point), vm->ckpt_arg);
	/* Let the vCPUs go, unless someone paused the VM in the meantime. */
	pthread_mutex_lock(&vm->pause_lock);
	if (!vm->paused) {
		vm->pause_req = false;
		pthread_cond_broadcast(&vm->pause_cv);
	}
	pthread_mutex_unlock(&vm->pause_lock);
}
