/*
 * Starts the application processors the PC way (INIT, SIPI, SIPI through
 * the local APIC) and counts those that reach C.  Exits with the number
 * of processors running; cpus=N on the command line says how many to wait
 * for.
 */
#include "guest.h"

#define TRAMP		0x8000
#define LAPIC_ICR_LO	0xfee00300UL
#define LAPIC_ICR_HI	0xfee00310UL
#define ICR_BUSY	(1U << 12)
#define ICR_INIT	0x000c4500U	/* all but self, INIT, assert */
#define ICR_SIPI	0x000c4600U	/* all but self, start-up */

extern const char tramp_start[], tramp_end[], tramp_gdtr[], tramp_cr3[],
    tramp_entry[];
static volatile uint32_t cpus_up;

static void
ap_main(void)
{
	__atomic_add_fetch(&cpus_up, 1, __ATOMIC_SEQ_CST);
}

static void
icr(uint32_t low)
{
	volatile uint32_t *lo = (volatile uint32_t *)LAPIC_ICR_LO;

	*(volatile uint32_t *)LAPIC_ICR_HI = 0;
	*lo = low;
	while (*lo & ICR_BUSY)
		;
}

static void
tramp_install(void)
{
	char *t = (char *)TRAMP;
	uint64_t cr3, entry = (uint64_t)(uintptr_t)ap_main;

	memcpy(t, tramp_start, (size_t)(tramp_end - tramp_start));
	__asm__ volatile("sgdt %0" : "=m"(*(t + (tramp_gdtr - tramp_start))));
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	*(uint32_t *)(t + (tramp_cr3 - tramp_start)) = (uint32_t)cr3;
	memcpy(t + (tramp_entry - tramp_start), &entry, 8);
}

int
main(void)
{
	long want = cmdline_int("cpus", 1);

	if (want > 1) {
		tramp_install();
		icr(ICR_INIT);
		icr(ICR_SIPI | (TRAMP >> 12));
		icr(ICR_SIPI | (TRAMP >> 12));
		for (long i = 0; i < 2000000 && cpus_up < (uint32_t)(want - 1); i++)
			__asm__ volatile("pause");
	}
	puts_("cpus up: ");
	putu(cpus_up + 1);
	putc_('\n');
	return (int)(cpus_up + 1);
}
