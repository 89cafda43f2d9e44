/*
 * The guest's CPU for one run (vmrun(1), CPU): the template, and where
 * the emulator workarounds apply.
 *
 * Booting, --cpu-workarounds on adds noxsave and clearcpuid= to the
 * default command line and turns on the emulation fallback; noxsave adds
 * noxsave alone, with the fallback; off does neither; auto adds the
 * command line where the probe (cpuprobe.h) finds that KVM's emulator
 * fails at guest kernel code, or gives no answer, noxsave alone where it
 * finds that KVM does not see XSETBV, and keeps the fallback, which only
 * ever runs on an exit that would otherwise end the VM.
 *
 * Restoring, the kernel command line is the snapshot's, in the guest's
 * memory, and its kernel chose its instructions at boot: nothing here can
 * change that.  What is left is the fallback: on with on, noxsave and
 * auto, off with off.  auto does not probe: the answer could change nothing else,
 * and a restore is where start time counts.  The CPUID is the layer's,
 * as recorded (restore.c), under the template it was made with: a
 * --cpu-template given must name that one.
 */
#include <stdbool.h>

#include "cpuwa.h"
#include "log.h"
#include "runner.h"

/* What auto boots with: the workarounds, noxsave alone, or none
 * (cpuwa_auto), and why. */
static enum cpuwa
boot_workarounds(const struct runner_opts *o)
{
	const char *kvm = o->vm.kvm_path ? o->vm.kvm_path : "/dev/kvm";
	enum cpuprobe_answer a;
	enum cpuwa w = cpuwa_auto(kvm, &a);

	switch (a) {
	case CPUPROBE_NOXSAVE:
		log_info("this host's KVM does not see the guest's XSETBV: "
		    "adding noxsave");
		break;
	case CPUPROBE_EMULATED:
		log_info("this host's KVM emulates guest kernel code: adding "
		    "the command-line workarounds");
		break;
	case CPUPROBE_UNKNOWN:
		log_warnx("the CPU probe gave no answer: adding the "
		    "command-line workarounds (--cpu-workarounds off goes "
		    "without)");
		break;
	default:	/* native; or no KVM: the VM fails too, and says why */
		break;
	}
	return w;
}

int
runner_cpu(struct runner_opts *o)
{
	bool booting = o->nlayers == 0;
	enum cpuwa w = o->cpu_workarounds;
	int rc;

	if ((rc = cputmpl_load(o->cpu_template ? o->cpu_template : "host",
	    &o->tmpl)) != 0)
		return rc;
	o->vm.cpu_template = &o->tmpl;
	o->vm.cpu_template_given = o->cpu_template != NULL;
	/* auto keeps the fallback, whatever it comes to. */
	o->vm.emulate = w != CPUWA_OFF;
	if (booting && w == CPUWA_AUTO)
		w = boot_workarounds(o);
	o->vm.cmdline_workarounds = booting && w == CPUWA_ON;
	o->vm.cmdline_noxsave = booting && w == CPUWA_NOXSAVE;
	log_info("CPU template %s; workarounds: command line %s, emulation "
	    "fallback %s", booting || o->vm.cpu_template_given ? o->tmpl.name :
	    "the snapshot's", o->vm.cmdline_workarounds ? "on" :
	    o->vm.cmdline_noxsave ? "noxsave" : booting ? "off" :
	    "the snapshot's", o->vm.emulate ? "on" : "off");
	return 0;
}
