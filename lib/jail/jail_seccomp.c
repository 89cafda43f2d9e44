/*
 * The runner's seccomp filters, one allow-list per kind of thread.  A
 * guest that takes over a device still runs as that device's thread: the
 * list of the thread decides which of the kernel's calls it can reach.
 *
 * Each thread loads its own filter (no TSYNC): a filter applies to the
 * thread that loads it and to threads it creates later, so the runner
 * creates every thread before any filter is loaded, and no list needs
 * clone.  ioctl is allowed only for the requests each kind makes; the
 * KVM requests of set-up and restore are made before the filters.
 *
 * The lists were taken from the code and checked by running every VM
 * test with JAIL_SECCOMP_LOG (the kernel logs each call a list lacks).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "jail.h"
#include "log.h"

/* What glibc and pthreads do underneath every thread. */
static const char *const sc_common[] = {
	"futex", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
	"mmap", "munmap", "mprotect", "madvise", "brk",
	"exit", "exit_group", "getpid", "gettid", "tgkill",
	"clock_gettime", "clock_nanosleep", "nanosleep", "sched_yield",
	"write", "close", NULL,
};

/* The main thread and the control socket's: the request loop, signals,
 * snapshots written to files, and the end of the runner. */
static const char *const sc_control[] = {
	"read", "readv", "writev", "pread64", "pwrite64", "lseek",
	"poll", "ppoll", "accept4", "recvfrom", "sendto", "shutdown",
	"getsockopt", "fcntl", "openat", "mkdirat", "mkdir", "rename",
	"renameat", "renameat2", "unlink", "unlinkat", "rmdir", "fsync",
	"fdatasync", "ftruncate", "fallocate", "fstat", "newfstatat",
	"statx", "getdents64", "getrandom", "fchmod", "mremap",
	"epoll_ctl",		/* the device table's fds, at the end */
	"geteuid",		/* the control socket's peer check */
	"getrusage",		/* --timings: page faults */
	"ioctl", NULL,
};

/* The device I/O thread and the console's input thread: queues,
 * drives, the tap, vsock connections to host sockets. */
static const char *const sc_device[] = {
	"read", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "fdatasync", "fsync", "fstat", "newfstatat", "lseek",
	"epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll",
	"socket", "connect", "accept4", "shutdown", "getsockopt",
	"recvfrom", "sendto", "fcntl", "unlink", "timerfd_create",
	"timerfd_settime", "ioctl", NULL,
};

/* A vCPU: KVM_RUN and the exits it serves (port and MMIO devices). */
static const char *const sc_vcpu[] = {
	"read", "ioctl", NULL,
};

/* The page-server watcher: it waits for the server's next message and
 * ends the process on a bad one; it closes any descriptor sent along. */
static const char *const sc_pager[] = {
	"recvmsg", NULL,
};

/* The ioctl requests of each kind. */
static const unsigned long ioc_control[] = {
	KVM_GET_REGS, KVM_GET_SREGS, KVM_GET_FPU, KVM_GET_XSAVE,
	KVM_GET_XCRS, KVM_GET_DEBUGREGS, KVM_GET_LAPIC, KVM_GET_MP_STATE,
	KVM_GET_VCPU_EVENTS, KVM_GET_MSRS, KVM_GET_MSR_INDEX_LIST,
	KVM_GET_IRQCHIP, KVM_GET_PIT2, KVM_GET_CLOCK, KVM_GET_DIRTY_LOG,
	KVM_GET_CPUID2, KVM_CHECK_EXTENSION, 0,
};

static const unsigned long ioc_device[] = {
	KVM_IRQ_LINE, 0,
};

static const unsigned long ioc_pager[] = {
	0,
};

static const unsigned long ioc_vcpu[] = {
	KVM_RUN, KVM_TRANSLATE, KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS,
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_IRQ_LINE, 0,
};

static const char *const jail_thread_names[] = {
	[JAIL_THREAD_CONTROL] = "control",
	[JAIL_THREAD_DEVICE] = "device",
	[JAIL_THREAD_VCPU] = "vCPU",
	[JAIL_THREAD_PAGER] = "page-server watcher",
};

const char *
jail_thread_name(enum jail_thread kind)
{
	return jail_thread_names[kind];
}

int
jail_seccomp_mode(const char *s, enum jail_seccomp *mode)
{
	static const char *const names[] = { "off", "kill", "log" };

	for (int i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*mode = (enum jail_seccomp)i;
			return 0;
		}
	return -1;
}

static int
jail_sc_add(scmp_filter_ctx f, const char *const *names)
{
	int nr, rc;

	for (; *names != NULL; names++) {
		if (strcmp(*names, "ioctl") == 0)
			continue;	/* by request, below */
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not a call of this architecture */
		if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0)) < 0) {
			errno = -rc;
			log_warn("seccomp: %s", *names);
			return -1;
		}
	}
	return 0;
}

/* The kernel reads the request as 32 bits: compare those only. */
static int
jail_sc_ioctls(scmp_filter_ctx f, const unsigned long *ioc)
{
	struct scmp_arg_cmp req = { .arg = 1, .op = SCMP_CMP_MASKED_EQ,
	    .datum_a = 0xffffffffU };
	int rc;

	for (; *ioc != 0; ioc++) {
		req.datum_b = (uint32_t)*ioc;
		rc = seccomp_rule_add_array(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    &req);
		if (rc < 0) {
			errno = -rc;
			log_warn("seccomp: ioctl %#lx", *ioc);
			return -1;
		}
	}
	return 0;
}

static int
jail_sc_build(scmp_filter_ctx f, enum jail_thread kind)
{
	static const char *const *const lists[] = {
		[JAIL_THREAD_CONTROL] = sc_control,
		[JAIL_THREAD_DEVICE] = sc_device,
		[JAIL_THREAD_VCPU] = sc_vcpu,
		[JAIL_THREAD_PAGER] = sc_pager,
	};
	static const unsigned long *const iocs[] = {
		[JAIL_THREAD_CONTROL] = ioc_control,
		[JAIL_THREAD_DEVICE] = ioc_device,
		[JAIL_THREAD_VCPU] = ioc_vcpu,
		[JAIL_THREAD_PAGER] = ioc_pager,
	};

	if (jail_sc_add(f, sc_common) == -1 || jail_sc_add(f, lists[kind]) == -1)
		return -1;
	return jail_sc_ioctls(f, iocs[kind]);
}

int
jail_seccomp_load(enum jail_thread kind, enum jail_seccomp mode)
{
	scmp_filter_ctx f;
	int rc = -1, e;

	if (mode == JAIL_SECCOMP_OFF)
		return 0;
	f = seccomp_init(mode == JAIL_SECCOMP_LOG ? SCMP_ACT_LOG :
	    SCMP_ACT_KILL_PROCESS);
	if (f == NULL) {
		log_warnx("seccomp: cannot make the %s thread's filter",
		    jail_thread_name(kind));
		return -1;
	}
	if (jail_sc_build(f, kind) == 0) {
		if ((e = seccomp_load(f)) == 0)
			rc = 0;
		else {
			errno = -e;
			log_warn("seccomp: loading the %s thread's filter",
			    jail_thread_name(kind));
		}
	}
	seccomp_release(f);
	return rc;
}
