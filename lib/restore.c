/*
 * Building a VM from snapshot layers instead of booting it: the manifests
 * are read and every check is made (format, chain of layers, machine,
 * drives, checksums) before KVM is touched; then memory is mapped
 * copy-on-write from the layer files, and the KVM and device state of the
 * top layer is loaded in the order KVM needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "snap_kvm.h"
#include "snapmeta.h"
#include "snapshot.h"

struct layers {
	int n;
	char *const *dir;
	struct snap_meta m[SNAP_MAX_LAYERS];
};

static int
check_chain(const struct layers *l)
{
	for (int i = 0; i < l->n; i++) {
		const struct snap_meta *m = &l->m[i], *below = &l->m[i ? i - 1 : 0];

		if (i == 0 && m->diff) {
			log_warnx("%s: a diff snapshot cannot be the bottom layer; "
			    "give its base first", l->dir[0]);
			return -1;
		}
		if (i > 0 && !m->diff) {
			log_warnx("%s: a full snapshot can only be the first layer",
			    l->dir[i]);
			return -1;
		}
		if (i > 0 && strcmp(m->parent, below->id) != 0) {
			log_warnx("%s: this diff was made on layer %.12s, not on %s "
			    "(layer %.12s)", l->dir[i], m->parent, l->dir[i - 1],
			    below->id);
			return -1;
		}
		if (m->mem_mib != l->m[0].mem_mib || m->vcpus != l->m[0].vcpus ||
		    m->ndrives != l->m[0].ndrives || m->vsock != l->m[0].vsock) {
			log_warnx("%s: machine differs from %s's", l->dir[i],
			    l->dir[0]);
			return -1;
		}
		if (strcmp(m->id, m->file[SNAP_STATE].sha256) != 0) {
			log_warnx("%s: id is not the state file's SHA-256", l->dir[i]);
			return -1;
		}
	}
	return 0;
}

/* The guest has cached what it read from its drives, so they must be the
 * very files it ran with; only an app drive the runtime has not opened
 * yet (a layer taken at the "runtime" point) may be another. */
/* Drives not named on the command line are the snapshot's own files. */
static int
fill_drives(const struct layers *l, struct vm_config *cfg, struct vm *vm)
{
	const struct snap_meta *top = &l->m[l->n - 1];

	for (int i = cfg->ndrives; i < top->ndrives; i++)
		cfg->drive[i].path = NULL;
	if (cfg->ndrives < top->ndrives)
		cfg->ndrives = top->ndrives;
	for (int i = 0; i < cfg->ndrives && i < top->ndrives; i++) {
		if (cfg->drive[i].path != NULL)
			continue;
		if (top->drive[i].path[0] == '\0') {
			log_warnx("%s: drive %d has no file on record; name it "
			    "(--rootfs, --appfs, --drive)", l->dir[l->n - 1], i);
			return -1;
		}
		memcpy(vm->drive_path[i], top->drive[i].path,
		    sizeof(vm->drive_path[i]));
		cfg->drive[i].path = vm->drive_path[i];
		cfg->drive[i].read_only = top->drive[i].read_only;
	}
	return 0;
}

static int
check_drives(const struct layers *l, struct vm_config *cfg, struct vm *vm)
{
	const struct snap_meta *top = &l->m[l->n - 1];
	char hex[DIGEST_HEX];
	struct stat st;

	if (fill_drives(l, cfg, vm) == -1)
		return -1;
	if (cfg->ndrives != top->ndrives) {
		log_warnx("%s: the snapshot has %d drives, %d given", l->dir[l->n - 1],
		    top->ndrives, cfg->ndrives);
		return -1;
	}
	for (int i = 0; i < cfg->ndrives; i++) {
		const struct snap_drive *d = &top->drive[i];
		bool free_app = i == 1 && strcmp(top->point, "runtime") == 0;

		if (d->read_only != cfg->drive[i].read_only) {
			log_warnx("%s: drive %d was %s in the snapshot",
			    cfg->drive[i].path, i, d->read_only ? "read-only" :
			    "read-write");
			return -1;
		}
		if (free_app)
			continue;
		if (stat(cfg->drive[i].path, &st) == -1) {
			log_warn("%s", cfg->drive[i].path);
			return -1;
		}
		if ((uint64_t)st.st_size != d->size ||
		    digest_file_cached(cfg->drive[i].path, hex) == -1 ||
		    strcmp(hex, d->sha256) != 0) {
			log_warnx("%s: not the drive %d the snapshot was taken with "
			    "(size or SHA-256 differs)", cfg->drive[i].path, i);
			return -1;
		}
	}
	return 0;
}

