#include <errno.h>
#include <string.h>

#include "log.h"
#include "virtq.h"

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Ring sizes per virtio 1.2, 2.7: header, entries, event word. */
static uint64_t
desc_bytes(uint16_t size)
{
	return 16ULL * size;
}

static uint64_t
avail_bytes(uint16_t size)
{
	return 6 + 2ULL * size;
}

static uint64_t
used_bytes(uint16_t size)
{
	return 6 + 8ULL * size;
}

static bool
overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Checked inside guest memory first, so that no sum below can wrap. */
const char *
virtq_check(const struct virtq_state *q, const struct mem *m)
{
	uint64_t d = desc_bytes(q->size), a = avail_bytes(q->size),
	    u = used_bytes(q->size);

	if (q->size == 0 || q->size > VIRTQ_MAX_SIZE ||
	    (q->size & (q->size - 1)) != 0)
		return "size is not a power of two up to 256";
	if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
		return "ring misaligned (descriptors 16, available 2, used 4)";
	if (mem_ptr(m, q->desc, d) == NULL)
		return "descriptor table outside guest memory";
	if (mem_ptr(m, q->avail, a) == NULL)
		return "available ring outside guest memory";
	if (mem_ptr(m, q->used, u) == NULL)
		return "used ring outside guest memory";
	if (overlap(q->used, u, q->avail, a))
		return "used ring overlaps the available ring";
	if (overlap(q->used, u, q->desc, d))
		return "used ring overlaps the descriptor table";
	if (overlap(q->avail, a, q->desc, d))
		return "available ring overlaps the descriptor table";
	return NULL;
}

bool
virtq_valid(const struct virtq_state *q, const struct mem *m)
{
	return virtq_check(q, m) == NULL;
}

