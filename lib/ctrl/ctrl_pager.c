/*
 * Lazy restores (store_restore: lazy in ctrl.yaml, the default).  When a
 * function's own layers are missing here and the store may have them,
 * ctrl starts a page server,
 *
 *	snappager [--config FILE] --socket SOCK LAYER...
 *
 * each LAYER a local layer's directory, or STORE/LAYER=DIR for one it
 * fetches into DIR while a VM runs on it (snappager(1)).  Once it listens
 * it says where a runner loads the layers from, in one line,
 * "load-dir D1,D2", and the function's next VM is restored with
 * --page-server SOCK and that --load-dir: the guest's memory comes from
 * the page server as the guest touches it.
 *
 * One page server per function at a time: while it brings the layers,
 * the function's other requests wait, as for a download, and its VM
 * serves them as soon as it is idle; once the layers are in place, new
 * VMs restore from them as usual.  Several lazy restores of one function
 * would each fetch the same layers over the same link, the scarce thing
 * on a host that has none of them.  A page server serves its VM for as
 * long as the VM lives, and finishes its transfer when the VM ends early,
 * so that the layers end up here anyway.
 *
 * The page server is as untrusted as the store: its line must name
 * exactly the layers it was given, each local one as given, each fetched
 * one as its own directory or a hidden one beside it, with the diff on
 * the base; else it is stopped.  A temporary directory is never taken
 * for a layer: ctrl finds layers by their names only, and removes at
 * start what page servers of an earlier run left.  Whatever ends a page
 * server badly ends its VM (the runner does so itself, and ctrl makes
 * sure), fails the request on it, and counts as the store being unable
 * to give the layers until a reload, as a failed download does: the
 * function's next VMs are built here or boot cold.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctrl.h"
#include "file.h"
#include "monotime.h"
#include "snapmeta.h"

#define PAGER_DIR	".pager"	/* in snapshot_dir: a socket per job */
#define PAGER_TMP	".pager."	/* in a temporary layer's name */
#define UFFD_DEV	"/dev/userfaultfd"
#define START_MS	60000	/* from its start to its load-dir line */
#define UNUSED_MS	60000	/* ready, and no VM has taken it */
#define TERM_MS		5000	/* from SIGTERM to SIGKILL */

static const char *const outcome_name[PGO_N] = { "ok", "not_in_store",
	"corrupt", "unreachable", "failed", "stopped" };

const char *
ctrl_pager_outcome_name(int o)
{
	return o >= 0 && o < PGO_N ? outcome_name[o] : "failed";
}

/* Its function's name, for the log. */
static const char *
job_fn(const struct ctrl *c, const struct pager_job *p)
{
	return p->fn >= 0 && p->fn < c->conf.nfuncs ? c->conf.fn[p->fn].name :
	    "(removed)";
}

static void
sock_dir(const struct ctrl *c, int j, char *out, size_t n)
{
	snprintf(out, n, "%.900s/" PAGER_DIR "/%d", c->conf.snapshot_dir, j);
}

static void
sock_path(const struct ctrl *c, int j, char *out, size_t n)
{
	char dir[CTRL_PATH];

	sock_dir(c, j, dir, sizeof(dir));
	snprintf(out, n, "%s/sock", dir);
}

static bool
unprivileged_uffd(void)
{
	FILE *f = fopen("/proc/sys/vm/unprivileged_userfaultfd", "re");
	int v = 0;

	if (f == NULL)
		return false;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v == 1;
}

/* Why a runner could not have a userfaultfd here, or NULL. */
static const char *
uffd_missing(const struct ctrl *c)
{
	struct stat st;

	if (c->conf.jail)
		return stat(UFFD_DEV, &st) == -1 || !S_ISCHR(st.st_mode) ?
		    "jailed runners need " UFFD_DEV " (Linux 6.1 or later)" :
		    NULL;
	if (geteuid() == 0 || access(UFFD_DEV, R_OK | W_OK) == 0 ||
	    unprivileged_uffd())
		return NULL;
	return "runners run as ctrl's user, who can neither open " UFFD_DEV
	    " nor make a userfaultfd (vm.unprivileged_userfaultfd is 0)";
}

