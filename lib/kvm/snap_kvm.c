#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "cpucheck.h"
#include "cpuid.h"
#include "log.h"
#include "snap_kvm.h"
#include "vmlimits.h"

/* One fixed-size KVM structure per section: the ioctls to move it. */
struct snap_item {
	uint32_t type;
	uint32_t size;
	unsigned long get, set;
	const char *name;
	int cap;		/* 0: always present */
};

/*
 * Restore order matters: segment and control registers before the
 * general ones, the LAPIC before the MSRs (the TSC deadline is only
 * accepted in TSC-deadline mode), MSRs and MP state before the pending
 * events, which KVM validates against both.
 */
static const struct snap_item vcpu_items[] = {
	{ SEC_SREGS, sizeof(struct kvm_sregs), KVM_GET_SREGS, KVM_SET_SREGS,
	  "KVM_SET_SREGS", 0 },
	{ SEC_REGS, sizeof(struct kvm_regs), KVM_GET_REGS, KVM_SET_REGS,
	  "KVM_SET_REGS", 0 },
	{ SEC_XSAVE, sizeof(struct kvm_xsave), KVM_GET_XSAVE, KVM_SET_XSAVE,
	  "KVM_SET_XSAVE", KVM_CAP_XSAVE },
	{ SEC_FPU, sizeof(struct kvm_fpu), KVM_GET_FPU, KVM_SET_FPU,
	  "KVM_SET_FPU", -KVM_CAP_XSAVE },
	{ SEC_XCRS, sizeof(struct kvm_xcrs), KVM_GET_XCRS, KVM_SET_XCRS,
	  "KVM_SET_XCRS", KVM_CAP_XCRS },
	{ SEC_LAPIC, sizeof(struct kvm_lapic_state), KVM_GET_LAPIC, KVM_SET_LAPIC,
	  "KVM_SET_LAPIC", 0 },
};

static const struct snap_item vcpu_late_items[] = {
	{ SEC_MP_STATE, sizeof(struct kvm_mp_state), KVM_GET_MP_STATE, KVM_SET_MP_STATE, "KVM_SET_MP_STATE", 0 },
	{ SEC_EVENTS, sizeof(struct kvm_vcpu_events), KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS",
	  KVM_CAP_VCPU_EVENTS },
	{ SEC_DEBUGREGS, sizeof(struct kvm_debugregs), KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", KVM_CAP_DEBUGREGS },
};

/* cap > 0: needs it; cap < 0: only without it (FPU when there is no XSAVE). */
static bool
item_wanted(const struct kvm *k, const struct snap_item *it)
{
	if (it->cap == 0)
		return true;
	return it->cap > 0 ? kvm_has_cap(k, it->cap) : !kvm_has_cap(k, -it->cap);
}

static int
save_items(const struct kvm *k, int fd, int index, const struct snap_item *it,
    size_t n, struct snapbuf *b)
{
	uint8_t buf[sizeof(struct kvm_xsave)];

	for (size_t i = 0; i < n; i++) {
		if (!item_wanted(k, &it[i]))
			continue;
		memset(buf, 0, sizeof(buf));
		if (ioctl(fd, it[i].get, buf) == -1) {
			log_warn("vCPU %d: get state for %s", index, it[i].name);
			return -1;
		}
		snapbuf_add(b, it[i].type, (uint32_t)index, buf, it[i].size);
	}
	return 0;
}

static int
load_items(const struct kvm *k, int fd, int index, const struct snap_item *it,
    size_t n, const struct snapstate *st)
{
	for (size_t i = 0; i < n; i++) {
		const void *p;

		if (!item_wanted(k, &it[i]))
			continue;
		if ((p = snapstate_get(st, it[i].type, (uint32_t)index,
		    it[i].size)) == NULL)
			return -1;
		if (ioctl(fd, it[i].set, p) == -1) {
			log_warn("%s: vCPU %d: %s", st->path, index, it[i].name);
			return -1;
		}
	}
	return 0;
}

/* The MSRs KVM lists as worth saving, with the ones it will not read
 * (absent on this CPU) left out one by one. */
static struct kvm_msrs *
msrs_read(const struct kvm *k, int fd)
{
	struct kvm_msr_list *list = calloc(1, sizeof(*list) +
	    SNAP_MAX_MSRS * sizeof(uint32_t));
	struct kvm_msrs *m = calloc(1, sizeof(*m) +
	    SNAP_MAX_MSRS * sizeof(struct kvm_msr_entry));
	int got;

	if (list == NULL || m == NULL)
		goto fail;
	list->nmsrs = SNAP_MAX_MSRS;
	if (ioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, list) == -1) {
		log_warn("KVM_GET_MSR_INDEX_LIST");
		goto fail;
	}
	for (uint32_t i = 0; i < list->nmsrs; i++)
		m->entries[i].index = list->indices[i];
	m->nmsrs = list->nmsrs;
	while ((got = ioctl(fd, KVM_GET_MSRS, m)) >= 0 && (uint32_t)got < m->nmsrs) {
		memmove(&m->entries[got], &m->entries[got + 1],
		    (m->nmsrs - (uint32_t)got - 1) * sizeof(m->entries[0]));
		m->nmsrs--;
	}
	if (got < 0) {
		log_warn("KVM_GET_MSRS");
		goto fail;
	}
	free(list);
	return m;
fail:
	free(list);
	free(m);
	return NULL;
}

