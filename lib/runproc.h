/*
 * A runner child process (vmrun or snaprestore) and the pipes ctrl talks
 * to it through: JSON request lines to its standard input, response lines
 * from its standard output, its standard error to ctrl's log.
 */
#ifndef SNAPVM_RUNPROC_H
#define SNAPVM_RUNPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RUNPROC_MAX_LINE	(8U << 20)

struct runproc {
	pid_t pid;
	int in_fd, out_fd;		/* our ends; -1 when closed */
	char *buf;			/* output not yet taken as lines */
	size_t len, cap;
};

/* Starts argv[0] (a path) with argv; stderr_fd receives its stderr. */
int runproc_spawn(struct runproc *p, char *const argv[], int stderr_fd);
/* Starts argv[0] with no pipes: stdin /dev/null, stdout and stderr to
 * out_fd.  The pid, or -1. */
pid_t runproc_spawn_quiet(char *const argv[], int out_fd);
/* A wait status as a shell reports it: the exit status, or 128 + signal. */
int runproc_exit_code(int wait_status);
/* Writes a whole line; -1 if the runner is gone. */
int runproc_send(struct runproc *p, const char *line, size_t len);
/* Reads what is there: 0, or -1 at the end of the output. */
int runproc_read(struct runproc *p);
/* 1 and the next whole line (malloc'd, no newline) in *line; 0 if there
 * is none yet; -1 if a line grows past RUNPROC_MAX_LINE. */
int runproc_line(struct runproc *p, char **line);
/* Closing stdin asks a runner to shut its VM down and exit. */
void runproc_close_input(struct runproc *p);
void runproc_kill(struct runproc *p);
void runproc_release(struct runproc *p);	/* fds and buffer; not the pid */

#endif
