#include <errno.h>
#include <string.h>

#include "emulate.h"

#define RFLAGS_ARITH	0x8d5ULL	/* CF PF AF ZF SF OF */
#define RFLAGS_ZF	0x40ULL

struct emul_cursor {
	const uint8_t *b;
	size_t n, at;
};

static int
emul_byte(struct emul_cursor *c, uint8_t *out)
{
	if (c->at >= c->n)
		return -1;
	*out = c->b[c->at++];
	return 0;
}

static int
emul_disp(struct emul_cursor *c, int bytes, int64_t *disp)
{
	uint8_t b;
	uint32_t v = 0;

	for (int i = 0; i < bytes; i++) {
		if (emul_byte(c, &b) == -1)
			return -1;
		v |= (uint32_t)b << (8 * i);
	}
	*disp = bytes == 1 ? (int8_t)v : (int32_t)v;
	return 0;
}

static int
emul_sib(struct emul_cursor *c, struct emul_insn *in, uint8_t mod, uint8_t rex)
{
	uint8_t sib;

	if (emul_byte(c, &sib) == -1)
		return -1;
	in->scale = (uint8_t)(1 << (sib >> 6));
	in->index = (int8_t)(((sib >> 3) & 7) | ((rex & 2) << 2));
	if (in->index == EMUL_RSP)
		in->index = -1;		/* no index without REX.X */
	in->base = (int8_t)((sib & 7) | ((rex & 1) << 3));
	if ((sib & 7) == 5 && mod == 0) {
		in->base = -1;
		return emul_disp(c, 4, &in->disp);
	}
	return 0;
}

static int
emul_modrm(struct emul_cursor *c, struct emul_insn *in, uint8_t rex)
{
	uint8_t m, mod, rm;

	if (emul_byte(c, &m) == -1)
		return -1;
	mod = m >> 6;
	rm = m & 7;
	in->reg = (uint8_t)(((m >> 3) & 7) | ((rex & 4) << 1));
	in->base = in->index = -1;
	if (mod == 3) {
		in->rm = (uint8_t)(rm | ((rex & 1) << 3));
		return 0;
	}
	in->mem = true;
	if (rm == 4) {
		if (emul_sib(c, in, mod, rex) == -1)
			return -1;
	} else if (rm == 5 && mod == 0) {
		in->riprel = true;
		return emul_disp(c, 4, &in->disp);
	} else {
		in->base = (int8_t)(rm | ((rex & 1) << 3));
	}
	if (mod == 1)
		return emul_disp(c, 1, &in->disp);
	if (mod == 2)
		return emul_disp(c, 4, &in->disp);
	return 0;
}

/* Legacy prefixes, then an optional REX, then the opcode. */
static int
emul_prefixes(struct emul_cursor *c, struct emul_insn *in, bool *rep,
    bool *osize, uint8_t *rex, uint8_t *op)
{
	for (;;) {
		if (emul_byte(c, op) == -1)
			return -1;
		switch (*op) {
		case 0xf3: *rep = true; continue;
		case 0x66: *osize = true; continue;
		case 0x67: in->addr32 = true; continue;
		case 0x64: in->seg = 4; continue;
		case 0x65: in->seg = 5; continue;
		case 0x26: case 0x2e: case 0x36: case 0x3e: continue;
		default: break;
		}
		break;
	}
	if ((*op & 0xf0) == 0x40) {
		*rex = *op;
		return emul_byte(c, op);
	}
	return 0;
}

int
emul_decode(const uint8_t *bytes, size_t n, struct emul_insn *in)
{
	struct emul_cursor c = { bytes, n > 15 ? 15 : n, 0 };
	bool rep = false, osize = false;
	uint8_t rex = 0, op, op2;

	memset(in, 0, sizeof(*in));
	if (emul_prefixes(&c, in, &rep, &osize, &rex, &op) == -1)
		goto refuse;
	if (c.at == 1 && (op == 0xcc || op == 0x9b)) {
		in->op = op == 0xcc ? EMUL_INT3 : EMUL_FWAIT;
		in->len = 1;
		return 0;
	}
	if (op != 0x0f || !rep || emul_byte(&c, &op2) == -1 || op2 != 0xb8)
		goto refuse;
	in->op = EMUL_POPCNT;
	in->opsize = (rex & 8) ? 8 : osize ? 2 : 4;
	if (emul_modrm(&c, in, rex) == -1)
		goto refuse;
	in->len = (uint8_t)c.at;
	return 0;
refuse:
	errno = ENOTSUP;
	return -1;
}

uint64_t
emul_address(const struct emul_insn *in, const struct emul_regs *r)
{
	uint64_t ea = (uint64_t)in->disp;

	if (in->riprel)
		ea += r->rip + in->len;
	if (in->base >= 0)
		ea += r->gpr[in->base];
	if (in->index >= 0)
		ea += r->gpr[in->index] * in->scale;
	if (in->addr32)
		ea &= 0xffffffffULL;
	if (in->seg == 4)
		ea += r->fs_base;
	else if (in->seg == 5)
		ea += r->gs_base;
	return ea;
}

static void
emul_popcnt(const struct emul_insn *in, struct emul_regs *r, uint64_t src)
{
	uint64_t *dst = &r->gpr[in->reg];
	uint64_t mask = in->opsize == 8 ? ~0ULL :
	    in->opsize == 4 ? 0xffffffffULL : 0xffffULL;
	uint64_t count = (uint64_t)__builtin_popcountll(src & mask);

	/* 32-bit results zero-extend; 16-bit ones keep the upper bits. */
	*dst = in->opsize == 2 ? (*dst & ~0xffffULL) | count : count;
	r->rflags &= ~RFLAGS_ARITH;
	if ((src & mask) == 0)
		r->rflags |= RFLAGS_ZF;
}

int
emul_execute(const struct emul_insn *in, struct emul_regs *r,
    emul_read_fn *read, void *ctx, bool *inject_bp)
{
	uint64_t src = 0;

	*inject_bp = false;
	switch (in->op) {
	case EMUL_INT3:
		*inject_bp = true;	/* a trap: it returns past the int3 */
		break;
	case EMUL_FWAIT:
		break;
	case EMUL_POPCNT:
		if (!in->mem)
			src = r->gpr[in->rm];
		else if (read(ctx, emul_address(in, r), &src, in->opsize) == -1)
			return -1;
		emul_popcnt(in, r, src);
		break;
	}
	r->rip += in->len;
	return 0;
}
