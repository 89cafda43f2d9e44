/*
 * A polling virtio-vsock driver (virtio 1.2, 5.10) for the device that
 * vmrun --vsock creates: it finds the device by scanning the virtio-mmio
 * slots, then runs one scenario chosen with mode=N on the command line:
 *
 *   1 echo     connect to host port P (default 1234), send len=L bytes
 *              (default 3000), read them back from an echo server
 *   2 listen   accept a host CONNECT to guest port P (default 5000) and
 *              echo what the host sends in upper case until it closes
 *   3 credit   connect to P (default 1235) with buf_alloc buf=B (default
 *              4096), take len=L bytes (default 16384) of i % 251 that the
 *              host sends unasked; the device must stop at the credit
 *   4 rst      connect to P where nobody listens; data for a connection
 *              that does not exist; both must get RST
 *   5 hostile  malformed packets and chains: vmrun must drop them or stop
 *              the device, never crash, and the device must work after a
 *              reset; unknown ops and types get RST
 *
 * Prints "ok NAME" or "FAIL NAME" per check and exits with the number of
 * failures; 100 when there is no vsock device.
 */
#include "guest.h"
#include "virtio.h"

#define QSZ		8
#define RX		0
#define TX		1
#define EV		2
#define RING(q)		(0x300000UL + 0x4000UL * (q))	/* desc, avail, used */
#define RXBUF(i)	(0x320000UL + 0x1000UL * (i))
#define PAYLOAD_MAX	1024
#define TXHDR		0x330000UL
#define TXDATA		0x331000UL
#define EVBUF(i)	(0x338000UL + 16UL * (i))
#define NEVBUF		4
#define STORE		0x340000UL		/* bytes sent or received */
#define STORE_MAX	0x20000U
#define ECHO		(STORE + STORE_MAX)	/* what came back */

#define HOST_CID	2
#define TYPE_STREAM	1
#define OP_REQUEST	1
#define OP_RESPONSE	2
#define OP_RST		3
#define OP_SHUTDOWN	4
#define OP_RW		5
#define OP_CREDIT_UPDATE 6
#define SHUT_BOTH	3

/* Poll counts: each poll reads a device register, a trip through vmrun. */
#define SPINS_LONG	60000L
#define SPINS_QUIET	3000L

#define barrier()	__asm__ volatile("" ::: "memory")

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uintptr_t dev;
static uint64_t cid;
static uint16_t avail_idx[3], used_seen[3];
static uint32_t rx_len = sizeof(struct hdr) + PAYLOAD_MAX;
static uint32_t buf_alloc = 65536, fwd_cnt;	/* our receive credit */
static int misaddressed;			/* packets not for us */

static volatile uint32_t *
reg(unsigned off)
{
	return (volatile uint32_t *)(dev + off);
}

static volatile uint16_t *
used_idx(int q)
{
	return (volatile uint16_t *)(RING(q) + 0x2000 + 2);
}

static int
find_device(void)
{
	for (int i = 0; i < MMIO_SLOTS; i++) {
		dev = MMIO_BASE + 0x1000UL * (unsigned)i;
		if (*reg(R_MAGIC) == 0x74726976 && *reg(R_VERSION) == 2 &&
		    *reg(R_DEVICE_ID) == 19)
			return 0;
	}
	return -1;
}

static void
set_desc(int q, int i, uint64_t addr, uint32_t len, uint16_t flags)
{
	volatile struct desc *d = (volatile struct desc *)RING(q) + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = (uint16_t)(i + 1);
}

static void
publish(int q, uint16_t head)
{
	volatile uint16_t *avail = (volatile uint16_t *)(RING(q) + 0x1000);

	avail[2 + avail_idx[q] % QSZ] = head;
	barrier();
	avail[1] = ++avail_idx[q];
	barrier();
}

