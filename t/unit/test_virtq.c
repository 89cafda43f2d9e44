/* Split virtqueues against hostile rings: checked, refused, never trusted. */
#include <string.h>

#include "virtq.h"
#include "unit.h"

#define DESC	0x10000
#define AVAIL	0x11000
#define USED	0x12000
#define QSIZE	8

static struct mem m;
static struct virtq_chain chain;

static void
desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mem_write(&m, DESC + 16ULL * i, d, 16);
}

/* Publishes head as avail entry number idx (and the index idx + 1). */
static void
offer(uint16_t idx, uint16_t head)
{
	uint16_t next = (uint16_t)(idx + 1);

	mem_write(&m, AVAIL + 4 + 2 * (idx % QSIZE), &head, 2);
	mem_write(&m, AVAIL + 2, &next, 2);
}

static struct virtq_state
fresh(void)
{
	uint8_t zero[4096] = { 0 };

	mem_write(&m, DESC, zero, sizeof(zero));
	mem_write(&m, AVAIL, zero, sizeof(zero));
	mem_write(&m, USED, zero, sizeof(zero));
	return (struct virtq_state){ .desc = DESC, .avail = AVAIL, .used = USED,
	    .size = QSIZE, .ready = 1 };
}

static void
test_round_trip(void)
{
	struct virtq_state q = fresh();
	char got[16] = "";
	uint16_t used_idx;
	uint32_t elem[2];

	CHECK_EQ(virtq_pop(&q, &m, &chain), 0);
	mem_write(&m, 0x20000, "hello, ", 7);
	mem_write(&m, 0x30000, "world", 5);
	desc(3, 0x20000, 7, VIRTQ_DESC_F_NEXT, 5);
	desc(5, 0x30000, 5, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x40000, 100, VIRTQ_DESC_F_WRITE, 0);
	offer(0, 3);
	CHECK_EQ(virtq_pop(&q, &m, &chain), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.n, 3);
	CHECK_EQ(chain.out_len, 12);
	CHECK_EQ(chain.in_len, 100);
	CHECK_EQ(virtq_read(&m, &chain, 5, got, 5), 5);
	CHECK(memcmp(got, ", wor", 5) == 0);
	CHECK_EQ(virtq_write(&m, &chain, 98, "xyz", 3), 2);	/* clipped */
	CHECK_EQ(virtq_push(&q, &m, chain.head, 42), 0);
	mem_read(&m, USED + 2, &used_idx, 2);
	mem_read(&m, USED + 4, elem, 8);
	CHECK_EQ(used_idx, 1);
	CHECK_EQ(elem[0], 3);
	CHECK_EQ(elem[1], 42);
	CHECK_EQ(virtq_pop(&q, &m, &chain), 0);
}

static void
test_hostile(void)
{
	struct virtq_state q;

	q = fresh();				/* a loop: 0 -> 1 -> 0 */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x20000, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* head out of range */
	offer(0, QSIZE);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* next out of range */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT, 200);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* buffer past the end of RAM */
	desc(0, (16 << 20) - 4, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* address + length wraps */
	desc(0, ~0ULL - 2, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* readable after writable */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, 0x20000, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* indirect, not negotiated */
	desc(0, 0x20000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);

	q = fresh();				/* avail index far ahead */
	offer(40, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);
}

static void
test_setup_checks(void)
{
	struct virtq_state q = fresh();

	q.ready = 0;
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);
	q = fresh();
	q.size = 6;				/* not a power of two */
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.desc = DESC + 8;			/* misaligned */
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.used = (16 << 20) - 8;		/* ring runs off the end */
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.avail = MEM_HOLE_START;
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	CHECK(virtq_valid(&q, &m));
}

/* Rings over each other let the device's writes feed its own work. */
static void
test_ring_overlap(void)
{
	struct virtq_state q = fresh();

	q.used = q.avail;			/* the reported case */
	CHECK(!virtq_valid(&q, &m));
	CHECK(virtq_check(&q, &m) != NULL &&
	    strstr(virtq_check(&q, &m), "used ring overlaps the available") != NULL);
	q = fresh();
	q.used = AVAIL + 4 + 2 * QSIZE - 4;	/* the last bytes of avail */
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.used = (AVAIL + 6 + 2 * QSIZE + 3) & ~3;	/* just after it */
	CHECK(virtq_valid(&q, &m));
	q = fresh();
	q.avail = DESC + 16 * QSIZE - 2;	/* last descriptor's tail */
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.used = DESC;
	CHECK(!virtq_valid(&q, &m));
	q = fresh();
	q.used = DESC - 8;			/* runs into the descriptors */
	CHECK(!virtq_valid(&q, &m));
	q.used = DESC - (6 + 8 * QSIZE) - 2;	/* ends just before them */
	q.used &= ~3ULL;
	CHECK(virtq_valid(&q, &m));
	q = fresh();				/* wraps around the address space */
	q.used = ~0ULL - 15;
	CHECK(!virtq_valid(&q, &m));
}

/* Buffers may overlap, so a chain can name more bytes than the guest
 * has: 5 x 1 GiB in a 1 GiB guest.  The 32-bit sums must not wrap. */
static void
test_length_overflow(void)
{
	static struct mem big;
	struct mem keep = m;
	struct virtq_state q;

	if (big.base == NULL)
		CHECK_EQ(mem_create(&big, 1024), 0);
	m = big;
	q = fresh();
	for (uint16_t i = 0; i < 5; i++)
		desc(i, 0, 1U << 30, VIRTQ_DESC_F_WRITE |
		    (i < 4 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);
	q = fresh();				/* readable side, 4 GiB exactly */
	for (uint16_t i = 0; i < 4; i++)
		desc(i, 0, 1U << 30, i < 3 ? VIRTQ_DESC_F_NEXT : 0,
		    (uint16_t)(i + 1));
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), -1);
	q = fresh();				/* just under 4 GiB: taken */
	for (uint16_t i = 0; i < 4; i++)
		desc(i, 0, i < 3 ? 1U << 30 : (1U << 30) - 1,
		    i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain), 1);
	CHECK_EQ(chain.out_len, 0xffffffffULL);
	m = keep;
}

static void
test_interrupt_suppression(void)
{
	struct virtq_state q = fresh();
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	CHECK(virtq_want_interrupt(&q, &m));
	mem_write(&m, AVAIL, &flags, 2);
	CHECK(!virtq_want_interrupt(&q, &m));
}

static void
setup_mem(void)
{
	if (m.base == NULL)
		mem_create(&m, 16);
}

static void test_a(void) { setup_mem(); test_round_trip(); }
static void test_b(void) { setup_mem(); test_hostile(); }
static void test_c(void) { setup_mem(); test_setup_checks(); }
static void test_d(void) { setup_mem(); test_interrupt_suppression(); }
static void test_e(void) { setup_mem(); test_ring_overlap(); }
static void test_f(void) { setup_mem(); test_length_overflow(); }

static const struct unit_test tests[] = {
	{ "virtq: a chain round trip, copies across buffers", test_a },
	{ "virtq: loops, bad indices, bad buffers are refused", test_b },
	{ "virtq: queue set-up is validated", test_c },
	{ "virtq: interrupt suppression flag is honoured", test_d },
	{ "virtq: rings over each other are refused", test_e },
	{ "virtq: a chain's byte counts cannot wrap 32 bits", test_f },
};

UNIT_MAIN(tests)
