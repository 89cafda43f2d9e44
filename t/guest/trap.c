/*
 * Instructions that KVM's emulator gives up on in guest kernel mode, and
 * that vmrun completes itself: int3 (#BP injected), fwait, popcnt in all
 * its operand forms.  Each check prints "ok NAME" or "FAIL NAME".
 */
#include "guest.h"

volatile uint32_t bp_count;
extern char bp_handler[];
#define STUB(n) extern char vec_stub##n[];
STUB(0) STUB(1) STUB(2) STUB(4) STUB(5) STUB(6) STUB(7) STUB(8) STUB(9)
STUB(10) STUB(11) STUB(12) STUB(13) STUB(14) STUB(15) STUB(16) STUB(17)
STUB(18) STUB(19)

static uint64_t idt[2 * 20] __attribute__((aligned(16)));
/* mem_val is mem_pair[1]: addressed from mem_pair with a displacement too. */
static uint64_t mem_pair[2] __attribute__((aligned(8))) = { 0, 0xff00ff00ff00ff00ULL };
#define mem_val mem_pair[1]
static int failures;

void trap_unexpected(int vector) __attribute__((noreturn));

void
trap_unexpected(int vector)
{
	puts_("unexpected vector ");
	putu((uint64_t)vector);
	putc_('\n');
	guest_exit(99);
}

static void
gate(int v, const char *handler)
{
	uint64_t a = (uint64_t)(uintptr_t)handler;

	idt[2 * v] = (a & 0xffff) | (0x10ULL << 16) | (0x8eULL << 40) |
	    ((a >> 16 & 0xffff) << 48);
	idt[2 * v + 1] = a >> 32;
}

static void
load_idt(void)
{
	const char *stubs[20] = { vec_stub0, vec_stub1, vec_stub2, bp_handler,
	    vec_stub4, vec_stub5, vec_stub6, vec_stub7, vec_stub8, vec_stub9,
	    vec_stub10, vec_stub11, vec_stub12, vec_stub13, vec_stub14,
	    vec_stub15, vec_stub16, vec_stub17, vec_stub18, vec_stub19 };
	struct __attribute__((packed)) { uint16_t limit; uint64_t base; } d = {
		sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };

	for (int v = 0; v < 20; v++)
		gate(v, stubs[v]);
	__asm__ volatile("lidt %0" : : "m"(d));
}

static void
check(const char *name, uint64_t got, uint64_t want)
{
	if (got == want) {
		puts_("ok ");
		puts_(name);
	} else {
		puts_("FAIL ");
		puts_(name);
		puts_(" got ");
		putx(got);
		puts_(" want ");
		putx(want);
		failures++;
	}
	putc_('\n');
}

/* Loads src into r9, popcnt r9 -> r10, returns r10 and ZF. */
static uint64_t
popcnt_r9_r10(uint64_t src, uint64_t *zf)
{
	uint64_t out;

	__asm__ volatile("movq %2, %%r9; popcnt %%r9, %%r10; setz %b1; "
	    "movzbq %b1, %1; movq %%r10, %0"
	    : "=r"(out), "=&r"(*zf) : "r"(src) : "r9", "r10", "cc");
	return out;
}

static void
popcnt_registers(void)
{
	uint64_t out, zf;

	__asm__ volatile("popcnt %1, %0" : "=r"(out) : "r"(0xf0f0f0f0f0f0f0f0ULL));
	check("popcnt64 reg", out, 32);
	out = ~0ULL;
	__asm__ volatile("popcntl %k1, %k0" : "+r"(out) : "r"(0xffff0000ffULL));
	check("popcnt32 zero-extends", out, 16);
	out = 0x1111222233334444ULL;
	__asm__ volatile("popcntw %w1, %w0" : "+r"(out) : "r"(0xffffULL));
	check("popcnt16 keeps upper bits", out, 0x1111222233330010ULL);
	check("popcnt r9->r10", popcnt_r9_r10(0x8000000000000001ULL, &zf), 2);
	check("popcnt nonzero clears ZF", zf, 0);
	check("popcnt zero", popcnt_r9_r10(0, &zf), 0);
	check("popcnt zero sets ZF", zf, 1);
}

static void
popcnt_memory(void)
{
	uint64_t out;
	register const uint64_t *r12 __asm__("r12") = &mem_pair[0];
	register const uint64_t *r13 __asm__("r13") = &mem_val;

	__asm__ volatile("popcnt (%1), %0" : "=r"(out) : "r"(&mem_val));
	check("popcnt (reg)", out, 32);
	__asm__ volatile("popcnt 8(%%r12), %0" : "=r"(out) : "r"(r12));
	check("popcnt disp8(%r12) via SIB", out, 32);
	__asm__ volatile("popcnt (%%r13), %0" : "=r"(out) : "r"(r13));
	check("popcnt (%r13) via disp8 0", out, 32);
	__asm__ volatile("popcnt mem_pair+8(%%rip), %0" : "=r"(out));
	check("popcnt rip-relative", out, 32);
	__asm__ volatile("popcntl 4(%1,%2,4), %k0" : "=r"(out)
	    : "r"((const char *)mem_pair), "r"(1ULL));
	check("popcnt32 base+index*4+disp", out, 16);
}

int
main(void)
{
	load_idt();
	__asm__ volatile("int3");
	check("int3", bp_count, 1);
	__asm__ volatile("fwait");
	check("fwait", 1, 1);
	popcnt_registers();
	popcnt_memory();
	return failures ? 1 : 0;
}
