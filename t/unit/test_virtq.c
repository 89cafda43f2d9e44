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

static uint16_t
used_idx_now(void)
{
	uint16_t idx;

	mem_read(&m, USED + 2, &idx, 2);
	return idx;
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

	CHECK_EQ(virtq_pop(&q, &m, &chain, false), 0);
	mem_write(&m, 0x20000, "hello, ", 7);
	mem_write(&m, 0x30000, "world", 5);
	desc(3, 0x20000, 7, VIRTQ_DESC_F_NEXT, 5);
	desc(5, 0x30000, 5, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x40000, 100, VIRTQ_DESC_F_WRITE, 0);
	offer(0, 3);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.n, 3);
	CHECK_EQ(chain.out_len, 12);
	CHECK_EQ(chain.in_len, 100);
	CHECK_EQ(virtq_read(&m, &chain, 5, got, 5), 5);
	CHECK(memcmp(got, ", wor", 5) == 0);
	CHECK_EQ(virtq_write(&m, &chain, 98, "xyz", 3), 2);	/* clipped */
	CHECK_EQ(virtq_push(&q, &m, chain.head, 42), 0);
	CHECK_EQ(used_idx_now(), 0);		/* not published yet */
	CHECK(virtq_flush(&q, &m, false));
	mem_read(&m, USED + 2, &used_idx, 2);
	mem_read(&m, USED + 4, elem, 8);
	CHECK_EQ(used_idx, 1);
	CHECK_EQ(elem[0], 3);
	CHECK_EQ(elem[1], 42);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), 0);
}

static void
test_hostile(void)
{
	struct virtq_state q;

	q = fresh();				/* a loop: 0 -> 1 -> 0 */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x20000, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* head out of range */
	offer(0, QSIZE);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* next out of range */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT, 200);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* buffer past the end of RAM */
	desc(0, (16 << 20) - 4, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* address + length wraps */
	desc(0, ~0ULL - 2, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* readable after writable */
	desc(0, 0x20000, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, 0x20000, 8, 0, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* indirect, not negotiated */
	desc(0, 0x20000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);

	q = fresh();				/* avail index far ahead */
	offer(40, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);
}

static void
test_setup_checks(void)
{
	struct virtq_state q = fresh();

	q.ready = 0;
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);
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
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);
	q = fresh();				/* readable side, 4 GiB exactly */
	for (uint16_t i = 0; i < 4; i++)
		desc(i, 0, 1U << 30, i < 3 ? VIRTQ_DESC_F_NEXT : 0,
		    (uint16_t)(i + 1));
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), -1);
	q = fresh();				/* just under 4 GiB: taken */
	for (uint16_t i = 0; i < 4; i++)
		desc(i, 0, i < 3 ? 1U << 30 : (1U << 30) - 1,
		    i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	offer(0, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), 1);
	CHECK_EQ(chain.out_len, 0xffffffffULL);
	m = keep;
}

/* n used elements pushed: the driver sees none of them before the flush. */
static void
push_n(struct virtq_state *q, int n)
{
	for (int i = 0; i < n; i++)
		CHECK_EQ(virtq_push(q, &m, 0, 0), 0);
}

static void
set_used_event(uint16_t ev)
{
	mem_write(&m, AVAIL + 4 + 2 * QSIZE, &ev, 2);
}

static uint16_t
avail_event(void)
{
	uint16_t ev;

	mem_read(&m, USED + 4 + 8 * QSIZE, &ev, 2);
	return ev;
}

static void
test_interrupt_suppression(void)
{
	struct virtq_state q = fresh();
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	CHECK(!virtq_flush(&q, &m, false));	/* nothing to publish */
	push_n(&q, 1);
	CHECK(virtq_flush(&q, &m, false));
	CHECK(!virtq_flush(&q, &m, false));
	mem_write(&m, AVAIL, &flags, 2);
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, false));
	CHECK_EQ(used_idx_now(), 2);		/* published all the same */
}

/* Elements pushed in one pass are published by one store of the index,
 * and cost the driver one interrupt. */
static void
test_batch(void)
{
	struct virtq_state q = fresh();

	push_n(&q, 5);
	CHECK_EQ(used_idx_now(), 0);
	CHECK(virtq_flush(&q, &m, false));
	CHECK_EQ(used_idx_now(), 5);
	CHECK(!virtq_flush(&q, &m, false));
	push_n(&q, 3);				/* used_event 0 was passed */
	CHECK(!virtq_flush(&q, &m, true));
	CHECK_EQ(used_idx_now(), 8);
}

/* With EVENT_IDX the driver's used_event alone decides: an interrupt when
 * the published index passes it, whatever the flags say. */
static void
test_used_event(void)
{
	struct virtq_state q = fresh();
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	set_used_event(2);
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, true));	/* 0 -> 1 */
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, true));	/* 1 -> 2 */
	push_n(&q, 1);
	CHECK(virtq_flush(&q, &m, true));	/* 2 -> 3: entry 2 is out */
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, true));	/* 3 -> 4, 2 is behind */
	mem_write(&m, AVAIL, &flags, 2);
	set_used_event(5);
	push_n(&q, 4);
	CHECK(virtq_flush(&q, &m, true));	/* 4 -> 8 passes 5 */
	CHECK_EQ(used_idx_now(), 8);
	flags = 0;
	mem_write(&m, AVAIL, &flags, 2);
	set_used_event(100);
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, true));	/* the flag would say yes */
}

