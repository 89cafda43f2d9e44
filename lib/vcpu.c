#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "log.h"
#include "vcpu.h"
#include "vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void
vcpu_kick_handler(int sig)
{
	(void)sig;		/* its only job is to interrupt KVM_RUN */
}

int
vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) == -1) {
		log_warn("sigaction");
		return -1;
	}
	return 0;
}

int
vcpu_create(struct vcpu *v, struct vm *vm, int id)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->vm = vm;
	v->fd = ioctl(vm->kvm.vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd == -1) {
		log_warn("KVM_CREATE_VCPU %d", id);
		return -1;
	}
	v->run = mmap(NULL, vm->kvm.run_size, PROT_READ | PROT_WRITE,
	    MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		log_warn("mmap vCPU %d run area", id);
		v->run = NULL;
		close(v->fd);
		v->fd = -1;
		return -1;
	}
	return 0;
}

static void *
vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (!vm_stopping(v->vm)) {
		if (ioctl(v->fd, KVM_RUN, 0) == -1) {
			if (errno == EINTR || errno == EAGAIN) {
				vm_park(v);
				continue;
			}
			log_warn("vCPU %d: KVM_RUN", v->id);
			vm_stop(v->vm, VM_STOP_ERROR, 0);
			break;
		}
		if (vcpu_handle_exit(v) == -1)
			break;
	}
	return NULL;
}

int
vcpu_start(struct vcpu *v)
{
	int e = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (e != 0) {
		errno = e;
		log_warn("vCPU %d: pthread_create", v->id);
		return -1;
	}
	v->started = true;
	return 0;
}

void
vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void
vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}

void
vcpu_destroy(struct vcpu *v)
{
	if (v->run != NULL)
		munmap(v->run, v->vm->kvm.run_size);
	if (v->fd != -1)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
