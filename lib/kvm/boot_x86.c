#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <asm/bootparam.h>
#include <linux/kvm.h>

#include "boot_x86.h"
#include "file.h"
#include "log.h"

#define CR0_PE		(1ULL << 0)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

#define E820_RAM	1
#define E820_RESERVED	2

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_PS		(1ULL << 7)

/* Access byte in bits 0-7, flags nibble (G, D/B, L, AVL) in bits 12-15. */
#define GDT_CODE64	0xa09b
#define GDT_DATA	0xc093
#define GDT_TSS64	0x008b
#define GDT_ENTRIES	6		/* null, null, code, data, TSS (two) */

#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102

#define LAPIC_LVT_LINT0	0x350
#define LAPIC_LVT_LINT1	0x360
#define LAPIC_MODE_EXTINT (7U << 8)
#define LAPIC_MODE_NMI	(4U << 8)

static uint64_t
gdt_desc(uint16_t flags, uint32_t base, uint32_t limit)
{
	return (uint64_t)(limit & 0xffff) |
	    ((uint64_t)(base & 0xffffff) << 16) |
	    ((uint64_t)(flags & 0xff) << 40) |
	    ((uint64_t)((limit >> 16) & 0xf) << 48) |
	    ((uint64_t)((flags >> 12) & 0xf) << 52) |
	    ((uint64_t)(base >> 24) << 56);
}

/* KVM wants the descriptor cache, not the descriptor: unpack it. */
static struct kvm_segment
gdt_segment(uint64_t d, uint16_t selector)
{
	struct kvm_segment s = { 0 };
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

	s.selector = selector;
	s.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	s.g = (d >> 55) & 1;
	s.limit = s.g ? (limit << 12) | 0xfff : limit;
	s.type = (d >> 40) & 0xf;
	s.s = (d >> 44) & 1;
	s.dpl = (d >> 45) & 3;
	s.present = (d >> 47) & 1;
	s.avl = (d >> 52) & 1;
	s.l = (d >> 53) & 1;
	s.db = (d >> 54) & 1;
	return s;
}

static void
boot_gdt(uint64_t gdt[GDT_ENTRIES])
{
	memset(gdt, 0, GDT_ENTRIES * sizeof(gdt[0]));
	gdt[BOOT_SEL_CODE / 8] = gdt_desc(GDT_CODE64, 0, 0xfffff);
	gdt[BOOT_SEL_DATA / 8] = gdt_desc(GDT_DATA, 0, 0xfffff);
	gdt[BOOT_SEL_TSS / 8] = gdt_desc(GDT_TSS64, 0, 0x67);
}

/* Identity map of the first 4 GiB: enough for the image, the boot
 * structures, the LAPIC and the IOAPIC.  The guest builds its own. */
static int
boot_page_tables(const struct mem *m)
{
	uint64_t pml4 = BOOT_PDPT | PTE_P | PTE_RW, pdpt[4], pd[512];

	if (mem_write(m, BOOT_PML4, &pml4, sizeof(pml4)) == -1)
		return -1;
	for (uint64_t i = 0; i < 4; i++) {
		pdpt[i] = (BOOT_PD + i * 0x1000) | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i << 30) + (j << 21)) | PTE_P | PTE_RW | PTE_PS;
		if (mem_write(m, BOOT_PD + i * 0x1000, pd, sizeof(pd)) == -1)
			return -1;
	}
	return mem_write(m, BOOT_PDPT, pdpt, sizeof(pdpt));
}

static void
e820_add(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];

	e->addr = addr;
	e->size = size;
	e->type = type;
}

static int
boot_zero_page(const struct mem *m, const char *cmdline,
    const struct boot_initrd *rd)
{
	struct boot_params bp;

	memset(&bp, 0, sizeof(bp));
	bp.hdr.boot_flag = 0xaa55;
	bp.hdr.header = 0x53726448;		/* "HdrS" */
	bp.hdr.version = 0x020f;
	bp.hdr.type_of_loader = 0xff;		/* undefined loader */
	bp.hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE;
	bp.hdr.cmdline_size = BOOT_CMDLINE_MAX - 1;
	bp.hdr.kernel_alignment = 0x1000000;
	bp.hdr.ramdisk_image = (uint32_t)rd->addr;
	bp.hdr.ramdisk_size = (uint32_t)rd->size;
	e820_add(&bp, 0, BOOT_EBDA, E820_RAM);
	e820_add(&bp, BOOT_EBDA, BOOT_LOAD_MIN - BOOT_EBDA, E820_RESERVED);
	e820_add(&bp, BOOT_LOAD_MIN, mem_low_end(m) - BOOT_LOAD_MIN,
	    E820_RAM);
	if (m->nregions > 1)
		e820_add(&bp, m->region[1].gpa, m->region[1].size,
		    E820_RAM);
	if (mem_write(m, BOOT_CMDLINE, cmdline, strlen(cmdline) + 1) == -1)
		return -1;
	return mem_write(m, BOOT_ZERO_PAGE, &bp, sizeof(bp));
}

/*
 * The initrd goes as high as it fits below BOOT_INITRD_MAX and the end of
 * low memory, page-aligned, and must clear the kernel image.
 */
