/*
 * The shared objects a dynamically linked runner needs inside its jail:
 * exactly those its dynamic loader would load, as ldd(1) lists them
 * (ldd asks the loader itself, so the list follows the host's search
 * paths and symbolic links).  The runner is the project's own program,
 * so running the loader on it is safe.
 */
#include <errno.h>
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

int
jail_libs_bind(struct jail_conf *c, const char *prog)
{
	char *argv[] = { "ldd", (char *)prog, NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2], status, rc;
	pid_t pid;
	FILE *f;

	if (jail_conf_bind(c, prog, JAIL_RO) == -1 || pipe(pfd) == -1)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	rc = posix_spawnp(&pid, "ldd", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		log_warnx("ldd: %s", strerror(rc));
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
