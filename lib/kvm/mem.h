/*
 * Guest physical memory: one host mapping split into at most two KVM
 * slots around the 32-bit MMIO hole.  Every access made on behalf of the
 * guest goes through mem_ptr(), which refuses any range not wholly inside
 * one slot: addresses and lengths read from guest memory are untrusted.
 */
#ifndef SNAPVM_MEM_H
#define SNAPVM_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "vmlimits.h"

#define MEM_MAX_REGIONS	2
#define MEM_HOLE_START	0xc0000000ULL	/* MMIO devices, IOAPIC, LAPIC */
#define MEM_HOLE_END	0x100000000ULL

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};


struct mem {
	struct mem_region region[MEM_MAX_REGIONS];
	int nregions;
	uint8_t *base;		/* the single host mapping */
	uint64_t bytes;		/* total guest RAM */
	/*
	 * Pages the VMM touched on the guest's behalf since tracking began,
	 * one bit per page of the host mapping, or NULL.  KVM's dirty log sees
	 * only the guest's own writes; devices write through mem_ptr().
	 */
	uint64_t *vmm_dirty;
};

int mem_create(struct mem *m, uint64_t mib);
int mem_register(const struct mem *m, int vm_fd);
void *mem_ptr(const struct mem *m, uint64_t gpa, uint64_t len);
int mem_read(const struct mem *m, uint64_t gpa, void *buf, uint64_t len);
int mem_write(const struct mem *m, uint64_t gpa, const void *buf,
    uint64_t len);
uint64_t mem_low_end(const struct mem *m);

/* Dirty tracking for diff snapshots: call before mem_register(). */
int mem_track_dirty(struct mem *m);
uint64_t mem_pages(const struct mem *m);
/* Fills bits (mem_pages() bits) with every page written since tracking
 * began, by the guest or the VMM, and starts a new interval. */
int mem_take_dirty(const struct mem *m, int vm_fd, uint64_t *bits);
/* Maps len bytes of fd at off over the same offset of guest memory,
 * copy-on-write: pages are read from the file when first touched. */
int mem_map_file(struct mem *m, int fd, uint64_t off, uint64_t len);
/* The same from another offset of the file: len bytes of fd at file_off
 * over guest memory at off (file_off a multiple of the page size). */
int mem_map_file_at(struct mem *m, int fd, uint64_t file_off, uint64_t off,
    uint64_t len);
void mem_destroy(struct mem *m);

#endif
