/*
 * A layer's index object (s3snap(1), "OBJECTS IN THE STORE"), as the
 * store hands it to `s3snap get`, ctrl and snappager: parsed and checked
 * by s3layer_parse().  One that passes is written out again by
 * s3layer_index() and must parse back to the same layer, a transfer is
 * planned over it, and each file's bytes are looked up in its chunks
 * (version 3), which must hold them.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "s3layer.h"

static struct s3layer l, again;

static void
same(const struct s3layer *a, const struct s3layer *b)
{
	bool ok = strcmp(a->id, b->id) == 0 && a->diff == b->diff &&
	    a->version == b->version && a->part_size == b->part_size &&
	    a->chunk_size == b->chunk_size && a->nfiles == b->nfiles;

	for (int i = 0; ok && i < a->nfiles; i++) {
		const struct s3file *x = &a->file[i], *y = &b->file[i];

		ok = strcmp(x->name, y->name) == 0 && x->size == y->size &&
		    x->ext.n == y->ext.n && x->ext.total == y->ext.total &&
		    x->nparts == y->nparts && x->nchunks == y->nchunks &&
		    (x->ext.n == 0 || memcmp(x->ext.v, y->ext.v,
		    x->ext.n * sizeof(*x->ext.v)) == 0) && (x->nchunks == 0 ||
		    memcmp(x->chunk_sha, y->chunk_sha,
		    x->nchunks * sizeof(*x->chunk_sha)) == 0);
	}
	if (!ok)
		abort();
}

/* Byte off of f, if it is data, is in a chunk that holds it; data it is
 * where must says so (an index with chunks). */
static void
lookup(const struct s3layer *a, const struct s3file *f, uint64_t off,
    bool must)
{
	uint64_t obj, start;
	size_t c, len;

	if (!s3layer_chunk_at(a, f, off, &c, &obj)) {
		if (must)
			abort();
		return;
	}
	s3layer_chunk_span(a, f, c, &start, &len);
	if (c >= f->nchunks || obj >= f->ext.total || obj < start ||
	    obj - start >= len)
		abort();
}

/* Every extent's first and last byte and the bytes around it. */
static void
lookups(const struct s3layer *a)
{
	for (int i = 0; i < a->nfiles; i++) {
		const struct s3file *f = &a->file[i];

		if (a->chunk_size != 0 &&
		    f->nchunks != s3layer_nchunks(a, f))
			abort();
		for (size_t j = 0; j < f->ext.n && j < 64; j++) {
			const struct extent *e = &f->ext.v[j];

			bool data = a->chunk_size != 0;

			lookup(a, f, e->off - 1, false);
			lookup(a, f, e->off, data);
			lookup(a, f, e->off + e->len - 1, data);
			lookup(a, f, e->off + e->len, false);
		}
		lookup(a, f, f->size, false);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_str(data, size), *out;
	struct s3task *plan;
	size_t n;

	fz_init();
	if (s3layer_parse(&l, text, "fuzz-index") == 0) {
		if ((out = s3layer_index(&l)) == NULL ||
		    s3layer_parse(&again, out, "fuzz-index-again") == -1)
			abort();
		same(&l, &again);
		lookups(&l);
		if (s3layer_plan(&l, true, &plan, &n) == 0)
			free(plan);
		free(out);
		s3layer_free(&again);
	}
	s3layer_free(&l);
	free(text);
	return 0;
}
