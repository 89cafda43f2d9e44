/*
 * virtio-blk behind virtio-mmio, driven by a hostile guest: register
 * writes, rings and requests all come from the input.  The drive is a
 * 64 KiB memfd, emptied before each input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "virtio_blk.h"

#define DRIVE_BYTES	65536

static struct fz_dev d;
static struct virtio_blk blk;

static void
blk_drive_reset(struct fz_dev *dev)
{
	(void)dev;
	if (ftruncate(blk.fd, 0) == -1 || ftruncate(blk.fd, DRIVE_BYTES) == -1)
		abort();
}

static void
setup(void)
{
	static char path[64];		/* the drive keeps it */
	int fd = memfd_create("fuzz-drive", MFD_CLOEXEC);

	if (fd == -1 || ftruncate(fd, DRIVE_BYTES) == -1)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (virtio_blk_open(&blk, path, false, "fuzz-drive") == -1)
		abort();
	close(fd);
	fz_dev_init(&d, &virtio_blk_ops, &blk);
	d.reset = blk_drive_reset;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	if (blk.path == NULL)
		setup();
	/* The first byte picks a read-only drive, as snaprestore attaches
	 * a layer's root drive. */
	blk.s.read_only = fz_u8(&f) & 1;
	fz_dev_run(&d, &f);
	fz_dev_reset(&d);	/* all freed again, or it is a leak */
	return 0;
}