/* The 16-bit indexes wrap: 0xfffe -> 0x0001 passes 0xffff and 0, not 1. */
static void
test_used_event_wrap(void)
{
	static const struct { uint16_t ev; bool want; } c[] = {
		{ 0xfffd, false }, { 0xfffe, true }, { 0xffff, true },
		{ 0x0000, true }, { 0x0001, false }, { 0x8000, false },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct virtq_state q = fresh();
		uint16_t start = 0xfffe;

		q.next_used = start;
		mem_write(&m, USED + 2, &start, 2);
		set_used_event(c[i].ev);
		push_n(&q, 3);
		CHECK_EQ(virtq_flush(&q, &m, true), c[i].want);
		CHECK_EQ(used_idx_now(), 1);
	}
	CHECK(virtq_need_event(0xffff, 0, 0xffff));
	CHECK(!virtq_need_event(0, 0, 0xffff));
	CHECK(!virtq_need_event(7, 7, 7));	/* nothing moved */
	CHECK(virtq_need_event(7, 0x8000, 0));	/* half the space */
}

/* With EVENT_IDX the device, once the queue is empty, asks for a
 * notification at the next entry; without it, avail_event is not its. */
static void
test_avail_event(void)
{
	struct virtq_state q = fresh();
	uint16_t mark = 0xabcd;

	mem_write(&m, USED + 4 + 8 * QSIZE, &mark, 2);
	CHECK_EQ(virtq_pop(&q, &m, &chain, false), 0);
	CHECK_EQ(avail_event(), 0xabcd);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 0);
	CHECK_EQ(avail_event(), 0);
	desc(0, 0x20000, 8, 0, 0);
	offer(0, 0);
	offer(1, 0);
	mem_write(&m, USED + 4 + 8 * QSIZE, &mark, 2);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 1);
	CHECK_EQ(avail_event(), 0xabcd);	/* not while there is work */
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 1);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 0);
	CHECK_EQ(avail_event(), 2);
	q.last_avail = 0xffff;			/* its index wraps too */
	q.next_used = 0xffff;
	offer(0xfffe, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 0);
	CHECK_EQ(avail_event(), 0xffff);
}

/* What a guest writes where the device reads is used only as a number:
 * the event words, a scribbled used index, a ring at the end of memory. */
static void
test_event_hostile(void)
{
	struct virtq_state q = fresh();
	uint16_t junk = 0x7777;

	for (uint32_t ev = 0; ev <= 0xffff; ev += 0x1111) {
		set_used_event((uint16_t)ev);
		push_n(&q, 1);
		(void)virtq_flush(&q, &m, true);
		CHECK_EQ(used_idx_now(), q.next_used);
	}
	mem_write(&m, USED + 2, &junk, 2);	/* the driver's scribble */
	push_n(&q, 1);
	(void)virtq_flush(&q, &m, true);
	CHECK_EQ(used_idx_now(), q.next_used);	/* the device's index wins */
	q = fresh();				/* avail far ahead, armed */
	offer(40, 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), -1);
	q = fresh();
	q.ready = 0;				/* no queue: nothing touched */
	push_n(&q, 1);
	CHECK(!virtq_flush(&q, &m, true));
	CHECK_EQ(used_idx_now(), 0);
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), -1);
	q = fresh();				/* used_event is the last word */
	q.avail = (16 << 20) - (6 + 2 * QSIZE);
	CHECK(virtq_valid(&q, &m));
	q.avail += 2;				/* used_event past the end */
	CHECK(!virtq_valid(&q, &m));
	CHECK(!virtq_flush(&q, &m, true));
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), -1);
	q = fresh();				/* avail_event is the last word */
	q.used = (16 << 20) - (6 + 8 * QSIZE) - 2;
	CHECK(virtq_valid(&q, &m));
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), 0);
	q.used += 4;				/* avail_event past the end */
	CHECK(!virtq_valid(&q, &m));
	CHECK_EQ(virtq_pop(&q, &m, &chain, true), -1);
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
static void test_g(void) { setup_mem(); test_batch(); }
static void test_h(void) { setup_mem(); test_used_event(); }
static void test_i(void) { setup_mem(); test_used_event_wrap(); }
static void test_j(void) { setup_mem(); test_avail_event(); }
static void test_k(void) { setup_mem(); test_event_hostile(); }

static const struct unit_test tests[] = {
	{ "virtq: a chain round trip, copies across buffers", test_a },
	{ "virtq: loops, bad indices, bad buffers are refused", test_b },
	{ "virtq: queue set-up is validated", test_c },
	{ "virtq: interrupt suppression flag is honoured, used index still published", test_d },
	{ "virtq: rings over each other are refused", test_e },
	{ "virtq: a chain's byte counts cannot wrap 32 bits", test_f },
	{ "virtq: a pass's used elements are published at once, one interrupt", test_g },
	{ "virtq: with EVENT_IDX, an interrupt only when used_event is passed", test_h },
	{ "virtq: used_event across the 16-bit wrap", test_i },
	{ "virtq: with EVENT_IDX, an empty queue sets avail_event", test_j },
	{ "virtq: hostile event words and used index, rings at the end of RAM", test_k },
};

UNIT_MAIN(tests)
