/*
 * virtio-net against the fake guest driver (fakedrv.h), the device on the
 * evloop thread but in test_tx_budget.  The backend is a
 * socket pair (one frame a datagram, as on a tap) for the exact checks,
 * and in the last test a real tap on a bridge, in a network namespace of
 * the test's own, for ARP and ICMP echo with the host's stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../guest/ethframe.h"
#include "devices.h"
#include "fakedrv.h"
#include "tapnet.h"
#include "tuntap.h"
#include "virtio_net.h"
#include "vm.h"
#include "unit.h"

#define QN		16
#define NBUF		4		/* receive buffers a test keeps posted */
#define HDR		VIRTIO_NET_HDR_LEN
#define BUF(i)		(0x100000ULL + 0x1000ULL * (i))
#define TXBUF		0x200000ULL
#define BIG		0x400000ULL
#define NEEDS_RESET	FAKEDRV_S_NEEDS_RESET
#define BACKSTOP_MS	FAKEDRV_BACKSTOP_MS
#define FEATURES	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << 5 | 1ULL << 16)
					/* MAC, STATUS */
enum { RX, TX };

/* A device on a backend fd, and the driver in front of it. */
struct rig {
	struct fakedrv d;
	struct virtio_net n;
	int host;			/* the other end of the backend */
};

static struct evloop loop;
static struct rig sock_rig;

static void
reg(struct rig *r, uint32_t off, uint32_t val)
{
	fakedrv_write(&r->d, off, val);
}

static uint32_t
reg_rd(struct rig *r, uint32_t off)
{
	return fakedrv_read(&r->d, off);
}

static void
driver_setup(struct rig *r)
{
	fakedrv_setup(&r->d, FEATURES, 2, QN);
}

/* Makes a chain of n segments available, and kicks. */
static void
post(struct rig *r, int q, const struct fakedrv_seg *s, int n)
{
	fakedrv_post(&r->d, (uint16_t)q, s, n);
}

static void
post_rx(struct rig *r, uint64_t addr, uint32_t len)
{
	struct fakedrv_seg s = { addr, len, VIRTQ_DESC_F_WRITE };

	post(r, RX, &s, 1);
}

/* The next used element of queue q within ms milliseconds: 0, or -1. */
static int
used_next(struct rig *r, int q, int ms, uint32_t *head, uint32_t *len)
{
	return fakedrv_used_next(&r->d, (uint16_t)q, ms, head, len);
}

/* The receive buffer a used element gave back. */
static uint64_t
rx_buf(struct rig *r, uint32_t head)
{
	return fakedrv_head_addr(&r->d, RX, (uint16_t)head);
}

/* Sends header + frame as three descriptors; waits until it is taken. */
static int
send_frame(struct rig *r, const uint8_t *frame, uint32_t len)
{
	uint8_t junk[HDR];
	struct fakedrv_seg s[3] = {
		{ TXBUF, HDR, 0 }, { TXBUF + HDR, len / 2, 0 },
		{ TXBUF + 0x800, len - len / 2, 0 },
	};
	uint32_t head, used_len;

	memset(junk, 0x11, sizeof(junk));	/* offload requests: ignored */
	mem_write(&r->d.mem, TXBUF, junk, HDR);
	mem_write(&r->d.mem, TXBUF + HDR, frame, len / 2);
	mem_write(&r->d.mem, TXBUF + 0x800, frame + len / 2, len - len / 2);
	post(r, TX, s, 3);
	if (used_next(r, TX, BACKSTOP_MS, &head, &used_len) == -1)
		return -1;
	return used_len == 0 ? 0 : -1;
}

/* A frame from the host end: a header of junk and len bytes of i + seed. */
static void
host_send(struct rig *r, uint32_t len, uint8_t seed)
{
	uint8_t buf[HDR + 4096];

	memset(buf, 0x22, HDR);
	for (uint32_t i = 0; i < len; i++)
		buf[HDR + i] = (uint8_t)(i + seed);
	CHECK_EQ(write(r->host, buf, HDR + len), HDR + len);
}

