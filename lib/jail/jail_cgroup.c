/*
 * The runner's cgroup: PARENT/ID on cgroup v2, PARENT being the subtree
 * delegated to ctrl (Delegate=yes in its unit).  A limit is only written
 * when asked for, and a controller it needs that the parent does not
 * offer is named, with where it was looked for: hosts that mount a v1/v2
 * hybrid keep the controllers on v1, and a v2 parent without them would
 * otherwise accept the cgroup and silently limit nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

static void
jail_cgroup_path(const struct jail_conf *c, const char *file, char *buf,
    size_t size)
{
	snprintf(buf, size, "%s/%s%s%s", c->cgroup, c->id, file ? "/" : "",
	    file ? file : "");
}

/* The whole of a small file, or its first line only. */
static int
jail_cgroup_slurp(const char *path, char *buf, size_t size, bool line)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : read(fd, buf, size - 1);

	if (fd != -1)
		close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	if (line)
		buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int
jail_cgroup_read(const char *path, char *buf, size_t size)
{
	return jail_cgroup_slurp(path, buf, size, true);
}

static int
jail_cgroup_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : write(fd, value, strlen(value));
	int err = errno;

	if (fd != -1)
		close(fd);
	errno = err;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static bool
jail_cgroup_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* The controller is enabled for the parent's children, enabling it if the
 * parent offers it. */
static int
jail_cgroup_controller(const struct jail_conf *c, const char *name)
{
	char path[JAIL_PATH], list[512], plus[32];

	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", c->cgroup);
	if (jail_cgroup_read(path, list, sizeof(list)) == 0 &&
	    jail_cgroup_has(list, name))
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", c->cgroup);
	if (jail_cgroup_read(path, list, sizeof(list)) == -1 ||
	    !jail_cgroup_has(list, name)) {
		log_warnx("--cgroup %s: no %s controller (cgroup.controllers: "
		    "\"%s\"); the jail needs cgroup v2 with the memory, pids "
		    "and cpu controllers delegated (Delegate=yes)", c->cgroup,
		    name, list);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", c->cgroup);
	snprintf(plus, sizeof(plus), "+%s", name);
	if (jail_cgroup_write(path, plus) == -1) {
		log_warn("--cgroup %s: cannot enable %s in cgroup.subtree_control "
		    "(a cgroup with processes of its own cannot)", c->cgroup,
		    name);
		return -1;
	}
	return 0;
}

static int
jail_cgroup_set(const struct jail_conf *c, const char *file, uint64_t v)
{
	char path[JAIL_PATH], num[24];

	jail_cgroup_path(c, file, path, sizeof(path));
	snprintf(num, sizeof(num), "%" PRIu64, v);
	if (jail_cgroup_write(path, num) == -1) {
		log_warn("%s: %s", path, num);
		return -1;
	}
	return 0;
}

static int
jail_cgroup_v2(const struct jail_conf *c)
{
	struct statfs fs;

	if (statfs(c->cgroup, &fs) == -1 || fs.f_type != CGROUP2_SUPER_MAGIC) {
		log_warnx("--cgroup %s: not a cgroup v2 directory", c->cgroup);
		return -1;
	}
	return 0;
}

int
jail_cgroup_usable(const char *parent, char *why, size_t n)
{
	static const char *const need[] = { "memory", "pids", "cpu" };
	char path[JAIL_PATH], list[512];
	struct statfs fs;

	if (statfs(parent, &fs) == -1 || fs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, n, "not a cgroup v2 directory");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.controllers", parent);
	if (jail_cgroup_read(path, list, sizeof(list)) == -1)
		list[0] = '\0';
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!jail_cgroup_has(list, need[i])) {
			snprintf(why, n, "no %s controller (cgroup.controllers: "
			    "\"%s\"): runners need memory, pids and cpu, "
			    "delegated to ctrl (Delegate=yes)", need[i], list);
			return -1;
		}
	return 0;
}

