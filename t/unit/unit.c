#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

int unit_failed;
static const char *unit_skipped;	/* why the current test did not run */

void
unit_skip(const char *why)
{
	unit_skipped = why;
}

int
unit_main(const struct unit_test *tests, int n)
{
	int bad = 0;

	log_init("unit", LOG_QUIET);	/* the tests provoke errors on purpose */
	printf("1..%d\n", n);
	for (int i = 0; i < n; i++) {
		unit_failed = 0;
		unit_skipped = NULL;
		tests[i].fn();
		printf("%sok %d - %s%s%s\n", unit_failed ? "not " : "", i + 1,
		    tests[i].name, unit_skipped ? " # SKIP " : "",
		    unit_skipped ? unit_skipped : "");
		bad += unit_failed != 0;
	}
	fflush(stdout);
	return bad ? 1 : 0;
}

static FILE *caught;
static int saved_fd = -1;

void
unit_catch_stderr(void)
{
	fflush(stderr);
	caught = tmpfile();
	saved_fd = dup(2);
	dup2(fileno(caught), 2);
	log_init("unit", LOG_WARN);
}

int
unit_release_stderr(const char *what)
{
	char line[1024];
	int n = 0;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	log_init("unit", LOG_QUIET);
	rewind(caught);
	while (fgets(line, sizeof(line), caught) != NULL)
		n += strstr(line, what) != NULL;
	fclose(caught);
	return n;
}

void
unit_remove_tree(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int
unit_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}
