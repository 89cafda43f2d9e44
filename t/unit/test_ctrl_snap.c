/* Which layers ctrl restores a function from (ctrl_state_load_dirs). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrl.h"
#include "unit.h"

static char top[] = "/tmp/snapvm-test-ctrl-snap.XXXXXX";

static void
layer(const char *rel)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/%s/manifest.json", top, rel);
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL)
		fclose(f);
}

/* s3snap renames a fetched layer into place before it exits, and ctrl
 * checks the layer against its base only when it reaps the fetch: until
 * then the layer is not there for a restore. */
static void
test_fetching_is_absent(void)
{
	struct ctrl *c = calloc(1, sizeof(*c));
	char out[CTRL_PATH * 2];

	CHECK(mkdtemp(top) != NULL);
	if (c == NULL)
		return;
	snprintf(c->conf.snapshot_dir, sizeof(c->conf.snapshot_dir), "%s", top);
	snprintf(c->cpu_dir, sizeof(c->cpu_dir), "%s/cpu-host-on", top);
	c->conf.nfuncs = 1;
	strcpy(c->conf.fn[0].name, "hello");
	CHECK(!ctrl_state_load_dirs(c, 0, out, sizeof(out)));
	layer("cpu-host-on");
	layer("cpu-host-on/python3");
	layer("cpu-host-on/diff");
	layer("cpu-host-on/diff/hello");
	CHECK(ctrl_state_load_dirs(c, 0, out, sizeof(out)));
	c->store_job[0].pid = 99999;
	snprintf(c->store_job[0].dir, sizeof(c->store_job[0].dir),
	    "%s/cpu-host-on/diff/hello", top);
	CHECK(!ctrl_state_load_dirs(c, 0, out, sizeof(out)));
	/* and a request waits for it rather than booting cold */
	strcpy(c->conf.store, "s3://bucket/snaps");
	c->conf.fn[0].snapshots = true;
	CHECK(ctrl_store_fetch(c, 0));
	c->store_job[0].put = true;		/* an upload reads it: fine */
	CHECK(ctrl_state_load_dirs(c, 0, out, sizeof(out)));
	c->store_job[0].pid = 0;
	CHECK(ctrl_state_load_dirs(c, 0, out, sizeof(out)));
	free(c);
}

static void
test_end(void)
{
	unit_remove_tree(top);
}

static const struct unit_test tests[] = {
	{ "ctrl: a layer still being fetched is not restored from",
	    test_fetching_is_absent },
	{ "ctrl: clean-up", test_end },
};

UNIT_MAIN(tests)
