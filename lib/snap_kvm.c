#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "log.h"
#include "snap_kvm.h"

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

int
snap_save_vcpu(const struct kvm *k, int fd, int index, struct snapbuf *b)
{
	struct kvm_msrs *m;

	if (save_items(k, fd, index, vcpu_items, sizeof(vcpu_items) /
	    sizeof(vcpu_items[0]), b) == -1 || (m = msrs_read(k, fd)) == NULL)
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

int
snap_load_vcpu(const struct kvm *k, int fd, int index,
    const struct snapstate *st)
{
	if (load_items(k, fd, index, vcpu_items, sizeof(vcpu_items) /
	    sizeof(vcpu_items[0]), st) == -1 || msrs_write(fd, index, st) == -1)
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
