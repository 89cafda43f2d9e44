/*
 * The keeper of one jail.  It makes the root directory and the cgroup,
 * starts the runner as PID 1 of a PID namespace of its own, waits for
 * it and removes both.  The runner dies with its keeper (a parent-death
 * signal, and the pipe check that closes the race of a keeper dying
 * first); the signals that ask a runner to stop are passed on.  The
 * keeper ends the way the runner did: same exit status, or the same
 * signal (so that its caller sees, say, a seccomp kill as SIGSYS).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

static void
jail_root(const struct jail_conf *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", c->base, c->id);
}

/* The keeper is gone if its end of the pipe is: then so is the runner. */
static void
jail_child_tie(int alive_fd)
{
	struct pollfd p = { .fd = alive_fd, .events = POLLIN };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    poll(&p, 1, 0) != 0)
		_exit(EX_OSERR);
	close(alive_fd);
}

/*
 * The runner starts with SIGTERM, SIGINT and SIGHUP blocked: as PID 1 of
 * its namespace it would drop them otherwise (the kernel ignores signals
 * others send to a namespace's init unless it handles them); blocked,
 * they wait until it reads them (snapvm's runners block them first thing
 * and read them from a signalfd).
 */
static void
jail_child(const struct jail_conf *c, char *const argv[], int alive_fd)
{
	char *env[JAIL_MAX_ENV + 1];
	sigset_t chld;

	for (int i = 0; i < c->nenv; i++)
		env[i] = (char *)c->env[i];
	env[c->nenv] = NULL;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	if (jail_cgroup_join(c) == -1)
		_exit(EX_OSERR);
	if (unshare(CLONE_NEWIPC | CLONE_NEWUTS) == -1 ||
	    sethostname(c->id, strlen(c->id)) == -1) {
		log_warn("jail: namespaces");
		_exit(EX_OSERR);
	}
	if (jail_fs_enter(c) == -1)
		_exit(EX_OSERR);
	if (jail_cred_drop(c) == -1)	/* closes alive_fd unless kept */
		_exit(EX_OSERR);
	jail_child_tie(alive_fd);
	execve(argv[0], argv, env);
	log_warn("jail: %s", argv[0]);
	_exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
}

static void
jail_term_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGHUP);
	sigaddset(s, SIGCHLD);
}

/* Waits for the runner, passing the stop signals on. */
static int
jail_wait(pid_t pid, const sigset_t *set)
{
	siginfo_t si;
	int status;

	for (;;) {
		if (sigwaitinfo(set, &si) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (si.si_signo != SIGCHLD) {
			kill(pid, si.si_signo);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
	}
}

static pid_t
jail_start(const struct jail_conf *c, char *const argv[], int alive[2])
{
	pid_t pid;

	if (unshare(CLONE_NEWPID) == -1) {
		log_warn("jail: PID namespace");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("jail: fork");
		return -1;
	}
	if (pid == 0) {
		struct jail_conf cc = *c;

		close(alive[1]);
		/* The pipe's read end is the child's until the tie is made. */
		if (cc.nkeep < JAIL_MAX_FDS)
			cc.keep[cc.nkeep++] = alive[0];
		jail_child(&cc, argv, alive[0]);
	}
	close(alive[0]);
	return pid;
}

static int
jail_make(const struct jail_conf *c, int *status)
{
	char root[JAIL_PATH];

	jail_root(c, root, sizeof(root));
	if (mkdir(root, 0755) == -1) {
		log_warn("%s%s", root, errno == EEXIST ? " (a jail of that id "
		    "runs, or its keeper was killed: vmjail --remove)" : "");
		*status = EX_CANTCREAT;
		return -1;
	}
	if (jail_cgroup_create(c) == -1) {
		rmdir(root);
		*status = EX_CONFIG;
		return -1;
	}
	return 0;
}

int
jail_remove(const struct jail_conf *c, int tries)
{
	char root[JAIL_PATH];
	int rc = jail_cgroup_remove(c, tries);

	jail_root(c, root, sizeof(root));
	if (rmdir(root) == -1 && errno != ENOENT) {
		log_warn("%s", root);
		rc = -1;
	}
	return rc;
}

int
jail_run(const struct jail_conf *c, char *const argv[], int *status)
{
	sigset_t set, old;
	int alive[2];
	pid_t pid;

	if (jail_make(c, status) == -1)
		return -1;
	jail_term_set(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (pipe2(alive, O_CLOEXEC) == -1 ||
	    (pid = jail_start(c, argv, alive)) == -1) {
		jail_remove(c, 2000);
		sigprocmask(SIG_SETMASK, &old, NULL);
		*status = EX_OSERR;
		return -1;
	}
	*status = jail_wait(pid, &set);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (jail_cgroup_oom_kills(c) > 0)
		log_warnx("%s: the kernel's OOM killer ended the runner: it "
		    "went past its memory.max, %ju bytes", c->id,
		    (uintmax_t)c->memory_max);
	jail_remove(c, 2000);
	close(alive[1]);
	return 0;
}
