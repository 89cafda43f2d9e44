/*
 * Stacks of layers: the checks that join the manifests of a stack, and
 * the one step that puts a finished layer in place.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "file.h"
#include "log.h"
#include "snapstack.h"

/* A diff was made on a VM restored from the layers below, with the very
 * drives they record, but for the app drive of a layer taken at the
 * runtime point (no app was open yet). */
static int
check_drives(char *const *dir, const struct snap_meta *ms, int i)
{
	const struct snap_meta *m = &ms[i], *below = &ms[i - 1];

	for (int d = 0; d < m->ndrives; d++) {
		const struct snap_drive *a = &m->drive[d], *b = &below->drive[d];

		if (d == 1 && strcmp(below->point, "runtime") == 0)
			continue;
		if (a->size != b->size || a->read_only != b->read_only ||
		    strcmp(a->sha256, b->sha256) != 0) {
			log_warnx("%s: drive %d is not the one of %s, the layer "
			    "it was made on", dir[i], d, dir[i - 1]);
			return -1;
		}
	}
	return 0;
}

/* A diff has its base's CPU template, when the layer below records one
 * (a layer of format 3 does not). */
static int
check_cpu(char *const *dir, const struct snap_meta *ms, int i)
{
	const struct snap_meta *m = &ms[i], *below = &ms[i - 1];

	if (!below->cpu.present)
		return 0;
	if (!m->cpu.present || strcmp(m->cpu.template_name,
	    below->cpu.template_name) != 0) {
		log_warnx("%s: CPU template %s, but the layer below (%s) has "
		    "%s: a diff has its base's CPU", dir[i], m->cpu.present ?
		    m->cpu.template_name : "(none recorded)", dir[i - 1],
		    below->cpu.template_name);
		return -1;
	}
	return 0;
}

int
snapstack_check(char *const *dir, const struct snap_meta *ms, int n)
{
	for (int i = 0; i < n; i++) {
		const struct snap_meta *m = &ms[i], *below = &ms[i ? i - 1 : 0];

		if (i == 0 && m->diff) {
			log_warnx("%s: a diff snapshot cannot be the bottom layer; "
			    "give its base first", dir[0]);
			return -1;
		}
		if (i > 0 && !m->diff) {
			log_warnx("%s: a full snapshot can only be the first layer",
			    dir[i]);
			return -1;
		}
		if (i > 0 && strcmp(m->parent, below->id) != 0) {
			log_warnx("%s: this diff was made on layer %.12s, not on %s "
			    "(layer %.12s)", dir[i], m->parent, dir[i - 1],
			    below->id);
			return -1;
		}
		if (m->mem_mib != ms[0].mem_mib || m->vcpus != ms[0].vcpus ||
		    m->ndrives != ms[0].ndrives || m->vsock != ms[0].vsock ||
		    m->cid != ms[0].cid) {
			log_warnx("%s: machine differs from %s's", dir[i],
			    dir[0]);
			return -1;
		}
		if (i > 0 && check_cpu(dir, ms, i) == -1)
			return -1;
		if (strcmp(m->id, m->file[SNAP_STATE].sha256) != 0) {
			log_warnx("%s: id is not the state file's SHA-256", dir[i]);
			return -1;
		}
		if (i > 0 && check_drives(dir, ms, i) == -1)
			return -1;
	}
	return 0;
}

/* An older layer under the name is swapped out atomically and removed
 * afterwards. */
int
snapstack_publish(const char *tmp, const char *dir)
{
	char parent[4096], *slash;

	if (file_rename_noreplace(tmp, dir) == 0 ||
	    ((errno == EEXIST || errno == ENOTEMPTY) &&
	    file_rename_exchange(tmp, dir) == 0)) {
		snapmeta_remove(tmp);	/* the old layer, if any, is here now */
		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (slash != NULL)
			*slash = '\0';
		return file_sync_dir(slash ? parent : ".");
	}
	log_warn("rename %s to %s", tmp, dir);
	return -1;
}
