/* A complete layer on local disk, opened as a restore opens it: the
 * memory file checked through the descriptor its pages are read from. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "log.h"
#include "pager.h"

/* Its chunks are made up here, as the store would cut them: all there. */
static int
local_chunks(struct pager_layer *l)
{
	struct s3file *f = &l->idx.file[0];

	l->idx.version = S3LAYER_VERSION;
	l->idx.chunk_size = S3LAYER_CHUNK;
	l->idx.nfiles = 1;
	snprintf(f->name, sizeof(f->name), "%s", snap_file_name[SNAP_MEMORY]);
	f->size = l->m.file[SNAP_MEMORY].size;
	if (extents_scan(l->mem_fd, l->mem_key, f->size, &f->ext) == -1)
		return EX_IOERR;
	f->nchunks = s3layer_nchunks(&l->idx, f);
	l->mf = f;
	return pager_layer_chunks(l, PAGER_PRESENT);
}

int
pager_local_open(struct pager_layer *l)
{
	struct stat st;
	int rc;

	if (stat(l->dir, &st) == -1) {
		log_warn("%s", l->dir);
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	snprintf(l->mem_key, sizeof(l->mem_key), "%s/%s", l->dir,
	    snap_file_name[SNAP_MEMORY]);
	if (snapmeta_read(l->dir, &l->m) == -1 ||
	    (l->mem_fd = snapmeta_open_verified(l->dir, &l->m,
	    SNAP_MEMORY)) == -1)
		return EX_DATAERR;
	if ((rc = pager_layer_bitmap(l, l->dir)) != 0)
		return rc;
	return local_chunks(l);
}
