#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "jail.h"
#include "snapshot.h"
#include "vmctl.h"

void
vmctl_init(struct vmctl *c, struct vm *vm)
{
	c->vm = vm;
	c->held = false;
	pthread_mutex_init(&c->lock, NULL);
}

void
vmctl_fini(struct vmctl *c)
{
	pthread_mutex_destroy(&c->lock);
}

static int
ctl_pause(void *ctx, char *err, size_t errlen)
{
	struct vmctl *c = ctx;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->held) {
		if (vm_pause(c->vm) == -1) {
			snprintf(err, errlen, "the VM is stopping");
			rc = -1;
		} else
			c->held = true;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int
ctl_resume(void *ctx, char *err, size_t errlen)
{
	struct vmctl *c = ctx;

	(void)err;
	(void)errlen;
	pthread_mutex_lock(&c->lock);
	if (c->held) {
		vm_resume(c->vm);
		c->held = false;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int
ctl_snapshot(void *ctx, const char *dir, bool diff, char *err, size_t errlen)
{
	struct vmctl *c = ctx;
	int rc = -1;

	pthread_mutex_lock(&c->lock);
	if (diff && (c->vm->layer[0] == '\0' || c->vm->mem.vmm_dirty == NULL))
		snprintf(err, errlen, "%s: a diff snapshot needs a VM restored "
		    "from a snapshot; this one was booted", dir);
	else if (!c->held && vm_pause(c->vm) == -1)
		snprintf(err, errlen, "the VM is stopping");
	else {
		rc = snapshot_write(c->vm, dir, diff, "");
		if (rc == -1)
			snprintf(err, errlen, "%s: snapshot not written (%s); "
			    "the runner's log says more", dir,
			    errno ? strerror(errno) : "failed");
		if (!c->held)
			vm_resume(c->vm);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static int
ctl_stop(void *ctx, char *err, size_t errlen)
{
	struct vmctl *c = ctx;

	(void)err;
	(void)errlen;
	vm_stop(c->vm, VM_STOP_POWEROFF, 0);
	return 0;
}

static void
ctl_status(void *ctx, struct json_object *out)
{
	struct vmctl *c = ctx;
	bool paused;

	pthread_mutex_lock(&c->lock);
	paused = c->held;
	pthread_mutex_unlock(&c->lock);
	json_object_object_add(out, "state",
	    json_object_new_string(paused ? "paused" : "running"));
	json_object_object_add(out, "vcpus", json_object_new_int(c->vm->nvcpus));
	json_object_object_add(out, "mem_mib",
	    json_object_new_int64((int64_t)(c->vm->mem.bytes >> 20)));
	json_object_object_add(out, "restored",
	    json_object_new_boolean(c->vm->layer[0] != '\0'));
}

/* The control socket's thread is filtered as the VM's control thread. */
static int
ctl_enter(void *ctx)
{
	struct vmctl *c = ctx;

	return jail_seccomp_load(JAIL_THREAD_CONTROL, c->vm->seccomp);
}

const struct api_ops vmctl_ops = {
	.pause = ctl_pause,
	.resume = ctl_resume,
	.snapshot = ctl_snapshot,
	.stop = ctl_stop,
	.status = ctl_status,
	.enter = ctl_enter,
};
