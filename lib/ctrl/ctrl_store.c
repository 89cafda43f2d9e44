/*
 * Remote snapshots (snapshot_store in ctrl.yaml).  ctrl's own layers,
 * CPU/python3/ and CPU/diff/NAME/ in snapshot_dir (CPU the directory of
 * ctrl_cpu.c, cpu-TEMPLATE-WORKAROUNDS), mirror STORE/CPU/python3 and
 * STORE/CPU/diff/NAME: layers of other CPU settings never meet.  A
 * request whose layers are missing waits while s3snap(1) fetches them,
 * one download per layer however many requests wait for it; a layer the
 * store cannot give is built here instead (ctrl_snap.c) and uploaded when
 * done.  With lazy restores (ctrl_pager.c) a page server brings the
 * layers instead, while a VM runs on them; a layer it is bringing is
 * waited for here as a download would be.  s3snap runs as a child like
 * the runners, so a slow or dead store never blocks the loop, and any
 * failure of the store only sends ctrl back to what it does without one.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ctrl.h"
#include "monotime.h"
#include "snapmeta.h"

static void
mark_absent(struct ctrl *c, const char *dir)
{
	if (ctrl_state_store_absent(c, dir) || c->nabsent == CTRL_MAX_FUNCS + 1)
		return;
	snprintf(c->absent[c->nabsent++], CTRL_PATH, "%s", dir);
}

/* A layer's URL: the store, then its path below snapshot_dir. */
void
ctrl_store_url(const struct ctrl *c, const char *dir, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", c->conf.store,
	    dir + strlen(c->conf.snapshot_dir) + 1);
}

/* 0 started, 1 no free slot yet, -1 s3snap cannot be run. */
static int
spawn_job(struct ctrl *c, const char *dir, bool put)
{
	struct store_job *j = NULL;
	char url[CTRL_PATH + 64], ju[sizeof(url) + 16], jd[CTRL_PATH + 16];
	char *argv[8];
	int i = 0;

	for (int k = 0; k < CTRL_STORE_JOBS && j == NULL; k++)
		if (c->store_job[k].pid <= 0)
			j = &c->store_job[k];
	if (j == NULL)
		return 1;
	ctrl_store_url(c, dir, url, sizeof(url));
	ctrl_cpu_mkdirs(c);		/* s3snap makes only the layer */
	argv[i++] = c->conf.s3snap;
	if (c->conf.s3snap_config[0] != '\0') {
		argv[i++] = "--config";
		argv[i++] = c->conf.s3snap_config;
	}
	argv[i++] = put ? "put" : "get";
	argv[i++] = put ? (char *)dir : url;
	argv[i++] = put ? url : (char *)dir;
	argv[i] = NULL;
	if ((j->pid = runproc_spawn_quiet(argv, c->log_fd)) == -1) {
		j->pid = 0;
		ctrl_log(c, "store_spawn_failed", 0, "\"s3snap\":%s,\"why\":"
		    "\"s3snap cannot be started\"",
		    ctrl_log_jstr(jd, sizeof(jd), c->conf.s3snap));
		return -1;
	}
	j->put = put;
	j->started_ms = mono_ms();
	snprintf(j->dir, sizeof(j->dir), "%s", dir);
	ctrl_log(c, put ? "snapshot_upload" : "snapshot_fetch", 0,
	    "\"layer\":%s,\"url\":%s,\"pid\":%d",
	    ctrl_log_jstr(jd, sizeof(jd), dir),
	    ctrl_log_jstr(ju, sizeof(ju), url), (int)j->pid);
	return 0;
}

/*
 * Starts fetching what fn's restore needs and is not here; true while a
 * request of fn should wait for that rather than boot cold.  A diff is
 * only worth fetching on the store's base, so with a base built here
 * (absent from the store) the diff is built here too.
 */
bool
ctrl_store_fetch(struct ctrl *c, int fn)
{
	const struct fn_conf *f = &c->conf.fn[fn];
	char dir[2][CTRL_PATH];
	bool wait = false;

	if (!ctrl_state_has_store(c) || !f->snapshots || f->nlayers > 0 ||
	    c->draining)
		return false;
	ctrl_state_own_layer(c, -1, dir[0], sizeof(dir[0]));
	ctrl_state_own_layer(c, fn, dir[1], sizeof(dir[1]));
	for (int i = 0; i < 2; i++) {
		if (ctrl_state_fetching(c, dir[i]))
			wait = true;	/* even once it is in place */
		else if (ctrl_state_layer_exists(dir[i]))
			continue;
		else if (ctrl_state_store_job(c, dir[i]) ||
		    ctrl_state_pager_fetching(c, dir[i]))
			wait = true;
		else if (i == 1 && !ctrl_state_layer_exists(dir[0]) && !wait)
			break;			/* the base is being built */
		else if (!ctrl_state_store_absent(c, dir[i]))
			wait |= spawn_job(c, dir[i], false) >= 0 ||
			    (mark_absent(c, dir[i]), false);
	}
	return wait;
}

