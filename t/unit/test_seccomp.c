/*
 * The runner's seccomp lists (jail_seccomp.c), each loaded into a child
 * process: a call its list has goes through, a call it lacks and an
 * ioctl request it lacks kill the process with SIGSYS, "log" lets them
 * through, and the kernel reports the filter in /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "jail.h"
#include "unit.h"

enum act { ACT_WRITE, ACT_OPEN, ACT_SOCKET, ACT_KVM_RUN, ACT_TCGETS,
	ACT_STATUS };

/* The child's exit status: 0 when the call returned, whatever it said;
 * for ACT_STATUS, 0 when /proc says "Seccomp: 2". */
static int
child_act(enum act a)
{
	char buf[4096];
	struct termios t;
	ssize_t n;
	int fd;

	switch (a) {
	case ACT_WRITE:
		return write(STDOUT_FILENO, "", 0) == -1 && errno != EBADF;
	case ACT_OPEN:
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd == -1;
	case ACT_SOCKET:
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		return fd == -1;
	case ACT_KVM_RUN:	/* allowed; fails on a descriptor not KVM's */
		return ioctl(STDOUT_FILENO, KVM_RUN, 0) != -1;
	case ACT_TCGETS:
		(void)ioctl(STDOUT_FILENO, TCGETS, &t);
		return 0;
	default:
		fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		n = fd == -1 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			return 2;
		buf[n] = '\0';
		return strstr(buf, "\nSeccomp:\t2\n") == NULL;
	}
}

/* The wait status of a child that loads kind's filter in mode, then
 * acts. */
static int
run(enum jail_thread kind, enum jail_seccomp mode, enum act a)
{
	pid_t pid = fork();
	int st = -1;

	if (pid == 0) {
		if (jail_seccomp_load(kind, mode) == -1)
			_exit(99);
		_exit(child_act(a));
	}
	if (pid == -1 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

static bool
killed(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

static bool
returned(int st)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void
test_vcpu(void)
{
	CHECK(returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_KILL, ACT_WRITE)));
	CHECK(returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_KILL, ACT_KVM_RUN)));
	/* A vCPU opens nothing, and its ioctls are KVM's few. */
	CHECK(killed(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_KILL, ACT_OPEN)));
	CHECK(killed(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_KILL, ACT_TCGETS)));
	CHECK(killed(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_KILL, ACT_SOCKET)));
}

static void
test_control_and_device(void)
{
	/* The control thread writes snapshots but makes no sockets. */
	CHECK(returned(run(JAIL_THREAD_CONTROL, JAIL_SECCOMP_KILL, ACT_OPEN)));
	CHECK(returned(run(JAIL_THREAD_CONTROL, JAIL_SECCOMP_KILL, ACT_STATUS)));
	CHECK(killed(run(JAIL_THREAD_CONTROL, JAIL_SECCOMP_KILL, ACT_SOCKET)));
	CHECK(killed(run(JAIL_THREAD_CONTROL, JAIL_SECCOMP_KILL, ACT_KVM_RUN)));
	/* The device thread connects vsock to host sockets, opens no file. */
	CHECK(returned(run(JAIL_THREAD_DEVICE, JAIL_SECCOMP_KILL, ACT_SOCKET)));
	CHECK(killed(run(JAIL_THREAD_DEVICE, JAIL_SECCOMP_KILL, ACT_OPEN)));
	CHECK(killed(run(JAIL_THREAD_DEVICE, JAIL_SECCOMP_KILL, ACT_KVM_RUN)));
}

static void
test_pager(void)
{
	/* It reads its socket and nothing else. */
	CHECK(returned(run(JAIL_THREAD_PAGER, JAIL_SECCOMP_KILL, ACT_WRITE)));
	CHECK(killed(run(JAIL_THREAD_PAGER, JAIL_SECCOMP_KILL, ACT_OPEN)));
	CHECK(killed(run(JAIL_THREAD_PAGER, JAIL_SECCOMP_KILL, ACT_SOCKET)));
	CHECK(killed(run(JAIL_THREAD_PAGER, JAIL_SECCOMP_KILL, ACT_KVM_RUN)));
	/* What mem_uffd_watch does is on the list: test_mem_uffd. */
}

static void
test_log_and_off(void)
{
	CHECK(returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_LOG, ACT_OPEN)));
	CHECK(returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_LOG, ACT_STATUS)));
	CHECK(returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_OFF, ACT_OPEN)));
	CHECK(!returned(run(JAIL_THREAD_VCPU, JAIL_SECCOMP_OFF, ACT_STATUS)));
}

static void
test_mode_names(void)
{
	enum jail_seccomp m = JAIL_SECCOMP_OFF;

	CHECK_EQ(jail_seccomp_mode("kill", &m), 0);
	CHECK_EQ(m, JAIL_SECCOMP_KILL);
	CHECK_EQ(jail_seccomp_mode("log", &m), 0);
	CHECK_EQ(m, JAIL_SECCOMP_LOG);
	CHECK_EQ(jail_seccomp_mode("off", &m), 0);
	CHECK_EQ(m, JAIL_SECCOMP_OFF);
	CHECK_EQ(jail_seccomp_mode("on", &m), -1);
	CHECK_EQ(jail_seccomp_mode("", &m), -1);
}

static const struct unit_test tests[] = {
	{ "vcpu", test_vcpu },
	{ "control_and_device", test_control_and_device },
	{ "pager", test_pager },
	{ "log_and_off", test_log_and_off },
	{ "mode_names", test_mode_names },
};

UNIT_MAIN(tests)