int
jail_cgroup_create(const struct jail_conf *c)
{
	char path[JAIL_PATH];

	if (c->cgroup == NULL)
		return 0;
	if (jail_cgroup_v2(c) == -1 ||
	    (c->memory_max && jail_cgroup_controller(c, "memory") == -1) ||
	    (c->pids_max && jail_cgroup_controller(c, "pids") == -1) ||
	    (c->cpu_weight && jail_cgroup_controller(c, "cpu") == -1))
		return -1;
	jail_cgroup_path(c, NULL, path, sizeof(path));
	if (mkdir(path, 0755) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if ((c->memory_max && jail_cgroup_set(c, "memory.max", c->memory_max)) ||
	    (c->memory_max && jail_cgroup_set(c, "memory.swap.max", 0) == -1 &&
	    errno != ENOENT) ||
	    (c->pids_max && jail_cgroup_set(c, "pids.max", c->pids_max)) ||
	    (c->cpu_weight && jail_cgroup_set(c, "cpu.weight", c->cpu_weight))) {
		rmdir(path);
		return -1;
	}
	return 0;
}

uint64_t
jail_cgroup_number(const char *dir, const char *file, const char *key)
{
	char path[JAIL_PATH], buf[1024], *p = buf;
	size_t klen = key ? strlen(key) : 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (jail_cgroup_slurp(path, buf, sizeof(buf), false) == -1)
		return 0;
	if (key == NULL)
		return strtoull(buf, NULL, 10);
	while (p != NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 10);
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return 0;
}

uint64_t
jail_cgroup_oom_kills(const struct jail_conf *c)
{
	char dir[JAIL_PATH];

	if (c->cgroup == NULL)
		return 0;
	jail_cgroup_path(c, NULL, dir, sizeof(dir));
	return jail_cgroup_number(dir, "memory.events", "oom_kill");
}

int
jail_cgroup_join(const struct jail_conf *c)
{
	char path[JAIL_PATH];

	if (c->cgroup == NULL)
		return 0;
	jail_cgroup_path(c, "cgroup.procs", path, sizeof(path));
	if (jail_cgroup_write(path, "0") == -1) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}

/* The cgroup can go once the kernel has taken its last process out: a
 * short wait after the runner was reaped, bounded (tries of 1 ms). */
int
jail_cgroup_remove(const struct jail_conf *c, int tries)
{
	struct timespec ms = { 0, 1000 * 1000 };
	char path[JAIL_PATH];

	if (c->cgroup == NULL)
		return 0;
	jail_cgroup_path(c, NULL, path, sizeof(path));
	for (int i = 0; i < tries; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		if (i + 1 < tries)
			nanosleep(&ms, NULL);
	}
	if (errno != EBUSY || tries > 1)
		log_warn("%s", path);
	return -1;
}

/* Where cgroup v2 is mounted, from /proc/self/mountinfo: "ID PARENT
 * MAJ:MIN ROOT MOUNTPOINT OPTIONS... - TYPE SOURCE SUPER". */
static int
jail_cgroup_mount(char *buf, size_t n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], root[512], point[512], *dash;
	int found = -1;

	if (f == NULL)
		return -1;
	while (found == -1 && fgets(line, sizeof(line), f) != NULL) {
		dash = strstr(line, " - cgroup2 ");
		if (dash != NULL &&
		    sscanf(line, "%*s %*s %*s %511s %511s", root, point) == 2 &&
		    strcmp(root, "/") == 0 && strlen(point) < n) {
			snprintf(buf, n, "%s", point);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

int
jail_cgroup_self(char *buf, size_t n, char *why, size_t whylen)
{
	char mnt[512], line[1024];
	FILE *f;
	int found = -1;

	if (jail_cgroup_mount(mnt, sizeof(mnt)) == -1) {
		snprintf(why, whylen, "no cgroup v2 file system is mounted");
		return -1;
	}
	if ((f = fopen("/proc/self/cgroup", "re")) == NULL) {
		snprintf(why, whylen, "/proc/self/cgroup: %s", strerror(errno));
		return -1;
	}
	while (found == -1 && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "0::/", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			/* The root cgroup is "/": no slash to add. */
			if ((size_t)snprintf(buf, n, "%s%s", mnt,
			    line[4] ? line + 3 : "") < n)
				found = 0;
		}
	fclose(f);
	if (found == -1)
		snprintf(why, whylen, "/proc/self/cgroup names no cgroup v2 "
		    "(\"0::\") of this process");
	return found;
}

int
jail_cgroup_leave(const char *dir, const char *leaf)
{
	char path[JAIL_PATH];

	snprintf(path, sizeof(path), "%s/%s", dir, leaf);
	if (mkdir(path, 0755) == -1 && errno != EEXIST) {
		log_warn("%s", path);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/cgroup.procs", dir, leaf);
	if (jail_cgroup_write(path, "0") == -1) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}
