#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kvm.h"
#include "log.h"

/* Below 4 GiB, above the MMIO devices and the IOAPIC, under the BIOS area. */
#define KVM_IDENTITY_MAP_ADDR	0xfeffc000ULL
#define KVM_TSS_ADDR		0xfeffd000ULL

static const int kvm_required_caps[] = {
	KVM_CAP_IRQCHIP, KVM_CAP_PIT2, KVM_CAP_USER_MEMORY,
	KVM_CAP_SET_TSS_ADDR, KVM_CAP_EXT_CPUID, KVM_CAP_IMMEDIATE_EXIT,
};

static int
kvm_check_caps(const struct kvm *k)
{
	for (size_t i = 0; i < sizeof(kvm_required_caps) /
	    sizeof(kvm_required_caps[0]); i++) {
		if (!kvm_has_cap(k, kvm_required_caps[i])) {
			log_warnx("KVM lacks required capability %d",
			    kvm_required_caps[i]);
			errno = ENOTSUP;
			return -1;
		}
	}
	return 0;
}

int
kvm_open(struct kvm *k, const char *path)
{
	int v, sz;

	k->vm_fd = -1;
	k->sys_fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->sys_fd == -1) {
		log_warn("%s", path);
		return -1;
	}
	v = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		log_warnx("%s: KVM API version %d, need %d", path, v,
		    KVM_API_VERSION);
		goto fail;
	}
	sz = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		log_warn("%s: KVM_GET_VCPU_MMAP_SIZE", path);
		goto fail;
	}
	k->run_size = (size_t)sz;
	if (kvm_check_caps(k) == -1)
		goto fail;
	return 0;
fail:
	close(k->sys_fd);
	k->sys_fd = -1;
	errno = ENODEV;
	return -1;
}

/* The in-kernel LAPIC, IOAPIC, PIC and PIT keep timer and interrupt
 * exits out of user space. */
int
kvm_create_vm(struct kvm *k)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;

	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd == -1) {
		log_warn("KVM_CREATE_VM");
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) == -1) {
		log_warn("KVM_SET_IDENTITY_MAP_ADDR");
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) == -1) {
		log_warn("KVM_SET_TSS_ADDR");
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) == -1) {
		log_warn("KVM_CREATE_IRQCHIP");
		return -1;
	}
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) == -1) {
		log_warn("KVM_CREATE_PIT2");
		return -1;
	}
	return 0;
}

int
kvm_has_cap(const struct kvm *k, int cap)
{
	int fd = k->vm_fd != -1 ? k->vm_fd : k->sys_fd;

	return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

int
kvm_irq_line(const struct kvm *k, unsigned int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = (uint32_t)level };

	if (ioctl(k->vm_fd, KVM_IRQ_LINE, &l) == -1) {
		log_warn("KVM_IRQ_LINE %u", irq);
		return -1;
	}
	return 0;
}

void
kvm_close(struct kvm *k)
{
	if (k->vm_fd != -1)
		close(k->vm_fd);
	if (k->sys_fd != -1)
		close(k->sys_fd);
	k->vm_fd = k->sys_fd = -1;
}
