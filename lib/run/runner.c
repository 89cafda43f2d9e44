#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "file.h"
#include "log.h"
#include "monotime.h"
#include "reqloop.h"
#include "runner.h"
#include "snapmeta.h"
#include "vmctl.h"
#include "workset.h"

struct runner {
	struct runner_opts *o;
	struct vm vm;
	char dir[256];			/* private: sockets, placeholder drive */
	char sock[300], empty[300];
	int dumped;			/* 1 written, -1 failed, 0 not yet */
	struct vmctl ctl;		/* the control socket's, and the lock
					 * checkpoints take too */
	struct api api;
};

static const char *
point_name(uint32_t point)
{
	return point == CKPT_RUNTIME ? "runtime" : point == CKPT_APP ? "app" : "";
}

/*
 * --dump-dir: a booted VM is written as a full snapshot when its guest
 * reaches the runtime point; a restored one as a diff when it reaches the
 * app point.  The runner then stops: the snapshot is its product.
 */
static void
runner_ckpt(struct vm *vm, uint32_t point, void *arg)
{
	struct runner *r = arg;
	bool diff = r->o->nlayers > 0;
	uint64_t t0;
	int rc;

	log_info("guest checkpoint %u (%s)", point, point_name(point));
	if (r->o->dump_dir == NULL || r->dumped != 0 ||
	    point != (diff ? CKPT_APP : CKPT_RUNTIME))
		return;
	t0 = mono_ms();
	pthread_mutex_lock(&r->ctl.lock);
	if (vm_pause(vm) == -1) {
		pthread_mutex_unlock(&r->ctl.lock);
		return;
	}
	rc = snapshot_write(vm, r->o->dump_dir, diff, point_name(point));
	r->dumped = rc == 0 ? 1 : -1;
	if (rc == 0)
		log_info("wrote %s snapshot %s in %ju ms", diff ? "diff" : "full",
		    r->o->dump_dir, (uintmax_t)(mono_ms() - t0));
	else
		log_warnx("%s: snapshot not written", r->o->dump_dir);
	/* Stopped before it is let go: the guest runs no further. */
	vm_stop(vm, rc == 0 ? VM_STOP_POWEROFF : VM_STOP_ERROR, 0);
	vm_resume(vm);
	pthread_mutex_unlock(&r->ctl.lock);
}

/* A base snapshot is taken before any app exists, but the VMs restored
 * from it will have an app drive: the base gets an empty one. */
static int
placeholder_drive(struct runner *r)
{
	int fd;

	snprintf(r->empty, sizeof(r->empty), "%s/no-app", r->dir);
	fd = open(r->empty, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_warn("%s", r->empty);
		return -1;
	}
	close(fd);
	r->o->appfs = r->empty;
	return 0;
}

static int
add_drive(struct vm_config *cfg, int i, char *spec, bool read_only)
{
	char *comma = spec ? strrchr(spec, ',') : NULL;

	cfg->drive[i].read_only = read_only;
	if (comma != NULL && (strcmp(comma, ",rw") == 0 ||
	    strcmp(comma, ",ro") == 0)) {
		cfg->drive[i].read_only = comma[2] == 'o';
		*comma = '\0';		/* the flag's own argv string */
	}
	cfg->drive[i].path = spec;
	if (i >= cfg->ndrives)
		cfg->ndrives = i + 1;
	return 0;
}

/* Booting: root, app, the others, packed.  Restoring: slot 0 is always
 * the root and slot 1 the app, so that an empty slot is reported as the
 * flag that should have named it: a layer never supplies a file. */
static int
place_drives(struct runner *r)
{
	struct runner_opts *o = r->o;
	struct vm_config *cfg = &o->vm;
	bool fixed = o->nlayers > 0;
	int i = 0;

	if (o->rootfs != NULL || fixed)
		add_drive(cfg, i++, o->rootfs, true);
	cfg->rootfs = o->rootfs != NULL;
	if (o->appfs != NULL || (fixed && o->ndrives > 0))
		add_drive(cfg, i++, o->appfs, true);
	for (int d = 0; d < o->ndrives; d++) {
		if (i == VM_MAX_DRIVES) {
			log_warnx("at most %d drives", VM_MAX_DRIVES);
			return -1;
		}
		add_drive(cfg, i++, o->drive[d], true);
	}
	if (fixed && o->rootfs == NULL && o->appfs == NULL && o->ndrives == 0)
		cfg->ndrives = 0;	/* right only for a layer without drives */
	return 0;
}

static int
exit_status(const struct vm_result *res)
{
	switch (res->kind) {
	case VM_STOP_EXIT:
		return res->status & 0xff;
	case VM_STOP_RESET:
	case VM_STOP_POWEROFF:
		return 0;
	case VM_STOP_SIGNAL:
		return 128 + res->status;
	case VM_STOP_TIMEOUT:
		return EX_TEMPFAIL;
	default:
		return EX_SOFTWARE;
	}
}

