#include <string.h>
#include <unistd.h>

#include "fakedrv.h"
#include "virtq.h"

int
fakedrv_init(struct fakedrv *d, const struct virtio_dev_ops *ops, void *dev,
    struct evloop *loop)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	if (mem_create(&d->mem, FAKEDRV_MEM_MIB) == -1)
		return -1;
	return virtio_mmio_init(&d->t, ops, dev, NULL, &d->mem, 0, 0, loop);
}

void
fakedrv_destroy(struct fakedrv *d)
{
	virtio_mmio_destroy(&d->t);
	mem_destroy(&d->mem);
}

void
fakedrv_write(struct fakedrv *d, uint32_t off, uint32_t v)
{
	virtio_mmio_io(&d->t, off, (uint8_t *)&v, 4, true);
}

uint32_t
fakedrv_read(struct fakedrv *d, uint32_t off)
{
	uint32_t v = 0;

	virtio_mmio_io(&d->t, off, (uint8_t *)&v, 4, false);
	return v;
}

uint32_t
fakedrv_status(struct fakedrv *d)
{
	return fakedrv_read(d, FAKEDRV_R_STATUS);
}

uint32_t
fakedrv_isr(struct fakedrv *d)
{
	return fakedrv_read(d, FAKEDRV_R_INT_STATUS);
}

void
fakedrv_features(struct fakedrv *d, uint64_t features)
{
	fakedrv_write(d, FAKEDRV_R_STATUS, 0);
	fakedrv_write(d, FAKEDRV_R_STATUS, FAKEDRV_S_ACK | FAKEDRV_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		fakedrv_write(d, FAKEDRV_R_DRV_FEATURES_SEL, sel);
		fakedrv_write(d, FAKEDRV_R_DRV_FEATURES,
		    (uint32_t)(features >> (32 * sel)));
	}
	fakedrv_write(d, FAKEDRV_R_STATUS, FAKEDRV_S_ACK | FAKEDRV_S_DRIVER |
	    FAKEDRV_S_FEATURES_OK);
}

static void
fakedrv_write64(struct fakedrv *d, uint32_t lo, uint64_t v)
{
	fakedrv_write(d, lo, (uint32_t)v);
	fakedrv_write(d, lo + 4, (uint32_t)(v >> 32));
}

/* Zeroes what of a ring lies in guest memory: a ring the test put
 * outside it is the device's to refuse. */
static void
fakedrv_zero(struct fakedrv *d, uint64_t at, uint64_t len)
{
	uint8_t *p = mem_ptr(&d->mem, at, len);

	if (p != NULL)
		memset(p, 0, len);
}

void
fakedrv_queue_at(struct fakedrv *d, uint16_t q, uint16_t size, uint64_t desc,
    uint64_t avail, uint64_t used)
{
	struct fakedrv_queue *dq = &d->q[q];

	*dq = (struct fakedrv_queue){ .desc = desc, .avail = avail,
	    .used = used, .size = size };
	fakedrv_zero(d, desc, 16ULL * size);
	fakedrv_zero(d, avail, 6 + 2ULL * size);
	fakedrv_zero(d, used, 6 + 8ULL * size);
	fakedrv_write(d, FAKEDRV_R_QUEUE_SEL, q);
	fakedrv_write(d, FAKEDRV_R_QUEUE_NUM, size);
	fakedrv_write64(d, FAKEDRV_R_DESC_LO, desc);
	fakedrv_write64(d, FAKEDRV_R_AVAIL_LO, avail);
	fakedrv_write64(d, FAKEDRV_R_USED_LO, used);
	fakedrv_write(d, FAKEDRV_R_QUEUE_READY, 1);
}

void
fakedrv_queue(struct fakedrv *d, uint16_t q, uint16_t size)
{
	uint64_t at = FAKEDRV_RINGS + FAKEDRV_RING_STRIDE * q;

	fakedrv_queue_at(d, q, size, at, at + 0x1000, at + 0x2000);
}

void
fakedrv_driver_ok(struct fakedrv *d)
{
	fakedrv_write(d, FAKEDRV_R_STATUS, FAKEDRV_S_LIVE);
}

void
fakedrv_setup(struct fakedrv *d, uint64_t features, uint16_t nqueues,
    uint16_t size)
{
	fakedrv_features(d, features);
	for (uint16_t q = 0; q < nqueues; q++)
		fakedrv_queue(d, q, size);
	fakedrv_driver_ok(d);
}

/* Ring slot of index n: a queue the test never set up (size 0) still
 * gives an answer, the device refusing what comes of it. */
static uint16_t
fakedrv_slot(const struct fakedrv_queue *dq, uint32_t n)
{
	return (uint16_t)(dq->size ? n % dq->size : 0);
}