void
ctrl_pager_settle(struct ctrl *c)
{
	struct sockaddr_un sa;
	char sock[CTRL_PATH + 32];
	const char *why = NULL;

	sock_path(c, CTRL_PAGERS - 1, sock, sizeof(sock));
	if (!ctrl_state_has_store(c))
		why = "there is no snapshot_store";
	else if (!c->conf.store_lazy)
		why = "store_restore is download";
	else if (strlen(sock) >= sizeof(sa.sun_path))
		why = "a page server's socket, snapshot_dir/" PAGER_DIR
		    "/N/sock, would be longer than 107 bytes";
	else if (strpbrk(c->conf.snapshot_dir, ",=") != NULL)
		why = "snapshot_dir has a comma or an =, which a page server's "
		    "list of layers cannot carry";
	else
		why = uffd_missing(c);
	c->lazy_ok = why == NULL;
	snprintf(c->lazy_why, sizeof(c->lazy_why), "%s", why ? why : "");
}

void
ctrl_pager_describe(const struct ctrl *c, char *out, size_t n)
{
	if (!ctrl_state_has_store(c))
		snprintf(out, n, "store: none");
	else if (c->lazy_ok)
		snprintf(out, n, "store: %s; layers missing here are restored "
		    "lazily through %s", c->conf.store, c->conf.snappager);
	else if (!c->conf.store_lazy)
		snprintf(out, n, "store: %s; layers missing here are "
		    "downloaded first (store_restore: download)",
		    c->conf.store);
	else
		snprintf(out, n, "store: %s; layers missing here are "
		    "downloaded first: no lazy restores here, %s",
		    c->conf.store, c->lazy_why);
}

static void
unavailable(struct ctrl *c, const char *why)
{
	char jw[400], jp[400];

	c->lazy_ok = false;
	snprintf(c->lazy_why, sizeof(c->lazy_why), "%s", why);
	ctrl_log(c, "pager_unavailable", 0, "\"why\":%s,\"snappager\":%s",
	    ctrl_log_jstr(jw, sizeof(jw), why),
	    ctrl_log_jstr(jp, sizeof(jp), c->conf.snappager));
}

/* Hidden directories a page server fetches into, in dir, as an earlier
 * run left them: never layers, only in the way. */
static void
clear_temporaries(const char *dir)
{
	char path[CTRL_PATH + 300];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' ||
		    strstr(e->d_name, PAGER_TMP) == NULL ||
		    fstatat(dirfd(d), e->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		file_tmpdir_remove(path);
	}
	closedir(d);
}

void
ctrl_pager_start(struct ctrl *c)
{
	char dir[CTRL_PATH + 32];

	ctrl_pager_settle(c);
	clear_temporaries(c->cpu_dir);
	snprintf(dir, sizeof(dir), "%.960s/diff", c->cpu_dir);
	clear_temporaries(dir);
	snprintf(dir, sizeof(dir), "%.960s/diff-net", c->cpu_dir);
	clear_temporaries(dir);
	for (int j = 0; j < CTRL_PAGERS; j++) {
		sock_dir(c, j, dir, sizeof(dir));
		file_tmpdir_remove(dir);
	}
	if (ctrl_state_has_store(c) && c->conf.store_lazy && !c->lazy_ok)
		unavailable(c, c->lazy_why);
}

/* The job's socket directory, empty, searchable by a jailed runner (the
 * socket itself becomes its uid's: ctrl_pager_prepare). */
static int
make_sock_dir(const struct ctrl *c, int j)
{
	char top[CTRL_PATH + 16], dir[CTRL_PATH + 32];

	snprintf(top, sizeof(top), "%.900s/" PAGER_DIR, c->conf.snapshot_dir);
	sock_dir(c, j, dir, sizeof(dir));
	file_tmpdir_remove(dir);
	if ((mkdir(top, 0700) == -1 && errno != EEXIST) ||
	    mkdir(dir, 0755) == -1 || chmod(dir, 0755) == -1)
		return -1;
	return 0;
}

