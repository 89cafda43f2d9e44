/*
 * virtio-net against a fake guest driver: the test writes rings in guest
 * memory and kicks the transport as a driver would.  The backend is a
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
#include "tapnet.h"
#include "tuntap.h"
#include "virtio_net.h"
#include "vm.h"
#include "unit.h"

#define QN		16
#define CHAIN_MAX	4		/* descriptors per chain */
#define HDR		VIRTIO_NET_HDR_LEN
#define BUF(i)		(0x100000ULL + 0x1000ULL * (i))
#define TXBUF		0x200000ULL
#define BIG		0x400000ULL
#define NEEDS_RESET	0x40
enum { RX, TX };

/* A device on a backend fd, and the driver's view of its rings. */
struct rig {
	struct virtio_mmio t;
	struct virtio_net n;
	uint64_t rings;
	uint16_t avail[2], used[2];
	int host;			/* the other end of the backend */
};

struct seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
};

static struct mem m;
static struct evloop loop;
static struct rig sock_rig;

static uint64_t qbase(const struct rig *r, int q) { return r->rings + 0x4000ULL * (unsigned)q; }

static void
reg(struct rig *r, uint32_t off, uint32_t val)
{
	virtio_mmio_io(&r->t, off, (uint8_t *)&val, 4, true);
}

static uint32_t
reg_rd(struct rig *r, uint32_t off)
{
	uint32_t v = 0;

	virtio_mmio_io(&r->t, off, (uint8_t *)&v, 4, false);
	return v;
}

static void
driver_setup(struct rig *r)
{
	reg(r, 0x70, 0);
	reg(r, 0x70, 1 | 2);
	reg(r, 0x24, 0);
	reg(r, 0x20, (1U << 5) | (1U << 16));	/* MAC, STATUS */
	reg(r, 0x24, 1);
	reg(r, 0x20, 1);			/* VERSION_1 */
	reg(r, 0x70, 1 | 2 | 8);
	for (int q = RX; q <= TX; q++) {
		mem_write(&m, qbase(r, q) + 0x1000, "\0\0\0", 4);
		mem_write(&m, qbase(r, q) + 0x2000, "\0\0\0", 4);
		reg(r, 0x30, (uint32_t)q);
		reg(r, 0x38, QN);
		reg(r, 0x80, (uint32_t)qbase(r, q));
		reg(r, 0x90, (uint32_t)qbase(r, q) + 0x1000);
		reg(r, 0xa0, (uint32_t)qbase(r, q) + 0x2000);
		reg(r, 0x44, 1);
		r->avail[q] = r->used[q] = 0;
	}
	reg(r, 0x70, 1 | 2 | 8 | 4);
}

/* Chains take CHAIN_MAX descriptors each, in the order they are made
 * available, so the head of the next one follows from the avail index. */
static uint16_t
next_head(const struct rig *r, int q)
{
	return (uint16_t)(r->avail[q] % (QN / CHAIN_MAX) * CHAIN_MAX);
}

