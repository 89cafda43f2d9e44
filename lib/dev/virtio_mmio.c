#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "log.h"
#include "virtio_mmio.h"

enum {
	R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c, R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024, R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064,
	R_STATUS = 0x070, R_DESC_LO = 0x080, R_DESC_HI = 0x084,
	R_AVAIL_LO = 0x090, R_AVAIL_HI = 0x094, R_USED_LO = 0x0a0,
	R_USED_HI = 0x0a4, R_CONFIG_GEN = 0x0fc, R_CONFIG = 0x100,
};

#define MMIO_MAGIC		0x74726976	/* "virt" */
#define MMIO_VERSION		2
#define MMIO_VENDOR		0x4d564e53	/* "SNVM" */
#define STATUS_ACK		1
#define STATUS_DRIVER		2
#define STATUS_DRIVER_OK	4
#define STATUS_FEATURES_OK	8
#define STATUS_NEEDS_RESET	0x40
#define STATUS_FAILED		0x80
/* What a driver may set; NEEDS_RESET is the device's alone. */
#define STATUS_DRIVER_BITS	(STATUS_ACK | STATUS_DRIVER | \
	STATUS_DRIVER_OK | STATUS_FEATURES_OK | STATUS_FAILED)
#define INT_BITS		(VIRTIO_INT_VRING | VIRTIO_INT_CONFIG)

static void
virtio_mmio_notified(void *opaque, int fd, uint32_t events)
{
	struct virtio_mmio *t = opaque;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&t->lock);
	for (uint16_t q = 0; q < t->ops->nqueues; q++)
		if (t->notify_fd[q] == fd && virtio_mmio_running(t) &&
		    t->s.q[q].ready)
			t->ops->queue_notify(t->dev, t, q);
	pthread_mutex_unlock(&t->lock);
}

/* Where KVM can, it signals the eventfd itself: no exit to user space. */
static void
virtio_mmio_ioeventfd(struct virtio_mmio *t, uint16_t q)
{
	struct kvm_ioeventfd io = {
		.datamatch = q, .addr = t->base + R_QUEUE_NOTIFY, .len = 4,
		.fd = t->notify_fd[q], .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	if (!kvm_has_cap(t->kvm, KVM_CAP_IOEVENTFD) ||
	    ioctl(t->kvm->vm_fd, KVM_IOEVENTFD, &io) == -1)
		t->ioeventfd = false;
}

static int
virtio_mmio_irqfd(struct virtio_mmio *t)
{
	struct kvm_irqfd irqfd = { .gsi = t->irq };

	if (!kvm_has_cap(t->kvm, KVM_CAP_IRQFD))
		return 0;
	if ((t->irq_fd = eventfd(0, EFD_CLOEXEC)) == -1)
		return -1;
	irqfd.fd = (uint32_t)t->irq_fd;
	if (ioctl(t->kvm->vm_fd, KVM_IRQFD, &irqfd) == -1) {
		close(t->irq_fd);
		t->irq_fd = -1;
	}
	return 0;
}

int
virtio_mmio_init(struct virtio_mmio *t, const struct virtio_dev_ops *ops,
    void *dev, const struct kvm *kvm, const struct mem *mem, uint64_t base,
    uint32_t irq, struct evloop *loop)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->ops = ops;
	t->log_fail = (struct log_rate)LOG_RATE_INIT(ops->name);
	t->dev = dev;
	t->kvm = kvm;
	t->mem = mem;
	t->base = base;
	t->irq = irq;
	t->irq_fd = -1;
	t->ioeventfd = kvm != NULL;
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->notify_fd[q] = -1;
	if (kvm != NULL && virtio_mmio_irqfd(t) == -1)
		goto fail;
	for (uint16_t q = 0; q < ops->nqueues; q++) {
		t->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->notify_fd[q] == -1 ||
		    evloop_add(loop, t->notify_fd[q], EPOLLIN,
		    virtio_mmio_notified, t) == -1)
			goto fail;
		if (kvm != NULL)
			virtio_mmio_ioeventfd(t, q);
	}
	return 0;
fail:
	log_warn("%s: virtio-mmio set-up", ops->name);
	return -1;
}

bool
virtio_mmio_running(const struct virtio_mmio *t)
{
	return (t->s.status & STATUS_DRIVER_OK) &&
	    !(t->s.status & (STATUS_NEEDS_RESET | STATUS_FAILED));
}

