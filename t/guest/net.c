/*
 * A polling virtio-net driver (virtio 1.2, 5.1) for the device of vmrun
 * --net, found by scanning the virtio-mmio slots.  The host end is a tap
 * on a bridge with address peer=A.B.C.D; the guest takes ip=A.B.C.D.
 * Checks, each printed "ok NAME" or "FAIL NAME":
 *
 *   - features MAC and STATUS offered, link up; the MAC is printed as
 *     "mac XX:XX:XX:XX:XX:XX";
 *   - an ARP request sent while no receive buffer is posted: its reply
 *     waits in the device (back-pressure) until buffers come;
 *   - ICMP echo to the bridge, small and large;
 *   - a reply larger than the only receive buffer is dropped, and the
 *     buffer serves the next frame;
 *   - transmit chains shorter than the header or holding more than 65550
 *     bytes of frame are taken back unsent, and the device goes on;
 *   - a descriptor loop, and a receive buffer smaller than a header, stop
 *     the device (DEVICE_NEEDS_RESET); after a reset it works again.
 *
 * With ckpt=1 the guest reaches checkpoint 1 (port 0x510) after the first
 * echo; in a VM restored from a snapshot taken there it prints "restores
 * N", reads its MAC again (the restore may have given it another), and
 * repeats the ARP and echo.  Exits with the number of failures; 100
 * without a network device.
 */
#include "ethframe.h"
#include "guest.h"
#include "virtio.h"

#define NET_F_MAC	5
#define NET_F_STATUS	16
#define CKPT_PORT	0x510

#define QSZ		8
#define RING(q)		(0x300000UL + 0x4000UL * (q))
#define RXBUF(i)	(0x320000UL + 0x1000UL * (i))
#define RXBUF_LEN	2048
#define TXHDR		0x330000UL
#define TXFRAME		0x331000UL
#define BIG		0x400000UL	/* room for an oversized frame (the
					 * device must not read it) */
#define HDR_LEN		12
#define MAX_FRAME	65550
#define SMALL_BUF	(HDR_LEN + 100)

#define SPINS		60000L
#define SPINS_SETTLE	15000L

static uintptr_t dev;
static uint32_t dev_features;
static struct vq rxq, txq;
static uint32_t rx_len = RXBUF_LEN;	/* what a reposted buffer holds */
static struct ethaddrs addrs;

static void
post_rx(int i, uint32_t len, int notify)
{
	virtio_desc(&rxq, i, RXBUF(i), len, F_WRITE, 0);
	virtio_publish(&rxq, (uint16_t)i, notify);
}

static void
read_mac(void)
{
	for (int i = 0; i < 6; i++)
		addrs.mac[i] = *(volatile uint8_t *)(dev + R_CONFIG + i);
}

/* Reset; MAC, STATUS and VERSION_1; both queues; nrx buffers of len. */
static int
setup(int nrx, uint32_t len)
{
	if (virtio_start(dev, (1U << NET_F_MAC) | (1U << NET_F_STATUS),
	    &dev_features) == -1 ||
	    virtio_queue(dev, 0, &rxq, RING(0), QSZ) == -1 ||
	    virtio_queue(dev, 1, &txq, RING(1), QSZ) == -1)
		return -1;
	read_mac();
	virtio_driver_ok(dev);
	rx_len = len;
	for (int i = 0; i < nrx; i++)
		post_rx(i, len, i == nrx - 1);
	return 0;
}

/* Spins so long that the host has surely answered what was sent. */
static void
settle(void)
{
	for (long i = 0; i < SPINS_SETTLE; i++)
		(void)*virtio_reg(dev, R_STATUS);
}

/* One descriptor of len bytes at addr, as the whole packet. */
static int
send_raw(uint64_t addr, uint32_t len)
{
	uint32_t id, used_len;

	virtio_desc(&txq, 0, addr, len, 0, 0);
	virtio_publish(&txq, 0, 1);
	return virtio_wait_used(&txq, SPINS, &id, &used_len);
}

/* The frame at TXFRAME behind a header of its own descriptor. */
static int
send_frame(uint32_t len)
{
	uint32_t id, used_len;

	memset((void *)TXHDR, 0, HDR_LEN);
	virtio_desc(&txq, 0, TXHDR, HDR_LEN, F_NEXT, 1);
	virtio_desc(&txq, 1, TXFRAME, len, 0, 0);
	virtio_publish(&txq, 0, 1);
	return virtio_wait_used(&txq, SPINS, &id, &used_len);
}

static int
send_arp_request(void)
{
	return send_frame((uint32_t)eth_arp_request((uint8_t *)TXFRAME, &addrs));
}

static int
send_echo(unsigned seq, int payload)
{
	return send_frame((uint32_t)eth_echo_request((uint8_t *)TXFRAME, &addrs,
	    seq, payload));
}

/* Receives frames until one is the ARP reply (seq 0) or the echo reply
 * seq: 1 when it came first, 2 when others came before it, 0 when it did
 * not come.  The header of each frame must be zero but num_buffers 1. */