static uint16_t
load16_acquire(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static int
virtq_bad(const char *why)
{
	log_warnx("virtqueue: %s", why);
	errno = EPROTO;
	return -1;
}

static int
chain_add(const struct mem *m, struct virtq_chain *c, const struct virtq_desc *d)
{
	struct virtq_buf *b;

	if (d->flags & VIRTQ_DESC_F_INDIRECT)
		return virtq_bad("indirect descriptor (not negotiated)");
	if (c->n == VIRTQ_MAX_CHAIN)
		return virtq_bad("descriptor chain too long (a loop?)");
	if (mem_ptr(m, d->addr, d->len) == NULL)
		return virtq_bad("buffer outside guest memory");
	if (!(d->flags & VIRTQ_DESC_F_WRITE) && c->in_len > 0)
		return virtq_bad("readable buffer after a writable one");
	/* Buffers may overlap, so their sum is not bounded by guest memory:
	 * a 32-bit used length could not describe more anyway. */
	if (d->len > UINT32_MAX - ((d->flags & VIRTQ_DESC_F_WRITE) ?
	    c->in_len : c->out_len))
		return virtq_bad("buffers of a chain add up to 4 GiB or more");
	b = &c->buf[c->n++];
	b->addr = d->addr;
	b->len = d->len;
	b->write = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
	if (b->write)
		c->in_len += d->len;
	else
		c->out_len += d->len;
	return 0;
}

static int
virtq_walk(const struct virtq_state *q, const struct mem *m, uint16_t head,
    struct virtq_chain *c)
{
	const struct virtq_desc *table = mem_ptr(m, q->desc, desc_bytes(q->size));
	struct virtq_desc d;
	uint16_t i = head;

	memset(c, 0, offsetof(struct virtq_chain, buf));
	c->head = head;
	for (;;) {
		if (i >= q->size)
			return virtq_bad("descriptor index out of range");
		memcpy(&d, &table[i], sizeof(d));
		if (chain_add(m, c, &d) == -1)
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (c->n >= q->size)
			return virtq_bad("descriptor chain longer than the queue");
		i = d.next;
	}
}

/* The event words that end each ring (virtio 1.2, 2.7.6 and 2.7.8),
 * inside the lengths virtq_check() found in guest memory. */
static uint64_t
used_event_off(uint16_t size)
{
	return 4 + 2ULL * size;
}

static uint64_t
avail_event_off(uint16_t size)
{
	return 4 + 8ULL * size;
}

/*
 * Asks the driver to notify at entry last_avail, then reads its index
 * again.  The fence orders the store before the load, as the driver
 * orders its index store before its load of avail_event: one of the two
 * sides sees the other's write, so an entry never goes unannounced.
 */
static uint16_t
virtq_arm(const struct virtq_state *q, const struct mem *m,
    const uint8_t *avail)
{
	uint8_t *used = mem_ptr(m, q->used, used_bytes(q->size));

	__atomic_store_n((uint16_t *)(used + avail_event_off(q->size)),
	    q->last_avail, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16_acquire(avail + 2);
}

int
virtq_pop(struct virtq_state *q, const struct mem *m, struct virtq_chain *c,
    bool event_idx)
{
	const uint8_t *avail;
	uint16_t idx, head;

	if (!q->ready || !virtq_valid(q, m))
		return virtq_bad("queue used before it was set up");
	avail = mem_ptr(m, q->avail, avail_bytes(q->size));
	idx = load16_acquire(avail + 2);
	if (idx == q->last_avail && event_idx)
		idx = virtq_arm(q, m, avail);
	if (idx == q->last_avail)
		return 0;
	if ((uint16_t)(idx - q->last_avail) > q->size)
		return virtq_bad("available index ran ahead of the queue");
	memcpy(&head, avail + 4 + 2 * (q->last_avail % q->size), 2);
	if (virtq_walk(q, m, head, c) == -1)
		return -1;
	q->last_avail++;
	return 1;
}

int
virtq_push(struct virtq_state *q, const struct mem *m, uint16_t head,
    uint32_t written)
{
	uint8_t *used = mem_ptr(m, q->used, used_bytes(q->size));
	uint32_t elem[2] = { head, written };

	if (used == NULL)
		return virtq_bad("used ring outside guest memory");
	memcpy(used + 4 + 8 * (q->next_used % q->size), elem, sizeof(elem));
	q->next_used++;
	return 0;
}

bool
virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool
virtq_flush(struct virtq_state *q, const struct mem *m, bool event_idx)
{
	const uint8_t *avail;
	uint8_t *used;
	uint16_t old;

	if (!q->ready || !virtq_valid(q, m))
		return false;
	avail = mem_ptr(m, q->avail, avail_bytes(q->size));
	used = mem_ptr(m, q->used, used_bytes(q->size));
	old = load16_acquire(used + 2);
	if (old == q->next_used)
		return false;
	/* The elements must be visible before the index that publishes them. */
	__atomic_store_n((uint16_t *)(used + 2), q->next_used, __ATOMIC_RELEASE);
	/* And the index before the driver's wishes are read: it sets them,
	 * then reads the index again, the other way round. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx)
		return virtq_need_event(load16_acquire(avail +
		    used_event_off(q->size)), q->next_used, old);
	return !(load16_acquire(avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Walks the buffers of one direction, skipping off bytes first. */
static size_t
virtq_copy(const struct mem *m, const struct virtq_chain *c, size_t off,
    uint8_t *host, size_t len, bool to_guest)
{
	size_t done = 0;

	for (int i = 0; i < c->n && done < len; i++) {
		const struct virtq_buf *b = &c->buf[i];
		size_t n;
		uint8_t *g;

		if (b->write != to_guest)
			continue;
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		n = b->len - off < len - done ? b->len - off : len - done;
		g = mem_ptr(m, b->addr + off, n);
		if (g == NULL)
			break;
		if (to_guest)
			memcpy(g, host + done, n);
		else
			memcpy(host + done, g, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t
virtq_read(const struct mem *m, const struct virtq_chain *c, size_t off,
    void *dst, size_t len)
{
	return virtq_copy(m, c, off, dst, len, false);
}

size_t
virtq_write(const struct mem *m, const struct virtq_chain *c, size_t off,
    const void *src, size_t len)
{
	return virtq_copy(m, c, off, (uint8_t *)(uintptr_t)src, len, true);
}
