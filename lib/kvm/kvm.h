/* The KVM system and VM objects. */
#ifndef SNAPVM_KVM_H
#define SNAPVM_KVM_H

#include <stddef.h>

struct kvm {
	int sys_fd;		/* /dev/kvm */
	int vm_fd;
	size_t run_size;	/* size of each vCPU's shared kvm_run area */
};

int kvm_open(struct kvm *k, const char *path);
int kvm_create_vm(struct kvm *k);
int kvm_has_cap(const struct kvm *k, int cap);
int kvm_irq_line(const struct kvm *k, unsigned int irq, int level);
void kvm_close(struct kvm *k);

#endif
