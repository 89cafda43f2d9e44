/*
 * What a VM is made of, as its caller describes it, and the guest-physical
 * places of its virtio-mmio slots.  The lowest layer of the VMM: the VM,
 * its device table and the callers that fill a config all read this, and
 * it reads nothing of theirs.
 */
#ifndef SNAPVM_VMCONF_H
#define SNAPVM_VMCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "vmlimits.h"


/* virtio-mmio slot i (drives, then vsock, then network) is the 4 KiB at
 * VM_MMIO_BASE + 4 KiB * i and raises IRQ VM_MMIO_IRQ0 + i. */
#define VM_MMIO_BASE	0xd0000000ULL
#define VM_MMIO_IRQ0	5

static inline uint64_t
vmconf_mmio_base(int slot)
{
	return VM_MMIO_BASE + (uint64_t)slot * VIRTIO_MMIO_SIZE;
}

struct vm_drive {
	const char *path;
	bool read_only;
};

struct vm_config {
	const char *kernel;
	const char *initrd;	/* NULL: none */
	const char *cmdline;	/* NULL: the default */
	const char *append;	/* added after the command line, or NULL */
	uint64_t mem_mib;
	int vcpus;
	const char *console;	/* NULL: standard error */
	const char *console_in;	/* NULL: no input; "-": standard input */
	const char *kvm_path;	/* NULL: /dev/kvm */
	int ndrives;		/* drive 0 is the root filesystem, if any */
	struct vm_drive drive[VM_MAX_DRIVES];
	bool rootfs;		/* drive 0 is the root: root=/dev/vda */
	const char *vsock;	/* host socket path, or NULL: no vsock */
	uint64_t cid;		/* the guest's vsock CID */
	struct virtio_net_opt net;	/* tap and MAC, or no network device */
	struct netaddr net_addr;	/* --net-addr; prefix 0: none */
	bool track_dirty;	/* log written pages, for a diff snapshot */
};

/*
 * The kernel command line cfg implies: the defaults the caller's
 * --cmdline does not override, that line, --append, then what the devices
 * need (root=, snapvm.net=, one virtio_mmio.device= per slot).  Fails
 * with E2BIG, reported, when it does not fit in size.
 */
int vmconf_cmdline(const struct vm_config *cfg, char *buf, size_t size);

#endif
