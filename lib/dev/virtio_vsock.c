#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
#define SHUT_BOTH	(SHUT_FLAG_RCV | SHUT_FLAG_SEND)
#define HDR		((uint32_t)sizeof(struct vsock_hdr))

/* Stream sockets only: no feature bits of the device type.  EVENT_IDX
 * spares the warm request path an interrupt or a kick per packet. */
static uint64_t
vsock_features(void *dev)
{
	(void)dev;
	return 1ULL << VIRTQ_F_EVENT_IDX;
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

/* Every packet for a connection carries its credit: none is owed after. */
static void
vsock_hdr_fill(const struct virtio_vsock *v, struct vsock_conn *c,
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
		c->fwd_reported = c->fwd_cnt;
		c->owe &= (uint8_t)~VC_OWE_CREDIT;
	}
}

/* An RST to a packet that matches no connection, answered from its own
 * header; the caller made sure there is room. */
static void
vsock_orphan_rst(struct virtio_vsock *v, const struct vsock_hdr *to)
{
	struct vsock_hdr *h = &v->orphan[(v->orphan_head + v->orphan_len++) %
	    VSOCK_ORPHAN_MAX];

	vsock_hdr_fill(v, NULL, h, OP_RST);
	h->type = to->type;
	h->src_port = to->dst_port;
	h->dst_port = to->src_port;
}

static int
vsock_pop(struct virtio_vsock *v, int q)
{
	return virtq_pop(&v->t->s.q[q], v->t->mem, &v->chain,
	    virtio_mmio_event_idx(v->t));
}

/* Publishes what queue q's pass put in its used ring, at once: whether
 * the driver wants an interrupt for it. */
static bool
vsock_flush(struct virtio_vsock *v, int q)
{
	return virtq_flush(&v->t->s.q[q], v->t->mem,
	    virtio_mmio_event_idx(v->t));
}

/* One interrupt for every queue a pass served: the driver's handler
 * looks at all of them. */
static void
vsock_interrupt(struct virtio_vsock *v, bool want)
{
	if (want)
		virtio_mmio_interrupt(v->t, VIRTIO_INT_VRING);
}

/* Takes one rx buffer; 0 when the guest has given none. */
static int
vsock_rx_buf(struct virtio_vsock *v)
{
	int rc = vsock_pop(v, Q_RX);

	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed receive queue");
	else if (rc == 1 && v->chain.in_len < HDR) {
		virtio_mmio_fail(v->t, "receive buffer smaller than a header");
		rc = -1;
	}
	return rc;
}

static void
vsock_rx_put(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	virtq_write(v->t->mem, &v->chain, 0, h, sizeof(*h));
	virtq_push(&v->t->s.q[Q_RX], v->t->mem, v->chain.head, HDR + h->len);
}

/* The control packet a connection owes, sent; an RST ends it. */
static void
vsock_rx_ctl(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct vsock_hdr h;
	uint16_t op = c->state == VC_RST ? OP_RST :
	    (c->owe & VC_OWE_REQUEST) ? OP_REQUEST :
	    (c->owe & VC_OWE_RESPONSE) ? OP_RESPONSE : OP_CREDIT_UPDATE;

	c->owe &= (uint8_t)~(op == OP_REQUEST ? VC_OWE_REQUEST :
	    op == OP_RESPONSE ? VC_OWE_RESPONSE : 0);
	vsock_hdr_fill(v, c, &h, op);
	vsock_rx_put(v, &h);
	if (op == OP_RST)
		vsock_conn_free(&v->host, c);
}

/* Once the guest sends no more and nothing more can flow to it either,
 * the connection closes; its last bytes still go to the host first. */
static void
vsock_close_when_done(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_OPEN && (c->guest_shut & SHUT_FLAG_SEND) &&
	    ((c->guest_shut & SHUT_FLAG_RCV) || c->host_eof)) {
		c->state = VC_CLOSING;
		c->owe = 0;
		vsock_conn_wait(&v->host, c);
	}
	if (vsock_conn_flush(&v->host, c) == -1)
		vsock_conn_reset(&v->host, c, "the host program left before "
		    "the guest's last bytes");
}