bool
virtio_mmio_event_idx(const struct virtio_mmio *t)
{
	return (t->s.status & STATUS_FEATURES_OK) &&
	    (t->s.driver_features & (1ULL << VIRTQ_F_EVENT_IDX));
}

void
virtio_mmio_interrupt(struct virtio_mmio *t, uint32_t why)
{
	uint64_t one = 1;

	t->s.isr |= why;
	__atomic_add_fetch(&t->interrupts, 1, __ATOMIC_RELAXED);
	/* ISA interrupts are edge-triggered: one pulse per event. */
	if (t->irq_fd != -1) {
		if (write(t->irq_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("%s: irqfd", t->ops->name);
	} else if (t->kvm != NULL) {
		kvm_irq_line(t->kvm, t->irq, 1);
		kvm_irq_line(t->kvm, t->irq, 0);
	}
}

/*
 * A driver that broke the rules gets a device that needs a reset (virtio
 * 1.2, 2.1.2): said once, and told to a driver that has DRIVER_OK.  Until
 * the reset the device leaves its queues alone.
 */
void
virtio_mmio_fail(struct virtio_mmio *t, const char *why)
{
	if (t->s.status & STATUS_NEEDS_RESET)
		return;
	log_warnx_rate(&t->log_fail, "%s: device stopped: %s", t->ops->name,
	    why);
	t->s.status |= STATUS_NEEDS_RESET;
	if (t->s.status & STATUS_DRIVER_OK)
		virtio_mmio_interrupt(t, VIRTIO_INT_CONFIG);
}

void
virtio_mmio_requeue(struct virtio_mmio *t, uint16_t q)
{
	uint64_t one = 1;

	if (q < t->ops->nqueues && t->notify_fd[q] != -1 &&
	    write(t->notify_fd[q], &one, sizeof(one)) != sizeof(one))
		log_warn("%s: notify", t->ops->name);
}

static void
virtio_mmio_reset(struct virtio_mmio *t)
{
	memset(&t->s, 0, sizeof(t->s));
	t->ops->reset(t->dev);
}

static uint64_t
virtio_mmio_features(const struct virtio_mmio *t)
{
	return t->ops->features(t->dev) | (1ULL << VIRTIO_F_VERSION_1);
}

/* FEATURES_OK sticks only for a subset of ours that includes 1.0. */
static bool
virtio_mmio_features_ok(const struct virtio_mmio *t, uint64_t driver)
{
	return !(driver & ~virtio_mmio_features(t)) &&
	    (driver & (1ULL << VIRTIO_F_VERSION_1));
}

/* Fills why (n bytes) and returns -1 if queue i may not run as it is. */
static int
virtio_mmio_queue_check(const struct virtio_mmio *t,
    const struct virtq_state *q, uint32_t i, char *why, size_t n)
{
	const char *bad = virtq_check(q, t->mem);

	if (bad == NULL)
		return 0;
	snprintf(why, n, "queue %u: %s", i, bad);
	return -1;
}

/* Every live queue is checked before the device touches any ring. */
static void
virtio_mmio_driver_ok(struct virtio_mmio *t)
{
	char why[128];

	if (!(t->s.status & STATUS_FEATURES_OK)) {
		virtio_mmio_fail(t, "DRIVER_OK before FEATURES_OK");
		return;
	}
	for (uint16_t q = 0; q < t->ops->nqueues; q++) {
		if (t->s.q[q].ready &&
		    virtio_mmio_queue_check(t, &t->s.q[q], q, why,
		    sizeof(why)) == -1) {
			virtio_mmio_fail(t, why);
			return;
		}
	}
}

/*
 * Virtio 1.2, 2.1.2: the driver never clears a status bit; only a reset
 * (writing 0) does.  A write that would clear one is ignored, so that
 * NEEDS_RESET, once set, stays until the reset that puts every queue
 * counter and register back to its initial value.
 */
static void
virtio_mmio_set_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = t->s.status & STATUS_DRIVER_BITS;

	if (v == 0) {
		virtio_mmio_reset(t);
		return;
	}
	v &= STATUS_DRIVER_BITS;
	if (old & ~v)
		return;
	if ((v & STATUS_FEATURES_OK) && !(old & STATUS_FEATURES_OK) &&
	    !virtio_mmio_features_ok(t, t->s.driver_features))
		v &= ~(uint32_t)STATUS_FEATURES_OK;
	t->s.status = v | (t->s.status & STATUS_NEEDS_RESET);
	if ((v & STATUS_DRIVER_OK) && !(old & STATUS_DRIVER_OK))
		virtio_mmio_driver_ok(t);
}

static struct virtq_state *
virtio_mmio_queue(struct virtio_mmio *t)
{
	return t->s.queue_sel < t->ops->nqueues ? &t->s.q[t->s.queue_sel] : NULL;
}

static uint32_t
virtio_mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtq_state *q = virtio_mmio_queue(t);
	uint64_t f;

	switch (off) {
	case R_MAGIC: return MMIO_MAGIC;
	case R_VERSION: return MMIO_VERSION;
	case R_DEVICE_ID: return t->ops->device_id;
	case R_VENDOR_ID: return MMIO_VENDOR;
	case R_DEV_FEATURES:
		f = virtio_mmio_features(t);
		return t->s.dev_features_sel == 0 ? (uint32_t)f :
		    t->s.dev_features_sel == 1 ? (uint32_t)(f >> 32) : 0;
	case R_QUEUE_NUM_MAX: return q ? VIRTQ_MAX_SIZE : 0;
	case R_QUEUE_READY: return q ? q->ready : 0;
	case R_INT_STATUS: return t->s.isr;
	case R_STATUS: return t->s.status;
	case R_CONFIG_GEN: return t->s.config_gen;
	default: return 0;
	}
}