/*
 * The CPUID the vCPU was given, as KVM holds it now (with the bits it
 * keeps in step with the guest's CR4).  Linux 6.1's KVM_GET_CPUID2 gives
 * no count back (nent stays as asked, even with E2BIG), so each slot's
 * padding is marked first: the entries KVM wrote are those unmarked.
 */
#define CPUID_MARK	0x5afe5afeU

static uint32_t
cpuid_count(const struct kvm_cpuid2 *c)
{
	uint32_t n = 0;

	if (c->nent < SNAP_MAX_CPUID)
		return c->nent;		/* a KVM that says */
	while (n < SNAP_MAX_CPUID && c->entries[n].padding[0] != CPUID_MARK)
		n++;
	return n;
}

static int
cpuid_save(int fd, int index, struct snapbuf *b)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + SNAP_MAX_CPUID *
	    sizeof(c->entries[0]));
	uint32_t n;

	if (c == NULL)
		return -1;
	c->nent = SNAP_MAX_CPUID;
	for (uint32_t i = 0; i < SNAP_MAX_CPUID; i++)
		c->entries[i].padding[0] = CPUID_MARK;
	if (ioctl(fd, KVM_GET_CPUID2, c) == -1 || (n = cpuid_count(c)) == 0) {
		log_warn("vCPU %d: KVM_GET_CPUID2", index);
		free(c);
		return -1;
	}
	c->nent = n;
	snapbuf_add(b, SEC_CPUID, (uint32_t)index, c->entries,
	    c->nent * (uint32_t)sizeof(c->entries[0]));
	free(c);
	return 0;
}

int
snap_save_vcpu(const struct kvm *k, int fd, int index, struct snapbuf *b)
{
	struct kvm_msrs *m;

	if (cpuid_save(fd, index, b) == -1 || save_items(k, fd, index,
	    vcpu_items, sizeof(vcpu_items) / sizeof(vcpu_items[0]), b) == -1 ||
	    (m = msrs_read(k, fd)) == NULL)
		return -1;
	snapbuf_add(b, SEC_MSRS, (uint32_t)index, m->entries,
	    m->nmsrs * (uint32_t)sizeof(m->entries[0]));
	free(m);
	return save_items(k, fd, index, vcpu_late_items,
	    sizeof(vcpu_late_items) / sizeof(vcpu_late_items[0]), b);
}

