/*
 * Runners in jails (jail: in ctrl.yaml; vmjail(1)).  Slot i's runner runs
 * as uid and gid jail.uid + i, in the jail "vmI" under jail.base and, with
 * jail.cgroup, in the cgroup of that name there, limited to its guest's
 * memory and the runner's overhead.  The files it may read are exactly
 * those its command line names (kernel, drives, layers, a CPU template
 * file, a lazy restore's page-server socket's directory), bound
 * read-only; the devices are /dev/kvm, /dev/urandom, for a VM with a
 * network /dev/net/tun, and for a lazy restore /dev/userfaultfd.  ctrl's
 * digest cache is bound read-only too, so that a jailed runner trusts
 * what ctrl, outside, verified and hashes nothing twice, while it cannot
 * write an entry anyone else would trust.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrl.h"
#include "digest.h"
#include "jail.h"
#include "log.h"
#include "snapmeta.h"

/* Runner flags whose values are files the runner opens. */
static const char *const ctrl_jail_file_flags[] = { "--kernel", "--initrd",
	"--rootfs", "--appfs", "--drive", "--load-dir", NULL };

/* The jail's name: "vmI" for slot I, "build" for the builder's. */
static void
ctrl_jail_id(int slot, char *id, size_t n)
{
	if (slot == CTRL_BUILDER_SLOT)
		snprintf(id, n, "build");
	else
		snprintf(id, n, "vm%d", slot);
}

static void
ctrl_jail_conf(const struct ctrl *c, int slot, struct jail_conf *j, char *id,
    size_t n)
{
	memset(j, 0, sizeof(*j));
	ctrl_jail_id(slot, id, n);
	j->id = id;
	j->base = c->conf.jail_base;
	j->cgroup = c->conf.jail_cgroup[0] ? c->conf.jail_cgroup : NULL;
}

static bool
ctrl_jail_add(struct ctrl_jail_args *a, const char *s)
{
	if (a->argc >= CTRL_JAIL_ARGV - 1)
		return false;
	a->argv[a->argc++] = (char *)s;
	return true;
}

static bool
ctrl_jail_flag(struct ctrl_jail_args *a, const char *flag, const char *v)
{
	return ctrl_jail_add(a, flag) && ctrl_jail_add(a, v);
}

/* A copy of a file flag's value, split at commas (--load-dir). */
static bool
ctrl_jail_files(struct ctrl_jail_args *a, const char *value)
{
	size_t len = strlen(value) + 1;
	char *p = a->files + a->files_len;

	if (a->files_len + len > sizeof(a->files))
		return false;
	memcpy(p, value, len);
	a->files_len += len;
	for (char *s = p, *e; s != NULL; s = e) {
		if ((e = strchr(s, ',')) != NULL)
			*e++ = '\0';
		if (*s != '\0' && !ctrl_jail_flag(a, "--ro", s))
			return false;
	}
	return true;
}

/* The directory a file is in, bound with flag: --dump-dir's and
 * --record-workset's, where the file is written (a temporary name there,
 * then a rename), the builder's staging directory or the slot's,
 * read-write; --page-server's, where its socket is, read-only (a socket
 * is connected to, not written, and its file is the runner's uid's). */
static bool
ctrl_jail_dir_of(struct ctrl_jail_args *a, const char *value,
    const char *flag)
{
	size_t len = strlen(value) + 1;
	char *p = a->files + a->files_len, *slash;

	if (a->files_len + len > sizeof(a->files))
		return false;
	memcpy(p, value, len);
	a->files_len += len;
	if ((slash = strrchr(p, '/')) == NULL || slash == p)
		return false;
	*slash = '\0';
	return ctrl_jail_flag(a, flag, p);
}

