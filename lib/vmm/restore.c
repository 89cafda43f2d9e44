/*
 * Building a VM from snapshot layers instead of booting it: the manifests
 * are read and every check is made (format, chain of layers, machine,
 * drives, checksums, the state's sections) before KVM is touched; then
 * memory is mapped copy-on-write from the layer files, and the KVM and
 * device state of the top layer is loaded in the order KVM needs.
 *
 * A layer is data, never authority: it names no host file.  Every drive
 * is the caller's (cfg), opened with the access the caller gives, and
 * must have the contents the layer records.  Each file of a layer is
 * opened once, and what is hashed is what is used: the state and a
 * diff's bitmap are read into memory, hashed and parsed from there; the
 * memory file is hashed and mapped through one descriptor.  With a page
 * server (restore_pager.h) no memory file or working set is opened here:
 * the server checks and serves them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "devices.h"
#include "file.h"
#include "log.h"
#include "monotime.h"
#include "restore_pager.h"
#include "restore_ws.h"
#include "snap_kvm.h"
#include "snapmeta.h"
#include "snapshot.h"
#include "snapstack.h"

struct layers {
	int n;
	char *const *dir;
	struct snap_meta m[SNAP_MAX_LAYERS];
	int mem_fd[SNAP_MAX_LAYERS];	/* hashed, then mapped from */
	uint8_t *pages[SNAP_MAX_LAYERS];	/* a diff's bitmap, as hashed */
	struct snapstate st;		/* the top layer's state, as hashed */
	struct restore_ws ws;		/* the top layer's working set */
	bool pager;			/* memory from a page server */
	int fail;			/* sysexits class of a refusal */
};

static const char *
top_dir(const struct layers *l)
{
	return l->dir[l->n - 1];
}

/* How the caller names drive i (runner.c places them so). */
static const char *
drive_flag(int i)
{
	return i == 0 ? "--rootfs" : i == 1 ? "--appfs" : "--drive";
}

static int
refuse(struct layers *l, int class)
{
	l->fail = class;
	return -1;
}

/* The file the caller gave for drive i has the layer's contents. */
static int
check_drive_file(struct layers *l, const struct vm_drive *given, int i)
{
	const struct snap_drive *d = &l->m[l->n - 1].drive[i];
	char hex[DIGEST_HEX];
	uint64_t size;
	int fd, rc;

	if ((fd = file_open_regular(given->path, &size)) == -1) {
		log_warnx("%s: cannot open drive %d (%s)", given->path, i,
		    drive_flag(i));
		return refuse(l, EX_NOINPUT);
	}
	rc = digest_fd_cached(fd, given->path, hex);
	close(fd);
	if (rc == -1)
		return refuse(l, EX_IOERR);
	if (size != d->size || strcmp(hex, d->sha256) != 0) {
		log_warnx("%s: not drive %d (%s) of %s: the file has SHA-256 %s "
		    "(%ju bytes), the layer's drive %s (%ju bytes)", given->path,
		    i, drive_flag(i), top_dir(l), hex, (uintmax_t)size,
		    d->sha256, (uintmax_t)d->size);
		return refuse(l, EX_DATAERR);
	}
	return 0;
}

/* The guest has cached what it read from its drives, so they must be the
 * very contents it ran with; only an app drive the runtime has not
 * opened yet (a layer taken at the "runtime" point) may be any file.
 * Either way the caller names every file and grants its access. */
