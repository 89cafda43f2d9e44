/*
 * What a jail is given, checked before anything is made: a name that is
 * one path component, an unprivileged user, absolute paths that exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jail.h"
#include "log.h"

static int
jail_conf_id(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > JAIL_ID_MAX || id[0] == '.' ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") != n) {
		log_warnx("--id %s: 1 to %d of A-Z a-z 0-9 _ . -, not starting "
		    "with a dot", id ? id : "(none)", JAIL_ID_MAX);
		return -1;
	}
	return 0;
}

static int
jail_conf_dir(const char *flag, const char *path)
{
	struct stat st;

	if (path == NULL || path[0] != '/') {
		log_warnx("%s %s: an absolute path is needed", flag,
		    path ? path : "(none)");
		return -1;
	}
	if (stat(path, &st) == -1) {
		log_warn("%s %s", flag, path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s %s: not a directory", flag, path);
		return -1;
	}
	return 0;
}

static int
jail_conf_binds(const struct jail_conf *c)
{
	static const char *flag[] = { "--ro", "--rw", "--dev" };
	struct stat st;

	for (int i = 0; i < c->nbind; i++) {
		const struct jail_bind *b = &c->bind[i];

		if (b->path[0] != '/' || strstr(b->path, "/../") != NULL) {
			log_warnx("%s %s: an absolute path without .. is needed",
			    flag[b->kind], b->path);
			return -1;
		}
		if (stat(b->path, &st) == -1) {
			log_warn("%s %s", flag[b->kind], b->path);
			return -1;
		}
		if (b->kind == JAIL_DEV && !S_ISCHR(st.st_mode)) {
			log_warnx("--dev %s: not a character device", b->path);
			return -1;
		}
		if (b->kind == JAIL_DEV && strncmp(b->path, "/tmp/", 5) == 0) {
			log_warnx("--dev %s: the jail's /tmp takes no devices",
			    b->path);
			return -1;
		}
		if (b->kind == JAIL_RW && !S_ISDIR(st.st_mode)) {
			log_warnx("--rw %s: not a directory", b->path);
			return -1;
		}
	}
	return 0;
}

int
jail_conf_check_place(const struct jail_conf *c)
{
	if (jail_conf_id(c->id) == -1 || jail_conf_dir("--base", c->base) == -1)
		return -1;
	return c->cgroup != NULL ? jail_conf_dir("--cgroup", c->cgroup) : 0;
}

int
jail_conf_check(const struct jail_conf *c)
{
	if (jail_conf_check_place(c) == -1)
		return -1;
	if (c->uid == 0 || c->uid == (uid_t)-1 || c->gid == 0 ||
	    c->gid == (gid_t)-1) {
		log_warnx("--uid %ld --gid %ld: the jail's user and group must "
		    "be set and must not be root", (long)c->uid, (long)c->gid);
		return -1;
	}
	if (c->cpu_weight > 10000) {
		log_warnx("--cpu-weight %u: the range is 1..10000", c->cpu_weight);
		return -1;
	}
	return jail_conf_binds(c);
}

int
jail_conf_bind(struct jail_conf *c, const char *path, enum jail_bind_kind kind)
{
	for (int i = 0; i < c->nbind; i++)
		if (strcmp(c->bind[i].path, path) == 0)
			return 0;	/* bound already */
	if (c->nbind == JAIL_MAX_BINDS) {
		log_warnx("%s: more than %d files to bind", path, JAIL_MAX_BINDS);
		errno = E2BIG;
		return -1;
	}
	c->bind[c->nbind].path = path;
	c->bind[c->nbind++].kind = kind;
	return 0;
}

int
jail_conf_adopt(struct jail_conf *c, char *path)
{
	int n = c->nbind;

	if (jail_conf_bind(c, path, JAIL_RO) == -1 || c->nbind == n) {
		free(path);
		return c->nbind == n && n < JAIL_MAX_BINDS ? 0 : -1;
	}
	c->bind[n].owned = true;
	return 0;
}

void
jail_conf_free(struct jail_conf *c)
{
	for (int i = 0; i < c->nbind; i++)
		if (c->bind[i].owned)
			free((char *)c->bind[i].path);
	c->nbind = 0;
}