static void
job_argv(struct ctrl *c, struct pager_job *p,
    char (*spec)[2 * CTRL_PATH + 80], char **argv)
{
	char url[CTRL_PATH + 64];
	int i = 0;

	argv[i++] = c->conf.snappager;
	if (c->conf.s3snap_config[0] != '\0') {
		argv[i++] = "--config";
		argv[i++] = c->conf.s3snap_config;
	}
	argv[i++] = "--socket";
	argv[i++] = p->sock;
	for (int k = 0; k < CTRL_PAGER_LAYERS; k++) {
		ctrl_store_url(c, p->dir[k], url, sizeof(url));
		if (p->fetch[k])
			snprintf(spec[k], sizeof(spec[k]), "%s=%s", url,
			    p->dir[k]);
		else
			snprintf(spec[k], sizeof(spec[k]), "%s", p->dir[k]);
		argv[i++] = spec[k];
	}
	argv[i] = NULL;
}

static void
log_started(struct ctrl *c, const struct pager_job *p)
{
	char jf[160], fetch[2 * CTRL_PATH + 8], jl[700], js[256];

	snprintf(fetch, sizeof(fetch), "%s%s%s", p->fetch[0] ? p->dir[0] : "",
	    p->fetch[0] && p->fetch[1] ? "," : "",
	    p->fetch[1] ? p->dir[1] : "");
	ctrl_log(c, "pager_started", 0, "\"function\":%s,\"pid\":%d,"
	    "\"fetch\":%s,\"socket\":%s", ctrl_log_jstr(jf, sizeof(jf),
	    job_fn(c, p)), (int)p->proc.pid,
	    ctrl_log_jstr(jl, sizeof(jl), fetch),
	    ctrl_log_jstr(js, sizeof(js), p->sock));
}

/* A page server for fn's layers dir, those with fetch from the store. */
static int
spawn(struct ctrl *c, int fn, char (*dir)[CTRL_PATH], const bool *fetch)
{
	char spec[CTRL_PAGER_LAYERS][2 * CTRL_PATH + 80];
	char *argv[8 + CTRL_PAGER_LAYERS], why[1024];
	struct pager_job *p;
	int j = 0;

	while (j < CTRL_PAGERS && c->pager[j].state != PGS_FREE)
		j++;
	if (j == CTRL_PAGERS)
		return -1;		/* downloaded instead */
	ctrl_cpu_mkdirs(c);		/* where the layers go */
	if (make_sock_dir(c, j) == -1) {
		snprintf(why, sizeof(why), "%.900s/" PAGER_DIR ": %s",
		    c->conf.snapshot_dir, strerror(errno));
		unavailable(c, why);
		return -1;
	}
	p = &c->pager[j];
	memset(p, 0, sizeof(*p));
	sock_path(c, j, p->sock, sizeof(p->sock));
	memcpy(p->dir, dir, sizeof(p->dir));
	memcpy(p->fetch, fetch, sizeof(p->fetch));
	job_argv(c, p, spec, argv);
	if (runproc_spawn(&p->proc, argv, c->log_fd) == -1) {
		memset(p, 0, sizeof(*p));
		unavailable(c, "snappager cannot be started");
		return -1;
	}
	runproc_close_input(&p->proc);
	p->state = PGS_STARTING;
	p->fn = fn;
	p->slot = -1;
	p->end = -1;
	p->started_ms = mono_ms();
	log_started(c, p);
	return 0;
}

