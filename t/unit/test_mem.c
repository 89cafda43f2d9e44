/* Guest memory bounds: no range outside RAM is ever handed out. */
#include <stdint.h>

#include "mem.h"
#include "unit.h"

static void
test_bounds(void)
{
	struct mem m;
	uint64_t end = 16ULL << 20;
	uint8_t buf[8];

	CHECK_EQ(mem_create(&m, 16), 0);
	CHECK(mem_ptr(&m, 0, end) != NULL);
	CHECK(mem_ptr(&m, end - 8, 8) != NULL);
	CHECK(mem_ptr(&m, end - 8, 9) == NULL);
	CHECK(mem_ptr(&m, end, 1) == NULL);
	CHECK(mem_ptr(&m, UINT64_MAX - 3, 8) == NULL);
	CHECK(mem_ptr(&m, 8, UINT64_MAX) == NULL);
	CHECK_EQ(mem_read(&m, end - 4, buf, 8), -1);
	CHECK_EQ(mem_write(&m, 0x1000, "abcdefgh", 8), 0);
	CHECK_EQ(mem_read(&m, 0x1000, buf, 8), 0);
	CHECK_EQ(buf[7], 'h');
	mem_destroy(&m);
}

static void
test_hole(void)
{
	struct mem m;

	CHECK_EQ(mem_create(&m, 4096), 0);
	CHECK_EQ(m.nregions, 2);
	CHECK(mem_ptr(&m, MEM_HOLE_START - 1, 1) != NULL);
	CHECK(mem_ptr(&m, MEM_HOLE_START - 1, 2) == NULL);
	CHECK(mem_ptr(&m, MEM_HOLE_START, 1) == NULL);
	CHECK(mem_ptr(&m, 0xfee00000, 4) == NULL);
	CHECK(mem_ptr(&m, MEM_HOLE_END, 4096) != NULL);
	CHECK(mem_ptr(&m, MEM_HOLE_END + (1ULL << 30) - 1, 1) != NULL);
	CHECK(mem_ptr(&m, MEM_HOLE_END + (1ULL << 30), 1) == NULL);
	mem_destroy(&m);
}

static void
test_sizes(void)
{
	struct mem m;

	CHECK_EQ(mem_create(&m, MEM_MIN_MIB - 1), -1);
	CHECK_EQ(mem_create(&m, MEM_MAX_MIB + 1), -1);
}

static const struct unit_test tests[] = {
	{ "mem: accessors refuse ranges outside RAM", test_bounds },
	{ "mem: the MMIO hole is not RAM", test_hole },
	{ "mem: sizes outside the limits are refused", test_sizes },
};

UNIT_MAIN(tests)
