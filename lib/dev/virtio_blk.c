#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "virtio_blk.h"

#define SECTOR			512ULL
#define BLK_F_SEG_MAX		2
#define BLK_F_RO		5
#define BLK_F_BLK_SIZE		6
#define BLK_F_FLUSH		9
#define BLK_T_IN		0
#define BLK_T_OUT		1
#define BLK_T_FLUSH		4
#define BLK_T_GET_ID		8
#define BLK_S_OK		0
#define BLK_S_IOERR		1
#define BLK_S_UNSUPP		2
#define BLK_HDR			16

int
virtio_blk_open(struct virtio_blk *b, const char *path, bool read_only,
    const char *id)
{
	struct stat st;

	memset(b, 0, sizeof(*b));
	b->path = path;
	b->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(b->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", path);
		close(b->fd);
		b->fd = -1;
		errno = EINVAL;
		return -1;
	}
	/* A partial last sector is not visible to the guest. */
	b->s.capacity = (uint64_t)st.st_size / SECTOR;
	b->s.read_only = read_only;
	snprintf(b->s.id, sizeof(b->s.id), "%s", id);
	return 0;
}

void
virtio_blk_close(struct virtio_blk *b)
{
	if (b->fd != -1)
		close(b->fd);
	b->fd = -1;
}

static uint64_t
blk_features(void *dev)
{
	struct virtio_blk *b = dev;

	return (1ULL << BLK_F_SEG_MAX) | (1ULL << BLK_F_BLK_SIZE) |
	    (b->s.read_only ? 1ULL << BLK_F_RO : 1ULL << BLK_F_FLUSH) |
	    (1ULL << VIRTQ_F_EVENT_IDX);
}

/* Config layout per the spec: capacity, size_max, seg_max, geometry, blk_size. */
static void
blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = dev;
	uint8_t cfg[24] = { 0 };
	uint32_t seg_max = VIRTQ_MAX_SIZE - 2, blk_size = SECTOR;

	memcpy(cfg, &b->s.capacity, 8);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len :
		    sizeof(cfg) - off);
}

/* The data buffers: everything after the header, less the status byte. */
static int
blk_iov(const struct virtio_blk *b, const struct mem *m,
    const struct virtq_chain *c, bool to_guest, struct iovec *iov, int *niov,
    uint64_t *bytes)
{
	uint64_t skip = to_guest ? 0 : BLK_HDR, left = to_guest ?
	    c->in_len - 1 : c->out_len - BLK_HDR;

	(void)b;
	*niov = 0;
	*bytes = left;
	for (int i = 0; i < c->n && left > 0; i++) {
		uint64_t len = c->buf[i].len, off = 0;

		if (c->buf[i].write != to_guest)
			continue;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		off = skip;
		skip = 0;
		len = len - off < left ? len - off : left;
		iov[*niov].iov_base = mem_ptr(m, c->buf[i].addr + off, len);
		iov[*niov].iov_len = len;
		left -= len;
		(*niov)++;
	}
	return left == 0 ? 0 : -1;
}

static uint8_t
blk_rw(struct virtio_blk *b, const struct mem *m, const struct virtq_chain *c,
    uint32_t type, uint64_t sector, uint32_t *written)
{
	struct iovec iov[VIRTQ_MAX_CHAIN];
	uint64_t bytes;
	int niov;
	ssize_t n;

	if (blk_iov(b, m, c, type == BLK_T_IN, iov, &niov, &bytes) == -1 ||
	    bytes % SECTOR != 0 || sector > b->s.capacity ||
	    bytes / SECTOR > b->s.capacity - sector)
		return BLK_S_IOERR;
	if (type == BLK_T_OUT && b->s.read_only)
		return BLK_S_IOERR;
	if (type == BLK_T_IN)
		n = preadv(b->fd, iov, niov, (off_t)(sector * SECTOR));
	else
		n = pwritev(b->fd, iov, niov, (off_t)(sector * SECTOR));
	if (n < 0 || (uint64_t)n != bytes)
		return BLK_S_IOERR;
	if (type == BLK_T_IN)
		*written = (uint32_t)bytes;
	return BLK_S_OK;
}