static int
check_drive(struct layers *l, const struct vm_config *cfg, int i)
{
	const struct snap_meta *top = &l->m[l->n - 1];
	const struct snap_drive *d = &top->drive[i];
	const struct vm_drive *given = i < cfg->ndrives ? &cfg->drive[i] : NULL;

	if ((given == NULL || given->path == NULL) && i == 1 &&
	    strcmp(top->point, "runtime") == 0) {
		log_warnx("%s: drive 1 is not named: give an app image with "
		    "--appfs (the layer was taken before any app was opened)",
		    top_dir(l));
		return refuse(l, EX_USAGE);
	}
	if (given == NULL || given->path == NULL) {
		log_warnx("%s: drive %d is not named: give its file with %s (the "
		    "layer's drive has SHA-256 %s, %ju bytes)", top_dir(l), i,
		    drive_flag(i), d->sha256, (uintmax_t)d->size);
		return refuse(l, EX_USAGE);
	}
	if (d->read_only != given->read_only) {
		log_warnx("%s: drive %d (%s) was %s when %s was taken; it is "
		    "given %s", given->path, i, drive_flag(i), d->read_only ?
		    "read-only" : "read-write", top_dir(l), given->read_only ?
		    "read-only (add ,rw to grant writes)" : "read-write");
		return refuse(l, EX_DATAERR);
	}
	if (i == 1 && strcmp(top->point, "runtime") == 0)
		return 0;
	return check_drive_file(l, given, i);
}

static int
check_drives(struct layers *l, struct vm_config *cfg)
{
	const struct snap_meta *top = &l->m[l->n - 1];

	for (int i = top->ndrives; i < cfg->ndrives; i++)
		if (cfg->drive[i].path != NULL) {
			log_warnx("%s: the layer has %d drive%s; %s names drive "
			    "%d", top_dir(l), top->ndrives, top->ndrives == 1 ?
			    "" : "s", drive_flag(i), i);
			return refuse(l, EX_USAGE);
		}
	for (int i = 0; i < top->ndrives; i++)
		if (check_drive(l, cfg, i) == -1)
			return -1;
	cfg->ndrives = top->ndrives;	/* the slots past it are empty */
	return 0;
}

/* A layer restores under the template it was made with: its CPUID is
 * restored as recorded, and a template asked for must name it. */
static int
check_template(struct layers *l, const struct vm_config *cfg)
{
	const struct snap_meta *top = &l->m[l->n - 1];

	if (!top->cpu.present || !cfg->cpu_template_given ||
	    cfg->cpu_template == NULL || strcmp(cfg->cpu_template->name,
	    top->cpu.template_name) == 0)
		return 0;
	log_warnx("%s: made with CPU template %s; --cpu-template %s is "
	    "refused: a layer restores with the template it was made with",
	    top_dir(l), top->cpu.template_name, cfg->cpu_template->name);
	return refuse(l, EX_CONFIG);
}

static int
check_machine(const struct layers *l, struct vm_config *cfg)
{
	const struct snap_meta *m = &l->m[0];

	if (m->mem_mib < MEM_MIN_MIB) {
		log_warnx("%s: memory size %ju MiB: a VM has at least %d",
		    l->dir[0], (uintmax_t)m->mem_mib, MEM_MIN_MIB);
		return -1;
	}
	if (cfg->mem_mib != 0 && cfg->mem_mib != m->mem_mib) {
		log_warnx("%s: memory size %ju MiB, --mem asks for %ju", l->dir[0],
		    (uintmax_t)m->mem_mib, (uintmax_t)cfg->mem_mib);
		return -1;
	}
	if (cfg->vcpus != 0 && cfg->vcpus != m->vcpus) {
		log_warnx("%s: %d vCPUs, --vcpus asks for %d", l->dir[0], m->vcpus,
		    cfg->vcpus);
		return -1;
	}
	if (m->vsock != (cfg->vsock != NULL)) {
		log_warnx("%s: the snapshot %s a vsock device", l->dir[0],
		    m->vsock ? "has" : "has no");
		return -1;
	}
	cfg->mem_mib = m->mem_mib;
	cfg->vcpus = m->vcpus;
	cfg->cid = m->cid;
	return 0;
}

/* Only the state file says whether the machine has a network device;
 * --net may not add one.  The tap is a host resource and so the
 * caller's: the name the state records is only quoted.  The MAC, which
 * the guest has seen, is the state's unless --net gives one. */
