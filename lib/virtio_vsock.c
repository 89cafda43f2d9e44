#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "virtio_vsock.h"

enum { Q_RX = 0, Q_TX = 1, Q_EVENT = 2 };
enum {
	OP_REQUEST = 1, OP_RESPONSE = 2, OP_RST = 3, OP_SHUTDOWN = 4,
	OP_RW = 5, OP_CREDIT_UPDATE = 6, OP_CREDIT_REQUEST = 7,
};
#define TYPE_STREAM	1
#define SHUT_FLAG_RCV	1
#define SHUT_FLAG_SEND	2

static uint64_t
vsock_features(void *dev)
{
	(void)dev;
	return 0;		/* stream sockets only: no feature bits */
}

static void
vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *v = dev;

	memset(data, 0, len);
	if (off < sizeof(v->s.guest_cid))
		memcpy(data, (uint8_t *)&v->s.guest_cid + off,
		    len < sizeof(v->s.guest_cid) - off ? len :
		    sizeof(v->s.guest_cid) - off);
}

static void
vsock_hdr_fill(const struct virtio_vsock *v, const struct vsock_conn *c,
    struct vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = v->s.guest_cid;
	h->type = TYPE_STREAM;
	h->op = op;
	if (c != NULL) {
		h->src_port = c->host_port;
		h->dst_port = c->guest_port;
		h->buf_alloc = VSOCK_BUF_ALLOC;
		h->fwd_cnt = c->fwd_cnt;
	}
}

void
vsock_send_ctl(struct virtio_vsock *v, const struct vsock_conn *c, uint16_t op,
    uint32_t flags)
{
	struct vsock_hdr *h;

	if (v->ctl_len == VSOCK_CTL_QUEUE) {
		log_warnx("virtio-vsock: control queue full, packet dropped");
		return;
	}
	h = &v->ctl[(v->ctl_head + v->ctl_len++) % VSOCK_CTL_QUEUE];
	vsock_hdr_fill(v, c, h, op);
	h->flags = flags;
}

void
vsock_send_rst(struct virtio_vsock *v, uint32_t host_port, uint32_t guest_port)
{
	struct vsock_conn c = { .host_port = host_port, .guest_port = guest_port };

	vsock_send_ctl(v, &c, OP_RST, 0);
}

/* Takes one rx buffer; 0 when the guest has given none. */
static int
vsock_rx_buf(struct virtio_vsock *v)
{
	int rc = virtq_pop(&v->t->s.q[Q_RX], v->t->mem, &v->chain);

	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed receive queue");
	else if (rc == 1 && v->chain.in_len < sizeof(struct vsock_hdr)) {
		virtio_mmio_fail(v->t, "receive buffer smaller than a header");
		rc = -1;
	}
	return rc;
}

static void
vsock_rx_put(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	virtq_write(v->t->mem, &v->chain, 0, h, sizeof(*h));
	virtq_push(&v->t->s.q[Q_RX], v->t->mem, v->chain.head,
	    (uint32_t)sizeof(*h) + h->len);
}

/* Reads host bytes straight into the guest's buffer behind the header. */
static int
vsock_rx_data(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t credit = c->peer_buf_alloc - (c->rx_cnt - c->peer_fwd_cnt);
	uint32_t room = v->chain.in_len - (uint32_t)sizeof(struct vsock_hdr);
	uint8_t buf[VSOCK_MAX_PKT];
	uint32_t want = room < credit ? room : credit;
	struct vsock_hdr h;
	ssize_t n;

	if (want > sizeof(buf))
		want = sizeof(buf);
	n = read(c->fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		return 0;
	}
	vsock_hdr_fill(v, c, &h, n > 0 ? OP_RW : OP_SHUTDOWN);
	if (n <= 0) {			/* EOF or error: no more host data */
		c->host_eof = true;
		c->readable = false;
		h.flags = SHUT_FLAG_RCV | SHUT_FLAG_SEND;
	} else {
		h.len = (uint32_t)n;
		virtq_write(v->t->mem, &v->chain, sizeof(h), buf, (size_t)n);
		c->rx_cnt += (uint32_t)n;
	}
	vsock_rx_put(v, &h);
	return 1;
}

static struct vsock_conn *
vsock_rx_ready(struct virtio_vsock *v)
{
	for (int i = 0; i < VSOCK_MAX_CONN; i++) {
		struct vsock_conn *c = &v->conn[i];

		if (c->state == VC_OPEN && c->readable && !c->host_eof &&
		    c->peer_buf_alloc - (c->rx_cnt - c->peer_fwd_cnt) > 0)
			return c;
	}
	return NULL;
}

