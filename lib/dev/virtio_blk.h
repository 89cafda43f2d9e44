/*
 * virtio-blk (virtio 1.2, section 5.2) over a host file: read, write,
 * flush and get-id.  A read-only drive refuses writes with IOERR and does
 * not offer FLUSH.
 */
#ifndef SNAPVM_VIRTIO_BLK_H
#define SNAPVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_BLK_ID_BYTES	20

/* Guest-visible device state: what a snapshot of the drive holds. */
struct virtio_blk_state {
	uint64_t capacity;		/* 512-byte sectors */
	uint8_t read_only;
	uint8_t pad[3];
	char id[VIRTIO_BLK_ID_BYTES];
};
_Static_assert(sizeof(struct virtio_blk_state) == 32, "virtio_blk_state");

struct virtio_blk {
	struct virtio_blk_state s;
	int fd;
	const char *path;
	struct virtq_chain chain;	/* scratch, used on the evloop thread */
};

int virtio_blk_open(struct virtio_blk *b, const char *path, bool read_only,
    const char *id);
void virtio_blk_close(struct virtio_blk *b);
/*
 * A snapshot's sections of drive index of file: the device's own (s) and
 * its transport's (ms, see virtio_mmio_load).  The drive must be opened
 * as it was (read_only) and carry the same id; it keeps its own capacity
 * and announces a config change when the saved one differs.  -1 with a
 * message naming the file, section and field.
 */
int virtio_blk_load(struct virtio_blk *b, struct virtio_mmio *t,
    const struct virtio_blk_state *s, const struct virtio_mmio_state *ms,
    const char *file, uint32_t index);
extern const struct virtio_dev_ops virtio_blk_ops;

#endif
