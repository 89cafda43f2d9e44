/*
 * The shared objects a dynamically linked runner needs inside its jail:
 * exactly those its dynamic loader would load, as the loader itself
 * lists them with --list (what ldd(1) runs, without ldd's shell, which
 * costs most of a jail's start), so the list follows the host's search
 * paths and symbolic links.  The loader is the program's own (its
 * PT_INTERP); the runner is the project's own program, so running the
 * loader on it is safe.  A static program needs nothing but itself.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

extern char **environ;

/* The object's path on one line of ldd's output, or NULL for the vDSO. */
static char *
jail_libs_path(char *line)
{
	char *p = strstr(line, "=> "), *end;

	p = p != NULL ? p + 3 : line + strspn(line, " \t");
	if (*p != '/')
		return NULL;
	end = p + strcspn(p, " \n");
	*end = '\0';
	return p;
}

static int
jail_libs_read(struct jail_conf *c, FILE *f, const char *prog)
{
	char line[JAIL_PATH + 64], *path, *copy;
	int rc = 0;

	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "not a dynamic executable") != NULL)
			continue;	/* static: the program alone */
		if (strstr(line, "not found") != NULL) {
			line[strcspn(line, "\n")] = '\0';
			log_warnx("%s: a shared object it needs is missing:%s",
			    prog, line);
			rc = -1;
			continue;
		}
		if ((path = jail_libs_path(line)) == NULL)
			continue;
		if ((copy = strdup(path)) == NULL ||
		    jail_conf_adopt(c, copy) == -1)
			return -1;
	}
	return rc;
}

/* The program's PT_INTERP into interp: 1, or 0 for a static program, or
 * -1 (with a message) for a file that is no 64-bit ELF program. */
static int
jail_libs_interp(const char *prog, char *interp, size_t n)
{
	int fd = open(prog, O_RDONLY | O_CLOEXEC), rc = -1;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	if (fd == -1 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph)) {
		log_warnx("%s: not a 64-bit ELF program", prog);
		goto out;
	}
	rc = 0;
	for (int i = 0; i < eh.e_phnum && rc == 0; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff +
		    (uint64_t)i * sizeof(ph))) != sizeof(ph)) {
			rc = -1;
		} else if (ph.p_type == PT_INTERP) {
			if (ph.p_filesz < 2 || ph.p_filesz > n || pread(fd, interp,
			    ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz ||
			    interp[ph.p_filesz - 1] != '\0' || interp[0] != '/')
				rc = -1;
			else
				rc = 1;
		}
	}
	if (rc == -1)
		log_warnx("%s: a program header or its loader's path is "
		    "unreadable", prog);
out:
	if (fd != -1)
		close(fd);
	return rc;
}

int
jail_libs_bind(struct jail_conf *c, const char *prog)
{
	char interp[JAIL_PATH];
	char *argv[] = { interp, "--list", (char *)prog, NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2], status, rc;
	pid_t pid;
	FILE *f;

	if (jail_conf_bind(c, prog, JAIL_RO) == -1 ||
	    (rc = jail_libs_interp(prog, interp, sizeof(interp))) == -1)
		return -1;
	if (rc == 0)
		return 0;		/* static */
	if (pipe(pfd) == -1)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	rc = posix_spawn(&pid, interp, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		log_warnx("%s: %s", interp, strerror(rc));
		return -1;
	}
	if ((f = fdopen(pfd[0], "r")) == NULL) {
		close(pfd[0]);
		rc = -1;
	} else {
		rc = jail_libs_read(c, f, prog);
		fclose(f);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return rc;
}
