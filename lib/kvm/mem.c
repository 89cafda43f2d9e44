#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "log.h"
#include "mem.h"

int
mem_create(struct mem *m, uint64_t mib)
{
	uint64_t bytes = mib << 20, low;
	void *p;

	memset(m, 0, sizeof(*m));
	if (mib < MEM_MIN_MIB || mib > MEM_MAX_MIB) {
		log_warnx("memory size %llu MiB is outside %d..%d MiB",
		    (unsigned long long)mib, MEM_MIN_MIB, MEM_MAX_MIB);
		errno = EINVAL;
		return -1;
	}
	/* Pages are touched lazily: a 128 MiB guest that uses 1 MiB costs 1 MiB. */
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		log_warn("mmap %llu MiB of guest memory", (unsigned long long)mib);
		return -1;
	}
	m->base = p;
	m->bytes = bytes;
	low = bytes < MEM_HOLE_START ? bytes : MEM_HOLE_START;
	m->region[0] = (struct mem_region){ 0, low, m->base };
	m->nregions = 1;
	if (bytes > low) {
		m->region[1] = (struct mem_region){ MEM_HOLE_END, bytes - low,
		    m->base + low };
		m->nregions = 2;
	}
	return 0;
}

int
mem_register(const struct mem *m, int vm_fd)
{
	struct kvm_userspace_memory_region r;

	for (int i = 0; i < m->nregions; i++) {
		memset(&r, 0, sizeof(r));
		r.slot = (uint32_t)i;
		r.guest_phys_addr = m->region[i].gpa;
		r.memory_size = m->region[i].size;
		r.userspace_addr = (uint64_t)(uintptr_t)m->region[i].host;
		if (m->vmm_dirty != NULL)
			r.flags = KVM_MEM_LOG_DIRTY_PAGES;
		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) == -1) {
			log_warn("KVM_SET_USER_MEMORY_REGION slot %d", i);
			return -1;
		}
	}
	return 0;
}

uint64_t
mem_pages(const struct mem *m)
{
	return m->bytes / MEM_PAGE;
}

/* Any access counts as a write: callers get a writable pointer, and a
 * page too many in a diff costs 4 KiB while one too few corrupts it. */
static void
mem_mark(const struct mem *m, const uint8_t *p, uint64_t len)
{
	uint64_t first = (uint64_t)(p - m->base) / MEM_PAGE;
	uint64_t last = (uint64_t)(p - m->base + (len ? len - 1 : 0)) / MEM_PAGE;

	for (uint64_t pg = first; pg <= last; pg++)
		__atomic_fetch_or(&m->vmm_dirty[pg / 64], 1ULL << (pg % 64),
		    __ATOMIC_RELAXED);
}

int
mem_track_dirty(struct mem *m)
{
	m->vmm_dirty = calloc((mem_pages(m) + 63) / 64, sizeof(uint64_t));
	if (m->vmm_dirty == NULL) {
		log_warn("dirty page bitmap");
		return -1;
	}
	return 0;
}

int
mem_take_dirty(const struct mem *m, int vm_fd, uint64_t *bits)
{
	uint64_t words = (mem_pages(m) + 63) / 64;
	struct kvm_dirty_log log;

	if (m->vmm_dirty == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < m->nregions; i++) {
		memset(&log, 0, sizeof(log));
		log.slot = (uint32_t)i;
		log.dirty_bitmap = bits + (m->region[i].host - m->base) / MEM_PAGE / 64;
		if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) == -1) {
			log_warn("KVM_GET_DIRTY_LOG slot %d", i);
			return -1;
		}
	}
	for (uint64_t w = 0; w < words; w++)
		bits[w] |= __atomic_exchange_n(&m->vmm_dirty[w], 0,
		    __ATOMIC_RELAXED);
	return 0;
}

int
mem_map_file(struct mem *m, int fd, uint64_t off, uint64_t len)
{
	return mem_map_file_at(m, fd, off, off, len);
}

int
mem_map_file_at(struct mem *m, int fd, uint64_t file_off, uint64_t off,
    uint64_t len)
{
	void *p;

	if (off > m->bytes || len > m->bytes - off || off % MEM_PAGE ||
	    file_off % MEM_PAGE || file_off > INT64_MAX - len) {
		errno = EINVAL;
		return -1;
	}
	p = mmap(m->base + off, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)file_off);
	return p == MAP_FAILED ? -1 : 0;
}

/* Written so that no gpa + len can wrap around. */
void *
mem_ptr(const struct mem *m, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < m->nregions; i++) {
		const struct mem_region *r = &m->region[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		if (m->vmm_dirty != NULL)
			mem_mark(m, r->host + (gpa - r->gpa), len);
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int
mem_read(const struct mem *m, uint64_t gpa, void *buf, uint64_t len)
{
	const void *p = mem_ptr(m, gpa, len);

	if (p == NULL) {
		errno = EFAULT;
		return -1;
	}
	memcpy(buf, p, len);
	return 0;
}

int
mem_write(const struct mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p = mem_ptr(m, gpa, len);

	if (p == NULL) {
		errno = EFAULT;
		return -1;
	}
	memcpy(p, buf, len);
	return 0;
}

uint64_t
mem_low_end(const struct mem *m)
{
	return m->region[0].size;
}

void
mem_destroy(struct mem *m)
{
	if (m->base != NULL)
		munmap(m->base, m->bytes);
	free(m->vmm_dirty);
	memset(m, 0, sizeof(*m));
}
