/* MP tables: signatures, checksums and entries Linux will parse. */
#include <string.h>

#include "mptable.h"
#include "unit.h"

static uint8_t
sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n-- > 0)
		s = (uint8_t)(s + *p++);
	return s;
}

static void
test_tables(void)
{
	uint8_t buf[MPTABLE_MAX_BYTES];

	for (int ncpus = 1; ncpus <= 8; ncpus++) {
		int n = mptable_build(buf, sizeof(buf), 0x9fc00, ncpus);
		const uint8_t *hdr = buf + 16;
		unsigned len = (unsigned)(hdr[4] | hdr[5] << 8);
		unsigned count = (unsigned)(hdr[34] | hdr[35] << 8);
		unsigned procs = 0, ioapics = 0, at = 44;

		CHECK(n > 0);
		CHECK(memcmp(buf, "_MP_", 4) == 0);
		CHECK_EQ(sum(buf, 16), 0);
		CHECK_EQ(buf[4] | buf[5] << 8 | buf[6] << 16 | (unsigned)buf[7] << 24,
		    0x9fc10);
		CHECK(memcmp(hdr, "PCMP", 4) == 0);
		CHECK_EQ(len + 16, (unsigned)n);
		CHECK_EQ(sum(hdr, len), 0);
		for (unsigned i = 0; i < count && at < len; i++) {
			procs += hdr[at] == 0;
			ioapics += hdr[at] == 2;
			if (hdr[at] == 0)
				CHECK_EQ(hdr[at + 3] & 2, hdr[at + 1] == 0 ? 2 : 0);
			at += hdr[at] == 0 ? 20 : 8;
		}
		CHECK_EQ(at, len);
		CHECK_EQ(procs, ncpus);
		CHECK_EQ(ioapics, 1);
	}
}

static void
test_limits(void)
{
	uint8_t small[100];

	CHECK_EQ(mptable_build(small, sizeof(small), 0, 8), -1);
	CHECK_EQ(mptable_build(small, sizeof(small), 0, 0), -1);
}

static const struct unit_test tests[] = {
	{ "mptable: checksums, processors, IOAPIC for 1..8 vCPUs", test_tables },
	{ "mptable: refuses a buffer too small or no CPUs", test_limits },
};

UNIT_MAIN(tests)