static int
msrs_write(int fd, int index, const struct snapstate *st)
{
	uint32_t size;
	const void *p = snapstate_find(st, SEC_MSRS, (uint32_t)index, &size);
	struct kvm_msrs *m;
	int set;

	if (p == NULL || size % sizeof(struct kvm_msr_entry) != 0 ||
	    size / sizeof(struct kvm_msr_entry) > SNAP_MAX_MSRS) {
		log_warnx("%s: vCPU %d: MSR section missing or malformed",
		    st->path, index);
		return -1;
	}
	if ((m = calloc(1, sizeof(*m) + size)) == NULL)
		return -1;
	m->nmsrs = size / (uint32_t)sizeof(struct kvm_msr_entry);
	memcpy(m->entries, p, size);
	set = ioctl(fd, KVM_SET_MSRS, m);
	if (set >= 0 && (uint32_t)set < m->nmsrs)
		log_warnx("%s: vCPU %d: KVM refused MSR 0x%x", st->path, index,
		    m->entries[set].index);
	else if (set < 0)
		log_warn("%s: vCPU %d: KVM_SET_MSRS", st->path, index);
	set = set >= 0 && (uint32_t)set == m->nmsrs ? 0 : -1;
	free(m);
	return set;
}

/* The recorded CPUID, first: KVM checks the registers, XSAVE state and
 * MSRs that follow against the CPUID the vCPU has. */
static int
cpuid_load(int fd, int index, const struct snapstate *st)
{
	uint32_t size;
	const void *p = snapstate_find(st, SEC_CPUID, (uint32_t)index, &size);
	struct kvm_cpuid2 *c;
	int rc;

	if (p == NULL)
		return 0;	/* format 3: the vCPU keeps what it was given */
	if ((c = calloc(1, sizeof(*c) + size)) == NULL)
		return -1;
	c->nent = size / (uint32_t)sizeof(c->entries[0]);
	memcpy(c->entries, p, size);
	if ((rc = ioctl(fd, KVM_SET_CPUID2, c)) == -1)
		log_warn("%s: vCPU %d: KVM_SET_CPUID2", st->path, index);
	free(c);
	return rc == -1 ? -1 : 0;
}

int
snap_load_vcpu(const struct kvm *k, int fd, int index,
    const struct snapstate *st)
{
	if (cpuid_load(fd, index, st) == -1 || load_items(k, fd, index,
	    vcpu_items, sizeof(vcpu_items) / sizeof(vcpu_items[0]), st) == -1 ||
	    msrs_write(fd, index, st) == -1)
		return -1;
	return load_items(k, fd, index, vcpu_late_items,
	    sizeof(vcpu_late_items) / sizeof(vcpu_late_items[0]), st);
}

static const uint32_t chip_sec[3] = { SEC_PIC_MASTER, SEC_PIC_SLAVE, SEC_IOAPIC };

int
snap_save_vm(const struct kvm *k, struct snapbuf *b)
{
	struct kvm_irqchip chip;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;

	for (uint32_t i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (ioctl(k->vm_fd, KVM_GET_IRQCHIP, &chip) == -1) {
			log_warn("KVM_GET_IRQCHIP %u", i);
			return -1;
		}
		snapbuf_add(b, chip_sec[i], 0, &chip, sizeof(chip));
	}
	memset(&pit, 0, sizeof(pit));
	memset(&clock, 0, sizeof(clock));
	if (ioctl(k->vm_fd, KVM_GET_PIT2, &pit) == -1 ||
	    ioctl(k->vm_fd, KVM_GET_CLOCK, &clock) == -1) {
		log_warn("KVM_GET_PIT2/KVM_GET_CLOCK");
		return -1;
	}
	snapbuf_add(b, SEC_PIT, 0, &pit, sizeof(pit));
	snapbuf_add(b, SEC_CLOCK, 0, &clock, sizeof(clock));
	return 0;
}

/* The guest's clock goes on from where it stopped (only the VMM's
 * request, not the snapshot's, may carry flags KVM acts on). */