static uint8_t
blk_request(struct virtio_blk *b, const struct mem *m,
    const struct virtq_chain *c, uint32_t *written)
{
	uint8_t hdr[BLK_HDR];
	uint32_t type;
	uint64_t sector;

	virtq_read(m, c, 0, hdr, sizeof(hdr));
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	switch (type) {
	case BLK_T_IN:
	case BLK_T_OUT:
		return blk_rw(b, m, c, type, sector, written);
	case BLK_T_FLUSH:
		if (b->s.read_only)
			return BLK_S_UNSUPP;
		return fdatasync(b->fd) == 0 ? BLK_S_OK : BLK_S_IOERR;
	case BLK_T_GET_ID:
		*written = (uint32_t)virtq_write(m, c, 0, b->s.id,
		    c->in_len - 1 < VIRTIO_BLK_ID_BYTES ? c->in_len - 1 :
		    VIRTIO_BLK_ID_BYTES);
		return BLK_S_OK;
	default:
		return BLK_S_UNSUPP;
	}
}

/* One request taken from the queue: served, its status written. */
static int
blk_serve(struct virtio_blk *b, struct virtio_mmio *t, struct virtq_state *q)
{
	const struct virtq_chain *c = &b->chain;
	uint32_t written = 0;
	uint8_t status;

	if (c->out_len < BLK_HDR || c->in_len < 1) {
		virtio_mmio_fail(t, "request without header or status");
		return -1;
	}
	status = blk_request(b, t->mem, c, &written);
	virtq_write(t->mem, c, c->in_len - 1, &status, 1);
	return virtq_push(q, t->mem, c->head, written + 1);
}

/* At most a budget of requests per turn; the rest on the next one. */
static void
blk_notify(void *dev, struct virtio_mmio *t, uint16_t qi)
{
	struct virtio_blk *b = dev;
	struct virtq_state *q = &t->s.q[qi];
	int done = 0, rc = 0;

	while (done < VIRTIO_MMIO_BUDGET &&
	    (rc = virtq_pop(q, t->mem, &b->chain,
	    virtio_mmio_event_idx(t))) == 1) {
		if (blk_serve(b, t, q) == -1)
			break;
		done++;
	}
	if (rc == -1)
		virtio_mmio_fail(t, "malformed request queue");
	else if (done == VIRTIO_MMIO_BUDGET)
		virtio_mmio_requeue(t, qi);
	if (virtq_flush(q, t->mem, virtio_mmio_event_idx(t)))
		virtio_mmio_interrupt(t, VIRTIO_INT_VRING);
}

static void
blk_reset(void *dev)
{
	(void)dev;			/* requests complete synchronously */
}

const struct virtio_dev_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nqueues = 1,
	.features = blk_features,
	.config_read = blk_config_read,
	.queue_notify = blk_notify,
	.reset = blk_reset,
};

/* Every field is the device's own: what the guest saw must be this
 * drive, opened as it was then. */
static int
blk_state_check(const struct virtio_blk *b, const struct virtio_blk_state *s,
    char *why, size_t n)
{
	static const uint8_t zero[sizeof(s->pad)];

	if (s->read_only != b->s.read_only)
		snprintf(why, n, "read_only %u, the drive is opened %s",
		    s->read_only, b->s.read_only ? "read-only" : "read-write");
	else if (memcmp(s->pad, zero, sizeof(zero)) != 0)
		snprintf(why, n, "pad is not zero");
	else if (memcmp(s->id, b->s.id, sizeof(s->id)) != 0)
		snprintf(why, n, "id \"%.*s\" is not this drive's \"%s\"",
		    VIRTIO_BLK_ID_BYTES, s->id, b->s.id);
	else
		return 0;
	return -1;
}

int
virtio_blk_load(struct virtio_blk *b, struct virtio_mmio *t,
    const struct virtio_blk_state *s, const struct virtio_mmio_state *ms,
    const char *file, uint32_t index)
{
	char why[128];

	if (blk_state_check(b, s, why, sizeof(why)) == -1) {
		log_warnx("%s: section blk %u: %s", file, index, why);
		errno = EINVAL;
		return -1;
	}
	if (virtio_mmio_load(t, ms, file, index) == -1)
		return -1;
	/* Another app drive than at the snapshot: its driver re-reads the
	 * capacity on the config-change interrupt. */
	if (s->capacity != b->s.capacity)
		virtio_mmio_config_changed(t);
	return 0;
}
