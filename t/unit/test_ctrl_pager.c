/*
 * Lazy restores in ctrl (ctrl_pager.c): the page server's load-dir line,
 * untrusted, names exactly the layers it was given, and nothing else is
 * ever handed to a runner; a jailed runner of a lazy restore gets the
 * socket's directory and a userfaultfd node, and no other does.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrl.h"
#include "snapmeta.h"
#include "unit.h"

static char top[] = "/tmp/snapvm-test-ctrl-pager.XXXXXX";
static char cpu[256], base[300], diff[300], tmpd[300];

/* A layer's manifest at dir: a base, or a diff on parent_id. */
static void
layer(const char *dir, const char *id, const char *parent_id)
{
	struct snap_meta m;
	char path[400];

	memset(&m, 0, sizeof(m));
	CHECK(mkdir(dir, 0755) == 0);
	m.diff = parent_id != NULL;
	snprintf(m.id, sizeof(m.id), "%064d", 0);
	memcpy(m.id, id, strlen(id));
	if (parent_id != NULL) {
		snprintf(m.parent, sizeof(m.parent), "%064d", 0);
		memcpy(m.parent, parent_id, strlen(parent_id));
	}
	snprintf(m.point, sizeof(m.point), "%s", parent_id ? "app" : "runtime");
	m.mem_mib = 128;
	m.vcpus = 1;
	/* Files of the sizes such a layer has: only the manifest is read. */
	for (int i = 0; i < SNAP_NFILES; i++)
		snprintf(m.file[i].sha256, sizeof(m.file[i].sha256), "%064d", i);
	m.file[SNAP_STATE].present = m.file[SNAP_MEMORY].present = true;
	m.file[SNAP_STATE].size = 4096;
	m.file[SNAP_MEMORY].size = 128 << 20;
	m.file[SNAP_PAGES].present = m.diff;
	m.file[SNAP_PAGES].size = (128 << 20) / 4096 / 8;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	CHECK(snapmeta_write(path, &m) == 0);
}

static struct ctrl *
setup(void)
{
	struct ctrl *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	snprintf(c->conf.snapshot_dir, sizeof(c->conf.snapshot_dir), "%s", top);
	snprintf(c->cpu_dir, sizeof(c->cpu_dir), "%s", cpu);
	snprintf(c->conf.store, sizeof(c->conf.store), "s3://bucket/snaps");
	c->log_fd = c->out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	c->conf.nfuncs = 1;
	strcpy(c->conf.fn[0].name, "hello");
	c->conf.fn[0].snapshots = true;
	return c;
}

/* A job as ctrl_pager_place leaves it, the base here and the diff to be
 * fetched, its stdout a pipe this test writes, its process a child that
 * waits to be stopped. */
static int
job(struct pager_job *p)
{
	int fd[2];

	memset(p, 0, sizeof(*p));
	p->state = PGS_STARTING;
	p->fn = 0;
	p->slot = -1;
	p->end = -1;
	snprintf(p->dir[0], sizeof(p->dir[0]), "%s", base);
	snprintf(p->dir[1], sizeof(p->dir[1]), "%s", diff);
	p->fetch[1] = true;
	CHECK(pipe2(fd, O_CLOEXEC) == 0);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	p->proc.in_fd = p->proc.err_fd = -1;
	p->proc.out_fd = fd[0];
	if ((p->proc.pid = fork()) == 0) {
		pause();
		_exit(0);
	}
	return fd[1];
}

/* What state the line leaves the job in; its process is reaped. */
static enum pager_state
says(struct ctrl *c, const char *line)
{
	struct pager_job *p = &c->pager[0];
	int w = job(p), status;
	enum pager_state st;

	CHECK(write(w, line, strlen(line)) == (ssize_t)strlen(line));
	ctrl_pager_output(c, p);
	st = p->state;
	close(w);
	kill(p->proc.pid, SIGKILL);
	waitpid(p->proc.pid, &status, 0);
	runproc_release(&p->proc);
	memset(p, 0, sizeof(*p));
	return st;
}

