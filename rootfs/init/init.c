/*
 * snapvm guest init: PID 1 of the snapvm root filesystem.
 *
 * It mounts the kernel file systems, puts stdin/stdout/stderr on the
 * console, reads its parameters from /proc/cmdline, runs one command
 * (snapvm.run=) or a shell, reaps every child while it waits, and hands
 * the command's exit status to the VMM through the debug-exit I/O port.
 * PID 1 must never exit (the kernel panics), so every path ends in
 * report_and_stop(), which does not return.
 *
 * Kernel command line (read from /proc/cmdline; see rootfs/README):
 *   snapvm.run=CMD    command to run; "\xHH" in CMD is the byte 0xHH
 *                     (so "\x20" is a space); double quotes group words
 *                     the way the kernel does and are removed
 *   snapvm.ro         keep / read-only (the default)
 *   snapvm.rw         remount / read-write
 *   snapvm.debug      print each step with a monotonic timestamp
 *   snapvm.seed=HEX   credit these bytes to the kernel's random pool
 *   snapvm.net=A.B.C.D/P[,GW]  eth0's address and default route
 *
 * Guest kernel code is emulated on the project's machines (about 1 us per
 * instruction), so init makes as few system calls as it can: no fork for
 * simple commands' shell, no console output unless asked for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netcfg.h"

#define DEBUG_EXIT_PORT 0x505 /* the VMM's debug-exit device */
#define CMDLINE_MAX 4096      /* x86 COMMAND_LINE_SIZE is 2048 */
#define MAX_ARGS 64           /* words of a simple snapvm.run command */
#define MAX_ENV 64
#define SEED_MAX 256          /* bytes accepted from snapvm.seed= */
#define HOSTNAME "snapvm"

struct options {
	char *run;  /* decoded snapvm.run=, or NULL */
	char *seed; /* snapvm.seed= hex digits, or NULL */
	char *net;  /* snapvm.net= value, or NULL */
	bool rw;
	bool debug;
};

static bool debug_on;
static sigjmp_buf outb_fault;

/* ---- messages ---------------------------------------------------------- */

/* One write(2) per message: each console write costs emulated kernel time. */
static void vmessage(bool stamp, const char *fmt, va_list ap)
{
	char buf[512];
	int n = 0;

	if (stamp) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		n = snprintf(buf, sizeof buf, "[%5lld.%06ld] ",
			     (long long)ts.tv_sec, ts.tv_nsec / 1000);
	}
	n += snprintf(buf + n, sizeof buf - n, "snapvm init: ");
	n += vsnprintf(buf + n, sizeof buf - n, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = sizeof buf - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0) {
		/* Nowhere else to say it. */
	}
}

/* Always printed: errors and the no-command notice. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(debug_on, fmt, ap);
	va_end(ap);
}

/* Printed only with snapvm.debug. */
static void debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug_on)
		return;
	va_start(ap, fmt);
	vmessage(true, fmt, ap);
	va_end(ap);
}

/* ---- file systems and console ----------------------------------------- */

struct mountpoint {
	const char *source, *target, *type;
	unsigned long flags;
	const char *data;
};

static const struct mountpoint mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
};

/*
 * EBUSY means the same file system is already there: the kernel mounts
 * devtmpfs on /dev itself when built with CONFIG_DEVTMPFS_MOUNT.
 */
static void mount_one(const struct mountpoint *m)
{
	if (m->target[1] == 'd' && strcmp(m->target, "/dev/shm") == 0)
		mkdir(m->target, 01777); /* devtmpfs has no /dev/shm */
	if (mount(m->source, m->target, m->type, m->flags, m->data) == 0)
		debug("mounted %s on %s", m->type, m->target);
	else if (errno == EBUSY)
		debug("%s already mounted", m->target);
	else
		say("mount %s on %s: %s", m->type, m->target, strerror(errno));
}

/* /proc (mounts[0]) is mounted first, alone: the command line is in it. */
static void mount_rest(void)
{
	for (size_t i = 1; i < sizeof mounts / sizeof mounts[0]; i++)
		mount_one(&mounts[i]);
}

/*
 * The kernel opened /dev/console for us on the initial rootfs, but that
 * can fail (no node there); reopen it now that devtmpfs is mounted so
 * fds 0-2 are always the console.
 */
