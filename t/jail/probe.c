/*
 * What a process sees in a vmjail(1) jail, for t/vmjail.bats: each
 * argument is a question, answered on one line of standard output.
 *   id          uid=U gid=G pid=P
 *   open PATH   open PATH: ok, or the errno's name (read-only)
 *   write PATH  write PATH: ok, or the errno's name (creates PATH)
 *   fds         fds: the open descriptors
 *   env         env: how many variables
 *   host        host: the host name
 *   wait        waiting, then blocks until standard input ends
 *   hog MIB     writes MIB MiB of memory it allocated, then "hogged"
 *   crash       dies of a fault, as a bug would (a SIGSEGV no one sent:
 *               PID 1 of a namespace ignores the signals others send)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static const char *
result(int fd)
{
	if (fd == -1)
		return strerrorname_np(errno);
	close(fd);
	return "ok";
}

static void
fds(void)
{
	printf("fds:");
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			printf(" %d", fd);
	printf("\n");
}

static void
wait_eof(void)
{
	char buf[256];

	printf("waiting\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
}

int
main(int argc, char **argv)
{
	char name[256] = "";
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *q = argv[i], *arg = i + 1 < argc ? argv[i + 1] : "";

		if (strcmp(q, "id") == 0) {
			printf("uid=%d gid=%d pid=%d\n", (int)getuid(),
			    (int)getgid(), (int)getpid());
		} else if (strcmp(q, "open") == 0) {
			printf("open %s: %s\n", arg, result(open(arg, O_RDONLY)));
			i++;
		} else if (strcmp(q, "write") == 0) {
			printf("write %s: %s\n", arg, result(open(arg,
			    O_WRONLY | O_CREAT | O_TRUNC, 0600)));
			i++;
		} else if (strcmp(q, "fds") == 0) {
			fds();
		} else if (strcmp(q, "env") == 0) {
			while (environ[n] != NULL)
				n++;
			printf("env: %d\n", n);
		} else if (strcmp(q, "host") == 0) {
			gethostname(name, sizeof(name) - 1);
			printf("host: %s\n", name);
		} else if (strcmp(q, "crash") == 0) {
			*(volatile int *)(uintptr_t)argc = 0;
		} else if (strcmp(q, "wait") == 0) {
			wait_eof();
		} else if (strcmp(q, "hog") == 0) {
			size_t len = (size_t)strtoul(arg, NULL, 10) << 20;
			char *p = malloc(len);

			if (p != NULL)
				memset(p, 1, len);
			printf("hogged %s\n", p != NULL ? "ok" : "no memory");
			i++;
		} else {
			fprintf(stderr, "probe: %s: no such question\n", q);
			return 64;
		}
		fflush(stdout);
	}
	return 0;
}
