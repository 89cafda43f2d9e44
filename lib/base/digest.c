#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "file.h"
#include "hash.h"
#include "log.h"

#define DIGEST_CHUNK	(1 << 20)
#define PATH_MAX_DIGEST	4096

void
digest_hex(const unsigned char *md, char hex[DIGEST_HEX])
{
	for (int i = 0; i < HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int
digest_fd(int fd, const char *path, char hex[DIGEST_HEX])
{
	unsigned char *buf = malloc(DIGEST_CHUNK), md[HASH_LEN];
	struct hash_ctx h;
	ssize_t n = -1;

	if (buf == NULL) {
		log_warn("%s", path);
		return -1;
	}
	hash_init(&h);
	while ((n = read(fd, buf, DIGEST_CHUNK)) > 0)
		hash_update(&h, buf, (size_t)n);
	free(buf);
	if (n == -1) {
		log_warn("%s", path);
		return -1;
	}
	hash_final(&h, md);
	digest_hex(md, hex);
	return 0;
}

int
digest_file(const char *path, char hex[DIGEST_HEX])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd == -1) {
		log_warn("%s", path);
		return -1;
	}
	rc = digest_fd(fd, path, hex);
	close(fd);
	return rc;
}

int
digest_cache_dir(char *out, size_t n)
{
	return file_cache_path("digest", out, n);
}

/* The cache entry's name: a digest of the identity, never of contents. */
static int
digest_cache_entry(const struct stat *st, char *out, size_t n)
{
	char id[512], hex[DIGEST_HEX], dir[3072];
	unsigned char md[HASH_LEN];

	if (digest_cache_dir(dir, sizeof(dir)) == -1)
		return -1;
	snprintf(id, sizeof(id), "%ju %ju %jd %ld.%09ld %ld.%09ld",
	    (uintmax_t)st->st_dev, (uintmax_t)st->st_ino, (intmax_t)st->st_size,
	    (long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
	    (long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	hash_buf(id, strlen(id), md);
	digest_hex(md, hex);
	if ((size_t)snprintf(out, n, "%s/%.64s", dir, hex) >= n)
		return -1;
	return 0;
}

static int
digest_cache_path(const char *path, char *out, size_t n)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return -1;
	return digest_cache_entry(&st, out, n);
}

static void
digest_cache_store(const char *entry, const char hex[DIGEST_HEX])
{
	char tmp[PATH_MAX_DIGEST + 32], dir[PATH_MAX_DIGEST];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.%ld", entry, (long)getpid());
	/* A cache that cannot be written is no cache. */
	if (file_cache_mkdir("digest", dir, sizeof(dir)) == -1 ||
	    (f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "%s\n", hex);
	if (fclose(f) != 0 || rename(tmp, entry) == -1)
		unlink(tmp);
}

static bool
digest_cache_get(const char *entry, char hex[DIGEST_HEX])
{
	char line[DIGEST_HEX + 2];
	FILE *f = fopen(entry, "r");
	bool ok;

	if (f == NULL)
		return false;
	ok = fgets(line, sizeof(line), f) != NULL &&
	    strlen(line) == DIGEST_HEX && line[DIGEST_HEX - 1] == '\n';
	fclose(f);
	if (ok) {
		memcpy(hex, line, DIGEST_HEX - 1);
		hex[DIGEST_HEX - 1] = '\0';
	}
	return ok;
}

int
digest_file_cached(const char *path, char hex[DIGEST_HEX])
{
	char entry[PATH_MAX_DIGEST];

	if (digest_cache_path(path, entry, sizeof(entry)) == -1)
		return digest_file(path, hex);
	if (digest_cache_get(entry, hex))
		return 0;
	if (digest_file(path, hex) == -1)
		return -1;
	digest_cache_store(entry, hex);
	return 0;
}

int
digest_fd_cached(int fd, const char *path, char hex[DIGEST_HEX])
{
	char entry[PATH_MAX_DIGEST];
	struct stat st;
	bool cached = fstat(fd, &st) == 0 &&
	    digest_cache_entry(&st, entry, sizeof(entry)) == 0;

	if (cached && digest_cache_get(entry, hex))
		return 0;
	if (lseek(fd, 0, SEEK_SET) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (digest_fd(fd, path, hex) == -1)
		return -1;
	if (cached)
		digest_cache_store(entry, hex);
	return 0;
}

void
digest_cache_put(const char *path, const char hex[DIGEST_HEX])
{
	char entry[PATH_MAX_DIGEST];

	if (digest_cache_path(path, entry, sizeof(entry)) == 0)
		digest_cache_store(entry, hex);
}
