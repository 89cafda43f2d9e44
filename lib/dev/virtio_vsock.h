/*
 * virtio-vsock (virtio 1.2, section 5.10), stream sockets only, with the
 * host side on Unix domain sockets, emulated in this process (no vhost):
 *
 *  - a guest connection to host port P reaches the Unix socket "PATH_P";
 *  - a host program connects to "PATH", writes "CONNECT P\n", and is joined
 *    to guest port P; it reads "OK <host port>\n" first.  Bytes it writes
 *    behind the line reach the guest once the guest has accepted.
 *
 * Flow control is credit-based in both directions.  Everything runs on the
 * evloop thread under the transport lock.  The host side (connections,
 * their sockets, the timer) is vsock_conn.h; this is the device over it.
 *
 * Nothing is dropped for want of room.  Control packets a connection owes
 * the guest are flags on the connection (at most one of each kind), sent
 * as the guest gives receive buffers; RSTs for packets that match no
 * connection wait in a ring, and while that ring is full the device takes
 * no more guest packets (5.10.6.1: processing stops when the resources
 * outside the virtqueues are used up, and resumes when the guest takes
 * its replies).  A receive buffer too small for data carries a header-only
 * packet (a credit update) instead.
 *
 * Closing follows 5.10.6.4: when the guest has shut down sending (Linux
 * close() sends SHUTDOWN with both flags), the bytes it sent before still
 * go to the host program first; only then does the host socket get EOF
 * (SHUT_WR, or close when the guest is done both ways) and the guest the
 * RST that ends the connection.  A guest RST while those bytes are still
 * going out (its own close timeout) lets them finish without the guest.
 * Host EOF is SHUTDOWN(SEND) to the guest when the program only shut
 * down writing, and SHUTDOWN(SEND|RCV) when it closed its socket.
 *
 * Bounds: VSOCK_MAX_CONN connections at once, both directions together;
 * past that a guest REQUEST gets RST and a host program EOF, each counted
 * and logged.  A connection that waits on its peer (a host program that
 * never sends its CONNECT line, a guest that never answers one, a host
 * program that never takes the guest's last bytes) is given up after
 * timeout_ms.  Each notification handles at
 * most VSOCK_BUDGET buffers, then the device re-queues itself.  Lines a
 * guest can cause are rate-limited (struct log_rate).
 *
 * A transport reset (virtio 1.2, 5.10.6.6) ends every connection at once:
 * the host sockets are closed and the guest hears of it through one
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in its event queue, delivered as soon
 * as the driver has an event buffer posted.
 */
#ifndef SNAPVM_VIRTIO_VSOCK_H
#define SNAPVM_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "virtio_mmio.h"
#include "vsock_conn.h"

#define VSOCK_HOST_CID		2
#define VSOCK_MAX_PKT		(64 * 1024)
#define VSOCK_ORPHAN_MAX	64	/* RSTs for no connection, waiting */
#define VSOCK_BUDGET		256	/* buffers per queue per turn */
#define VSOCK_EVENT_TRANSPORT_RESET	0

struct vsock_event {
	uint32_t id;
} __attribute__((packed));

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "vsock header is 44 bytes");

/* Guest-visible device state: what a snapshot of the device holds. */
struct virtio_vsock_state {
	uint64_t guest_cid;
};
_Static_assert(sizeof(struct virtio_vsock_state) == 8,
    "virtio_vsock_state is its snapshot section");

struct virtio_vsock {
	struct virtio_vsock_state s;
	struct virtio_mmio *t;
	/* Host-side, not saved: a restore sends a transport reset anyway. */
	struct vsock_conn_table host;		/* under t->lock */
	uint32_t next_conn;			/* round robin over host.conn[] */
	struct vsock_hdr orphan[VSOCK_ORPHAN_MAX];
	uint32_t orphan_head, orphan_len;
	bool tx_stalled;			/* waits for room in orphan[] */
	bool event_pending;
	struct virtq_chain chain;
};

/* cid must not be a reserved CID (0, 1, 2, 2^32-1 or above). */
int virtio_vsock_init(struct virtio_vsock *v, uint64_t cid, const char *path,
    struct evloop *loop, struct virtio_mmio *t);
void virtio_vsock_close(struct virtio_vsock *v);
/* Takes the transport lock: call it without holding it, from any thread,
 * before or after the vCPUs start. */
void virtio_vsock_transport_reset(struct virtio_vsock *v);
/* A snapshot's section, checked as if the guest had written it (the CID
 * must be the one the device was made with, from the manifest); -1 with
 * a message naming file, section and field. */
int virtio_vsock_load(struct virtio_vsock *v, const struct virtio_vsock_state *s,
    const char *file);
bool virtio_vsock_cid_ok(uint64_t cid);
extern const struct virtio_dev_ops virtio_vsock_ops;

#endif
