/*
 * Snapshots for ctrl's functions.  A function names its layers in
 * functions.yaml, or ctrl keeps its own in its CPU's directory of
 * snapshot_dir (ctrl_cpu.c): python3/ (the language snapshot, made by one
 * cold boot) and diff/NAME/ (one restore of it with the app).  Until they
 * exist the function's VMs boot cold; one builder process at a time makes
 * what is missing, within the memory budget, so that the next VM of the
 * function is a restore.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"
#include "snapmeta.h"

#define BUILDER_MIB	128	/* the snapshot's memory, see vmrun(1) */

static bool
named_in_functions(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < c->conf.nfuncs; i++)
		for (int j = 0; j < c->conf.fn[i].nlayers; j++)
			if (strcmp(c->conf.fn[i].layer[j], dir) == 0)
				return true;
	return false;
}

/* A layer of ctrl's own that must not be restored is removed, so that it
 * is built again: one in a format no longer read (snaprestore refuses
 * it), or, legacy, one where ctrl kept its layers before it kept them by
 * CPU (ctrl_cpu.c), made under a template and workarounds no one knows.
 * Layers named in functions.yaml are the user's and stay. */
static void
drop_outdated(struct ctrl *c, const char *dir, bool legacy)
{
	char jd[CTRL_PATH + 16];
	int version;

	if (!ctrl_state_layer_exists(dir) || named_in_functions(c, dir) ||
	    (version = snapmeta_version(dir)) < 0 ||
	    (!legacy && version >= SNAP_META_MIN_VERSION))
		return;
	snapmeta_remove(dir);
	if (legacy)
		ctrl_log(c, "snapshot_legacy", 0, "\"layer\":%s,\"why\":\"made "
		    "before ctrl kept its layers by CPU template and "
		    "workarounds; built again in %s\"",
		    ctrl_log_jstr(jd, sizeof(jd), dir),
		    strrchr(c->cpu_dir, '/') + 1);
	else
		ctrl_log(c, "snapshot_outdated", 0, "\"layer\":%s,"
		    "\"version\":%d", ctrl_log_jstr(jd, sizeof(jd), dir),
		    version);
}

