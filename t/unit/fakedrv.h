/*
 * A fake virtio guest driver for the device unit tests: it owns a fake
 * guest memory and the virtio-mmio transport of one device, writes
 * registers through virtio_mmio_io() and rings into guest memory as a
 * driver would, and reads back what the device gives.  The device itself
 * (virtio_blk, virtio_vsock, virtio_net) stays the test's: it is made
 * after fakedrv_init(), on the transport fakedrv.t, and closed before
 * fakedrv_destroy().
 *
 * The evloop is the test's too, and so is the choice of how it runs: a
 * test that starts it has the device on a thread of its own and waits
 * with fakedrv_used_next(); a test that never starts it calls
 * fakedrv_turn() and sees exactly what one notification does.
 *
 * No call checks the device: what the device made of a driver's action
 * is for the test to assert.  The driver obeys the test even where the
 * test breaks the rules (rings outside memory, overlapping, a chain
 * looping on itself): a write that falls outside guest memory is
 * dropped, as the hostile driver the test plays would not care.
 */
#ifndef SNAPVM_FAKEDRV_H
#define SNAPVM_FAKEDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "mem.h"
#include "virtio_mmio.h"

#define FAKEDRV_MEM_MIB		16
/* How long a wait for something that must happen may take before the
 * test fails: a backstop against a hang, never a measurement. */
#define FAKEDRV_BACKSTOP_MS	10000

/* Where fakedrv_queue() puts queue q's rings: each queue in a window of
 * its own, room enough for the largest queue the transport offers. */
#define FAKEDRV_RINGS		0x10000ULL
#define FAKEDRV_RING_STRIDE	0x4000ULL

/* The registers (virtio 1.2, 4.2.2) and status bits (2.1), the driver's
 * own copy: a test checks the transport against the specification, not
 * against the transport's names. */
enum {
	FAKEDRV_R_DEV_FEATURES = 0x010, FAKEDRV_R_DEV_FEATURES_SEL = 0x014,
	FAKEDRV_R_DRV_FEATURES = 0x020, FAKEDRV_R_DRV_FEATURES_SEL = 0x024,
	FAKEDRV_R_QUEUE_SEL = 0x030, FAKEDRV_R_QUEUE_NUM = 0x038,
	FAKEDRV_R_QUEUE_READY = 0x044, FAKEDRV_R_QUEUE_NOTIFY = 0x050,
	FAKEDRV_R_INT_STATUS = 0x060, FAKEDRV_R_INT_ACK = 0x064,
	FAKEDRV_R_STATUS = 0x070, FAKEDRV_R_DESC_LO = 0x080,
	FAKEDRV_R_DESC_HI = 0x084, FAKEDRV_R_AVAIL_LO = 0x090,
	FAKEDRV_R_AVAIL_HI = 0x094, FAKEDRV_R_USED_LO = 0x0a0,
	FAKEDRV_R_USED_HI = 0x0a4, FAKEDRV_R_CONFIG = 0x100,
};
#define FAKEDRV_S_ACK		1
#define FAKEDRV_S_DRIVER	2
#define FAKEDRV_S_DRIVER_OK	4
#define FAKEDRV_S_FEATURES_OK	8
#define FAKEDRV_S_NEEDS_RESET	0x40
#define FAKEDRV_S_FAILED	0x80
/* What a driver that finished its set-up has written. */
#define FAKEDRV_S_LIVE		(FAKEDRV_S_ACK | FAKEDRV_S_DRIVER | \
	FAKEDRV_S_FEATURES_OK | FAKEDRV_S_DRIVER_OK)

/* The driver's side of a queue: where it put the rings and how far it
 * got.  Descriptors are handed out in order and wrap at size: a test
 * keeps at most size of them outstanding, and the devices tested give
 * them back in the order taken. */
struct fakedrv_queue {
	uint64_t desc, avail, used;
	uint16_t size;
	uint16_t next_desc;		/* the next descriptor a chain takes */
	uint16_t avail_idx;		/* the driver's avail index */
	uint16_t used_seen;		/* used elements read so far */
};

struct fakedrv {
	struct mem mem;
	struct virtio_mmio t;
	struct evloop *loop;
	struct fakedrv_queue q[VIRTIO_MMIO_MAX_QUEUES];
};

