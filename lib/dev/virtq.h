/*
 * Split virtqueues (virtio 1.2, section 2.7).  The rings live in guest
 * memory and are untrusted: every index, address, length and chain is
 * checked here before a device sees it, and a queue that breaks the rules
 * is reported as malformed so its device can stop using it.
 */
#ifndef SNAPVM_VIRTQ_H
#define SNAPVM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

#define VIRTQ_MAX_SIZE	256		/* queue size offered to drivers */
#define VIRTQ_MAX_CHAIN	VIRTQ_MAX_SIZE

#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* Feature bit (virtio 1.2, 2.7.7 and 2.7.10): each side says, in an event
 * index at the end of the other's ring, from which entry on it wants to
 * be told. */
#define VIRTQ_F_EVENT_IDX	29

/* Guest-visible queue state: what a snapshot of a queue holds. */
struct virtq_state {
	uint64_t desc, avail, used;	/* guest-physical ring addresses */
	uint16_t size;			/* entries, a power of 2 */
	uint16_t ready;
	uint16_t last_avail;		/* next avail entry to take */
	uint16_t next_used;		/* next used entry to fill */
};
_Static_assert(sizeof(struct virtq_state) == 32, "virtq_state layout");

struct virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool write;			/* device writes, driver reads */
};

/* A chain's byte counts fit 32 bits (a longer chain is malformed): the
 * used ring reports the bytes written in 32 bits. */
struct virtq_chain {
	uint16_t head;
	uint16_t n;
	uint32_t out_len, in_len;	/* device-readable, device-writable bytes */
	struct virtq_buf buf[VIRTQ_MAX_CHAIN];
};

/*
 * 1: a chain was taken; 0: nothing available; -1: the queue is malformed.
 * event_idx says VIRTQ_F_EVENT_IDX was negotiated: then a queue found
 * empty gets its avail_event set to the next entry, so that the driver
 * notifies when it adds one, and is looked at once more after that, for
 * an entry the driver added before it could see the new avail_event.
 */
int virtq_pop(struct virtq_state *q, const struct mem *m, struct virtq_chain *c,
    bool event_idx);
/* A used element, not seen by the driver until virtq_flush(). */
int virtq_push(struct virtq_state *q, const struct mem *m, uint16_t head,
    uint32_t written);
/*
 * Publishes every element pushed since the last flush with one store of
 * the used index.  True if the driver wants an interrupt for them: unless
 * it set VIRTQ_AVAIL_F_NO_INTERRUPT or, with event_idx, unless the index
 * did not pass its used_event.  False when there was nothing to publish
 * or the queue is not usable.  The index the previous flush published is
 * read back from the used ring: a driver that overwrites it changes only
 * whether it gets its own interrupt.
 */
bool virtq_flush(struct virtq_state *q, const struct mem *m, bool event_idx);
/* Whether an index moving from old to new passed event (16-bit indexes
 * that wrap): the rule both sides apply to the other's event index. */
bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);
/* The queue's layout (virtio 1.2, 2.7): size a power of two up to
 * VIRTQ_MAX_SIZE, each ring aligned and wholly inside guest memory, no
 * two rings overlapping.  NULL if it holds, else what is wrong. */
const char *virtq_check(const struct virtq_state *q, const struct mem *m);
bool virtq_valid(const struct virtq_state *q, const struct mem *m);

/* Copy between a chain's buffers and host memory, from byte offset off. */
size_t virtq_read(const struct mem *m, const struct virtq_chain *c,
    size_t off, void *dst, size_t len);
size_t virtq_write(const struct mem *m, const struct virtq_chain *c,
    size_t off, const void *src, size_t len);

#endif
