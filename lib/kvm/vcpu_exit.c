#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "emulate.h"
#include "log.h"
#include "vcpu_exit.h"

#define PAGE_SIZE 4096ULL

static void
vcpu_stop(const struct vcpu *v, enum vcpu_stop why)
{
	v->host->ops->stop(v->host->opaque, why);
}

static bool
vcpu_stopping(const struct vcpu *v)
{
	return v->host->ops->stopping(v->host->opaque);
}

static int
vcpu_io(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	size_t bytes = (size_t)r->io.size * r->io.count;
	uint8_t *data = (uint8_t *)r + r->io.data_offset;

	if (r->io.data_offset > v->host->kvm->run_size ||
	    bytes > v->host->kvm->run_size - r->io.data_offset)
		return -1;
	for (uint32_t i = 0; i < r->io.count; i++)
		bus_access(v->host->pio, r->io.port, data + i * r->io.size,
		    r->io.size, r->io.direction == KVM_EXIT_IO_OUT);
	return 0;
}

static int
vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *r = v->run;

	if (r->mmio.len > sizeof(r->mmio.data))
		return -1;
	bus_access(v->host->mmio, r->mmio.phys_addr, r->mmio.data, r->mmio.len,
	    r->mmio.is_write);
	return 0;
}

/* Reads guest-linear memory through the vCPU's page tables, a page at a time. */
static int
vcpu_read_linear(void *ctx, uint64_t linear, void *buf, size_t len)
{
	const struct vcpu *v = ctx;
	uint8_t *out = buf;

	while (len > 0) {
		struct kvm_translation t = { .linear_address = linear };
		size_t chunk = PAGE_SIZE - (linear & (PAGE_SIZE - 1));

		if (chunk > len)
			chunk = len;
		if (ioctl(v->fd, KVM_TRANSLATE, &t) == -1 || !t.valid ||
		    mem_read(v->host->mem, t.physical_address, out, chunk) == -1) {
			errno = EFAULT;
			return -1;
		}
		out += chunk;
		linear += chunk;
		len -= chunk;
	}
	return 0;
}

static void
regs_to_emul(const struct kvm_regs *k, const struct kvm_sregs *s,
    struct emul_regs *e)
{
	const uint64_t g[EMUL_NGPR] = { k->rax, k->rcx, k->rdx, k->rbx, k->rsp,
	    k->rbp, k->rsi, k->rdi, k->r8, k->r9, k->r10, k->r11, k->r12,
	    k->r13, k->r14, k->r15 };

	memcpy(e->gpr, g, sizeof(g));
	e->rip = k->rip;
	e->rflags = k->rflags;
	e->fs_base = s->fs.base;
	e->gs_base = s->gs.base;
}

static void
emul_to_regs(const struct emul_regs *e, struct kvm_regs *k)
{
	__u64 *g[EMUL_NGPR] = { &k->rax, &k->rcx, &k->rdx, &k->rbx,
	    &k->rsp, &k->rbp, &k->rsi, &k->rdi, &k->r8, &k->r9, &k->r10,
	    &k->r11, &k->r12, &k->r13, &k->r14, &k->r15 };

	for (int i = 0; i < EMUL_NGPR; i++)
		*g[i] = e->gpr[i];
	k->rip = e->rip;
	k->rflags = e->rflags;
}

static int
vcpu_inject_bp(const struct vcpu *v)
{
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == -1)
		return -1;
	ev.exception.injected = 1;
	ev.exception.nr = 3;
	ev.exception.has_error_code = 0;
	ev.exception.error_code = 0;
	ev.flags = 0;
	return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev);
}

/*
 * KVM hands back the bytes of an instruction its emulator could not run.
 * Finish it here when we know how; otherwise the caller reports it.
 */
static int
vcpu_emulation_failure(struct vcpu *v)
{
	struct kvm_run *r = v->run;
	struct emul_insn in;
	struct emul_regs er;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool bp;

	if (r->emulation_failure.ndata < 3 || !(r->emulation_failure.flags &
	    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return -1;
	if (emul_decode(r->emulation_failure.insn_bytes,
	    r->emulation_failure.insn_size, &in) == -1)
		return -1;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) == -1 ||
	    ioctl(v->fd, KVM_GET_SREGS, &sregs) == -1)
		return -1;
	regs_to_emul(&regs, &sregs, &er);
	if (emul_execute(&in, &er, vcpu_read_linear, v, &bp) == -1)
		return -1;
	emul_to_regs(&er, &regs);
	if (ioctl(v->fd, KVM_SET_REGS, &regs) == -1)
		return -1;
	if (bp && vcpu_inject_bp(v) == -1)
		return -1;
	log_debug("vCPU %d: completed %s at %#llx", v->id,
	    in.op == EMUL_INT3 ? "int3" : in.op == EMUL_FWAIT ? "fwait" :
	    "popcnt", (unsigned long long)regs.rip);
	return 0;
}

