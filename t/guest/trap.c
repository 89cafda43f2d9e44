/*
 * The instructions the host's emulator gives up on and vmrun completes
 * itself, each checked for its result:
 *
 *   int3    #BP reaches our own IDT once, saved RIP = the next instruction
 *   fwait   skipped, execution goes on right after it
 *   popcnt  64/32/16-bit register and memory operands, ModRM, SIB,
 *           RIP-relative and absolute addressing, REX-extended registers;
 *           the result, ZF (set iff the source is zero) and CF (cleared)
 *
 * Prints "ok NAME" or "FAIL NAME got X want Y" per check and exits 0 when
 * every check passed, 1 otherwise.  Any other exception prints
 * "unexpected vector N" and exits 99.
 */
#include "guest.h"

#define NVEC		32
#define KERNEL_CS	0x10
#define GATE_INTR64	0x8e		/* present, DPL 0, 64-bit interrupt gate */

volatile uint32_t bp_count;		/* written by bp_entry */
volatile uint64_t bp_rip, bp_cs;
extern const char bp_entry[], vec_stubs[];
void trap_unexpected(uint64_t vector) __attribute__((noreturn));

/* The sources of the memory forms; popcnt: 2, 20 (low dword 16, high
 * dword 4, low word 8), 0, 64. */
const uint64_t popcnt_src[4] __attribute__((aligned(16))) = {
	0x8000000000000001ULL,
	0x0000000f00ff0ff0ULL,
	0,
	0xffffffffffffffffULL,
};

static struct gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} idt[NVEC] __attribute__((aligned(16)));

static int failures, cf_set;

void
trap_unexpected(uint64_t vector)
{
	serial_puts("unexpected vector ");
	put_dec((int64_t)vector);
	serial_putc('\n');
	guest_exit(99);
}

