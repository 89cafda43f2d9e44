/*
 * virtio-vsock against the fake guest driver (fakedrv.h), the device on
 * the evloop thread, while real Unix sockets play the host programs.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakedrv.h"
#include "log.h"
#include "virtio_vsock.h"
#include "unit.h"

#define QN	16
#define CID	3
#define BACKSTOP_MS	FAKEDRV_BACKSTOP_MS
/* Each queue's buffers, one per descriptor. */
#define RXBUF(i)	(0x100000ULL + 0x1000ULL * (i))
#define TXBUF(i)	(0x200000ULL + 0x1000ULL * (i))
#define EVBUF(i)	(0x300000ULL + 0x10ULL * (i))
enum { RX, TX, EV };

static struct fakedrv drv;
static struct evloop loop;
static struct virtio_vsock v;
static char dir[40], path[64];

/* A driver reset and a fresh set-up of the three queues. */
static void
setup_device(void)
{
	fakedrv_setup(&drv, 1ULL << VIRTIO_F_VERSION_1, 3, QN);
}

/* Every chain is one buffer, so the next one takes the next descriptor,
 * and with it that descriptor's buffer. */
static uint16_t
next_id(int q)
{
	return drv.q[q].next_desc;
}

static void
offer(int q, uint64_t addr, uint32_t len, uint16_t flags)
{
	const struct fakedrv_seg s = { addr, len, flags };

	fakedrv_post(&drv, (uint16_t)q, &s, 1);
}

static void
give_rx(int n)
{
	for (int i = 0; i < n; i++)
		offer(RX, RXBUF(next_id(RX)), 0x1000, VIRTQ_DESC_F_WRITE);
}

/* A packet the test made whole, hostile ones too, sent from its tx
 * buffer. */
static void
send_hdr(const struct vsock_hdr *h)
{
	uint64_t at = TXBUF(next_id(TX));

	mem_write(&drv.mem, at, h, sizeof(*h));
	offer(TX, at, sizeof(*h), 0);
}

static void
send_pkt(uint16_t op, uint32_t src_port, uint32_t dst_port, const char *data,
    uint32_t buf_alloc)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = 2, .src_port = src_port,
	    .dst_port = dst_port, .type = 1, .op = op, .buf_alloc = buf_alloc };
	uint64_t at = TXBUF(next_id(TX));

	h.len = data ? (uint32_t)strlen(data) : 0;
	mem_write(&drv.mem, at, &h, sizeof(h));
	if (h.len)
		mem_write(&drv.mem, at + sizeof(h), data, h.len);
	offer(TX, at, (uint32_t)sizeof(h) + h.len, 0);
}

/* Waits up to ms milliseconds for the next used entry of queue q. */
static int
used_next(int q, uint32_t elem[2], int ms)
{
	return fakedrv_used_next(&drv, (uint16_t)q, ms, &elem[0], &elem[1]);
}

/* Waits for the next used rx buffer (a 10 s backstop); its header and
 * payload. */
static int
recv_pkt(struct vsock_hdr *h, char *data, size_t size)
{
	uint32_t elem[2];
	uint64_t at;

	memset(h, 0, sizeof(*h));
	if (used_next(RX, elem, BACKSTOP_MS) == -1)
		return -1;
	at = fakedrv_head_addr(&drv, RX, (uint16_t)elem[0]);
	mem_read(&drv.mem, at, h, sizeof(*h));
	memset(data, 0, size);
	if (h->len && h->len < size)
		mem_read(&drv.mem, at + sizeof(*h), data, h->len);
	return 0;
}

static int
listen_at(const char p[80])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p);
	unlink(p);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(fd, 4);
	return fd;
}

static ssize_t
read_timeout(int fd, char *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, BACKSTOP_MS) != 1)
		return -1;
	return read(fd, buf, n);
}

/* Whether the peer closed fd (a 10 s backstop): EOF, or a reset when it
 * closed with our bytes unread. */
static bool
hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;
	ssize_t n;

	if (poll(&p, 1, BACKSTOP_MS) != 1)
		return false;
	n = read(fd, &c, 1);
	return n == 0 || (n == -1 && errno == ECONNRESET);
}

static void
start(void)
{
	static int up;

	if (up++)
		return;
	snprintf(dir, sizeof(dir), "/tmp/vsock-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	evloop_init(&loop);
	if (fakedrv_init(&drv, &virtio_vsock_ops, &v, &loop) == -1 ||
	    virtio_vsock_init(&v, CID, path, &loop, &drv.t) == -1)
		abort();
	evloop_start(&loop);
	setup_device();
	give_rx(8);
}

static void
test_guest_connects(void)
{
	char lpath[80], buf[64];
	struct vsock_hdr h;
	int l, s;

	start();
	snprintf(lpath, sizeof(lpath), "%s_1234", path);
	l = listen_at(lpath);
	send_pkt(1 /* REQUEST */, 5555, 1234, NULL, 4096);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 2 /* RESPONSE */);
	CHECK_EQ(h.dst_port, 5555);
	CHECK_EQ(h.src_port, 1234);
	CHECK_EQ(h.dst_cid, CID);
	s = accept(l, NULL, NULL);
	CHECK(s >= 0);
	send_pkt(5 /* RW */, 5555, 1234, "ping", 4096);
	CHECK_EQ(read_timeout(s, buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "ping", 4) == 0);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);	/* credit update */
	CHECK_EQ(h.op, 6);
	CHECK_EQ(h.fwd_cnt, 4);
	CHECK_EQ(write(s, "pong", 4), 4);
	give_rx(2);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 5);
	CHECK_EQ(h.len, 4);
	CHECK(strcmp(buf, "pong") == 0);
	send_pkt(4 /* SHUTDOWN */, 5555, 1234, NULL, 4096);
	close(s);
	give_rx(2);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);	/* host EOF */
	CHECK_EQ(h.op, 4);
	CHECK_EQ(h.flags, 3);
	close(l);
	unlink(lpath);
}

static void
test_refused(void)
{
	struct vsock_hdr h;
	char buf[16];

	start();
	give_rx(4);
	send_pkt(1, 6000, 4321, NULL, 4096);		/* nobody listens */
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(h.dst_port, 6000);
	send_pkt(5, 6001, 4321, "lost", 4096);		/* no such connection */
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 3);
}

