/*
 * What a VM's control socket (snapvm-api(5)) does to the VM: the
 * struct api_ops of a runner.
 */
#ifndef SNAPVM_VMCTL_H
#define SNAPVM_VMCTL_H

#include <pthread.h>

#include "api.h"
#include "vm.h"

struct vmctl {
	struct vm *vm;
	/* Held while the VM is paused for an operation or a checkpoint, so
	 * that one never resumes the VM under the other. */
	pthread_mutex_t lock;
	bool held;			/* paused by a "pause" request */
};

extern const struct api_ops vmctl_ops;

void vmctl_init(struct vmctl *c, struct vm *vm);
void vmctl_fini(struct vmctl *c);

#endif
