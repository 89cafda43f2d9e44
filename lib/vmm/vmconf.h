/*
 * What a VM is made of, as its caller describes it, and where the guest
 * finds each of its devices.  The lowest layer of the VMM: the VM, its
 * device table and the callers that fill a config all read this, and it
 * reads nothing of theirs.
 */
#ifndef SNAPVM_VMCONF_H
#define SNAPVM_VMCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cputmpl.h"
#include "jail.h"
#include "netaddr.h"
#include "phase.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "vmlimits.h"

/* virtio-mmio slot i is the 4 KiB at VM_MMIO_BASE + 4 KiB * i and raises
 * IRQ VM_MMIO_IRQ0 + i. */
#define VM_MMIO_BASE	0xd0000000ULL
#define VM_MMIO_IRQ0	5

enum vm_dev_kind {
	VM_DEV_SERIAL, VM_DEV_I8042, VM_DEV_DEBUGEXIT, VM_DEV_CKPT,
	VM_DEV_BLK, VM_DEV_VSOCK, VM_DEV_NET, VM_DEV_KINDS
};

/* The four legacy devices, a drive each, vsock, network. */
#define VM_MAX_DEVS	(4 + VM_MAX_DRIVES + 2)

/*
 * Where the guest finds a device and where its state goes in a snapshot.
 * A virtio device's transport state is section SEC_MMIO with its slot as
 * index; its own state is section sec with index (the drive number, else
 * 0).  sec 0: the device has no guest-visible state.
 */
struct vm_dev_place {
	enum vm_dev_kind kind;
	uint32_t index;
	uint32_t sec;
	int slot;		/* virtio-mmio slot, or -1: I/O ports */
	uint64_t base;		/* first port or guest-physical address */
	uint32_t len;
	uint32_t irq;		/* 0: none */
};

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
	bool exact_touch;	/* restore: only pages touched get mapped
				 * (for --record-workset; slower) */
	enum jail_seccomp seccomp;	/* the threads' filters; 0: none */
	/* restore: the page server's socket (snapvm-pager(5)), which then
	 * serves guest memory; NULL: the layers' memory files are mapped */
	const char *page_server;
	struct phases *phases;	/* --timings: marked as the VM starts;
				 * NULL: none */
	/* --cpu-workarounds, resolved (vmrun(1)): cmdline_workarounds adds
	 * noxsave and clearcpuid= to a booted guest's default command line;
	 * emulate lets the vCPUs finish the few instructions KVM's emulator
	 * gives up on (emulate.h). */
	bool cmdline_workarounds;
	bool cmdline_noxsave;	/* noxsave alone (a KVM that does not see
				 * XSETBV, cpuprobe.h) */
	bool emulate;
	const struct cputmpl *cpu_template;	/* NULL: host */
	bool cpu_template_given;	/* restore: by the user, so it must be
					 * the layer's (else the layer's is) */
};

/*
 * The devices cfg asks for, in the one order that creates them, numbers
 * their virtio-mmio slots, writes their snapshot sections and takes their
 * locks: COM1, i8042, debug exit, checkpoint port, one block device per
 * drive, vsock, network.  Returns how many (at most VM_MAX_DEVS).
 */
int vmconf_layout(const struct vm_config *cfg,
    struct vm_dev_place place[VM_MAX_DEVS]);

/*
 * The kernel command line cfg implies: the defaults the caller's
 * --cmdline does not override (with the emulator workarounds if
 * cfg->cmdline_workarounds), that line, --append, then what the devices
 * need (root=, snapvm.net=, one virtio_mmio.device= per slot).  Fails
 * with E2BIG, reported, when it does not fit in size.
 */
int vmconf_cmdline(const struct vm_config *cfg, char *buf, size_t size);

#endif