static bool
ctrl_jail_binds(struct ctrl_jail_args *a, char *const *run, bool tap)
{
	struct stat st;

	for (int i = 1; run[i] != NULL && run[i + 1] != NULL; i++) {
		if (strcmp(run[i], "--dump-dir") == 0 &&
		    !ctrl_jail_dir_of(a, run[i + 1], "--rw"))
			return false;
		/* Its slot's directory, and its own /proc/self/pagemap. */
		if (strcmp(run[i], "--record-workset") == 0 &&
		    (!ctrl_jail_dir_of(a, run[i + 1], "--rw") ||
		    !ctrl_jail_add(a, "--proc")))
			return false;
		/* A lazy restore: its page server's socket, and a node to
		 * make its guest memory's userfaultfd with, the runner's
		 * own as /dev/kvm is (the system call is root's). */
		if (strcmp(run[i], "--page-server") == 0 &&
		    (!ctrl_jail_dir_of(a, run[i + 1], "--ro") ||
		    !ctrl_jail_flag(a, "--dev", "/dev/userfaultfd")))
			return false;
		/* A template file, whole (a comma is no separator here); a
		 * built-in's name is no file. */
		if (strcmp(run[i], "--cpu-template") == 0 &&
		    run[i + 1][0] == '/' &&
		    !ctrl_jail_flag(a, "--ro", run[i + 1]))
			return false;
		for (int f = 0; ctrl_jail_file_flags[f] != NULL; f++)
			if (strcmp(run[i], ctrl_jail_file_flags[f]) == 0 &&
			    !ctrl_jail_files(a, run[i + 1]))
				return false;
	}
	if (!ctrl_jail_flag(a, "--dev", "/dev/kvm") ||
	    !ctrl_jail_flag(a, "--dev", "/dev/urandom") ||
	    (tap && !ctrl_jail_flag(a, "--dev", "/dev/net/tun")))
		return false;
	if (digest_cache_dir(a->cache, sizeof(a->cache)) == 0 &&
	    stat(a->cache, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* XDG_CACHE_HOME is what lies above snapvm/digest. */
		snprintf(a->cache_env, sizeof(a->cache_env),
		    "XDG_CACHE_HOME=%.*s",
		    (int)(strlen(a->cache) - strlen("/snapvm/digest")),
		    a->cache);
		if (!ctrl_jail_flag(a, "--ro", a->cache) ||
		    !ctrl_jail_flag(a, "--env", a->cache_env))
			return false;
	}
	return true;
}

static bool
ctrl_jail_limits(const struct ctrl *c, struct ctrl_jail_args *a,
    uint64_t mem_mib, int vcpus)
{
	snprintf(a->mem, sizeof(a->mem), "%juM",
	    (uintmax_t)(mem_mib + c->conf.jail_overhead_mib));
	snprintf(a->pids, sizeof(a->pids), "%d", 64 + vcpus);
	snprintf(a->weight, sizeof(a->weight), "%d",
	    vcpus < 100 ? 100 * vcpus : 10000);
	return ctrl_jail_flag(a, "--cgroup", c->conf.jail_cgroup) &&
	    ctrl_jail_flag(a, "--memory-max", a->mem) &&
	    ctrl_jail_flag(a, "--pids-max", a->pids) &&
	    ctrl_jail_flag(a, "--cpu-weight", a->weight);
}

char *const *
ctrl_jail_argv(struct ctrl *c, int slot, uint64_t mem_mib, int vcpus,
    bool tap, char *const *run, struct ctrl_jail_args *a)
{
	bool ok;

	if (!c->conf.jail)
		return run;
	a->argc = 0;
	a->files_len = 0;
	ctrl_jail_id(slot, a->id, sizeof(a->id));
	snprintf(a->uid, sizeof(a->uid), "%ju",
	    (uintmax_t)(c->conf.jail_uid + (uint64_t)slot));
	ok = ctrl_jail_add(a, c->conf.vmjail) && ctrl_jail_add(a, "-q") &&
	    ctrl_jail_flag(a, "--id", a->id) &&
	    ctrl_jail_flag(a, "--uid", a->uid) &&
	    ctrl_jail_flag(a, "--gid", a->uid) &&
	    ctrl_jail_flag(a, "--base", c->conf.jail_base) &&
	    ctrl_jail_flag(a, "--fsize", "64M") &&
	    (c->conf.jail_cgroup[0] == '\0' ||
	    ctrl_jail_limits(c, a, mem_mib, vcpus)) &&
	    ctrl_jail_binds(a, run, tap) && ctrl_jail_add(a, "--");
	for (int i = 0; ok && run[i] != NULL; i++)
		ok = ctrl_jail_add(a, run[i]);
	if (!ok) {
		errno = E2BIG;
		return NULL;
	}
	a->argv[a->argc] = NULL;
	return a->argv;
}

int
ctrl_jail_release(struct ctrl *c, int slot, int tries)
{
	struct jail_conf j;
	char id[16];

	if (!c->conf.jail)
		return 0;
	ctrl_jail_conf(c, slot, &j, id, sizeof(id));
	return jail_remove(&j, tries);
}

/* The digest cache readable by the runners' uids (digests are no
 * secret; only ctrl and its builders, outside the jails, write it). */
static void
ctrl_jail_cache(void)
{
	char dir[CTRL_PATH], *slash;

	if (digest_cache_dir(dir, sizeof(dir)) == -1)
		return;
	for (int i = 0; i < 2; i++) {	/* .../snapvm, then .../digest */
		slash = strrchr(dir, '/');
		if (i == 0 && slash != NULL) {
			*slash = '\0';
			mkdir(dir, 0755);
			*slash = '/';
		} else {
			mkdir(dir, 0755);
		}
	}
	chmod(dir, 0755);
}

/* BASE and the directories above it, as mkdir -p would. */
static int
ctrl_jail_base(const char *base)
{
	char path[CTRL_PATH];

	snprintf(path, sizeof(path), "%s", base);
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char was = *p;

		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			log_warn("jail: base: %s", path);
			return -1;
		}
		if ((*p = was) == '\0')
			return 0;
	}
}

