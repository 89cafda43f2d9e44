/*
 * A jail for one runner (vmjail(1)): its own mount, PID, IPC and UTS
 * namespaces whose root is a small read-only tmpfs at BASE/ID holding
 * exactly the files bound into it; an unprivileged uid and gid, no
 * capabilities, no_new_privs, an empty environment, no file descriptors
 * but those passed on, resource limits; optionally a cgroup v2 of its
 * own under a delegated parent.  And, loaded by the runner itself, a
 * seccomp filter per thread.  One header, a section per file.
 */
#ifndef SNAPVM_JAIL_H
#define SNAPVM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_MAX_BINDS	64
#define JAIL_MAX_FDS	16
#define JAIL_MAX_ENV	16
#define JAIL_ID_MAX	32
#define JAIL_PATH	4096

/* A host path bound into the jail at the same path. */
enum jail_bind_kind { JAIL_RO, JAIL_RW, JAIL_DEV };

struct jail_bind {
	const char *path;
	enum jail_bind_kind kind;
	bool owned;		/* path is malloc'ed, freed by jail_conf_free */
};

struct jail_conf {
	const char *id;		/* [A-Za-z0-9_.-], names the root and cgroup */
	const char *base;	/* the root is BASE/ID, made and removed here */
	uid_t uid;		/* neither may be 0 */
	gid_t gid;
	int nbind;
	struct jail_bind bind[JAIL_MAX_BINDS];
	int nkeep;		/* descriptors passed on besides 0, 1, 2 */
	int keep[JAIL_MAX_FDS];
	int nenv;		/* the runner's whole environment */
	const char *env[JAIL_MAX_ENV];
	const char *cgroup;	/* parent cgroup (v2, delegated), or NULL */
	uint64_t memory_max;	/* bytes; 0: not set */
	uint64_t pids_max;	/* 0: not set */
	uint32_t cpu_weight;	/* 1..10000; 0: not set */
	uint64_t nofile;	/* RLIMIT_NOFILE */
	uint64_t fsize;		/* RLIMIT_FSIZE, bytes */
	bool proc;		/* a /proc of the jail's own PID namespace,
				 * its processes only (subset=pid) */
};

/* ---- jail_conf.c ---- */

/* Checks what the flags gave (id, uid, gid, paths, limits); -1 with a
 * message naming the flag and value. */
int jail_conf_check(const struct jail_conf *c);
/* Only what names the jail's places: id, base, cgroup. */
int jail_conf_check_place(const struct jail_conf *c);
/* Adds a bind (a path bound already is not added again); -1 (with a
 * message) when the table is full. */
int jail_conf_bind(struct jail_conf *c, const char *path,
    enum jail_bind_kind kind);
/* The same for a malloc'ed path, which the configuration takes over
 * (freed at once if bound already, or if the table is full). */
int jail_conf_adopt(struct jail_conf *c, char *path);
void jail_conf_free(struct jail_conf *c);

/* ---- jail_libs.c ---- */

/* Adds prog and the shared objects its dynamic loader would load (as
 * ldd(1) lists them) as read-only binds.  -1 with a message. */
int jail_libs_bind(struct jail_conf *c, const char *prog);

/* ---- jail_fs.c ---- */

/* In the child, still privileged: new mount namespace, a tmpfs at
 * BASE/ID with each bind at its own path, pivot_root into it.  -1 with a
 * message naming the path. */
int jail_fs_enter(const struct jail_conf *c);

/* ---- jail_cred.c ---- */

/* In the child, last before exec: limits, descriptors, groups, uid/gid,
 * no capabilities in any set, no_new_privs.  -1 with a message. */
int jail_cred_drop(const struct jail_conf *c);

/* ---- jail_cgroup.c ---- */

/* Makes PARENT/ID with the limits asked for.  The parent must be cgroup
 * v2 with the controllers those limits need enabled for its children;
 * otherwise -1 with a message saying what is missing.  0 and nothing
 * made when c->cgroup is NULL. */
int jail_cgroup_create(const struct jail_conf *c);
/* Whether parent is a cgroup v2 directory offering the memory, pids and
 * cpu controllers; if not, -1 and why. */
int jail_cgroup_usable(const char *parent, char *why, size_t n);
/* Moves the calling process into it. */
int jail_cgroup_join(const struct jail_conf *c);
/* The kernel's OOM kills in it (memory.events); 0 without one. */
uint64_t jail_cgroup_oom_kills(const struct jail_conf *c);
/* The number in DIR/FILE of any cgroup: the whole file (memory.current),
 * or the value of KEY's line, "KEY N" (memory.events); 0 when it cannot
 * be read. */
uint64_t jail_cgroup_number(const char *dir, const char *file,
    const char *key);
/* The cgroup v2 directory of the calling process (a service's own with
 * Delegate=yes); -1 and why. */
int jail_cgroup_self(char *buf, size_t n, char *why, size_t whylen);
/* Moves the calling process into DIR/LEAF, made if missing: a cgroup can
 * enable controllers for its children only while it has no process of its
 * own, so a delegated cgroup's owner moves itself out of the way first, as
 * systemd's delegation documentation says.  -1 with a message. */
int jail_cgroup_leave(const char *dir, const char *leaf);
/* Removes it once its processes are gone, trying every millisecond up to
 * tries times; -1 if it still has some (a message unless tries is 1: a
 * caller that must not wait tries again later). */
int jail_cgroup_remove(const struct jail_conf *c, int tries);

/* ---- jail_seccomp.c ---- */

/* The runner's threads by the calls they make (see jail_seccomp.c); the
 * page-server watcher is a restore's with --page-server (snaprestore(1)). */
enum jail_thread { JAIL_THREAD_CONTROL, JAIL_THREAD_DEVICE, JAIL_THREAD_VCPU,
	JAIL_THREAD_PAGER };
/* What a call outside a thread's list does: nothing is filtered (off),
 * the whole runner is killed with SIGSYS (kill), or the kernel logs the
 * call and lets it through (log: to find what a list lacks). */
enum jail_seccomp { JAIL_SECCOMP_OFF, JAIL_SECCOMP_KILL, JAIL_SECCOMP_LOG };

/* "off", "kill" or "log"; -1 for anything else. */
int jail_seccomp_mode(const char *s, enum jail_seccomp *mode);
const char *jail_thread_name(enum jail_thread kind);
/* Loads the filter of kind into the calling thread, for good (threads it
 * creates afterwards inherit it).  Sets no_new_privs.  -1 with a
 * message. */
int jail_seccomp_load(enum jail_thread kind, enum jail_seccomp mode);

/* ---- jail_run.c ---- */

/*
 * Runs argv (argv[0] a path) in the jail and waits for it: makes the root
 * directory and the cgroup, starts the runner as PID 1 of a new PID
 * namespace (it dies with this process), passes SIGTERM, SIGINT and
 * SIGHUP on, and removes both when it ends.  Returns the runner's wait
 * status in *status and 0, or -1 with a sysexits.h class in *status when
 * the jail could not be made.
 */
int jail_run(const struct jail_conf *c, char *const argv[], int *status);
/* Removes what a jail left when its keeper was killed: BASE/ID (empty,
 * its mounts went with its namespace) and the cgroup, trying tries times
 * as jail_cgroup_remove does.  0 if nothing is left. */
int jail_remove(const struct jail_conf *c, int tries);

#endif