static int
check_machine(const struct layers *l, struct vm_config *cfg)
{
	const struct snap_meta *m = &l->m[0];

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

/* Only the state file says whether the machine has a network device and
 * which tap it used; --net may name another tap and MAC, not add one. */
static int
check_net(const struct layers *l, struct vm_config *cfg, struct vm *vm)
{
	const struct virtio_net_state *ns;
	const char *tap;
	struct snapstate st;
	char path[4200];
	uint32_t size, tap_size;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", l->dir[l->n - 1],
	    snap_file_name[SNAP_STATE]);
	if (snapstate_load(&st, path) == -1)
		return -1;
	ns = snapstate_find(&st, SEC_NET, 0, &size);
	tap = snapstate_find(&st, SEC_NET_TAP, 0, &tap_size);
	if (ns == NULL && cfg->net.tap != NULL)
		log_warnx("%s: the snapshot has no network device for --net",
		    l->dir[l->n - 1]);
	else if (ns == NULL)
		rc = 0;
	else if (tap == NULL || tap_size != sizeof(vm->net_tap) ||
	    memchr(tap, '\0', tap_size) == NULL)
		log_warnx("%s: network device without its tap's name", path);
	else if (virtio_net_check(ns, size, path) == 0) {
		memcpy(vm->net_tap, tap, sizeof(vm->net_tap));
		if (cfg->net.tap == NULL)
			cfg->net.tap = vm->net_tap;
		if (!cfg->net.has_mac)
			memcpy(cfg->net.mac, ns->mac, sizeof(cfg->net.mac));
		cfg->net.has_mac = true;
		rc = 0;
	}
	snapstate_free(&st);
	return rc;
}

static int
read_layers(struct layers *l, struct vm_config *cfg, struct vm *vm)
{
	for (int i = 0; i < l->n; i++)
		if (snapmeta_read(l->dir[i], &l->m[i]) == -1)
			return -1;
	if (check_chain(l) == -1 || check_machine(l, cfg) == -1 ||
	    check_drives(l, cfg, vm) == -1)
		return -1;
	for (int i = 0; i < l->n; i++) {
		if (l->m[i].file[SNAP_MEMORY].size != l->m[0].mem_mib << 20) {
			log_warnx("%s/memory: %ju bytes, the machine has %ju MiB",
			    l->dir[i], (uintmax_t)l->m[i].file[SNAP_MEMORY].size,
			    (uintmax_t)l->m[0].mem_mib);
			return -1;
		}
		if (l->m[i].diff &&
		    l->m[i].file[SNAP_PAGES].size != (l->m[0].mem_mib << 20) / 4096 / 8) {
			log_warnx("%s/pages: wrong size for %ju MiB of memory",
			    l->dir[i], (uintmax_t)l->m[0].mem_mib);
			return -1;
		}
		if (snapmeta_verify(l->dir[i], &l->m[i]) == -1)
			return -1;
	}
	return check_net(l, cfg, vm);
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

static int
open_layer_file(const char *dir, enum snap_file which)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[which]);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("%s", path);
	return fd;
}

static int
map_layer(struct mem *mem, const char *dir, bool diff)
{
	int fd = open_layer_file(dir, SNAP_MEMORY), pfd = -1, rc = -1;
	size_t nbytes = mem_pages(mem) / 8;
	uint8_t *bits = NULL;

	if (fd == -1)
		return -1;
	if (!diff) {
		rc = mem_map_file(mem, fd, 0, mem->bytes);
		if (rc == -1)
			log_warn("%s/memory: mmap", dir);
	} else if ((pfd = open_layer_file(dir, SNAP_PAGES)) != -1 &&
	    (bits = malloc(nbytes)) != NULL &&
	    file_read_all(pfd, dir, bits, nbytes) == 0) {
		rc = overlay_diff(mem, dir, fd, bits);
	}
	free(bits);
	if (pfd != -1)
		close(pfd);
	close(fd);	/* the mappings keep the file */
	return rc;
}

/*
 * Device sections are checked field by field as if the guest had written
 * them, by the device's own load function (the guest's memory is mapped
 * already, so queue rings are checked against it): a crafted layer is
 * refused, naming the section and field, before anything runs.
 */
static int
load_blk(struct vm_blk *b, const struct snapstate *st, uint32_t i)
{
	const struct virtio_blk_state *bs = snapstate_get(st, SEC_BLK, i,
	    sizeof(*bs));
	const struct virtio_mmio_state *ms = snapstate_get(st, SEC_MMIO, i,
	    sizeof(*ms));

	if (bs == NULL || ms == NULL)
		return -1;
	return virtio_blk_load(&b->blk, &b->mmio, bs, ms, st->path, i);
}

