/*
 * A restore whose guest memory a page server serves (snaprestore(1)
 * --page-server, snapvm-pager(5)): the runner maps no memory file and
 * reads no working set; the server puts every page in, the working set
 * before READY, the rest as the guest touches it.
 */
#ifndef SNAPVM_RESTORE_PAGER_H
#define SNAPVM_RESTORE_PAGER_H

#include "snapmeta.h"
#include "vm_types.h"

/*
 * Right after mem_create(), before anything touches guest memory: hands
 * it to the server at cfg->page_server for the stack m[0..n-1] (checked
 * manifests, bottom first) and waits for READY; marks the phases of the
 * memory and the working set as a mapped restore does; then starts the
 * watcher, a thread of its own that ends the process (_exit) with the
 * server's status on an ERROR, a hangup or garbage.  -1 after
 * vm_fail() with the status.
 */
int restore_pager_attach(struct vm *vm, const struct vm_config *cfg,
    const struct snap_meta *m, int n);

#endif
