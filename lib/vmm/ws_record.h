/*
 * Recording a working set: which guest pages this process has touched
 * since the restore, for workset_add() to lay out (snapvm-snapshot(5)).
 */
#ifndef SNAPVM_WS_RECORD_H
#define SNAPVM_WS_RECORD_H

#include "vm_types.h"

/* Writes path (a temporary name, synced, renamed): one bit per page of
 * guest memory, as a diff's pages file, set for every page mapped in
 * this process (/proc/self/pagemap: present or swapped), whether the
 * guest, KVM or a device touched it.  Logs and returns -1 on failure. */
int ws_record(const struct vm *vm, const char *path);

#endif
