/*
 * The probe's answer, cached per host boot (cpuprobe.h).  The file is
 * written by whoever probed last and read by every later run; it may be
 * stale (another boot), cut short or tampered with, so a read accepts
 * only the exact text a write makes, for this boot.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cpuprobe.h"
#include "file.h"
#include "log.h"

#define CACHE_NAME	"cpu-probe"
#define CACHE_MAX	256
#define BOOT_ID_PATH	"/proc/sys/kernel/random/boot_id"

int
cpuprobe_cache_path(char *out, size_t n)
{
	return file_cache_path(CACHE_NAME, out, n);
}

/* A UUID as the kernel prints it: 8-4-4-4-12 lower-case hex digits. */
static bool
boot_id_ok(const char *s)
{
	if (strlen(s) != CPUPROBE_BOOT_ID - 1)
		return false;
	for (int i = 0; i < CPUPROBE_BOOT_ID - 1; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : strchr("0123456789abcdef", s[i]) ==
		    NULL || s[i] == '\0')
			return false;
	}
	return true;
}

int
cpuprobe_boot_id(char id[CPUPROBE_BOOT_ID])
{
	FILE *f = fopen(BOOT_ID_PATH, "r");
	char line[64];
	bool ok;

	if (f == NULL)
		return -1;
	ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if (!ok || !boot_id_ok(line))
		return -1;
	memcpy(id, line, CPUPROBE_BOOT_ID);
	return 0;
}

static int
cache_text(char *buf, size_t n, const char *boot_id, enum cpuprobe_answer a)
{
	return snprintf(buf, n, "snapvm-cpu-probe 2\nboot_id %s\nanswer %s\n",
	    boot_id, a == CPUPROBE_EMULATED ? "emulated" :
	    a == CPUPROBE_NOXSAVE ? "noxsave" : "native");
}

static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n, len = 0;

	if (fd == -1)
		return -1;
	while ((n = read(fd, buf + len, size - (size_t)len)) > 0 &&
	    (size_t)(len += n) < size)
		;
	close(fd);
	return n == -1 ? -1 : len;
}

enum cpuprobe_answer
cpuprobe_cache_read(const char *path, const char *boot_id)
{
	char got[CACHE_MAX], want[CACHE_MAX];
	ssize_t n;
	size_t wn;

	if (!boot_id_ok(boot_id) || (n = read_small(path, got, sizeof(got))) <= 0)
		return CPUPROBE_UNKNOWN;
	for (enum cpuprobe_answer a = CPUPROBE_NATIVE; a <= CPUPROBE_NOXSAVE;
	    a++) {
		wn = (size_t)cache_text(want, sizeof(want), boot_id, a);
		if ((size_t)n == wn && memcmp(got, want, wn) == 0)
			return a;
	}
	log_debug("%s: not this boot's probe answer; probing again", path);
	return CPUPROBE_UNKNOWN;
}

static int
write_all(int fd, const char *buf, size_t n)
{
	for (ssize_t w; n > 0; buf += w, n -= (size_t)w)
		if ((w = write(fd, buf, n)) <= 0)
			return -1;
	return 0;
}

int
cpuprobe_cache_write(const char *path, const char *boot_id,
    enum cpuprobe_answer a)
{
	char text[CACHE_MAX], dir[4096], tmp[4200], *slash;
	int fd, len = cache_text(text, sizeof(text), boot_id, a), rc;

	snprintf(dir, sizeof(dir), "%s", path);
	if (a == CPUPROBE_UNKNOWN || !boot_id_ok(boot_id) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return -1;
	*slash = '\0';
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return -1;
	rc = write_all(fd, text, (size_t)len) == 0 && fsync(fd) == 0 ? 0 : -1;
	if (close(fd) == -1 || rc == -1 || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	file_sync_dir(dir);
	return 0;
}
