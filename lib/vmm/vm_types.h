/*
 * The VM object and the types its parts share.  vm.c builds and runs it;
 * vm_pause.c, the device table (devices.c), snapshot.c and restore.c work
 * on it.  Nothing here calls into them.
 */
#ifndef SNAPVM_VM_TYPES_H
#define SNAPVM_VM_TYPES_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "ckpt.h"
#include "debugexit.h"
#include "evloop.h"
#include "i8042.h"
#include "kvm.h"
#include "mem.h"
#include "serial.h"
#include "snapstate.h"
#include "vcpu.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_vsock.h"
#include "vmconf.h"

struct vm;
/* Runs on the thread that waits for the VM (vm_run, reqloop). */
typedef void vm_ckpt_fn(struct vm *vm, uint32_t point, void *arg);

/* A virtio block drive and its transport. */
struct vm_blk {
	struct virtio_blk blk;
	struct virtio_mmio mmio;
	bool open, transport;
};

/*
 * What the VMM does with one kind of device, each taking the device's
 * entry in the table (vm->dev) to find it; NULL where a device has
 * nothing to do.  save appends the device's sections (SEC_MMIO of its
 * slot first, then its own); load checks them field by field as if the
 * guest had written them, guest memory mapped already; restored runs once
 * every device has loaded, before the vCPUs; lock is the mutex a pause
 * holds while a snapshot reads the device.
 */
struct vm_dev;
struct vm_dev_ops {
	const char *name;
	void (*save)(struct vm *vm, const struct vm_dev *d, struct snapbuf *b);
	int (*load)(struct vm *vm, const struct vm_dev *d,
	    const struct snapstate *st);
	void (*restored)(struct vm *vm, const struct vm_dev *d);
	pthread_mutex_t *(*lock)(struct vm *vm, const struct vm_dev *d);
	void (*destroy)(struct vm *vm, const struct vm_dev *d);
};

/* An entry of the device table: the device's place and its ops. */
struct vm_dev {
	struct vm_dev_place at;
	const struct vm_dev_ops *ops;
};

enum vm_stop_kind {
	VM_STOP_NONE,
	VM_STOP_EXIT,		/* debug-exit port: status is the guest's */
	VM_STOP_RESET,		/* i8042 reset or a KVM reset event */
	VM_STOP_POWEROFF,	/* KVM shutdown event */
	VM_STOP_SIGNAL,		/* status is the signal number */
	VM_STOP_ERROR,		/* triple fault, unhandled exit, host error */
	VM_STOP_TIMEOUT,	/* a request ran out of time (reqloop.c) */
};

struct vm_result {
	enum vm_stop_kind kind;
	int status;
};

struct vm {
	struct kvm kvm;
	struct mem mem;
	struct bus pio, mmio;
	/* The device table (devices.c), in vmconf_layout() order; the
	 * devices themselves are the members below. */
	int ndev;
	struct vm_dev dev[VM_MAX_DEVS];
	struct serial com1;
	struct i8042 kbd;
	struct debugexit dbg;
	struct ckpt ckpt;
	struct evloop loop;
	int nblk;
	struct vm_blk blk[VM_MAX_DRIVES];
	struct virtio_vsock vsock;
	struct virtio_mmio vsock_mmio;
	bool has_vsock;
	struct virtio_net net;
	struct virtio_mmio net_mmio;
	bool has_net;
	int nvcpus;
	struct vcpu vcpu[VM_MAX_VCPUS];
	struct vcpu_host vcpu_host;	/* what every vcpu[i].host points to */
	int console_fd, console_in_fd;
	bool own_console_fd, own_console_in_fd;
	int fail_class;		/* sysexits code after vm_boot() fails */
	pthread_mutex_t stop_lock;
	int stop_fd;		/* eventfd: the guest or a vCPU asked to stop */
	int sig_fd;		/* signalfd: SIGINT, SIGTERM, SIGHUP */
	sigset_t old_mask;
	bool started;		/* vm_start() ran: old_mask is valid */
	atomic_bool stopping;
	struct vm_result result;
	/* Pausing: vCPUs park in vm_park() until pause_req is cleared. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cv;
	bool pause_req, paused;
	int parked;
	/* The threads' seccomp filters; sealed once the starting thread
	 * has loaded its own (vm_seal.c), under pause_lock. */
	enum jail_seccomp seccomp;
	bool sealed;
	/* Checkpoints reached through the port, handed to the waiting thread. */
	int ckpt_fd;		/* eventfd */
	atomic_uint ckpt_point;
	vm_ckpt_fn *on_ckpt;
	void *ckpt_arg;
	uint32_t restores;	/* how often this guest was restored */
	struct phases *phases;	/* the config's, or NULL; set, also each
				 * answer carries its "vm" counts */
	char layer[65];		/* id of the snapshot layer the memory is
				 * relative to: loaded or last written */
	char cpu_template[CPUTMPL_NAME_MAX];	/* the template the vCPUs'
				 * CPUID came from (the layer's, restored) */
	/* What KVM supports (vm_build asks once): a restore checks the
	 * layer's CPUID against it. */
	struct kvm_cpuid2 *cpuid_supported;
	/* Set by a restore of a layer that records its CPUID, before
	 * vm_build: the vCPUs get that, set once, not the template's. */
	bool cpuid_from_layer;
};

/* Set once the VM is told to stop (vm_stop in vm.c); never cleared. */
static inline bool
vm_stopping(const struct vm *vm)
{
	return atomic_load(&vm->stopping);
}

#endif
