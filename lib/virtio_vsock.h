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
 * evloop thread under the transport lock.
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
#include "log.h"
#include "virtio_mmio.h"

#define VSOCK_HOST_CID		2
#define VSOCK_MAX_CONN		64	/* connections at once, both ways */
#define VSOCK_BUF_ALLOC		(256 * 1024)	/* our receive buffer, per connection */
#define VSOCK_MAX_PKT		(64 * 1024)
#define VSOCK_ORPHAN_MAX	64	/* RSTs for no connection, waiting */
#define VSOCK_BUDGET		256	/* buffers per queue per turn */
#define VSOCK_TIMEOUT_MS	30000	/* default timeout_ms */
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

enum vsock_state {
	VC_FREE,
	VC_HOST_LINE,		/* host program connected, no CONNECT line yet */
	VC_CONNECTING,		/* REQUEST owed or sent to the guest */
	VC_OPEN,
	VC_CLOSING,		/* guest done; its last bytes go to the host */
	VC_LINGER,		/* the same after the guest's RST: no tuple */
	VC_RST,			/* host socket closed; RST owed to the guest */
};

/* Control packets a connection owes the guest, at most one of each. */
#define VC_OWE_REQUEST		1
#define VC_OWE_RESPONSE		2
#define VC_OWE_CREDIT		4

struct vsock_conn {
	enum vsock_state state;
	int fd;
	uint32_t host_port, guest_port;
	uint32_t peer_buf_alloc, peer_fwd_cnt;	/* the guest's credit */
	uint32_t rx_cnt;			/* bytes sent to the guest */
	uint32_t fwd_cnt, fwd_reported;		/* bytes passed to the host */
	uint8_t owe;				/* VC_OWE_* */
	uint8_t guest_shut;			/* SHUTDOWN flags the guest sent */
	bool readable, host_eof, host_shut;
	uint64_t deadline_ms;			/* of a wait on the peer; 0: none */
	uint8_t *tx;				/* guest bytes not yet written */
	uint32_t tx_head, tx_len;
};

/* Host-side counters, not part of a snapshot. */
struct vsock_stats {
	uint64_t malformed;		/* guest packets dropped */
	uint64_t refused;		/* connections past VSOCK_MAX_CONN */
	uint64_t timeouts;		/* connections given up on a silent peer */
	uint64_t resets;		/* connections the device ended with RST */
};

/* Guest-visible device state: what a snapshot of the device holds. */
struct virtio_vsock_state {
	uint64_t guest_cid;
};
_Static_assert(sizeof(struct virtio_vsock_state) == 8,
    "virtio_vsock_state is its snapshot section");

struct virtio_vsock {
	struct virtio_vsock_state s;
	char path[108];
	int listen_fd, timer_fd;
	struct evloop *loop;
	struct virtio_mmio *t;
	uint32_t next_port;
	uint32_t timeout_ms;
	uint32_t next_conn;			/* round robin over conn[] */
	uint64_t timer_at;			/* deadline armed, 0: none */
	struct vsock_conn conn[VSOCK_MAX_CONN];
	struct vsock_hdr orphan[VSOCK_ORPHAN_MAX];
	uint32_t orphan_head, orphan_len;
	/* Host-side, not saved: a restore sends a transport reset anyway. */
	bool tx_stalled;			/* waits for room in orphan[] */
	bool event_pending;
	struct vsock_stats stats;
	struct log_rate log_guest;		/* what the guest did wrong */
	struct log_rate log_host;		/* host programs, timeouts */
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

/* vsock_conn.c: the connection table and its Unix sockets. */
struct vsock_conn *vsock_conn_find(struct virtio_vsock *v, uint32_t host_port,
    uint32_t guest_port);
struct vsock_conn *vsock_conn_new(struct virtio_vsock *v, int fd,
    enum vsock_state state);
int vsock_conn_count(const struct virtio_vsock *v);
void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c);
void vsock_conn_free_all(struct virtio_vsock *v);
void vsock_conn_hangup(struct virtio_vsock *v, struct vsock_conn *c);
void vsock_conn_reset(struct virtio_vsock *v, struct vsock_conn *c,
    const char *why);
int vsock_conn_connect_host(struct virtio_vsock *v, uint32_t port);
int vsock_conn_flush(struct virtio_vsock *v, struct vsock_conn *c);
uint32_t vsock_conn_credit(const struct vsock_conn *c);
void vsock_conn_wait(struct virtio_vsock *v, struct vsock_conn *c);
void vsock_conn_event(void *opaque, int fd, uint32_t events);
void vsock_listen_event(void *opaque, int fd, uint32_t events);
void vsock_timer_event(void *opaque, int fd, uint32_t events);
void vsock_timer_arm(struct virtio_vsock *v);

/* virtio_vsock.c, for vsock_conn.c */
void vsock_kick_rx(struct virtio_vsock *v);

#endif
