/*
 * A virtual machine: KVM objects, guest memory, the device table and the
 * vCPU threads.  vm_boot() builds one from a kernel image; vm_run() runs
 * it until the guest stops, an error occurs or a signal arrives.
 */
#ifndef SNAPVM_VM_H
#define SNAPVM_VM_H

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
#include "netaddr.h"
#include "serial.h"
#include "vcpu.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_vsock.h"

#define VM_MAX_VCPUS	8
#define VM_MAX_DRIVES	8

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

struct vm;
/* Runs on the thread that waits for the VM (vm_run, reqloop). */
typedef void vm_ckpt_fn(struct vm *vm, uint32_t point, void *arg);

/* A virtio block drive and its transport. */
struct vm_blk {
	struct virtio_blk blk;
	struct virtio_mmio mmio;
	bool open, transport;
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
	/* Checkpoints reached through the port, handed to the waiting thread. */
	int ckpt_fd;		/* eventfd */
	atomic_uint ckpt_point;
	vm_ckpt_fn *on_ckpt;
	void *ckpt_arg;
	uint32_t restores;	/* how often this guest was restored */
	char layer[65];		/* id of the snapshot layer the memory is
				 * relative to: loaded or last written */
};

int vm_boot(struct vm *vm, const struct vm_config *cfg);
/* vm_boot and vm_restore in parts (vm.c): */
void vm_clear(struct vm *vm);
int vm_build(struct vm *vm, const struct vm_config *cfg);
int vm_fail(struct vm *vm, int sysexits_class);	/* returns -1 */
void vm_unpark_all(struct vm *vm);
int vm_run(struct vm *vm, struct vm_result *res);
/* vm_run in parts, for callers with a loop of their own (reqloop.c). */
void vm_hold_signals(void);
int vm_start(struct vm *vm);
int vm_take_signal(struct vm *vm);
int vm_finish(struct vm *vm, struct vm_result *res);
void vm_stop(struct vm *vm, enum vm_stop_kind kind, int status);
bool vm_stopping(const struct vm *vm);
void vm_destroy(struct vm *vm);

/* Pausing a started VM: vCPUs out of KVM_RUN with their pending I/O
 * completed, device locks held, so that its state can be read. */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
void vm_park(struct vcpu *v);	/* vCPU thread, after KVM_RUN gave EINTR */
/* The waiting thread: a checkpoint the guest reached, if any. */
void vm_take_ckpt(struct vm *vm);
void vm_checkpoint(struct vm *vm, uint32_t point);

/* devices.c: the device table, its addresses, IRQs and command line. */
#define VM_MMIO_BASE	0xd0000000ULL
#define VM_MMIO_IRQ0	5

int devices_create(struct vm *vm, const struct vm_config *cfg);
int devices_cmdline(const struct vm_config *cfg, char *buf, size_t size);
void devices_destroy(struct vm *vm);

#endif
