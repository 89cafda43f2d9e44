/*
 * virtio-net (virtio 1.2, section 5.1) over a packet fd: one receive and
 * one transmit queue, the MAC and the link status (always up) in config
 * space, no offloads.  The fd is a tap opened by tuntap_open(), or in the
 * unit tests one end of a socket pair: each read or write is one frame
 * behind a 12-byte virtio-net header.  Since no offload is negotiated,
 * the headers carry nothing: the device writes zeros to the tap and gives
 * the guest zeros and num_buffers 1.
 *
 * Frames from the guest are bounded by the queue checks of virtq.c and,
 * here, by size: a transmit chain shorter than the header or holding more
 * than VIRTIO_NET_MAX_FRAME bytes of frame is dropped and counted.
 * Receiving, the device reads the fd (from the evloop) only while the
 * guest has buffers posted; without them frames wait in the tap's queue
 * rather than being dropped.  A frame larger than the buffer at hand is
 * dropped and counted, and the buffer kept for the next one.
 *
 * Everything runs on the evloop thread under the transport lock.
 */
#ifndef SNAPVM_VIRTIO_NET_H
#define SNAPVM_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "virtio_mmio.h"

#define VIRTIO_NET_HDR_LEN	12		/* struct virtio_net_hdr_v1 */
#define VIRTIO_NET_MAX_FRAME	65550		/* an Ethernet frame, VLAN tag
						 * and 64 KiB of payload at most */
#define VIRTIO_NET_IFNAME	16		/* IFNAMSIZ */
#define VIRTIO_NET_STATE_VERSION 1
#define VIRTIO_NET_S_LINK_UP	1

/* Guest-visible device state: what a snapshot of the device holds.  The
 * version lets the section change while old snapshots stay readable. */
struct virtio_net_state {
	uint32_t version;		/* VIRTIO_NET_STATE_VERSION */
	uint16_t status;		/* config status: VIRTIO_NET_S_LINK_UP */
	uint8_t mac[6];
};
_Static_assert(sizeof(struct virtio_net_state) == 12, "virtio_net_state");

/* Host-side counters, reported when the device closes. */
struct virtio_net_stats {
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped, tx_errors;
};

struct virtio_net {
	struct virtio_net_state s;
	int fd;
	char ifname[VIRTIO_NET_IFNAME];	/* the tap's name, for snapshots */
	bool watching;			/* fd is in the evloop */
	bool fd_failed;			/* reading it failed: said once */
	struct evloop *loop;
	struct virtio_mmio *t;
	struct virtio_net_stats stats;
	uint8_t *frame;			/* one frame behind its header */
	struct virtq_chain chain;
};

/* What vmrun --net asks for: the tap, and the MAC if given. */
struct virtio_net_opt {
	const char *tap;		/* NULL: no network device */
	bool has_mac;
	uint8_t mac[6];
};

/* Takes fd over (closed by virtio_net_close, even if init fails). */
int virtio_net_init(struct virtio_net *n, int fd, const char *ifname,
    const uint8_t mac[6], struct evloop *loop, struct virtio_mmio *t);
void virtio_net_close(struct virtio_net *n);
/* A snapshot's net section (size bytes): version, link status, unicast
 * MAC; -1 with a message naming the file, section and field. */
int virtio_net_check(const void *section, uint32_t size, const char *file);
/* Its net_tap section: a NUL-terminated interface name. */
int virtio_net_tap_check(const void *section, uint32_t size,
    const char *file);
/* Both sections of the device: its own (checked again) and its
 * transport's (virtio_mmio_load, mmio number index).  The device keeps
 * the MAC it was given, raising a config change if it differs. */
int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *s,
    const struct virtio_mmio_state *ms, const char *file, uint32_t index);

/* "TAP" or "TAP/MAC" (MAC as six hex pairs with colons, unicast, not
 * zero); spec is the flag's own string and is split in place. */
int virtio_net_parse_opt(char *spec, struct virtio_net_opt *o);
/* Locally administered unicast 02:53:xx:xx:xx:xx, from the vsock CID. */
void virtio_net_default_mac(uint64_t cid, uint8_t mac[6]);

extern const struct virtio_dev_ops virtio_net_ops;

#endif
