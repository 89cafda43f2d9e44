/*
 * The guest's CPU workarounds as a setting: --cpu-workarounds of
 * vmrun(1) and snaprestore(1), cpu_workarounds of ctrl.yaml
 * (snapvm-config(5)).  Its words, and what auto comes to on this host,
 * are here once, so that ctrl, which resolves auto for all its runners,
 * and vmrun, which resolves it when it boots, agree.
 */
#ifndef SNAPVM_CPUWA_H
#define SNAPVM_CPUWA_H

#include "cpuprobe.h"

/* noxsave is what auto picks where the probe answers CPUPROBE_NOXSAVE,
 * so that a caller that resolved auto once (ctrl) can pass its answer
 * on. */
enum cpuwa { CPUWA_AUTO, CPUWA_ON, CPUWA_OFF, CPUWA_NOXSAVE };

/* The words, for messages. */
#define CPUWA_WORDS	"auto, on, noxsave or off"

/* The setting word names: 0, or -1 (nothing logged) if none. */
int cpuwa_parse(const char *word, enum cpuwa *w);
/* The word of setting w. */
const char *cpuwa_word(enum cpuwa w);

/*
 * What auto comes to on the host of kvm_path (/dev/kvm), from the
 * probe's answer (cpuprobe_answer): off where KVM runs guest kernel code
 * natively, noxsave where it does not see the guest's XSETBV, on where
 * its emulator failed or the probe gave no answer (the workarounds cost
 * speed, their absence a crash).  Without access to kvm_path no probe
 * runs and the answer is on, the choice that never crashes: every VM
 * fails there anyway, and says why.  *answer, if answer is not NULL, is
 * the probe's answer, or CPUPROBE_NOKVM where none ran.
 */
enum cpuwa cpuwa_auto(const char *kvm_path, enum cpuprobe_answer *answer);

#endif