/*
 * Host EOF.  A program that closed its socket takes nothing more either
 * (POLLHUP): the guest hears both; one that only shut down writing may
 * still read the guest's answer: the guest hears SEND only.
 */
static void
vsock_rx_eof(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
	struct vsock_hdr h;

	c->host_eof = true;
	c->readable = false;
	vsock_hdr_fill(v, c, &h, OP_SHUTDOWN);
	h.flags = poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) ? SHUT_BOTH :
	    SHUT_FLAG_SEND;
	vsock_rx_put(v, &h);
	vsock_close_when_done(v, c);
}

/*
 * Reads host bytes into the guest's buffer behind the header.  0: the
 * buffer was not used.  A buffer with room for a header only carries a
 * credit update: it is not a sign of anything about the host.
 */
static int
vsock_rx_data(struct virtio_vsock *v, struct vsock_conn *c)
{
	uint32_t room = v->chain.in_len - HDR, credit = vsock_conn_credit(c);
	uint8_t buf[VSOCK_MAX_PKT];
	uint32_t want = room < credit ? room : credit;
	struct vsock_hdr h;
	ssize_t n;

	if (want == 0) {
		vsock_hdr_fill(v, c, &h, OP_CREDIT_UPDATE);
		vsock_rx_put(v, &h);
		return 1;
	}
	n = read(c->fd, buf, want < sizeof(buf) ? want : sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		return 0;
	}
	if (n == -1) {
		vsock_conn_reset(&v->host, c, "the host socket failed");
		if (c->state != VC_RST)
			return 0;
		vsock_rx_ctl(v, c);		/* the RST, in this buffer */
	} else if (n == 0) {
		vsock_rx_eof(v, c);
	} else {
		vsock_hdr_fill(v, c, &h, OP_RW);
		h.len = (uint32_t)n;
		virtq_write(v->t->mem, &v->chain, HDR, buf, (size_t)n);
		c->rx_cnt += (uint32_t)n;
		vsock_rx_put(v, &h);
	}
	return 1;
}

static bool
vsock_owes(const struct vsock_conn *c)
{
	return c->state == VC_RST || c->owe != 0;
}

static bool
vsock_has_data(const struct vsock_conn *c)
{
	return c->state == VC_OPEN && c->readable && !c->host_eof &&
	    !(c->guest_shut & SHUT_FLAG_RCV) && vsock_conn_credit(c) > 0;
}

/* The next connection, round robin, that owes a control packet or, if
 * none does, has host bytes for the guest. */
static struct vsock_conn *
vsock_rx_next(struct virtio_vsock *v)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < VSOCK_MAX_CONN; i++) {
			uint32_t k = (v->next_conn + (uint32_t)i) % VSOCK_MAX_CONN;
			struct vsock_conn *c = &v->host.conn[k];

			if (pass == 0 ? vsock_owes(c) : vsock_has_data(c)) {
				v->next_conn = (k + 1) % VSOCK_MAX_CONN;
				return c;
			}
		}
	}
	return NULL;
}

/* One packet into the buffer just taken: 0 if it stayed unused. */
static int
vsock_rx_one(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c == NULL) {
		vsock_rx_put(v, &v->orphan[v->orphan_head]);
		v->orphan_head = (v->orphan_head + 1) % VSOCK_ORPHAN_MAX;
		v->orphan_len--;
		return 1;
	}
	if (vsock_owes(c)) {
		vsock_rx_ctl(v, c);
		return 1;
	}
	return vsock_rx_data(v, c);
}

/* Fills guest rx buffers: RSTs for no connection first, then what the
 * connections owe, then host data; a buffer it did not use goes back.
 * Whether the driver wants an interrupt for them. */