void
fakedrv_desc(struct fakedrv *d, uint16_t q, uint16_t i,
    const struct fakedrv_seg *s, uint16_t next)
{
	uint8_t b[16];

	memcpy(b, &s->addr, 8);
	memcpy(b + 8, &s->len, 4);
	memcpy(b + 12, &s->flags, 2);
	memcpy(b + 14, &next, 2);
	mem_write(&d->mem, d->q[q].desc + 16ULL * i, b, 16);
}

uint16_t
fakedrv_chain(struct fakedrv *d, uint16_t q, const struct fakedrv_seg *s,
    int n)
{
	struct fakedrv_queue *dq = &d->q[q];
	uint16_t head = dq->next_desc;

	for (int k = 0; k < n; k++) {
		struct fakedrv_seg one = s[k];
		uint16_t i = dq->next_desc;

		dq->next_desc = fakedrv_slot(dq, i + 1U);
		if (k + 1 < n)
			one.flags |= VIRTQ_DESC_F_NEXT;
		fakedrv_desc(d, q, i, &one, dq->next_desc);
	}
	return head;
}

void
fakedrv_publish(struct fakedrv *d, uint16_t q, uint16_t head)
{
	struct fakedrv_queue *dq = &d->q[q];
	uint16_t *idx = mem_ptr(&d->mem, dq->avail + 2, 2);

	mem_write(&d->mem, dq->avail + 4 + 2ULL *
	    fakedrv_slot(dq, dq->avail_idx), &head, 2);
	dq->avail_idx++;
	if (idx != NULL)
		__atomic_store_n(idx, dq->avail_idx, __ATOMIC_RELEASE);
}

void
fakedrv_kick(struct fakedrv *d, uint16_t q)
{
	fakedrv_write(d, FAKEDRV_R_QUEUE_NOTIFY, q);
}

uint16_t
fakedrv_post(struct fakedrv *d, uint16_t q, const struct fakedrv_seg *s,
    int n)
{
	uint16_t head = fakedrv_chain(d, q, s, n);

	fakedrv_publish(d, q, head);
	fakedrv_kick(d, q);
	return head;
}

uint64_t
fakedrv_head_addr(struct fakedrv *d, uint16_t q, uint16_t head)
{
	uint64_t addr = 0;

	mem_read(&d->mem, d->q[q].desc + 16ULL * head, &addr, 8);
	return addr;
}

uint16_t
fakedrv_used_idx(struct fakedrv *d, uint16_t q)
{
	const uint16_t *idx = mem_ptr(&d->mem, d->q[q].used + 2, 2);

	return idx == NULL ? 0 : __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

uint16_t
fakedrv_outstanding(struct fakedrv *d, uint16_t q)
{
	return (uint16_t)(d->q[q].avail_idx - fakedrv_used_idx(d, q));
}

int
fakedrv_used_next(struct fakedrv *d, uint16_t q, int ms, uint32_t *head,
    uint32_t *len)
{
	struct fakedrv_queue *dq = &d->q[q];
	uint32_t elem[2];

	for (int i = 0; fakedrv_used_idx(d, q) == dq->used_seen; i++) {
		if (i >= ms)
			return -1;
		usleep(1000);
	}
	mem_read(&d->mem, dq->used + 4 + 8ULL * fakedrv_slot(dq, dq->used_seen),
	    elem, 8);
	dq->used_seen++;
	*head = elem[0];
	*len = elem[1];
	return 0;
}

void
fakedrv_set_used_event(struct fakedrv *d, uint16_t q, uint16_t idx)
{
	const struct fakedrv_queue *dq = &d->q[q];

	mem_write(&d->mem, dq->avail + 4 + 2ULL * dq->size, &idx, 2);
}

uint16_t
fakedrv_avail_event(struct fakedrv *d, uint16_t q)
{
	const struct fakedrv_queue *dq = &d->q[q];
	uint16_t ev = 0;

	mem_read(&d->mem, dq->used + 4 + 8ULL * dq->size, &ev, 2);
	return ev;
}

/* Written from the specification's wording, not taken from the device:
 * the entries old to avail_idx - 1 were added, and one of them is
 * avail_event. */
bool
fakedrv_kick_needed(struct fakedrv *d, uint16_t q, uint16_t old)
{
	uint16_t ev;

	/* The index the driver stored, before the device's wish is read. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ev = fakedrv_avail_event(d, q);
	for (uint16_t i = old; i != d->q[q].avail_idx; i++)
		if (i == ev)
			return true;
	return false;
}

uint64_t
fakedrv_interrupts(struct fakedrv *d)
{
	return __atomic_load_n(&d->t.interrupts, __ATOMIC_RELAXED);
}

int
fakedrv_turn(struct fakedrv *d)
{
	return evloop_turn(d->loop, 0);
}
