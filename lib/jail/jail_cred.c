/*
 * The runner's credentials, set last before exec, in the order the
 * kernel allows: limits and descriptors while still root, the capability
 * bounding set (which needs CAP_SETPCAP), then groups, gid and uid.  A
 * switch of every uid away from 0 empties the permitted, effective and
 * ambient sets; the inheritable set is emptied by hand, so that nothing
 * comes back at exec.  no_new_privs keeps set-user-ID files from giving
 * anything back either.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

static int
jail_cred_limit(int which, const char *name, uint64_t v)
{
	struct rlimit r = { (rlim_t)v, (rlim_t)v };

	if (setrlimit(which, &r) == -1) {
		log_warn("jail: %s %ju", name, (uintmax_t)v);
		return -1;
	}
	return 0;
}

static int
jail_cred_limits(const struct jail_conf *c)
{
	if (jail_cred_limit(RLIMIT_CORE, "RLIMIT_CORE", 0) == -1)
		return -1;
	if (c->nofile != 0 &&
	    jail_cred_limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", c->nofile) == -1)
		return -1;
	if (c->fsize != 0 &&
	    jail_cred_limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", c->fsize) == -1)
		return -1;
	return 0;
}

static int
jail_cred_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Every descriptor above 2 but those kept: the gaps between them closed
 * in ranges. */
static int
jail_cred_fds(const struct jail_conf *c)
{
	int keep[JAIL_MAX_FDS + 1], n = c->nkeep;
	unsigned int from = 3;

	memcpy(keep, c->keep, sizeof(int) * (size_t)n);
	qsort(keep, (size_t)n, sizeof(int), jail_cred_cmp);
	keep[n] = -1;
	for (int i = 0; i <= n; i++) {
		unsigned int to = keep[i] == -1 ? ~0U : (unsigned int)keep[i] - 1;

		if (keep[i] != -1 && (unsigned int)keep[i] < from)
			continue;
		if (to >= from && syscall(SYS_close_range, from, to, 0) == -1) {
			log_warn("jail: close_range");
			return -1;
		}
		from = keep[i] == -1 ? from : (unsigned int)keep[i] + 1;
	}
	return 0;
}

static int
jail_cred_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 && errno != EINVAL) {
			log_warn("jail: dropping capability %d", cap);
			return -1;
		}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 ||
	    syscall(SYS_capget, &h, d) == -1) {
		log_warn("jail: capabilities");
		return -1;
	}
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) == -1) {
		log_warn("jail: capabilities");
		return -1;
	}
	return 0;
}

static int
jail_cred_user(const struct jail_conf *c)
{
	if (setgroups(0, NULL) == -1 || setresgid(c->gid, c->gid, c->gid) == -1 ||
	    setresuid(c->uid, c->uid, c->uid) == -1) {
		log_warn("jail: uid %ld gid %ld", (long)c->uid, (long)c->gid);
		return -1;
	}
	return 0;
}

int
jail_cred_drop(const struct jail_conf *c)
{
	if (jail_cred_limits(c) == -1 || jail_cred_fds(c) == -1 ||
	    jail_cred_caps() == -1 || jail_cred_user(c) == -1)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("jail: no_new_privs");
		return -1;
	}
	return 0;
}
