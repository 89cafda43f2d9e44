/*
 * The virtio-mmio transport, version 2 (virtio 1.2, section 4.2).  It
 * decodes registers and owns the queues; the device behind it (block,
 * vsock, net) sees only the calls of struct virtio_dev_ops and never an
 * MMIO offset.
 *
 * Threads: vCPUs access registers; queue notifications are delivered to
 * the device on the evloop thread, via an ioeventfd where KVM offers one
 * and via the same eventfd, written by the MMIO handler, where it does
 * not.  The transport lock is held around every register access and every
 * device callback.
 */
#ifndef SNAPVM_VIRTIO_MMIO_H
#define SNAPVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "kvm.h"
#include "log.h"
#include "mem.h"
#include "virtq.h"

#define VIRTIO_MMIO_SIZE	0x1000
#define VIRTIO_MMIO_MAX_QUEUES	4

#define VIRTIO_F_VERSION_1	32

#define VIRTIO_ID_NET		1
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_VSOCK		19

#define VIRTIO_INT_VRING	1
#define VIRTIO_INT_CONFIG	2

/*
 * Chains a device takes from a queue per notification.  Past it the
 * device calls virtio_mmio_requeue() and returns: the transport lock is
 * released, and vCPU exits to the device, other devices and a stop of
 * the evloop are served before the rest.  A guest can keep a queue full
 * for ever (even feed it from the device's own writes into its buffers)
 * but cannot hold the device thread.
 */
#define VIRTIO_MMIO_BUDGET	64

struct virtio_mmio;

struct virtio_dev_ops {
	const char *name;
	uint32_t device_id;
	uint16_t nqueues;
	uint64_t (*features)(void *dev);
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*queue_notify)(void *dev, struct virtio_mmio *t, uint16_t q);
	void (*reset)(void *dev);
};

/* Guest-visible transport state: what a snapshot of the transport holds. */
struct virtio_mmio_state {
	uint64_t driver_features;
	uint32_t dev_features_sel, drv_features_sel;
	uint32_t queue_sel, status, isr, config_gen;
	struct virtq_state q[VIRTIO_MMIO_MAX_QUEUES];
};
_Static_assert(sizeof(struct virtio_mmio_state) == 32 + 32 *
    VIRTIO_MMIO_MAX_QUEUES, "virtio_mmio_state layout");

struct virtio_mmio {
	struct virtio_mmio_state s;
	pthread_mutex_t lock;
	uint64_t base;
	uint32_t irq;
	int irq_fd;			/* irqfd, or -1: KVM_IRQ_LINE */
	bool ioeventfd;			/* KVM signals notify_fd itself */
	int notify_fd[VIRTIO_MMIO_MAX_QUEUES];
	const struct virtio_dev_ops *ops;
	void *dev;
	const struct kvm *kvm;
	const struct mem *mem;
	struct log_rate log_fail;	/* a guest can fail it in a loop */
	uint64_t interrupts;		/* raised: atomic, any thread */
};

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops,
    void *dev, const struct kvm *kvm, const struct mem *mem, uint64_t base,
    uint32_t irq, struct evloop *loop);
void virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data,
    uint32_t len, bool is_write);
void virtio_mmio_interrupt(struct virtio_mmio *t, uint32_t why);
/* Sets NEEDS_RESET, logged once (and at a bounded rate across resets):
 * the device does nothing with its queues until the driver resets it. */
void virtio_mmio_fail(struct virtio_mmio *t, const char *why);
/* Queue q is looked at again on a later turn of the evloop. */
void virtio_mmio_requeue(struct virtio_mmio *t, uint16_t q);
bool virtio_mmio_running(const struct virtio_mmio *t);
/* Whether the driver's accepted features (FEATURES_OK) hold
 * VIRTQ_F_EVENT_IDX: the event_idx of virtq_pop() and virtq_flush(). */
bool virtio_mmio_event_idx(const struct virtio_mmio *t);
void virtio_mmio_destroy(struct virtio_mmio *t);
/* After a restore: queues the guest filled while the snapshot was taken
 * are looked at once, as if it had notified them again. */
void virtio_mmio_restored(struct virtio_mmio *t);
void virtio_mmio_config_changed(struct virtio_mmio *t);
/*
 * A snapshot's transport section (mmio number index of file), checked as
 * if a driver had written it: status bits a driver can set (and the
 * device's NEEDS_RESET), accepted features under FEATURES_OK, interrupt
 * causes, queue sizes, and the layout of every live queue against guest
 * memory (t->mem, mapped already).  -1 with a message naming the file,
 * section and field; else the state is the transport's.
 */
int virtio_mmio_load(struct virtio_mmio *t, const struct virtio_mmio_state *s,
    const char *file, uint32_t index);

#endif
