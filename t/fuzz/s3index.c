/*
 * A layer's index object (s3snap(1), "OBJECTS IN THE STORE"), as the
 * store hands it to `s3snap get` and ctrl: parsed and checked by
 * s3layer_parse().  One that passes is written out again by
 * s3layer_index() and must parse back to the same layer, and a transfer
 * is planned over it.
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
	    a->part_size == b->part_size && a->nfiles == b->nfiles;

	for (int i = 0; ok && i < a->nfiles; i++) {
		const struct s3file *x = &a->file[i], *y = &b->file[i];

		ok = strcmp(x->name, y->name) == 0 && x->size == y->size &&
		    x->ext.n == y->ext.n && x->ext.total == y->ext.total &&
		    x->nparts == y->nparts && (x->ext.n == 0 ||
		    memcmp(x->ext.v, y->ext.v, x->ext.n * sizeof(*x->ext.v)) == 0);
	}
	if (!ok)
		abort();
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
		if (s3layer_plan(&l, true, &plan, &n) == 0)
			free(plan);
		free(out);
		s3layer_free(&again);
	}
	s3layer_free(&l);
	free(text);
	return 0;
}
