/*
 * virtio-vsock against a fake guest driver: the test writes rings in
 * guest memory and kicks the transport as a driver would, while real Unix
 * sockets play the host programs.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "virtio_vsock.h"
#include "unit.h"

#define QN	16
#define CID	3
enum { RX, TX, EV };

static struct mem m;
static struct evloop loop;
static struct virtio_mmio t;
static struct virtio_vsock v;
static uint16_t avail_idx[3], used_seen[3];
static char dir[40], path[64];

static uint64_t qbase(int q) { return 0x10000 + (uint64_t)q * 0x4000; }

static void
reg(uint32_t off, uint32_t val)
{
	virtio_mmio_io(&t, off, (uint8_t *)&val, 4, true);
}

static void
setup_device(void)
{
	reg(0x70, 3);
	reg(0x24, 1);
	reg(0x20, 1);
	reg(0x70, 3 | 8);
	for (int q = 0; q < 3; q++) {
		reg(0x30, (uint32_t)q);
		reg(0x38, QN);
		reg(0x80, (uint32_t)qbase(q));
		reg(0x90, (uint32_t)qbase(q) + 0x1000);
		reg(0xa0, (uint32_t)qbase(q) + 0x2000);
		reg(0x44, 1);
	}
	reg(0x70, 3 | 8 | 4);
}

static void
offer(int q, uint16_t id, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint8_t d[16];
	uint16_t next = (uint16_t)(avail_idx[q] + 1);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memset(d + 14, 0, 2);
	mem_write(&m, qbase(q) + 16ULL * id, d, 16);
	mem_write(&m, qbase(q) + 0x1000 + 4 + 2 * (avail_idx[q] % QN), &id, 2);
	__atomic_store_n((uint16_t *)mem_ptr(&m, qbase(q) + 0x1000 + 2, 2),
	    next, __ATOMIC_RELEASE);
	avail_idx[q] = next;
	reg(0x50, (uint32_t)q);
}

static void
give_rx(int n)
{
	for (int i = 0; i < n; i++) {
		uint16_t id = (uint16_t)(avail_idx[RX] % QN);

		offer(RX, id, 0x100000 + 0x1000ULL * id, 0x1000, 2 /* WRITE */);
	}
}

static void
send_pkt(uint16_t op, uint32_t src_port, uint32_t dst_port, const char *data,
    uint32_t buf_alloc)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = 2, .src_port = src_port,
	    .dst_port = dst_port, .type = 1, .op = op, .buf_alloc = buf_alloc };
	uint16_t id = (uint16_t)(avail_idx[TX] % QN);
	uint64_t at = 0x200000 + 0x1000ULL * id;

	h.len = data ? (uint32_t)strlen(data) : 0;
	mem_write(&m, at, &h, sizeof(h));
	if (h.len)
		mem_write(&m, at + sizeof(h), data, h.len);
	offer(TX, id, at, (uint32_t)sizeof(h) + h.len, 0);
}

/* Waits up to ms milliseconds for the next used entry of queue q. */
static int
used_next(int q, uint32_t elem[2], int ms)
{
	const uint16_t *idx = mem_ptr(&m, qbase(q) + 0x2000 + 2, 2);

	for (int i = 0; i < ms; i++) {
		if (__atomic_load_n(idx, __ATOMIC_ACQUIRE) != used_seen[q]) {
			mem_read(&m, qbase(q) + 0x2000 + 4 + 8 * (used_seen[q] % QN),
			    elem, 8);
			used_seen[q]++;
			return 0;
		}
		usleep(1000);
	}
	return -1;
}

/* Waits up to 2 s for the next used rx buffer; its header and payload. */
static int
recv_pkt(struct vsock_hdr *h, char *data, size_t size)
{
	uint32_t elem[2];

	memset(h, 0, sizeof(*h));
	if (used_next(RX, elem, 2000) == -1)
		return -1;
	mem_read(&m, 0x100000 + 0x1000ULL * elem[0], h, sizeof(*h));
	memset(data, 0, size);
	if (h->len && h->len < size)
		mem_read(&m, 0x100000 + 0x1000ULL * elem[0] + sizeof(*h), data,
		    h->len);
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

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return read(fd, buf, n);
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
	mem_create(&m, 16);
	evloop_init(&loop);
	virtio_mmio_init(&t, &virtio_vsock_ops, &v, NULL, &m, 0, 0, &loop);
	if (virtio_vsock_init(&v, CID, path, &loop, &t) == -1)
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
	uint16_t id;

	start();
	send_pkt(1, 1, 2, NULL, 0);			/* fine, just RST */
	id = (uint16_t)(avail_idx[TX] % QN);		/* a lying length */
	h.src_cid = CID;
	h.op = 5;
	h.len = 60000;
	mem_write(&m, 0x200000 + 0x1000ULL * id, &h, sizeof(h));
	offer(TX, id, 0x200000 + 0x1000ULL * id, sizeof(h) + 4, 0);
	id = (uint16_t)(avail_idx[TX] % QN);		/* header cut short */
	offer(TX, id, 0x200000 + 0x1000ULL * id, 10, 0);
	usleep(100000);
	CHECK((t.s.status & 0x40) != 0);		/* needs reset */
	reg(0x70, 0);					/* driver resets */
	CHECK_EQ(t.s.status, 0);
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
	uint16_t id = (uint16_t)(avail_idx[EV] % QN);

	offer(EV, id, 0x300000 + 0x10ULL * id, len, 2 /* WRITE */);
}

/* The transport reset event the device put in the next used event buffer. */
static int
event_next(int ms)
{
	uint32_t elem[2], id = 0xffffffff;

	if (used_next(EV, elem, ms) == -1)
		return -1;
	CHECK_EQ(elem[1], 4);
	mem_read(&m, 0x300000 + 0x10ULL * elem[0], &id, 4);
	return (int)id;
}

/* A driver reset and a fresh set-up: each test below starts clean. */
static void
restart_device(void)
{
	start();
	reg(0x70, 0);
	for (int q = 0; q < 3; q++) {
		mem_write(&m, qbase(q) + 0x1000, "\0\0\0\0", 4);
		mem_write(&m, qbase(q) + 0x2000, "\0\0\0\0", 4);
		avail_idx[q] = used_seen[q] = 0;
	}
	setup_device();
	give_rx(8);
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
	CHECK_EQ(event_next(2000), 0 /* TRANSPORT_RESET */);
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
	CHECK_EQ(event_next(2000), 0);
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
	pthread_mutex_lock(&t.lock);
	saved = t.s;
	memset(&t.s, 0, sizeof(t.s));
	pthread_mutex_unlock(&t.lock);
	virtio_vsock_transport_reset(&v);
	CHECK_EQ(event_next(50), -1);
	pthread_mutex_lock(&t.lock);
	t.s = saved;
	pthread_mutex_unlock(&t.lock);
	virtio_mmio_restored(&t);
	CHECK_EQ(event_next(2000), 0);
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
	CHECK((t.s.status & 0x40) != 0);		/* needs reset */
	restart_device();
	CHECK_EQ(t.s.status & 0x40, 0);
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
};

int
main(void)
{
	int rc = unit_main(tests, (int)(sizeof(tests) / sizeof(tests[0])));

	evloop_stop(&loop);
	virtio_vsock_close(&v);
	virtio_mmio_destroy(&t);
	evloop_destroy(&loop);
	rmdir(dir);
	return rc;
}