static void
test_host_connects(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_hdr h;
	char buf[64];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	uint32_t hp;

	start();
	give_rx(4);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(write(s, "CONNECT 5000\n", 13), 13);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	CHECK_EQ(h.dst_port, 5000);
	CHECK(h.src_port >= 1U << 30);
	hp = h.src_port;
	send_pkt(2 /* RESPONSE */, 5000, hp, NULL, 8);	/* 8 bytes of credit */
	memset(buf, 0, sizeof(buf));
	CHECK(read_timeout(s, buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "OK ", 3) == 0);
	CHECK_EQ(strtoul(buf + 3, NULL, 10), hp);
	CHECK_EQ(write(s, "0123456789abcdef", 16), 16);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 5);
	CHECK_EQ(h.len, 8);				/* credit respected */
	CHECK(strcmp(buf, "01234567") == 0);
	close(s);
}

static void
test_hostile(void)
{
	struct vsock_hdr h = { .src_cid = 99, .dst_cid = 2, .type = 1, .op = 1 };
	uint64_t at;

	start();
	send_pkt(1, 1, 2, NULL, 0);			/* fine, just RST */
	at = TXBUF(next_id(TX));			/* a lying length */
	h.src_cid = CID;
	h.op = 5;
	h.len = 60000;
	mem_write(&drv.mem, at, &h, sizeof(h));
	offer(TX, at, sizeof(h) + 4, 0);
	offer(TX, TXBUF(next_id(TX)), 10, 0);		/* header cut short */
	usleep(100000);
	CHECK((drv.t.s.status & FAKEDRV_S_NEEDS_RESET) != 0);
	fakedrv_write(&drv, FAKEDRV_R_STATUS, 0);	/* driver resets */
	CHECK_EQ(drv.t.s.status, 0);
}

static int
host_connect(const char *what)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(write(s, what, strlen(what)), strlen(what));
	return s;
}

static void
give_event(uint32_t len)
{
	offer(EV, EVBUF(next_id(EV)), len, VIRTQ_DESC_F_WRITE);
}

/* The transport reset event the device put in the next used event buffer. */
static int
event_next(int ms)
{
	uint32_t elem[2], id = 0xffffffff;

	if (used_next(EV, elem, ms) == -1)
		return -1;
	CHECK_EQ(elem[1], 4);
	mem_read(&drv.mem, fakedrv_head_addr(&drv, EV, (uint16_t)elem[0]), &id,
	    4);
	return (int)id;
}

/* Like restart_device, with n receive buffers only. */
static void
restart_rx(int n)
{
	start();
	setup_device();
	give_rx(n);
}

/* A driver reset and a fresh set-up: each test below starts clean. */
static void
restart_device(void)
{
	restart_rx(8);
}

static int
outstanding(int q)
{
	return fakedrv_outstanding(&drv, (uint16_t)q);
}

/* Waits until the device has taken every tx chain offered. */
static int
tx_done(void)
{
	for (int i = 0; i < BACKSTOP_MS; i++) {
		if (outstanding(TX) == 0)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* One packet of len bytes of data, sent and taken by the device. */
static int
send_raw(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags,
    const void *data, uint32_t len, uint32_t fwd_cnt)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = 2, .src_port = src_port,
	    .dst_port = dst_port, .len = len, .type = 1, .op = op,
	    .flags = flags, .buf_alloc = 1U << 20, .fwd_cnt = fwd_cnt };
	uint64_t at = TXBUF(next_id(TX));

	mem_write(&drv.mem, at, &h, sizeof(h));
	if (len)
		mem_write(&drv.mem, at + sizeof(h), data, len);
	offer(TX, at, (uint32_t)sizeof(h) + len, 0);
	return tx_done();
}

/* The next received packet, its buffer given back to the device at once;
 * credit updates are passed over unless want_credit. */
static int
recv_next(struct vsock_hdr *h, char *data, size_t size, bool want_credit)
{
	do {
		if (recv_pkt(h, data, size) == -1)
			return -1;
		give_rx(1);
	} while (!want_credit && h->op == 6);
	return 0;
}

static uint8_t
pattern(uint32_t i)
{
	return (uint8_t)(i % 251);
}

/* Sends total bytes of the pattern from guest port gp to host port hp. */
static void
send_pattern(uint32_t gp, uint32_t hp, uint32_t total)
{
	uint8_t chunk[4000];

	for (uint32_t sent = 0, n; sent < total; sent += n) {
		n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
		for (uint32_t i = 0; i < n; i++)
			chunk[i] = pattern(sent + i);
		CHECK_EQ(send_raw(5 /* RW */, gp, hp, 0, chunk, n, 0), 0);
	}
}

/* Reads from fd until EOF (each read with its backstop); the byte count,
 * and *intact whether every byte followed the pattern. */
static uint32_t
read_pattern(int fd, bool *intact)
{
	char buf[65536];
	uint32_t got = 0;
	ssize_t n;

	*intact = true;
	while ((n = read_timeout(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			*intact &= (uint8_t)buf[i] == pattern(got + (uint32_t)i);
		got += (uint32_t)n;
	}
	return got;
}

/* A guest connection from gp to host port hp, accepted on listener l. */
static int
guest_connect(int l, uint32_t gp, uint32_t hp)
{
	struct vsock_hdr h;
	char buf[64];

	CHECK_EQ(send_raw(1 /* REQUEST */, gp, hp, 0, NULL, 0, 0), 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 2 /* RESPONSE */);
	CHECK_EQ(h.dst_port, gp);
	return accept(l, NULL, NULL);
}

static void
test_data_before_response(void)
{
	struct vsock_hdr h;
	char buf[64];
	int s;

	restart_device();
	s = host_connect("CONNECT 5001\n");
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	send_pkt(5 /* RW */, 5001, h.src_port, "early", 4096);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(read_timeout(s, buf, sizeof(buf)), 0);	/* EOF, no "early" */
	close(s);
}

static void
test_transport_reset(void)
{
	char lpath[80], buf[64];
	struct vsock_hdr h;
	uint32_t elem[2];
	int l, s, hs;

	restart_device();
	give_event(4);
	snprintf(lpath, sizeof(lpath), "%s_7777", path);
	l = listen_at(lpath);
	send_pkt(1 /* REQUEST */, 7000, 7777, NULL, 4096);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 2 /* RESPONSE */);
	s = accept(l, NULL, NULL);
	hs = host_connect("CONNECT 6000\n");
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	virtio_vsock_transport_reset(&v);
	CHECK_EQ(event_next(BACKSTOP_MS), 0 /* TRANSPORT_RESET */);
	CHECK_EQ(read_timeout(s, buf, sizeof(buf)), 0);	/* EOF */
	CHECK_EQ(read_timeout(hs, buf, sizeof(buf)), 0);	/* no "OK" */
	CHECK_EQ(used_next(RX, elem, 50), -1);		/* no RST */
	send_pkt(5 /* RW */, 7000, 7777, "late", 4096);	/* forgotten */
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	close(hs);
	hs = host_connect("CONNECT 6001\n");		/* still listening */
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 1);
	CHECK_EQ(h.dst_port, 6001);
	close(hs);
	close(s);
	close(l);
	unlink(lpath);
}

