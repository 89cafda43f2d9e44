/*
 * The guests' CPU in ctrl (ctrl_cpu.c): where its own layers go, and what
 * its runners are given, in a jail too.
 */
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "unit.h"

static struct ctrl *
new_ctrl(const char *tmpl, const char *wa)
{
	struct ctrl *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	strcpy(c->conf.snapshot_dir, "/srv/snap");
	snprintf(c->conf.cpu_template, sizeof(c->conf.cpu_template), "%s", tmpl);
	strcpy(c->conf.cpu_name, tmpl[0] == '/' ? "fleet-1" : tmpl);
	snprintf(c->conf.cpu_workarounds, sizeof(c->conf.cpu_workarounds), "%s",
	    wa);
	c->conf.nfuncs = 1;
	strcpy(c->conf.fn[0].name, "hello");
	c->log_fd = -1;
	c->log.open = true;		/* no sink: events go nowhere */
	c->log.broken = true;
	return c;
}

/* Template and workarounds name the directory, with or without a network
 * device below it. */
static void
test_layers(void)
{
	struct ctrl *c = new_ctrl("x86-64-v2", "noxsave");
	char out[CTRL_PATH];

	if (c == NULL)
		return;
	ctrl_cpu_start(c);
	CHECK(strcmp(c->cpu_dir, "/srv/snap/cpu-x86-64-v2-noxsave") == 0);
	ctrl_state_own_layer(c, -1, out, sizeof(out));
	CHECK(strcmp(out, "/srv/snap/cpu-x86-64-v2-noxsave/python3") == 0);
	ctrl_state_own_layer(c, 0, out, sizeof(out));
	CHECK(strcmp(out, "/srv/snap/cpu-x86-64-v2-noxsave/diff/hello") == 0);
	c->conf.network = true;
	ctrl_state_own_layer(c, 0, out, sizeof(out));
	CHECK(strcmp(out, "/srv/snap/cpu-x86-64-v2-noxsave/diff-net/hello") == 0);
	free(c);
}

static int
find(char *const *argv, const char *a, const char *b)
{
	for (int i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++)
		if (strcmp(argv[i], a) == 0 && strcmp(argv[i + 1], b) == 0)
			return i;
	return -1;
}

/* A template file is bound into the runner's jail read-only, whole; a
 * built-in's name is no file. */
static void
test_jail(void)
{
	struct ctrl *c = new_ctrl("/etc/snapvm/fleet,1", "on");
	struct ctrl_jail_args *a = calloc(1, sizeof(*a));
	char *run[16] = { "snaprestore", "--load-dir", "/srv/snap/b,/srv/snap/d" };
	char *const *argv;
	int n = 3;

	if (c == NULL || a == NULL)
		goto out;
	c->conf.jail = true;
	strcpy(c->conf.vmjail, "vmjail");
	strcpy(c->conf.jail_base, "/srv/jail");
	ctrl_cpu_start(c);
	ctrl_cpu_argv(c, run, &n);
	CHECK(n == 7 && run[7] == NULL);
	CHECK(find(run, "--cpu-workarounds", "on") == 5);
	argv = ctrl_jail_argv(c, 0, 128, 1, false, run, a);
	CHECK(argv != NULL);
	if (argv == NULL)
		goto out;
	CHECK(find(argv, "--ro", "/etc/snapvm/fleet,1") > 0);
	CHECK(find(argv, "--ro", "/etc/snapvm/fleet") == -1);
	CHECK(find(argv, "--cpu-template", "/etc/snapvm/fleet,1") > 0);
	strcpy(c->conf.cpu_template, "host");
	argv = ctrl_jail_argv(c, 0, 128, 1, false, run, a);
	CHECK(argv != NULL && find(argv, "--ro", "host") == -1);
out:
	free(a);
	free(c);
}

static const struct unit_test tests[] = {
	{ "ctrl: own layers in the CPU's directory", test_layers },
	{ "ctrl: a template file is bound into the jail", test_jail },
};

UNIT_MAIN(tests)