static int
load_net(struct vm *vm, const struct snapstate *st)
{
	uint32_t slot = (uint32_t)(vm->nblk + vm->has_vsock), tap_size;
	const struct virtio_mmio_state *ms = snapstate_get(st, SEC_MMIO, slot,
	    sizeof(*ms));
	const struct virtio_net_state *ns = snapstate_get(st, SEC_NET, 0,
	    sizeof(*ns));
	const void *tap = snapstate_find(st, SEC_NET_TAP, 0, &tap_size);

	if (ms == NULL || ns == NULL)
		return -1;
	if (virtio_net_tap_check(tap, tap != NULL ? tap_size : 0,
	    st->path) == -1)
		return -1;
	return virtio_net_load(&vm->net, ns, ms, st->path, slot);
}

static int
load_devices(struct vm *vm, const struct snapstate *st)
{
	const struct serial_state *ss = snapstate_get(st, SEC_SERIAL, 0,
	    sizeof(*ss));
	const struct virtio_mmio_state *ms;
	const struct virtio_vsock_state *vs;

	if (ss == NULL || serial_load(&vm->com1, ss, st->path) == -1)
		return -1;
	for (int i = 0; i < vm->nblk; i++)
		if (load_blk(&vm->blk[i], st, (uint32_t)i) == -1)
			return -1;
	if (vm->has_vsock) {
		if ((ms = snapstate_get(st, SEC_MMIO, (uint32_t)vm->nblk,
		    sizeof(*ms))) == NULL ||
		    (vs = snapstate_get(st, SEC_VSOCK, 0, sizeof(*vs))) == NULL)
			return -1;
		if (virtio_mmio_load(&vm->vsock_mmio, ms, st->path,
		    (uint32_t)vm->nblk) == -1 ||
		    virtio_vsock_load(&vm->vsock, vs, st->path) == -1)
			return -1;
	}
	if (vm->has_net && load_net(vm, st) == -1)
		return -1;
	for (int i = 0; i < vm->nblk; i++)
		virtio_mmio_restored(&vm->blk[i].mmio);
	if (vm->has_vsock) {
		virtio_mmio_restored(&vm->vsock_mmio);
		/* The guest's connections ended with the process that took
		 * the snapshot; its listening sockets survive the reset. */
		virtio_vsock_transport_reset(&vm->vsock);
	}
	if (vm->has_net)
		virtio_mmio_restored(&vm->net_mmio);
	return 0;
}

static int
load_state(struct vm *vm, const char *dir)
{
	struct snapstate st;
	char path[4200];
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[SNAP_STATE]);
	if (snapstate_load(&st, path) == -1)
		return -1;
	if (snap_load_vm(&vm->kvm, &st) == 0) {
		rc = 0;
		for (int i = 0; i < vm->nvcpus && rc == 0; i++)
			rc = snap_load_vcpu(&vm->kvm, vm->vcpu[i].fd, i, &st);
		if (rc == 0)
			rc = load_devices(vm, &st);
	}
	snapstate_free(&st);
	return rc;
}

int
vm_restore(struct vm *vm, struct vm_config *cfg, char *const *dirs, int n)
{
	struct layers *l = calloc(1, sizeof(*l));
	int rc = -1;

	vm_clear(vm);
	if (l == NULL)
		return vm_fail(vm, EX_OSERR);
	l->n = n;
	l->dir = dirs;
	if (n < 1 || n > SNAP_MAX_LAYERS) {
		log_warnx("--load-dir: 1 to %d layers, got %d", SNAP_MAX_LAYERS, n);
		vm_fail(vm, EX_USAGE);
	} else if (read_layers(l, cfg, vm) == -1) {
		vm_fail(vm, EX_DATAERR);
	} else if (mem_create(&vm->mem, cfg->mem_mib) == -1) {
		vm_fail(vm, EX_OSERR);
	} else {
		rc = 0;
		for (int i = 0; i < n && rc == 0; i++)
			rc = map_layer(&vm->mem, dirs[i], l->m[i].diff);
		vm->restores = 1;
		if (rc == -1)
			vm_fail(vm, EX_NOINPUT);
		else if ((rc = vm_build(vm, cfg)) == 0 &&
		    (rc = load_state(vm, dirs[n - 1])) == -1)
			vm_fail(vm, EX_DATAERR);
		memcpy(vm->layer, l->m[n - 1].id, DIGEST_HEX);
	}
	free(l);
	return rc;
}
