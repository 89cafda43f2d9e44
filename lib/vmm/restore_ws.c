/*
 * The working set in at restore.  The pages land in anonymous memory:
 * read into the layers' copy-on-write mapping, each page would first be
 * read from its memory file (the fault before the copy), which is the
 * very I/O the working set is there to save.  The pages are contiguous
 * in the file, so the reads are sequential, many runs to a call.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "restore_ws.h"

#define WS_IOV	256		/* runs per preadv: below IOV_MAX */

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

/* Runs [r, r + k) from off, in as few preadv calls as the file system
 * allows: 9p and others may return less than asked for. */
static int
read_batch(struct restore_ws *w, struct mem *mem, uint32_t r, uint32_t k,
    uint64_t off)
{
	struct iovec iov[WS_IOV], *v = iov;
	int left = (int)k;

	for (uint32_t i = 0; i < k; i++) {
		const struct workset_run *run = &w->ws.run[r + i];

		iov[i].iov_base = mem->base + run->first * MEM_PAGE;
		iov[i].iov_len = run->count * MEM_PAGE;
	}
	while (left > 0) {
		ssize_t got = preadv(w->fd, v, left, (off_t)off);

		if (got <= 0) {
			if (got == -1)
				log_warn("%s", w->path);
			else
				log_warnx("%s: ends early", w->path);
			return -1;
		}
		off += (uint64_t)got;
		for (; left > 0 && (size_t)got >= v->iov_len; v++, left--)
			got -= (ssize_t)v->iov_len;
		if (left > 0) {
			v->iov_base = (uint8_t *)v->iov_base + got;
			v->iov_len -= (size_t)got;
		}
	}
	return 0;
}

int
restore_ws_read(struct restore_ws *w, struct mem *mem)
{
	uint64_t off = w->ws.data_off;

	if (w->fd == -1)
		return 0;
	/* The runs were checked against this memory's size. */
	for (uint32_t r = 0; r < w->ws.nruns; r++)
		if (mem_map_anon(mem, w->ws.run[r].first * MEM_PAGE,
		    w->ws.run[r].count * MEM_PAGE) == -1) {
			log_warn("%s: mmap", w->path);
			return -1;
		}
	for (uint32_t r = 0; r < w->ws.nruns; ) {
		uint32_t k = w->ws.nruns - r < WS_IOV ? w->ws.nruns - r : WS_IOV;
		uint64_t bytes = 0;

		if (read_batch(w, mem, r, k, off) == -1)
			return -1;
		for (uint32_t i = 0; i < k; i++)
			bytes += w->ws.run[r + i].count * MEM_PAGE;
		off += bytes;
		r += k;
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
