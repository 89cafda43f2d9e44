/*
 * Writing a snapshot: the state file, the memory file (sparse: pages of
 * zeros are holes) and, for a diff, the bitmap of the pages it holds,
 * then the manifest with every file's SHA-256.  Everything goes into
 * DIR.tmp.PID first and is renamed to DIR only when complete and synced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices.h"
#include "file.h"
#include "hash.h"
#include "log.h"
#include "snap_kvm.h"
#include "snapmeta.h"
#include "snapstack.h"
#include "snapshot.h"

static int
collect_state(struct vm *vm, struct snapbuf *b)
{
	if (snap_save_vm(&vm->kvm, b) == -1)
		return -1;
	for (int i = 0; i < vm->nvcpus; i++)
		if (snap_save_vcpu(&vm->kvm, vm->vcpu[i].fd, i, b) == -1)
			return -1;
	devices_save(vm, b);
	if (b->failed) {
		errno = b->failed;
		log_warn("state");
		return -1;
	}
	return 0;
}

/* Writes all of buf at off, through EINTR and short writes. */
static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* A file of the layer: created in the temporary directory, synced. */
struct out_file {
	char path[4200];
	int fd;
	struct hash_ctx md;
	uint64_t size;
};

static int
out_open(struct out_file *f, const char *dir, enum snap_file which)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, snap_file_name[which]);
	f->fd = open(f->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	f->size = 0;
	hash_init(&f->md);
	if (f->fd == -1) {
		log_warn("%s", f->path);
		return -1;
	}
	return 0;
}

/* Appends bytes; a NULL buf appends a hole of zeros. */
static int
out_put(struct out_file *f, const void *buf, size_t len, const void *zeros)
{
	for (size_t done = 0; buf == NULL && done < len; done += MEM_PAGE)
		hash_update(&f->md, zeros, MEM_PAGE);
	if (buf != NULL) {
		hash_update(&f->md, buf, len);
		if (pwrite_all(f->fd, buf, len, (off_t)f->size) == -1) {
			log_warn("%s", f->path);
			return -1;
		}
	}
	f->size += len;
	return 0;
}

static int
out_close(struct out_file *f, struct snap_meta *m, enum snap_file which)
{
	unsigned char md[HASH_LEN];
	int rc = 0;

	hash_final(&f->md, md);
	if (ftruncate(f->fd, (off_t)f->size) == -1 || fsync(f->fd) == -1) {
		log_warn("%s", f->path);
		rc = -1;
	}
	close(f->fd);
	f->fd = -1;
	if (rc == 0) {
		m->file[which].present = true;
		m->file[which].size = f->size;
		digest_hex(md, m->file[which].sha256);
		digest_cache_put(f->path, m->file[which].sha256);
	}
	return rc;
}

static bool
page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[MEM_PAGE];

	return memcmp(p, zero, MEM_PAGE) == 0;
}

static bool
bit(const uint64_t *bits, uint64_t i)
{
	return bits[i / 64] >> (i % 64) & 1;
}

/* The memory file: every page (full) or the pages in bits (diff) at its
 * own offset; zero pages and pages not in the layer are holes. */
static int
write_memory(const struct vm *vm, struct out_file *f, const uint64_t *bits)
{
	static const uint8_t zero[MEM_PAGE];
	uint64_t pages = mem_pages(&vm->mem);

	for (uint64_t pg = 0; pg < pages; pg++) {
		const uint8_t *p = vm->mem.base + pg * MEM_PAGE;
		bool keep = (bits == NULL || bit(bits, pg)) && !page_is_zero(p);

		if (out_put(f, keep ? p : NULL, MEM_PAGE, zero) == -1)
			return -1;
	}
	return 0;
}

static int
write_files(struct vm *vm, const char *tmp, const uint64_t *bits,
    struct snap_meta *m)
{
	struct snapbuf b;
	struct out_file f = { .fd = -1 };
	int rc = -1;

	snapbuf_init(&b);
	if (collect_state(vm, &b) == 0 && out_open(&f, tmp, SNAP_STATE) == 0 &&
	    out_put(&f, b.data, b.len, NULL) == 0 &&
	    out_close(&f, m, SNAP_STATE) == 0 &&
	    out_open(&f, tmp, SNAP_MEMORY) == 0 &&
	    write_memory(vm, &f, bits) == 0 &&
	    out_close(&f, m, SNAP_MEMORY) == 0)
		rc = 0;
	snapbuf_free(&b);
	if (rc == 0 && bits != NULL && (out_open(&f, tmp, SNAP_PAGES) == -1 ||
	    out_put(&f, bits, (mem_pages(&vm->mem) + 7) / 8, NULL) == -1 ||
	    out_close(&f, m, SNAP_PAGES) == -1))
		rc = -1;
	if (f.fd != -1)
		close(f.fd);
	return rc;
}

static int
describe(struct vm *vm, bool diff, const char *point, struct snap_meta *m)
{
	struct stat st;

	memset(m, 0, sizeof(*m));
	m->diff = diff;
	snprintf(m->parent, sizeof(m->parent), "%s", vm->layer);
	snprintf(m->point, sizeof(m->point), "%s", point);
	m->mem_mib = vm->mem.bytes >> 20;
	m->vcpus = vm->nvcpus;
	m->ndrives = vm->nblk;
	/* A drive is recorded by its contents only: whoever restores the
	 * layer names the file. */
	for (int i = 0; i < vm->nblk; i++) {
		struct virtio_blk *b = &vm->blk[i].blk;

		if (fstat(b->fd, &st) == -1 ||
		    digest_fd_cached(b->fd, b->path, m->drive[i].sha256) == -1) {
			log_warn("%s", b->path);
			return -1;
		}
		m->drive[i].size = (uint64_t)st.st_size;
		m->drive[i].read_only = b->s.read_only;
	}
	m->vsock = vm->has_vsock;
	m->cid = vm->vsock.s.guest_cid;
	m->cpu.present = true;
	snprintf(m->cpu.template_name, sizeof(m->cpu.template_name), "%s",
	    vm->cpu_template);
	return 0;
}

int
snapshot_write(struct vm *vm, const char *dir, bool diff, const char *point)
{
	char tmp[4200], manifest[4300];
	uint64_t *bits = NULL;
	struct snap_meta m;
	int rc = -1;

	if (diff && vm->layer[0] == '\0') {
		log_warnx("%s: a diff snapshot needs a VM restored from a "
		    "snapshot", dir);
		return -1;
	}
	if (describe(vm, diff, point, &m) == -1)
		return -1;
	if (diff && ((bits = calloc((mem_pages(&vm->mem) + 63) / 64, 8)) == NULL ||
	    mem_take_dirty(&vm->mem, vm->kvm.vm_fd, bits) == -1)) {
		log_warnx("%s: cannot tell which pages changed", dir);
		free(bits);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dir, (long)getpid());
	snapmeta_remove(tmp);
	if (mkdir(tmp, 0755) == -1) {
		log_warn("%s", tmp);
	} else if (write_files(vm, tmp, bits, &m) == 0) {
		memcpy(m.id, m.file[SNAP_STATE].sha256, DIGEST_HEX);
		snprintf(manifest, sizeof(manifest), "%s/manifest.json", tmp);
		if (snapmeta_write(manifest, &m) == 0 && file_sync_dir(tmp) == 0 &&
		    snapstack_publish(tmp, dir) == 0)
			rc = 0;
	}
	if (rc == -1)
		snapmeta_remove(tmp);
	else
		memcpy(vm->layer, m.id, DIGEST_HEX);
	free(bits);
	return rc;
}
