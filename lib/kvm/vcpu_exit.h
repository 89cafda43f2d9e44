/*
 * The vCPU thread: KVM_RUN in a loop, and what each exit means.  I/O
 * goes to the host's buses; guest events and errors that end the VM go
 * to the host's ops.
 */
#ifndef SNAPVM_VCPU_EXIT_H
#define SNAPVM_VCPU_EXIT_H

#include "vcpu.h"

int vcpu_start(struct vcpu *v);
/* Logs what and the vCPU's registers. */
void vcpu_report(const struct vcpu *v, const char *what);

#endif
