/*
 * Completing instructions that KVM's emulator gave up on.  On hosts where
 * guest kernel code runs through KVM's instruction emulator, a few
 * instructions exit with KVM_INTERNAL_ERROR_EMULATION.  The decoder here
 * knows exactly those it can finish (int3, fwait, popcnt) and refuses
 * everything else; it is pure logic, testable without KVM.
 */
#ifndef SNAPVM_EMULATE_H
#define SNAPVM_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { EMUL_RAX, EMUL_RCX, EMUL_RDX, EMUL_RBX, EMUL_RSP, EMUL_RBP, EMUL_RSI,
	EMUL_RDI, EMUL_NGPR = 16 };

struct emul_regs {
	uint64_t gpr[EMUL_NGPR];	/* in ModRM order: rax, rcx, ... r15 */
	uint64_t rip, rflags, fs_base, gs_base;
};

enum emul_op { EMUL_INT3, EMUL_FWAIT, EMUL_POPCNT };

struct emul_insn {
	enum emul_op op;
	uint8_t len;		/* bytes, prefixes included */
	uint8_t opsize;		/* 2, 4 or 8 */
	uint8_t reg;		/* destination register */
	bool mem;		/* source is memory, else register rm */
	uint8_t rm;
	int8_t base, index;	/* -1: none */
	uint8_t scale;
	bool riprel, addr32;
	uint8_t seg;		/* 0, or 4 for FS, 5 for GS */
	int64_t disp;
};

typedef int emul_read_fn(void *ctx, uint64_t linear, void *buf, size_t len);

int emul_decode(const uint8_t *bytes, size_t n, struct emul_insn *in);
uint64_t emul_address(const struct emul_insn *in, const struct emul_regs *r);
int emul_execute(const struct emul_insn *in, struct emul_regs *r,
    emul_read_fn *read, void *ctx, bool *inject_bp);

#endif
