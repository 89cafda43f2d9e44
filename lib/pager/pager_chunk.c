/*
 * Chunks of the layers' memory files: absent, being fetched by one
 * thread, or present in the file.  A fault and the background transfer
 * never fetch one chunk twice at once: whoever finds it absent marks it
 * busy and fetches it; the other waits.  A failed fetch leaves it absent,
 * so that a later fault tries again on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "pager.h"

/* Fetched, checked against the index (s3layer_get_chunk), then written
 * at its places in the file: nothing unchecked is ever in the file. */
static int
fetch(struct pager_layer *l, size_t c, struct s3 *s, struct pager_err *e)
{
	uint64_t at;
	size_t len, got = 0;
	char *buf = malloc(l->idx.chunk_size);
	int rc;

	s3layer_chunk_span(&l->idx, l->mf, c, &at, &len);
	if (buf == NULL)
		rc = pager_fail(e, EX_OSERR, "%s: chunk %zu: out of memory",
		    l->mem_key, c);
	else if ((rc = s3layer_get_chunk(s, &l->idx, l->uri.prefix, l->mf, c,
	    buf, &got)) != 0)
		pager_fail_chunk(e, rc, l->uri.bucket, l->mem_key, c, at, len);
	else if (extents_io(&l->mf->ext, l->mem_fd, at, buf, got, true) ==
	    -1)
		rc = pager_fail(e, EX_IOERR, "%s/%s: chunk %zu: %s", l->tmp,
		    l->mf->name, c, strerror(errno));
	free(buf);
	return rc;
}

int
pager_chunk_fetch(struct pager_stack *st, struct pager_layer *l, size_t c,
    enum pager_by by, struct s3 *s, struct pager_err *e)
{
	int rc = fetch(l, c, s, e);

	pthread_mutex_lock(&st->mu);
	l->fetches[by]++;
	l->again[by] += l->fetched[c];
	l->fetched[c] = 1;
	l->chunk[c] = rc == 0 ? PAGER_PRESENT : PAGER_ABSENT;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int
pager_chunk_get(struct pager_stack *st, struct pager_layer *l, size_t c,
    struct s3 *s, struct pager_err *e)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	while (l->chunk[c] == PAGER_BUSY)
		pthread_cond_wait(&st->cv, &st->mu);
	if (l->chunk[c] == PAGER_PRESENT) {
		pthread_mutex_unlock(&st->mu);
		return 0;
	}
	l->chunk[c] = PAGER_BUSY;
	/* The guest went here: the transfer goes on from the next chunk,
	 * where it is likely to go next, and comes back for what it
	 * skipped. */
	st->next_li = (int)(l - st->layer);
	st->next_c = c + 1;
	st->rescan = true;
	st->faulting++;
	pthread_mutex_unlock(&st->mu);
	rc = pager_chunk_fetch(st, l, c, PAGER_BY_FAULT, s, e);
	pthread_mutex_lock(&st->mu);
	st->faulting--;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* The next absent chunk from the cursor on, claimed: false if none. */
static bool
claim_from_cursor(struct pager_stack *st, int *li, size_t *c)
{
	for (; st->next_li < st->n; st->next_li++, st->next_c = 0) {
		struct pager_layer *l = &st->layer[st->next_li];

		for (; st->next_c < l->mf->nchunks; st->next_c++)
			if (l->chunk[st->next_c] == PAGER_ABSENT) {
				l->chunk[st->next_c] = PAGER_BUSY;
				*li = st->next_li;
				*c = st->next_c;
				return true;
			}
	}
	return false;
}

bool
pager_chunk_claim(struct pager_stack *st, int *li, size_t *c)
{
	bool found;

	pthread_mutex_lock(&st->mu);
	/* A guest waits on a fault's chunk: the link is its first. */
	while (st->faulting > 0)
		pthread_cond_wait(&st->cv, &st->mu);
	while (!(found = claim_from_cursor(st, li, c)) && st->rescan) {
		st->rescan = false;	/* once more from the start */
		st->next_li = 0;
		st->next_c = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return found;
}

/* Waits for the fetches in flight (a fault's), then counts the chunks
 * not present. */
size_t
pager_chunk_missing(struct pager_stack *st)
{
	size_t n = 0, busy;

	pthread_mutex_lock(&st->mu);
	do {
		n = busy = 0;
		for (int i = 0; i < st->n; i++)
			for (size_t c = 0; c < st->layer[i].mf->nchunks; c++) {
				n += st->layer[i].chunk[c] != PAGER_PRESENT;
				busy += st->layer[i].chunk[c] == PAGER_BUSY;
			}
		if (busy > 0)
			pthread_cond_wait(&st->cv, &st->mu);
	} while (busy > 0);
	pthread_mutex_unlock(&st->mu);
	return n;
}