/* Whether the frame of host_send(len, seed) is in the used buffer. */
static int
got_frame(struct rig *r, uint32_t head, uint32_t used_len, uint32_t len,
    uint8_t seed)
{
	static const uint8_t hdr[HDR] = { [10] = 1 };	/* num_buffers 1 */
	uint8_t buf[HDR + 4096];

	if (used_len != HDR + len)
		return 0;
	mem_read(&r->d.mem, rx_buf(r, head), buf, used_len);
	for (uint32_t i = 0; i < len; i++)
		if (buf[HDR + i] != (uint8_t)(i + seed))
			return 0;
	return memcmp(buf, hdr, HDR) == 0;
}

static int
pending_at_device(const struct rig *r)
{
	uint8_t b[1];

	return recv(r->n.fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) > 0;
}

static void
rig_start(struct rig *r, int fd, int host)
{
	static const uint8_t mac[6] = { 0x02, 0x53, 0, 0, 0, 3 };

	r->host = host;
	if (fakedrv_init(&r->d, &virtio_net_ops, &r->n, &loop) == -1 ||
	    virtio_net_init(&r->n, fd, "test0", mac, &loop, &r->d.t) == -1)
		abort();
}

static struct rig *
start(void)
{
	static int up;
	int sv[2];

	if (up++ == 0) {
		evloop_init(&loop);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
			abort();
		rig_start(&sock_rig, sv[0], sv[1]);
		evloop_start(&loop);
	}
	driver_setup(&sock_rig);
	return &sock_rig;
}

/* A rig on a loop of its own that no thread runs: the test turns it
 * (fakedrv_turn) and sees what each turn did.  Its backend is a socket
 * pair; n sets its name and MAC apart from the other rigs'. */
