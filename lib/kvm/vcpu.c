#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "log.h"
#include "vcpu.h"

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
vcpu_create(struct vcpu *v, const struct vcpu_host *host, int id)
{
	memset(v, 0, sizeof(*v));
	v->id = id;
	v->host = host;
	v->fd = ioctl(host->kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd == -1) {
		log_warn("KVM_CREATE_VCPU %d", id);
		return -1;
	}
	v->run = mmap(NULL, host->kvm->run_size, PROT_READ | PROT_WRITE,
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

void
vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void
vcpu_unkick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
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
		munmap(v->run, v->host->kvm->run_size);
	if (v->fd != -1)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
