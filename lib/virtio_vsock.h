/*
 * virtio-vsock (virtio 1.2, section 5.10), stream sockets only, with the
 * host side on Unix domain sockets, emulated in this process (no vhost):
 *
 *  - a guest connection to host port P reaches the Unix socket "PATH_P";
 *  - a host program connects to "PATH", writes "CONNECT P\n", and is joined
 *    to guest port P; it reads "OK <host port>\n" first.
 *
 * Flow control is credit-based in both directions.  Everything runs on the
 * evloop thread under the transport lock.
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

#define VSOCK_HOST_CID		2
#define VSOCK_MAX_CONN		64
#define VSOCK_BUF_ALLOC		(256 * 1024)	/* our receive buffer, per connection */
#define VSOCK_MAX_PKT		(64 * 1024)
#define VSOCK_CTL_QUEUE		64
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

enum vsock_state { VC_FREE, VC_HOST_LINE, VC_CONNECTING, VC_OPEN, VC_CLOSING };

struct vsock_conn {
	enum vsock_state state;
	int fd;
	uint32_t host_port, guest_port;
	uint32_t peer_buf_alloc, peer_fwd_cnt;	/* the guest's credit */
	uint32_t rx_cnt;			/* bytes sent to the guest */
	uint32_t fwd_cnt, fwd_reported;		/* bytes passed to the host */
	bool readable, host_eof;
	uint8_t *tx;				/* guest bytes not yet written */
	uint32_t tx_head, tx_len;
	char line[32];				/* "CONNECT P\n" being read */
	uint32_t line_len;
};

/* Guest-visible device state: what a snapshot of the device holds. */
struct virtio_vsock_state {
	uint64_t guest_cid;
};

struct virtio_vsock {
	struct virtio_vsock_state s;
	char path[108];
	int listen_fd;
	struct evloop *loop;
	struct virtio_mmio *t;
	uint32_t next_port;
	struct vsock_conn conn[VSOCK_MAX_CONN];
	struct vsock_hdr ctl[VSOCK_CTL_QUEUE];	/* control packets waiting */
	uint32_t ctl_head, ctl_len;
	/* Host-side, not saved: a restore sends a transport reset anyway. */
	bool event_pending;
	struct virtq_chain chain;
};

int virtio_vsock_init(struct virtio_vsock *v, uint64_t cid, const char *path,
    struct evloop *loop, struct virtio_mmio *t);
void virtio_vsock_close(struct virtio_vsock *v);
/* Takes the transport lock: call it without holding it, from any thread,
 * before or after the vCPUs start. */
void virtio_vsock_transport_reset(struct virtio_vsock *v);
extern const struct virtio_dev_ops virtio_vsock_ops;

/* vsock_conn.c: the connection table and its Unix sockets. */
struct vsock_conn *vsock_conn_find(struct virtio_vsock *v, uint32_t host_port,
    uint32_t guest_port);
struct vsock_conn *vsock_conn_new(struct virtio_vsock *v, int fd,
    enum vsock_state state);
void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c);
void vsock_conn_free_all(struct virtio_vsock *v);
int vsock_conn_connect_host(struct virtio_vsock *v, uint32_t port);
int vsock_conn_flush(struct virtio_vsock *v, struct vsock_conn *c);
void vsock_conn_event(void *opaque, int fd, uint32_t events);
void vsock_listen_event(void *opaque, int fd, uint32_t events);

/* virtio_vsock.c, for vsock_conn.c */
void vsock_send_ctl(struct virtio_vsock *v, const struct vsock_conn *c,
    uint16_t op, uint32_t flags);
void vsock_send_rst(struct virtio_vsock *v, uint32_t host_port,
    uint32_t guest_port);
void vsock_kick_rx(struct virtio_vsock *v);

#endif