enum pager_place
ctrl_pager_place(struct ctrl *c, int fn, int *job)
{
	const struct fn_conf *f = &c->conf.fn[fn];
	char dir[CTRL_PAGER_LAYERS][CTRL_PATH];
	bool fetch[CTRL_PAGER_LAYERS], any = false;

	if (!c->lazy_ok || c->draining || !f->snapshots || f->nlayers > 0 ||
	    c->lazy_skip[fn])
		return PAGER_NONE;
	for (int j = 0; j < CTRL_PAGERS; j++) {
		if (c->pager[j].state == PGS_FREE || c->pager[j].fn != fn)
			continue;
		if (c->pager[j].state == PGS_STARTING)
			return PAGER_WAIT;
		if (c->pager[j].state == PGS_READY) {
			*job = j;
			return PAGER_RUN;
		}
	}
	ctrl_state_own_layer(c, -1, dir[0], sizeof(dir[0]));
	ctrl_state_own_layer(c, fn, dir[1], sizeof(dir[1]));
	for (int k = 0; k < CTRL_PAGER_LAYERS; k++) {
		if (ctrl_state_pager_fetching(c, dir[k]))
			return PAGER_WAIT;
		fetch[k] = !ctrl_state_layer_exists(dir[k]);
		/* Downloading, or not to be had: as without lazy restores. */
		if (fetch[k] && (ctrl_state_store_job(c, dir[k]) ||
		    ctrl_state_store_absent(c, dir[k])))
			return PAGER_NONE;
		any |= fetch[k];
	}
	if (!any)
		return PAGER_NONE;
	return spawn(c, fn, dir, fetch) == 0 ? PAGER_WAIT : PAGER_NONE;
}

int
ctrl_pager_prepare(struct ctrl *c, int job, int slot)
{
	uid_t id = (uid_t)(c->conf.jail_uid + (uint64_t)slot);

	/* The socket is the page server's, mode 0600: only the runner's
	 * own uid may connect to it. */
	if (c->conf.jail && chown(c->pager[job].sock, id, id) == -1)
		return -1;
	return 0;
}

void
ctrl_pager_bound(struct ctrl *c, int job, int slot)
{
	c->pager[job].state = PGS_BOUND;
	c->pager[job].slot = slot;
}

static void arrivals(struct ctrl *c, struct pager_job *p);

/* Asks p to stop (it removes its temporary directories); o is the
 * outcome it is counted with, a failure (pager_failed) or not
 * (pager_stopped), why (NULL: what o and ctrl's state say) logged. */
static void
stop(struct ctrl *c, struct pager_job *p, enum pager_outcome o,
    const char *why)
{
	char jf[160], jw[400];

	ctrl_log(c, o == PGO_FAILED ? "pager_failed" : "pager_stopped", 0,
	    "\"function\":%s,\"pid\":%d,\"why\":%s",
	    ctrl_log_jstr(jf, sizeof(jf), job_fn(c, p)), (int)p->proc.pid,
	    ctrl_log_jstr(jw, sizeof(jw), why ? why : o == PGO_OK ?
	    "its layers are in place and its VM is gone" : c->draining ?
	    "draining" : "no VM took it"));
	kill(p->proc.pid, SIGTERM);
	p->state = PGS_STOPPING;
	p->end = o;
	p->term_ms = mono_ms();
}

/* A failure ctrl found in what the page server said: stopped, and its
 * function's layers come as without lazy restores from now on. */
static void
reject(struct ctrl *c, struct pager_job *p, const char *why)
{
	if (p->fn >= 0)
		c->lazy_skip[p->fn] = true;
	stop(c, p, PGO_FAILED, why);
}

/* Whether every layer p fetches is in place. */
static bool
all_arrived(const struct pager_job *p)
{
	for (int k = 0; k < CTRL_PAGER_LAYERS; k++)
		if (p->fetch[k] && !p->arrived[k])
			return false;
	return true;
}