static void setup_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0) {
		say("open /dev/console: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

/*
 * The root is read-only by default so that many VMs can share one image
 * (and a snapshot never sees a changed disk); snapvm.rw opts out.  The
 * kernel's own ro/rw decides the mount; we only fix a mismatch.
 */
static void setup_root(bool rw)
{
	struct statvfs sv;
	bool is_ro;

	if (statvfs("/", &sv) != 0) {
		say("statvfs /: %s", strerror(errno));
		return;
	}
	is_ro = sv.f_flag & ST_RDONLY;
	if (is_ro == !rw)
		return;
	if (mount(NULL, "/", NULL, MS_REMOUNT | (rw ? 0 : MS_RDONLY), NULL))
		say("remount / %s: %s", rw ? "rw" : "ro", strerror(errno));
	else
		debug("remounted / %s", rw ? "rw" : "ro");
}

/* ---- host name, network, entropy -------------------------------------- */

/*
 * Functions may talk to themselves over 127.0.0.1, and lo starts down.
 * With snapvm.net= the VMM gave eth0 (the virtio-net device) an address:
 * a failure is reported and the boot goes on offline, since most
 * functions never use the network.
 */
static void network_up(const char *net)
{
	char err[NETCFG_ERR_LEN];
	struct netaddr na;
	const char *why;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0) {
		debug("no inet socket: %s", strerror(errno));
		return;
	}
	if (netcfg_link_up(s, "lo", err) != 0)
		say("%s", err);
	else
		debug("loopback up");
	if (net && (why = netaddr_parse(net, &na)) != NULL)
		say("snapvm.net=%s: %s; eth0 stays down", net, why);
	else if (net && netcfg_iface(s, "eth0", &na, NULL, err) != 0)
		say("snapvm.net=%s: %s", net, err);
	else if (net)
		debug("eth0 is %s", net);
	close(s);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The byte spelt by two hex digits at S, or -1. */
static int hexbyte(const char *s)
{
	int hi = hexval((unsigned char)s[0]), lo;

	if (hi < 0)
		return -1;
	lo = hexval((unsigned char)s[1]);
	return lo < 0 ? -1 : hi << 4 | lo;
}

/*
 * getrandom() blocks until the kernel's CRNG is seeded, and a guest with
 * no RDRAND (hidden here with clearcpuid) and few interrupts may take long
 * to get there.  The VMM can hand fresh bytes over instead.
 */
static void add_seed(const char *hex)
{
	/* struct rand_pool_info ends in a flexible array: room for it. */
	static uint32_t words[2 + SEED_MAX / 4];
	struct rand_pool_info *pool = (struct rand_pool_info *)words;
	unsigned char *bytes = (unsigned char *)pool->buf;
	size_t n = 0;
	int fd, b;

	for (; n < SEED_MAX && (b = hexbyte(hex + 2 * n)) >= 0; n++)
		bytes[n] = (unsigned char)b;
	pool->entropy_count = 8 * n;
	pool->buf_size = n;
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, pool) != 0)
		say("snapvm.seed: %s", strerror(errno));
	else
		debug("credited %zu seed bytes", n);
	if (fd >= 0)
		close(fd);
}

/* ---- kernel command line ---------------------------------------------- */

static size_t read_cmdline(char *buf, size_t size)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	if (n < 0) {
		say("read /proc/cmdline: %s", strerror(errno));
		n = 0;
	}
	if (fd >= 0)
		close(fd);
	buf[n] = '\0';
	return n;
}

/*
 * Split off the next parameter the way the kernel's next_arg() does:
 * words end at white space outside double quotes.  The quotes are
 * removed, so `snapvm.run="a b"` gives the value `a b`.
 */
static char *next_param(char **cursor)
{
	char *p = *cursor, *start, *out;
	bool quoted = false;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return NULL;
	start = out = p;
	for (; *p && (quoted || !isspace((unsigned char)*p)); p++) {
		if (*p == '"')
			quoted = !quoted;
		else
			*out++ = *p;
	}
	*cursor = *p ? p + 1 : p;
	*out = '\0';
	return start;
}

/*
 * Decode "\xHH" escapes in place.  The kernel command line cannot carry
 * every byte safely (spaces split words, quotes group them, VMM configs
 * and shells add their own quoting), so snapvm.run= spells such bytes as
 * \xHH.  A backslash not followed by x and two hex digits stays as is.
 */