static void
put_desc(struct rig *r, int q, uint16_t i, const struct seg *s, uint16_t flags,
    uint16_t next)
{
	uint8_t d[16];

	flags |= s->flags;
	memcpy(d, &s->addr, 8);
	memcpy(d + 8, &s->len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mem_write(&m, qbase(r, q) + 16ULL * i, d, 16);
}

static void
publish(struct rig *r, int q, uint16_t head)
{
	mem_write(&m, qbase(r, q) + 0x1000 + 4 + 2 * (r->avail[q] % QN), &head, 2);
	r->avail[q]++;
	__atomic_store_n((uint16_t *)mem_ptr(&m, qbase(r, q) + 0x1000 + 2, 2),
	    r->avail[q], __ATOMIC_RELEASE);
	reg(r, 0x50, (uint32_t)q);
}

/* Makes a chain of n segments available, and kicks. */
static void
post(struct rig *r, int q, const struct seg *s, int n)
{
	uint16_t head = next_head(r, q);

	for (int i = 0; i < n; i++)
		put_desc(r, q, (uint16_t)(head + i), &s[i], i + 1 < n ? 1 : 0,
		    (uint16_t)(head + i + 1));
	publish(r, q, head);
}

static void
post_rx(struct rig *r, uint64_t addr, uint32_t len)
{
	struct seg s = { addr, len, 2 /* WRITE */ };

	post(r, RX, &s, 1);
}

/* The next used element of queue q within ms milliseconds: 0, or -1. */
static int
used_next(struct rig *r, int q, int ms, uint32_t *head, uint32_t *len)
{
	const uint16_t *idx = mem_ptr(&m, qbase(r, q) + 0x2000 + 2, 2);
	uint32_t elem[2];

	for (int i = 0; i <= ms; i++) {
		if (__atomic_load_n(idx, __ATOMIC_ACQUIRE) != r->used[q]) {
			mem_read(&m, qbase(r, q) + 0x2000 + 4 + 8 * (r->used[q] % QN),
			    elem, 8);
			r->used[q]++;
			*head = elem[0];
			*len = elem[1];
			return 0;
		}
		usleep(1000);
	}
	return -1;
}

/* Sends header + frame as three descriptors; waits until it is taken. */
static int
send_frame(struct rig *r, const uint8_t *frame, uint32_t len)
{
	uint8_t junk[HDR];
	struct seg s[3] = {
		{ TXBUF, HDR, 0 }, { TXBUF + HDR, len / 2, 0 },
		{ TXBUF + 0x800, len - len / 2, 0 },
	};
	uint32_t head, used_len;

	memset(junk, 0x11, sizeof(junk));	/* offload requests: ignored */
	mem_write(&m, TXBUF, junk, HDR);
	mem_write(&m, TXBUF + HDR, frame, len / 2);
	mem_write(&m, TXBUF + 0x800, frame + len / 2, len - len / 2);
	post(r, TX, s, 3);
	if (used_next(r, TX, 2000, &head, &used_len) == -1)
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
got_frame(uint32_t head, uint32_t used_len, uint32_t len,
    uint8_t seed)
{
	static const uint8_t hdr[HDR] = { [10] = 1 };	/* num_buffers 1 */
	uint8_t buf[HDR + 4096];
	uint64_t at = BUF(head / CHAIN_MAX);

	if (used_len != HDR + len)
		return 0;
	mem_read(&m, at, buf, used_len);
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
rig_start(struct rig *r, int fd, int host, uint64_t rings)
{
	static const uint8_t mac[6] = { 0x02, 0x53, 0, 0, 0, 3 };

	r->rings = rings;
	r->host = host;
	virtio_mmio_init(&r->t, &virtio_net_ops, &r->n, NULL, &m, 0, 0, &loop);
	if (virtio_net_init(&r->n, fd, "test0", mac, &loop, &r->t) == -1)
		abort();
}

static struct rig *
start(void)
{
	static int up;
	int sv[2];

	if (up++ == 0) {
		mem_create(&m, 16);
		evloop_init(&loop);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
			abort();
		rig_start(&sock_rig, sv[0], sv[1], 0x10000);
		evloop_start(&loop);
	}
	driver_setup(&sock_rig);
	return &sock_rig;
}

static void
test_config(void)
{
	struct rig *r = start();
	uint8_t cfg[12];

	reg(r, 0x14, 0);
	CHECK_EQ(reg_rd(r, 0x10), (1U << 5) | (1U << 16));
	reg(r, 0x14, 1);
	CHECK_EQ(reg_rd(r, 0x10), 1);			/* VERSION_1 */
	virtio_mmio_io(&r->t, 0x100, cfg, 8, false);
	CHECK(memcmp(cfg, "\x02\x53\0\0\0\x03\x01\0", 8) == 0);
	virtio_mmio_io(&r->t, 0x104, cfg, 4, false);	/* MAC tail, status */
	CHECK(memcmp(cfg, "\0\x03\x01\0", 4) == 0);
	virtio_mmio_io(&r->t, 0x108, cfg, 4, false);
	CHECK(memcmp(cfg, "\0\0\0\0", 4) == 0);
	CHECK_EQ(reg_rd(r, 0x70), 1 | 2 | 8 | 4);	/* features accepted */
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
	struct seg shortest = { TXBUF, HDR - 1, 0 };
	struct seg over = { BIG, HDR + VIRTIO_NET_MAX_FRAME + 1, 0 };
	struct seg most = { BIG, HDR + VIRTIO_NET_MAX_FRAME, 0 };
	uint8_t *got = malloc(HDR + VIRTIO_NET_MAX_FRAME + 16);
	uint64_t dropped = r->n.stats.tx_dropped;
	uint32_t head, len;

	post(r, TX, &shortest, 1);
	CHECK_EQ(used_next(r, TX, 2000, &head, &len), 0);
	post(r, TX, &over, 1);
	CHECK_EQ(used_next(r, TX, 2000, &head, &len), 0);
	CHECK_EQ(r->n.stats.tx_dropped, dropped + 2);
	CHECK_EQ(recv(r->host, got, 16, MSG_DONTWAIT), -1);	/* nothing sent */
	post(r, TX, &most, 1);
	CHECK_EQ(used_next(r, TX, 2000, &head, &len), 0);
	CHECK_EQ(read(r->host, got, HDR + VIRTIO_NET_MAX_FRAME + 16),
	    HDR + VIRTIO_NET_MAX_FRAME);
	CHECK_EQ(reg_rd(r, 0x70) & NEEDS_RESET, 0);
	free(got);
}

static void
test_rx_backpressure(void)
{
	struct rig *r = start();
	uint32_t head, len;

	host_send(r, 100, 1);
	reg(r, 0x50, TX);		/* a kick finds no receive buffer */
	usleep(50000);
	CHECK(pending_at_device(r));	/* not read, not dropped */
	CHECK(!r->n.watching);
	post_rx(r, BUF(0), 2048);
	post_rx(r, BUF(1), 2048);
	CHECK_EQ(used_next(r, RX, 2000, &head, &len), 0);
	CHECK(got_frame(head, len, 100, 1));
	host_send(r, 200, 2);		/* a buffer is left: read unasked */
	CHECK_EQ(used_next(r, RX, 2000, &head, &len), 0);
	CHECK(got_frame(head, len, 200, 2));
	host_send(r, 300, 3);		/* none is left: it waits */
	CHECK_EQ(used_next(r, RX, 100, &head, &len), -1);
	CHECK(pending_at_device(r));
	post_rx(r, BUF(2), 2048);
	CHECK_EQ(used_next(r, RX, 2000, &head, &len), 0);
	CHECK(got_frame(head, len, 300, 3));
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
	CHECK_EQ(used_next(r, RX, 2000, &head, &len), 0);
	CHECK(got_frame(head, len, 40, 5));	/* the same buffer */
	CHECK_EQ(r->n.stats.rx_dropped, dropped + 1);
}

static void
test_rx_order(void)
{
	struct rig *r = start();
	uint32_t head, len;
	int got = 0;

	for (int i = 0; i < QN / CHAIN_MAX; i++)
		post_rx(r, BUF(i), 2048);
	for (int i = 0; i < 10; i++)
		host_send(r, 64, (uint8_t)(10 + i));
	while (got < 10 && used_next(r, RX, 2000, &head, &len) == 0) {
		CHECK(got_frame(head, len, 64, (uint8_t)(10 + got)));
		got++;
		post_rx(r, BUF(head / CHAIN_MAX), 2048);
	}
	CHECK_EQ(got, 10);
}

static int
wait_needs_reset(struct rig *r)
{
	for (int i = 0; i < 2000; i++) {
		if (reg_rd(r, 0x70) & NEEDS_RESET)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void
test_malformed(void)
{
	struct rig *r = start();
	struct seg loop_seg = { TXBUF, HDR, 0 };
	uint8_t frame[20] = { 1 };
	uint32_t head, len;

	post_rx(r, BUF(0), HDR - 8);
	CHECK(wait_needs_reset(r));
	r = start();
	post(r, RX, &loop_seg, 1);	/* device-readable only */
	CHECK(wait_needs_reset(r));
	r = start();
	put_desc(r, TX, next_head(r, TX), &loop_seg, 1, next_head(r, TX));
	publish(r, TX, next_head(r, TX));	/* NEXT to itself */
	CHECK(wait_needs_reset(r));
	r = start();			/* a reset makes it work again */
	CHECK_EQ(send_frame(r, frame, sizeof(frame)), 0);
	CHECK_EQ(read(r->host, frame, sizeof(frame)), sizeof(frame));
	post_rx(r, BUF(0), 2048);
	host_send(r, 32, 6);
	CHECK_EQ(used_next(r, RX, 2000, &head, &len), 0);
	CHECK(got_frame(head, len, 32, 6));
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
	pthread_mutex_lock(&r->t.lock);
	ms = r->t.s;
	pthread_mutex_unlock(&r->t.lock);
	gen = ms.config_gen;
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &ms, "state", 0), 0);
	CHECK_EQ(r->t.s.config_gen, gen);		/* same MAC: no news */
	s.mac[5] = 9;
	CHECK_EQ(virtio_net_load(&r->n, &s, &ms, "state", 0), 0);
	CHECK_EQ(r->t.s.config_gen, gen + 1);
	s.status = 0;
	CHECK_EQ(virtio_net_load(&r->n, &s, &ms, "state", 0), -1);
	CHECK_EQ(r->t.s.config_gen, gen + 1);		/* nothing loaded */
}

/* The transport section of the network device: two queues, each live one
 * checked against guest memory. */
static void
test_state_transport(void)
{
	struct rig *r = start();
	struct virtio_mmio_state good, ms;

	pthread_mutex_lock(&r->t.lock);
	good = r->t.s;
	pthread_mutex_unlock(&r->t.lock);
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
	pthread_mutex_lock(&r->t.lock);
	CHECK(memcmp(&r->t.s, &good, sizeof(good)) == 0);
	pthread_mutex_unlock(&r->t.lock);
	CHECK_EQ(virtio_net_load(&r->n, &r->n.s, &good, "state", 1), 0);
	CHECK_EQ(virtio_net_tap_check("tap0\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), 0);
	CHECK_EQ(virtio_net_tap_check("tap0", 4, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("0123456789abcdef", 16, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("../x\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), -1);
	CHECK_EQ(virtio_net_tap_check("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, "state"), -1);
}

/* One turn of an evloop that is not running: each ready handler once. */
static int
turn(struct evloop *l)
{
	return evloop_turn(l, 0);
}

/* A full transmit queue is sent a budget at a time, one evloop turn
 * each, so that the guest cannot hold the device thread. */
static void
test_tx_budget(void)
{
	static struct rig b;
	static struct evloop l;
	const uint64_t d = 0x600000, a = d + 0x1000, u = d + 0x2000;
	const int n = 2 * VIRTIO_MMIO_BUDGET;
	uint8_t frame[HDR + 60] = { 0 };
	uint16_t idx = 0, used;
	int sv[2];

	start();
	CHECK_EQ(evloop_init(&l), 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	b.rings = d;
	virtio_mmio_init(&b.t, &virtio_net_ops, &b.n, NULL, &m, 0, 0, &l);
	if (virtio_net_init(&b.n, sv[0], "test1", (const uint8_t[6]){ 2, 0, 0,
	    0, 0, 1 }, &l, &b.t) == -1)
		abort();
	mem_write(&m, a, "\0\0\0", 4);
	mem_write(&m, u, "\0\0\0", 4);
	reg(&b, 0x70, 1 | 2);
	reg(&b, 0x24, 1);
	reg(&b, 0x20, 1);
	reg(&b, 0x70, 1 | 2 | 8);
	reg(&b, 0x30, TX);
	reg(&b, 0x38, 256);
	reg(&b, 0x80, (uint32_t)d);
	reg(&b, 0x90, (uint32_t)a);
	reg(&b, 0xa0, (uint32_t)u);
	reg(&b, 0x44, 1);
	reg(&b, 0x70, 1 | 2 | 8 | 4);
	mem_write(&m, 0x700000, frame, sizeof(frame));
	for (uint16_t i = 0; i < n; i++) {
		struct seg sg = { 0x700000, sizeof(frame), 0 };

		put_desc(&b, 0, i, &sg, 0, 0);	/* qbase(&b, 0) is d */
		mem_write(&m, a + 4 + 2ULL * i, &i, 2);
	}
	idx = (uint16_t)n;
	mem_write(&m, a + 2, &idx, 2);
	reg(&b, 0x50, TX);
	for (int i = 1; i <= 2; i++) {
		CHECK_EQ(turn(&l), 1);
		mem_read(&m, u + 2, &used, 2);
		CHECK_EQ(used, i * VIRTIO_MMIO_BUDGET);
	}
	CHECK_EQ(turn(&l), 1);			/* the re-queue, finding none */
	CHECK_EQ(turn(&l), 0);
	CHECK_EQ(b.n.stats.tx_frames, n);
	CHECK_EQ(reg_rd(&b, 0x70), 1 | 2 | 8 | 4);
	virtio_net_close(&b.n);
	virtio_mmio_destroy(&b.t);
	evloop_destroy(&l);
	close(sv[1]);
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

	for (int i = 0; i < QN / CHAIN_MAX; i++)
		post_rx(r, BUF(16 + i), 2048);
	/* The bridge forwards from the new port only once the kernel has
	 * seen its carrier come up (linkwatch, up to a second later): like
	 * any stack, ask again until answered. */
	for (int try = 0; !arp && try < 20; try++) {
		CHECK_EQ(send_frame(r, f, (uint32_t)eth_arp_request(f, &a)), 0);
		while (!arp && used_next(r, RX, 500, &head, &len) == 0) {
			mem_read(&m, BUF(16 + head / CHAIN_MAX), f, len);
			arp = eth_is_arp_reply(f + HDR, len - HDR, &a);
			post_rx(r, BUF(16 + head / CHAIN_MAX), 2048);
		}
	}
	CHECK(arp);
	for (unsigned seq = 1; seq <= 2; seq++) {
		int payload = seq == 1 ? 56 : 1400;

		CHECK_EQ(send_frame(r, f, (uint32_t)eth_echo_request(f, &a, seq,
		    payload)), 0);
		for (echo = 0; !echo && used_next(r, RX, 2000, &head, &len) == 0; ) {
			mem_read(&m, BUF(16 + head / CHAIN_MAX), f, len);
			echo = eth_is_echo_reply(f + HDR, len - HDR, &a, seq, payload);
			post_rx(r, BUF(16 + head / CHAIN_MAX), 2048);
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
	rig_start(&tr, fd, -1, 0x80000);
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
	{ "virtio-net: ARP and echo through a tap and bridge", test_real_tap },
	{ "virtio-net: its slot in the device table", test_wiring },
};

UNIT_MAIN(tests)
