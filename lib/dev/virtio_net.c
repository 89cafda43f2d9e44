#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "rtnl.h"
#include "virtio_net.h"

enum { Q_RX = 0, Q_TX = 1 };
#define NET_F_MAC	5
#define NET_F_STATUS	16
#define NET_RX_BURST	64		/* frames per turn of the evloop */
#define NET_FRAME_BUF	(VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME)

/* What one step of receiving did. */
enum rx_step {
	RX_DELIVERED,			/* a frame went to the guest */
	RX_DROPPED,			/* a frame was dropped */
	RX_NO_FRAME,			/* the tap had none */
	RX_NO_BUFFER,			/* the guest gave none */
	RX_STOP,			/* the queue or the tap failed */
};

static uint64_t
net_features(void *dev)
{
	(void)dev;
	return (1ULL << NET_F_MAC) | (1ULL << NET_F_STATUS) |
	    (1ULL << VIRTQ_F_EVENT_IDX);
}

/* Config layout per the spec: mac[6], then the 16-bit status. */
static void
net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = dev;
	uint8_t cfg[8];

	memcpy(cfg, n->s.mac, 6);
	memcpy(cfg + 6, &n->s.status, 2);
	memset(data, 0, len);
	if (off < sizeof(cfg))
		memcpy(data, cfg + off, len < sizeof(cfg) - off ? len :
		    sizeof(cfg) - off);
}

static void net_readable(void *opaque, int fd, uint32_t events);

/* The tap is watched exactly while frames could be taken from it. */
static void
net_watch(struct virtio_net *n, bool on)
{
	int rc;

	if (on == n->watching)
		return;
	rc = on ? evloop_add(n->loop, n->fd, EPOLLIN, net_readable, n) :
	    evloop_del(n->loop, n->fd);
	if (rc == 0)
		n->watching = on;
}

static enum rx_step
net_read_failed(struct virtio_net *n, ssize_t len)
{
	if (len < 0 && (errno == EAGAIN || errno == EINTR))
		return RX_NO_FRAME;
	if (!n->fd_failed) {
		if (len == 0)
			log_warnx("virtio-net %s: end of file", n->ifname);
		else
			log_warn("virtio-net %s: read", n->ifname);
	}
	n->fd_failed = true;
	return RX_STOP;
}

/* No offload was negotiated: nothing in the header is meaningful but the
 * count of buffers, which is one. */
static void
net_rx_header(uint8_t *hdr)
{
	uint16_t one = 1;

	memset(hdr, 0, VIRTIO_NET_HDR_LEN);
	memcpy(hdr + 10, &one, sizeof(one));
}

/* Takes a buffer first, so that a frame is read only where it can go. */
static enum rx_step
net_rx_one(struct virtio_net *n, struct virtq_state *q)
{
	const struct mem *m = n->t->mem;
	int rc = virtq_pop(q, m, &n->chain, virtio_mmio_event_idx(n->t));
	ssize_t len;

	if (rc == 0)
		return RX_NO_BUFFER;
	if (rc == -1 || n->chain.in_len < VIRTIO_NET_HDR_LEN) {
		virtio_mmio_fail(n->t, rc == -1 ? "malformed receive queue" :
		    "receive buffer smaller than a header");
		return RX_STOP;
	}
	len = read(n->fd, n->frame, NET_FRAME_BUF);
	if (len < VIRTIO_NET_HDR_LEN || (size_t)len > n->chain.in_len)
		q->last_avail--;		/* the buffer waits for another */
	if (len <= 0)
		return net_read_failed(n, len);
	if (len < VIRTIO_NET_HDR_LEN || (size_t)len > n->chain.in_len) {
		n->stats.rx_dropped++;
		return RX_DROPPED;
	}
	net_rx_header(n->frame);
	virtq_write(m, &n->chain, 0, n->frame, (size_t)len);
	if (virtq_push(q, m, n->chain.head, (uint32_t)len) == -1)
		return RX_STOP;
	n->stats.rx_frames++;
	n->stats.rx_bytes += (uint64_t)len - VIRTIO_NET_HDR_LEN;
	return RX_DELIVERED;
}

