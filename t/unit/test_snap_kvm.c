/* The KVM sections of a state file are checked before KVM sees them:
 * a state as KVM hands it out passes, and each count, size or field out
 * of what KVM hands out is refused.  No /dev/kvm is needed. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "snap_kvm.h"
#include "snapstate.h"
#include "unit.h"

/* A change to one section as it is written: its bytes and size. */
typedef void tweak_fn(uint32_t type, uint32_t index, uint8_t *p,
    uint32_t *size);

struct sec {
	uint32_t type, size;
};

static const struct sec vm_secs[] = {
	{ SEC_PIC_MASTER, sizeof(struct kvm_irqchip) },
	{ SEC_PIC_SLAVE, sizeof(struct kvm_irqchip) },
	{ SEC_IOAPIC, sizeof(struct kvm_irqchip) },
	{ SEC_PIT, sizeof(struct kvm_pit_state2) },
	{ SEC_CLOCK, sizeof(struct kvm_clock_data) },
};

static const struct sec vcpu_secs[] = {
	{ SEC_SREGS, sizeof(struct kvm_sregs) },
	{ SEC_REGS, sizeof(struct kvm_regs) },
	{ SEC_XSAVE, sizeof(struct kvm_xsave) },
	{ SEC_XCRS, sizeof(struct kvm_xcrs) },
	{ SEC_LAPIC, sizeof(struct kvm_lapic_state) },
	{ SEC_MSRS, 3 * sizeof(struct kvm_msr_entry) },
	{ SEC_MP_STATE, sizeof(struct kvm_mp_state) },
	{ SEC_EVENTS, sizeof(struct kvm_vcpu_events) },
	{ SEC_DEBUGREGS, sizeof(struct kvm_debugregs) },
	{ SEC_FPU, UINT32_MAX },	/* where KVM lacks XSAVE */
	{ SEC_CPUID, 2 * sizeof(struct kvm_cpuid_entry2) },
};

/* The values KVM gives a freshly made machine, where zero is not one. */
static void
fill(uint32_t type, uint8_t *p)
{
	struct kvm_irqchip *c = (void *)p;
	struct kvm_xcrs *x = (void *)p;
	struct kvm_msr_entry *e = (void *)p;
	struct kvm_pit_state2 *pit = (void *)p;
	struct kvm_cpuid_entry2 *cpuid = (void *)p;

	if (type >= SEC_PIC_MASTER && type <= SEC_IOAPIC)
		c->chip_id = type - SEC_PIC_MASTER;
	if (type == SEC_IOAPIC)
		c->chip.ioapic.base_address = 0xfec00000;
	if (type == SEC_XCRS) {
		x->nr_xcrs = 1;
		x->xcrs[0].value = 1;
	}
	if (type == SEC_MSRS) {
		e[0].index = 0x10;
		e[1].index = 0x174;
		e[2].index = 0xc0000080;
	}
	if (type == SEC_CPUID) {
		cpuid[0].eax = 0xd;
		cpuid[1].function = 1;
	}
	if (type == SEC_PIT)
		for (int i = 0; i < 3; i++) {
			pit->channels[i].count = 0x10000;
			pit->channels[i].mode = 0xff;
			pit->channels[i].gate = i != 2;
		}
}

static void
add(struct snapbuf *b, const struct sec *s, uint32_t index, tweak_fn *tweak)
{
	uint8_t buf[8192];
	uint32_t size = s->size;

	memset(buf, 0, sizeof(buf));
	fill(s->type, buf);
	if (tweak != NULL)
		tweak(s->type, index, buf, &size);
	if (size != UINT32_MAX)		/* UINT32_MAX: left out */
		snapbuf_add(b, s->type, index, buf, size);
}

/* cpuid: as for a layer of format 4, whose vCPUs have CPUID sections. */
static int
check_as(int nvcpus, int written, tweak_fn *tweak, bool cpuid)
{
	struct snapbuf b;
	struct snapstate st;
	uint8_t *copy;
	int rc = -1;

	snapbuf_init(&b);
	for (size_t i = 0; i < sizeof(vm_secs) / sizeof(vm_secs[0]); i++)
		add(&b, &vm_secs[i], 0, tweak);
	for (int v = 0; v < written; v++)
		for (size_t i = 0; i < sizeof(vcpu_secs) / sizeof(vcpu_secs[0]); i++)
			add(&b, &vcpu_secs[i], (uint32_t)v, tweak);
	if (!b.failed && (copy = malloc(b.len)) != NULL) {
		memcpy(copy, b.data, b.len);
		if (snapstate_parse(&st, "state", copy, b.len) == 0) {
			rc = snap_kvm_check(&st, nvcpus, cpuid);
			snapstate_free(&st);
		}
	}
	snapbuf_free(&b);
	return rc;
}