static void unescape(char *s)
{
	char *out = s;

	while (*s) {
		int b = s[0] == '\\' && s[1] == 'x' ? hexbyte(s + 2) : -1;

		if (b >= 0) {
			*out++ = (char)b;
			s += 4;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

static void parse_param(char *param, struct options *o)
{
	if (strncmp(param, "snapvm.run=", 11) == 0) {
		o->run = param + 11;
		unescape(o->run);
	} else if (strncmp(param, "snapvm.seed=", 12) == 0) {
		o->seed = param + 12;
	} else if (strncmp(param, "snapvm.net=", 11) == 0) {
		o->net = param + 11;
	} else if (strcmp(param, "snapvm.debug") == 0) {
		o->debug = true;
	} else if (strcmp(param, "snapvm.rw") == 0) {
		o->rw = true;
	} else if (strcmp(param, "snapvm.ro") == 0) {
		o->rw = false;
	}
}

static void parse_cmdline(char *buf, struct options *o)
{
	char *cursor = buf, *param;

	while ((param = next_param(&cursor)) != NULL)
		parse_param(param, o);
}

/* ---- running the command ---------------------------------------------- */

/*
 * The command's environment: fixed defaults, plus whatever NAME=VALUE
 * parameters the kernel handed to init that do not override them.
 */
static void build_env(char **env)
{
	static char *defaults[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "TERM=linux", "LANG=C.UTF-8", NULL,
	};
	size_t n = 0;

	for (char **d = defaults; *d; d++)
		env[n++] = *d;
	for (char **e = environ; *e && n < MAX_ENV - 1; e++) {
		if (strncmp(*e, "PATH=", 5) && strncmp(*e, "HOME=", 5) &&
		    strncmp(*e, "TERM=", 5) && strncmp(*e, "LANG=", 5))
			env[n++] = *e;
	}
	env[n] = NULL;
}

/*
 * A command with a shell operator outside single quotes is run by
 * /bin/sh -c; any other is split into words, single quotes grouping, and
 * exec'd directly.  So snapvm.run="python3 -c print(6*7)" runs as written
 * (sh would choke on the parentheses), "python3 -c 'import sys; ...'"
 * keeps its quoted program in one word, and one exec of emulated kernel
 * work is saved.  An assignment in the first word also needs the shell.
 */
static bool needs_shell(const char *cmd)
{
	const char *first_end = strchr(cmd, ' ');
	bool quoted = false;

	for (const char *p = cmd; *p; p++) {
		if (*p == '\'') {
			quoted = !quoted;
			continue;
		}
		if (quoted)
			continue;
		if (strchr("|&;<>$`\\\"\n", *p))
			return true;
		if (*p == '=' && (!first_end || p < first_end))
			return true;
	}
	return quoted;	/* an unbalanced quote: let sh report it */
}

/* Splits CMD in place into words; single quotes group and are removed. */
static int split_words(char *cmd, char **argv)
{
	char *r = cmd, *w = cmd;
	int argc = 0;

	while (argc < MAX_ARGS) {
		bool quoted = false;

		while (*r == ' ')
			r++;
		if (*r == '\0')
			break;
		argv[argc++] = w;
		while (*r && (quoted || *r != ' ')) {
			if (*r == '\'')
				quoted = !quoted;
			else
				*w++ = *r;
			r++;
		}
		if (*r)
			r++;
		*w++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}

/* In the child: make argv for CMD, or for an interactive shell. */
static void command_argv(char *cmd, char **argv)
{
	static char sh[] = "/bin/sh", dash_c[] = "-c";

	if (cmd && !needs_shell(cmd) && split_words(cmd, argv) > 0)
		return;
	argv[0] = sh;
	argv[1] = cmd ? dash_c : NULL;
	argv[2] = cmd;
	argv[3] = NULL;
}

/*
 * The child gets its own session with the console as controlling
 * terminal, so ^C on the console reaches it and the shell has job
 * control.  Never returns.
 */
static void exec_child(char *cmd)
{
	char *argv[MAX_ARGS + 1], *env[MAX_ENV];
	sigset_t none;
	int err;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();
	ioctl(STDIN_FILENO, TIOCSCTTY, 0);
	build_env(env);
	command_argv(cmd, argv);
	environ = env; /* execvp searches the PATH of environ, not of envp */
	execvp(argv[0], argv);
	err = errno;
	say("exec %s: %s", argv[0], strerror(err));
	_exit(err == ENOENT ? 127 : 126);
}

/* Reap every child (orphans are re-parented to us) until ours exits. */
static int wait_for(pid_t child)
{
	int status;

	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == child)
			return status;
		if (pid < 0 && errno != EINTR) {
			say("waitpid: %s", strerror(errno));
			return W_EXITCODE(127, 0);
		}
		if (pid > 0)
			debug("reaped orphan %d", (int)pid);
	}
}

/* Shell convention: 128+N for a command killed by signal N. */
static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return (128 + WTERMSIG(status)) & 0xff;
	return 255;
}

static int run(char *cmd)
{
	pid_t pid = fork();

	if (pid < 0) {
		say("fork: %s", strerror(errno));
		return 127;
	}
	if (pid == 0)
		exec_child(cmd);
	debug("started %s (pid %d)", cmd ? cmd : "/bin/sh", (int)pid);
	return exit_code(wait_for(pid));
}

/* ---- reporting the status --------------------------------------------- */

static void outb_fault_handler(int sig)
{
	siglongjmp(outb_fault, sig);
}

/*
 * Write CODE to the debug-exit port; with the device present the VM stops
 * inside the outb and this never returns.  A fault in the outb (a host
 * whose emulator refuses user-mode port I/O) would kill PID 1 and panic
 * the kernel, so it is caught and turned into a failed attempt.
 */
static void debug_exit(int code)
{
	struct sigaction sa = { .sa_handler = outb_fault_handler }, old[3];
	const int sigs[3] = { SIGSEGV, SIGBUS, SIGILL };
	int sig;

	if (ioperm(DEBUG_EXIT_PORT, 1, 1) != 0) {
		say("ioperm 0x%x: %s", DEBUG_EXIT_PORT, strerror(errno));
		return;
	}
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old[i]);
	sig = sigsetjmp(outb_fault, 1);
	if (sig == 0)
		outb((unsigned char)code, DEBUG_EXIT_PORT);
	for (int i = 0; i < 3; i++)
		sigaction(sigs[i], &old[i], NULL);
	if (sig != 0)
		say("outb 0x%x faulted (signal %d)", DEBUG_EXIT_PORT, sig);
}