static void
net_rx(struct virtio_net *n)
{
	struct virtq_state *q = &n->t->s.q[Q_RX];
	enum rx_step step = RX_NO_FRAME;

	if (!virtio_mmio_running(n->t) || !q->ready) {
		net_watch(n, false);
		return;
	}
	for (int i = 0; i < NET_RX_BURST; i++) {
		step = net_rx_one(n, q);
		if (step != RX_DELIVERED && step != RX_DROPPED)
			break;
	}
	/* Back-pressure: without buffers the frames wait in the tap. */
	net_watch(n, step != RX_NO_BUFFER && step != RX_STOP);
	if (virtq_flush(q, n->t->mem, virtio_mmio_event_idx(n->t)))
		virtio_mmio_interrupt(n->t, VIRTIO_INT_VRING);
}

static void
net_readable(void *opaque, int fd, uint32_t events)
{
	struct virtio_net *n = opaque;

	(void)fd;
	(void)events;
	pthread_mutex_lock(&n->t->lock);
	net_rx(n);
	pthread_mutex_unlock(&n->t->lock);
}

/* One frame from the guest: its header is replaced by zeros, since no
 * offload was negotiated that the tap should act on. */
static void
net_tx_frame(struct virtio_net *n)
{
	const struct virtq_chain *c = &n->chain;
	size_t len = c->out_len;

	if (len < VIRTIO_NET_HDR_LEN ||
	    len - VIRTIO_NET_HDR_LEN > VIRTIO_NET_MAX_FRAME) {
		n->stats.tx_dropped++;
		return;
	}
	memset(n->frame, 0, VIRTIO_NET_HDR_LEN);
	virtq_read(n->t->mem, c, VIRTIO_NET_HDR_LEN,
	    n->frame + VIRTIO_NET_HDR_LEN, len - VIRTIO_NET_HDR_LEN);
	if (write(n->fd, n->frame, len) != (ssize_t)len) {
		n->stats.tx_errors++;
		return;
	}
	n->stats.tx_frames++;
	n->stats.tx_bytes += len - VIRTIO_NET_HDR_LEN;
}

/* At most a budget of frames per turn; the rest on the next one. */
static void
net_tx(struct virtio_net *n)
{
	struct virtq_state *q = &n->t->s.q[Q_TX];
	int done = 0, rc = 0;

	while (done < VIRTIO_MMIO_BUDGET &&
	    (rc = virtq_pop(q, n->t->mem, &n->chain,
	    virtio_mmio_event_idx(n->t))) == 1) {
		net_tx_frame(n);
		if (virtq_push(q, n->t->mem, n->chain.head, 0) == -1)
			break;
		done++;
	}
	if (rc == -1)
		virtio_mmio_fail(n->t, "malformed transmit queue");
	else if (done == VIRTIO_MMIO_BUDGET)
		virtio_mmio_requeue(n->t, Q_TX);
	if (virtq_flush(q, n->t->mem, virtio_mmio_event_idx(n->t)))
		virtio_mmio_interrupt(n->t, VIRTIO_INT_VRING);
}

static void
net_notify(void *dev, struct virtio_mmio *t, uint16_t q)
{
	struct virtio_net *n = dev;

	(void)t;
	if (q == Q_TX)
		net_tx(n);
	net_rx(n);	/* new buffers, or the driver's first kick */
}

/* Frames waiting in the tap stay there for the next driver; the watch
 * ends the next time the tap wakes a device that is not running. */
static void
net_reset(void *dev)
{
	(void)dev;
}

const struct virtio_dev_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.nqueues = 2,
	.features = net_features,
	.config_read = net_config_read,
	.queue_notify = net_notify,
	.reset = net_reset,
};