int
snap_load_vm(const struct kvm *k, const struct snapstate *st)
{
	const struct kvm_pit_state2 *pit;
	const struct kvm_clock_data *clk;
	struct kvm_clock_data clock;

	for (uint32_t i = 0; i < 3; i++) {
		const struct kvm_irqchip *c = snapstate_get(st, chip_sec[i], 0,
		    sizeof(*c));

		if (c == NULL || c->chip_id != i) {
			log_warnx("%s: interrupt controller %u missing", st->path, i);
			return -1;
		}
		if (ioctl(k->vm_fd, KVM_SET_IRQCHIP, c) == -1) {
			log_warn("%s: KVM_SET_IRQCHIP %u", st->path, i);
			return -1;
		}
	}
	if ((pit = snapstate_get(st, SEC_PIT, 0, sizeof(*pit))) == NULL ||
	    (clk = snapstate_get(st, SEC_CLOCK, 0, sizeof(*clk))) == NULL)
		return -1;
	memset(&clock, 0, sizeof(clock));
	clock.clock = clk->clock;
	if (ioctl(k->vm_fd, KVM_SET_PIT2, pit) == -1 ||
	    ioctl(k->vm_fd, KVM_SET_CLOCK, &clock) == -1) {
		log_warn("%s: KVM_SET_PIT2/KVM_SET_CLOCK", st->path);
		return -1;
	}
	return 0;
}

/*
 * Checking the KVM sections before KVM is touched.  KVM validates much
 * of this itself, but a layer is untrusted input: every count, index and
 * enumerated field is held to the values KVM hands out, so that a bad
 * one is refused with the file, section and field named rather than
 * passed on.
 */
static int
bad(const struct snapstate *st, uint32_t type, uint32_t index,
    const char *field, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("%s: section 0x%x (%s) %u: field %s: %s", st->path, type,
	    snapstate_name(type), index, field, why);
	return -1;
}