static void
load_idt(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { sizeof(idt) - 1, (uintptr_t)idt };

	for (int v = 0; v < NVEC; v++) {
		uintptr_t h = (uintptr_t)(v == 3 ? bp_entry : vec_stubs + 16 * v);

		idt[v] = (struct gate){ .off0 = (uint16_t)h, .sel = KERNEL_CS,
		    .type = GATE_INTR64, .off1 = (uint16_t)(h >> 16),
		    .off2 = (uint32_t)(h >> 32) };
	}
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

static void
check(const char *name, const char *suffix, uint64_t got, uint64_t want)
{
	serial_puts(got == want ? "ok " : "FAIL ");
	serial_puts(name);
	serial_puts(suffix);
	if (got != want) {
		serial_puts(" got ");
		put_hex(got);
		serial_puts(" want ");
		put_hex(want);
		failures++;
	}
	serial_putc('\n');
}

static void
test_int3(void)
{
	uint64_t after;

	__asm__ volatile("int3\n"
	    "1:\tleaq 1b(%%rip), %0" : "=r"(after) : : "memory");
	check("int3", "", bp_count, 1);
	check("int3 rip", "", bp_rip, after);
	check("int3 cs", "", bp_cs, KERNEL_CS);
}

static void
test_fwait(void)
{
	uint64_t v = 7;

	__asm__ volatile("fwait\n\taddq $1, %0" : "+r"(v));
	check("fwait", "", v, 8);
	__asm__ volatile("wait\n\tfwait\n\taddq $2, %0" : "+r"(v));
	check("fwait twice", "", v, 10);
}

/*
 * One popcnt case: SETUP loads the source, the destination register DST
 * (named as its 64-bit register) is preloaded with PRE and CF is set,
 * then INSN runs.  Checks the whole 64-bit DST and ZF; counts a CF left
 * set.  The variable arguments are the registers the case clobbers.
 */
#define POPCNT_CASE(name, setup, insn, dst, pre, want, want_zf, ...)	\
	do {								\
		uint64_t val_;						\
		uint8_t zf_, cf_;					\
									\
		__asm__ volatile(setup "\n\t"				\
		    "movabsq %[p], %%" dst "\n\t"			\
		    "stc\n\t"						\
		    insn "\n\t"						\
		    "setz %[z]\n\t"					\
		    "setc %[c]\n\t"					\
		    "movq %%" dst ", %[v]"				\
		    : [v] "=&r"(val_), [z] "=&q"(zf_), [c] "=&q"(cf_)	\
		    : [p] "i"(pre)					\
		    : "cc", "memory", __VA_ARGS__);			\
		check(name, "", val_, want);				\
		check(name, " zf", zf_, want_zf);			\
		cf_set += cf_;						\
	} while (0)

static void
test_popcnt_registers(void)
{
	POPCNT_CASE("popcnt64 rax->rcx",
	    "movabsq $0xf0f0f0f0f0f0f0f1, %%rax", "popcntq %%rax, %%rcx",
	    "rcx", -1, 33, 0, "rax", "rcx");
	POPCNT_CASE("popcnt64 zero",
	    "xorl %%eax, %%eax", "popcntq %%rax, %%rcx",
	    "rcx", 0x1234, 0, 1, "rax", "rcx");
	POPCNT_CASE("popcnt64 rax->rax",
	    "movl $0xff, %%eax", "popcntq %%rax, %%rax",
	    "rax", 0xff, 8, 0, "rax");
	/* A 32-bit result zero-extends; only the low dword counts. */
	POPCNT_CASE("popcnt32 edx->esi",
	    "movabsq $0xffffffff0000000f, %%rdx", "popcntl %%edx, %%esi",
	    "rsi", -1, 4, 0, "rdx", "rsi");
	POPCNT_CASE("popcnt32 zero low dword",
	    "movabsq $0xffffffff00000000, %%rdx", "popcntl %%edx, %%esi",
	    "rsi", -1, 0, 1, "rdx", "rsi");
	/* A 16-bit result (66 prefix) keeps bits 63:16. */
	POPCNT_CASE("popcnt16 bx->di",
	    "movabsq $0xffffffffffff8001, %%rbx", "popcntw %%bx, %%di",
	    "rdi", 0x1111222233334444ULL, 0x1111222233330002ULL, 0,
	    "rbx", "rdi");
	POPCNT_CASE("popcnt16 zero low word",
	    "movabsq $0xffffffffffff0000, %%rbx", "popcntw %%bx, %%di",
	    "rdi", 0x1111222233334444ULL, 0x1111222233330000ULL, 1,
	    "rbx", "rdi");
	POPCNT_CASE("popcnt64 r9->r10",
	    "movabsq $0x8000000000000001, %%r9", "popcntq %%r9, %%r10",
	    "r10", -1, 2, 0, "r9", "r10");
	POPCNT_CASE("popcnt32 r12d->r13d",
	    "movabsq $0x00000001fffffffe, %%r12", "popcntl %%r12d, %%r13d",
	    "r13", -1, 31, 0, "r12", "r13");
}

static void
test_popcnt_memory(void)
{
	POPCNT_CASE("popcnt64 (rax)",
	    "leaq popcnt_src(%%rip), %%rax", "popcntq (%%rax), %%rcx",
	    "rcx", -1, 2, 0, "rax", "rcx");
	POPCNT_CASE("popcnt64 rip-relative",
	    "", "popcntq popcnt_src+8(%%rip), %%rdx",
	    "rdx", -1, 20, 0, "rdx");
	POPCNT_CASE("popcnt64 rip-relative zero",
	    "", "popcntq popcnt_src+16(%%rip), %%rdx",
	    "rdx", -1, 0, 1, "rdx");
	POPCNT_CASE("popcnt64 -8(rbx,rsi,8)",
	    "leaq popcnt_src(%%rip), %%rbx\n\tmovl $4, %%esi",
	    "popcntq -8(%%rbx,%%rsi,8), %%rdi",
	    "rdi", -1, 64, 0, "rbx", "rsi", "rdi");
	POPCNT_CASE("popcnt32 absolute disp32",
	    "", "popcntl popcnt_src+8, %%eax",
	    "rax", -1, 16, 0, "rax");
	POPCNT_CASE("popcnt16 (rax)",
	    "leaq popcnt_src+8(%%rip), %%rax", "popcntw (%%rax), %%cx",
	    "rcx", 0x1111222233334444ULL, 0x1111222233330008ULL, 0,
	    "rax", "rcx");
	/* r12 as a base needs a SIB byte, r13 as a base a displacement. */
	POPCNT_CASE("popcnt64 (r12)->r13",
	    "leaq popcnt_src(%%rip), %%r12", "popcntq (%%r12), %%r13",
	    "r13", -1, 2, 0, "r12", "r13");
	POPCNT_CASE("popcnt64 (r13)->r12",
	    "leaq popcnt_src+8(%%rip), %%r13", "popcntq (%%r13), %%r12",
	    "r12", -1, 20, 0, "r12", "r13");
	POPCNT_CASE("popcnt64 0x10(r13)->r9",
	    "leaq popcnt_src(%%rip), %%r13", "popcntq 0x10(%%r13), %%r9",
	    "r9", -1, 0, 1, "r9", "r13");
	POPCNT_CASE("popcnt32 4(r12,r10,8)->r11d",
	    "leaq popcnt_src(%%rip), %%r12\n\tmovl $1, %%r10d",
	    "popcntl 4(%%r12,%%r10,8), %%r11d",
	    "r11", -1, 4, 0, "r10", "r11", "r12");
	POPCNT_CASE("popcnt16 (r13)->r10w",
	    "leaq popcnt_src+8(%%rip), %%r13", "popcntw (%%r13), %%r10w",
	    "r10", 0x1111222233334444ULL, 0x1111222233330008ULL, 0,
	    "r10", "r13");
	POPCNT_CASE("popcnt64 disp32(r13)->r14",
	    "leaq popcnt_src-0x1000(%%rip), %%r13",
	    "popcntq 0x1018(%%r13), %%r14",
	    "r14", -1, 64, 0, "r13", "r14");
}

int
main(void)
{
	load_idt();
	test_int3();
	test_fwait();
	test_popcnt_registers();
	test_popcnt_memory();
	check("popcnt clears CF", "", (uint64_t)cf_set, 0);
	return failures == 0 ? 0 : 1;
}
