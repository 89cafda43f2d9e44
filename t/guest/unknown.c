/* An instruction the host's emulator fails on and vmrun does not know. */
#include "guest.h"

static uint64_t pair[2] __attribute__((aligned(16)));

int
main(void)
{
	uint64_t lo = 0, hi = 0;

	__asm__ volatile("lock cmpxchg16b (%%rdi)"
	    : "+a"(lo), "+d"(hi) : "D"(pair), "b"(1ULL), "c"(2ULL) : "memory");
	puts_("cmpxchg16b ran natively\n");
	return 42;
}