static bool
vsock_kick_rx(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_RX];
	bool room = false;
	int n;

	if (!virtio_mmio_running(v->t) || !q->ready)
		return false;
	for (n = 0; n < VSOCK_BUDGET; n++) {
		struct vsock_conn *c = NULL;

		if (v->orphan_len == 0 && (c = vsock_rx_next(v)) == NULL)
			break;
		if (vsock_rx_buf(v) != 1)
			break;
		room |= c == NULL;
		if (vsock_rx_one(v, c) != 1)
			q->last_avail--;	/* give the buffer back */
	}
	if (n == VSOCK_BUDGET)
		virtio_mmio_requeue(v->t, Q_RX);
	if (room && v->tx_stalled) {
		v->tx_stalled = false;
		virtio_mmio_requeue(v->t, Q_TX);
	}
	return vsock_flush(v, Q_RX);
}

/* The connection table's way back up: host sockets have news. */
static void
vsock_host_kick(void *dev)
{
	vsock_interrupt(dev, vsock_kick_rx(dev));
}

static const struct vsock_conn_ops vsock_host_ops = {
	.kick = vsock_host_kick,
};

static void
vsock_guest_request(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct vsock_conn *c;
	int fd;

	if (vsock_conn_count(&v->host) == VSOCK_MAX_CONN) {
		v->host.stats.refused++;
		log_warnx_rate(&v->host.log_guest, "virtio-vsock: guest port "
		    "%u: more than %d connections, refused", h->src_port,
		    VSOCK_MAX_CONN);
		vsock_orphan_rst(v, h);
		return;
	}
	if ((fd = vsock_conn_connect_host(&v->host, h->dst_port)) == -1 ||
	    (c = vsock_conn_new(&v->host, fd, VC_OPEN)) == NULL) {
		if (fd != -1)
			close(fd);
		vsock_orphan_rst(v, h);
		return;
	}
	c->host_port = h->dst_port;
	c->guest_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->owe |= VC_OWE_RESPONSE;
}

/* The guest accepted a host CONNECT: the program reads "OK <port>". */
static void
vsock_guest_response(struct virtio_vsock *v, struct vsock_conn *c)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->host_port);

	if (c->state != VC_CONNECTING || (c->owe & VC_OWE_REQUEST)) {
		vsock_conn_reset(&v->host, c, "RESPONSE to no request");
		return;
	}
	c->state = VC_OPEN;
	c->deadline_ms = 0;
	c->readable = true;		/* bytes may wait behind the line */
	if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
		vsock_conn_reset(&v->host, c, "the host program is gone");
}

/* Guest data for the host: queue it, then write what the socket takes. */
static void
vsock_guest_rw(struct virtio_vsock *v, struct vsock_conn *c,
    const struct vsock_hdr *h)
{
	/* Data before the handshake would reach a host program that is
	 * still waiting for its "OK" line. */
	if (c->state != VC_OPEN || (c->guest_shut & SHUT_FLAG_SEND)) {
		vsock_conn_reset(&v->host, c, "data out of turn");
		return;
	}
	if (h->len > VSOCK_BUF_ALLOC - c->tx_len) {
		vsock_conn_reset(&v->host, c, "data beyond its credit");
		return;
	}
	for (uint32_t done = 0; done < h->len; ) {
		uint32_t at = (c->tx_head + c->tx_len) % VSOCK_BUF_ALLOC;
		uint32_t n = VSOCK_BUF_ALLOC - at < h->len - done ?
		    VSOCK_BUF_ALLOC - at : h->len - done;

		virtq_read(v->t->mem, &v->chain, HDR + done, c->tx + at, n);
		c->tx_len += n;
		done += n;
	}
	if (vsock_conn_flush(&v->host, c) == -1)
		vsock_conn_reset(&v->host, c, "the host socket failed");
}

/* The guest will not send (SEND) or receive (RCV) any more; the flags
 * add up. */
static void
vsock_guest_shutdown(struct virtio_vsock *v, struct vsock_conn *c,
    uint32_t flags)
{
	if (c->state == VC_CONNECTING) {
		vsock_conn_reset(&v->host, c, "SHUTDOWN before RESPONSE");
		return;
	}
	c->guest_shut |= (uint8_t)(flags & SHUT_BOTH);
	if (c->state == VC_OPEN)
		vsock_close_when_done(v, c);
}

/* A guest RST ends the connection at once, unless the guest had already
 * closed it and its last bytes are still going to the host. */
