/*
 * Snapshot round trips.  Fills memory with a pattern, sets the UART's
 * scratch and line-control registers, and reaches checkpoint 1 (port
 * 0x510).  vmrun --dump-dir stops there and writes a full snapshot; a VM
 * restored from it goes on right after the port write: it checks the
 * pattern and the registers, rewrites part of the memory, reaches
 * checkpoint 2 (where a diff snapshot is taken) and checks everything
 * again.  Prints "restores N", "ok NAME" or "FAIL NAME"; exits 0 when
 * every check passed, 1 otherwise.
 */
#include "guest.h"

#define CKPT_PORT	0x510
#define COM1_LCR	(COM1 + 3)
#define COM1_SCR	(COM1 + 7)
#define AREA1		((volatile uint64_t *)0x400000)	/* 4 MiB */
#define AREA2		((volatile uint64_t *)0x800000)	/* 8 MiB */
#define WORDS1		8192				/* 64 KiB */
#define WORDS2		4096				/* 32 KiB */

static uint64_t
word(uint64_t seed, uint64_t i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;
}

static void
fill(volatile uint64_t *a, int n, uint64_t seed)
{
	for (int i = 0; i < n; i++)
		a[i] = word(seed, (uint64_t)i);
}

/* Whether a[from..to) holds the pattern of seed. */
static int
same(volatile uint64_t *a, int from, int to, uint64_t seed)
{
	for (int i = from; i < to; i++)
		if (a[i] != word(seed, (uint64_t)i))
			return 0;
	return 1;
}

/* Reaches a checkpoint with known values in r12-r15 and xmm-free
 * general registers, and says whether they came back unchanged. */
static int
checkpoint_keeps_registers(uint32_t point)
{
	uint64_t r12, r13, r14, r15;

	__asm__ volatile(
	    "movabs $0x1212121212121212, %%r12\n\t"
	    "movabs $0x1313131313131313, %%r13\n\t"
	    "movabs $0x1414141414141414, %%r14\n\t"
	    "movabs $0x1515151515151515, %%r15\n\t"
	    "outl %%eax, %%dx\n\t"
	    "mov %%r12, %0\n\tmov %%r13, %1\n\tmov %%r14, %2\n\tmov %%r15, %3"
	    : "=r"(r12), "=r"(r13), "=r"(r14), "=r"(r15)
	    : "a"(point), "d"(CKPT_PORT)
	    : "r12", "r13", "r14", "r15", "memory");
	return r12 == 0x1212121212121212ULL && r13 == 0x1313131313131313ULL &&
	    r14 == 0x1414141414141414ULL && r15 == 0x1515151515151515ULL;
}

static void
report_restores(void)
{
	serial_puts("restores ");
	put_dec(inl(CKPT_PORT));
	serial_putc('\n');
}

int
main(void)
{
	uint64_t local = 0x1234567890abcdefULL;
	int regs;

	fill(AREA1, WORDS1, 1);
	outb(COM1_SCR, 0x5a);
	outb(COM1_LCR, 0x03);
	regs = checkpoint_keeps_registers(1);
	report_restores();
	guest_check("registers r12-r15", regs);
	guest_check("memory after checkpoint 1", same(AREA1, 0, WORDS1, 1));
	guest_check("uart scratch register", inb(COM1_SCR) == 0x5a);
	guest_check("uart line control", inb(COM1_LCR) == 0x03);
	guest_check("stack variable", local == 0x1234567890abcdefULL);
	fill(AREA1, WORDS1 / 2, 3);	/* half of area 1 changes */
	fill(AREA2, WORDS2, 2);
	regs = checkpoint_keeps_registers(2);
	report_restores();
	guest_check("registers r12-r15 at checkpoint 2", regs);
	guest_check("changed half of area 1", same(AREA1, 0, WORDS1 / 2, 3));
	guest_check("unchanged half of area 1", same(AREA1, WORDS1 / 2, WORDS1, 1));
	guest_check("area 2", same(AREA2, 0, WORDS2, 2));
	return guest_failures ? 1 : 0;
}