static void
test_reset_pending(void)
{
	restart_device();
	virtio_vsock_transport_reset(&v);
	CHECK_EQ(event_next(50), -1);			/* no buffer yet */
	give_event(4);
	CHECK_EQ(event_next(BACKSTOP_MS), 0);
	give_event(4);
	CHECK_EQ(event_next(50), -1);			/* delivered once */
}

/* As a restore does it: reset while the device is not yet loaded, then
 * the saved transport state and a notify of every ready queue. */
static void
test_reset_before_run(void)
{
	struct virtio_mmio_state saved;

	restart_device();
	give_event(4);
	pthread_mutex_lock(&drv.t.lock);
	saved = drv.t.s;
	memset(&drv.t.s, 0, sizeof(drv.t.s));
	pthread_mutex_unlock(&drv.t.lock);
	virtio_vsock_transport_reset(&v);
	CHECK_EQ(event_next(50), -1);
	pthread_mutex_lock(&drv.t.lock);
	drv.t.s = saved;
	pthread_mutex_unlock(&drv.t.lock);
	virtio_mmio_restored(&drv.t);
	CHECK_EQ(event_next(BACKSTOP_MS), 0);
}

static void
test_reset_dropped_by_driver_reset(void)
{
	restart_device();
	virtio_vsock_transport_reset(&v);
	usleep(20000);
	restart_device();
	give_event(4);
	CHECK_EQ(event_next(50), -1);
}

static void
test_reset_small_event_buffer(void)
{
	restart_device();
	give_event(2);
	virtio_vsock_transport_reset(&v);
	usleep(100000);
	CHECK_EQ(event_next(1), -1);
	CHECK((drv.t.s.status & FAKEDRV_S_NEEDS_RESET) != 0);
	restart_device();
	CHECK_EQ(drv.t.s.status & FAKEDRV_S_NEEDS_RESET, 0);
}


/*
 * Issue 14, defect 4: Linux's close() sends SHUTDOWN with both flags
 * right after its last write; the bytes the host has not taken yet must
 * still reach it, and the RST that ends the connection comes after them.
 */
static void
test_close_drains(void)
{
	char lpath[80], buf[64];
	struct vsock_hdr h;
	bool intact;
	int l, s;

	restart_device();
	snprintf(lpath, sizeof(lpath), "%s_1240", path);
	l = listen_at(lpath);
	s = guest_connect(l, 5600, 1240);
	CHECK(s >= 0);
	send_pattern(5600, 1240, 256000);		/* the host reads nothing yet */
	CHECK_EQ(send_raw(4 /* SHUTDOWN */, 5600, 1240, 3, NULL, 0, 0), 0);
	CHECK_EQ(read_pattern(s, &intact), 256000);
	CHECK(intact);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(h.dst_port, 5600);
	close(s);
	close(l);
	unlink(lpath);
}

/* SHUTDOWN with SEND only: the host reads every byte, then EOF; the
 * other direction still works. */
static void
test_shutdown_send_drains(void)
{
	char lpath[80], buf[64];
	struct vsock_hdr h;
	bool intact;
	int l, s;

	restart_device();
	snprintf(lpath, sizeof(lpath), "%s_1241", path);
	l = listen_at(lpath);
	s = guest_connect(l, 5601, 1241);
	send_pattern(5601, 1241, 256000);
	CHECK_EQ(send_raw(4 /* SHUTDOWN */, 5601, 1241, 2 /* SEND */, NULL, 0,
	    0), 0);
	CHECK_EQ(read_pattern(s, &intact), 256000);	/* then EOF */
	CHECK(intact);
	CHECK_EQ(write(s, "bye", 3), 3);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 5 /* RW */);
	CHECK(strcmp(buf, "bye") == 0);
	CHECK_EQ(send_raw(4, 5601, 1241, 3, NULL, 0, 3), 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	close(s);
	close(l);
	unlink(lpath);
}

/* Issue 14, defect 7: what a host program writes right behind its
 * CONNECT line, in the same write, reaches the guest once it accepts. */
static void
test_connect_trailing_bytes(void)
{
	struct vsock_hdr h;
	char buf[64];
	int s;

	restart_device();
	s = host_connect("CONNECT 5002\nhello");
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	CHECK_EQ(h.dst_port, 5002);
	send_pkt(2 /* RESPONSE */, 5002, h.src_port, NULL, 4096);
	memset(buf, 0, sizeof(buf));
	CHECK(read_timeout(s, buf, sizeof(buf)) > 0);
	CHECK(strncmp(buf, "OK ", 3) == 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 5 /* RW */);
	CHECK_EQ(h.len, 5);
	CHECK(strcmp(buf, "hello") == 0);
	close(s);
}

/* Issue 14, defect 7: a receive buffer with room for a header only is no
 * sign of host EOF; the host's bytes wait for a buffer that holds them. */
static void
test_header_only_buffer(void)
{
	struct vsock_hdr h;
	char buf[64];
	int s;

	restart_rx(1);
	s = host_connect("CONNECT 5003\n");
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	send_pkt(2 /* RESPONSE */, 5003, h.src_port, NULL, 4096);
	CHECK(read_timeout(s, buf, sizeof(buf)) > 0);	/* "OK ..." */
	offer(RX, RXBUF(next_id(RX)), sizeof(h), VIRTQ_DESC_F_WRITE);
	CHECK_EQ(write(s, "data", 4), 4);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK(h.op != 4 /* SHUTDOWN */);
	CHECK_EQ(h.op, 6 /* CREDIT_UPDATE */);
	CHECK_EQ(h.len, 0);
	give_rx(1);
	CHECK_EQ(recv_pkt(&h, buf, sizeof(buf)), 0);
	CHECK_EQ(h.op, 5 /* RW */);
	CHECK(strcmp(buf, "data") == 0);
	close(s);
}