static void
vsock_guest_rst(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state == VC_CLOSING && c->tx_len > 0)
		c->state = VC_LINGER;
	else
		vsock_conn_free(&v->host, c);
}

static void
vsock_guest_packet(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct vsock_conn *c = vsock_conn_find(&v->host, h->dst_port,
	    h->src_port);

	if (c == NULL) {
		if (h->op == OP_REQUEST)
			vsock_guest_request(v, h);
		else if (h->op != OP_RST)
			vsock_orphan_rst(v, h);
		return;
	}
	if (c->state == VC_RST) {	/* ours is on its way */
		if (h->op == OP_RST)
			vsock_conn_free(&v->host, c);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case OP_RESPONSE:
		vsock_guest_response(v, c);
		break;
	case OP_RW:
		vsock_guest_rw(v, c, h);
		break;
	case OP_SHUTDOWN:
		vsock_guest_shutdown(v, c, h->flags);
		break;
	case OP_CREDIT_REQUEST:
		c->owe |= VC_OWE_CREDIT;
		break;
	case OP_CREDIT_UPDATE:		/* credit taken above */
		break;
	case OP_RST:
		vsock_guest_rst(v, c);
		break;
	default:			/* a REQUEST in use, an unknown op */
		vsock_conn_reset(&v->host, c, "unexpected op");
		break;
	}
}

/* Why a packet cannot be taken, or NULL.  Unknown types and ops are not
 * here: they get an RST (5.10.6.2). */
static const char *
vsock_tx_fault(const struct virtio_vsock *v, const struct virtq_chain *ch,
    const struct vsock_hdr *h)
{
	if (h->src_cid != v->s.guest_cid)
		return "source CID is not the guest's";
	if (h->dst_cid != VSOCK_HOST_CID)
		return "destination CID is not the host's";
	if (h->len > VSOCK_MAX_PKT || h->len > ch->out_len - HDR)
		return "length beyond the packet";
	if (h->op != OP_RW && h->len != 0)
		return "payload on a control packet";
	return NULL;
}

static void
vsock_tx_packet(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	const char *fault = vsock_tx_fault(v, &v->chain, h);

	if (fault != NULL) {
		v->host.stats.malformed++;
		log_warnx_rate(&v->host.log_guest, "virtio-vsock: malformed "
		    "packet dropped: %s (op %u, ports %u -> %u, cid %" PRIu64 ", len %u)",
		    fault, h->op, h->src_port, h->dst_port, h->src_cid, h->len);
	} else if (h->type != TYPE_STREAM) {
		vsock_orphan_rst(v, h);
	} else {
		vsock_guest_packet(v, h);
	}
}

/* Guest packets, while there is room for what they may call for.
 * Whether the driver wants an interrupt for the buffers given back. */
static bool
vsock_tx(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_TX];
	struct vsock_hdr h;
	int rc = 0, n;

	for (n = 0; n < VSOCK_BUDGET; n++) {
		if (v->orphan_len == VSOCK_ORPHAN_MAX) {
			v->tx_stalled = true;
			break;
		}
		if ((rc = vsock_pop(v, Q_TX)) != 1)
			break;
		if (v->chain.out_len < HDR) {
			virtio_mmio_fail(v->t, "transmit packet without a header");
			return vsock_flush(v, Q_TX);
		}
		virtq_read(v->t->mem, &v->chain, 0, &h, sizeof(h));
		vsock_tx_packet(v, &h);
		virtq_push(q, v->t->mem, v->chain.head, 0);
	}
	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed transmit queue");
	else if (n == VSOCK_BUDGET)
		virtio_mmio_requeue(v->t, Q_TX);
	return vsock_flush(v, Q_TX);
}

/* Takes one event buffer; 0 when the guest has given none. */
static int
vsock_event_buf(struct virtio_vsock *v)
{
	int rc = vsock_pop(v, Q_EVENT);

	if (rc == -1)
		virtio_mmio_fail(v->t, "malformed event queue");
	else if (rc == 1 && v->chain.in_len < sizeof(struct vsock_event)) {
		virtio_mmio_fail(v->t, "event buffer smaller than an event");
		rc = -1;
	}
	return rc;
}