void
ctrl_pager_vm_gone(struct ctrl *c, int slot)
{
	for (int j = 0; j < CTRL_PAGERS; j++) {
		struct pager_job *p = &c->pager[j];

		if (p->state != PGS_BOUND || p->slot != slot)
			continue;
		p->state = PGS_DETACHED;
		p->slot = -1;
		p->term_ms = mono_ms();
		arrivals(c, p);
		/* A page server removes its socket once its runner has
		 * connected: this one's never did, and none will.  The lazy
		 * restore did not work out for the function. */
		if (access(p->sock, F_OK) == 0) {
			if (p->fn >= 0)
				c->lazy_skip[p->fn] = true;
			stop(c, p, PGO_STOPPED, "its VM ended before it "
			    "connected");
		/* Its transfer is let finish, unless ctrl is stopping; one
		 * that is done ends by itself now that its runner is gone. */
		} else if (c->draining && !all_arrived(p)) {
			stop(c, p, PGO_STOPPED, NULL);
		}
	}
}

/* e, in a load-dir line, for layer k: its own directory, or for a
 * fetched one a hidden directory beside it, ".NAME." and more. */
static bool
names_layer(const struct pager_job *p, int k, const char *e)
{
	const char *dir = p->dir[k], *name = strrchr(dir, '/') + 1;
	size_t at = (size_t)(name - dir), len = strlen(name);
	struct stat st;

	if (strcmp(e, dir) != 0 && (!p->fetch[k] ||
	    strncmp(e, dir, at) != 0 || e[at] != '.' ||
	    strncmp(e + at + 1, name, len) != 0 || e[at + 1 + len] != '.' ||
	    e[at + 2 + len] == '\0' || strchr(e + at, '/') != NULL))
		return false;
	return lstat(e, &st) == 0 && S_ISDIR(st.st_mode) &&
	    ctrl_state_layer_exists(e);
}

/* The line's directories, bottom first, into e (pointing into copy):
 * their count, or -1 past CTRL_PAGER_LAYERS. */
static int
split_dirs(char *copy, char **e)
{
	int n = 0;

	for (char *s = copy; s != NULL; ) {
		if (n == CTRL_PAGER_LAYERS)
			return -1;
		e[n++] = s;
		if ((s = strchr(s, ',')) != NULL)
			*s++ = '\0';
	}
	return n;
}

/* The load-dir line: 0 taken, -1 not one (why says how), 1 a diff on
 * another base than the one below it. */
