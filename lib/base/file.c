#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "file.h"
#include "log.h"

int
file_open_regular(const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: %s", path, S_ISDIR(st.st_mode) ?
		    "is a directory" : "not a regular file");
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* A file that shrinks under us is an error, not a short image. */
int
file_read_all(int fd, const char *path, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, (char *)buf + got, len - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			log_warn("%s: read", path);
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

int
file_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if ((size_t)snprintf(buf, size, "%s/snapvm.XXXXXX", base) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdtemp(buf) == NULL) {
		log_warn("%s", buf);
		return -1;
	}
	return 0;
}

void
file_tmpdir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
		    sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

int
file_rename_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

int
file_rename_exchange(const char *a, const char *b)
{
	char aside[4200];
	int e;

	if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	snprintf(aside, sizeof(aside), "%s.old.%ld", b, (long)getpid());
	if (rename(b, aside) == -1)
		return -1;
	if (rename(a, b) == -1 || rename(aside, a) == -1) {
		e = errno;
		rename(aside, b);	/* put back what was there */
		errno = e;
		return -1;
	}
	return 0;
}

int
file_cache_path(const char *name, char *out, size_t n)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int len;

	if (xdg != NULL && xdg[0] == '/')
		len = snprintf(out, n, "%s/snapvm%s%s", xdg, name ? "/" : "",
		    name ? name : "");
	else if (home != NULL)
		len = snprintf(out, n, "%s/.cache/snapvm%s%s", home,
		    name ? "/" : "", name ? name : "");
	else
		return -1;
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* Makes dir, and where it is missing up to levels - 1 of the directories
 * above it first.  The deepest is tried first: it is there nearly always,
 * and then one mkdir(2) is all it costs. */
static int
mkdir_levels(char *dir, int levels)
{
	char *slash;
	int rc;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT || levels <= 1 ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return -1;
	*slash = '\0';
	rc = mkdir_levels(dir, levels - 1);
	*slash = '/';
	if (rc == -1 || (mkdir(dir, 0700) == -1 && errno != EEXIST))
		return -1;
	return 0;
}

int
file_cache_mkdir(const char *name, char *out, size_t n)
{
	if (file_cache_path(name, out, n) == -1)
		return -1;
	/* The cache's base, snapvm and name: the base directory
	 * specification has XDG_CACHE_HOME made when it is needed. */
	return mkdir_levels(out, name != NULL ? 3 : 2);
}

int
file_mkdtemp_beside(const char *dir, const char *tag, char *out, size_t size)
{
	char a[4096], b[4096];
	mode_t mask;

	snprintf(a, sizeof(a), "%s", dir);
	snprintf(b, sizeof(b), "%s", dir);
	if ((size_t)snprintf(out, size, "%s/.%s.%s.XXXXXX", dirname(a),
	    basename(b), tag) >= size) {
		log_warnx("%s: path too long", dir);
		out[0] = '\0';
		return -1;
	}
	if (mkdtemp(out) == NULL) {
		log_warn("%s", out);
		out[0] = '\0';
		return -1;
	}
	mask = umask(0);	/* mkdtemp made it 0700: as mkdir would */
	umask(mask);
	if (chmod(out, 0777 & ~mask) == -1) {
		log_warn("%s", out);
		rmdir(out);
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
file_sockaddr(const char *path, struct sockaddr_un *sa, const char *what)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path)) {
		log_warnx("%s \"%s\": a socket path has 1 to %zu bytes", what,
		    path, sizeof(sa->sun_path) - 1);
		errno = n == 0 ? EINVAL : ENAMETOOLONG;
		return -1;
	}
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

/* 1 if a server accepts connections at path, 0 if none does, -1 on
 * other errors. */
static int
socket_live(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, rc;

	if (file_sockaddr(path, &sa, "socket") == -1)
		return -1;
	/* Non-blocking: a full backlog says EAGAIN instead of waiting, and
	 * is just as alive. */
	if ((fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) ==
	    -1)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno == EAGAIN)
		rc = 1;
	else
		rc = errno == ECONNREFUSED ? 0 : -1;
	close(fd);
	return rc;
}

int
file_claim_socket(const char *path, int type, const char *who)
{
	struct stat st;
	int live;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s: exists and is not a socket", path);
		errno = EEXIST;
		return -1;
	}
	if ((live = socket_live(path, type)) == 1) {
		log_warnx("%s: in use: %s there", path, who);
		errno = EADDRINUSE;
		return -1;
	}
	if (live == -1 || (unlink(path) == -1 && errno != ENOENT)) {
		log_warn("%s", path);
		return -1;
	}
	log_info("%s: removed a stale socket", path);
	return 0;
}

int
file_sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
file_path_clean(char *path)
{
	size_t out = 0, i = 0, len = strlen(path);

	if (path[0] != '/')
		return -1;
	while (i < len) {
		size_t start, n;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		n = i - start;
		if (n == 0 || (n == 1 && path[start] == '.'))
			continue;
		if (n == 2 && path[start] == '.' && path[start + 1] == '.') {
			while (out > 0 && path[--out] != '/')
				;
			continue;
		}
		path[out++] = '/';
		memmove(path + out, path + start, n);
		out += n;
	}
	if (out == 0)
		path[out++] = '/';
	path[out] = '\0';
	return 0;
}