/* A buffer of a chain; NEXT is added by fakedrv_chain(), WRITE is the
 * caller's (VIRTQ_DESC_F_*). */
struct fakedrv_seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

/* Guest memory and the transport of the device ops/dev, its
 * notifications served by loop; no KVM, so no interrupt is injected and
 * only the interrupt status tells.  0, or -1 (logged). */
int fakedrv_init(struct fakedrv *d, const struct virtio_dev_ops *ops,
    void *dev, struct evloop *loop);
void fakedrv_destroy(struct fakedrv *d);

void fakedrv_write(struct fakedrv *d, uint32_t off, uint32_t v);
uint32_t fakedrv_read(struct fakedrv *d, uint32_t off);
uint32_t fakedrv_status(struct fakedrv *d);
uint32_t fakedrv_isr(struct fakedrv *d);

/* The handshake of virtio 1.2, 3.1.1, in its three steps: a reset, ACK,
 * DRIVER, the features and FEATURES_OK; the queues; DRIVER_OK.  Split so
 * a test can put a broken queue between them. */
void fakedrv_features(struct fakedrv *d, uint64_t features);
/* Queue q with its rings at the given addresses, zeroed as a driver
 * hands them over, and enabled; the driver's counters start again. */
void fakedrv_queue_at(struct fakedrv *d, uint16_t q, uint16_t size,
    uint64_t desc, uint64_t avail, uint64_t used);
void fakedrv_queue(struct fakedrv *d, uint16_t q, uint16_t size);
void fakedrv_driver_ok(struct fakedrv *d);
/* All three, queues 0 to nqueues - 1 of size entries at the default
 * addresses. */
void fakedrv_setup(struct fakedrv *d, uint64_t features, uint16_t nqueues,
    uint16_t size);

/* Descriptor i of queue q as given, next included: for chains no
 * well-behaved driver makes. */
void fakedrv_desc(struct fakedrv *d, uint16_t q, uint16_t i,
    const struct fakedrv_seg *s, uint16_t next);
/* The n segments as one chain on the next free descriptors: its head.
 * Not yet available to the device. */
uint16_t fakedrv_chain(struct fakedrv *d, uint16_t q,
    const struct fakedrv_seg *s, int n);
/* head into the available ring and the index past it (a release store:
 * a device on the evloop thread sees the entry before the index). */
void fakedrv_publish(struct fakedrv *d, uint16_t q, uint16_t head);
void fakedrv_kick(struct fakedrv *d, uint16_t q);
/* chain, publish and kick: the head. */
uint16_t fakedrv_post(struct fakedrv *d, uint16_t q,
    const struct fakedrv_seg *s, int n);
/* The buffer address of descriptor head: which buffer a used element
 * gave back, as a driver keeps it per head. */
uint64_t fakedrv_head_addr(struct fakedrv *d, uint16_t q, uint16_t head);

/* The used index the device published. */
uint16_t fakedrv_used_idx(struct fakedrv *d, uint16_t q);
/* Chains made available on q that the device has not given back. */
uint16_t fakedrv_outstanding(struct fakedrv *d, uint16_t q);
/* The next used element not read yet, waiting up to ms for a device on
 * the evloop thread (FAKEDRV_BACKSTOP_MS for what must come; a short
 * wait only where the test asserts that nothing comes).  0 with its head
 * and length, or -1 if none came. */
int fakedrv_used_next(struct fakedrv *d, uint16_t q, int ms, uint32_t *head,
    uint32_t *len);

/* VIRTIO_F_EVENT_IDX (virtio 1.2, 2.7.7, 2.7.10), the driver's side:
 * its used_event at the end of the available ring, the device's
 * avail_event at the end of the used ring, and whether a driver that
 * moved its avail index from old to the current one must notify (it
 * must when the index passed avail_event). */
#define FAKEDRV_F_EVENT_IDX	29
void fakedrv_set_used_event(struct fakedrv *d, uint16_t q, uint16_t idx);
uint16_t fakedrv_avail_event(struct fakedrv *d, uint16_t q);
bool fakedrv_kick_needed(struct fakedrv *d, uint16_t q, uint16_t old);
/* Interrupts the transport raised so far. */
uint64_t fakedrv_interrupts(struct fakedrv *d);

/* One turn of an evloop nobody started: each ready handler runs once.
 * How many ran. */
int fakedrv_turn(struct fakedrv *d);

#endif
