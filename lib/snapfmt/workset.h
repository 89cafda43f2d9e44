/*
 * A layer's working set (snapvm-snapshot(5), "workset"): the guest pages
 * one request touched after a restore, with their contents laid out one
 * after the other, so that the next restore brings them all in with one
 * sequential read instead of a page fault each (REAP).
 *
 * Little-endian: a 64-byte header, then for each layer of the stack it
 * was made on (bottom first) its id and its memory file's SHA-256, then
 * the runs of pages in ascending order, then from data_off (a multiple
 * of 4096) the pages of every run, in order.  Everything is checked
 * before use: the file is as untrusted as the rest of the layer.
 */
#ifndef SNAPVM_WORKSET_H
#define SNAPVM_WORKSET_H

#include <stddef.h>
#include <stdint.h>

#include "snapmeta.h"

#define WORKSET_MAGIC		"SNAPVMWS"
#define WORKSET_VERSION		1
/* Each run becomes a mapping of its own at restore: this keeps the
 * process well below vm.max_map_count with a diff's mappings too. */
#define WORKSET_MAX_RUNS	8192
#define WORKSET_HDR		64
#define WORKSET_PAGE		4096
/* The largest header, layer table and run table, rounded to a page. */
#define WORKSET_TABLE_MAX	((WORKSET_HDR + SNAP_MAX_LAYERS * 64 + \
    WORKSET_MAX_RUNS * 16 + WORKSET_PAGE - 1) / WORKSET_PAGE * WORKSET_PAGE)
#define WORKSET_MIN_SIZE	(2 * WORKSET_PAGE)

struct workset_hdr {
	char magic[8];
	uint32_t version;
	uint32_t nlayers;
	uint32_t nruns;
	uint32_t reserved;
	uint64_t npages;	/* the sum of the runs' lengths */
	uint64_t data_off;	/* the tables' end, rounded up to a page */
	uint8_t zero[24];
};

struct workset_layer {
	uint8_t id[32];		/* the layer's id (its state's SHA-256) */
	uint8_t memory[32];	/* its memory file's SHA-256 */
};

struct workset_run {
	uint64_t first;		/* page number in the memory file */
	uint64_t count;
};

struct workset {
	uint32_t nlayers, nruns;
	uint64_t npages, data_off;
	struct workset_layer layer[SNAP_MAX_LAYERS];
	struct workset_run *run;	/* malloc'ed */
};

/* The largest working set of a memory of mem_pages pages. */
uint64_t workset_max_size(uint64_t mem_pages);

/*
 * Checks the first 64 bytes of a working set of file_size bytes for a
 * memory of mem_pages pages; *table is then the bytes the header, layer
 * and run tables take (at most WORKSET_TABLE_MAX), to be read and given
 * to workset_parse_table.  Messages name the file (name) and field.
 */
int workset_parse_hdr(const char *name, const void *hdr, uint64_t file_size,
    uint64_t mem_pages, struct workset *ws, size_t *table);
int workset_parse_table(const char *name, const uint8_t *table,
    uint64_t mem_pages, struct workset *ws);
/* Both of the above on a whole file in memory. */
int workset_parse(const char *name, const uint8_t *buf, size_t len,
    uint64_t mem_pages, struct workset *ws);
void workset_free(struct workset *ws);

/* The working set was made on exactly the stack m[0..n-1] (ids and
 * memory files), or a message names the first layer that differs. */
int workset_check_stack(const char *name, const struct workset *ws,
    const struct snap_meta *m, int n);

/*
 * Adds a working set to the top layer of dirs[0..n-1] (a stack as
 * snaprestore(1) takes it): the pages set in the bitmap file (one bit per
 * page, as a diff's pages file; made by a restore with --record-workset,
 * and as untrusted as its guest), their contents taken from the layers'
 * checked memory files, never from the bitmap's writer.  The top layer
 * is replaced in one step by a copy with the new file and manifest (its
 * other files hard links).  Returns 0 or a sysexits.h status.
 */
int workset_add(char *const *dirs, int n, const char *bitmap);

#endif
