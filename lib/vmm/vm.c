#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "boot_x86.h"
#include "cpuid.h"
#include "devices.h"
#include "elfload.h"
#include "log.h"
#include "mptable.h"
#include "vcpu_exit.h"
#include "vm.h"
#include "vm_seal.h"

int
vm_fail(struct vm *vm, int class)
{
	vm->fail_class = class;
	return -1;
}

/* sysexits class of a failure to read an input file. */
static int
vm_input_class(int err)
{
	return err == ENOEXEC || err == EFBIG ? EX_DATAERR : err == ENOMEM ?
	    EX_OSERR : EX_NOINPUT;
}

static int
vm_open_console(struct vm *vm, const struct vm_config *cfg)
{
	if (cfg->console == NULL || strcmp(cfg->console, "-") == 0) {
		vm->console_fd = cfg->console ? STDOUT_FILENO : STDERR_FILENO;
	} else {
		vm->console_fd = open(cfg->console, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC | O_NOCTTY, 0644);
		if (vm->console_fd == -1) {
			log_warn("%s", cfg->console);
			return vm_fail(vm, EX_CANTCREAT);
		}
		vm->own_console_fd = true;
	}
	if (cfg->console_in == NULL)
		return 0;
	if (strcmp(cfg->console_in, "-") == 0) {
		vm->console_in_fd = STDIN_FILENO;
		return 0;
	}
	vm->console_in_fd = open(cfg->console_in, O_RDONLY | O_CLOEXEC |
	    O_NOCTTY);
	if (vm->console_in_fd == -1) {
		log_warn("%s", cfg->console_in);
		return vm_fail(vm, EX_NOINPUT);
	}
	vm->own_console_in_fd = true;
	return 0;
}

/* What the vCPUs and the devices tell the VM, on their threads. */
static bool
vm_vcpu_stopping(void *opaque)
{
	return vm_stopping(opaque);
}

static void
vm_vcpu_stop(void *opaque, enum vcpu_stop why)
{
	vm_stop(opaque, why == VCPU_STOP_POWEROFF ? VM_STOP_POWEROFF :
	    why == VCPU_STOP_RESET ? VM_STOP_RESET : VM_STOP_ERROR, 0);
}

static void
vm_vcpu_park(void *opaque)
{
	vm_park(opaque);
}

/* A thread's filter; a thread without its filter stops the VM. */
static int
vm_thread_seal(struct vm *vm, enum jail_thread kind)
{
	if (vm_seal_load(vm, kind) == -1) {
		vm_stop(vm, VM_STOP_ERROR, 0);
		return -1;
	}
	return 0;
}

/* Its filter, then the wait for every other thread's (vm_seal.h). */
static int
vm_vcpu_enter(void *opaque)
{
	struct vm *vm = opaque;

	if (vm_thread_seal(vm, JAIL_THREAD_VCPU) == -1)
		return -1;
	vm_seal_wait(vm);
	phase_mark(vm->phases, PHASE_FIRST_RUN, false);
	return 0;
}

static const struct vcpu_ops vm_vcpu_ops = {
	.stopping = vm_vcpu_stopping,
	.stop = vm_vcpu_stop,
	.park = vm_vcpu_park,
	.enter = vm_vcpu_enter,
};

static void
vm_dev_reset(void *opaque)
{
	vm_stop(opaque, VM_STOP_RESET, 0);
}

static void
vm_dev_exit(void *opaque, int status)
{
	vm_stop(opaque, VM_STOP_EXIT, status);
}

static void
vm_dev_checkpoint(void *opaque, uint32_t point)
{
	vm_checkpoint(opaque, point);
}

static const struct devices_ops vm_devices_ops = {
	.reset = vm_dev_reset,
	.exit = vm_dev_exit,
	.checkpoint = vm_dev_checkpoint,
};

static int
vm_vcpus(struct vm *vm, const struct vm_config *cfg)
{
	struct kvm_cpuid2 *cpuid = cpuid_supported(vm->kvm.sys_fd);
	int rc = 0, n = cfg->vcpus;

	if (cpuid == NULL)
		return -1;
	vm->cpuid_supported = cpuid;
	snprintf(vm->cpu_template, sizeof(vm->cpu_template), "%s",
	    cfg->cpu_template ? cfg->cpu_template->name : "host");
	vm->vcpu_host = (struct vcpu_host){ .kvm = &vm->kvm, .mem = &vm->mem,
	    .pio = &vm->pio, .mmio = &vm->mmio, .ops = &vm_vcpu_ops,
	    .opaque = vm, .emulate = cfg->emulate };
	for (int i = 0; i < n && rc == 0; i++) {
		if ((rc = vcpu_create(&vm->vcpu[i], &vm->vcpu_host, i)) == 0) {
			vm->nvcpus = i + 1;
			if (!vm->cpuid_from_layer)
				rc = cpuid_set(vm->vcpu[i].fd, cpuid,
				    cfg->cpu_template, i, n);
		}
	}
	return rc;
}

