/*
 * The jail's file system, made in the child before it drops its
 * privileges.  Its root is a tmpfs mounted at BASE/ID in a new mount
 * namespace: the mount points made for the binds live there and vanish
 * with the namespace, so the host keeps only the empty directory.  Each
 * bind sits at its host path: the runner's command line needs no
 * rewriting.  Files and directories are bound read-only, nosuid and
 * nodev; the writable directory nosuid and nodev.  A device is not bound
 * but made anew (as Firecracker's jailer makes /dev/kvm): a node of the
 * same number, owned by the runner's uid and gid with mode 0600, so that
 * the runner may open it without a group that every runner would share;
 * the host's node keeps its owner and mode.  The runner gets a /tmp of its own, a small tmpfs only it can
 * use, for its sockets and scratch files (TMPDIR is not needed: /tmp is
 * where they go by default).  With --proc it gets a /proc too: a procfs
 * of its own PID namespace (itself only), with subset=pid, so that it
 * shows no system-wide file (sysctls, kallsyms, other processes): a
 * recording runner reads its own /proc/self/pagemap there.  Then the
 * root tmpfs turns read-only and
 * pivot_root makes it the root, the host's root detached beneath it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

#define JAIL_TMPFS_OPTS	"size=1m,nr_inodes=4096,mode=0755"
#define JAIL_TMP_SIZE	"16m"

/* Made first, so that binds under /tmp land inside it. */
static int
jail_fs_tmp(const struct jail_conf *c, const char *root)
{
	char dst[JAIL_PATH + 8], opts[128];

	snprintf(dst, sizeof(dst), "%s/tmp", root);
	snprintf(opts, sizeof(opts), "size=%s,nr_inodes=4096,mode=0700,uid=%ld,"
	    "gid=%ld", JAIL_TMP_SIZE, (long)c->uid, (long)c->gid);
	if (mkdir(dst, 0755) == -1 || mount("snapvm-tmp", dst, "tmpfs",
	    MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) == -1) {
		log_warn("jail: %s", dst);
		return -1;
	}
	return 0;
}

/* The directories leading to path inside root, made as plain dirs. */
static int
jail_fs_parents(const char *root, const char *path)
{
	char p[2 * JAIL_PATH];
	size_t rlen = strlen(root);

	if (snprintf(p, sizeof(p), "%s%s", root, path) >= (int)sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *s = p + rlen + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

/* An empty file or directory inside root for the bind to cover. */
static int
jail_fs_point(const char *dst, bool dir)
{
	int fd;

	if (dir)
		return mkdir(dst, 0755) == -1 && errno != EEXIST ? -1 : 0;
	fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

static unsigned long
jail_fs_flags(enum jail_bind_kind kind)
{
	switch (kind) {
	case JAIL_RW:
		return MS_NOSUID | MS_NODEV;
	default:
		return MS_RDONLY | MS_NOSUID | MS_NODEV;
	}
}

static int
jail_fs_dev(const struct jail_conf *c, const char *root, const char *path)
{
	char dst[2 * JAIL_PATH];
	struct stat st;

	snprintf(dst, sizeof(dst), "%s%s", root, path);
	if (stat(path, &st) == -1 || !S_ISCHR(st.st_mode) ||
	    jail_fs_parents(root, path) == -1 ||
	    mknod(dst, S_IFCHR | 0600, st.st_rdev) == -1 ||
	    chown(dst, c->uid, c->gid) == -1) {
		log_warn("jail: device %s", path);
		return -1;
	}
	return 0;
}

static int
jail_fs_bind(const char *root, const struct jail_bind *b)
{
	char src[PATH_MAX], dst[2 * JAIL_PATH];
	struct stat st;

	if (realpath(b->path, src) == NULL || stat(src, &st) == -1) {
		log_warn("jail: %s", b->path);
		return -1;
	}
	snprintf(dst, sizeof(dst), "%s%s", root, b->path);
	if (jail_fs_parents(root, b->path) == -1 ||
	    jail_fs_point(dst, S_ISDIR(st.st_mode)) == -1) {
		log_warn("jail: mount point for %s", b->path);
		return -1;
	}
	/* A bind takes its flags from a remount of its own. */
	if (mount(src, dst, NULL, MS_BIND, NULL) == -1 ||
	    mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | jail_fs_flags(b->kind),
	    NULL) == -1) {
		log_warn("jail: bind %s", b->path);
		return -1;
	}
	return 0;
}

static int
jail_fs_proc(const char *root)
{
	char dst[JAIL_PATH + 8];

	snprintf(dst, sizeof(dst), "%s/proc", root);
	if (mkdir(dst, 0555) == -1 || mount("proc", dst, "proc",
	    MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid") ==
	    -1) {
		log_warn("jail: %s", dst);
		return -1;
	}
	return 0;
}

/* pivot_root(".", ".") stacks the old root on the new one; detaching it
 * leaves the new root alone (pivot_root(2)). */
static int
jail_fs_pivot(const char *root)
{
	if (chdir(root) == -1 || syscall(SYS_pivot_root, ".", ".") == -1 ||
	    umount2(".", MNT_DETACH) == -1 || chdir("/") == -1) {
		log_warn("jail: pivot_root to %s", root);
		return -1;
	}
	return 0;
}

int
jail_fs_enter(const struct jail_conf *c)
{
	char root[JAIL_PATH];

	snprintf(root, sizeof(root), "%s/%s", c->base, c->id);
	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
	    mount("snapvm-jail", root, "tmpfs", MS_NOSUID, JAIL_TMPFS_OPTS) == -1) {
		log_warn("jail: root %s", root);
		return -1;
	}
	if (jail_fs_tmp(c, root) == -1)
		return -1;
	for (int i = 0; i < c->nbind; i++)
		if (c->bind[i].kind == JAIL_DEV ?
		    jail_fs_dev(c, root, c->bind[i].path) == -1 :
		    jail_fs_bind(root, &c->bind[i]) == -1)
			return -1;
	if (c->proc && jail_fs_proc(root) == -1)
		return -1;
	/* Not nodev: the devices made above live here.  Read-only, it takes
	 * no new node, and the runner could not make one anyway. */
	if (mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID,
	    JAIL_TMPFS_OPTS) == -1) {
		log_warn("jail: read-only root %s", root);
		return -1;
	}
	return jail_fs_pivot(root);
}
