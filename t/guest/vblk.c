/*
 * A polling virtio-mmio block driver for the first drive (0xd0000000):
 * read, write, flush, get-id, a read past the end, and two malformed
 * requests after which the device must ask for a reset.  Prints "ok NAME"
 * or "FAIL NAME" per check and exits with the number of failures.
 *
 * With spin=1 it attacks the device instead (issue 14): it fails the
 * device again and again, clearing NEEDS_RESET without a reset each time,
 * until the queue's counters are QSZ apart, then puts the used ring over
 * the available ring, so that each used index the device publishes offers
 * it another request.  A device that let it do all that spins for ever.
 * It prints "ring loop made", reads the status register (which blocks
 * while a spinning device holds its lock) and halts: the VM must still
 * stop on SIGTERM.
 */
#include "guest.h"

#define MMIO		0xd0000000UL
#define QSZ		8
#define DESC		0x30000UL
#define AVAIL		0x31000UL
#define USED		0x32000UL
#define HDR		0x33000UL
#define DATA		0x34000UL
#define STATUS		0x35000UL
#define F_NEXT		1
#define F_WRITE		2
#define T_IN		0
#define T_OUT		1
#define T_FLUSH		4
#define T_GET_ID	8
#define NEEDS_RESET	0x40

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint16_t avail_idx;
static uint32_t dev_features;
static volatile uint32_t *
reg(unsigned off)
{
	return (volatile uint32_t *)(MMIO + off);
}

static int
setup(void)
{
	memset((void *)DESC, 0, 0x3000);
	avail_idx = 0;
	*reg(0x70) = 0;
	*reg(0x70) = 1 | 2;
	*reg(0x14) = 0;
	dev_features = *reg(0x10);
	*reg(0x24) = 1;
	*reg(0x20) = 1;				/* VIRTIO_F_VERSION_1 */
	*reg(0x24) = 0;
	*reg(0x20) = 0;
	*reg(0x70) = 1 | 2 | 8;
	if (!(*reg(0x70) & 8))
		return -1;
	*reg(0x30) = 0;
	if (*reg(0x34) < QSZ)
		return -1;
	*reg(0x38) = QSZ;
	*reg(0x80) = DESC; *reg(0x84) = 0;
	*reg(0x90) = AVAIL; *reg(0x94) = 0;
	*reg(0xa0) = USED; *reg(0xa4) = 0;
	*reg(0x44) = 1;
	*reg(0x70) = 1 | 2 | 8 | 4;
	return 0;
}

