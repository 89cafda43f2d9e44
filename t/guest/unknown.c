/*
 * Executes lock cmpxchg16b, an instruction that the emulator of the
 * development hosts cannot run and that vmrun does not complete either:
 * vmrun is expected to report it and exit 70.  A host that runs guest
 * kernel code natively gets past it; then the guest says so and exits 42.
 */
#include "guest.h"

static struct {
	uint64_t lo, hi;
} cell __attribute__((aligned(16))) = { 1, 2 };

int
main(void)
{
	uint64_t lo = 1, hi = 2;

	/* RDX:RAX equals the cell, so RCX:RBX is stored and ZF set. */
	__asm__ volatile("lock cmpxchg16b %0"
	    : "+m"(cell), "+a"(lo), "+d"(hi)
	    : "b"((uint64_t)3), "c"((uint64_t)4)
	    : "cc", "memory");
	serial_puts("cmpxchg16b ran natively\n");
	return 42;
}
