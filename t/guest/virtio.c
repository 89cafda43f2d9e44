/* The driver's side of virtio-mmio for the test guests; see virtio.h. */
#include "guest.h"
#include "virtio.h"

#define barrier()	__asm__ volatile("" ::: "memory")

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

volatile uint32_t *
virtio_reg(uintptr_t dev, unsigned off)
{
	return (volatile uint32_t *)(dev + off);
}

uintptr_t
virtio_find(uint32_t id)
{
	for (unsigned i = 0; i < MMIO_SLOTS; i++) {
		uintptr_t dev = MMIO_BASE + 0x1000UL * i;

		if (*virtio_reg(dev, R_MAGIC) == 0x74726976 &&
		    *virtio_reg(dev, R_VERSION) == 2 &&
		    *virtio_reg(dev, R_DEVICE_ID) == id)
			return dev;
	}
	return 0;
}

int
virtio_start(uintptr_t dev, uint32_t features, uint32_t *offered)
{
	*virtio_reg(dev, R_STATUS) = 0;
	*virtio_reg(dev, R_STATUS) = ST_ACK | ST_DRIVER;
	*virtio_reg(dev, R_DEV_FEAT_SEL) = 0;
	*offered = *virtio_reg(dev, R_DEV_FEAT);
	*virtio_reg(dev, R_DRV_FEAT_SEL) = 0;
	*virtio_reg(dev, R_DRV_FEAT) = features;
	*virtio_reg(dev, R_DRV_FEAT_SEL) = 1;
	*virtio_reg(dev, R_DRV_FEAT) = 1;		/* VIRTIO_F_VERSION_1 */
	*virtio_reg(dev, R_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK;
	return *virtio_reg(dev, R_STATUS) & ST_FEATURES_OK ? 0 : -1;
}

int
virtio_queue(uintptr_t dev, int index, struct vq *vq, uintptr_t ring,
    uint16_t size)
{
	vq->dev = dev;
	vq->index = index;
	vq->ring = ring;
	vq->size = size;
	vq->avail_idx = vq->used_seen = 0;
	*(volatile uint32_t *)(ring + VRING_AVAIL) = 0;	/* stale indexes */
	*(volatile uint32_t *)(ring + VRING_USED) = 0;
	*virtio_reg(dev, R_QUEUE_SEL) = (uint32_t)index;
	if (*virtio_reg(dev, R_QUEUE_MAX) < size)
		return -1;
	*virtio_reg(dev, R_QUEUE_NUM) = size;
	*virtio_reg(dev, R_DESC) = (uint32_t)ring;
	*virtio_reg(dev, R_AVAIL) = (uint32_t)(ring + VRING_AVAIL);
	*virtio_reg(dev, R_USED) = (uint32_t)(ring + VRING_USED);
	*virtio_reg(dev, R_QUEUE_READY) = 1;
	return 0;
}

void
virtio_driver_ok(uintptr_t dev)
{
	*virtio_reg(dev, R_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK |
	    ST_DRIVER_OK;
}

void
virtio_desc(struct vq *vq, int i, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	volatile struct desc *d = (volatile struct desc *)vq->ring + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void
virtio_publish(struct vq *vq, uint16_t head, int notify)
{
	volatile uint16_t *avail = (volatile uint16_t *)(vq->ring + VRING_AVAIL);

	avail[2 + vq->avail_idx % vq->size] = head;
	barrier();
	avail[1] = ++vq->avail_idx;
	barrier();
	if (notify)
		*virtio_reg(vq->dev, R_NOTIFY) = (uint32_t)vq->index;
}

int
virtio_wait_used(struct vq *vq, long spins, uint32_t *id, uint32_t *len)
{
	volatile uint16_t *idx = (volatile uint16_t *)(vq->ring + VRING_USED + 2);
	volatile uint32_t *elem = (volatile uint32_t *)(vq->ring + VRING_USED + 4);

	for (long i = 0; i < spins; i++) {
		if (*idx != vq->used_seen) {
			barrier();
			*id = elem[2 * (vq->used_seen % vq->size)];
			*len = elem[2 * (vq->used_seen % vq->size) + 1];
			vq->used_seen++;
			return 0;
		}
		if (*virtio_reg(vq->dev, R_STATUS) & ST_NEEDS_RESET)
			return -2;
	}
	return -1;
}

int
virtio_wait_needs_reset(uintptr_t dev, long spins)
{
	for (long i = 0; i < spins; i++)
		if (*virtio_reg(dev, R_STATUS) & ST_NEEDS_RESET)
			return 0;
	return -1;
}
