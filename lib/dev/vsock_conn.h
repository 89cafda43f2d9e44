/*
 * The host side of virtio-vsock: the table of connections, each a Unix
 * stream socket, non-blocking and edge-triggered on the evloop; the socket
 * host programs connect to; and the timer that gives up on a silent peer.
 *
 * This is the layer under the device (virtio_vsock.c).  The device calls
 * in with what the guest sent; what a connection owes the guest is left
 * in it (state VC_RST, the VC_OWE_* flags, host bytes ready) for the
 * device to send as the guest gives receive buffers.  When host sockets
 * or the timer change a connection, the table asks the device to do that
 * through struct vsock_conn_ops, never by calling it.
 *
 * All of it is under the device's lock (vsock_conn_init's lock): the
 * device holds it for each call it makes, and the evloop handlers here
 * take it, call ops->kick under it, and drop it.
 */
#ifndef SNAPVM_VSOCK_CONN_H
#define SNAPVM_VSOCK_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "evloop.h"
#include "log.h"

#define VSOCK_MAX_CONN		64	/* connections at once, both ways */
#define VSOCK_BUF_ALLOC		(256 * 1024)	/* our receive buffer, per connection */
#define VSOCK_TIMEOUT_MS	30000	/* default timeout_ms */

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

/* Host-side counters of the device and its connections, not part of a
 * snapshot. */
struct vsock_stats {
	uint64_t malformed;		/* guest packets dropped */
	uint64_t refused;		/* connections past VSOCK_MAX_CONN */
	uint64_t timeouts;		/* connections given up on a silent peer */
	uint64_t resets;		/* connections the device ended with RST */
};

/* How the table reaches the device above it. */
struct vsock_conn_ops {
	/* Connections changed on the host side (a socket event, a timeout):
	 * send the guest what they owe and the host bytes ready for it, as
	 * far as it has receive buffers.  Called with the lock held. */
	void (*kick)(void *dev);
};

struct vsock_conn_table {
	const struct vsock_conn_ops *ops;
	void *dev;				/* the ops' argument */
	pthread_mutex_t *lock;			/* the device's */
	struct evloop *loop;
	char path[108];				/* host programs connect here */
	int listen_fd, timer_fd;
	uint32_t next_port;			/* host port for the next CONNECT */
	uint32_t timeout_ms;			/* of a wait on a silent peer */
	uint64_t timer_at;			/* deadline armed, 0: none */
	struct vsock_conn conn[VSOCK_MAX_CONN];
	struct vsock_stats stats;
	struct log_rate log_guest;		/* what the guest did wrong */
	struct log_rate log_host;		/* host programs, timeouts */
};

/* An empty table with no sockets yet; vsock_conn_close may follow. */
void vsock_conn_init(struct vsock_conn_table *ct, struct evloop *loop,
    pthread_mutex_t *lock, const struct vsock_conn_ops *ops, void *dev);
/* Listens on path for host programs (path_P is where host port P is);
 * -1 with a message naming path. */
int vsock_conn_listen(struct vsock_conn_table *ct, const char *path);
/* Frees every connection, closes the sockets and unlinks the path. */
void vsock_conn_close(struct vsock_conn_table *ct);

/* Called with the lock held, from here down. */
struct vsock_conn *vsock_conn_find(struct vsock_conn_table *ct,
    uint32_t host_port, uint32_t guest_port);
/* NULL when the table is full (errno EUSERS) or fd cannot be watched. */
struct vsock_conn *vsock_conn_new(struct vsock_conn_table *ct, int fd,
    enum vsock_state state);
int vsock_conn_count(const struct vsock_conn_table *ct);
void vsock_conn_free(struct vsock_conn_table *ct, struct vsock_conn *c);
void vsock_conn_free_all(struct vsock_conn_table *ct);
/* Ends a connection that broke the protocol or whose host socket failed;
 * the guest is owed an RST, if it knew of the connection. */
void vsock_conn_reset(struct vsock_conn_table *ct, struct vsock_conn *c,
    const char *why);
/* A socket connected to path_port, or -1. */
int vsock_conn_connect_host(struct vsock_conn_table *ct, uint32_t port);
/* Writes the guest's queued bytes to the host; -1: the socket is broken. */
int vsock_conn_flush(struct vsock_conn_table *ct, struct vsock_conn *c);
/* Bytes the guest has room for. */
uint32_t vsock_conn_credit(const struct vsock_conn *c);
/* Starts (or restarts) the wait on a silent peer. */
void vsock_conn_wait(struct vsock_conn_table *ct, struct vsock_conn *c);
/* Arms the timer for the earliest wait; after any change to the table. */
void vsock_conn_timer_arm(struct vsock_conn_table *ct);

#endif