static bool
zeros(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* An array section of vCPU i: present, whole entries of size bytes, 1 to
 * max of them (*n); NULL (logged, the count named as field) if not. */
static const void *
array_section(const struct snapstate *st, uint32_t type, uint32_t i,
    size_t size, uint32_t max, const char *field, uint32_t *n)
{
	uint32_t bytes;
	const void *p = snapstate_find(st, type, i, &bytes);

	if (p == NULL) {
		log_warnx("%s: no section 0x%x (%s) for vCPU %u", st->path,
		    type, snapstate_name(type), i);
		return NULL;
	}
	if (bytes % size != 0) {
		bad(st, type, i, "size", "%u bytes is not a whole number of "
		    "%zu-byte entries", bytes, size);
		return NULL;
	}
	*n = bytes / (uint32_t)size;
	if (*n == 0 || *n > max) {
		bad(st, type, i, field, "%u, expected 1 to %u", *n, max);
		return NULL;
	}
	return p;
}

static int
check_msrs(const struct snapstate *st, uint32_t i)
{
	uint32_t n;
	const struct kvm_msr_entry *e = array_section(st, SEC_MSRS, i,
	    sizeof(*e), SNAP_MAX_MSRS, "nmsrs", &n);

	if (e == NULL)
		return -1;
	for (uint32_t k = 0; k < n; k++) {
		if (e[k].reserved != 0)
			return bad(st, SEC_MSRS, i, "reserved", "not zero in "
			    "entry %u", k);
		for (uint32_t j = 0; j < k; j++)
			if (e[j].index == e[k].index)
				return bad(st, SEC_MSRS, i, "index", "MSR 0x%x "
				    "twice", e[k].index);
	}
	return 0;
}

/* The XSAVE header KVM gives out: standard format, reserved bytes zero. */
static int
check_xsave(const struct snapstate *st, uint32_t i, const void *p)
{
	const uint8_t *hdr = (const uint8_t *)p + 512;
	uint64_t xcomp;

	memcpy(&xcomp, hdr + 8, sizeof(xcomp));
	if (xcomp != 0)
		return bad(st, SEC_XSAVE, i, "xcomp_bv", "0x%jx, not the "
		    "standard format", (uintmax_t)xcomp);
	if (!zeros(hdr + 16, 48))
		return bad(st, SEC_XSAVE, i, "header reserved", "not zero");
	return 0;
}

static int
check_xcrs(const struct snapstate *st, uint32_t i, const void *p)
{
	const struct kvm_xcrs *x = p;

	if (x->nr_xcrs > KVM_MAX_XCRS)
		return bad(st, SEC_XCRS, i, "nr_xcrs", "%u, at most %d",
		    x->nr_xcrs, KVM_MAX_XCRS);
	if (x->flags != 0)
		return bad(st, SEC_XCRS, i, "flags", "0x%x, expected 0",
		    x->flags);
	for (uint32_t k = 0; k < x->nr_xcrs; k++)
		if (x->xcrs[k].xcr != 0 || x->xcrs[k].reserved != 0)
			return bad(st, SEC_XCRS, i, "xcrs", "entry %u is not "
			    "XCR0", k);
	if (!zeros(&x->xcrs[x->nr_xcrs], (KVM_MAX_XCRS - x->nr_xcrs) *
	    sizeof(x->xcrs[0])) || !zeros(x->padding, sizeof(x->padding)))
		return bad(st, SEC_XCRS, i, "padding", "not zero");
	return 0;
}

#define EVENT_FLAGS	(KVM_VCPUEVENT_VALID_NMI_PENDING | \
	KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW | \
	KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD | \
	KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

static int
check_late(const struct snapstate *st, uint32_t type, uint32_t i,
    const void *p)
{
	const struct kvm_mp_state *mp = p;
	const struct kvm_vcpu_events *ev = p;
	const struct kvm_debugregs *dr = p;

	if (type == SEC_MP_STATE && mp->mp_state > KVM_MP_STATE_SIPI_RECEIVED)
		return bad(st, type, i, "mp_state", "%u, at most %d",
		    mp->mp_state, KVM_MP_STATE_SIPI_RECEIVED);
	if (type == SEC_EVENTS && (ev->flags & ~(uint32_t)EVENT_FLAGS) != 0)
		return bad(st, type, i, "flags", "unknown bits 0x%x",
		    ev->flags & ~(uint32_t)EVENT_FLAGS);
	if (type == SEC_EVENTS && (ev->exception.injected ||
	    ev->exception.pending) && ev->exception.nr > 31)
		return bad(st, type, i, "exception.nr", "vector %u",
		    ev->exception.nr);
	if (type == SEC_DEBUGREGS && (dr->flags != 0 ||
	    !zeros(dr->reserved, sizeof(dr->reserved))))
		return bad(st, type, i, "flags", "flags or reserved not zero");
	return 0;
}

/* One fixed-size section: present if required, of its exact size. */
static int
check_item(const struct snapstate *st, const struct snap_item *it,
    uint32_t i, bool required)
{
	uint32_t size;
	const void *p = snapstate_find(st, it->type, i, &size);

	if (p == NULL && required)
		log_warnx("%s: no section 0x%x (%s) for vCPU %u", st->path,
		    it->type, snapstate_name(it->type), i);
	if (p == NULL)
		return required ? -1 : 0;
	if (size != it->size)
		return bad(st, it->type, i, "size", "%u bytes, expected %u",
		    size, it->size);
	if (it->type == SEC_XSAVE)
		return check_xsave(st, i, p);
	if (it->type == SEC_XCRS)
		return check_xcrs(st, i, p);
	return check_late(st, it->type, i, p);
}

#define CPUID_FLAGS	(KVM_CPUID_FLAG_SIGNIFCANT_INDEX)

static int
check_cpuid(const struct snapstate *st, uint32_t i)
{
	uint32_t n;
	const struct kvm_cpuid_entry2 *e = array_section(st, SEC_CPUID, i,
	    sizeof(*e), SNAP_MAX_CPUID, "nent", &n);

	if (e == NULL)
		return -1;
	for (uint32_t k = 0; k < n; k++) {
		if ((e[k].flags & ~(uint32_t)CPUID_FLAGS) != 0 ||
		    !zeros(e[k].padding, sizeof(e[k].padding)))
			return bad(st, SEC_CPUID, i, "flags", "entry %u: "
			    "unknown flags 0x%x or padding not zero", k,
			    e[k].flags);
		for (uint32_t j = 0; j < k; j++)
			if (e[j].function == e[k].function &&
			    e[j].index == e[k].index)
				return bad(st, SEC_CPUID, i, "function", "leaf "
				    "0x%x.%u twice", e[k].function, e[k].index);
	}
	return 0;
}

static int
check_vcpu(const struct snapstate *st, uint32_t i)
{
	uint32_t size;
	bool xsave = snapstate_find(st, SEC_XSAVE, i, &size) != NULL;

	for (size_t k = 0; k < sizeof(vcpu_items) / sizeof(vcpu_items[0]); k++)
		if (check_item(st, &vcpu_items[k], i, vcpu_items[k].cap == 0) ==
		    -1)
			return -1;
	for (size_t k = 0; k < sizeof(vcpu_late_items) /
	    sizeof(vcpu_late_items[0]); k++)
		if (check_item(st, &vcpu_late_items[k], i,
		    vcpu_late_items[k].cap == 0) == -1)
			return -1;
	if (xsave == (snapstate_find(st, SEC_FPU, i, &size) != NULL)) {
		log_warnx("%s: vCPU %u: %s: a vCPU has XSAVE (0x%x) or FPU "
		    "(0x%x) state, one of the two", st->path, i, xsave ?
		    "both" : "neither", SEC_XSAVE, SEC_FPU);
		return -1;
	}
	return check_msrs(st, i);
}

static const uint32_t vcpu_types[] = { SEC_REGS, SEC_SREGS, SEC_XSAVE,
    SEC_XCRS, SEC_MSRS, SEC_LAPIC, SEC_MP_STATE, SEC_EVENTS, SEC_DEBUGREGS,
    SEC_FPU, SEC_CPUID };

static int
check_pic(const struct snapstate *st, uint32_t type, const struct kvm_pic_state *p)
{
	const uint8_t flag[] = { p->read_reg_select, p->poll, p->special_mask,
	    p->auto_eoi, p->rotate_on_auto_eoi, p->special_fully_nested_mode,
	    p->init4 };

	if (p->priority_add > 7)
		return bad(st, type, 0, "priority_add", "%u, at most 7",
		    p->priority_add);
	if (p->init_state > 3)
		return bad(st, type, 0, "init_state", "%u, at most 3",
		    p->init_state);
	for (size_t k = 0; k < sizeof(flag); k++)
		if (flag[k] > 1)
			return bad(st, type, 0, "mode flags", "%u is not 0 or 1",
			    flag[k]);
	return 0;
}

/* KVM's IOAPIC stays at its default address: a guest cannot move it. */
static int
check_ioapic(const struct snapstate *st, const struct kvm_ioapic_state *a)
{
	if (a->base_address != 0xfec00000)
		return bad(st, SEC_IOAPIC, 0, "base_address", "0x%jx, expected "
		    "0xfec00000", (uintmax_t)a->base_address);
	if (a->id > 15)
		return bad(st, SEC_IOAPIC, 0, "id", "%u, at most 15", a->id);
	if (a->irr >> KVM_IOAPIC_NUM_PINS != 0 || a->pad != 0)
		return bad(st, SEC_IOAPIC, 0, "irr", "0x%x: bits past pin %d",
		    a->irr, KVM_IOAPIC_NUM_PINS - 1);
	return 0;
}

static int
check_chip(const struct snapstate *st, uint32_t n)
{
	const struct kvm_irqchip *c = snapstate_get(st, chip_sec[n], 0,
	    sizeof(*c));
	size_t used = n < 2 ? sizeof(c->chip.pic) : sizeof(c->chip.ioapic);

	if (c == NULL)
		return -1;
	if (c->chip_id != n)
		return bad(st, chip_sec[n], 0, "chip_id", "%u, expected %u",
		    c->chip_id, n);
	if (c->pad != 0 || !zeros((const uint8_t *)&c->chip + used,
	    sizeof(c->chip) - used))
		return bad(st, chip_sec[n], 0, "pad", "not zero");
	return n < 2 ? check_pic(st, chip_sec[n], &c->chip.pic) :
	    check_ioapic(st, &c->chip.ioapic);
}

/* The values KVM's 8254 takes: mode 0-5, or 0xff before it is set. */
static int
check_pit(const struct snapstate *st)
{
	const struct kvm_pit_state2 *p = snapstate_get(st, SEC_PIT, 0,
	    sizeof(*p));

	if (p == NULL)
		return -1;
	if ((p->flags & ~(uint32_t)(KVM_PIT_FLAGS_HPET_LEGACY |
	    KVM_PIT_FLAGS_SPEAKER_DATA_ON)) != 0 ||
	    !zeros(p->reserved, sizeof(p->reserved)))
		return bad(st, SEC_PIT, 0, "flags", "unknown bits or reserved "
		    "not zero");
	for (int k = 0; k < 3; k++) {
		const struct kvm_pit_channel_state *c = &p->channels[k];

		if (c->count > 0x10000)
			return bad(st, SEC_PIT, 0, "count", "channel %d: %u, at "
			    "most 65536", k, c->count);
		if ((c->mode > 5 && c->mode != 0xff) || c->rw_mode > 3 ||
		    c->read_state > 4 || c->write_state > 4 ||
		    c->count_latched > 3)
			return bad(st, SEC_PIT, 0, "mode", "channel %d: mode, "
			    "access or latch state out of range", k);
		if (c->status_latched > 1 || c->bcd > 1 || c->gate > 1)
			return bad(st, SEC_PIT, 0, "gate", "channel %d: a flag "
			    "is not 0 or 1", k);
	}
	return 0;
}

int
snap_kvm_check(const struct snapstate *st, int nvcpus, bool cpuid)
{
	for (uint32_t n = 0; n < 3; n++)
		if (check_chip(st, n) == -1)
			return -1;
	if (check_pit(st) == -1 || snapstate_get(st, SEC_CLOCK, 0,
	    sizeof(struct kvm_clock_data)) == NULL)
		return -1;
	for (int i = 0; i < nvcpus; i++)
		if (check_vcpu(st, (uint32_t)i) == -1 ||
		    (cpuid && check_cpuid(st, (uint32_t)i) == -1))
			return -1;
	if (!cpuid && snapstate_count(st, SEC_CPUID) != 0)
		return bad(st, SEC_CPUID, 0, "type", "in a layer of a format "
		    "before 4");
	for (size_t k = 0; k < sizeof(vcpu_types) / sizeof(vcpu_types[0]); k++)
		for (uint32_t i = (uint32_t)nvcpus, size; i < VM_MAX_VCPUS; i++)
			if (snapstate_find(st, vcpu_types[k], i, &size) != NULL)
				return bad(st, vcpu_types[k], i, "index", "a "
				    "vCPU the machine lacks (vCPUs: %d)", nvcpus);
	return 0;
}

/* The CPUID a vCPU of this host would get with no template, against the
 * recorded one: the record can only ever have less (a template masks
 * bits, never adds them). */
static int
cpu_check_vcpu(const struct kvm_cpuid2 *supported,
    const struct snapstate *st, int i, int nvcpus)
{
	uint32_t size;
	const struct kvm_cpuid_entry2 *rec = snapstate_find(st, SEC_CPUID,
	    (uint32_t)i, &size);
	struct kvm_cpuid2 *host;
	char why[512];
	int n;

	if (rec == NULL)
		return 0;
	if ((host = cpuid_guest(supported, NULL, (uint32_t)i,
	    (uint32_t)nvcpus)) == NULL)
		return -1;
	n = cpucheck_missing(rec, size / (uint32_t)sizeof(*rec),
	    host->entries, host->nent, why, sizeof(why));
	free(host);
	if (n == 0)
		return 0;
	log_warnx("%s: vCPU %d: this host cannot give the guest the CPU it "
	    "had: %d feature%s missing: %s", st->path, i, n, n == 1 ? "" : "s",
	    why);
	return -1;
}

int
snap_kvm_cpu_check(const struct kvm_cpuid2 *supported,
    const struct snapstate *st, int nvcpus)
{
	int rc = 0;

	if (snapstate_count(st, SEC_CPUID) == 0)
		return 0;	/* format 3: nothing recorded to check */
	for (int i = 0; i < nvcpus && rc == 0; i++)
		rc = cpu_check_vcpu(supported, st, i, nvcpus);
	return rc;
}