static int
check_net(struct layers *l, struct vm_config *cfg)
{
	const struct virtio_net_state *ns;
	const char *tap;
	uint32_t size, tap_size;

	ns = snapstate_find(&l->st, SEC_NET, 0, &size);
	tap = snapstate_find(&l->st, SEC_NET_TAP, 0, &tap_size);
	if (ns == NULL && cfg->net.tap != NULL) {
		log_warnx("%s: the snapshot has no network device for --net",
		    top_dir(l));
		return -1;
	}
	if (ns == NULL && tap == NULL)
		return 0;
	if (ns == NULL || tap == NULL || tap_size != VIRTIO_NET_IFNAME ||
	    memchr(tap, '\0', tap_size) == NULL) {
		log_warnx("%s: network device without its tap's name, or a tap "
		    "name without the device", l->st.path);
		return -1;
	}
	if (virtio_net_check(ns, size, l->st.path) == -1)
		return -1;
	if (cfg->net.tap == NULL) {
		log_warnx("%s: the snapshot has a network device: name its tap "
		    "with --net (it was taken on \"%s\")", top_dir(l), tap);
		return refuse(l, EX_USAGE);
	}
	if (!cfg->net.has_mac)
		memcpy(cfg->net.mac, ns->mac, sizeof(cfg->net.mac));
	cfg->net.has_mac = true;
	return 0;
}

/* A drive's guest-visible read-only flag is the access the caller gives
 * (and the manifest records, check_drive). */
static int
check_blk_sections(const struct layers *l, const struct vm_config *cfg,
    uint32_t ndrives)
{
	const struct virtio_blk_state *bs;

	for (uint32_t i = 0; i < ndrives; i++) {
		if ((bs = snapstate_get(&l->st, SEC_BLK, i, sizeof(*bs))) == NULL)
			return -1;
		if (bs->read_only != cfg->drive[i].read_only) {
			log_warnx("%s: section 0x%x (virtio-blk) %u: field "
			    "read_only: %u, the drive is given %s", l->st.path,
			    SEC_BLK, i, bs->read_only, cfg->drive[i].read_only ?
			    "read-only" : "read-write");
			return -1;
		}
	}
	return 0;
}

static int
check_vsock_section(const struct layers *l, const struct snap_meta *top)
{
	const struct virtio_vsock_state *vs = snapstate_get(&l->st, SEC_VSOCK,
	    0, sizeof(*vs));

	if (vs == NULL)
		return -1;
	if (vs->guest_cid != top->cid) {
		log_warnx("%s: section 0x%x (virtio-vsock) 0: field guest_cid: "
		    "%ju, the manifest says %ju", l->st.path, SEC_VSOCK,
		    (uintmax_t)vs->guest_cid, (uintmax_t)top->cid);
		return -1;
	}
	return 0;
}

/* The device sections are those of the machine the manifest describes
 * (cfg, completed from it by now), each of its struct's size; the devices
 * check what is inside when they load. */
static int
check_devices(const struct layers *l, const struct vm_config *cfg)
{
	const struct snap_meta *top = &l->m[l->n - 1];

	if (devices_check_sections(cfg, &l->st) == -1)
		return -1;
	if (check_blk_sections(l, cfg, (uint32_t)top->ndrives) == -1 ||
	    (top->vsock && check_vsock_section(l, top) == -1))
		return -1;
	return 0;
}

/* Each file of layer i opened once: the state (kept for the top layer)
 * and a diff's bitmap read and hashed in memory, the memory file hashed
 * through the descriptor it is mapped from. */
static int
open_layer(struct layers *l, int i)
{
	const struct snap_meta *m = &l->m[i];
	char path[4200];
	uint8_t *state;
	size_t len;

	if (snapmeta_load(l->dir[i], m, SNAP_STATE, &state, &len) == -1)
		return -1;
	if (i == l->n - 1) {
		snprintf(path, sizeof(path), "%s/%s", l->dir[i],
		    snap_file_name[SNAP_STATE]);
		if (snapstate_parse(&l->st, path, state, len) == -1)
			return -1;
	} else {
		free(state);
	}
	if (!l->pager && (l->mem_fd[i] = snapmeta_open_verified(l->dir[i], m,
	    SNAP_MEMORY)) == -1)
		return -1;
	if (m->diff && snapmeta_load(l->dir[i], m, SNAP_PAGES, &l->pages[i],
	    &len) == -1)
		return -1;
	return 0;
}