static int
check_line(const struct pager_job *p, const char *line, char *why, size_t n)
{
	char copy[sizeof(p->load)], *e[CTRL_PAGER_LAYERS];
	struct snap_meta b, d;

	if (strncmp(line, "load-dir ", 9) != 0 ||
	    strlen(line + 9) >= sizeof(copy)) {
		snprintf(why, n, "it wrote a line that is not load-dir and its "
		    "layers' directories");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", line + 9);
	if (split_dirs(copy, e) != CTRL_PAGER_LAYERS) {
		snprintf(why, n, "its load-dir does not name %d directories",
		    CTRL_PAGER_LAYERS);
		return -1;
	}
	for (int k = 0; k < CTRL_PAGER_LAYERS; k++)
		if (!names_layer(p, k, e[k])) {
			snprintf(why, n, "its load-dir names %.200s, which is "
			    "neither the layer %.200s nor one beside it", e[k],
			    p->dir[k]);
			return -1;
		}
	if (snapmeta_read(e[0], &b) == -1 || snapmeta_read(e[1], &d) == -1) {
		snprintf(why, n, "its load-dir's directories hold no readable "
		    "layer");
		return -1;
	}
	return d.diff && strcmp(d.parent, b.id) == 0 ? 0 : 1;
}

static void
take_line(struct ctrl *c, struct pager_job *p, const char *line)
{
	char why[512], jf[160], jl[1100];
	int rc = check_line(p, line, why, sizeof(why));

	if (rc == -1) {
		reject(c, p, why);
		return;
	}
	if (rc == 1) {
		ctrl_store_misfit(c, p->dir[1]);	/* logged there */
		stop(c, p, PGO_FAILED, "the store's diff was made on another "
		    "base");
		return;
	}
	snprintf(p->load, sizeof(p->load), "%s", line + 9);
	p->state = PGS_READY;
	p->ready_ms = mono_ms();
	ctrl_log(c, "pager_ready", 0, "\"function\":%s,\"pid\":%d,\"ms\":%ju,"
	    "\"load_dir\":%s", ctrl_log_jstr(jf, sizeof(jf),
	    job_fn(c, p)), (int)p->proc.pid,
	    (uintmax_t)(p->ready_ms - p->started_ms),
	    ctrl_log_jstr(jl, sizeof(jl), p->load));
}

void
ctrl_pager_output(struct ctrl *c, struct pager_job *p)
{
	char *line;
	int eof;

	if (p->state == PGS_FREE)
		return;
	eof = runproc_read(&p->proc);
	if (p->state == PGS_STARTING && runproc_line(&p->proc, &line) == 1) {
		take_line(c, p, line);
		free(line);
	} else if (p->state == PGS_STARTING &&
	    p->proc.len > sizeof(p->load) + 16) {
		reject(c, p, "it wrote a line longer than a load-dir line");
	}
	if (p->state != PGS_STARTING)
		p->proc.len = 0;	/* nothing more it says counts */
	if (eof == -1 && p->proc.out_fd != -1) {
		close(p->proc.out_fd);
		p->proc.out_fd = -1;
	}
}

/* Layers the page server has put in place by now: fetched, as far as the
 * rest of ctrl is concerned (a base brought so is the store's base). */
static void
arrivals(struct ctrl *c, struct pager_job *p)
{
	for (int k = 0; k < CTRL_PAGER_LAYERS; k++)
		if (p->fetch[k] && !p->arrived[k] &&
		    ctrl_state_layer_exists(p->dir[k])) {
			p->arrived[k] = true;
			if (p->state != PGS_STOPPING)
				p->term_ms = mono_ms();
			ctrl_store_fetched(c, p->dir[k],
			    mono_ms() - p->started_ms);
		}
}

void
ctrl_pager_timers(struct ctrl *c)
{
	uint64_t now = mono_ms();

	for (int j = 0; j < CTRL_PAGERS; j++) {
		struct pager_job *p = &c->pager[j];

		if (p->state == PGS_FREE)
			continue;
		arrivals(c, p);
		if (p->state == PGS_STARTING && now - p->started_ms > START_MS)
			reject(c, p, "it did not say where its layers are "
			    "within 60 s");
		else if (p->state == PGS_READY && (p->fn < 0 ||
		    now - p->ready_ms > UNUSED_MS))
			stop(c, p, PGO_STOPPED, NULL);
		/* Done, and its runner gone (or never come): it has
		 * nothing left to do. */
		else if (p->state == PGS_DETACHED && all_arrived(p) &&
		    now - p->term_ms > TERM_MS)
			stop(c, p, PGO_OK, NULL);
		else if (p->state == PGS_STOPPING && now - p->term_ms > TERM_MS)
			kill(p->proc.pid, SIGKILL);
	}
}

void
ctrl_pager_drain(struct ctrl *c)
{
	for (int j = 0; j < CTRL_PAGERS; j++) {
		struct pager_job *p = &c->pager[j];

		if (p->state == PGS_STARTING || p->state == PGS_READY ||
		    (p->state == PGS_DETACHED && !all_arrived(p)))
			stop(c, p, PGO_STOPPED, NULL);
	}
}

bool
ctrl_pager_idle(const struct ctrl *c)
{
	for (int j = 0; j < CTRL_PAGERS; j++)
		if (c->pager[j].state != PGS_FREE)
			return false;
	return true;
}

static enum pager_outcome
outcome_of(int code)
{
	switch (code) {
	case 0: return PGO_OK;
	case 65: return PGO_CORRUPT;
	case 66: return PGO_NOT_IN_STORE;
	case 69: return PGO_UNREACHABLE;
	default: return PGO_FAILED;
	}
}

/* How an exit ended the page server p (not one ctrl stopped), and why
 * it failed, if it did. */
static enum pager_outcome
judge(const struct pager_job *p, int code, char *why, size_t n)
{
	why[0] = '\0';
	if (code == 0 && p->state == PGS_STARTING) {
		snprintf(why, n, "it exited before it said where its "
		    "layers are");
		return PGO_FAILED;
	}
	for (int k = 0; code == 0 && k < CTRL_PAGER_LAYERS; k++)
		if (p->fetch[k] && !p->arrived[k]) {
			snprintf(why, n, "it exited 0, but %.300s is not in "
			    "place", p->dir[k]);
			return PGO_FAILED;
		}
	if (code != 0)
		snprintf(why, n, "%s (status %d)", ctrl_store_why(code), code);
	return outcome_of(code);
}

static void
log_end(struct ctrl *c, const struct pager_job *p, int code,
    enum pager_outcome o, const char *why)
{
	char jf[160], jw[400];
	const char *fn = job_fn(c, p);

	ctrl_log(c, o == PGO_OK ? "pager_done" : o == PGO_NOT_IN_STORE ?
	    "pager_not_in_store" : "pager_failed", 0, "\"function\":%s,"
	    "\"pid\":%d,\"status\":%d,\"outcome\":\"%s\",\"ms\":%ju,"
	    "\"why\":%s", ctrl_log_jstr(jf, sizeof(jf), fn), (int)p->proc.pid,
	    code, outcome_name[o], (uintmax_t)(mono_ms() - p->started_ms),
	    ctrl_log_jstr(jw, sizeof(jw), o == PGO_OK ? "its layers are in "
	    "place" : why));
}

/* What the page server may have left: its socket, and the temporary
 * directories its line named (it removes them itself, unless killed). */
static void
job_free(struct ctrl *c, struct pager_job *p)
{
	char copy[sizeof(p->load)], *e[CTRL_PAGER_LAYERS], dir[CTRL_PATH + 32];
	int n = 0;

	snprintf(copy, sizeof(copy), "%s", p->load);
	if (p->load[0] != '\0')
		n = split_dirs(copy, e);
	for (int k = 0; k < n && k < CTRL_PAGER_LAYERS; k++)
		if (strcmp(e[k], p->dir[k]) != 0)
			file_tmpdir_remove(e[k]);
	sock_dir(c, (int)(p - c->pager), dir, sizeof(dir));
	file_tmpdir_remove(dir);
	runproc_release(&p->proc);
	memset(p, 0, sizeof(*p));
	p->proc.in_fd = p->proc.out_fd = p->proc.err_fd = -1;
}

bool
ctrl_pager_reaped(struct ctrl *c, pid_t pid, int status, int *slot,
    char *why, size_t n)
{
	struct pager_job *p = NULL;
	enum pager_outcome o;
	char reason[400];
	int code = runproc_exit_code(status);

	for (int j = 0; j < CTRL_PAGERS && p == NULL; j++)
		if (c->pager[j].state != PGS_FREE &&
		    c->pager[j].proc.pid == pid)
			p = &c->pager[j];
	if (p == NULL)
		return false;
	/* A line it wrote before it exited no longer matters: nothing
	 * listens on its socket now. */
	arrivals(c, p);
	*slot = -1;
	if (p->state == PGS_STOPPING) {
		o = p->end >= 0 ? (enum pager_outcome)p->end : PGO_STOPPED;
	} else {
		o = judge(p, code, reason, sizeof(reason));
		log_end(c, p, code, o, reason);
		/* What it did not bring comes as without lazy restores: a
		 * download, which finds out layer by layer what the store
		 * gives, or else a build here. */
		if (o != PGO_OK && p->fn >= 0)
			c->lazy_skip[p->fn] = true;
		/* The runner ends itself on its page server's failure; a
		 * runner that does not is ended here. */
		if (o != PGO_OK && p->state == PGS_BOUND) {
			*slot = p->slot;
			snprintf(why, n, "the lazy restore failed: its page "
			    "server exited with status %d (%s)", code,
			    ctrl_store_why(code));
		}
	}
	c->lazy[o]++;
	job_free(c, p);
	ctrl_cache_trim(c);
	return true;
}
