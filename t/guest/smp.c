/*
 * Starts the application processors the way a PC does (INIT, SIPI, SIPI
 * to all but self through the xAPIC ICR) and counts those that reach C.
 * cpus=N on the command line is the number of processors to wait for
 * (default 1).  Prints "cpus up: K" and exits K, the BSP included.
 */
#include "guest.h"

#define TRAMP_BASE	0x8000UL	/* SIPI vector TRAMP_BASE >> 12 */
#define SIPI_VECTOR	(TRAMP_BASE >> 12)
#define LAPIC_ICR_LOW	0xfee00300UL
#define LAPIC_ICR_HIGH	0xfee00310UL
#define ICR_PENDING	(1U << 12)	/* delivery status: send pending */
#define ICR_INIT	0x000c4500U	/* all excluding self, assert, INIT */
#define ICR_SIPI	0x000c4600U	/* all excluding self, start-up */
#define MAX_APS		32
#define AP_STACK	1024		/* AP_STACK_SHIFT in smp_tramp.S */
#define SPIN_BOUND	200000

/* The data area at the end of smp_tramp.S. */
struct tramp_data {
	uint16_t pad[3];
	uint16_t gdt_limit;
	uint64_t gdt_base;
	uint64_t cr3;
	uint64_t entry;
	uint64_t stacks;
	uint32_t next;
	uint32_t nstacks;
};

extern const char tramp_start[], tramp_end[], tramp_data[];

static volatile uint32_t cpus_up;
static uint8_t ap_stacks[MAX_APS][AP_STACK] __attribute__((aligned(16)));

/* Where each AP arrives in 64-bit mode, on its own stack. */
static void __attribute__((noreturn, used))
ap_entry(void)
{
	__asm__ volatile("lock incl %0" : "+m"(cpus_up) : : "memory");
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void
tramp_install(void)
{
	char *base = (char *)TRAMP_BASE;
	struct tramp_data *d =
	    (struct tramp_data *)(base + (tramp_data - tramp_start));
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} gdtr;
	uint64_t cr3;

	memcpy(base, tramp_start, (size_t)(tramp_end - tramp_start));
	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	d->gdt_limit = gdtr.limit;
	d->gdt_base = gdtr.base;
	d->cr3 = cr3;
	d->entry = (uintptr_t)ap_entry;
	d->stacks = (uintptr_t)ap_stacks;
	d->next = 0;
	d->nstacks = MAX_APS;
	__asm__ volatile("" : : : "memory");
}

/* Sends one IPI: waits for the previous one to leave, high word first. */
static void
send_ipi(uint32_t low)
{
	volatile uint32_t *icr_low = (volatile uint32_t *)LAPIC_ICR_LOW;
	volatile uint32_t *icr_high = (volatile uint32_t *)LAPIC_ICR_HIGH;

	for (int i = 0; i < 10000 && (*icr_low & ICR_PENDING) != 0; i++)
		__asm__ volatile("pause");
	*icr_high = 0;
	*icr_low = low;
}

int
main(void)
{
	int want = cmdline_int("cpus", 1);
	uint32_t up;

	if (want > 1) {
		tramp_install();
		send_ipi(ICR_INIT);
		send_ipi(ICR_SIPI | SIPI_VECTOR);
		send_ipi(ICR_SIPI | SIPI_VECTOR);
		for (long i = 0; i < SPIN_BOUND && cpus_up < (uint32_t)(want - 1);
		    i++)
			__asm__ volatile("pause");
	}
	up = cpus_up + 1;
	serial_puts("cpus up: ");
	put_dec(up);
	serial_putc('\n');
	return (int)up;
}