static int
read_layers(struct layers *l, struct vm_config *cfg)
{
	for (int i = 0; i < l->n; i++)
		if (snapmeta_read(l->dir[i], &l->m[i]) == -1)
			return -1;
	if (snapstack_check(l->dir, l->m, l->n) == -1 || check_machine(l, cfg) == -1 ||
	    check_template(l, cfg) == -1 || check_drives(l, cfg) == -1)
		return -1;
	for (int i = 0; i < l->n; i++)
		if (open_layer(l, i) == -1)
			return -1;
	if (!l->pager && restore_ws_open(&l->ws, top_dir(l), l->m, l->n) == -1)
		return -1;
	if (snap_kvm_check(&l->st, l->m[0].vcpus, l->m[l->n - 1].cpu.present) ==
	    -1 ||
	    check_net(l, cfg) == -1)
		return -1;
	return check_devices(l, cfg);
}

static void
close_layers(struct layers *l)
{
	for (int i = 0; i < SNAP_MAX_LAYERS; i++) {
		if (l->mem_fd[i] != -1)
			close(l->mem_fd[i]);	/* the mappings keep the file */
		free(l->pages[i]);
	}
	snapstate_free(&l->st);
	restore_ws_close(&l->ws);
	free(l);
}

/* Maps the pages of a diff layer over the layers below, one mapping per
 * run of pages; past a limit on mappings the rest is copied. */
#define RESTORE_MAX_MAPS	8192

static int
overlay_diff(struct mem *mem, const char *dir, int fd, const uint8_t *bits)
{
	uint64_t pages = mem_pages(mem), pg = 0, maps = 0;

	while (pg < pages) {
		uint64_t end;

		if (!(bits[pg / 8] >> (pg % 8) & 1)) {
			pg++;
			continue;
		}
		for (end = pg; end < pages && (bits[end / 8] >> (end % 8) & 1); end++)
			;
		if (maps++ < RESTORE_MAX_MAPS ?
		    mem_map_file(mem, fd, pg * MEM_PAGE, (end - pg) * MEM_PAGE) :
		    pread(fd, mem->base + pg * MEM_PAGE, (end - pg) * MEM_PAGE,
		    (off_t)(pg * MEM_PAGE)) != (ssize_t)((end - pg) * MEM_PAGE)) {
			log_warn("%s/memory", dir);
			return -1;
		}
		pg = end;
	}
	return 0;
}

/* The bitmap's size is the manifest's, checked against mem_mib there. */
static int
map_layer(struct mem *mem, const struct layers *l, int i)
{
	if (l->m[i].diff)
		return overlay_diff(mem, l->dir[i], l->mem_fd[i], l->pages[i]);
	if (mem_map_file(mem, l->mem_fd[i], 0, mem->bytes) == -1) {
		log_warn("%s/memory: mmap", l->dir[i]);
		return -1;
	}
	return 0;
}

static int
load_state(struct vm *vm, const struct snapstate *st)
{
	int rc = -1;

	if (snap_load_vm(&vm->kvm, st) == 0) {
		rc = 0;
		for (int i = 0; i < vm->nvcpus && rc == 0; i++)
			rc = snap_load_vcpu(&vm->kvm, vm->vcpu[i].fd, i, st);
		/* Each device checks its sections field by field as if the
		 * guest had written them (queue rings against the memory
		 * mapped already): a crafted layer is refused, naming the
		 * section and field, before anything runs. */
		if (rc == 0)
			rc = devices_load(vm, st);
	}
	return rc;
}

static struct layers *
layers_new(char *const *dirs, int n)
{
	struct layers *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->n = n;
	l->dir = dirs;
	for (int i = 0; i < SNAP_MAX_LAYERS; i++)
		l->mem_fd[i] = -1;
	l->ws.fd = -1;
	return l;
}