/* Each diff in the directory diffs, as drop_outdated does. */
static void
drop_outdated_diffs(struct ctrl *c, const char *diffs, bool legacy)
{
	char path[CTRL_PATH + 300];
	struct dirent *e;
	DIR *d;

	if ((d = opendir(diffs)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		/* ctrl's own layers are directories, never links */
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(path, sizeof(path), "%s/%s", diffs, e->d_name);
		drop_outdated(c, path, legacy);
	}
	closedir(d);
	if (legacy)
		rmdir(diffs);		/* if nothing of the user's is left */
}

void
ctrl_snap_drop_outdated(struct ctrl *c)
{
	static const char *const base[] = { "python3", "python3-net" };
	static const char *const diffs[] = { "diff", "diff-net" };
	const char *root[] = { c->conf.snapshot_dir, c->cpu_dir };
	char dir[CTRL_PATH + 16];

	for (size_t r = 0; r < 2; r++)
		for (size_t k = 0; k < 2; k++) {
			snprintf(dir, sizeof(dir), "%.960s/%s", root[r],
			    base[k]);
			drop_outdated(c, dir, r == 0);
			snprintf(dir, sizeof(dir), "%.960s/%s", root[r],
			    diffs[k]);
			drop_outdated_diffs(c, dir, r == 0);
		}
}

/*
 * Whether fn's diff is being made, or will be as soon as the builder is
 * free: on a base that is here, a restore and an import take seconds
 * where a cold boot takes far longer, so fn's requests wait for it.
 */
bool
ctrl_snap_diff_coming(const struct ctrl *c, int fn)
{
	char dir[CTRL_PATH];

	if (c->builder.pid > 0 && c->builder_fn == fn)
		return true;
	if (c->snap_failed[fn] || c->conf.fn[fn].nlayers > 0 ||
	    !c->conf.fn[fn].snapshots || c->draining)
		return false;
	ctrl_state_own_layer(c, -1, dir, sizeof(dir));
	if (!ctrl_state_layer_exists(dir))
		return false;
	ctrl_state_own_layer(c, fn, dir, sizeof(dir));
	return !ctrl_state_layer_exists(dir) &&
	    ctrl_state_store_absent(c, dir) && (c->builder.pid > 0 ||
	    c->used_mib + BUILDER_MIB <= c->vm_budget_mib);
}

/* What to build next: -1 the base, a function index, or -2 nothing. */
static int
next_job(const struct ctrl *c)
{
	char dir[CTRL_PATH];

	ctrl_state_own_layer(c, -1, dir, sizeof(dir));
	for (int i = 0; i < c->conf.nfuncs; i++) {
		const struct fn_conf *f = &c->conf.fn[i];

		if (!f->snapshots || f->nlayers > 0 || c->snap_failed[i])
			continue;
		if (!ctrl_state_layer_exists(dir))
			return c->snap_failed[CTRL_MAX_FUNCS] ||
			    !ctrl_state_store_absent(c, dir) ? -2 : -1;
		ctrl_state_own_layer(c, i, dir, sizeof(dir));
		if (!ctrl_state_layer_exists(dir) &&
		    ctrl_state_store_absent(c, dir))
			return i;
		ctrl_state_own_layer(c, -1, dir, sizeof(dir));
	}
	return -2;
}

static int
spawn_builder(struct ctrl *c, int job)
{
	char out[CTRL_PATH], base[CTRL_PATH];
	char layer[CTRL_PATH + 16];
	struct net_args net;
	char *argv[24], *const *run;
	int i = 0;

	ctrl_state_own_layer(c, job, out, sizeof(out));
	ctrl_state_own_layer(c, -1, base, sizeof(base));
	ctrl_cpu_mkdirs(c);
	if (job < 0) {
		argv[i++] = c->conf.vmrun;
		argv[i++] = "--kernel";
		argv[i++] = c->conf.kernel;
		argv[i++] = "--rootfs";
		argv[i++] = c->conf.rootfs;
	} else {
		argv[i++] = c->conf.snaprestore;
		argv[i++] = "--load-dir";
		argv[i++] = base;
		argv[i++] = "--rootfs";
		argv[i++] = c->conf.rootfs;
		argv[i++] = "--appfs";
		argv[i++] = c->conf.fn[job].appfs;
	}
	ctrl_cpu_argv(c, argv, &i);
	c->builder_stage[0] = '\0';
	if (c->conf.jail && ctrl_jail_stage(c, c->builder_stage,
	    sizeof(c->builder_stage)) == -1)
		return -1;
	argv[i++] = "--dump-dir";
	argv[i++] = c->conf.jail ? c->builder_stage : out;
	argv[i] = NULL;
	/* Layers with a network device serve functions with and without. */
	if (c->conf.network) {
		if (ctrl_net_attach(c, -1, false, &net, argv, &i) == -1)
			return -1;
		c->builder_tap = true;
	}
	run = ctrl_jail_argv(c, CTRL_BUILDER_SLOT, BUILDER_MIB, 1,
	    c->builder_tap, argv, &c->builder_jail);
	if (run == NULL ||
	    runproc_spawn(&c->builder, run, RUNPROC_PIPE) == -1) {
		if (c->builder_tap)
			ctrl_net_detach(c, -1);
		c->builder_tap = false;
		return -1;
	}
	runproc_close_input(&c->builder);
	ctrl_console_open(c, &c->builder_con, c->builder.pid,
	    job < 0 ? "(base)" : c->conf.fn[job].name);
	c->builder_started_ms = mono_ms();
	ctrl_log(c, "snapshot_build", 0, "\"layer\":%s,\"pid\":%d",
	    ctrl_log_jstr(layer, sizeof(layer), out),
	    (int)c->builder.pid);
	return 0;
}

void
ctrl_snap_build_next(struct ctrl *c)
{
	int job;

	if (c->builder.pid > 0 || ctrl_ws_next(c) || c->draining ||
	    c->used_mib + BUILDER_MIB > c->vm_budget_mib ||
	    (job = next_job(c)) == -2)
		return;
	c->builder_fn = job;
	if (spawn_builder(c, job) == -1) {
		c->snap_failed[job < 0 ? CTRL_MAX_FUNCS : job] = true;
		return;
	}
	c->builder_mib = BUILDER_MIB;
	c->used_mib += BUILDER_MIB;
}

void
ctrl_snap_build_output(struct ctrl *c)
{
	if (runproc_read(&c->builder) == -1 && c->builder.out_fd != -1) {
		close(c->builder.out_fd);
		c->builder.out_fd = -1;
	}
	c->builder.len = 0;	/* a builder has nothing to say on stdout */
}

void
ctrl_snap_build_console(struct ctrl *c)
{
	if (c->builder.pid > 0)
		ctrl_console_read(c, &c->builder_con, &c->builder);
}

void
ctrl_snap_build_done(struct ctrl *c, int status)
{
	int job = c->builder_fn;
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char dir[CTRL_PATH], *tail;
	size_t len;

	if (c->ws_fn != -1) {
		ctrl_ws_added(c, status);
		return;
	}
	if (job >= -1)
		ctrl_state_own_layer(c, job, dir, sizeof(dir));
	if (ok && job >= -1 && c->builder_stage[0] != '\0' &&
	    ctrl_jail_adopt(c, c->builder_stage, dir) == -1)
		ok = false;
	/* Its keeper's, if it was killed. */
	ctrl_jail_release(c, CTRL_BUILDER_SLOT, 1);

	tail = ctrl_console_finish(c, &c->builder_con, &c->builder, !ok, &len);
	if (ok)
		ctrl_log(c, "snapshot_built", 0, "\"function\":\"%s\","
		    "\"status\":0,\"ms\":%ju", job == -1 ? "(base)" : job < 0 ?
		    "(removed)" : c->conf.fn[job].name,
		    (uintmax_t)(mono_ms() - c->builder_started_ms));
	else
		ctrl_log_text(c, "snapshot_failed", 0, tail ? "console" : NULL,
		    tail, len, "\"function\":\"%s\",\"status\":%d", job == -1 ?
		    "(base)" : job < 0 ? "(removed)" : c->conf.fn[job].name,
		    runproc_exit_code(status));
	free(tail);
	if (!ok && job >= -1)
		c->snap_failed[job < 0 ? CTRL_MAX_FUNCS : job] = true;
	if (ok && job >= -1) {
		ctrl_store_upload(c, dir);
		ctrl_cache_trim(c);
	}
	runproc_release(&c->builder);
	if (c->builder_tap)
		ctrl_net_detach(c, -1);
	c->builder_tap = false;
	c->builder.pid = 0;
	c->used_mib -= c->builder_mib;
	c->builder_mib = 0;
}