/* Fills guest rx buffers: control packets first, then host data. */
void
vsock_kick_rx(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_RX];
	struct vsock_conn *c;
	bool sent = false;

	if (!virtio_mmio_running(v->t) || !q->ready)
		return;
	for (;;) {
		c = vsock_rx_ready(v);
		if (v->ctl_len == 0 && c == NULL)
			break;
		if (vsock_rx_buf(v) != 1)
			break;
		if (v->ctl_len > 0) {
			vsock_rx_put(v, &v->ctl[v->ctl_head]);
			v->ctl_head = (v->ctl_head + 1) % VSOCK_CTL_QUEUE;
			v->ctl_len--;
		} else if (vsock_rx_data(v, c) == 0) {
			q->last_avail--;	/* buffer not used: give it back */
			continue;
		}
		sent = true;
	}
	if (sent && virtq_want_interrupt(q, v->t->mem))
		virtio_mmio_interrupt(v->t, VIRTIO_INT_VRING);
}

static void
vsock_guest_request(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd = vsock_conn_connect_host(v, h->dst_port);

	if (fd == -1 || (c = vsock_conn_new(v, fd, VC_OPEN)) == NULL) {
		if (fd != -1)
			close(fd);
		vsock_send_rst(v, h->dst_port, h->src_port);
		return;
	}
	c->host_port = h->dst_port;
	c->guest_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	vsock_send_ctl(v, c, OP_RESPONSE, 0);
}

/* Guest data for the host: queue it, then write what the socket takes. */
static void
vsock_guest_rw(struct virtio_vsock *v, struct vsock_conn *c,
    const struct vsock_hdr *h)
{
	uint32_t at;

	/* Data before the handshake would reach a host program that is
	 * still waiting for its "OK" line. */
	if (c->state != VC_OPEN || h->len > VSOCK_BUF_ALLOC - c->tx_len) {
		log_warnx("virtio-vsock: guest port %u sent data out of turn or "
		    "beyond its credit", c->guest_port);
		vsock_send_ctl(v, c, OP_RST, 0);
		vsock_conn_free(v, c);
		return;
	}
	for (uint32_t done = 0; done < h->len; ) {
		uint32_t n;

		at = (c->tx_head + c->tx_len) % VSOCK_BUF_ALLOC;
		n = VSOCK_BUF_ALLOC - at < h->len - done ?
		    VSOCK_BUF_ALLOC - at : h->len - done;
		virtq_read(v->t->mem, &v->chain, sizeof(*h) + done, c->tx + at, n);
		c->tx_len += n;
		done += n;
	}
	if (vsock_conn_flush(v, c) == -1) {
		vsock_send_ctl(v, c, OP_RST, 0);
		vsock_conn_free(v, c);
	}
}

static void
vsock_guest_shutdown(struct virtio_vsock *v, struct vsock_conn *c,
    uint32_t flags)
{
	if (flags & SHUT_FLAG_SEND)
		shutdown(c->fd, SHUT_WR);
	if ((flags & (SHUT_FLAG_SEND | SHUT_FLAG_RCV)) ==
	    (SHUT_FLAG_SEND | SHUT_FLAG_RCV) || c->host_eof) {
		vsock_send_ctl(v, c, OP_RST, 0);
		vsock_conn_free(v, c);
	}
}

static void
vsock_guest_packet(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct vsock_conn *c = vsock_conn_find(v, h->dst_port, h->src_port);

	if (c == NULL) {
		if (h->op == OP_REQUEST)
			vsock_guest_request(v, h);
		else if (h->op != OP_RST)
			vsock_send_rst(v, h->dst_port, h->src_port);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		if (c->state == VC_CONNECTING) {
			char ok[24];
			int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);

			c->state = VC_OPEN;
			if (write(c->fd, ok, (size_t)n) != n)
				vsock_conn_free(v, c);
		}
		break;
	case OP_RW:
		vsock_guest_rw(v, c, h);
		break;
	case OP_SHUTDOWN:
		vsock_guest_shutdown(v, c, h->flags);
		break;
	case OP_CREDIT_REQUEST:
		vsock_send_ctl(v, c, OP_CREDIT_UPDATE, 0);
		break;
	case OP_RST:
		vsock_conn_free(v, c);
		break;
	default:			/* CREDIT_UPDATE: credit taken above */
		break;
	}
}

/* A packet that lies about its length or addresses is dropped. */
static bool
vsock_tx_valid(const struct virtio_vsock *v, const struct virtq_chain *ch,
    const struct vsock_hdr *h)
{
	return h->src_cid == v->s.guest_cid && h->dst_cid == VSOCK_HOST_CID &&
	    h->type == TYPE_STREAM && h->len <= VSOCK_MAX_PKT &&
	    h->len <= ch->out_len - sizeof(*h) && (h->op == OP_RW || h->len == 0);
}