/* Whether the VM talks to a function runtime over vsock: a booted one
 * when asked or when it gets an app or makes a base snapshot, a restored
 * one when its snapshot has the vsock device. */
static int
wants_runtime(const struct runner_opts *o, bool *serve)
{
	struct snap_meta m;

	if (o->nlayers == 0) {
		*serve = o->serve || o->appfs != NULL ||
		    (o->dump_dir != NULL && o->rootfs != NULL);
		return 0;
	}
	if (snapmeta_read(o->layer[o->nlayers - 1], &m) == -1)
		return -1;
	*serve = m.vsock;
	return 0;
}

static int
runner_prepare(struct runner *r, bool *serve)
{
	struct runner_opts *o = r->o;
	bool base = o->nlayers == 0 && o->dump_dir && o->rootfs && !o->appfs;

	if (wants_runtime(o, serve) == -1)
		return EX_DATAERR;
	if (o->nlayers > 0 && !*serve && o->vm.net_addr.prefix != 0)
		log_warnx("--net-addr: the snapshot has no runtime to tell; "
		    "the guest keeps the address it had");
	if ((*serve && o->vm.vsock == NULL) || base) {
		if (file_tmpdir(r->dir, sizeof(r->dir)) == -1)
			return EX_CANTCREAT;
		snprintf(r->sock, sizeof(r->sock), "%s/vsock", r->dir);
		if (o->vm.vsock == NULL && *serve)
			o->vm.vsock = r->sock;
	}
	if (base && placeholder_drive(r) == -1)
		return EX_CANTCREAT;
	if (place_drives(r) == -1)
		return EX_USAGE;
	return 0;
}

static int
runner_start_vm(struct runner *r)
{
	struct runner_opts *o = r->o;
	int rc;

	/* A restored VM may be asked for a diff: by --dump-dir at its app
	 * checkpoint, or at any time over its control socket. */
	o->vm.exact_touch = o->record_workset != NULL;
	o->vm.track_dirty = o->nlayers > 0 &&
	    (o->dump_dir != NULL || o->api_sock != NULL);
	if (o->nlayers > 0)
		rc = vm_restore(&r->vm, &o->vm, o->layer, o->nlayers);
	else {
		if (o->vm.mem_mib == 0)
			o->vm.mem_mib = 128;
		if (o->vm.vcpus == 0)
			o->vm.vcpus = 1;
		rc = vm_boot(&r->vm, &o->vm);
	}
	if (rc == -1)
		return r->vm.fail_class ? r->vm.fail_class : EX_SOFTWARE;
	r->vm.on_ckpt = runner_ckpt;
	r->vm.ckpt_arg = r;
	vmctl_init(&r->ctl, &r->vm);
	if (o->api_sock != NULL &&
	    api_start(&r->api, o->api_sock, &vmctl_ops, &r->ctl) == -1)
		return EX_CANTCREAT;
	return 0;
}

int
runner_main(struct runner_opts *o)
{
	struct runner *r = calloc(1, sizeof(*r));
	struct vm_result res;
	bool serve = false;
	int rc;

	if (r == NULL)
		return EX_OSERR;
	r->o = o;
	log_init(NULL, o->verbosity);
	if (o->add_workset != NULL) {
		free(r);
		return workset_add(o->layer, o->nlayers, o->add_workset);
	}
	if (o->timings) {
		phase_start(&o->phases, o->start_us);
		o->vm.phases = &o->phases;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((rc = runner_cpu(o)) == 0 &&
	    (rc = runner_prepare(r, &serve)) == 0 &&
	    (rc = runner_start_vm(r)) == 0) {
		if (o->check_only) {
			log_info("%s: the layers check out, and this host can "
			    "run them", o->load);
		} else if (serve) {
			struct reqloop_config rq = { o->vm.vsock, STDIN_FILENO,
			    STDOUT_FILENO, (size_t)o->max_request,
			    (unsigned)o->timeout_ms, &o->vm.net_addr,
			    o->record_workset };

			reqloop_run(&r->vm, &rq, &res);
		} else {
			vm_run(&r->vm, &res);
		}
		rc = o->check_only ? 0 : r->dumped == -1 ? EX_CANTCREAT :
		    exit_status(&res);
	}
	api_stop(&r->api);
	if (r->ctl.vm != NULL)
		vmctl_fini(&r->ctl);
	vm_destroy(&r->vm);
	if (r->dir[0] != '\0')
		file_tmpdir_remove(r->dir);
	free(r);
	return rc;
}