static int
count_state(enum vsock_state st)
{
	int n = 0;

	pthread_mutex_lock(&drv.t.lock);
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		n += v.host.conn[i].state == st;
	pthread_mutex_unlock(&drv.t.lock);
	return n;
}

/* Waits for n connections in state st. */
static int
wait_state(enum vsock_state st, int n)
{
	for (int i = 0; i < BACKSTOP_MS; i++) {
		if (count_state(st) == n)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* Issue 14, defect 7: while the guest gives no receive buffers, more
 * control packets pile up than the old 64-entry queue held; every one of
 * them reaches the guest when it does. */
static void
test_control_never_dropped(void)
{
	int hs[56], req[56] = { 0 }, rst[16] = { 0 }, nreq = 0, nrst = 0;
	struct vsock_hdr h;
	char buf[64];

	restart_rx(0);
	for (int i = 0; i < 56; i++) {
		snprintf(buf, sizeof(buf), "CONNECT %d\n", 6000 + i);
		hs[i] = host_connect(buf);
	}
	CHECK_EQ(wait_state(VC_CONNECTING, 56), 0);
	for (int i = 0; i < 16; i++)	/* nobody listens at port 1: RST */
		send_pkt(1 /* REQUEST */, 7000 + (uint32_t)i, 1, NULL, 4096);
	CHECK_EQ(tx_done(), 0);
	give_rx(8);
	for (int i = 0; i < 72 && recv_next(&h, buf, sizeof(buf), true) == 0;
	    i++) {
		if (h.op == 1 && h.dst_port >= 6000 && h.dst_port < 6056)
			nreq += req[h.dst_port - 6000]++ == 0;
		else if (h.op == 3 && h.dst_port >= 7000 && h.dst_port < 7016)
			nrst += rst[h.dst_port - 7000]++ == 0;
	}
	CHECK_EQ(nreq, 56);
	CHECK_EQ(nrst, 16);
	for (int i = 0; i < 56; i++)
		close(hs[i]);
}

/* When even the device's own room for replies is full, it stops taking
 * guest packets until the guest takes replies (virtio 1.2, 5.10.6.1),
 * and answers every one of them in the end. */
static void
test_tx_back_pressure(void)
{
	int got = 0, rst[80] = { 0 };
	struct vsock_hdr h;
	char buf[64];

	restart_rx(0);
	for (int i = 0; i < 80; i++) {
		while (outstanding(TX) == QN && got < i) {
			if (outstanding(RX) == 0)
				give_rx(1);
			if (recv_pkt(&h, buf, sizeof(buf)) == -1)
				break;
			got += h.op == 3 && h.dst_port >= 8000 &&
			    h.dst_port < 8080 && rst[h.dst_port - 8000]++ == 0;
		}
		{
			struct vsock_hdr r = { .src_cid = CID, .dst_cid = 2,
			    .src_port = 8000 + (uint32_t)i, .dst_port = 1,
			    .type = 1, .op = 1, .buf_alloc = 4096 };

			send_hdr(&r);
		}
	}
	while (got < 80) {
		if (outstanding(RX) == 0)
			give_rx(1);
		if (recv_pkt(&h, buf, sizeof(buf)) == -1)
			break;
		got += h.op == 3 && h.dst_port >= 8000 && h.dst_port < 8080 &&
		    rst[h.dst_port - 8000]++ == 0;
	}
	CHECK_EQ(got, 80);
	CHECK_EQ(tx_done(), 0);
}

static void
on_nothing(void *opaque, int fd, uint32_t events)
{
	(void)opaque;
	(void)fd;
	(void)events;
}

/* Issue 14, defect 8: the connections a guest may open are bounded by
 * the device, past which it answers RST; devices keep their room in the
 * event loop however many there are. */
static void
test_connection_limit(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char lpath[80], buf[64];
	struct vsock_hdr h;
	int l, responses = 0, efd, hs;

	restart_device();
	snprintf(lpath, sizeof(lpath), "%s_1242", path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", lpath);
	unlink(lpath);
	bind(l, (struct sockaddr *)&sa, sizeof(sa));
	listen(l, 128);
	for (uint32_t i = 0; i <= VSOCK_MAX_CONN; i++) {
		CHECK_EQ(send_raw(1 /* REQUEST */, 9000 + i, 1242, 0, NULL, 0, 0),
		    0);
		CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
		responses += h.op == 2 && h.dst_port == 9000 + i;
		if (i == VSOCK_MAX_CONN) {
			CHECK_EQ(h.op, 3 /* RST */);
			CHECK_EQ(h.dst_port, 9000 + i);
		}
	}
	CHECK_EQ(responses, VSOCK_MAX_CONN);
	hs = socket(AF_UNIX, SOCK_STREAM, 0);	/* the host is refused too */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(connect(hs, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK(hung_up(hs));
	close(hs);
	efd = eventfd(0, EFD_CLOEXEC);		/* a device still fits */
	CHECK_EQ(evloop_add(&loop, efd, EPOLLIN, on_nothing, NULL), 0);
	CHECK_EQ(evloop_del(&loop, efd), 0);
	close(efd);
	close(l);
	unlink(lpath);
}


/* Issue 14, defect 8: a peer that never answers does not hold a
 * connection (and its room) for ever. */
static void
test_half_open_timeout(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t before = v.host.stats.timeouts;
	struct vsock_hdr h;
	char buf[64];
	int hs, quiet;

	restart_device();
	pthread_mutex_lock(&drv.t.lock);
	v.host.timeout_ms = 100;
	pthread_mutex_unlock(&drv.t.lock);
	hs = host_connect("CONNECT 5005\n");
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	/* The guest never answers: the host program is let go, and the
	 * guest hears that the request is off. */
	CHECK(hung_up(hs));
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(h.dst_port, 5005);
	close(hs);
	quiet = socket(AF_UNIX, SOCK_STREAM, 0);	/* never sends a line */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK_EQ(connect(quiet, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK(hung_up(quiet));
	close(quiet);
	CHECK_EQ(v.host.stats.timeouts - before, 2);
	CHECK_EQ(wait_state(VC_FREE, VSOCK_MAX_CONN), 0);
	pthread_mutex_lock(&drv.t.lock);
	v.host.timeout_ms = VSOCK_TIMEOUT_MS;
	pthread_mutex_unlock(&drv.t.lock);
}

/* The guest's own close timeout (an RST after its SHUTDOWN) does not cut
 * off the bytes still on their way to the host. */
static void
test_rst_while_closing(void)
{
	char lpath[80];
	uint32_t elem[2];
	bool intact;
	int l, s;

	restart_device();
	snprintf(lpath, sizeof(lpath), "%s_1243", path);
	l = listen_at(lpath);
	s = guest_connect(l, 5602, 1243);
	send_pattern(5602, 1243, 256000);
	CHECK_EQ(send_raw(4 /* SHUTDOWN */, 5602, 1243, 3, NULL, 0, 0), 0);
	CHECK_EQ(send_raw(3 /* RST */, 5602, 1243, 0, NULL, 0, 0), 0);
	CHECK_EQ(read_pattern(s, &intact), 256000);
	CHECK(intact);
	while (used_next(RX, elem, 100) == 0)	/* credit updates from before */
		CHECK(((struct vsock_hdr *)mem_ptr(&drv.mem, fakedrv_head_addr(
		    &drv, RX, (uint16_t)elem[0]), sizeof(struct vsock_hdr)))->op ==
		    6);
	CHECK_EQ(wait_state(VC_FREE, VSOCK_MAX_CONN), 0);
	close(s);
	close(l);
	unlink(lpath);
}

/* 5.10.6.2: a packet of a type the device does not know gets an RST. */
static void
test_unknown_type(void)
{
	struct vsock_hdr r = { .src_cid = CID, .dst_cid = 2, .src_port = 5700,
	    .dst_port = 1244, .type = 2 /* SEQPACKET */, .op = 1 };
	struct vsock_hdr h;
	char buf[64];

	restart_device();
	send_hdr(&r);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(h.type, 2);
	CHECK_EQ(h.dst_port, 5700);
}

/* Counters from the guest are checked before they size anything: fwd_cnt
 * ahead of what it was sent claims more room than its buffer has. */
static void
test_credit_lie(void)
{
	struct vsock_hdr h;
	char buf[64];
	uint32_t elem[2];
	int s;

	restart_device();
	s = host_connect("CONNECT 5006\n");
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 1 /* REQUEST */);
	{
		struct vsock_hdr r = { .src_cid = CID, .dst_cid = 2,
		    .src_port = 5006, .dst_port = h.src_port, .type = 1,
		    .op = 2 /* RESPONSE */, .buf_alloc = 8, .fwd_cnt = 100 };

		send_hdr(&r);
		CHECK(read_timeout(s, buf, sizeof(buf)) > 0);	/* "OK ..." */
		CHECK_EQ(write(s, "0123456789abcdef", 16), 16);
		CHECK_EQ(used_next(RX, elem, 100), -1);		/* no credit */
		r.op = 6 /* CREDIT_UPDATE */;
		r.fwd_cnt = 0;
		send_hdr(&r);
	}
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 5 /* RW */);
	CHECK_EQ(h.len, 8);
	close(s);
}

/* Issue 14, defect 7: a guest sending malformed packets by the thousand
 * gets them counted, not a log line each. */
static void
test_malformed_rate_limited(void)
{
	struct vsock_hdr r = { .src_cid = 99, .dst_cid = 2, .type = 1, .op = 1 };
	uint64_t before = v.host.stats.malformed;

	restart_device();
	unit_catch_stderr();
	for (int i = 0; i < 40; i++) {
		send_hdr(&r);
		CHECK_EQ(tx_done(), 0);
	}
	CHECK(unit_release_stderr("malformed packet dropped") <= LOG_RATE_BURST);
	CHECK_EQ(v.host.stats.malformed - before, 40);
}

/* Issue 14, defect 5: the device's snapshot section is checked as if the
 * guest had written it, naming file, section and field. */
static void
test_state_load(void)
{
	struct virtio_vsock_state ok = { .guest_cid = CID }, bad[] = {
		{ 0 }, { 2 }, { 0xffffffff }, { 1ULL << 32 | CID }, { CID + 1 },
	};

	start();
	unit_catch_stderr();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(virtio_vsock_load(&v, &bad[i], "L/state"), -1);
	CHECK_EQ(unit_release_stderr("L/state: vsock section (0x33), field "
	    "guest_cid: "), sizeof(bad) / sizeof(bad[0]));
	CHECK_EQ(v.s.guest_cid, CID);
	CHECK_EQ(virtio_vsock_load(&v, &ok, "L/state"), 0);
	CHECK_EQ(v.s.guest_cid, CID);
}

static void
test_reserved_cid(void)
{
	static struct virtio_vsock w;
	char p[80];

	start();
	snprintf(p, sizeof(p), "%s/w.sock", dir);
	CHECK_EQ(virtio_vsock_init(&w, 2, p, &loop, &drv.t), -1);
	CHECK_EQ(virtio_vsock_init(&w, 0xffffffff, p, &loop, &drv.t), -1);
	CHECK_EQ(access(p, F_OK), -1);		/* nothing made */
	virtio_vsock_close(&w);
}


/* A host program that only shuts down writing still reads the guest's
 * answer: the guest hears SHUTDOWN(SEND), not that the host is gone. */
static void
test_host_half_close(void)
{
	char lpath[80], buf[64];
	struct vsock_hdr h;
	int l, s;

	restart_device();
	snprintf(lpath, sizeof(lpath), "%s_1245", path);
	l = listen_at(lpath);
	s = guest_connect(l, 5603, 1245);
	CHECK_EQ(write(s, "question", 8), 8);
	CHECK_EQ(shutdown(s, SHUT_WR), 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 5 /* RW */);
	CHECK(strcmp(buf, "question") == 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 4 /* SHUTDOWN */);
	CHECK_EQ(h.flags, 2 /* SEND */);
	CHECK_EQ(send_raw(5 /* RW */, 5603, 1245, 0, "answer", 6, 8), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(read_timeout(s, buf, sizeof(buf)), 6);
	CHECK(strcmp(buf, "answer") == 0);
	CHECK_EQ(send_raw(4 /* SHUTDOWN */, 5603, 1245, 3, NULL, 0, 8), 0);
	CHECK_EQ(recv_next(&h, buf, sizeof(buf), false), 0);
	CHECK_EQ(h.op, 3 /* RST */);
	CHECK_EQ(read_timeout(s, buf, sizeof(buf)), 0);	/* EOF */
	close(s);
	close(l);
	unlink(lpath);
}

/* The connection table under a fake device: a host program's CONNECT
 * line leaves a REQUEST owed on its connection, and the table tells the
 * device through ops->kick alone, with the device's lock held. */
struct fake_dev {
	pthread_mutex_t lock;
	int kicks, unlocked_kicks;
};

static void
fake_kick(void *dev)
{
	struct fake_dev *d = dev;

	d->kicks++;
	if (pthread_mutex_trylock(&d->lock) == 0) {
		d->unlocked_kicks++;
		pthread_mutex_unlock(&d->lock);
	}
}

static int
fake_kicks(struct fake_dev *d)
{
	int n;

	pthread_mutex_lock(&d->lock);
	n = d->kicks;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* The connection the table holds, once its CONNECT line was read. */
static const struct vsock_conn *
connecting(const struct vsock_conn_table *ct, struct fake_dev *d)
{
	const struct vsock_conn *c = NULL;

	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < VSOCK_MAX_CONN; i++)
		if (ct->conn[i].state == VC_CONNECTING)
			c = &ct->conn[i];
	pthread_mutex_unlock(&d->lock);
	return c;
}

static void
test_table_alone(void)
{
	static const struct vsock_conn_ops ops = { .kick = fake_kick };
	static struct vsock_conn_table ct;
	struct fake_dev d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const struct vsock_conn *c = NULL;
	int s, i;

	start();
	vsock_conn_init(&ct, &loop, &d.lock, &ops, &d);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ct.sock", dir);
	CHECK_EQ(vsock_conn_listen(&ct, sa.sun_path), 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(write(s, "CONNECT 77\n", 11), 11);
	/* Any event kicks (the timer's too): wait for the line to be read. */
	for (i = 0; i < BACKSTOP_MS && (fake_kicks(&d) == 0 ||
	    connecting(&ct, &d) == NULL); i++)
		usleep(1000);
	CHECK(fake_kicks(&d) > 0);
	pthread_mutex_lock(&d.lock);
	CHECK_EQ(d.unlocked_kicks, 0);
	CHECK_EQ(vsock_conn_count(&ct), 1);
	for (i = 0; i < VSOCK_MAX_CONN; i++)
		if (ct.conn[i].state != VC_FREE)
			c = &ct.conn[i];
	CHECK(c != NULL && c->state == VC_CONNECTING &&
	    c->owe == VC_OWE_REQUEST && c->guest_port == 77 &&
	    c->host_port >= 1U << 30);
	pthread_mutex_unlock(&d.lock);
	vsock_conn_close(&ct);
	CHECK(hung_up(s));
	CHECK_EQ(access(sa.sun_path, F_OK), -1);
	close(s);
}

/* A host socket's path leaves room in a socket address for the longest
 * "_PORT" of a guest's connection: 96 bytes are taken, 97 refused, and
 * so is one too long for the address itself, or an empty one; nothing
 * is bound for them. */
static void
test_listen_path_long(void)
{
	static const struct vsock_conn_ops ops = { .kick = fake_kick };
	static struct vsock_conn_table ct;
	struct fake_dev d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	static const size_t len[] = { 96, 97, 107, 108, 200 };
	char p[256];
	int rc, e;

	start();
	for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
		int n = snprintf(p, sizeof(p), "%s/", dir);

		memset(p + n, 'x', len[i] - (size_t)n);
		p[len[i]] = '\0';
		vsock_conn_init(&ct, &loop, &d.lock, &ops, &d);
		unit_catch_stderr();
		rc = vsock_conn_listen(&ct, p);
		e = errno;
		CHECK_EQ(unit_release_stderr("vsock socket \""), len[i] != 96);
		CHECK_EQ(rc, len[i] == 96 ? 0 : -1);
		CHECK(rc == 0 || e == ENAMETOOLONG);
		CHECK_EQ(access(p, F_OK), len[i] == 96 ? 0 : -1);
		vsock_conn_close(&ct);
		CHECK_EQ(access(p, F_OK), -1);
	}
	/* Not an abstract socket of an empty name. */
	vsock_conn_init(&ct, &loop, &d.lock, &ops, &d);
	unit_catch_stderr();
	rc = vsock_conn_listen(&ct, "");
	e = errno;
	CHECK(unit_release_stderr("1 to 107 bytes"));
	CHECK_EQ(rc, -1);
	CHECK_EQ(e, EINVAL);
	vsock_conn_close(&ct);
}

/*
 * A second device whose evloop nobody runs: the test turns it, so that
 * what one notification does, interrupts included, is exact.  Its driver
 * posts without kicking; the test kicks.
 */
static struct {
	struct fakedrv d;
	struct evloop loop;
	struct virtio_vsock v;
	int up;
} turned;

#define EVIDX	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << FAKEDRV_F_EVENT_IDX)
#define PLAIN	(1ULL << VIRTIO_F_VERSION_1)

/* Every handler, until none is ready (bounded: a hang is a failure). */
static void
turns(void)
{
	int i = 0;

	while (fakedrv_turn(&turned.d) > 0 && ++i < 100)
		;
	CHECK(i < 100);
}

static void
turned_up(uint64_t features)
{
	char p[80];

	start();
	if (!turned.up++) {
		snprintf(p, sizeof(p), "%s/turned.sock", dir);
		if (evloop_init(&turned.loop) == -1 ||
		    fakedrv_init(&turned.d, &virtio_vsock_ops, &turned.v,
		    &turned.loop) == -1 ||
		    virtio_vsock_init(&turned.v, CID, p, &turned.loop,
		    &turned.d.t) == -1)
			abort();
	}
	fakedrv_setup(&turned.d, features, 3, QN);
	turns();
	CHECK_EQ(fakedrv_status(&turned.d), FAKEDRV_S_LIVE);
}

static void
turned_down(void)
{
	if (!turned.up)
		return;
	virtio_vsock_close(&turned.v);
	fakedrv_destroy(&turned.d);
	evloop_destroy(&turned.loop);
}

/* A packet made available on the turned device's tx queue, no kick: an
 * RST for no connection is taken and answers nothing, an RW for none
 * gets an RST back. */
static void
turned_send(uint16_t op)
{
	struct fakedrv_queue *dq = &turned.d.q[TX];
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = 2, .src_port = 9,
	    .dst_port = 9999, .type = 1, .op = op };
	struct fakedrv_seg sg = { TXBUF(dq->next_desc), sizeof(h), 0 };

	mem_write(&turned.d.mem, sg.addr, &h, sizeof(h));
	fakedrv_publish(&turned.d, TX, fakedrv_chain(&turned.d, TX, &sg, 1));
}

static void
turned_rx(int n)
{
	for (int i = 0; i < n; i++) {
		struct fakedrv_seg sg = { RXBUF(turned.d.q[RX].next_desc),
		    0x1000, VIRTQ_DESC_F_WRITE };

		fakedrv_publish(&turned.d, RX,
		    fakedrv_chain(&turned.d, RX, &sg, 1));
	}
}

/* n packets in one notification: how many interrupts they cost. */
static uint64_t
turned_pass(uint16_t op, int n)
{
	uint64_t before = fakedrv_interrupts(&turned.d);

	for (int i = 0; i < n; i++)
		turned_send(op);
	fakedrv_kick(&turned.d, TX);
	turns();
	return fakedrv_interrupts(&turned.d) - before;
}

static uint32_t
dev_features_lo(void)
{
	fakedrv_write(&turned.d, FAKEDRV_R_DEV_FEATURES_SEL, 0);
	return fakedrv_read(&turned.d, FAKEDRV_R_DEV_FEATURES);
}

static void
test_event_idx_offered(void)
{
	turned_up(EVIDX);
	CHECK(dev_features_lo() & (1U << FAKEDRV_F_EVENT_IDX));
	CHECK(virtio_mmio_event_idx(&turned.d.t));
	turned_up(PLAIN);
	CHECK(!virtio_mmio_event_idx(&turned.d.t));
}

/* Eight packets in one notification: one publication of the used index,
 * one interrupt, with the feature or without it. */
static void
test_batch_one_interrupt(void)
{
	for (int evidx = 0; evidx < 2; evidx++) {
		turned_up(evidx ? EVIDX : PLAIN);
		CHECK_EQ(turned_pass(3 /* RST */, 8), 1);
		CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 8);
		CHECK(fakedrv_isr(&turned.d) & VIRTIO_INT_VRING);
	}
}

/* Before, the tx queue and the rx queue of one pass each raised theirs. */
static void
test_pass_one_interrupt(void)
{
	for (int evidx = 0; evidx < 2; evidx++) {
		turned_up(evidx ? EVIDX : PLAIN);
		turned_rx(4);
		CHECK_EQ(turned_pass(5 /* RW */, 3), 1);
		CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 3);
		CHECK_EQ(fakedrv_used_idx(&turned.d, RX), 3);	/* the RSTs */
	}
}

static void
set_no_interrupt(uint16_t q, uint16_t flags)
{
	mem_write(&turned.d.mem, turned.d.q[q].avail, &flags, 2);
}

static void
test_used_event_honoured(void)
{
	turned_up(EVIDX);
	fakedrv_set_used_event(&turned.d, TX, 100);
	CHECK_EQ(turned_pass(3, 4), 0);			/* 0 -> 4 */
	CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 4);
	fakedrv_set_used_event(&turned.d, TX, 5);
	CHECK_EQ(turned_pass(3, 4), 1);			/* 4 -> 8 passes 5 */
	CHECK_EQ(turned_pass(3, 1), 0);			/* 8 -> 9 */
	fakedrv_set_used_event(&turned.d, TX, 9);
	set_no_interrupt(TX, VIRTQ_AVAIL_F_NO_INTERRUPT);	/* ignored */
	CHECK_EQ(turned_pass(3, 1), 1);			/* 9 -> 10 */
	set_no_interrupt(TX, 0);
}

/* The queue as a restore could leave it, just short of the wrap. */
static void
turned_at(uint16_t q, uint16_t idx)
{
	struct virtio_mmio_state s = turned.d.t.s;
	struct fakedrv_queue *dq = &turned.d.q[q];

	s.q[q].last_avail = s.q[q].next_used = idx;
	mem_write(&turned.d.mem, dq->used + 2, &idx, 2);
	mem_write(&turned.d.mem, dq->avail + 2, &idx, 2);
	dq->avail_idx = dq->used_seen = idx;
	CHECK_EQ(virtio_mmio_load(&turned.d.t, &s, "layer/state", 0), 0);
}

static void
test_used_event_wrap(void)
{
	static const struct { uint16_t ev; uint64_t irqs; } c[] = {
		{ 0xfffd, 0 }, { 0xfffe, 1 }, { 0xffff, 1 }, { 0, 1 },
		{ 1, 0 }, { 0x7fff, 0 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		turned_up(EVIDX);
		turned_at(TX, 0xfffe);
		fakedrv_set_used_event(&turned.d, TX, c[i].ev);
		CHECK_EQ(turned_pass(3, 3), c[i].irqs);	/* 0xfffe -> 1 */
		CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 1);
		CHECK_EQ(fakedrv_status(&turned.d), FAKEDRV_S_LIVE);
	}
}

/* The device asks for a kick only once it has drained a queue: a driver
 * that adds while a kick is still to be served need not kick again. */
static void
test_avail_event_written(void)
{
	turned_up(EVIDX);
	turned_send(3);
	CHECK(fakedrv_kick_needed(&turned.d, TX, 0));
	fakedrv_kick(&turned.d, TX);
	turns();
	CHECK_EQ(fakedrv_avail_event(&turned.d, TX), 1);
	turned_send(3);
	CHECK(fakedrv_kick_needed(&turned.d, TX, 1));
	turned_send(3);
	CHECK(!fakedrv_kick_needed(&turned.d, TX, 2));
	fakedrv_kick(&turned.d, TX);
	turns();
	CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 3);
	CHECK_EQ(fakedrv_avail_event(&turned.d, TX), 3);
	/* Replies with no receive buffer: the device asks for the next. */
	turned_rx(1);
	turned_pass(5, 2);
	CHECK_EQ(fakedrv_used_idx(&turned.d, RX), 1);
	CHECK_EQ(fakedrv_avail_event(&turned.d, RX), 1);
	turned_rx(1);
	CHECK(fakedrv_kick_needed(&turned.d, RX, 1));
	fakedrv_kick(&turned.d, RX);
	turns();
	CHECK_EQ(fakedrv_used_idx(&turned.d, RX), 2);
}

/* Without the feature the event words are not the device's: used_event
 * is not read, avail_event not written, the flag is obeyed. */
static void
test_no_event_idx_unchanged(void)
{
	uint16_t mark = 0xabcd;
	struct fakedrv_queue *dq;

	turned_up(PLAIN);
	dq = &turned.d.q[TX];
	mem_write(&turned.d.mem, dq->used + 4 + 8ULL * dq->size, &mark, 2);
	fakedrv_set_used_event(&turned.d, TX, 100);
	CHECK_EQ(turned_pass(3, 2), 1);
	CHECK_EQ(fakedrv_avail_event(&turned.d, TX), 0xabcd);
	set_no_interrupt(TX, VIRTQ_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(turned_pass(3, 2), 0);
	CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 4);
	set_no_interrupt(TX, 0);
}

/* Event words and a used index the guest scribbles on are numbers only;
 * an available index run ahead stops the device, with the feature too. */
static void
test_event_idx_hostile(void)
{
	uint16_t junk = 0x5a5a;

	turned_up(EVIDX);
	for (uint32_t ev = 0; ev <= 0xffff; ev += 0x0fff) {
		fakedrv_set_used_event(&turned.d, TX, (uint16_t)ev);
		(void)turned_pass(3, 1);
	}
	CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 17);
	mem_write(&turned.d.mem, turned.d.q[TX].used + 2, &junk, 2);
	(void)turned_pass(3, 1);
	CHECK_EQ(fakedrv_used_idx(&turned.d, TX), 18);
	CHECK_EQ(fakedrv_status(&turned.d), FAKEDRV_S_LIVE);
	junk = (uint16_t)(turned.d.q[TX].avail_idx + QN + 1);
	mem_write(&turned.d.mem, turned.d.q[TX].avail + 2, &junk, 2);
	unit_catch_stderr();
	fakedrv_kick(&turned.d, TX);
	turns();
	CHECK_EQ(unit_release_stderr("available index ran ahead"), 1);
	CHECK(fakedrv_status(&turned.d) & FAKEDRV_S_NEEDS_RESET);
}