/* The base the store holds is the one here: diffs made on it may go up. */
static void
note_base(struct ctrl *c, const char *dir)
{
	char base[CTRL_PATH];
	struct snap_meta m;

	ctrl_state_own_layer(c, -1, base, sizeof(base));
	if (strcmp(dir, base) == 0 && snapmeta_read(base, &m) == 0)
		snprintf(c->store_base_id, sizeof(c->store_base_id), "%s",
		    m.id);
}

/* A diff fetched for a base it was not made on is of no use here; with
 * the base still on its way, it is judged when the base arrives. */
static bool
fits_base(struct ctrl *c, const char *dir)
{
	char base[CTRL_PATH];
	struct snap_meta b, d;

	ctrl_state_own_layer(c, -1, base, sizeof(base));
	if (strcmp(dir, base) == 0 || (!ctrl_state_layer_exists(base) &&
	    (ctrl_state_store_job(c, base) ||
	    ctrl_state_pager_fetching(c, base))))
		return true;
	return snapmeta_read(base, &b) == 0 && snapmeta_read(dir, &d) == 0 &&
	    strcmp(d.parent, b.id) == 0;
}

void
ctrl_store_misfit(struct ctrl *c, const char *dir)
{
	char jd[CTRL_PATH + 16];

	c->fetched[STORE_FAILED]++;
	snapmeta_remove(dir);
	mark_absent(c, dir);
	ctrl_log(c, "snapshot_fetch_failed", 0, "\"layer\":%s,\"why\":\"the "
	    "store's layer was made on another base; building it here\"",
	    ctrl_log_jstr(jd, sizeof(jd), dir));
}

/* The base arrived: the diffs fetched while it was on its way must fit. */
static void
check_diffs(struct ctrl *c)
{
	char dir[CTRL_PATH];

	for (int i = 0; i < c->conf.nfuncs; i++) {
		ctrl_state_own_layer(c, i, dir, sizeof(dir));
		if (c->conf.fn[i].nlayers == 0 &&
		    ctrl_state_layer_exists(dir) &&
		    !ctrl_state_store_job(c, dir) && !fits_base(c, dir))
			ctrl_store_misfit(c, dir);
	}
}

const char *
ctrl_store_why(int code)
{
	switch (code) {
	case 64: return "the store's configuration is incomplete";
	case 65: return "a corrupt or unverifiable object";
	case 66: return "not in the store";
	case 69: return "the store is unreachable or failing";
	case 70: return "an internal error";
	case 71: case 72: return "a system error";
	case 73: return "the local layer could not be created";
	case 74: return "a local I/O error";
	case 75: return "interrupted";
	case 76: return "a protocol error with its runner";
	case 77: return "the store refused the credentials";
	case 78: return "the store's configuration is wrong";
	default: return "the transfer failed";
	}
}

void
ctrl_store_fetched(struct ctrl *c, const char *dir, uint64_t ms)
{
	char jd[CTRL_PATH + 16];

	if (!fits_base(c, dir)) {
		ctrl_store_misfit(c, dir);
		return;
	}
	c->fetched[STORE_OK]++;
	ctrl_log(c, "snapshot_fetched", 0, "\"layer\":%s,\"ms\":%ju",
	    ctrl_log_jstr(jd, sizeof(jd), dir), (uintmax_t)ms);
	note_base(c, dir);
	if (!ctrl_state_is_diff(c, dir))
		check_diffs(c);
}

static void
fetched(struct ctrl *c, struct store_job *j, int code, uint64_t ms)
{
	char jd[CTRL_PATH + 16];

	if (code == 0) {
		ctrl_store_fetched(c, j->dir, ms);
		return;
	}
	mark_absent(c, j->dir);
	c->fetched[code == 66 ? STORE_ABSENT : STORE_FAILED]++;
	ctrl_log(c, code == 66 ? "snapshot_not_in_store" :
	    "snapshot_fetch_failed", 0, "\"layer\":%s,\"status\":%d,\"why\":"
	    "\"%s; using local snapshots or cold boots\"",
	    ctrl_log_jstr(jd, sizeof(jd), j->dir), code, ctrl_store_why(code));
}