static int
check(int nvcpus, int written, tweak_fn *tweak)
{
	return check_as(nvcpus, written, tweak, true);
}

/* Each tweak makes one section bad in one way. */
#define TWEAK(name, sec, body) \
	static void name(uint32_t type, uint32_t index, uint8_t *p, \
	    uint32_t *size) \
	{ \
		(void)index; (void)p; (void)size; \
		if (type == (sec)) { body; } \
	}

TWEAK(msrs_none, SEC_MSRS, *size = 0)
TWEAK(msrs_odd, SEC_MSRS, *size = 40)
TWEAK(msrs_many, SEC_MSRS, *size = (SNAP_MAX_MSRS + 1) * 16)
TWEAK(msrs_reserved, SEC_MSRS, ((struct kvm_msr_entry *)p)[1].reserved = 1)
TWEAK(msrs_twice, SEC_MSRS, ((struct kvm_msr_entry *)p)[2].index = 0x10)
TWEAK(msrs_gone, SEC_MSRS, *size = UINT32_MAX)
TWEAK(xsave_size, SEC_XSAVE, *size = 4104)
TWEAK(xsave_compact, SEC_XSAVE, p[512 + 15] = 0x80)
TWEAK(xsave_reserved, SEC_XSAVE, p[512 + 40] = 1)
TWEAK(xsave_gone, SEC_XSAVE, *size = UINT32_MAX)
TWEAK(xcrs_many, SEC_XCRS, ((struct kvm_xcrs *)p)->nr_xcrs = KVM_MAX_XCRS + 1)
TWEAK(xcrs_flags, SEC_XCRS, ((struct kvm_xcrs *)p)->flags = 1)
TWEAK(xcrs_which, SEC_XCRS, ((struct kvm_xcrs *)p)->xcrs[0].xcr = 7)
TWEAK(lapic_short, SEC_LAPIC, *size = 1016)
TWEAK(lapic_gone, SEC_LAPIC, *size = UINT32_MAX)
TWEAK(sregs_gone, SEC_SREGS, *size = UINT32_MAX)
TWEAK(regs_long, SEC_REGS, *size += 8)
TWEAK(mp_bad, SEC_MP_STATE, ((struct kvm_mp_state *)p)->mp_state = 5)
TWEAK(events_flags, SEC_EVENTS, ((struct kvm_vcpu_events *)p)->flags = 0x40)
TWEAK(events_vector, SEC_EVENTS,
    ((struct kvm_vcpu_events *)p)->exception.injected = 1;
    ((struct kvm_vcpu_events *)p)->exception.nr = 32)
TWEAK(debug_flags, SEC_DEBUGREGS, ((struct kvm_debugregs *)p)->flags = 1)
TWEAK(pic_id, SEC_PIC_SLAVE, ((struct kvm_irqchip *)p)->chip_id = 0)
TWEAK(pic_prio, SEC_PIC_MASTER,
    ((struct kvm_irqchip *)p)->chip.pic.priority_add = 8)
TWEAK(pic_init, SEC_PIC_MASTER,
    ((struct kvm_irqchip *)p)->chip.pic.init_state = 4)
TWEAK(pic_flag, SEC_PIC_SLAVE, ((struct kvm_irqchip *)p)->chip.pic.poll = 2)
TWEAK(pic_tail, SEC_PIC_MASTER, p[8 + 100] = 1)
TWEAK(chip_pad, SEC_IOAPIC, ((struct kvm_irqchip *)p)->pad = 1)
TWEAK(ioapic_base, SEC_IOAPIC,
    ((struct kvm_irqchip *)p)->chip.ioapic.base_address = 0xfee00000)
TWEAK(ioapic_id, SEC_IOAPIC, ((struct kvm_irqchip *)p)->chip.ioapic.id = 16)
TWEAK(ioapic_irr, SEC_IOAPIC,
    ((struct kvm_irqchip *)p)->chip.ioapic.irr = 1U << 24)
