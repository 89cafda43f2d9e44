/*
 * The request mode of vmrun and snaprestore: JSON lines on an input fd,
 * one invocation at a time over the runtime connection, one JSON line per
 * response on an output fd, in order.  See vmrun(1) and
 * snapvm-protocol(5).
 */
#ifndef SNAPVM_REQLOOP_H
#define SNAPVM_REQLOOP_H

#include <stddef.h>

#include "vm.h"

#define RUNTIME_PORT		1024	/* host vsock port the runtime dials */
#define REQLOOP_MAX_REQUEST	(4U * 1024 * 1024)

struct reqloop_config {
	const char *vsock_path;		/* the VM's --vsock socket */
	int in_fd, out_fd;
	size_t max_request;
	unsigned timeout_ms;		/* per request; 0: none */
	const struct netaddr *net_addr;	/* told to the runtime at every
					 * "continue"; NULL or prefix 0: none */
	const char *record_workset;	/* --record-workset: the pages touched
					 * up to the first answer go there
					 * (ws_record) before it is written */
};

/*
 * Defined only in test builds of the runners (t/hooks/runner_hooks.c);
 * the programs leave it undefined, so that its address is NULL and the
 * request loop never calls it.  Called with each well-formed request on
 * the loop's thread: 1 when it answered the request itself, with msg as
 * the error message (type "TestHook"), 0 to go on as usual.
 */
struct json_object;
int reqloop_test_hook(struct json_object *req, char *msg, size_t n)
    __attribute__((weak));

/* Listens at "<vsock_path>_1024" before the guest starts; then runs the
 * VM until the input ends, the guest stops or a signal arrives. */
int reqloop_run(struct vm *vm, const struct reqloop_config *cfg,
    struct vm_result *res);

#endif
