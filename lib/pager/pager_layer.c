/* One layer of the page server's stack: where each page of its memory
 * file is, and what it holds open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "pager.h"

void
pager_layer_init(struct pager_layer *l)
{
	memset(l, 0, sizeof(*l));
	s3layer_init(&l->idx);
	l->mem_fd = -1;
}

const char *
pager_layer_dir(const struct pager_layer *l)
{
	return l->tmp[0] != '\0' ? l->tmp : l->dir;
}

bool
pager_layer_chunk(const struct pager_layer *l, uint64_t p, size_t *c)
{
	uint64_t at;

	return s3layer_chunk_at(&l->idx, l->mf, p * PAGER_PAGE, c, &at);
}

/* The extents were checked to be whole pages (the store's index) or made
 * so (extents_scan), and a chunk is a multiple of a page: every boundary
 * below falls on a page. */
int
pager_layer_chunk_pages(const struct pager_layer *l, size_t c,
    pager_run_fn fn, void *arg)
{
	const struct extents *e = &l->mf->ext;
	uint64_t at, end;
	size_t len;
	int rc;

	s3layer_chunk_span(&l->idx, l->mf, c, &at, &len);
	end = at + len;
	for (size_t i = extents_find(e, at); i < e->n && e->v[i].at < end;
	    i++) {
		uint64_t from = at > e->v[i].at ? at : e->v[i].at;
		uint64_t to = end < e->v[i].at + e->v[i].len ? end :
		    e->v[i].at + e->v[i].len;
		uint64_t off = e->v[i].off + (from - e->v[i].at);

		if ((rc = fn(off / PAGER_PAGE, (to - from) / PAGER_PAGE,
		    arg)) != 0)
			return rc;
	}
	return 0;
}

int
pager_layer_chunks(struct pager_layer *l, enum pager_chunk_state st)
{
	size_t n = l->mf->nchunks;

	if ((l->chunk = malloc(n ? n : 1)) == NULL ||
	    (l->fetched = calloc(n ? n : 1, 1)) == NULL) {
		log_warn("%s", l->spec);
		return EX_OSERR;
	}
	memset(l->chunk, st, n);
	return 0;
}

bool
pager_layer_holds(const struct pager_layer *l)
{
	char path[PAGER_PATH_MAX + 32], hex[DIGEST_HEX];

	snprintf(path, sizeof(path), "%s/manifest.json", l->dir);
	return access(path, F_OK) == 0 && digest_file(path, hex) == 0 &&
	    strcmp(hex, l->idx.file[0].sha256) == 0;
}

int
pager_layer_bitmap(struct pager_layer *l, const char *dir)
{
	size_t len;

	if (!l->m.diff)
		return 0;
	return snapmeta_load(dir, &l->m, SNAP_PAGES, &l->pages, &len) == 0 ?
	    0 : EX_DATAERR;
}

void
pager_layer_summary(const struct pager_layer *l)
{
	uint64_t bytes = 0;

	if (!l->store || l->net.requests == 0)
		return;
	for (int i = 0; i < l->idx.nfiles; i++)
		bytes += l->idx.file[i].ext.total;
	log_info("s3://%s/%s: requests %ju, retries %ju, bytes received %ju, "
	    "objects' bytes %ju; memory chunks %zu, fault fetches %ju, "
	    "transfer fetches %ju, refetched by faults %ju, refetched by the "
	    "transfer %ju; files fetched whole %ju", l->uri.bucket,
	    l->uri.prefix, (uintmax_t)l->net.requests,
	    (uintmax_t)l->net.retries, (uintmax_t)l->net.received,
	    (uintmax_t)bytes, l->mf != NULL ? l->mf->nchunks : 0,
	    (uintmax_t)l->fetches[PAGER_BY_FAULT],
	    (uintmax_t)l->fetches[PAGER_BY_XFER],
	    (uintmax_t)l->again[PAGER_BY_FAULT],
	    (uintmax_t)l->again[PAGER_BY_XFER], (uintmax_t)l->files);
}

void
pager_layer_free(struct pager_layer *l)
{
	if (l->mem_fd != -1)
		close(l->mem_fd);
	if (l->s3_open)
		s3_close(&l->s3);
	if (l->tmp[0] != '\0')
		snapmeta_remove(l->tmp);
	free(l->pages);
	free(l->chunk);
	free(l->fetched);
	s3layer_free(&l->idx);
	pager_layer_init(l);
}