/* A freshly booted machine: LAPICs in PC reset state, vCPU 0 at the
 * kernel entry, application processors waiting for INIT and SIPI. */
static int
vm_reset_vcpus(struct vm *vm, uint64_t entry)
{
	for (int i = 0; i < vm->nvcpus; i++)
		if (boot_setup_lapic(vm->vcpu[i].fd) == -1)
			return -1;
	return boot_setup_bsp(vm->vcpu[0].fd, entry);
}

void
vm_clear(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->console_fd = vm->console_in_fd = -1;
	vm->com1.stop_fd = -1;
	vm->loop.epfd = vm->loop.stop_fd = -1;
	vm->stop_fd = vm->sig_fd = vm->ckpt_fd = -1;
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cv, NULL);
}

static int
vm_check_config(struct vm *vm, const struct vm_config *cfg)
{
	if (cfg->vcpus < 1 || cfg->vcpus > VM_MAX_VCPUS) {
		log_warnx("%d vCPUs requested, the range is 1..%d", cfg->vcpus,
		    VM_MAX_VCPUS);
		return vm_fail(vm, EX_USAGE);
	}
	if (cfg->kernel == NULL) {
		log_warnx("no kernel image given");
		return vm_fail(vm, EX_USAGE);
	}
	return 0;
}

int
vm_boot(struct vm *vm, const struct vm_config *cfg)
{
	uint64_t entry, end;
	struct boot_initrd rd = { 0, 0 };
	char cmdline[4 * BOOT_CMDLINE_MAX];

	vm_clear(vm);
	vm->phases = cfg->phases;
	if (vm_check_config(vm, cfg) == -1)
		return -1;
	if (mem_create(&vm->mem, cfg->mem_mib) == -1)
		return vm_fail(vm, errno == EINVAL ? EX_USAGE : EX_OSERR);
	phase_mark(vm->phases, PHASE_MEMORY_MAPPED, true);
	if (vmconf_cmdline(cfg, cmdline, sizeof(cmdline)) == -1)
		return vm_fail(vm, EX_USAGE);
	log_debug("command line: %s", cmdline);
	if (elf_load(cfg->kernel, &vm->mem, BOOT_LOAD_MIN, &entry, &end) == -1)
		return vm_fail(vm, vm_input_class(errno));
	if (cfg->initrd != NULL &&
	    boot_load_initrd(&vm->mem, cfg->initrd, end, &rd) == -1)
		return vm_fail(vm, vm_input_class(errno));
	if (boot_write_tables(&vm->mem, cmdline, &rd) == -1)
		return vm_fail(vm, errno == E2BIG ? EX_USAGE : EX_SOFTWARE);
	if (mptable_write(&vm->mem, cfg->vcpus) == -1)
		return vm_fail(vm, EX_SOFTWARE);
	if (vm_build(vm, cfg) == -1)
		return -1;
	if (vm_reset_vcpus(vm, entry) == -1)
		return vm_fail(vm, EX_OSERR);
	phase_mark(vm->phases, PHASE_KERNEL_LOADED, true);
	return 0;
}

/* Everything but the guest's contents: KVM objects, vCPUs with their
 * CPUID, memory slots and devices.  vm->mem must exist. */