int
ctrl_jail_start(struct ctrl *c)
{
	if (!c->conf.jail)
		return 0;
	if (ctrl_jail_base(c->conf.jail_base) == -1 ||
	    (c->conf.jail_delegated &&
	    jail_cgroup_leave(c->conf.jail_cgroup, "ctrl") == -1))
		return -1;
	ctrl_jail_cache();
	c->oom_seen = ctrl_jail_oom_kills(c);
	for (int i = 0; i <= CTRL_BUILDER_SLOT; i++)
		ctrl_jail_release(c, i, 1);
	return 0;
}

/* What an earlier build left in the staging directory: layers and their
 * temporary directories, nothing else is ever written there. */
static void
ctrl_jail_stage_clear(const char *stage)
{
	char path[CTRL_PATH + 300];
	struct dirent *e;
	DIR *d = opendir(stage);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", stage, e->d_name);
		lchown(path, geteuid(), getegid());	/* to empty it */
		snapmeta_remove(path);
	}
	closedir(d);
}

int
ctrl_jail_stage(struct ctrl *c, char *layer, size_t n)
{
	char stage[CTRL_PATH];
	uid_t id = (uid_t)(c->conf.jail_uid + CTRL_BUILDER_SLOT);

	/* ctrl's own again before it empties it: ctrl needs no
	 * CAP_DAC_OVERRIDE nor CAP_FOWNER, only CAP_CHOWN. */
	snprintf(stage, sizeof(stage), "%.900s/.build", c->conf.snapshot_dir);
	if ((mkdir(stage, 0755) == -1 && errno != EEXIST) ||
	    lchown(stage, geteuid(), getegid()) == -1 ||
	    chmod(stage, 0755) == -1) {
		log_warn("%s", stage);
		return -1;
	}
	ctrl_jail_stage_clear(stage);
	if (chown(stage, id, id) == -1) {
		log_warn("%s", stage);
		return -1;
	}
	snprintf(layer, n, "%s/layer", stage);
	return 0;
}

/* A file the builder wrote, given to ctrl's user: a plain file with one
 * link (not a link to a file the builder could see), of the builder's uid. */
static int
ctrl_jail_own(const char *path, uid_t builder, bool dir)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT && !dir ? 0 : -1;
	if ((dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1) || st.st_uid != builder) {
		log_warnx("%s: not a %s the builder made", path,
		    dir ? "directory" : "plain file");
		return -1;
	}
	return lchown(path, geteuid(), getegid());
}

int
ctrl_jail_adopt(struct ctrl *c, const char *staged, const char *out)
{
	uid_t builder = (uid_t)(c->conf.jail_uid + CTRL_BUILDER_SLOT);
	char path[CTRL_PATH + 32], *slash;
	struct snap_meta m;
	int rc = ctrl_jail_own(staged, builder, true);

	/* The staging directory, to rename out of it. */
	snprintf(path, sizeof(path), "%s", staged);
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		if (lchown(path, geteuid(), getegid()) == -1)
			rc = -1;
	}

	snprintf(path, sizeof(path), "%s/manifest.json", staged);
	rc = rc == 0 ? ctrl_jail_own(path, builder, false) : -1;
	for (int i = 0; rc == 0 && i < SNAP_NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", staged,
		    snap_file_name[i]);
		rc = ctrl_jail_own(path, builder, false);
	}
	if (rc == -1 || snapmeta_read(staged, &m) == -1 ||
	    rename(staged, out) == -1) {
		log_warnx("%s: the built layer is not taken", staged);
		snapmeta_remove(staged);
		return -1;
	}
	/* The builder hashed what it wrote and can no longer touch it: its
	 * digests go into the cache, keyed by the files' identity as they
	 * are now, so that the first restore does not hash them again. */
	for (int i = 0; i < SNAP_NFILES; i++)
		if (m.file[i].present) {
			snprintf(path, sizeof(path), "%s/%s", out,
			    snap_file_name[i]);
			digest_cache_put(path, m.file[i].sha256);
		}
	return 0;
}

uint64_t
ctrl_jail_memory_current(const struct ctrl *c, int slot)
{
	char dir[CTRL_PATH + 32], id[16];

	if (!c->conf.jail || c->conf.jail_cgroup[0] == '\0')
		return 0;
	ctrl_jail_id(slot, id, sizeof(id));
	snprintf(dir, sizeof(dir), "%s/%s", c->conf.jail_cgroup, id);
	return jail_cgroup_number(dir, "memory.current", NULL);
}

uint64_t
ctrl_jail_oom_kills(const struct ctrl *c)
{
	if (!c->conf.jail || c->conf.jail_cgroup[0] == '\0')
		return 0;
	return jail_cgroup_number(c->conf.jail_cgroup, "memory.events",
	    "oom_kill");
}