static void
rig_own_start(struct rig *r, struct evloop *l, uint8_t n)
{
	const uint8_t mac[6] = { 2, 0, 0, 0, 0, n };
	char name[8];
	int sv[2];

	CHECK_EQ(evloop_init(l), 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	r->host = sv[1];
	snprintf(name, sizeof(name), "test%d", n);
	if (fakedrv_init(&r->d, &virtio_net_ops, &r->n, l) == -1 ||
	    virtio_net_init(&r->n, sv[0], name, mac, l, &r->d.t) == -1)
		abort();
}

static void
rig_own_stop(struct rig *r, struct evloop *l)
{
	virtio_net_close(&r->n);
	fakedrv_destroy(&r->d);
	evloop_destroy(l);
	close(r->host);
}

static void
test_config(void)
{
	struct rig *r = start();
	uint8_t cfg[12];

	reg(r, FAKEDRV_R_DEV_FEATURES_SEL, 0);
	CHECK_EQ(reg_rd(r, FAKEDRV_R_DEV_FEATURES), (1U << 5) | (1U << 16) |
	    (1U << FAKEDRV_F_EVENT_IDX));
	reg(r, FAKEDRV_R_DEV_FEATURES_SEL, 1);
	CHECK_EQ(reg_rd(r, FAKEDRV_R_DEV_FEATURES), 1);	/* VERSION_1 */
	virtio_mmio_io(&r->d.t, 0x100, cfg, 8, false);
	CHECK(memcmp(cfg, "\x02\x53\0\0\0\x03\x01\0", 8) == 0);
	virtio_mmio_io(&r->d.t, 0x104, cfg, 4, false);	/* MAC tail, status */
	CHECK(memcmp(cfg, "\0\x03\x01\0", 4) == 0);
	virtio_mmio_io(&r->d.t, 0x108, cfg, 4, false);
	CHECK(memcmp(cfg, "\0\0\0\0", 4) == 0);
	CHECK_EQ(fakedrv_status(&r->d), FAKEDRV_S_LIVE);	/* accepted */
}

static void
test_tx(void)
{
	struct rig *r = start();
	uint8_t frame[60], got[HDR + 64];

	for (int i = 0; i < 60; i++)
		frame[i] = (uint8_t)(3 * i);
	CHECK_EQ(send_frame(r, frame, sizeof(frame)), 0);
	CHECK_EQ(read(r->host, got, sizeof(got)), HDR + 60);
	CHECK(memcmp(got, "\0\0\0\0\0\0\0\0\0\0\0\0", HDR) == 0);
	CHECK(memcmp(got + HDR, frame, 60) == 0);
	CHECK_EQ(r->n.stats.tx_frames, 1);
	CHECK_EQ(r->n.stats.tx_bytes, 60);
}

static void
test_tx_bounds(void)
{
	struct rig *r = start();
	struct fakedrv_seg shortest = { TXBUF, HDR - 1, 0 };
	struct fakedrv_seg over = { BIG, HDR + VIRTIO_NET_MAX_FRAME + 1, 0 };
	struct fakedrv_seg most = { BIG, HDR + VIRTIO_NET_MAX_FRAME, 0 };
	uint8_t *got = malloc(HDR + VIRTIO_NET_MAX_FRAME + 16);
	uint64_t dropped = r->n.stats.tx_dropped;
	uint32_t head, len;

	post(r, TX, &shortest, 1);
	CHECK_EQ(used_next(r, TX, BACKSTOP_MS, &head, &len), 0);
	post(r, TX, &over, 1);
	CHECK_EQ(used_next(r, TX, BACKSTOP_MS, &head, &len), 0);
	CHECK_EQ(r->n.stats.tx_dropped, dropped + 2);
	CHECK_EQ(recv(r->host, got, 16, MSG_DONTWAIT), -1);	/* nothing sent */
	post(r, TX, &most, 1);
	CHECK_EQ(used_next(r, TX, BACKSTOP_MS, &head, &len), 0);
	CHECK_EQ(read(r->host, got, HDR + VIRTIO_NET_MAX_FRAME + 16),
	    HDR + VIRTIO_NET_MAX_FRAME);
	CHECK_EQ(fakedrv_status(&r->d) & NEEDS_RESET, 0);
	free(got);
}

static void
test_rx_backpressure(void)
{
	struct rig *r = start();
	uint32_t head, len;

	host_send(r, 100, 1);
	fakedrv_kick(&r->d, TX);	/* a kick finds no receive buffer */
	usleep(50000);
	CHECK(pending_at_device(r));	/* not read, not dropped */
	CHECK(!r->n.watching);
	post_rx(r, BUF(0), 2048);
	post_rx(r, BUF(1), 2048);
	CHECK_EQ(used_next(r, RX, BACKSTOP_MS, &head, &len), 0);
	CHECK(got_frame(r, head, len, 100, 1));
	host_send(r, 200, 2);		/* a buffer is left: read unasked */
	CHECK_EQ(used_next(r, RX, BACKSTOP_MS, &head, &len), 0);
	CHECK(got_frame(r, head, len, 200, 2));
	host_send(r, 300, 3);		/* none is left: it waits */
	CHECK_EQ(used_next(r, RX, 100, &head, &len), -1);
	CHECK(pending_at_device(r));
	post_rx(r, BUF(2), 2048);
	CHECK_EQ(used_next(r, RX, BACKSTOP_MS, &head, &len), 0);
	CHECK(got_frame(r, head, len, 300, 3));
	CHECK_EQ(r->n.stats.rx_dropped, 0);
}

static void
test_rx_too_big(void)
{
	struct rig *r = start();
	uint64_t dropped = r->n.stats.rx_dropped;
	uint32_t head, len;

	post_rx(r, BUF(0), HDR + 50);
	host_send(r, 100, 4);
	host_send(r, 40, 5);
	CHECK_EQ(used_next(r, RX, BACKSTOP_MS, &head, &len), 0);
	CHECK(got_frame(r, head, len, 40, 5));	/* the same buffer */
	CHECK_EQ(r->n.stats.rx_dropped, dropped + 1);
}

static void
test_rx_order(void)
{
	struct rig *r = start();
	uint32_t head, len;
	int got = 0;

	for (int i = 0; i < NBUF; i++)
		post_rx(r, BUF(i), 2048);
	for (int i = 0; i < 10; i++)
		host_send(r, 64, (uint8_t)(10 + i));
	while (got < 10 && used_next(r, RX, BACKSTOP_MS, &head, &len) == 0) {
		CHECK(got_frame(r, head, len, 64, (uint8_t)(10 + got)));
		got++;
		post_rx(r, rx_buf(r, head), 2048);
	}
	CHECK_EQ(got, 10);
}

static int
wait_needs_reset(struct rig *r)
{
	for (int i = 0; i < BACKSTOP_MS; i++) {
		if (fakedrv_status(&r->d) & NEEDS_RESET)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void
test_malformed(void)
{
	struct rig *r = start();
	struct fakedrv_seg loop_seg = { TXBUF, HDR, 0 };
	struct fakedrv_seg self = { TXBUF, HDR, VIRTQ_DESC_F_NEXT };
	uint8_t frame[20] = { 1 };
	uint32_t head, len;
	uint16_t i;

	post_rx(r, BUF(0), HDR - 8);
	CHECK(wait_needs_reset(r));
	r = start();
	post(r, RX, &loop_seg, 1);	/* device-readable only */
	CHECK(wait_needs_reset(r));
	r = start();
	i = r->d.q[TX].next_desc;
	fakedrv_desc(&r->d, TX, i, &self, i);	/* NEXT to itself */
	fakedrv_publish(&r->d, TX, i);
	fakedrv_kick(&r->d, TX);
	CHECK(wait_needs_reset(r));
	r = start();			/* a reset makes it work again */
	CHECK_EQ(send_frame(r, frame, sizeof(frame)), 0);
	CHECK_EQ(read(r->host, frame, sizeof(frame)), sizeof(frame));
	post_rx(r, BUF(0), 2048);
	host_send(r, 32, 6);
	CHECK_EQ(used_next(r, RX, BACKSTOP_MS, &head, &len), 0);
	CHECK(got_frame(r, head, len, 32, 6));
}

static void
test_opts_and_state(void)
{
	struct rig *r = start();
	struct virtio_net_opt o;
	struct virtio_net_state s = { VIRTIO_NET_STATE_VERSION, 1,
	    { 0x02, 0x53, 0, 0, 0, 3 } };
	char spec[5][40] = { "tap0", "tap0/02:AB:cd:00:00:01",
	    "tap0/01:00:00:00:00:01", "tap0/02:00:00:00:00", "a/b/c" };
	struct virtio_mmio_state ms;
	uint8_t mac[6];
	uint32_t gen;

	CHECK_EQ(virtio_net_parse_opt(spec[0], &o), 0);
	CHECK(strcmp(o.tap, "tap0") == 0 && !o.has_mac);
	CHECK_EQ(virtio_net_parse_opt(spec[1], &o), 0);
	CHECK(o.has_mac && memcmp(o.mac, "\x02\xab\xcd\0\0\x01", 6) == 0);
	for (int i = 2; i < 5; i++)
		CHECK_EQ(virtio_net_parse_opt(spec[i], &o), -1);
	CHECK_EQ(virtio_net_parse_opt((char[]){ "tap:0" }, &o), -1);
	CHECK_EQ(virtio_net_parse_opt((char[]){ "" }, &o), -1);
	CHECK_EQ(virtio_net_parse_opt((char[]){ "tap0/00:00:00:00:00:00" }, &o), -1);
	virtio_net_default_mac(0x01020304, mac);
	CHECK(memcmp(mac, "\x02\x53\x01\x02\x03\x04", 6) == 0);
	CHECK_EQ(virtio_net_check(&s, sizeof(s), "state"), 0);
	CHECK_EQ(virtio_net_check(&s, sizeof(s) + 4, "state"), -1);
	CHECK_EQ(virtio_net_check(&s, 2, "state"), -1);
	s.version = 2;
	CHECK_EQ(virtio_net_check(&s, sizeof(s), "state"), -1);
	s.version = VIRTIO_NET_STATE_VERSION;
	s.mac[0] = 0x03;				/* multicast */
	CHECK_EQ(virtio_net_check(&s, sizeof(s), "state"), -1);
	s.mac[0] = 0x02;
	s.status = 0;					/* link down */
	CHECK_EQ(virtio_net_check(&s, sizeof(s), "state"), -1);
	s.status = 3;
	CHECK_EQ(virtio_net_check(&s, sizeof(s), "state"), -1);
	s.status = VIRTIO_NET_S_LINK_UP;
	pthread_mutex_lock(&r->d.t.lock);
	ms = r->d.t.s;
	pthread_mutex_unlock(&r->d.t.lock);
	gen = ms.config_gen;
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 0), 0);
	CHECK_EQ(r->d.t.s.config_gen, gen);		/* same MAC: no news */
	s.mac[5] = 9;
	CHECK_EQ(virtio_net_load(&r->n, &s, &ms, "state", 0), 0);
	CHECK_EQ(r->d.t.s.config_gen, gen + 1);
	s.status = 0;
	CHECK_EQ(virtio_net_load(&r->n, &s, &ms, "state", 0), -1);
	CHECK_EQ(r->d.t.s.config_gen, gen + 1);		/* nothing loaded */
}

/* The transport section of the network device: two queues, each live one
 * checked against guest memory. */
static void
test_state_transport(void)
{
	struct rig *r = start();
	struct virtio_mmio_state good, ms;

	pthread_mutex_lock(&r->d.t.lock);
	good = r->d.t.s;
	pthread_mutex_unlock(&r->d.t.lock);
	ms = good;
	ms.q[1].used = ms.q[1].avail + 2;		/* misaligned */
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 1), -1);
	ms = good;
	ms.q[0].used = ms.q[1].desc;			/* another queue's: fine */
	ms.q[1].avail = ms.q[1].used;			/* its own: not */
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 1), -1);
	ms = good;
	ms.q[2].ready = 1;				/* no third queue */
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 1), -1);
	ms = good;
	ms.q[0].next_used = (uint16_t)(ms.q[0].last_avail - QN - 1);
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 1), -1);
	ms = good;
	ms.driver_features |= 1ULL << 0;		/* CSUM: not offered */
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 1), -1);
	pthread_mutex_lock(&r->d.t.lock);
	CHECK(memcmp(&r->d.t.s, &good, sizeof(good)) == 0);
	pthread_mutex_unlock(&r->d.t.lock);
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &good, "state", 1), 0);
	CHECK_EQ(virtio_net_tap_check("tap0\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), 0);
	CHECK_EQ(virtio_net_tap_check("tap0", 4, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("0123456789abcdef", 16, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("../x\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), -1);
}

/* A full transmit queue is sent a budget at a time, one evloop turn
 * each, so that the guest cannot hold the device thread. */
static void
test_tx_budget(void)
{
	static struct rig b;
	static struct evloop l;
	const int n = 2 * VIRTIO_MMIO_BUDGET;
	const struct fakedrv_seg sg = { 0x700000, HDR + 60, 0 };
	uint8_t frame[HDR + 60] = { 0 };

	start();
	rig_own_start(&b, &l, 1);
	fakedrv_features(&b.d, 1ULL << VIRTIO_F_VERSION_1);
	fakedrv_queue(&b.d, TX, 256);
	fakedrv_driver_ok(&b.d);
	mem_write(&b.d.mem, sg.addr, frame, sizeof(frame));
	for (int i = 0; i < n; i++)
		fakedrv_publish(&b.d, TX, fakedrv_chain(&b.d, TX, &sg, 1));
	fakedrv_kick(&b.d, TX);
	for (int i = 1; i <= 2; i++) {
		CHECK_EQ(fakedrv_turn(&b.d), 1);
		CHECK_EQ(fakedrv_used_idx(&b.d, TX), i * VIRTIO_MMIO_BUDGET);
	}
	CHECK_EQ(fakedrv_turn(&b.d), 1);	/* the re-queue, finding none */
	CHECK_EQ(fakedrv_turn(&b.d), 0);
	CHECK_EQ(b.n.stats.tx_frames, n);
	CHECK_EQ(fakedrv_status(&b.d), FAKEDRV_S_LIVE);
	rig_own_stop(&b, &l);
}

/* The guest's side of the tap test: ARP, then echo small and large. */
static void
tap_traffic(struct rig *r)
{
	struct ethaddrs a = { .mac = { 0x02, 0x53, 0, 0, 0, 3 },
	    .ip = { 192, 0, 2, 2 }, .peer_ip = { 192, 0, 2, 1 } };
	uint8_t f[HDR + 2048];
	uint32_t head, len;
	int arp = 0, echo = 0;

	for (int i = 0; i < NBUF; i++)
		post_rx(r, BUF(16 + i), 2048);
	/* The bridge forwards from the new port only once the kernel has
	 * seen its carrier come up (linkwatch, up to a second later): like
	 * any stack, ask again until answered. */
	for (int try = 0; !arp && try < 20; try++) {
		CHECK_EQ(send_frame(r, f, (uint32_t)eth_arp_request(f, &a)), 0);
		while (!arp && used_next(r, RX, 500, &head, &len) == 0) {
			mem_read(&r->d.mem, rx_buf(r, head), f, len);
			arp = eth_is_arp_reply(f + HDR, len - HDR, &a);
			post_rx(r, rx_buf(r, head), 2048);
		}
	}
	CHECK(arp);
	for (unsigned seq = 1; seq <= 2; seq++) {
		int payload = seq == 1 ? 56 : 1400;

		CHECK_EQ(send_frame(r, f, (uint32_t)eth_echo_request(f, &a, seq,
		    payload)), 0);
		for (echo = 0; !echo && used_next(r, RX, BACKSTOP_MS, &head,
		    &len) == 0; ) {
			mem_read(&r->d.mem, rx_buf(r, head), f, len);
			echo = eth_is_echo_reply(f + HDR, len - HDR, &a, seq, payload);
			post_rx(r, rx_buf(r, head), 2048);
		}
		CHECK(echo);
	}
}

static void
quiet_ipv6(void)
{
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);

	if (fd != -1) {		/* no router solicitations to skip */
		CHECK_EQ(write(fd, "1", 1), 1);
		close(fd);
	}
}

/* Root only, wholly inside a network namespace that dies with the test. */
/* Every handler of a rig nobody runs, until none is ready (bounded). */
static void
rig_turns(struct rig *r)
{
	int i = 0;

	while (fakedrv_turn(&r->d) > 0 && ++i < 100)
		;
	CHECK(i < 100);
}

static void
rig_publish(struct rig *r, int q, uint64_t addr, uint32_t len, uint16_t flags)
{
	const struct fakedrv_seg sg = { addr, len, flags };

	fakedrv_publish(&r->d, (uint16_t)q, fakedrv_chain(&r->d, (uint16_t)q,
	    &sg, 1));
}

/* The interrupts a rig raised since the last call. */
static uint64_t
rig_irqs(struct rig *r)
{
	static uint64_t seen;
	uint64_t now = fakedrv_interrupts(&r->d), d = now - seen;

	seen = now;
	return d;
}

/* With EVENT_IDX, on a rig the test turns: the frames of one turn cost
 * one interrupt and only past used_event; a receive queue found empty
 * asks, in avail_event, for a kick at the next buffer. */
static void
test_event_idx(void)
{
	static struct rig b;
	static struct evloop l;
	uint8_t frame[HDR + 60] = { 0 };

	start();
	rig_own_start(&b, &l, 2);
	fakedrv_setup(&b.d, FEATURES | 1ULL << FAKEDRV_F_EVENT_IDX, 2, QN);
	CHECK_EQ(fakedrv_status(&b.d), FAKEDRV_S_LIVE);
	rig_turns(&b);
	(void)rig_irqs(&b);
	for (int i = 0; i < 3; i++)
		host_send(&b, 100, (uint8_t)i);
	for (int i = 0; i < 4; i++)
		rig_publish(&b, RX, BUF(i), 2048, VIRTQ_DESC_F_WRITE);
	fakedrv_kick(&b.d, RX);
	rig_turns(&b);
	CHECK_EQ(fakedrv_used_idx(&b.d, RX), 3);
	CHECK_EQ(rig_irqs(&b), 1);
	host_send(&b, 100, 3);			/* one buffer for two frames */
	host_send(&b, 100, 4);
	rig_turns(&b);
	CHECK_EQ(fakedrv_used_idx(&b.d, RX), 4);
	CHECK_EQ(rig_irqs(&b), 0);		/* 3 -> 4 does not pass 0 */
	CHECK_EQ(fakedrv_avail_event(&b.d, RX), 4);
	CHECK(pending_at_device(&b));
	fakedrv_set_used_event(&b.d, RX, 4);
	rig_publish(&b, RX, BUF(4), 2048, VIRTQ_DESC_F_WRITE);
	CHECK(fakedrv_kick_needed(&b.d, RX, 4));
	fakedrv_kick(&b.d, RX);
	rig_turns(&b);
	CHECK_EQ(fakedrv_used_idx(&b.d, RX), 5);
	CHECK_EQ(rig_irqs(&b), 1);
	mem_write(&b.d.mem, 0x700000, frame, sizeof(frame));
	fakedrv_set_used_event(&b.d, TX, 100);
	for (int i = 0; i < 4; i++)
		rig_publish(&b, TX, 0x700000, sizeof(frame), 0);
	fakedrv_kick(&b.d, TX);
	rig_turns(&b);
	CHECK_EQ(fakedrv_used_idx(&b.d, TX), 4);
	CHECK_EQ(rig_irqs(&b), 0);
	CHECK_EQ(fakedrv_avail_event(&b.d, TX), 4);
	CHECK_EQ(b.n.stats.tx_frames, 4);
	CHECK_EQ(fakedrv_status(&b.d), FAKEDRV_S_LIVE);
	rig_own_stop(&b, &l);
}

static void
test_real_tap(void)
{
	static struct rig tr;
	struct rtnl_addr a;
	char *ls = NULL;
	size_t lslen = 0;
	FILE *out;
	int fd;

	start();
	if (geteuid() != 0 || unshare(CLONE_NEWNET) == -1) {
		printf("#   needs root for a network namespace: %s\n",
		    strerror(errno));
		unit_failed++;
		return;
	}
	quiet_ipv6();
	CHECK_EQ(tapnet_parse_cidr("192.0.2.1/24", &a), 0);
	CHECK_EQ(tapnet_bridge_add("snapbr0", &a), 0);
	CHECK_EQ(tapnet_tap_add("snaptap0", "snapbr0", -1), 0);
	CHECK_EQ(tuntap_open("nosuchtap"), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(tuntap_open("snapbr0"), -1);		/* not a tap */
	CHECK((fd = tuntap_open("snaptap0")) >= 0);
	rig_start(&tr, fd, -1);
	driver_setup(&tr);
	tap_traffic(&tr);
	out = open_memstream(&ls, &lslen);
	CHECK_EQ(tapnet_ls(out), 0);
	fclose(out);
	CHECK(strstr(ls, "tap\tsnaptap0\tup\tsnapbr0\t-\t-\n") != NULL);
	CHECK(strstr(ls, "bridge\tsnapbr0\tup\t-\t-\t192.0.2.1/24\n") != NULL);
	free(ls);
}

static void wiring_reset(void *o) { (void)o; }
static void wiring_exit(void *o, int status) { (void)o; (void)status; }
static void wiring_ckpt(void *o, uint32_t point) { (void)o; (void)point; }

/* The network device's sections (transport, device, tap name) saved,
 * loaded into a new machine on the same tap and saved again the same;
 * the layout has a place for each.  vm is destroyed. */
static void
wiring_round_trip(struct vm *vm, const struct vm_config *cfg,
    const struct devices_ops *ops)
{
	struct snapbuf a, b;
	struct snapstate st;
	uint8_t *copy;

	snapbuf_init(&a);
	devices_save(vm, &a);
	CHECK_EQ(a.nsections, 1 + 2 + 3);
	devices_destroy(vm);			/* the tap is free again */
	mem_destroy(&vm->mem);
	copy = malloc(a.len);
	memcpy(copy, a.data, a.len);
	CHECK_EQ(snapstate_parse(&st, "wiring", copy, a.len), 0);
	CHECK_EQ(devices_check_sections(cfg, &st), 0);
	CHECK(snapstate_get(&st, SEC_NET_TAP, 0, VIRTIO_NET_IFNAME) != NULL);
	vm_clear(vm);
	CHECK_EQ(mem_create(&vm->mem, 16), 0);
	CHECK_EQ(devices_create(vm, cfg, ops), 0);
	CHECK_EQ(devices_load(vm, &st), 0);
	snapbuf_init(&b);
	devices_save(vm, &b);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	snapbuf_free(&a);
	snapbuf_free(&b);
	snapstate_free(&st);
}

/* After test_real_tap, in its namespace: the device table without KVM. */
static void
test_wiring(void)
{
	static struct vm vm;
	char dir[] = "/tmp/net-test.XXXXXX", sock[64], line[2048];
	struct vm_config cfg = { .cid = 7, .net = { .tap = "snaptap1" } };
	const struct devices_ops ops = { wiring_reset, wiring_exit,
	    wiring_ckpt };
	uint8_t v[8] = { 0 };

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(sock, sizeof(sock), "%s/v.sock", dir);
	cfg.vsock = sock;
	CHECK_EQ(tapnet_tap_add("snaptap1", "snapbr0", -1), 0);
	vm_clear(&vm);
	CHECK_EQ(mem_create(&vm.mem, 16), 0);
	CHECK_EQ(devices_create(&vm, &cfg, &ops), 0);
	CHECK(vm.has_vsock && vm.has_net);
	CHECK(bus_access(&vm.mmio, VM_MMIO_BASE + 0x1000 + 8, v, 4, false));
	CHECK_EQ(v[0], VIRTIO_ID_NET);			/* the slot after vsock */
	CHECK(bus_access(&vm.mmio, VM_MMIO_BASE + 0x1100, v, 8, false));
	CHECK(memcmp(v, "\x02\x53\0\0\0\x07\x01\0", 8) == 0);
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "virtio_mmio.device=4K@0xd0000000:5 "
	    "virtio_mmio.device=4K@0xd0001000:6") != NULL);
	wiring_round_trip(&vm, &cfg, &ops);
	devices_destroy(&vm);
	mem_destroy(&vm.mem);
	vm_clear(&vm);
	cfg.net.tap = "snapbr0";			/* not a tap */
	CHECK_EQ(mem_create(&vm.mem, 16), 0);
	CHECK_EQ(devices_create(&vm, &cfg, &ops), -1);
	CHECK_EQ(errno, ENOENT);	/* what vm_build turns into EX_NOINPUT */
	devices_destroy(&vm);
	mem_destroy(&vm.mem);
	rmdir(dir);
}

static const struct unit_test tests[] = {
	{ "virtio-net: features and config space", test_config },
	{ "virtio-net: a frame out, offload requests ignored", test_tx },
	{ "virtio-net: frames too short or too long are dropped", test_tx_bounds },
	{ "virtio-net: no receive buffer, no reading", test_rx_backpressure },
	{ "virtio-net: a frame too large for the buffer is dropped", test_rx_too_big },
	{ "virtio-net: frames arrive in order", test_rx_order },
	{ "virtio-net: malformed queues stop the device", test_malformed },
	{ "virtio-net: --net, default MAC, snapshot section", test_opts_and_state },
	{ "virtio-net: transport and tap sections are checked", test_state_transport },
	{ "virtio-net: a budget of frames per turn, then a re-queue", test_tx_budget },
	{ "virtio-net: EVENT_IDX: one interrupt past used_event, avail_event set", test_event_idx },
	{ "virtio-net: ARP and echo through a tap and bridge", test_real_tap },
	{ "virtio-net: its slot in the device table, its state saved and loaded",
	    test_wiring },
};

UNIT_MAIN(tests)
