#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "runproc.h"

extern char **environ;

static void
close_pair(int p[2])
{
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
}

/* posix_spawnp with ctrl's signal mask cleared: ctrl blocks its signals
 * for signalfd, and the child must not inherit that.  A bare name is
 * looked up in PATH, as a shell would. */
static int
spawn_unblocked(pid_t *pid, char *const argv[],
    const posix_spawn_file_actions_t *fa)
{
	posix_spawnattr_t at;
	sigset_t none;
	int e;

	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	e = posix_spawnp(pid, argv[0], fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	if (e != 0) {
		errno = e;
		log_warn("%s", argv[0]);
		return -1;
	}
	return 0;
}

static int
make_pipes(int in[2], int out[2], int err[2], bool err_pipe)
{
	if (pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
	    (!err_pipe || pipe2(err, O_CLOEXEC) == 0))
		return 0;
	log_warn("pipe");
	close_pair(in);
	close_pair(out);
	close_pair(err);
	return -1;
}

int
runproc_spawn(struct runproc *p, char *const argv[], int stderr_fd)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;
	posix_spawn_file_actions_t fa;

	memset(p, 0, sizeof(*p));
	p->in_fd = p->out_fd = p->err_fd = -1;
	if (make_pipes(in, out, err, stderr_fd == RUNPROC_PIPE) == -1)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, stderr_fd == RUNPROC_PIPE ?
	    err[1] : stderr_fd, 2);
	rc = spawn_unblocked(&p->pid, argv, &fa);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (err[1] != -1)
		close(err[1]);
	if (rc == -1) {
		close(in[1]);
		close(out[0]);
		if (err[0] != -1)
			close(err[0]);
		return -1;
	}
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = err[0];
	/* Our ends only: the child's are descriptions of their own. */
	fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	if (p->err_fd != -1)
		fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

pid_t
runproc_spawn_quiet(char *const argv[], int out_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	rc = spawn_unblocked(&pid, argv, &fa);
	posix_spawn_file_actions_destroy(&fa);
	return rc == -1 ? -1 : pid;
}

static void
drop_send(struct runproc *p)
{
	free(p->send);
	p->send = NULL;
	p->send_off = p->send_len = 0;
}

int
runproc_send(struct runproc *p, const char *line, size_t len)
{
	if (p->send != NULL) {
		errno = EBUSY;
		return -1;
	}
	if (p->in_fd == -1) {
		errno = EPIPE;
		return -1;
	}
	if ((p->send = malloc(len > 0 ? len : 1)) == NULL)
		return -1;
	memcpy(p->send, line, len);
	p->send_off = 0;
	p->send_len = len;
	return runproc_flush(p) == -1 ? -1 : 0;
}

int
runproc_flush(struct runproc *p)
{
	while (p->send != NULL && p->in_fd != -1) {
		ssize_t n = p->send_off < p->send_len ? write(p->in_fd,
		    p->send + p->send_off, p->send_len - p->send_off) : 0;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 1;
		if (n == -1) {
			drop_send(p);
			return -1;
		}
		p->send_off += (size_t)n;
		if (p->send_off == p->send_len)
			drop_send(p);
	}
	if (p->in_fd == -1) {
		drop_send(p);
		return -1;
	}
	return 0;
}

bool
runproc_sending(const struct runproc *p)
{
	return p->send != NULL && p->in_fd != -1;
}

int
runproc_read(struct runproc *p)
{
	ssize_t n;

	if (p->out_fd == -1)
		return -1;
	if (p->len == 0 && p->cap > 262144) {
		free(p->buf);		/* a big line has gone: so can its room */
		p->buf = NULL;
		p->cap = 0;
	}
	if (p->cap - p->len < 65536) {
		size_t cap = p->cap ? p->cap * 2 : 131072;
		char *b;

		if (cap > RUNPROC_MAX_LINE + 131072 || (b = realloc(p->buf,
		    cap)) == NULL)
			return -1;
		p->buf = b;
		p->cap = cap;
	}
	n = read(p->out_fd, p->buf + p->len, p->cap - p->len - 1);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	p->len += (size_t)n;
	return 0;
}

int
runproc_line(struct runproc *p, char **line)
{
	char *nl = p->buf ? memchr(p->buf, '\n', p->len) : NULL;
	size_t n;

	if (nl == NULL)
		return p->len > RUNPROC_MAX_LINE ? -1 : 0;
	n = (size_t)(nl - p->buf);
	if ((*line = malloc(n + 1)) == NULL)
		return -1;
	memcpy(*line, p->buf, n);
	(*line)[n] = '\0';
	p->len -= n + 1;
	memmove(p->buf, nl + 1, p->len);
	return 1;
}

ssize_t
runproc_read_err(struct runproc *p, char *buf, size_t n)
{
	ssize_t got;

	if (p->err_fd == -1)
		return -1;
	do
		got = read(p->err_fd, buf, n);
	while (got == -1 && errno == EINTR);
	if (got == -1 && errno == EAGAIN)
		return 0;
	if (got <= 0) {
		close(p->err_fd);
		p->err_fd = -1;
		return -1;
	}
	return got;
}

void
runproc_close_input(struct runproc *p)
{
	if (p->in_fd != -1)
		close(p->in_fd);
	p->in_fd = -1;
	drop_send(p);
}

void
runproc_kill(struct runproc *p)
{
	if (p->pid > 0)
		kill(p->pid, SIGKILL);
}

void
runproc_release(struct runproc *p)
{
	runproc_close_input(p);
	if (p->out_fd != -1)
		close(p->out_fd);
	p->out_fd = -1;
	if (p->err_fd != -1)
		close(p->err_fd);
	p->err_fd = -1;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

int
runproc_exit_code(int wait_status)
{
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
}