/* Never returns: PID 1 must not exit. */
static void __attribute__((noreturn)) report_and_stop(int code)
{
	sync(); /* a snapvm.rw root must be on disk before the VM is gone */
	debug("exit status %d", code);
	debug_exit(code);
	say("no debug-exit device; powering off (exit status %d)", code);
	reboot(RB_POWER_OFF);
	say("reboot: %s", strerror(errno));
	for (;;)
		pause();
}

/* ---- main ------------------------------------------------------------- */

static void setup(struct options *o, char *cmdline)
{
	mount_one(&mounts[0]);
	read_cmdline(cmdline, CMDLINE_MAX);
	parse_cmdline(cmdline, o);
	debug_on = o->debug;
	debug("started; run=%s", o->run ? o->run : "(none)");
	mount_rest();
	setup_console();
	setup_root(o->rw);
	if (sethostname(HOSTNAME, sizeof HOSTNAME - 1) != 0)
		debug("sethostname: %s", strerror(errno));
	network_up(o->net);
	if (o->seed)
		add_seed(o->seed);
}

/* Started when no snapvm.run= is given: see rootfs/runtime. */
#define RUNTIME "/usr/lib/snapvm/runtime.py"
static char runtime_cmd[] = "/usr/bin/python3 -u " RUNTIME;

int main(void)
{
	static char cmdline[CMDLINE_MAX];
	struct options o = { 0 };

	if (getpid() != 1) {
		fprintf(stderr, "snapvm init: must run as PID 1\n");
		return 1;
	}
	setup(&o, cmdline);
	if (!o.run && access(RUNTIME, R_OK) == 0)
		o.run = runtime_cmd;	/* the function runtime is the default job */
	else if (!o.run)
		say("no snapvm.run= given");
	report_and_stop(run(o.run));
}