static int
await_reply(unsigned seq, int payload)
{
	for (int frames = 0; frames < 64; frames++) {
		uint32_t id, len;
		const uint8_t *f;
		int hit;

		if (virtio_wait_used(&rxq, SPINS, &id, &len) != 0 || id >= QSZ ||
		    len < HDR_LEN)
			return 0;
		f = (const uint8_t *)RXBUF(id);
		if (!eth_same(f, (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\1\0",
		    HDR_LEN))
			serial_puts("receive header not zero with num_buffers 1\n");
		hit = seq == 0 ? eth_is_arp_reply(f + HDR_LEN, len - HDR_LEN,
		    &addrs) : eth_is_echo_reply(f + HDR_LEN, len - HDR_LEN,
		    &addrs, seq, payload);
		post_rx((int)id, rx_len, 1);
		if (hit)
			return frames == 0 ? 1 : 2;
	}
	return 0;
}

static int
ping(unsigned seq, int payload)
{
	return send_echo(seq, payload) == 0 && await_reply(seq, payload) != 0;
}

static int
arp(void)
{
	return send_arp_request() == 0 && await_reply(0, 0) != 0;
}

static void
put_mac(void)
{
	serial_puts("mac ");
	for (int i = 0; i < 6; i++) {
		serial_putc("0123456789abcdef"[addrs.mac[i] >> 4]);
		serial_putc("0123456789abcdef"[addrs.mac[i] & 15]);
		serial_putc(i < 5 ? ':' : '\n');
	}
}

/* "key=A.B.C.D" from the command line into ip; 0 if found. */
static int
cmdline_ip(const char *key, uint8_t ip[4])
{
	const char *s = cmdline();

	for (; *s != '\0'; s++) {
		const char *k = key, *p = s;

		while (*k != '\0' && *p == *k) {
			p++;
			k++;
		}
		if (*k != '\0' || *p != '=' || (s != cmdline() && s[-1] != ' '))
			continue;
		for (int i = 0; i < 4; i++) {
			unsigned v = 0;
			int digits = 0;

			for (p++; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
				v = v * 10 + (unsigned)(*p - '0');
			if (digits == 0 || v > 255 ||
			    (i < 3 ? *p != '.' : *p != ' ' && *p != '\0'))
				return -1;
			ip[i] = (uint8_t)v;
		}
		return 0;
	}
	return -1;
}

static void
check_device(void)
{
	uint16_t status = *(volatile uint16_t *)(dev + R_CONFIG + 6);

	guest_check("features MAC and STATUS offered",
	    (dev_features & (1U << NET_F_MAC)) &&
	    (dev_features & (1U << NET_F_STATUS)));
	put_mac();
	guest_check("MAC is unicast", !(addrs.mac[0] & 1));
	guest_check("link up", status & 1);
}

static void
check_backpressure(void)
{
	guest_check("ARP request sent", send_arp_request() == 0);
	settle();			/* the reply is in the tap by now */
	for (int i = 0; i < QSZ; i++)
		post_rx(i, RXBUF_LEN, i == QSZ - 1);
	guest_check("ARP reply kept while no receive buffer was posted",
	    await_reply(0, 0) != 0);
}

static void
check_echo(void)
{
	guest_check("echo 1", ping(1, 56));
	guest_check("echo 2", ping(2, 56));
	guest_check("echo of 1400 bytes", ping(3, 1400));
}

static void
check_restored(void)
{
	uint32_t restores = inl(CKPT_PORT);

	serial_puts("restores ");
	put_dec(restores);
	serial_putc('\n');
	if (restores == 0)
		return;
	read_mac();
	put_mac();
	guest_check("ARP after restore", arp());
	guest_check("echo after restore", ping(20, 56));
}

static void
check_rx_too_big(void)
{
	guest_check("set-up with one small buffer", setup(1, SMALL_BUF) == 0);
	guest_check("large echo sent", send_echo(30, 1000) == 0);
	settle();
	guest_check("ARP sent", send_arp_request() == 0);
	guest_check("reply larger than the buffer dropped, buffer kept",
	    await_reply(0, 0) == 1);
}

static void
check_tx_drops(void)
{
	guest_check("set-up", setup(QSZ, RXBUF_LEN) == 0);
	guest_check("chain shorter than a header taken back",
	    send_raw(TXHDR, HDR_LEN - 1) == 0);
	guest_check("frame over 65550 bytes taken back",
	    send_raw(BIG, HDR_LEN + MAX_FRAME + 1) == 0);
	guest_check("echo after dropped frames", ping(40, 56));
}

static void
check_hostile(void)
{
	uint32_t id, len;

	virtio_desc(&txq, 0, TXHDR, HDR_LEN, F_NEXT, 0);	/* a loop */
	virtio_publish(&txq, 0, 1);
	guest_check("descriptor loop stops the device",
	    virtio_wait_used(&txq, SPINS, &id, &len) == -2);
	guest_check("reset and set-up again", setup(QSZ, RXBUF_LEN) == 0);
	guest_check("ARP after reset", arp());
	guest_check("set-up without buffers", setup(0, RXBUF_LEN) == 0);
	post_rx(0, HDR_LEN - 8, 1);
	guest_check("receive buffer smaller than a header stops the device",
	    virtio_wait_needs_reset(dev, SPINS) == 0);
}

int
main(void)
{
	if ((dev = virtio_find(1)) == 0) {
		serial_puts("no virtio-net device\n");
		return 100;
	}
	if (cmdline_ip("ip", addrs.ip) == -1 ||
	    cmdline_ip("peer", addrs.peer_ip) == -1) {
		serial_puts("ip=A.B.C.D and peer=A.B.C.D are required\n");
		return 101;
	}
	guest_check("device set-up", setup(0, RXBUF_LEN) == 0);
	check_device();
	check_backpressure();
	check_echo();
	if (cmdline_int("ckpt", 0) == 1) {
		outl(CKPT_PORT, 1);
		check_restored();
		return guest_failures;
	}
	check_rx_too_big();
	check_tx_drops();
	check_hostile();
	return guest_failures;
}