static void
test_line(void)
{
	struct ctrl *c;
	char line[2048], other[300], link[300];

	CHECK(mkdtemp(top) != NULL);
	snprintf(cpu, sizeof(cpu), "%s/cpu-host-on", top);
	snprintf(base, sizeof(base), "%s/python3", cpu);
	snprintf(diff, sizeof(diff), "%s/diff/hello", cpu);
	snprintf(tmpd, sizeof(tmpd), "%s/diff/.hello.pager.abc123", cpu);
	CHECK(mkdir(cpu, 0755) == 0);
	snprintf(line, sizeof(line), "%s/diff", cpu);
	CHECK(mkdir(line, 0755) == 0);
	layer(base, "aa", NULL);
	layer(tmpd, "bb", "aa");
	if ((c = setup()) == NULL)
		return;

	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, tmpd);
	CHECK(says(c, line) == PGS_READY);
	/* Nothing yet: it waits for the rest of the line. */
	snprintf(line, sizeof(line), "load-dir %s,%s", base, tmpd);
	CHECK(says(c, line) == PGS_STARTING);

	/* Anything else stops it. */
	CHECK(says(c, "ready\n") == PGS_STOPPING);
	CHECK(says(c, "load-dir /etc,/tmp\n") == PGS_STOPPING);
	snprintf(line, sizeof(line), "load-dir %s\n", base);
	CHECK(says(c, line) == PGS_STOPPING);
	snprintf(line, sizeof(line), "load-dir %s,%s,%s\n", base, tmpd, tmpd);
	CHECK(says(c, line) == PGS_STOPPING);
	/* a local layer only as given */
	snprintf(line, sizeof(line), "load-dir %s/.python3.pager.x,%s\n", cpu,
	    tmpd);
	CHECK(says(c, line) == PGS_STOPPING);
	/* a fetched one beside itself, hidden, with its own name */
	snprintf(other, sizeof(other), "%s/diff/.markdown.pager.abc", cpu);
	layer(other, "cc", "aa");
	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, other);
	CHECK(says(c, line) == PGS_STOPPING);
	snprintf(other, sizeof(other), "%s/.hello.pager.abc", cpu);
	layer(other, "cc", "aa");
	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, other);
	CHECK(says(c, line) == PGS_STOPPING);
	snprintf(line, sizeof(line), "load-dir %s,%s/diff/.hello.\n", base, cpu);
	CHECK(says(c, line) == PGS_STOPPING);
	snprintf(line, sizeof(line), "load-dir %s,%s/diff/.hello.pager/../../"
	    "python3\n", base, cpu);
	CHECK(says(c, line) == PGS_STOPPING);
	/* never through a symbolic link, even to a layer */
	snprintf(link, sizeof(link), "%s/diff/.hello.pager.link", cpu);
	CHECK(symlink(tmpd, link) == 0);
	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, link);
	CHECK(says(c, line) == PGS_STOPPING);
	/* a directory with no layer in it */
	snprintf(other, sizeof(other), "%s/diff/.hello.pager.empty", cpu);
	CHECK(mkdir(other, 0755) == 0);
	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, other);
	CHECK(says(c, line) == PGS_STOPPING);
	/* a line that never ends */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < 2; i++) {
		struct pager_job *p = &c->pager[0];
		int w = job(p), status;

		for (int k = 0; k < 4; k++)
			CHECK(write(w, line, strlen(line)) > 0);
		ctrl_pager_output(c, p);
		CHECK(p->state == PGS_STOPPING);
		close(w);
		kill(p->proc.pid, SIGKILL);
		waitpid(p->proc.pid, &status, 0);
		runproc_release(&p->proc);
		memset(p, 0, sizeof(*p));
	}
	/* Each of those made the function's layers come by download. */
	CHECK(c->lazy_skip[0]);
	close(c->log_fd);
	free(c);
}

/* A diff of the store made on another base than the one here: stopped,
 * and the diff is not asked for again (built here instead). */
static void
test_other_base(void)
{
	struct ctrl *c = setup();
	char line[1024], other[300];

	if (c == NULL)
		return;
	snprintf(other, sizeof(other), "%s/diff/.hello.pager.other", cpu);
	layer(other, "dd", "ee");
	snprintf(line, sizeof(line), "load-dir %s,%s\n", base, other);
	CHECK(says(c, line) == PGS_STOPPING);
	CHECK(ctrl_state_store_absent(c, diff));
	CHECK(!ctrl_state_store_absent(c, base));
	close(c->log_fd);
	free(c);
}

static bool
has(char *const *argv, const char *a, const char *b)
{
	for (int i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++)
		if (strcmp(argv[i], a) == 0 && strcmp(argv[i + 1], b) == 0)
			return true;
	return false;
}

static void
test_jail(void)
{
	struct ctrl *c = setup();
	struct ctrl_jail_args *a = calloc(1, sizeof(*a));
	char sock[420], sdir[400];
	char *run[] = { "/usr/bin/snaprestore", "--load-dir", NULL,
		"--page-server", sock, NULL };
	char *const *argv;

	if (c == NULL || a == NULL)
		return;
	snprintf(sdir, sizeof(sdir), "%s/.pager/3", top);
	snprintf(sock, sizeof(sock), "%s/sock", sdir);
	run[2] = base;
	c->conf.jail = true;
	c->conf.jail_uid = 2000000000;
	snprintf(c->conf.vmjail, sizeof(c->conf.vmjail), "/usr/bin/vmjail");
	snprintf(c->conf.jail_base, sizeof(c->conf.jail_base), "/srv/jail");
	CHECK((argv = ctrl_jail_argv(c, 3, 128, 1, false, run, a)) != NULL);
	if (argv != NULL) {
		CHECK(has(argv, "--ro", sdir));
		CHECK(has(argv, "--ro", base));
		CHECK(has(argv, "--dev", "/dev/userfaultfd"));
		CHECK(has(argv, "--dev", "/dev/kvm"));
	}
	run[3] = NULL;		/* a restore of layers here */
	CHECK((argv = ctrl_jail_argv(c, 3, 128, 1, false, run, a)) != NULL);
	if (argv != NULL) {
		CHECK(!has(argv, "--ro", sdir));
		CHECK(!has(argv, "--dev", "/dev/userfaultfd"));
	}
	close(c->log_fd);
	free(a);
	free(c);
}

static void
test_end(void)
{
	unit_remove_tree(top);
}

static const struct unit_test tests[] = {
	{ "ctrl: a page server's load-dir names its layers, or it is stopped",
	    test_line },
	{ "ctrl: a diff of the store on another base is stopped, not used",
	    test_other_base },
	{ "ctrl: a jailed lazy restore gets its socket and /dev/userfaultfd",
	    test_jail },
	{ "ctrl: clean-up", test_end },
};

UNIT_MAIN(tests)
