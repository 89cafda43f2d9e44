/*
 * The working set in at restore.  Each run is mapped copy-on-write from
 * the working-set file over the layers' mapping, and its page tables
 * filled before the guest runs: the file is read once, in order, with
 * the kernel's readahead, and no page is copied (VMs of one function
 * share the pages until they write them).  Reading the pages into the
 * layers' mapping instead would first fault each one in from its memory
 * file, the very I/O a working set is there to save.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "restore_ws.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22	/* Linux 5.14 */
#endif

static int
read_tables(struct restore_ws *w, uint64_t file_size, uint64_t mem_pages)
{
	uint8_t hdr[WORKSET_HDR], *table;
	size_t len;
	int rc = -1;

	if (file_size < WORKSET_HDR) {
		log_warnx("%s: %ju bytes, too short for a working set", w->path,
		    (uintmax_t)file_size);
		return -1;
	}
	if (pread(w->fd, hdr, WORKSET_HDR, 0) != WORKSET_HDR ||
	    workset_parse_hdr(w->path, hdr, file_size, mem_pages, &w->ws,
	    &len) == -1)
		return -1;
	/* len is at most WORKSET_TABLE_MAX (workset_parse_hdr). */
	if ((table = malloc(len)) == NULL ||
	    pread(w->fd, table, len, 0) != (ssize_t)len)
		log_warn("%s", w->path);
	else
		rc = workset_parse_table(w->path, table, mem_pages, &w->ws);
	free(table);
	return rc;
}

int
restore_ws_open(struct restore_ws *w, const char *top_dir,
    const struct snap_meta *m, int n)
{
	const struct snap_meta *top = &m[n - 1];

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (!top->file[SNAP_WORKSET].present)
		return 0;
	snprintf(w->path, sizeof(w->path), "%s/workset", top_dir);
	if ((w->fd = snapmeta_open_verified(top_dir, top, SNAP_WORKSET)) == -1)
		return -1;
	if (read_tables(w, top->file[SNAP_WORKSET].size,
	    m[0].mem_mib << 20 >> 12) == -1 ||
	    workset_check_stack(w->path, &w->ws, m, n) == -1) {
		restore_ws_close(w);
		return -1;
	}
	return 0;
}

/* Page tables for the run, its pages read in where they are not in the
 * page cache yet; the pages stay the file's, shared, until the guest
 * writes one.  Kernels before 5.14 lack MADV_POPULATE_READ: there a read
 * of each page does the same, one fault at a time. */
static int
populate(uint8_t *p, uint64_t len)
{
	if (madvise(p, len, MADV_POPULATE_READ) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	for (uint64_t i = 0; i < len; i += MEM_PAGE)
		(void)*(volatile uint8_t *)(p + i);
	return 0;
}

int
restore_ws_read(struct restore_ws *w, struct mem *mem)
{
	uint64_t off = w->ws.data_off;

	if (w->fd == -1)
		return 0;
	/* The whole working set is asked for at once: one sequential read
	 * that the kernel splits as it likes, under the faults below. */
	posix_fadvise(w->fd, (off_t)off, (off_t)(w->ws.npages * MEM_PAGE),
	    POSIX_FADV_WILLNEED);
	/* The runs were checked against this memory's size. */
	for (uint32_t r = 0; r < w->ws.nruns; r++) {
		const struct workset_run *run = &w->ws.run[r];
		uint64_t len = run->count * MEM_PAGE;

		if (mem_map_file_at(mem, w->fd, off, run->first * MEM_PAGE,
		    len) == -1 ||
		    populate(mem->base + run->first * MEM_PAGE, len) == -1) {
			log_warn("%s: run %u", w->path, r);
			return -1;
		}
		off += len;
	}
	return 0;
}

void
restore_ws_close(struct restore_ws *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	workset_free(&w->ws);
}
