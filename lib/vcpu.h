/*
 * One thread per vCPU, each looping on KVM_RUN.  A vCPU is kicked out of
 * KVM_RUN by setting immediate_exit and sending it SIGUSR1: the flag
 * covers the window before the ioctl, the signal the time inside it.
 */
#ifndef SNAPVM_VCPU_H
#define SNAPVM_VCPU_H

#include <pthread.h>
#include <stdbool.h>

struct vm;
struct kvm_run;

struct vcpu {
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	struct vm *vm;
};

int vcpu_create(struct vcpu *v, struct vm *vm, int id);
int vcpu_start(struct vcpu *v);
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
int vcpu_signals_init(void);

/* vcpu_exit.c: what each KVM exit means. */
int vcpu_handle_exit(struct vcpu *v);
void vcpu_report(const struct vcpu *v, const char *what);

#endif
