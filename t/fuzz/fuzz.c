#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"

uint8_t
fz_u8(struct fz *f)
{
	uint8_t v = 0;

	fz_take(f, &v, 1);
	return v;
}

uint16_t
fz_u16(struct fz *f)
{
	uint16_t v = 0;

	fz_take(f, &v, 2);
	return v;
}

uint32_t
fz_u32(struct fz *f)
{
	uint32_t v = 0;

	fz_take(f, &v, 4);
	return v;
}

uint64_t
fz_u64(struct fz *f)
{
	uint64_t v = 0;

	fz_take(f, &v, 8);
	return v;
}

size_t
fz_take(struct fz *f, void *out, size_t max)
{
	size_t n = max < f->n ? max : f->n;

	if (n > 0)
		memcpy(out, f->p, n);
	f->p += n;
	f->n -= n;
	return n;
}

void
fz_init(void)
{
	log_init("fuzz", LOG_DEBUG);
}

static char fz_dir_path[256];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
fz_dir_remove(void)
{
	nftw(fz_dir_path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fz_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (fz_dir_path[0] != '\0')
		return fz_dir_path;
	snprintf(fz_dir_path, sizeof(fz_dir_path), "%s/snapvm-fuzz.XXXXXX",
	    tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(fz_dir_path) == NULL) {
		perror(fz_dir_path);
		abort();
	}
	atexit(fz_dir_remove);
	return fz_dir_path;
}

void
fz_file(const char *name, const void *data, size_t n, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/%s", fz_dir(), name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (n > 0 && write(fd, data, n) != (ssize_t)n)) {
		perror(path);
		abort();
	}
	close(fd);
}

char *
fz_str(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

int
fz_mem_create(struct mem *m, uint64_t mib)
{
	return mem_create(m, mib) == -1 ? -1 : mem_track_dirty(m);
}

/* Zeroing only the pages written is much cheaper than dropping them all
 * (madvise() flushes the TLBs of every CPU the process ran on). */
void
fz_mem_clean(struct mem *m)
{
	for (uint64_t w = 0; w < (mem_pages(m) + 63) / 64; w++) {
		for (uint64_t bits = m->vmm_dirty[w]; bits != 0;
		    bits &= bits - 1) {
			uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);

			memset(m->base + pg * MEM_PAGE, 0, MEM_PAGE);
		}
		m->vmm_dirty[w] = 0;
	}
}

void
fz_dev_init(struct fz_dev *d, const struct virtio_dev_ops *ops, void *dev)
{
	fz_init();
	if (fz_mem_create(&d->m, FZ_MEM_MIB) == -1 ||
	    evloop_init(&d->loop) == -1 ||
	    virtio_mmio_init(&d->t, ops, dev, NULL, &d->m, 0, 0, &d->loop) == -1)
		abort();
}

void
fz_loop_run(struct evloop *l)
{
	for (int round = 0; round < 64; round++)
		if (evloop_turn(l, 0) <= 0)
			return;
}

static void
reg_write(struct fz_dev *d, uint64_t off, uint32_t v)
{
	virtio_mmio_io(&d->t, off, (uint8_t *)&v, 4, true);
}

void
fz_dev_reset(struct fz_dev *d)
{
	reg_write(d, 0x70, 0);
	fz_loop_run(&d->loop);
	if (d->reset != NULL)
		d->reset(d);
	fz_mem_clean(&d->m);
}

/* Where a queue's rings go when the driver sets it up the usual way. */
static uint64_t
ring_base(uint16_t q)
{
	return 0x10000 + 0x4000ULL * q;
}

/* ACKNOWLEDGE, DRIVER, the features asked, FEATURES_OK, every queue at
 * its usual place with the size asked, DRIVER_OK: a driver's bring-up. */