static void
set_half(uint64_t *v, bool high, uint32_t x)
{
	*v = high ? (*v & 0xffffffffULL) | ((uint64_t)x << 32) :
	    (*v & ~0xffffffffULL) | x;
}

/* A queue is checked when enabled, and again at DRIVER_OK. */
static void
virtio_mmio_queue_ready(struct virtio_mmio *t, struct virtq_state *q,
    uint32_t v)
{
	char why[128];
	bool was = q->ready;

	q->ready = v & 1;
	if (q->ready && !was &&
	    virtio_mmio_queue_check(t, q, t->s.queue_sel, why,
	    sizeof(why)) == -1)
		virtio_mmio_fail(t, why);
}

/* Queue registers change only while the queue is not live. */
static void
virtio_mmio_write_queue(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtq_state *q = virtio_mmio_queue(t);

	if (q == NULL || (q->ready && off != R_QUEUE_READY))
		return;
	switch (off) {
	case R_QUEUE_NUM: q->size = v <= VIRTQ_MAX_SIZE ? (uint16_t)v : 0; break;
	case R_QUEUE_READY: virtio_mmio_queue_ready(t, q, v); break;
	case R_DESC_LO: case R_DESC_HI:
		set_half(&q->desc, off == R_DESC_HI, v); break;
	case R_AVAIL_LO: case R_AVAIL_HI:
		set_half(&q->avail, off == R_AVAIL_HI, v); break;
	case R_USED_LO: case R_USED_HI:
		set_half(&q->used, off == R_USED_HI, v); break;
	default: break;
	}
}

static void
virtio_mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	switch (off) {
	case R_DEV_FEATURES_SEL: t->s.dev_features_sel = v; break;
	case R_DRV_FEATURES:
		if (t->s.drv_features_sel < 2 &&
		    !(t->s.status & STATUS_FEATURES_OK))
			set_half(&t->s.driver_features, t->s.drv_features_sel, v);
		break;
	case R_DRV_FEATURES_SEL: t->s.drv_features_sel = v; break;
	case R_QUEUE_SEL: t->s.queue_sel = v; break;
	case R_QUEUE_NOTIFY:
		if (v < t->ops->nqueues)
			virtio_mmio_requeue(t, (uint16_t)v);
		break;
	case R_INT_ACK: t->s.isr &= ~v; break;
	case R_STATUS: virtio_mmio_set_status(t, v); break;
	default: virtio_mmio_write_queue(t, off, v); break;
	}
}