/* A pending transport reset waits in the device until the guest has posted
 * an event buffer; it is never dropped for want of one.  Whether the
 * driver wants an interrupt for it. */
static bool
vsock_event_deliver(struct virtio_vsock *v)
{
	struct virtq_state *q = &v->t->s.q[Q_EVENT];
	struct vsock_event ev = { .id = VSOCK_EVENT_TRANSPORT_RESET };

	if (!v->event_pending || !virtio_mmio_running(v->t) || !q->ready ||
	    vsock_event_buf(v) != 1)
		return false;
	virtq_write(v->t->mem, &v->chain, 0, &ev, sizeof(ev));
	virtq_push(q, v->t->mem, v->chain.head, sizeof(ev));
	v->event_pending = false;
	return vsock_flush(v, Q_EVENT);
}

static void
vsock_notify(void *dev, struct virtio_mmio *t, uint16_t q)
{
	struct virtio_vsock *v = dev;
	bool irq = false;

	(void)t;
	if (q == Q_TX)
		irq = vsock_tx(v);
	else if (q == Q_EVENT)
		irq = vsock_event_deliver(v);
	/* New rx buffers, or replies to what was sent. */
	irq |= vsock_kick_rx(v);
	vsock_interrupt(v, irq);
	vsock_conn_timer_arm(&v->host);
}

/* Everything host-side a reset forgets. */
static void
vsock_forget(struct virtio_vsock *v)
{
	vsock_conn_free_all(&v->host);
	v->orphan_head = v->orphan_len = 0;
	v->tx_stalled = false;
	vsock_conn_timer_arm(&v->host);
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

	vsock_forget(v);
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

/* Reserved CIDs (virtio 1.2, 5.10.4): 0, 1, the host's 2, and 2^32-1;
 * the upper 32 bits are zero. */
bool
virtio_vsock_cid_ok(uint64_t cid)
{
	return cid > VSOCK_HOST_CID && cid < UINT32_MAX;
}

int
virtio_vsock_init(struct virtio_vsock *v, uint64_t cid, const char *path,
    struct evloop *loop, struct virtio_mmio *t)
{
	memset(v, 0, sizeof(*v));
	v->s.guest_cid = cid;
	v->t = t;
	vsock_conn_init(&v->host, loop, &t->lock, &vsock_host_ops, v);
	if (!virtio_vsock_cid_ok(cid)) {
		log_warnx("virtio-vsock: guest CID %" PRIu64 " is reserved", cid);
		errno = EINVAL;
		return -1;
	}
	return vsock_conn_listen(&v->host, path);
}

void
virtio_vsock_close(struct virtio_vsock *v)
{
	vsock_conn_close(&v->host);
}

/*
 * No RST goes to the guest: the event makes it drop every connection by
 * itself, and control packets still owed name connections it will no
 * longer know.  The event is delivered on the evloop thread, through the
 * event queue's notify eventfd, as if the guest had kicked that queue;
 * before the loop runs (a restore) the eventfd holds it until it does.
 * Closing sockets from the caller's thread is safe under the lock: the
 * loop looks a connection up by its fd, under the same lock, each time.
 */
void
virtio_vsock_transport_reset(struct virtio_vsock *v)
{
	pthread_mutex_lock(&v->t->lock);
	vsock_forget(v);
	v->event_pending = true;
	pthread_mutex_unlock(&v->t->lock);
	virtio_mmio_requeue(v->t, Q_EVENT);
}

int
virtio_vsock_load(struct virtio_vsock *v, const struct virtio_vsock_state *s,
    const char *file)
{
	if (!virtio_vsock_cid_ok(s->guest_cid)) {
		log_warnx("%s: vsock section (0x33), field guest_cid: %" PRIu64
		    " is a reserved CID", file, s->guest_cid);
		return -1;
	}
	if (s->guest_cid != v->s.guest_cid) {
		log_warnx("%s: vsock section (0x33), field guest_cid: %" PRIu64
		    ", but the manifest's vsock_cid is %" PRIu64, file,
		    s->guest_cid, v->s.guest_cid);
		return -1;
	}
	v->s = *s;
	return 0;
}
