/*
 * The instruction emulation fallback (lib/kvm/emulate.c): the bytes of an
 * instruction KVM's emulator gave up on, as the guest wrote them,
 * decoded and, if they are one of the few instructions it finishes, run
 * on registers and memory that come from the input too.
 *
 * Input: up to 15 instruction bytes (the first byte says how many),
 * then the registers, then 64 bytes of guest memory at 0x5000.
 */
#include <string.h>

#include "emulate.h"
#include "fuzz.h"

static uint8_t mem[64];

static int
read_mem(void *ctx, uint64_t linear, void *buf, size_t len)
{
	(void)ctx;
	if (linear < 0x5000 || linear - 0x5000 > sizeof(mem) ||
	    len > sizeof(mem) - (linear - 0x5000))
		return -1;
	memcpy(buf, mem + (linear - 0x5000), len);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t insn[15];
	size_t n = fz_take(&f, insn, fz_u8(&f) % (sizeof(insn) + 1));
	struct emul_regs r;
	struct emul_insn in;
	bool bp;

	fz_init();
	memset(&r, 0, sizeof(r));
	memset(mem, 0, sizeof(mem));
	fz_take(&f, &r, sizeof(r));
	fz_take(&f, mem, sizeof(mem));
	if (emul_decode(insn, n, &in) == 0) {
		emul_address(&in, &r);
		emul_execute(&in, &r, read_mem, NULL, &bp);
	}
	return 0;
}