static void
vcpu_report_insn(const struct vcpu *v)
{
	const struct kvm_run *r = v->run;
	char hex[3 * 16 + 1] = "";
	size_t n = r->emulation_failure.insn_size;

	if (r->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    r->emulation_failure.ndata < 3 || !(r->emulation_failure.flags &
	    KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
		return;
	if (n > sizeof(r->emulation_failure.insn_bytes))
		n = sizeof(r->emulation_failure.insn_bytes);
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%s%02x", i ? " " : "",
		    r->emulation_failure.insn_bytes[i]);
	log_warnx("vCPU %d: instruction bytes: %s", v->id, hex);
}

void
vcpu_report(const struct vcpu *v, const char *what)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	log_warnx("vCPU %d: %s", v->id, what);
	if (v->run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		vcpu_report_insn(v);
	if (ioctl(v->fd, KVM_GET_REGS, &r) == -1 ||
	    ioctl(v->fd, KVM_GET_SREGS, &s) == -1)
		return;
	log_warnx("vCPU %d: rip %016llx rsp %016llx rflags %08llx cs %04x",
	    v->id, r.rip, r.rsp, r.rflags, s.cs.selector);
	log_warnx("vCPU %d: rax %016llx rbx %016llx rcx %016llx rdx %016llx",
	    v->id, r.rax, r.rbx, r.rcx, r.rdx);
	log_warnx("vCPU %d: rsi %016llx rdi %016llx rbp %016llx r8  %016llx",
	    v->id, r.rsi, r.rdi, r.rbp, r.r8);
	log_warnx("vCPU %d: cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx "
	    "efer %llx", v->id, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}

static int
vcpu_internal_error(struct vcpu *v)
{
	char what[96];

	bool emul = v->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION;

	if (emul && v->host->emulate && vcpu_emulation_failure(v) == 0)
		return 0;
	snprintf(what, sizeof(what), "KVM internal error, suberror %u%s",
	    v->run->internal.suberror, !emul ? "" : v->host->emulate ?
	    " (instruction the host cannot emulate)" :
	    " (instruction the host cannot emulate; see --cpu-workarounds)");
	vcpu_report(v, what);
	return -1;
}

static int
vcpu_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vcpu_stop(v, VCPU_STOP_POWEROFF);
		return 1;
	case KVM_SYSTEM_EVENT_RESET:
		vcpu_stop(v, VCPU_STOP_RESET);
		return 1;
	default:
		vcpu_report(v, "guest crash event");
		return -1;
	}
}

/* 0: go on running; 1: the VM is stopping normally; -1: fatal, reported. */
static int
vcpu_dispatch(struct vcpu *v)
{
	char what[64];

	switch (v->run->exit_reason) {
	case KVM_EXIT_IO:
	case KVM_EXIT_MMIO:
		if ((v->run->exit_reason == KVM_EXIT_IO ? vcpu_io(v) :
		    vcpu_mmio(v)) == 0)
			return 0;
		vcpu_report(v, "malformed I/O exit");
		return -1;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		return vcpu_internal_error(v);
	case KVM_EXIT_SYSTEM_EVENT:
		return vcpu_system_event(v);
	case KVM_EXIT_SHUTDOWN:
		vcpu_report(v, "guest triple fault (shutdown): a crash, or a "
		    "Linux panic with reboot=t; see the guest console");
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, reason %#llx",
		    (unsigned long long)
		    v->run->fail_entry.hardware_entry_failure_reason);
		vcpu_report(v, what);
		return -1;
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u",
		    v->run->exit_reason);
		vcpu_report(v, what);
		return -1;
	}
}

static int
vcpu_handle_exit(struct vcpu *v)
{
	int rc = vcpu_dispatch(v);

	if (rc == -1)
		vcpu_stop(v, VCPU_STOP_ERROR);
	return rc == 0 ? 0 : -1;
}

static void
vcpu_count(struct vcpu *v, enum vcpu_exit_kind k)
{
	__atomic_store_n(&v->exits[k], v->exits[k] + 1, __ATOMIC_RELAXED);
}

/*
 * A kicked vCPU parks until the VM is no longer paused, then clears the
 * kick and enters KVM_RUN again; unless the VM is stopping: a stop kicks
 * too, and the flag stays set for the loop to end on.
 */
static void *
vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	sigset_t kick;
	char name[16];

	/* Named for top -H, ps -L and the kernel's seccomp log. */
	snprintf(name, sizeof(name), "vcpu%d", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	if (v->host->ops->enter != NULL &&
	    v->host->ops->enter(v->host->opaque) == -1)
		return NULL;
	while (!vcpu_stopping(v)) {
		if (ioctl(v->fd, KVM_RUN, 0) == -1) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu_count(v, VCPU_EXIT_INTR);
				v->host->ops->park(v->host->opaque);
				if (!vcpu_stopping(v))
					vcpu_unkick(v);
				continue;
			}
			log_warn("vCPU %d: KVM_RUN", v->id);
			vcpu_stop(v, VCPU_STOP_ERROR);
			break;
		}
		vcpu_count(v, v->run->exit_reason == KVM_EXIT_IO ? VCPU_EXIT_IO :
		    v->run->exit_reason == KVM_EXIT_MMIO ? VCPU_EXIT_MMIO :
		    v->run->exit_reason == KVM_EXIT_INTR ? VCPU_EXIT_INTR :
		    VCPU_EXIT_OTHER);
		if (vcpu_handle_exit(v) == -1)
			break;
	}
	return NULL;
}

int
vcpu_start(struct vcpu *v)
{
	int e = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (e != 0) {
		errno = e;
		log_warn("vCPU %d: pthread_create", v->id);
		return -1;
	}
	v->started = true;
	return 0;
}