static int
setup_queue(int q)
{
	*reg(R_QUEUE_SEL) = (uint32_t)q;
	if (*reg(R_QUEUE_MAX) < QSZ)
		return -1;
	*reg(R_QUEUE_NUM) = QSZ;
	*reg(R_DESC) = (uint32_t)RING(q);
	*reg(R_AVAIL) = (uint32_t)RING(q) + 0x1000;
	*reg(R_USED) = (uint32_t)RING(q) + 0x2000;
	*reg(R_QUEUE_READY) = 1;
	avail_idx[q] = used_seen[q] = 0;
	return 0;
}

/* Reset, negotiate VERSION_1 only, three queues, buffers posted. */
static int
setup(void)
{
	*reg(R_STATUS) = 0;
	for (int q = RX; q <= EV; q++) {	/* stale ring indexes */
		*(volatile uint32_t *)(RING(q) + 0x1000) = 0;
		*(volatile uint32_t *)(RING(q) + 0x2000) = 0;
	}
	*reg(R_STATUS) = ST_ACK | ST_DRIVER;
	*reg(R_DRV_FEAT_SEL) = 1;
	*reg(R_DRV_FEAT) = 1;				/* VIRTIO_F_VERSION_1 */
	*reg(R_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK;
	if (!(*reg(R_STATUS) & ST_FEATURES_OK))
		return -1;
	for (int q = RX; q <= EV; q++)
		if (setup_queue(q) == -1)
			return -1;
	for (int i = 0; i < QSZ; i++) {
		set_desc(RX, i, RXBUF(i), rx_len, F_WRITE);
		publish(RX, (uint16_t)i);
	}
	for (int i = 0; i < NEVBUF; i++) {
		set_desc(EV, i, EVBUF(i), 4, F_WRITE);
		publish(EV, (uint16_t)i);
	}
	cid = *reg(R_CONFIG) | (uint64_t)*reg(R_CONFIG + 4) << 32;
	*reg(R_STATUS) = ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK;
	*reg(R_NOTIFY) = RX;
	*reg(R_NOTIFY) = EV;
	return 0;
}

/* 0 when queue q has a used entry we have not seen, -1 after spins
 * polls, -2 when the device asks for a reset. */
static int
wait_used(int q, long spins)
{
	for (long i = 0; i < spins; i++) {
		if (*used_idx(q) != used_seen[q])
			return 0;
		if (*reg(R_STATUS) & ST_NEEDS_RESET)
			return -2;
	}
	return -1;
}

static int
wait_needs_reset(void)
{
	for (long i = 0; i < SPINS_LONG; i++)
		if (*reg(R_STATUS) & ST_NEEDS_RESET)
			return 0;
	return -1;
}

/* Sends the header at hdr_addr (hdr_len bytes) and data_len bytes of
 * TXDATA as a chain of two, and waits until the device has taken it. */
static int
tx_raw(uint64_t hdr_addr, uint32_t hdr_len, uint32_t data_len)
{
	int rc;

	set_desc(TX, 0, hdr_addr, hdr_len, data_len ? F_NEXT : 0);
	set_desc(TX, 1, TXDATA, data_len, 0);
	publish(TX, 0);
	*reg(R_NOTIFY) = TX;
	if ((rc = wait_used(TX, SPINS_LONG)) == 0)
		used_seen[TX]++;
	return rc;
}

static void
fill_hdr(struct hdr *h, uint16_t op, uint32_t src, uint32_t dst, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = cid;
	h->dst_cid = HOST_CID;
	h->src_port = src;
	h->dst_port = dst;
	h->len = len;
	h->type = TYPE_STREAM;
	h->op = op;
	h->buf_alloc = buf_alloc;
	h->fwd_cnt = fwd_cnt;
}

static int
send(uint16_t op, uint32_t src, uint32_t dst, uint32_t flags,
    const void *data, uint32_t len)
{
	struct hdr *h = (struct hdr *)TXHDR;

	fill_hdr(h, op, src, dst, len);
	h->flags = flags;
	if (len > 0)
		memcpy((void *)TXDATA, data, len);
	return tx_raw(TXHDR, sizeof(*h), len);
}

static void
give_back_rx(uint16_t id)
{
	publish(RX, id);
	*reg(R_NOTIFY) = RX;
}

/* The next packet from the device: its header, its payload copied to
 * data (at most max bytes).  -3 when the device broke the format. */
static int
recv(struct hdr *h, uint8_t *data, uint32_t max, long spins)
{
	volatile uint32_t *used = (volatile uint32_t *)(RING(RX) + 0x2000 + 4);
	uint32_t id, len;
	int rc;

	if ((rc = wait_used(RX, spins)) != 0)
		return rc;
	barrier();
	id = used[2 * (used_seen[RX] % QSZ)];
	len = used[2 * (used_seen[RX] % QSZ) + 1];
	used_seen[RX]++;
	if (id >= QSZ)
		return -3;
	memcpy(h, (const void *)RXBUF(id), sizeof(*h));
	if (len != sizeof(*h) + h->len || h->len > PAYLOAD_MAX || h->len > max)
		return -3;
	memcpy(data, (const void *)(RXBUF(id) + sizeof(*h)), h->len);
	give_back_rx((uint16_t)id);
	/* An RST answers in the type it was asked in. */
	misaddressed += h->src_cid != HOST_CID || h->dst_cid != cid ||
	    (h->type != TYPE_STREAM && h->op != OP_RST);
	return 0;
}

/* Like recv, but passes over credit updates, which may come any time. */
static int
recv_data(struct hdr *h, uint8_t *data, uint32_t max, long spins)
{
	int rc;

	while ((rc = recv(h, data, max, spins)) == 0 &&
	    h->op == OP_CREDIT_UPDATE)
		;
	if (rc == -2)
		serial_puts("recv: the device needs a reset\n");
	else if (rc == -3)
		serial_puts("recv: malformed packet from the device\n");
	else if (rc == -1 && spins > SPINS_QUIET)
		serial_puts("recv: timeout\n");
	return rc;
}

static void
put_pkt(const char *what, const struct hdr *h)
{
	serial_puts(what);
	serial_puts(": op ");
	put_dec(h->op);
	serial_puts(" ports ");
	put_dec(h->src_port);
	serial_puts(" -> ");
	put_dec(h->dst_port);
	serial_puts(" len ");
	put_dec(h->len);
	serial_putc('\n');
}

/* The op of the answer to a connection request, or -1. */
static int
connect(uint32_t lport, uint32_t port)
{
	struct hdr h;
	uint8_t none[1];

	if (send(OP_REQUEST, lport, port, 0, NULL, 0) != 0 ||
	    recv_data(&h, none, 0, SPINS_LONG) != 0)
		return -1;
	put_pkt("answer", &h);
	if (h.src_port != port || h.dst_port != lport)
		return -1;
	return h.op;
}

static int
close_conn(uint32_t lport, uint32_t port)
{
	struct hdr h;
	uint8_t none[1];

	return send(OP_SHUTDOWN, lport, port, SHUT_BOTH, NULL, 0) == 0 &&
	    recv_data(&h, none, 0, SPINS_LONG) == 0 && h.op == OP_RST &&
	    h.src_port == port && h.dst_port == lport;
}

static int
same(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	while (n-- > 0)
		if (*a++ != *b++)
			return 0;
	return 1;
}

static void
mode_echo(uint32_t port, uint32_t total)
{
	uint8_t *out = (uint8_t *)STORE, *back = (uint8_t *)ECHO;
	uint32_t got = 0;
	struct hdr h;

	for (uint32_t i = 0; i < total; i++)
		out[i] = (uint8_t)('a' + i % 26);
	guest_check("connect to the host", connect(40001, port) == OP_RESPONSE);
	if (guest_failures > 0)
		return;
	for (uint32_t sent = 0, n; sent < total; sent += n) {
		n = total - sent < 1000 ? total - sent : 1000;
		if (send(OP_RW, 40001, port, 0, out + sent, n) != 0)
			break;
	}
	while (got < total && recv_data(&h, back + got, total - got,
	    SPINS_LONG) == 0 && h.op == OP_RW) {
		got += h.len;
		fwd_cnt += h.len;
	}
	put_dec(got);
	serial_puts(" bytes came back\n");
	guest_check("echo intact", got == total && same(out, back, total));
	guest_check("shutdown answered by RST", close_conn(40001, port));
}

static void
upcase(uint8_t *p, uint32_t n)
{
	for (; n > 0; n--, p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (uint8_t)(*p - 'a' + 'A');
}

static void
mode_listen(uint32_t port)
{
	uint8_t *buf = (uint8_t *)STORE;
	uint32_t peer, echoed = 0;
	struct hdr h;

	if (recv_data(&h, buf, 0, 10 * SPINS_LONG) != 0)
		h.op = 0;
	guest_check("request from the host", h.op == OP_REQUEST &&
	    h.dst_port == port && h.src_port >= 1U << 30);
	peer = h.src_port;
	send(OP_RESPONSE, port, peer, 0, NULL, 0);
	while (recv_data(&h, buf, PAYLOAD_MAX, SPINS_LONG) == 0 &&
	    h.op == OP_RW && h.src_port == peer) {
		fwd_cnt += h.len;
		upcase(buf, h.len);
		if (send(OP_RW, port, peer, 0, buf, h.len) != 0)
			break;
		echoed += h.len;
	}
	put_pkt("last", &h);
	guest_check("echoed until the host shut down", echoed > 0 &&
	    h.op == OP_SHUTDOWN && h.flags == SHUT_BOTH);
	guest_check("shutdown answered by RST", close_conn(port, peer));
}

static int
pattern_ok(const uint8_t *p, uint32_t from, uint32_t to)
{
	for (uint32_t i = from, v = from % 251; i < to; i++, v = v == 250 ? 0 : v + 1)
		if (p[i] != v)
			return 0;
	return 1;
}

/* Takes packets until `until` bytes are in or the device goes quiet;
 * counts bytes beyond our credit as violations. */
static uint32_t
take(uint32_t port, uint32_t got, uint32_t until, uint32_t total, long spins,
    int *violations)
{
	struct hdr h;

	while (got < until && recv_data(&h, (uint8_t *)STORE + got,
	    total - got, spins) == 0 && h.op == OP_RW && h.src_port == port) {
		got += h.len;
		*violations += got - fwd_cnt > buf_alloc;
	}
	return got;
}

static void
mode_credit(uint32_t port, uint32_t total)
{
	uint32_t got;
	int violations = 0, updates = 0, intact = 1;

	buf_alloc = (uint32_t)cmdline_int("buf", 4096);
	guest_check("connect to the host", connect(40003, port) == OP_RESPONSE);
	if (guest_failures > 0)
		return;
	got = take(port, 0, buf_alloc, total, SPINS_LONG, &violations);
	got = take(port, got, total, total, SPINS_QUIET, &violations);
	put_dec(got);
	serial_puts(" bytes before the first credit update\n");
	guest_check("device stopped at the credit", got == buf_alloc);
	while (got < total && got - fwd_cnt == buf_alloc) {
		intact &= pattern_ok((const uint8_t *)STORE, fwd_cnt, got);
		fwd_cnt = got;
		send(OP_CREDIT_UPDATE, 40003, port, 0, NULL, 0);
		updates++;
		got = take(port, got, fwd_cnt + buf_alloc, total, SPINS_LONG,
		    &violations);
	}
	intact &= got == total && pattern_ok((const uint8_t *)STORE, fwd_cnt, got);
	put_dec(updates);
	serial_puts(" credit updates\n");
	guest_check("never beyond the credit", violations == 0);
	guest_check("all bytes intact", intact);
	guest_check("shutdown answered by RST", close_conn(40003, port));
}

static int
answered_by_rst(uint32_t lport, uint32_t port)
{
	struct hdr h;
	uint8_t none[1];

	if (recv_data(&h, none, 0, SPINS_LONG) != 0)
		return 0;
	put_pkt("answer", &h);
	return h.op == OP_RST && h.src_port == port && h.dst_port == lport;
}

static void
mode_rst(uint32_t port)
{
	guest_check("nobody listening: RST", connect(40004, port) == OP_RST);
	send(OP_RW, 40005, 9999, 0, "lost", 4);
	guest_check("data for no connection: RST", answered_by_rst(40005, 9999));
}

/* Each of these is dropped by the device with nothing sent back. */
static void
send_malformed(void)
{
	struct hdr *h = (struct hdr *)TXHDR;

	fill_hdr(h, OP_REQUEST, 41000, 41001, 0);
	h->src_cid = 99;				/* not the guest's CID */
	tx_raw(TXHDR, sizeof(*h), 0);
	fill_hdr(h, OP_REQUEST, 41000, 41001, 0);
	h->dst_cid = 7;					/* not the host */
	tx_raw(TXHDR, sizeof(*h), 0);
	fill_hdr(h, OP_RW, 41000, 41001, 60000);	/* longer than the chain */
	tx_raw(TXHDR, sizeof(*h), 16);
	fill_hdr(h, OP_REQUEST, 41000, 41001, 16);	/* payload on a request */
	tx_raw(TXHDR, sizeof(*h), 16);
}

static void
reset_and_probe(const char *name)
{
	int ok = setup() == 0;

	send(OP_RW, 42000, 42001, 0, "probe", 5);
	guest_check(name, ok && answered_by_rst(42000, 42001));
}

static void
mode_hostile(void)
{
	send_malformed();
	send(99, 41000, 41001, 0, NULL, 0);		/* unknown op */
	guest_check("malformed packets dropped, unknown op gets RST",
	    answered_by_rst(41000, 41001));
	fill_hdr((struct hdr *)TXHDR, OP_REQUEST, 41002, 41003, 0);
	((struct hdr *)TXHDR)->type = 2;		/* seqpacket: not offered */
	tx_raw(TXHDR, sizeof(struct hdr), 0);
	guest_check("unknown type gets RST", answered_by_rst(41002, 41003));
	guest_check("header cut short stops the device",
	    tx_raw(TXHDR, 10, 0) == -2);
	reset_and_probe("works again after a reset");
	guest_check("buffer outside RAM stops the device",
	    tx_raw(0x7ff000000ULL, sizeof(struct hdr), 0) == -2);
	rx_len = 16;
	setup();
	send(OP_RW, 42000, 42001, 0, "probe", 5);
	guest_check("receive buffer smaller than a header stops the device",
	    wait_needs_reset() == 0);
	rx_len = sizeof(struct hdr) + PAYLOAD_MAX;
	reset_and_probe("works again after another reset");
}

int
main(void)
{
	int mode = cmdline_int("mode", 1);
	uint32_t len = (uint32_t)cmdline_int("len", mode == 3 ? 16384 : 3000);

	if (find_device() == -1) {
		serial_puts("no virtio-vsock device\n");
		return 100;
	}
	if (len > STORE_MAX)
		len = STORE_MAX;
	guest_check("device set-up", setup() == 0);
	serial_puts("guest cid ");
	put_dec((int64_t)cid);
	serial_putc('\n');
	if (mode == 1)
		mode_echo((uint32_t)cmdline_int("port", 1234), len);
	else if (mode == 2)
		mode_listen((uint32_t)cmdline_int("port", 5000));
	else if (mode == 3)
		mode_credit((uint32_t)cmdline_int("port", 1235), len);
	else if (mode == 4)
		mode_rst((uint32_t)cmdline_int("port", 1236));
	else
		mode_hostile();
	guest_check("every packet addressed to this guest", misaddressed == 0);
	return guest_failures;
}
