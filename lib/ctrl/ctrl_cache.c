/*
 * snapshot_dir as a cache (snapshot_cache in ctrl.yaml): when ctrl's own
 * layers take more than the limit, the least recently used go first.  A
 * layer's last use is its directory's modification time, set at every
 * restore from it, so the order survives a restart of ctrl.  Layers a VM,
 * a queued request, the builder, the store or a page server is using
 * stay; a layer named in functions.yaml is the user's and is never
 * removed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrl.h"
#include "snapmeta.h"

struct cached {
	char dir[CTRL_PATH];
	int fn;				/* -1 the base, -2 no function now */
	uint64_t bytes;
	struct timespec used;
};

#define MAX_CACHED	(CTRL_MAX_FUNCS * 2 + 1)

void
ctrl_cache_touch(struct ctrl *c, int fn)
{
	char dir[CTRL_PATH];

	ctrl_state_own_layer(c, -1, dir, sizeof(dir));
	utimensat(AT_FDCWD, dir, NULL, 0);
	ctrl_state_own_layer(c, fn, dir, sizeof(dir));
	utimensat(AT_FDCWD, dir, NULL, 0);
}

/* Space on disk, holes not counted: that is what the limit is about. */
static uint64_t
layer_bytes(const char *dir, struct timespec *mtime)
{
	uint64_t sum = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (stat(dir, &st) == -1 || (d = opendir(dir)) == NULL)
		return 0;
	*mtime = st.st_mtim;
	while ((e = readdir(d)) != NULL)
		if (fstatat(dirfd(d), e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_blocks * 512;
	closedir(d);
	return sum;
}

static void
add(struct cached *l, int *n, const char *dir, int fn)
{
	struct cached *x = &l[*n];

	if (*n == MAX_CACHED)
		return;
	snprintf(x->dir, sizeof(x->dir), "%s", dir);
	x->fn = fn;
	x->bytes = layer_bytes(dir, &x->used);
	if (x->bytes > 0)
		(*n)++;
}

/* The base, then each diff in snapshot_dir/diff, configured or not. */
static int
list_layers(const struct ctrl *c, struct cached *l)
{
	char dir[CTRL_PATH + 8], sub[CTRL_PATH * 2];
	const struct fn_conf *f;
	struct dirent *e;
	DIR *d;
	int n = 0;

	ctrl_state_own_layer(c, -1, dir, sizeof(dir));
	add(l, &n, dir, -1);
	ctrl_state_diff_dir(c, dir, sizeof(dir));
	if ((d = opendir(dir)) == NULL)
		return n;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		f = ctrlconf_find(&c->conf, e->d_name);
		add(l, &n, sub, f != NULL && f->nlayers == 0 ?
		    (int)(f - c->conf.fn) : -2);
	}
	closedir(d);
	return n;
}

/* Whether a function's VMs restore from this layer: the base serves
 * every function with ctrl's own layers, a diff only its own. */
static bool
serves(const struct ctrl *c, const struct cached *x, int fn)
{
	if (fn < 0 || !c->conf.fn[fn].snapshots || c->conf.fn[fn].nlayers > 0)
		return false;
	return x->fn == -1 || x->fn == fn;
}

static bool
in_use(struct ctrl *c, const struct cached *x)
{
	if (ctrl_state_store_job(c, x->dir) ||
	    ctrl_state_upload_queued(c, x->dir) ||
	    ctrl_state_pager_uses(c, x->dir))
		return true;
	if (c->builder.pid > 0 && (x->fn == -1 || x->fn == c->builder_fn))
		return true;
	for (int i = 0; i < CTRL_MAX_VMS; i++)
		if (c->vm[i].state != VMS_FREE && !c->vm[i].cold_boot &&
		    serves(c, x, c->vm[i].fn))
			return true;
	for (const struct request *r = c->queue; r != NULL; r = r->next)
		if (serves(c, x, r->fn))
			return true;
	return false;
}

static bool
older(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec &&
	    a->tv_nsec < b->tv_nsec);
}

void
ctrl_cache_trim(struct ctrl *c)
{
	struct cached *l;
	uint64_t total = 0, limit = c->conf.cache_mib << 20;
	char jd[CTRL_PATH + 16];
	int n;

	if (limit == 0 || (l = calloc(MAX_CACHED, sizeof(*l))) == NULL)
		return;
	n = list_layers(c, l);
	for (int i = 0; i < n; i++)
		total += l[i].bytes;
	while (total > limit) {
		struct cached *lru = NULL;

		for (int i = 0; i < n; i++)
			if (l[i].bytes > 0 && !in_use(c, &l[i]) &&
			    (lru == NULL || older(&l[i].used, &lru->used)))
				lru = &l[i];
		if (lru == NULL) {
			ctrl_log(c, "snapshot_cache_full", 0, "\"bytes\":%ju,"
			    "\"limit\":%ju", (uintmax_t)total,
			    (uintmax_t)limit);
			break;
		}
		snapmeta_remove(lru->dir);
		c->layers_evicted++;
		ctrl_log(c, "snapshot_evicted", 0, "\"layer\":%s,\"bytes\":%ju",
		    ctrl_log_jstr(jd, sizeof(jd), lru->dir),
		    (uintmax_t)lru->bytes);
		total -= lru->bytes;
		lru->bytes = 0;
	}
	free(l);
}
