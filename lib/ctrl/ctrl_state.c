/*
 * Questions about ctrl's state that files at every level ask, answered
 * without changing anything: where ctrl's own layers are, whether a
 * layer is ready, what the snapshot store is doing with it, how many VMs
 * are in a state.  This file calls no other ctrl file, so that the
 * builder (ctrl_snap.c), the store (ctrl_store.c), the cache
 * (ctrl_cache.c) and /metrics can all ask without calling each other.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrl.h"

bool
ctrl_state_layer_exists(const char *dir)
{
	char path[CTRL_PATH + 32];
	struct stat st;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	return stat(path, &st) == 0;
}

/* Layers made with a network device (ctrl_net.c) need a tap to restore,
 * and those made without cannot have one: they go by other names, here
 * and in the store, so that the two never mix.  Both live in the CPU's
 * directory (ctrl_cpu.c), for the same reason. */
void
ctrl_state_diff_dir(const struct ctrl *c, char *out, size_t n)
{
	snprintf(out, n, "%.960s/%s", c->cpu_dir,
	    c->conf.network ? "diff-net" : "diff");
}

void
ctrl_state_own_layer(const struct ctrl *c, int fn, char *out, size_t n)
{
	char diffs[CTRL_PATH];

	if (fn < 0) {
		snprintf(out, n, "%.960s/%s", c->cpu_dir,
		    c->conf.network ? "python3-net" : "python3");
		return;
	}
	ctrl_state_diff_dir(c, diffs, sizeof(diffs));
	snprintf(out, n, "%.960s/%s", diffs, c->conf.fn[fn].name);
}

bool
ctrl_state_is_diff(const struct ctrl *c, const char *dir)
{
	char base[CTRL_PATH];

	ctrl_state_own_layer(c, -1, base, sizeof(base));
	return strcmp(dir, base) != 0;
}

bool
ctrl_state_has_store(const struct ctrl *c)
{
	return c->conf.store[0] != '\0';
}

bool
ctrl_state_store_job(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < CTRL_STORE_JOBS; i++)
		if (c->store_job[i].pid > 0 &&
		    strcmp(c->store_job[i].dir, dir) == 0)
			return true;
	return false;
}

bool
ctrl_state_fetching(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < CTRL_STORE_JOBS; i++)
		if (c->store_job[i].pid > 0 && !c->store_job[i].put &&
		    strcmp(c->store_job[i].dir, dir) == 0)
			return true;
	return false;
}

bool
ctrl_state_pager_fetching(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < CTRL_PAGERS; i++) {
		const struct pager_job *p = &c->pager[i];

		for (int k = 0; p->state != PGS_FREE && k < CTRL_PAGER_LAYERS;
		    k++)
			if (p->fetch[k] && !p->arrived[k] &&
			    strcmp(p->dir[k], dir) == 0)
				return true;
	}
	return false;
}

bool
ctrl_state_pager_uses(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < CTRL_PAGERS; i++)
		for (int k = 0; c->pager[i].state != PGS_FREE &&
		    k < CTRL_PAGER_LAYERS; k++)
			if (strcmp(c->pager[i].dir[k], dir) == 0)
				return true;
	return false;
}

bool
ctrl_state_store_absent(const struct ctrl *c, const char *dir)
{
	if (!ctrl_state_has_store(c))
		return true;
	for (int i = 0; i < c->nabsent; i++)
		if (strcmp(c->absent[i], dir) == 0)
			return true;
	return false;
}

bool
ctrl_state_upload_queued(const struct ctrl *c, const char *dir)
{
	for (int i = 0; i < c->nupload; i++)
		if (strcmp(c->upload[i], dir) == 0)
			return true;
	return false;
}

/* In place, and not a fetch still to be checked (ctrl_state_fetching). */
static bool
layer_ready(const struct ctrl *c, const char *dir)
{
	return ctrl_state_layer_exists(dir) && !ctrl_state_fetching(c, dir);
}

/* The --load-dir list of a function, if its snapshot is there. */
bool
ctrl_state_load_dirs(const struct ctrl *c, int fn, char *out, size_t n)
{
	const struct fn_conf *f = &c->conf.fn[fn];
	char base[CTRL_PATH], diff[CTRL_PATH];
	size_t len = 0;

	if (f->nlayers == 0) {
		ctrl_state_own_layer(c, -1, base, sizeof(base));
		ctrl_state_own_layer(c, fn, diff, sizeof(diff));
		if (!layer_ready(c, base) || !layer_ready(c, diff))
			return false;
		snprintf(out, n, "%s,%s", base, diff);
		return true;
	}
	out[0] = '\0';
	for (int i = 0; i < f->nlayers; i++) {
		if (!layer_ready(c, f->layer[i]))
			return false;
		len += (size_t)snprintf(out + len, len < n ? n - len : 0,
		    "%s%s", i ? "," : "", f->layer[i]);
	}
	return len < n;
}

int
ctrl_state_vm_count(const struct ctrl *c, int fn, enum vm_state st)
{
	int n = 0;

	for (int i = 0; i < CTRL_MAX_VMS; i++)
		n += c->vm[i].state == st && (fn < 0 || c->vm[i].fn == fn);
	return n;
}