static void
uploaded(struct ctrl *c, struct store_job *j, int code, uint64_t ms)
{
	char jd[CTRL_PATH + 16];

	c->uploaded[code == 0 ? 0 : 1]++;
	if (code == 0) {
		ctrl_log(c, "snapshot_uploaded", 0, "\"layer\":%s,\"ms\":%ju",
		    ctrl_log_jstr(jd, sizeof(jd), j->dir), (uintmax_t)ms);
		note_base(c, j->dir);
	} else {
		ctrl_log(c, "snapshot_upload_failed", 0, "\"layer\":%s,"
		    "\"status\":%d,\"why\":\"upload failed: %s; the layer "
		    "stays local\"",
		    ctrl_log_jstr(jd, sizeof(jd), j->dir), code,
		    ctrl_store_why(code));
		c->store_base_failed |= !ctrl_state_is_diff(c, j->dir);
	}
}

/* true if pid was one of the store's children. */
bool
ctrl_store_reaped(struct ctrl *c, pid_t pid, int status)
{
	for (int i = 0; i < CTRL_STORE_JOBS; i++) {
		struct store_job *j = &c->store_job[i];
		uint64_t ms = mono_ms() - j->started_ms;

		if (j->pid != pid)
			continue;
		j->pid = 0;
		if (j->put)
			uploaded(c, j, runproc_exit_code(status), ms);
		else
			fetched(c, j, runproc_exit_code(status), ms);
		ctrl_cache_trim(c);
		return true;
	}
	return false;
}

/* A layer made here goes to the store once the base under it is there:
 * a diff on a base other hosts cannot fetch would be of no use to them. */
void
ctrl_store_upload(struct ctrl *c, const char *dir)
{
	if (!ctrl_state_has_store(c) || c->nupload == CTRL_MAX_FUNCS + 1 ||
	    ctrl_state_upload_queued(c, dir))
		return;
	snprintf(c->upload[c->nupload++], CTRL_PATH, "%s", dir);
}

static bool
upload_ready(struct ctrl *c, const char *dir, bool *drop)
{
	char base[CTRL_PATH];
	struct snap_meta d;

	ctrl_state_own_layer(c, -1, base, sizeof(base));
	*drop = !ctrl_state_layer_exists(dir);
	if (*drop || strcmp(dir, base) == 0)
		return !*drop;
	if (ctrl_state_store_job(c, base) || ctrl_state_upload_queued(c, base))
		return false;			/* the base is on its way */
	if (c->store_base_id[0] == '\0' && !c->store_base_failed &&
	    ctrl_state_layer_exists(base)) {
		ctrl_store_upload(c, base);	/* made by an earlier ctrl */
		return false;
	}
	*drop = snapmeta_read(dir, &d) == -1 ||
	    strcmp(d.parent, c->store_base_id) != 0;
	return !*drop;
}

/* Each turn: the uploads whose time has come. */
void
ctrl_store_next(struct ctrl *c)
{
	char jd[CTRL_PATH + 16];
	bool drop;

	for (int i = 0; i < c->nupload; ) {
		if (!upload_ready(c, c->upload[i], &drop) && !drop) {
			i++;
			continue;
		}
		if (drop)
			ctrl_log(c, "snapshot_upload_skipped", 0,
			    "\"layer\":%s,"
			    "\"why\":\"its base is not in the store\"",
			    ctrl_log_jstr(jd, sizeof(jd), c->upload[i]));
		else if (spawn_job(c, c->upload[i], true) == 1)
			break;			/* no free slot: next turn */
		memmove(c->upload[i], c->upload[i + 1],
		    (size_t)(c->nupload - i - 1) * sizeof(c->upload[0]));
		c->nupload--;
	}
}

/* Draining: fetches are of no more use; uploads are let finish. */
void
ctrl_store_drain(struct ctrl *c)
{
	for (int i = 0; i < CTRL_STORE_JOBS; i++)
		if (c->store_job[i].pid > 0 && !c->store_job[i].put)
			kill(c->store_job[i].pid, SIGTERM);
}

bool
ctrl_store_idle(const struct ctrl *c)
{
	if (c->nupload > 0)
		return false;
	for (int i = 0; i < CTRL_STORE_JOBS; i++)
		if (c->store_job[i].pid > 0)
			return false;
	return true;
}
