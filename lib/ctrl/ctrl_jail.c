/*
 * Runners in jails (jail: in ctrl.yaml; vmjail(1)).  Slot i's runner runs
 * as uid and gid jail.uid + i, in the jail "vmI" under jail.base and, with
 * jail.cgroup, in the cgroup of that name there, limited to its guest's
 * memory and the runner's overhead.  The files it may read are exactly
 * those its command line names (kernel, drives, layers), bound read-only;
 * the devices are /dev/kvm, /dev/urandom and, for a VM with a network,
 * /dev/net/tun.  ctrl's digest cache is bound read-only too, so that a
 * jailed runner trusts what ctrl, outside, verified and hashes nothing
 * twice, while it cannot write an entry anyone else would trust.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrl.h"
#include "digest.h"
#include "jail.h"

/* Runner flags whose values are files the runner opens. */
static const char *const ctrl_jail_file_flags[] = { "--kernel", "--initrd",
	"--rootfs", "--appfs", "--drive", "--load-dir", NULL };

static void
ctrl_jail_conf(const struct ctrl *c, int slot, struct jail_conf *j, char *id,
    size_t n)
{
	memset(j, 0, sizeof(*j));
	snprintf(id, n, "vm%d", slot);
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

static bool
ctrl_jail_binds(struct ctrl_jail_args *a, char *const *run, bool tap)
{
	struct stat st;

	for (int i = 1; run[i] != NULL && run[i + 1] != NULL; i++)
		for (int f = 0; ctrl_jail_file_flags[f] != NULL; f++)
			if (strcmp(run[i], ctrl_jail_file_flags[f]) == 0 &&
			    !ctrl_jail_files(a, run[i + 1]))
				return false;
	if (!ctrl_jail_flag(a, "--dev", "/dev/kvm") ||
	    !ctrl_jail_flag(a, "--dev", "/dev/urandom") ||
	    (tap && !ctrl_jail_flag(a, "--dev", "/dev/net/tun")))
		return false;
	if (digest_cache_dir(a->cache, sizeof(a->cache)) == 0 &&
	    stat(a->cache, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* XDG_CACHE_HOME is what lies above snapvm/digest. */
		snprintf(a->cache_env, sizeof(a->cache_env), "XDG_CACHE_HOME=%.*s",
		    (int)(strlen(a->cache) - strlen("/snapvm/digest")), a->cache);
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
	snprintf(a->id, sizeof(a->id), "vm%d", slot);
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

void
ctrl_jail_start(struct ctrl *c)
{
	if (!c->conf.jail)
		return;
	ctrl_jail_cache();
	for (int i = 0; i < CTRL_MAX_VMS; i++)
		ctrl_jail_release(c, i, 1);
}