/*
 * For a working set's record: the kernel maps, along with a page faulted
 * in from a file, the neighbours it has in its page cache (fault-around,
 * 64 KiB), and reads ahead of it.  Both would put pages the guest never
 * touched in the record (three times as many as it touched, measured on
 * hello).  With the layers' memory out of the page cache and no
 * readahead, a page is mapped only when touched.
 */
static void
exact_touch(struct mem *mem, const struct layers *l)
{
	for (int i = 0; i < l->n; i++)
		posix_fadvise(l->mem_fd[i], 0, 0, POSIX_FADV_DONTNEED);
	if (madvise(mem->base, mem->bytes, MADV_RANDOM) == -1)
		log_warn("madvise");
}

/* This host can give the vCPUs the CPU they had; the layer's template is
 * the VM's, for the snapshots it makes. */
static int
restore_cpu(struct vm *vm, const struct layers *l)
{
	const struct snap_meta *top = &l->m[l->n - 1];
	uint64_t t0 = mono_us();

	if (snap_kvm_cpu_check(&vm->kvm, &l->st, vm->nvcpus) == -1)
		return -1;
	log_debug("CPU checked against this host's in %ju us",
	    (uintmax_t)(mono_us() - t0));
	if (top->cpu.present)
		snprintf(vm->cpu_template, sizeof(vm->cpu_template), "%s",
		    top->cpu.template_name);
	return 0;
}

/* Guest memory from the layers' files, and the working set read in. */
static int
map_memory(struct vm *vm, const struct vm_config *cfg, struct layers *l,
    int n)
{
	int rc = 0;

	for (int i = 0; i < n && rc == 0; i++)
		rc = map_layer(&vm->mem, l, i);
	if (rc == -1)
		return vm_fail(vm, EX_NOINPUT);
	if (cfg->exact_touch)
		exact_touch(&vm->mem, l);
	phase_mark(vm->phases, PHASE_MEMORY_MAPPED, true);
	/* A record is of the pages touched, not of those read in for it. */
	if (l->ws.fd != -1 && !cfg->exact_touch) {
		if (restore_ws_read(&l->ws, &vm->mem) == -1)
			return vm_fail(vm, EX_IOERR);
		phase_mark(vm->phases, PHASE_WORKSET_READ, true);
	}
	return 0;
}

/* The checked layers into a new VM: memory, then KVM and device state.
 * A page server gets the memory before anything can touch it. */
static int
restore_into(struct vm *vm, struct vm_config *cfg, struct layers *l, int n)
{
	if (mem_create(&vm->mem, cfg->mem_mib) == -1)
		return vm_fail(vm, EX_OSERR);
	vm->restores = 1;
	memcpy(vm->layer, l->m[n - 1].id, DIGEST_HEX);
	if (l->pager ? restore_pager_attach(vm, cfg, l->m, n) == -1 :
	    map_memory(vm, cfg, l, n) == -1)
		return -1;
	if (vm_build(vm, cfg) == -1)
		return -1;
	if (restore_cpu(vm, l) == -1)
		return vm_fail(vm, EX_UNAVAILABLE);
	if (load_state(vm, &l->st) == -1)
		return vm_fail(vm, EX_DATAERR);
	phase_mark(vm->phases, PHASE_STATE_LOADED, true);
	return 0;
}

int
vm_restore(struct vm *vm, struct vm_config *cfg, char *const *dirs, int n)
{
	struct layers *l = layers_new(dirs, n);
	int rc = -1;

	vm_clear(vm);
	vm->phases = cfg->phases;
	if (l == NULL)
		return vm_fail(vm, EX_OSERR);
	l->pager = cfg->page_server != NULL;
	if (n < 1 || n > SNAP_MAX_LAYERS) {
		log_warnx("--load-dir: 1 to %d layers, got %d", SNAP_MAX_LAYERS, n);
		vm_fail(vm, EX_USAGE);
	} else if (read_layers(l, cfg) == -1) {
		vm_fail(vm, l->fail ? l->fail : EX_DATAERR);
	} else {
		phase_mark(vm->phases, PHASE_LAYERS_CHECKED, true);
		rc = restore_into(vm, cfg, l, n);
	}
	close_layers(l);
	return rc;
}