void
virtio_mmio_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write)
{
	struct virtio_mmio *t = opaque;
	uint32_t v = 0;

	pthread_mutex_lock(&t->lock);
	if (offset >= R_CONFIG) {
		if (!is_write)
			t->ops->config_read(t->dev, (uint32_t)(offset - R_CONFIG),
			    data, len);
	} else if (len != 4 || (offset & 3)) {
		if (!is_write)
			memset(data, 0, len);	/* registers are 32-bit only */
	} else if (is_write) {
		memcpy(&v, data, 4);
		virtio_mmio_write_reg(t, offset, v);
	} else {
		v = virtio_mmio_read_reg(t, offset);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

void
virtio_mmio_destroy(struct virtio_mmio *t)
{
	log_rate_flush(&t->log_fail);
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		if (t->notify_fd[q] != -1)
			close(t->notify_fd[q]);
	if (t->irq_fd != -1)
		close(t->irq_fd);
	t->irq_fd = -1;
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->notify_fd[q] = -1;
	pthread_mutex_destroy(&t->lock);
}

void
virtio_mmio_restored(struct virtio_mmio *t)
{
	for (uint16_t q = 0; q < t->ops->nqueues; q++)
		if (t->s.q[q].ready)
			virtio_mmio_requeue(t, q);
}

void
virtio_mmio_config_changed(struct virtio_mmio *t)
{
	t->s.config_gen++;
	if (virtio_mmio_running(t))
		virtio_mmio_interrupt(t, VIRTIO_INT_CONFIG);
}

/* The status register as a driver could have left it. */
static int
virtio_mmio_status_check(const struct virtio_mmio *t,
    const struct virtio_mmio_state *s, char *why, size_t n)
{
	if (s->status & ~(uint32_t)(STATUS_DRIVER_BITS | STATUS_NEEDS_RESET))
		snprintf(why, n, "status %#x: bits %#x are not status bits",
		    s->status, s->status &
		    ~(uint32_t)(STATUS_DRIVER_BITS | STATUS_NEEDS_RESET));
	else if ((s->status & STATUS_FEATURES_OK) &&
	    !virtio_mmio_features_ok(t, s->driver_features))
		snprintf(why, n, "driver_features %#jx with FEATURES_OK: not "
		    "VERSION_1 and a subset of the device's %#jx",
		    (uintmax_t)s->driver_features,
		    (uintmax_t)virtio_mmio_features(t));
	else if ((s->status & STATUS_DRIVER_OK) &&
	    !(s->status & (STATUS_FEATURES_OK | STATUS_NEEDS_RESET)))
		snprintf(why, n, "status %#x: DRIVER_OK without FEATURES_OK",
		    s->status);
	else if (s->isr & ~(uint32_t)INT_BITS)
		snprintf(why, n, "isr %#x: bits %#x are not interrupt causes",
		    s->isr, s->isr & ~(uint32_t)INT_BITS);
	else
		return 0;
	return -1;
}

/* Queue i as the driver could have set it and the device moved it. */
static int
virtio_mmio_state_queue(const struct virtio_mmio *t,
    const struct virtio_mmio_state *s, uint16_t i, char *why, size_t n)
{
	static const struct virtq_state none;
	const struct virtq_state *q = &s->q[i];

	if (i >= t->ops->nqueues) {
		if (memcmp(q, &none, sizeof(none)) == 0)
			return 0;
		snprintf(why, n, "queue %u: set, the device has %u queues", i,
		    t->ops->nqueues);
		return -1;
	}
	if (q->size > VIRTQ_MAX_SIZE || q->ready > 1) {
		snprintf(why, n, "queue %u: size %u (at most %u), ready %u", i,
		    q->size, VIRTQ_MAX_SIZE, q->ready);
		return -1;
	}
	/* A device that needs a reset leaves its queues alone until then. */
	if (!q->ready || (s->status & STATUS_NEEDS_RESET))
		return 0;
	if (virtio_mmio_queue_check(t, q, i, why, n) == -1)
		return -1;
	if ((uint16_t)(q->last_avail - q->next_used) > q->size) {
		snprintf(why, n, "queue %u: last_avail %u, next_used %u: more "
		    "chains in flight than its %u entries", i, q->last_avail,
		    q->next_used, q->size);
		return -1;
	}
	return 0;
}

int
virtio_mmio_load(struct virtio_mmio *t, const struct virtio_mmio_state *s,
    const char *file, uint32_t index)
{
	char why[160];
	int rc = virtio_mmio_status_check(t, s, why, sizeof(why));

	for (uint16_t q = 0; q < VIRTIO_MMIO_MAX_QUEUES && rc == 0; q++)
		rc = virtio_mmio_state_queue(t, s, q, why, sizeof(why));
	if (rc == -1) {
		log_warnx("%s: section mmio %u (%s): %s", file, index,
		    t->ops->name, why);
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&t->lock);
	t->s = *s;
	pthread_mutex_unlock(&t->lock);
	return 0;
}