int
virtio_net_init(struct virtio_net *n, int fd, const char *ifname,
    const uint8_t mac[6], struct evloop *loop, struct virtio_mmio *t)
{
	int fl;

	memset(n, 0, sizeof(*n));
	n->fd = fd;
	snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
	n->s.version = VIRTIO_NET_STATE_VERSION;
	n->s.status = VIRTIO_NET_S_LINK_UP;
	memcpy(n->s.mac, mac, sizeof(n->s.mac));
	n->loop = loop;
	n->t = t;
	/* A read that blocked would stall every device on the evloop. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (n->frame = malloc(NET_FRAME_BUF)) == NULL) {
		log_warn("virtio-net %s", ifname);
		return -1;
	}
	return 0;
}

void
virtio_net_close(struct virtio_net *n)
{
	const struct virtio_net_stats *st = &n->stats;

	if (n->fd == -1)
		return;
	if (n->watching)
		evloop_del(n->loop, n->fd);
	close(n->fd);
	n->fd = -1;
	free(n->frame);
	n->frame = NULL;
	log_emit(st->rx_dropped || st->tx_dropped || st->tx_errors ? LOG_WARN :
	    LOG_INFO, __func__, 0, "virtio-net %s: rx %ju frames (%ju bytes) "
	    "%ju dropped; tx %ju frames (%ju bytes) %ju dropped %ju failed",
	    n->ifname, (uintmax_t)st->rx_frames, (uintmax_t)st->rx_bytes,
	    (uintmax_t)st->rx_dropped, (uintmax_t)st->tx_frames,
	    (uintmax_t)st->tx_bytes, (uintmax_t)st->tx_dropped,
	    (uintmax_t)st->tx_errors);
}

static bool
mac_ok(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, sizeof(zero)) != 0;
}

int
virtio_net_check(const void *section, uint32_t size, const char *file)
{
	struct virtio_net_state s;

	if (size < sizeof(s.version)) {
		log_warnx("%s: section net: %u bytes, no version", file, size);
		return -1;
	}
	memcpy(&s.version, section, sizeof(s.version));
	if (s.version != VIRTIO_NET_STATE_VERSION || size != sizeof(s)) {
		log_warnx("%s: section net: version %u (%u bytes); this "
		    "program reads version %u (%zu bytes)", file, s.version, size,
		    VIRTIO_NET_STATE_VERSION, sizeof(s));
		return -1;
	}
	memcpy(&s, section, sizeof(s));
	if (s.status != VIRTIO_NET_S_LINK_UP) {
		log_warnx("%s: section net: status %#x, the device's is %#x "
		    "(link up)", file, s.status, VIRTIO_NET_S_LINK_UP);
		return -1;
	}
	if (!mac_ok(s.mac)) {
		log_warnx("%s: section net: mac is not a unicast address", file);
		return -1;
	}
	return 0;
}

int
virtio_net_tap_check(const void *section, uint32_t size, const char *file)
{
	if (size != VIRTIO_NET_IFNAME ||
	    memchr(section, '\0', VIRTIO_NET_IFNAME) == NULL ||
	    !rtnl_ifname_ok(section)) {
		log_warnx("%s: section net_tap: not an interface name in %u "
		    "bytes", file, VIRTIO_NET_IFNAME);
		return -1;
	}
	return 0;
}

/* The MAC and the link status are the device's own; the saved ones are
 * what the guest last read, so a new MAC is announced as a change. */
int
virtio_net_load(struct virtio_net *n, const struct virtio_net_state *s,
    const struct virtio_mmio_state *ms, const char *file, uint32_t index)
{
	if (virtio_net_check(s, sizeof(*s), file) == -1 ||
	    virtio_mmio_load(n->t, ms, file, index) == -1)
		return -1;
	if (memcmp(n->s.mac, s->mac, sizeof(s->mac)) != 0)
		virtio_mmio_config_changed(n->t);
	return 0;
}

static int
hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ?
	    c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		int hi = hex(s[3 * i]), lo = hex(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -1;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return mac_ok(mac) ? 0 : -1;
}

int
virtio_net_parse_opt(char *spec, struct virtio_net_opt *o)
{
	char *slash = strchr(spec, '/');

	memset(o, 0, sizeof(*o));
	if (slash != NULL)
		*slash = '\0';		/* the flag's own argv string */
	if (!rtnl_ifname_ok(spec)) {
		log_warnx("--net: \"%s\" is not an interface name", spec);
		return -1;
	}
	o->tap = spec;
	if (slash != NULL && parse_mac(slash + 1, o->mac) == -1) {
		log_warnx("--net: \"%s\" is not a unicast MAC address such as "
		    "02:00:00:00:00:01", slash + 1);
		return -1;
	}
	o->has_mac = slash != NULL;
	return 0;
}

void
virtio_net_default_mac(uint64_t cid, uint8_t mac[6])
{
	mac[0] = 0x02;			/* locally administered, unicast */
	mac[1] = 0x53;			/* 'S' */
	for (int i = 0; i < 4; i++)
		mac[2 + i] = (uint8_t)(cid >> (24 - 8 * i));
}