static void
op_setup(struct fz_dev *d, struct fz *f)
{
	uint32_t features = fz_u32(f);
	uint8_t size = fz_u8(f);

	reg_write(d, 0x70, 3);
	reg_write(d, 0x24, 1);
	reg_write(d, 0x20, 1);			/* VERSION_1 */
	reg_write(d, 0x24, 0);
	reg_write(d, 0x20, features);
	reg_write(d, 0x70, 3 | 8);
	for (uint16_t q = 0; q < d->t.ops->nqueues; q++) {
		reg_write(d, 0x30, q);
		reg_write(d, 0x38, size ? size : 16);
		reg_write(d, 0x80, (uint32_t)ring_base(q));
		reg_write(d, 0x90, (uint32_t)ring_base(q) + 0x1000);
		reg_write(d, 0xa0, (uint32_t)ring_base(q) + 0x2000);
		reg_write(d, 0x44, 1);
	}
	reg_write(d, 0x70, 3 | 8 | 4);
}

static struct virtq_state *
queue(struct fz_dev *d, struct fz *f)
{
	return &d->t.s.q[fz_u8(f) % d->t.ops->nqueues];
}

/* A descriptor written into the table of a queue, wherever that is. */
static void
op_desc(struct fz_dev *d, struct fz *f)
{
	struct virtq_state *q = queue(d, f);
	uint8_t i = fz_u8(f), desc[16] = { 0 };

	fz_take(f, desc, sizeof(desc));
	if (q->size != 0)
		mem_write(&d->m, q->desc + 16ULL * (i % q->size), desc, 16);
}

/* A head offered in a queue's available ring, and the index moved on. */
static void
op_avail(struct fz_dev *d, struct fz *f)
{
	struct virtq_state *q = queue(d, f);
	uint16_t head = fz_u16(f), idx;

	if (q->size == 0 || mem_read(&d->m, q->avail + 2, &idx, 2) == -1)
		return;
	mem_write(&d->m, q->avail + 4 + 2ULL * (idx % q->size), &head, 2);
	idx++;
	mem_write(&d->m, q->avail + 2, &idx, 2);
}

static void
op_mem(struct fz_dev *d, struct fz *f)
{
	uint64_t gpa = fz_u32(f) % d->m.bytes;
	uint8_t buf[256];
	size_t n = fz_take(f, buf, fz_u8(f));

	mem_write(&d->m, gpa, buf, n);
}

static void
op_read(struct fz_dev *d, struct fz *f)
{
	uint64_t off = fz_u16(f) % VIRTIO_MMIO_SIZE;
	uint8_t data[8];

	virtio_mmio_io(&d->t, off, data, 1U << (fz_u8(f) % 4), false);
}

/* For writing seeds: where the input left the device. */
static void
fz_dev_trace(struct fz_dev *d)
{
	fprintf(stderr, "status %#x isr %#x\n", d->t.s.status, d->t.s.isr);
	for (uint16_t i = 0; i < d->t.ops->nqueues; i++) {
		const struct virtq_state *q = &d->t.s.q[i];
		uint16_t used = 0;

		mem_read(&d->m, q->used + 2, &used, 2);
		fprintf(stderr, "queue %u: size %u ready %u last_avail %u "
		    "next_used %u used.idx %u\n", i, q->size, q->ready,
		    q->last_avail, q->next_used, used);
	}
}

void
fz_dev_run(struct fz_dev *d, struct fz *f)
{
	while (f->n > 0) {
		uint8_t code = fz_u8(f);

		if (code >= 0x80 && d->op != NULL) {
			d->op(d, code & 0x7f, f);
			continue;
		}
		switch (code % 8) {
		case 0: reg_write(d, (fz_u8(f) * 4U) % 0x100, fz_u32(f)); break;
		case 1: op_read(d, f); break;
		case 2: op_mem(d, f); break;
		case 3: op_setup(d, f); break;
		case 4: op_desc(d, f); break;
		case 5: op_avail(d, f); break;
		case 6: reg_write(d, 0x50, fz_u8(f) % 4); /* FALLTHROUGH */
		default: fz_loop_run(&d->loop); break;
		}
	}
	fz_loop_run(&d->loop);
	if (getenv("FZ_TRACE") != NULL)
		fz_dev_trace(d);
}
