/*
 * The data extents of a sparse file, and the "packed" stream that holds
 * only their bytes, one after the other: extent i's bytes are at packed
 * offset v[i].at.  Snapshot memory files keep zero pages as holes, so a
 * transfer moves the packed stream and the holes stay holes.
 */
#ifndef SNAPVM_EXTENT_H
#define SNAPVM_EXTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXTENT_ALIGN	4096	/* a guest page */

struct extent {
	uint64_t off, len;	/* in the file */
	uint64_t at;		/* in the packed stream */
};

struct extents {
	struct extent *v;
	size_t n, cap;
	uint64_t total;		/* bytes of the packed stream */
};

/* Appends [off, off+len), which must not start before the last extent;
 * overlapping or adjacent extents merge.  -1 if out of memory. */
int extents_add(struct extents *e, uint64_t off, uint64_t len);
/* The data of fd (size bytes) with SEEK_DATA/SEEK_HOLE, widened to whole
 * EXTENT_ALIGN blocks; a file system without holes gives one extent. */
int extents_scan(int fd, const char *path, uint64_t size, struct extents *e);
/* The same, less the EXTENT_ALIGN blocks that hold only zeros, read to
 * find them: a file system that cannot report holes (9p, some FUSE and
 * NFS) shows a sparse file as all data, and a copy made without
 * --sparse has its zeros as data. */
int extents_scan_nonzero(int fd, const char *path, uint64_t size,
    struct extents *e);
/* The extent holding packed offset at (e->n if none). */
size_t extents_find(const struct extents *e, uint64_t at);
/* The extent holding file offset off (e->n if off is in a hole or past
 * the last extent). */
size_t extents_find_off(const struct extents *e, uint64_t off);
/* Reads (or writes) packed bytes [at, at+len) from (to) fd. */
int extents_io(const struct extents *e, int fd, uint64_t at, void *buf,
    size_t len, bool write);
void extents_free(struct extents *e);

#endif
