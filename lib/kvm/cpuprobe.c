/*
 * The probe VM (cpuprobe.h).  It is built as a booted guest is (the same
 * VM, boot tables, long mode and CPUID), so that KVM treats its code as
 * it would a guest kernel's; only the code differs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "boot_x86.h"
#include "cpuid.h"
#include "cpuprobe.h"
#include "cputmpl.h"
#include "file.h"
#include "kvm.h"
#include "log.h"
#include "mem.h"
#include "vcpu.h"

#define PROBE_CODE	BOOT_LOAD_MIN
#define PROBE_DATA	(BOOT_LOAD_MIN + 0x1000)
/* Unused entries of the page directory every access walks: under shadow
 * paging a write-protected page table, whose writes KVM emulates. */
#define PROBE_PT	(BOOT_PD + 0x800)
#define PROBE_PORT	0x99
#define PROBE_PORT_NOXSAVE	0x98
#define CR4_OSXSAVE	(1ULL << 18)
#define CODE_MAX	256
#define PROBE_TRIES	3

/* The throwaway VM. */
struct probe {
	struct kvm k;
	struct mem m;
	struct vcpu v;
	struct vcpu_host host;
};

struct code {
	uint8_t b[CODE_MAX];
	size_t n;
};

static void
emit(struct code *c, const void *bytes, size_t n)
{
	if (c->n + n <= sizeof(c->b)) {
		memcpy(c->b + c->n, bytes, n);
		c->n += n;
	}
}

static bool
host_has(struct kvm_cpuid2 *cpuid, const char *name)
{
	const struct cputmpl_feature *f = cputmpl_feature(name);

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == f->leaf && e->index == f->subleaf)
			return (*cputmpl_reg(e, f->reg) >> f->bit & 1) != 0;
	}
	return false;
}

/* The instructions the workarounds are about, each only where the CPUID
 * the probe's vCPU has offers it, with %rdi pointing at the target. */
static void
emit_body(struct code *c, struct kvm_cpuid2 *cpuid)
{
	if (host_has(cpuid, "popcnt"))		/* popcnt (%rdi),%rax */
		emit(c, "\xf3\x48\x0f\xb8\x07", 5);
	if (host_has(cpuid, "movbe"))		/* movbe (%rdi),%rax; back */
		emit(c, "\x48\x0f\x38\xf0\x07\x48\x0f\x38\xf1\x07", 10);
	if (host_has(cpuid, "cx16"))		/* zero rax..rbx; cmpxchg16b */
		emit(c, "\x31\xc0\x31\xd2\x31\xc9\x31\xdb\x48\x0f\xc7\x0f", 12);
	if (!host_has(cpuid, "xsave"))
		return;
	emit(c, "\x31\xc9\x0f\x01\xd0", 5);	/* xor ecx; xgetbv */
	if (host_has(cpuid, "avx"))		/* XCR0 = 7; vmovdqu ymm0 */
		emit(c, "\xb8\x07\x00\x00\x00\x31\xd2\x31\xc9\x0f\x01\xd1"
		    "\xc5\xfe\x7f\x07", 16);
	/* mov $-1,%eax; mov $-1,%edx; xsave64 (%rdi) */
	emit(c, "\xb8\xff\xff\xff\xff\xba\xff\xff\xff\xff\x48\x0f\xae\x27", 14);
}

/* The XSAVE area's size for XCR0 = x87 | SSE | AVX: the end of the AVX
 * state (CPUID 0xd.2: size, offset), or 0 if not known. */
static uint32_t
avx_area_end(struct kvm_cpuid2 *cpuid)
{
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 0xd && e->index == 2)
			return e->eax + e->ebx;
	}
	return 0;
}

/* With XCR0 = 7 (set by the body): CPUID 0xd.0 EBX must follow it. */
static void
emit_xcr0_check(struct code *c, struct kvm_cpuid2 *cpuid)
{
	uint8_t cmp[6] = { 0x81, 0xfb };	/* cmp $size,%ebx */
	uint32_t end = avx_area_end(cpuid);

	if (!host_has(cpuid, "xsave") || !host_has(cpuid, "avx") || end == 0)
		return;
	memcpy(cmp + 2, &end, 4);
	/* mov $0xd,%eax; xor %ecx,%ecx; cpuid */
	emit(c, "\xb8\x0d\x00\x00\x00\x31\xc9\x0f\xa2", 9);
	emit(c, cmp, sizeof(cmp));
	emit(c, "\x74\x02\xe6\x98", 4);	/* je +2; out %al,$0x98 */
}

static void
probe_code(struct code *c, struct kvm_cpuid2 *cpuid)
{
	static const uint32_t targets[] = { PROBE_DATA, PROBE_PT };

	c->n = 0;
	for (size_t i = 0; i < 2; i++) {
		uint8_t mov[5] = { 0xbf };	/* mov $target,%edi */

		memcpy(mov + 1, &targets[i], 4);
		emit(c, mov, sizeof(mov));
		emit_body(c, cpuid);
	}
	emit_xcr0_check(c, cpuid);
	emit(c, "\xe6\x99", 2);			/* out %al,$PROBE_PORT */
}

