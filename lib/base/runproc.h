/*
 * A runner child process (vmrun or snaprestore) and the pipes ctrl talks
 * to it through: JSON request lines to its standard input, response lines
 * from its standard output, its standard error to ctrl's log or to a pipe
 * of its own.  Every pipe end ctrl keeps is non-blocking: a child that
 * stops reading or floods its output never holds ctrl's event loop.
 */
#ifndef SNAPVM_RUNPROC_H
#define SNAPVM_RUNPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNPROC_MAX_LINE	(8U << 20)
/* runproc_spawn's stderr_fd: a pipe, read with runproc_read_err(). */
#define RUNPROC_PIPE		(-2)

struct runproc {
	pid_t pid;
	int in_fd, out_fd;		/* our ends; -1 when closed */
	int err_fd;			/* stderr's pipe, or -1 */
	char *buf;			/* output not yet taken as lines */
	size_t len, cap;
	char *send;			/* the line the pipe has not taken yet */
	size_t send_off, send_len;
};

/* Starts argv[0] (a path) with argv; stderr_fd receives its stderr, or
 * with RUNPROC_PIPE err_fd does. */
int runproc_spawn(struct runproc *p, char *const argv[], int stderr_fd);
/* Starts argv[0] with no pipes: stdin /dev/null, stdout and stderr to
 * out_fd.  The pid, or -1. */
pid_t runproc_spawn_quiet(char *const argv[], int out_fd);
/* A wait status as a shell reports it: the exit status, or 128 + signal. */
int runproc_exit_code(int wait_status);
/* Queues a whole line for the runner's stdin and writes what the pipe
 * takes at once; runproc_flush() writes the rest when in_fd is writable.
 * One line at a time: -1 with EBUSY while one is still on its way, -1 if
 * the runner is gone or memory is short. */
int runproc_send(struct runproc *p, const char *line, size_t len);
/* 1 while part of the line is still to go, 0 once it is all written, -1
 * if the runner is gone (the rest is dropped). */
int runproc_flush(struct runproc *p);
bool runproc_sending(const struct runproc *p);
/* Reads what is there: 0, or -1 at the end of the output. */
int runproc_read(struct runproc *p);
/* 1 and the next whole line (malloc'd, no newline) in *line; 0 if there
 * is none yet; -1 if a line grows past RUNPROC_MAX_LINE. */
int runproc_line(struct runproc *p, char **line);
/* At most n bytes of stderr into buf: their count, 0 if there are none
 * now, -1 at its end (err_fd is closed then). */
ssize_t runproc_read_err(struct runproc *p, char *buf, size_t n);
/* Closing stdin asks a runner to shut its VM down and exit; a line not
 * yet written is dropped. */
void runproc_close_input(struct runproc *p);
void runproc_kill(struct runproc *p);
void runproc_release(struct runproc *p);	/* fds and buffers; not the pid */

#endif
