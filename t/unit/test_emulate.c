/* The emulation fallback's decoder and executor, on fake registers. */
#include <errno.h>
#include <string.h>

#include "emulate.h"
#include "unit.h"

#define ZF 0x40ULL

static uint8_t fake_mem[64];
static uint64_t fake_base = 0x5000;

static int
fake_read(void *ctx, uint64_t linear, void *buf, size_t len)
{
	(void)ctx;
	if (linear < fake_base || linear - fake_base + len > sizeof(fake_mem))
		return -1;
	memcpy(buf, fake_mem + (linear - fake_base), len);
	return 0;
}

/* Decodes and runs bytes on r; returns the decode/execute result. */
static int
run(const uint8_t *b, size_t n, struct emul_regs *r, struct emul_insn *in)
{
	bool bp;

	if (emul_decode(b, n, in) == -1)
		return -1;
	return emul_execute(in, r, fake_read, NULL, &bp);
}

static void
test_int3_fwait(void)
{
	struct emul_insn in;
	struct emul_regs r = { .rip = 0x1000 };
	bool bp;

	CHECK_EQ(emul_decode((const uint8_t *)"\xcc\x90", 2, &in), 0);
	CHECK_EQ(in.op, EMUL_INT3);
	CHECK_EQ(emul_execute(&in, &r, fake_read, NULL, &bp), 0);
	CHECK(bp);
	CHECK_EQ(r.rip, 0x1001);
	CHECK_EQ(emul_decode((const uint8_t *)"\x9b", 1, &in), 0);
	CHECK_EQ(emul_execute(&in, &r, fake_read, NULL, &bp), 0);
	CHECK(!bp);
	CHECK_EQ(r.rip, 0x1002);
}

static void
test_popcnt_reg(void)
{
	struct emul_insn in;
	struct emul_regs r = { .rip = 0x1000, .rflags = 0x8d7 };

	/* popcnt %rbx, %rax */
	r.gpr[EMUL_RBX] = 0xf0f0f0f0f0f0f0f0ULL;
	r.gpr[EMUL_RAX] = 0xdead;
	CHECK_EQ(run((const uint8_t *)"\xf3\x48\x0f\xb8\xc3", 5, &r, &in), 0);
	CHECK_EQ(r.gpr[EMUL_RAX], 32);
	CHECK_EQ(r.rip, 0x1005);
	CHECK_EQ(r.rflags & 0x8d5, 0);
	/* popcnt %ebx, %eax zero-extends */
	r.gpr[EMUL_RAX] = ~0ULL;
	CHECK_EQ(run((const uint8_t *)"\xf3\x0f\xb8\xc3", 4, &r, &in), 0);
	CHECK_EQ(r.gpr[EMUL_RAX], 16);
	/* popcnt %bx, %ax keeps the upper bits */
	r.gpr[EMUL_RAX] = 0x1111222233334444ULL;
	CHECK_EQ(run((const uint8_t *)"\x66\xf3\x0f\xb8\xc3", 5, &r, &in), 0);
	CHECK_EQ(r.gpr[EMUL_RAX], 0x1111222233330008ULL);
	/* popcnt %r9, %r10 with a zero source sets ZF */
	r.gpr[9] = 0;
	CHECK_EQ(run((const uint8_t *)"\xf3\x4d\x0f\xb8\xd1", 5, &r, &in), 0);
	CHECK_EQ(r.gpr[10], 0);
	CHECK(r.rflags & ZF);
}

static void
test_popcnt_mem(void)
{
	struct emul_insn in;
	struct emul_regs r = { .rip = 0x1000 };
	uint64_t v = 0x7;

	memcpy(fake_mem + 8, &v, 8);
	/* popcnt (%rax), %rcx */
	r.gpr[EMUL_RAX] = fake_base + 8;
	CHECK_EQ(run((const uint8_t *)"\xf3\x48\x0f\xb8\x08", 5, &r, &in), 0);
	CHECK_EQ(r.gpr[EMUL_RCX], 3);
	/* popcnt 0x8(%r12), %rdx: r12 needs a SIB byte */
	r.gpr[12] = fake_base;
	CHECK_EQ(run((const uint8_t *)"\xf3\x49\x0f\xb8\x54\x24\x08", 7, &r,
	    &in), 0);
	CHECK_EQ(in.len, 7);
	CHECK_EQ(r.gpr[EMUL_RDX], 3);
	/* popcnt 0x0(%r13), %rdx: r13 needs a displacement */
	r.gpr[13] = fake_base + 8;
	CHECK_EQ(run((const uint8_t *)"\xf3\x49\x0f\xb8\x55\x00", 6, &r, &in),
	    0);
	CHECK_EQ(r.gpr[EMUL_RDX], 3);
	/* popcnt (%rax,%rbx,8), %rsi */
	r.gpr[EMUL_RAX] = fake_base;
	r.gpr[EMUL_RBX] = 1;
	CHECK_EQ(run((const uint8_t *)"\xf3\x48\x0f\xb8\x34\xd8", 6, &r, &in),
	    0);
	CHECK_EQ(r.gpr[EMUL_RSI], 3);
	/* popcnt 0x3ff7(%rip), %rdi: the address is past the instruction */
	r.rip = fake_base + 8 - 0x3ff7 - 9;
	CHECK_EQ(run((const uint8_t *)"\xf3\x48\x0f\xb8\x3d\xf7\x3f\x00\x00",
	    9, &r, &in), 0);
	CHECK_EQ(r.gpr[EMUL_RDI], 3);
	/* an unreadable address fails instead of inventing a value */
	r.gpr[EMUL_RAX] = 0x99999;
	CHECK_EQ(run((const uint8_t *)"\xf3\x48\x0f\xb8\x08", 5, &r, &in), -1);
}

static void
test_refused(void)
{
	struct emul_insn in;

	/* lock cmpxchg16b (%rdi) */
	CHECK_EQ(emul_decode((const uint8_t *)"\xf0\x48\x0f\xc7\x0f", 5, &in), -1);
	CHECK_EQ(errno, ENOTSUP);
	/* popcnt without its F3 prefix is another instruction */
	CHECK_EQ(emul_decode((const uint8_t *)"\x0f\xb8\xc3", 3, &in), -1);
	/* truncated: ModRM or displacement missing */
	CHECK_EQ(emul_decode((const uint8_t *)"\xf3\x0f\xb8", 3, &in), -1);
	CHECK_EQ(emul_decode((const uint8_t *)"\xf3\x0f\xb8\x80\x01", 5, &in), -1);
	/* xsave (%rdi) */
	CHECK_EQ(emul_decode((const uint8_t *)"\x0f\xae\x27", 3, &in), -1);
	CHECK_EQ(emul_decode((const uint8_t *)"", 0, &in), -1);
	/* fifteen prefixes and nothing else */
	CHECK_EQ(emul_decode((const uint8_t *)"\x66\x66\x66\x66\x66\x66\x66"
	    "\x66\x66\x66\x66\x66\x66\x66\x66", 15, &in), -1);
}

static const struct unit_test tests[] = {
	{ "emulate: int3 traps past itself, fwait is skipped", test_int3_fwait },
	{ "emulate: popcnt on registers, all sizes, flags", test_popcnt_reg },
	{ "emulate: popcnt on memory, SIB, disp, RIP-relative", test_popcnt_mem },
	{ "emulate: everything else is refused", test_refused },
};

UNIT_MAIN(tests)
