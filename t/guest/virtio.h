/*
 * The virtio-mmio transport from the driver's side (virtio 1.2, 4.2.2)
 * for the polling test guests: the registers, the status bits, and the
 * steps of every driver (virtio.c).  A queue's rings sit in one 16 KiB
 * block: descriptors, the available ring at +4 KiB, the used ring at
 * +8 KiB.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdint.h>

#define MMIO_BASE	0xd0000000UL
#define MMIO_SLOTS	8
#define R_MAGIC		0x000
#define R_VERSION	0x004
#define R_DEVICE_ID	0x008
#define R_DEV_FEAT	0x010
#define R_DEV_FEAT_SEL	0x014
#define R_DRV_FEAT	0x020
#define R_DRV_FEAT_SEL	0x024
#define R_QUEUE_SEL	0x030
#define R_QUEUE_MAX	0x034
#define R_QUEUE_NUM	0x038
#define R_QUEUE_READY	0x044
#define R_NOTIFY	0x050
#define R_STATUS	0x070
#define R_DESC		0x080
#define R_AVAIL		0x090
#define R_USED		0x0a0
#define R_CONFIG	0x100
#define ST_ACK		1
#define ST_DRIVER	2
#define ST_DRIVER_OK	4
#define ST_FEATURES_OK	8
#define ST_NEEDS_RESET	0x40
#define F_NEXT		1
#define F_WRITE		2

#define VRING_AVAIL	0x1000
#define VRING_USED	0x2000

struct vq {
	uintptr_t dev;
	int index;
	uintptr_t ring;			/* the 16 KiB block */
	uint16_t size;
	uint16_t avail_idx, used_seen;
};

/* The first slot with a device of type id, or 0. */
uintptr_t virtio_find(uint32_t id);
volatile uint32_t *virtio_reg(uintptr_t dev, unsigned off);
/* Reset; ACK, DRIVER, the feature bits 0-31 asked for and VERSION_1;
 * 0 once FEATURES_OK holds.  offered gets the device's bits 0-31. */
int virtio_start(uintptr_t dev, uint32_t features, uint32_t *offered);
/* Queue number index of size entries, rings at ring (zeroed indexes). */
int virtio_queue(uintptr_t dev, int index, struct vq *vq, uintptr_t ring,
    uint16_t size);
void virtio_driver_ok(uintptr_t dev);
void virtio_desc(struct vq *vq, int i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next);
/* Makes chain head available; kicks the device when notify is set. */
void virtio_publish(struct vq *vq, uint16_t head, int notify);
/* 0 and the next used element; -1 after spins polls (each one reads the
 * status register, a trip through the VMM); -2 when the device asks for
 * a reset. */
int virtio_wait_used(struct vq *vq, long spins, uint32_t *id, uint32_t *len);
/* 0 once the device asks for a reset, -1 after spins polls. */
int virtio_wait_needs_reset(uintptr_t dev, long spins);

#endif