static void
vsock_tx(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_TX];
	struct vsock_hdr h;
	bool done = false;
	int rc;

	while ((rc = virtq_pop(q, v->t->mem, &v->chain)) == 1) {
		if (v->chain.out_len < sizeof(h)) {
			virtio_mmio_fail(v->t, "transmit packet without a header");
			return;
		}
		virtq_read(v->t->mem, &v->chain, 0, &h, sizeof(h));
		if (vsock_tx_valid(v, &v->chain, &h))
			vsock_guest_packet(v, &h);
		else
			log_warnx("virtio-vsock: malformed packet dropped");
		virtq_push(q, v->t->mem, v->chain.head, 0);
		done = true;
	}
	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed transmit queue");
	if (done && virtq_want_interrupt(q, v->t->mem))
		virtio_mmio_interrupt(v->t, VIRTIO_INT_VRING);
}

/* Takes one event buffer; 0 when the guest has given none. */
static int
vsock_event_buf(struct virtio_vsock *v)
{
	int rc = virtq_pop(&v->t->s.q[Q_EVENT], v->t->mem, &v->chain);

	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed event queue");
	else if (rc == 1 && v->chain.in_len < sizeof(struct vsock_event)) {
		virtio_mmio_fail(v->t, "event buffer smaller than an event");
		rc = -1;
	}
	return rc;
}

/* A pending transport reset waits in the device until the guest has posted
 * an event buffer; it is never dropped for want of one. */
static void
vsock_event_deliver(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_EVENT];
	struct vsock_event ev = { .id = VSOCK_EVENT_TRANSPORT_RESET };

	if (!v->event_pending || !virtio_mmio_running(v->t) || !q->ready ||
	    vsock_event_buf(v) != 1)
		return;
	virtq_write(v->t->mem, &v->chain, 0, &ev, sizeof(ev));
	virtq_push(q, v->t->mem, v->chain.head, sizeof(ev));
	v->event_pending = false;
	if (virtq_want_interrupt(q, v->t->mem))
		virtio_mmio_interrupt(v->t, VIRTIO_INT_VRING);
}

static void
vsock_notify(void *dev, struct virtio_mmio *t, uint16_t q)
{
	struct virtio_vsock *v = dev;

	(void)t;
	if (q == Q_TX)
		vsock_tx(v);
	else if (q == Q_EVENT)
		vsock_event_deliver(v);
	vsock_kick_rx(v);	/* new rx buffers, or replies to what was sent */
}

/*
 * A device reset drops every connection, as a guest driver expects; a
 * transport reset still pending is moot then, since the driver that reset
 * the device has already forgotten every connection it had.
 */
static void
vsock_reset(void *dev)
{
	struct virtio_vsock *v = dev;

	vsock_conn_free_all(v);
	v->ctl_head = v->ctl_len = 0;
	v->event_pending = false;
}

const struct virtio_dev_ops virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.nqueues = 3,
	.features = vsock_features,
	.config_read = vsock_config_read,
	.queue_notify = vsock_notify,
	.reset = vsock_reset,
};

int
virtio_vsock_init(struct virtio_vsock *v, uint64_t cid, const char *path,
    struct evloop *loop, struct virtio_mmio *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(v, 0, sizeof(*v));
	v->s.guest_cid = cid;
	v->loop = loop;
	v->t = t;
	v->next_port = 1U << 30;
	v->listen_fd = -1;
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		v->conn[i].fd = -1;
	if (strlen(path) + 12 > sizeof(v->path)) {
		log_warnx("%s: vsock socket path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(v->path, sizeof(v->path), "%s", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd == -1 ||
	    bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(v->listen_fd, 16) == -1 ||
	    evloop_add(loop, v->listen_fd, EPOLLIN, vsock_listen_event, v) == -1) {
		log_warn("%s", path);
		return -1;
	}
	return 0;
}

void
virtio_vsock_close(struct virtio_vsock *v)
{
	vsock_conn_free_all(v);
	if (v->listen_fd != -1) {
		close(v->listen_fd);
		unlink(v->path);
	}
	v->listen_fd = -1;
}

/*
 * No RST goes to the guest: the event makes it drop every connection by
 * itself, and control packets still queued name connections it will no
 * longer know.  The event is delivered on the evloop thread, through the
 * event queue's notify eventfd, as if the guest had kicked that queue;
 * before the loop runs (a restore) the eventfd holds it until it does.
 * Closing sockets from the caller's thread is safe under the lock: the
 * loop looks a connection up by its fd, under the same lock, each time.
 */
void
virtio_vsock_transport_reset(struct virtio_vsock *v)
{
	uint64_t one = 1;

	pthread_mutex_lock(&v->t->lock);
	vsock_conn_free_all(v);
	v->ctl_head = v->ctl_len = 0;
	v->event_pending = true;
	pthread_mutex_unlock(&v->t->lock);
	if (v->t->notify_fd[Q_EVENT] != -1 &&
	    write(v->t->notify_fd[Q_EVENT], &one, sizeof(one)) != sizeof(one))
		log_warn("virtio-vsock: event queue notify");
}