static int
probe_vcpu(struct probe *p, struct kvm_cpuid2 *cpuid)
{
	struct vcpu *v = &p->v;
	struct kvm_sregs sr;

	p->host.kvm = &p->k;
	if (vcpu_create(v, &p->host, 0) == -1 ||
	    cpuid_set(v->fd, cpuid, NULL, 0, 1) == -1 ||
	    boot_setup_bsp(v->fd, PROBE_CODE) == -1)
		return -1;
	if (!host_has(cpuid, "xsave"))
		return 0;
	if (ioctl(v->fd, KVM_GET_SREGS, &sr) == -1)
		return -1;
	sr.cr4 |= CR4_OSXSAVE;		/* as the guest kernel sets it */
	return ioctl(v->fd, KVM_SET_SREGS, &sr);
}

static enum cpuprobe_answer
probe_exit(const struct kvm_run *r)
{
	if (r->exit_reason == KVM_EXIT_IO && r->io.port == PROBE_PORT &&
	    r->io.direction == KVM_EXIT_IO_OUT)
		return CPUPROBE_NATIVE;
	if (r->exit_reason == KVM_EXIT_IO &&
	    r->io.port == PROBE_PORT_NOXSAVE &&
	    r->io.direction == KVM_EXIT_IO_OUT)
		return CPUPROBE_NOXSAVE;
	if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    r->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
		return CPUPROBE_EMULATED;
	log_info("CPU probe: vCPU exit %u (suberror %u), not the end of the "
	    "probe", r->exit_reason, r->exit_reason == KVM_EXIT_INTERNAL_ERROR ?
	    r->internal.suberror : 0);
	return CPUPROBE_UNKNOWN;
}

static enum cpuprobe_answer
probe_vm(struct probe *p)
{
	struct kvm_cpuid2 *cpuid = cpuid_supported(p->k.sys_fd);
	struct boot_initrd rd = { 0, 0 };
	struct code c;
	int rc = -1;

	if (cpuid == NULL)
		return CPUPROBE_UNKNOWN;
	probe_code(&c, cpuid);
	if (kvm_create_vm(&p->k) == 0 && mem_create(&p->m, MEM_MIN_MIB) == 0 &&
	    mem_register(&p->m, p->k.vm_fd) == 0 &&
	    boot_write_tables(&p->m, "", &rd) == 0 &&
	    mem_write(&p->m, PROBE_CODE, c.b, c.n) == 0 &&
	    probe_vcpu(p, cpuid) == 0) {
		while ((rc = ioctl(p->v.fd, KVM_RUN, 0)) == -1 &&
		    (errno == EINTR || errno == EAGAIN))
			;
		if (rc == -1)
			log_warn("CPU probe: KVM_RUN");
	}
	free(cpuid);
	return rc == -1 ? CPUPROBE_UNKNOWN : probe_exit(p->v.run);
}

enum cpuprobe_answer
cpuprobe_run(const char *kvm_path)
{
	struct probe p;
	enum cpuprobe_answer a;

	memset(&p, 0, sizeof(p));
	p.v.fd = -1;
	if (kvm_open(&p.k, kvm_path) == -1)
		return CPUPROBE_UNKNOWN;
	a = probe_vm(&p);
	if (p.v.fd != -1)
		vcpu_destroy(&p.v);
	mem_destroy(&p.m);
	kvm_close(&p.k);
	return a;
}

enum cpuprobe_answer
cpuprobe_answer(const char *kvm_path)
{
	char path[4096], dir[4096], id[CPUPROBE_BOOT_ID];
	bool cacheable = cpuprobe_cache_path(path, sizeof(path)) == 0 &&
	    cpuprobe_boot_id(id) == 0;
	enum cpuprobe_answer a = CPUPROBE_UNKNOWN;

	if (cacheable && (a = cpuprobe_cache_read(path, id)) != CPUPROBE_UNKNOWN)
		return a;
	/* Again on no answer: under nested KVM (scripts/kvm-in-qemu) the
	 * first probe after the host's boot ended now and then in a
	 * shutdown exit, and the next one answered. */
	for (int i = 0; i < PROBE_TRIES && a == CPUPROBE_UNKNOWN; i++)
		a = cpuprobe_run(kvm_path);
	log_info("CPU probe: %s", a == CPUPROBE_NATIVE ? "KVM runs guest "
	    "kernel code natively" : a == CPUPROBE_EMULATED ? "KVM's "
	    "emulator failed: the guest needs the workarounds" :
	    a == CPUPROBE_NOXSAVE ? "KVM runs guest kernel code natively but "
	    "does not see XSETBV: the guest needs noxsave" : "no answer");
	if (cacheable && a != CPUPROBE_UNKNOWN &&
	    (file_cache_mkdir(NULL, dir, sizeof(dir)) == -1 ||
	    cpuprobe_cache_write(path, id, a) == -1))
		log_debug("%s: answer not cached", path);
	return a;
}
