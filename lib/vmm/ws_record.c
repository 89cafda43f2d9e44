/*
 * Touched pages from /proc/self/pagemap: a page the guest (through KVM)
 * or a device has touched is mapped in this process; one never touched
 * is not, since guest memory is mapped lazily from the layers.  Only the
 * present and swapped bits are read, which need no privilege.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "ws_record.h"

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define PM_BATCH	4096		/* entries per read */

static int
scan(const struct mem *mem, uint8_t *bits)
{
	uint64_t pages = mem_pages(mem), *e = malloc(PM_BATCH * 8);
	uint64_t vpage = (uintptr_t)mem->base / MEM_PAGE;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd == -1 || e == NULL) {
		log_warn("/proc/self/pagemap");
		goto out;
	}
	for (uint64_t pg = 0; pg < pages; pg += PM_BATCH) {
		uint64_t k = pages - pg < PM_BATCH ? pages - pg : PM_BATCH;

		if (pread(fd, e, k * 8, (off_t)((vpage + pg) * 8)) !=
		    (ssize_t)(k * 8)) {
			log_warn("/proc/self/pagemap");
			goto out;
		}
		for (uint64_t i = 0; i < k; i++)
			if (e[i] & (PM_PRESENT | PM_SWAPPED))
				bits[(pg + i) / 8] |= (uint8_t)(1U << ((pg + i) % 8));
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(e);
	return rc;
}

static int
write_file(const char *path, const uint8_t *bits, size_t len)
{
	char tmp[4200];
	bool ok;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("%s", tmp);
		return -1;
	}
	ok = write(fd, bits, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) == -1 || !ok || rename(tmp, path) == -1) {
		log_warn("%s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
ws_record(const struct vm *vm, const char *path)
{
	size_t len = (size_t)(mem_pages(&vm->mem) / 8);
	uint8_t *bits = calloc(len ? len : 1, 1);
	int rc = -1;

	if (bits != NULL && scan(&vm->mem, bits) == 0 &&
	    write_file(path, bits, len) == 0)
		rc = 0;
	free(bits);
	return rc;
}