int
vm_build(struct vm *vm, const struct vm_config *cfg)
{
	vm->seccomp = cfg->seccomp;
	if (vm_open_console(vm, cfg) == -1)
		return -1;
	if (kvm_open(&vm->kvm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm") == -1)
		return vm_fail(vm, EX_UNAVAILABLE);
	if (cfg->track_dirty && mem_track_dirty(&vm->mem) == -1)
		return vm_fail(vm, EX_OSERR);
	if ((vm->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    (vm->ckpt_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    kvm_create_vm(&vm->kvm) == -1 ||
	    mem_register(&vm->mem, vm->kvm.vm_fd) == -1 ||
	    vm_vcpus(vm, cfg) == -1)
		return vm_fail(vm, EX_OSERR);
	if (devices_create(vm, cfg, &vm_devices_ops) == -1)
		return vm_fail(vm, errno == ENOENT || errno == EACCES ||
		    errno == EINVAL ? EX_NOINPUT : EX_OSERR);
	return 0;
}

/* The first reason to stop wins; later ones (say, errors in vCPUs that
 * were being kicked) do not overwrite it. */
void
vm_stop(struct vm *vm, enum vm_stop_kind kind, int status)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->stop_lock);
	if (vm->result.kind == VM_STOP_NONE) {
		vm->result.kind = kind;
		vm->result.status = status;
	}
	atomic_store(&vm->stopping, true);
	pthread_mutex_unlock(&vm->stop_lock);
	if (write(vm->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd write");
}

/* One terminating signal, if sig_fd has one: the VM is told to stop. */
int
vm_take_signal(struct vm *vm)
{
	struct signalfd_siginfo si;

	if (read(vm->sig_fd, &si, sizeof(si)) != sizeof(si))
		return 0;
	log_info("signal %u: stopping the guest", si.ssi_signo);
	vm_stop(vm, VM_STOP_SIGNAL, (int)si.ssi_signo);
	return 1;
}

/* Waits for the stop event or a terminating signal. */
static void
vm_wait(struct vm *vm)
{
	struct pollfd pfd[3] = {
		{ .fd = vm->stop_fd, .events = POLLIN },
		{ .fd = vm->sig_fd, .events = POLLIN },
		{ .fd = vm->ckpt_fd, .events = POLLIN },
	};

	while (!vm_stopping(vm)) {
		if (poll(pfd, 3, -1) == -1 && errno != EINTR) {
			log_warn("poll");
			vm_stop(vm, VM_STOP_ERROR, 0);
			return;
		}
		if (pfd[1].revents)
			vm_take_signal(vm);
		if (pfd[2].revents)
			vm_take_ckpt(vm);
	}
}

/* The device I/O and console input threads' first step. */
static int
vm_dev_enter(void *arg)
{
	return vm_thread_seal(arg, JAIL_THREAD_DEVICE);
}

static int
vm_start_threads(struct vm *vm)
{
	vm->loop.enter = vm->com1.enter = vm_dev_enter;
	vm->loop.enter_arg = vm->com1.enter_arg = vm;
	if (serial_start(&vm->com1) == -1 || evloop_start(&vm->loop) == -1)
		return -1;
	for (int i = 0; i < vm->nvcpus; i++)
		if (vcpu_start(&vm->vcpu[i]) == -1)
			return -1;
	return 0;
}

/*
 * Starts the guest.  SIGINT, SIGTERM and SIGHUP are blocked first, so
 * that no thread sees them; the caller's loop reads them from sig_fd.
 */
static void
vm_term_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/*
 * Called first thing by a runner: a terminating signal that arrives while
 * the VM is being built waits, and stops the VM as soon as it runs, so
 * that the runner's clean-up (sockets, temporary files) always happens.
 */
void
vm_hold_signals(void)
{
	sigset_t term;

	vm_term_signals(&term);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
}

int
vm_start(struct vm *vm)
{
	sigset_t term;

	vm_term_signals(&term);
	pthread_sigmask(SIG_BLOCK, &term, &vm->old_mask);
	vm->started = true;
	vm->sig_fd = signalfd(-1, &term, SFD_CLOEXEC);
	if (vm->sig_fd == -1 || vcpu_signals_init() == -1 ||
	    vm_start_threads(vm) == -1 || vm_seal(vm) == -1) {
		vm_stop(vm, VM_STOP_ERROR, 0);
		return -1;
	}
	return 0;
}

/* Stops every thread of a started VM and reports why it stopped. */
int
vm_finish(struct vm *vm, struct vm_result *res)
{
	vm_stop(vm, VM_STOP_ERROR, 0);	/* no-op if a reason is recorded */
	vm_unpark_all(vm);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_kick(&vm->vcpu[i]);
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_join(&vm->vcpu[i]);
	serial_stop(&vm->com1);
	evloop_stop(&vm->loop);
	if (vm->sig_fd != -1)
		close(vm->sig_fd);
	vm->sig_fd = -1;
	if (vm->started)
		pthread_sigmask(SIG_SETMASK, &vm->old_mask, NULL);
	vm->started = false;
	*res = vm->result;
	return vm->result.kind == VM_STOP_ERROR ? -1 : 0;
}

int
vm_run(struct vm *vm, struct vm_result *res)
{
	if (vm_start(vm) == 0)
		vm_wait(vm);
	return vm_finish(vm, res);
}

void
vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nvcpus; i++)
		vcpu_destroy(&vm->vcpu[i]);
	vm->nvcpus = 0;
	devices_destroy(vm);
	kvm_close(&vm->kvm);
	mem_destroy(&vm->mem);
	free(vm->cpuid_supported);
	vm->cpuid_supported = NULL;
	if (vm->own_console_fd)
		close(vm->console_fd);
	if (vm->own_console_in_fd)
		close(vm->console_in_fd);
	if (vm->stop_fd != -1)
		close(vm->stop_fd);
	if (vm->ckpt_fd != -1)
		close(vm->ckpt_fd);
	vm->stop_fd = vm->ckpt_fd = -1;
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->pause_lock);
	pthread_cond_destroy(&vm->pause_cv);
}