TWEAK(chip_size, SEC_IOAPIC, *size = 512)
TWEAK(pit_count, SEC_PIT,
    ((struct kvm_pit_state2 *)p)->channels[1].count = 0x10001)
TWEAK(pit_mode, SEC_PIT, ((struct kvm_pit_state2 *)p)->channels[0].mode = 6)
TWEAK(pit_rw, SEC_PIT, ((struct kvm_pit_state2 *)p)->channels[2].rw_mode = 4)
TWEAK(pit_gate, SEC_PIT, ((struct kvm_pit_state2 *)p)->channels[2].gate = 2)
TWEAK(pit_flags, SEC_PIT, ((struct kvm_pit_state2 *)p)->flags = 4)
TWEAK(pit_reserved, SEC_PIT, ((struct kvm_pit_state2 *)p)->reserved[8] = 1)
TWEAK(clock_gone, SEC_CLOCK, *size = UINT32_MAX)

TWEAK(fpu_too, SEC_FPU, *size = sizeof(struct kvm_fpu))
TWEAK(cpuid_none, SEC_CPUID, *size = 0)
TWEAK(cpuid_odd, SEC_CPUID, *size = 41)
TWEAK(cpuid_flags, SEC_CPUID, ((struct kvm_cpuid_entry2 *)p)[1].flags = 2)
TWEAK(cpuid_pad, SEC_CPUID, ((struct kvm_cpuid_entry2 *)p)[0].padding[2] = 1)
TWEAK(cpuid_twice, SEC_CPUID, ((struct kvm_cpuid_entry2 *)p)[1].function = 0)
TWEAK(cpuid_gone, SEC_CPUID, *size = UINT32_MAX)

/* FPU state instead of XSAVE, as where KVM lacks XSAVE, is fine. */
static void
fpu_only(uint32_t type, uint32_t index, uint8_t *p, uint32_t *size)
{
	(void)index;
	(void)p;
	if (type == SEC_XSAVE)
		*size = UINT32_MAX;
	if (type == SEC_FPU)
		*size = sizeof(struct kvm_fpu);
}

static void
test_good(void)
{
	CHECK(check(1, 1, NULL) == 0);
	CHECK(check(2, 2, NULL) == 0);
	CHECK(check(1, 1, fpu_only) == 0);
}

static tweak_fn *const bad_tweaks[] = {
	msrs_none, msrs_odd, msrs_many, msrs_reserved, msrs_twice, msrs_gone,
	xsave_size, xsave_compact, xsave_reserved, xsave_gone, xcrs_many,
	xcrs_flags, xcrs_which, lapic_short, lapic_gone, sregs_gone,
	regs_long, mp_bad, events_flags, events_vector, debug_flags, pic_id,
	pic_prio, pic_init, pic_flag, pic_tail, chip_pad, ioapic_base,
	ioapic_id, ioapic_irr, chip_size, pit_count, pit_mode, pit_rw,
	pit_gate, pit_flags, pit_reserved, clock_gone, fpu_too, cpuid_none,
	cpuid_odd, cpuid_flags, cpuid_pad, cpuid_twice, cpuid_gone,
};

static void
test_bad_fields(void)
{
	for (size_t i = 0; i < sizeof(bad_tweaks) / sizeof(bad_tweaks[0]); i++) {
		int rc = check(1, 1, bad_tweaks[i]);

		if (rc != -1)
			printf("#   tweak %zu was accepted\n", i);
		CHECK(rc == -1);
	}
}

/* Sections for a vCPU the machine does not have, or too few vCPUs. */
static void
test_vcpu_count(void)
{
	CHECK(check(1, 2, NULL) == -1);
	CHECK(check(2, 1, NULL) == -1);
	CHECK(check(1, 0, NULL) == -1);
}

/* A layer of format 3 has no CPUID sections, and may not have them. */
static void
test_cpuid_format(void)
{
	CHECK(check_as(1, 1, cpuid_gone, false) == 0);
	CHECK(check_as(1, 1, NULL, false) == -1);
	CHECK(check_as(2, 2, NULL, true) == 0);
}

static const struct unit_test tests[] = {
	{ "snap_kvm: a state as KVM gives it passes", test_good },
	{ "snap_kvm: each bad count, size or field is refused", test_bad_fields },
	{ "snap_kvm: vCPU sections match the vCPU count", test_vcpu_count },
	{ "snap_kvm: CPUID sections in format 4 layers only",
	  test_cpuid_format },
};

UNIT_MAIN(tests)