int
boot_load_initrd(const struct mem *m, const char *path, uint64_t kernel_end,
    struct boot_initrd *rd)
{
	uint64_t top = mem_low_end(m) < BOOT_INITRD_MAX ? mem_low_end(m) :
	    BOOT_INITRD_MAX, size;
	int fd, rc;

	if ((fd = file_open_regular(path, &size)) == -1)
		return -1;
	if (size == 0 || size > top || ((top - size) & ~0xfffULL) < kernel_end) {
		log_warnx("%s: %llu bytes do not fit in guest memory above the "
		    "kernel (memory too small for the initrd?)", path,
		    (unsigned long long)size);
		close(fd);
		errno = EFBIG;
		return -1;
	}
	rd->addr = (top - size) & ~0xfffULL;
	rd->size = size;
	rc = file_read_all(fd, path, mem_ptr(m, rd->addr, size), size);
	close(fd);
	return rc;
}

int
boot_write_tables(const struct mem *m, const char *cmdline,
    const struct boot_initrd *rd)
{
	uint64_t gdt[GDT_ENTRIES];

	if (strlen(cmdline) >= BOOT_CMDLINE_MAX) {
		log_warnx("command line is %zu bytes, the limit is %d",
		    strlen(cmdline), BOOT_CMDLINE_MAX - 1);
		errno = E2BIG;
		return -1;
	}
	boot_gdt(gdt);
	if (mem_write(m, BOOT_GDT, gdt, sizeof(gdt)) == -1 ||
	    boot_page_tables(m) == -1 || boot_zero_page(m, cmdline, rd) == -1) {
		log_warn("writing boot tables");
		return -1;
	}
	return 0;
}

static int
boot_sregs(int fd)
{
	struct kvm_sregs sr;
	uint64_t gdt[GDT_ENTRIES];

	if (ioctl(fd, KVM_GET_SREGS, &sr) == -1)
		return -1;
	boot_gdt(gdt);
	sr.cs = gdt_segment(gdt[BOOT_SEL_CODE / 8], BOOT_SEL_CODE);
	sr.ds = gdt_segment(gdt[BOOT_SEL_DATA / 8], BOOT_SEL_DATA);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.tr = gdt_segment(gdt[BOOT_SEL_TSS / 8], BOOT_SEL_TSS);
	sr.gdt.base = BOOT_GDT;
	sr.gdt.limit = sizeof(gdt) - 1;
	sr.idt.base = 0;
	sr.idt.limit = 0;
	sr.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	sr.cr3 = BOOT_PML4;
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sr.efer = EFER_LME | EFER_LMA;
	return ioctl(fd, KVM_SET_SREGS, &sr);
}

static int
boot_msrs(int fd)
{
	static const struct { uint32_t index; uint64_t value; } boot[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 },		/* fast string ops */
		{ MSR_MTRR_DEF_TYPE, (1 << 11) | 6 },	/* MTRRs on, write-back */
	};
	enum { N = sizeof(boot) / sizeof(boot[0]) };
	struct kvm_msrs *msrs;
	int rc;

	msrs = calloc(1, sizeof(*msrs) + N * sizeof(msrs->entries[0]));
	if (msrs == NULL)
		return -1;
	msrs->nmsrs = N;
	for (int i = 0; i < N; i++) {
		msrs->entries[i].index = boot[i].index;
		msrs->entries[i].data = boot[i].value;
	}
	rc = ioctl(fd, KVM_SET_MSRS, msrs);
	free(msrs);
	if (rc != N) {
		errno = rc == -1 ? errno : EINVAL;
		return -1;
	}
	return 0;
}

int
boot_setup_bsp(int vcpu_fd, uint64_t entry)
{
	struct kvm_regs r = { 0 };
	struct kvm_fpu fpu = { 0 };

	if (boot_sregs(vcpu_fd) == -1) {
		log_warn("KVM_SET_SREGS");
		return -1;
	}
	r.rflags = 0x2;
	r.rip = entry;
	r.rsi = BOOT_ZERO_PAGE;
	r.rsp = BOOT_STACK_TOP;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &r) == -1) {
		log_warn("KVM_SET_REGS");
		return -1;
	}
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) == -1) {
		log_warn("KVM_SET_FPU");
		return -1;
	}
	if (boot_msrs(vcpu_fd) == -1) {
		log_warn("KVM_SET_MSRS");
		return -1;
	}
	return 0;
}

/* As on a PC: LINT0 takes the legacy PIC's interrupts, LINT1 NMIs. */
int
boot_setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state la;
	uint32_t v;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &la) == -1) {
		log_warn("KVM_GET_LAPIC");
		return -1;
	}
	memcpy(&v, &la.regs[LAPIC_LVT_LINT0], 4);
	v = (v & ~0x700U) | LAPIC_MODE_EXTINT;
	memcpy(&la.regs[LAPIC_LVT_LINT0], &v, 4);
	memcpy(&v, &la.regs[LAPIC_LVT_LINT1], 4);
	v = (v & ~0x700U) | LAPIC_MODE_NMI;
	memcpy(&la.regs[LAPIC_LVT_LINT1], &v, 4);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &la) == -1) {
		log_warn("KVM_SET_LAPIC");
		return -1;
	}
	return 0;
}