static void
set_desc(int i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	volatile struct desc *d = (volatile struct desc *)DESC + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Publishes chain head 0 and waits for the device; -1 on timeout. */
static int
kick(void)
{
	volatile uint16_t *avail = (volatile uint16_t *)AVAIL;
	volatile uint16_t *used = (volatile uint16_t *)USED;

	avail[2 + avail_idx % QSZ] = 0;
	__asm__ volatile("" ::: "memory");
	avail[1] = ++avail_idx;
	*reg(0x50) = 0;
	for (long i = 0; i < 3000000; i++) {
		if (used[1] == avail_idx)
			return *(volatile uint8_t *)STATUS;
		if (*reg(0x70) & NEEDS_RESET)
			return -2;
		__asm__ volatile("pause");
	}
	return -1;
}

static int
request(uint32_t type, uint64_t sector, uint32_t len)
{
	volatile uint32_t *h = (volatile uint32_t *)HDR;

	h[0] = type;
	h[1] = 0;
	*(volatile uint64_t *)(HDR + 8) = sector;
	*(volatile uint8_t *)STATUS = 0xff;
	set_desc(0, HDR, 16, F_NEXT, 1);
	if (len == 0) {
		set_desc(1, STATUS, 1, F_WRITE, 0);
	} else {
		set_desc(1, DATA, len, F_NEXT | (type == T_OUT ? 0 : F_WRITE), 2);
		set_desc(2, STATUS, 1, F_WRITE, 0);
	}
	return kick();
}

static int
starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

static void
io_checks(int read_only)
{
	guest_check("device set-up", setup() == 0);
	guest_check("read-only feature matches", !!(dev_features & (1 << 5)) == read_only);
	guest_check("read sector 0", request(T_IN, 0, 512) == 0);
	serial_puts("sector 0: ");
	serial_puts((const char *)DATA);
	serial_putc('\n');
	guest_check("sector 0 content", starts_with((const char *)DATA, "snapvm disk"));
	memcpy((void *)DATA, "written by guest", 17);
	guest_check(read_only ? "write refused" : "write sector 2",
	    request(T_OUT, 2, 512) == (read_only ? 1 : 0));
	memset((void *)DATA, 0, 512);
	guest_check("read sector 2 back", request(T_IN, 2, 512) == 0 &&
	    starts_with((const char *)DATA, read_only ? "" : "written by guest"));
	guest_check(read_only ? "flush unsupported" : "flush",
	    request(T_FLUSH, 0, 0) == (read_only ? 2 : 0));
	memset((void *)DATA, 0, 32);
	guest_check("get-id", request(T_GET_ID, 0, 20) == 0 &&
	    starts_with((const char *)DATA, "snapvm-vda"));
	guest_check("read past the end refused", request(T_IN, 128, 512) == 1);
	guest_check("odd length refused", request(T_IN, 0, 100) == 1);
}

static void
hostile_checks(void)
{
	set_desc(0, HDR, 16, F_NEXT, 0);		/* a loop */
	guest_check("descriptor loop stops the device", kick() == -2);
	guest_check("reset and set-up again", setup() == 0);
	guest_check("read after reset", request(T_IN, 0, 512) == 0);
	set_desc(0, 0x7ff000000ULL, 16, F_NEXT, 1);	/* outside RAM */
	guest_check("buffer outside RAM stops the device", kick() == -2);
}

/* Publishes chain head as the next available entry and notifies. */
static void
offer(uint16_t head)
{
	volatile uint16_t *avail = (volatile uint16_t *)AVAIL;

	avail[2 + avail_idx % QSZ] = head;
	__asm__ volatile("" ::: "memory");
	avail[1] = ++avail_idx;
	*reg(0x50) = 0;
}

static int
wait_needs_reset(void)
{
	for (long i = 0; i < 100000; i++)
		if (*reg(0x70) & NEEDS_RESET)
			return 0;
	return -1;
}

static void
spin_attack(void)
{
	volatile uint32_t *h = (volatile uint32_t *)HDR;
	int stuck = 1;

	guest_check("device set-up", setup() == 0);
	h[0] = 99;				/* no such request: UNSUPP */
	set_desc(0, HDR, 16, F_NEXT, 2);	/* heads 0 and 1: fine */
	set_desc(1, HDR, 16, F_NEXT, 2);
	set_desc(2, STATUS, 1, F_WRITE, 0);
	set_desc(3, STATUS, 1, F_WRITE, 0);	/* head 3: no header */
	for (long i = 0; i < 65536 - QSZ; i++) {
		*reg(0x70) = 1 | 2 | 8 | 4;	/* "clear" NEEDS_RESET */
		if (i == 1)
			stuck = (*reg(0x70) & NEEDS_RESET) != 0;
		offer(3);
		wait_needs_reset();
	}
	guest_check("NEEDS_RESET stays until a reset", stuck);
	*reg(0x44) = 0;				/* queue off, rings moved */
	*reg(0xa0) = AVAIL;
	*reg(0x44) = 1;
	*reg(0x70) = 1 | 2 | 8 | 4;
	offer(0);
	serial_puts("ring loop made\n");
	guest_check("the device stays stopped", (*reg(0x70) & NEEDS_RESET) != 0);
	serial_puts("halting\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

int
main(void)
{
	if (*reg(0) != 0x74726976 || *reg(4) != 2 || *reg(8) != 2) {
		serial_puts("no virtio-mmio block device at 0xd0000000\n");
		return 100;
	}
	if (cmdline_int("spin", 0))
		spin_attack();
	io_checks(cmdline_int("ro", 0));
	hostile_checks();
	return guest_failures;
}