/* A snapshot's transport may hold EVENT_IDX now; one without it (every
 * older snapshot) restores a device that behaves as before. */
static void
test_event_idx_restore(void)
{
	struct virtio_mmio_state s;

	turned_up(EVIDX);
	s = turned.d.t.s;
	fakedrv_write(&turned.d, FAKEDRV_R_STATUS, 0);
	CHECK_EQ(virtio_mmio_load(&turned.d.t, &s, "layer/state", 0), 0);
	CHECK(virtio_mmio_event_idx(&turned.d.t));
	s.driver_features &= ~(1ULL << FAKEDRV_F_EVENT_IDX);
	fakedrv_write(&turned.d, FAKEDRV_R_STATUS, 0);
	CHECK_EQ(virtio_mmio_load(&turned.d.t, &s, "layer/state", 0), 0);
	CHECK(!virtio_mmio_event_idx(&turned.d.t));
	fakedrv_set_used_event(&turned.d, TX, 100);
	CHECK_EQ(turned_pass(3, 1), 1);
}

static const struct unit_test tests[] = {
	{ "vsock: guest connects to a host socket, data both ways", test_guest_connects },
	{ "vsock: refused and unknown connections get RST", test_refused },
	{ "vsock: host CONNECT reaches a guest port, credit respected", test_host_connects },
	{ "vsock: lying packets are dropped, a cut header stops the device", test_hostile },
	{ "vsock: data before the handshake resets, the host never sees it", test_data_before_response },
	{ "vsock: transport reset closes host sockets, sends no RST, posts the event", test_transport_reset },
	{ "vsock: a transport reset waits for an event buffer, delivered once", test_reset_pending },
	{ "vsock: a transport reset before the VM runs lands after restore", test_reset_before_run },
	{ "vsock: a driver reset drops a pending transport reset", test_reset_dropped_by_driver_reset },
	{ "vsock: an event buffer smaller than an event stops the device", test_reset_small_event_buffer },
	{ "vsock: a guest close delivers every buffered byte, then RST", test_close_drains },
	{ "vsock: SHUTDOWN(SEND) gives the host EOF after the last byte", test_shutdown_send_drains },
	{ "vsock: bytes behind the CONNECT line reach the guest", test_connect_trailing_bytes },
	{ "vsock: a header-only receive buffer is not host EOF", test_header_only_buffer },
	{ "vsock: control packets are never dropped for want of buffers", test_control_never_dropped },
	{ "vsock: a full reply queue holds back guest packets, loses none", test_tx_back_pressure },
	{ "vsock: connections past the limit get RST, devices keep room", test_connection_limit },
	{ "vsock: a silent peer is given up after the timeout", test_half_open_timeout },
	{ "vsock: a guest RST after its SHUTDOWN lets the last bytes out", test_rst_while_closing },
	{ "vsock: a packet of an unknown type gets RST", test_unknown_type },
	{ "vsock: a host half-close is SHUTDOWN(SEND); the answer gets through", test_host_half_close },
	{ "vsock: a guest fwd_cnt ahead of what it got gives no credit", test_credit_lie },
	{ "vsock: malformed packets are counted, their lines rate-limited", test_malformed_rate_limited },
	{ "vsock: the snapshot section is checked field by field", test_state_load },
	{ "vsock: a reserved guest CID is refused", test_reserved_cid },
	{ "vsock_conn: the table reaches its device only through ops->kick, locked", test_table_alone },
	{ "vsock: EVENT_IDX is offered and negotiated", test_event_idx_offered },
	{ "vsock: packets of one notification cost one interrupt", test_batch_one_interrupt },
	{ "vsock: tx and rx served in one pass cost one interrupt", test_pass_one_interrupt },
	{ "vsock: with EVENT_IDX, an interrupt only when used_event is passed", test_used_event_honoured },
	{ "vsock: a host socket path too long, or empty, is refused",
	    test_listen_path_long },
	{ "vsock: used_event across the 16-bit wrap", test_used_event_wrap },
	{ "vsock: with EVENT_IDX, avail_event asks for a kick once drained", test_avail_event_written },
	{ "vsock: without EVENT_IDX, notifications as before", test_no_event_idx_unchanged },
	{ "vsock: hostile event words, used and available indexes", test_event_idx_hostile },
	{ "vsock: snapshots restore with and without EVENT_IDX", test_event_idx_restore },
};

int
main(void)
{
	int rc;

	/* A host socket the device closed is EPIPE for the test, as it is
	 * for the runners, which ignore SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	rc = unit_main(tests, (int)(sizeof(tests) / sizeof(tests[0])));

	turned_down();
	evloop_stop(&loop);
	virtio_vsock_close(&v);
	fakedrv_destroy(&drv);
	evloop_destroy(&loop);
	rmdir(dir);
	return rc;
}
