/*
 * A missing page: its layer's chunk fetched if it must be, then every
 * page of the chunk that layer owns and the guest lacks put in at once
 * (the guest's next touches are likely near), then the faulting thread
 * woken.  Pages of holes are zero pages.
 */
#include <errno.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "pager.h"

struct install {
	struct pager_srv *sv;
	const struct pager_layer *l;
	uint8_t li;
	uint64_t fault;			/* the page asked for */
	bool holes;			/* zero pages: the layer's holes only */
	struct pager_err *e;
};

/* The layer's, and not in the guest yet (but the page asked for: it may
 * be missing again). */
static bool
wanted(const struct install *in, uint64_t p)
{
	size_t c;

	return in->sv->st->owner[p] == in->li && (p == in->fault ||
	    !pager_installed(&in->sv->mem, p)) &&
	    (!in->holes || !pager_layer_chunk(in->l, p, &c));
}

typedef int (*run_fn)(struct install *in, uint64_t a, uint64_t b);

/* fn on each run [a, b) of wanted pages in [first, end). */
static int
each_run(struct install *in, uint64_t first, uint64_t end, run_fn fn)
{
	uint64_t a = first, b;
	int rc;

	while (a < end) {
		if (!wanted(in, a)) {
			a++;
			continue;
		}
		for (b = a + 1; b < end && wanted(in, b); b++)
			;
		if ((rc = fn(in, a, b)) != 0)
			return rc;
		a = b;
	}
	return 0;
}

/* Pages [a, b) of the layer's memory file into the guest. */
static int
put(struct install *in, uint64_t a, uint64_t b)
{
	size_t len = (size_t)(b - a) * PAGER_PAGE;
	ssize_t got = pread(in->l->mem_fd, in->sv->buf, len,
	    (off_t)(a * PAGER_PAGE));

	if (got != (ssize_t)len)
		return pager_fail(in->e, EX_IOERR, "%s: pages %ju-%ju: %s",
		    in->l->mem_key, (uintmax_t)a, (uintmax_t)b - 1,
		    got == -1 ? strerror(errno) : "short read");
	if (pager_uffd_copy(&in->sv->mem, a, b - a, in->sv->buf) == -1) {
		if (errno == ESRCH)
			return PAGER_GONE;
		return pager_fail(in->e, EX_PROTOCOL, "UFFDIO_COPY of pages "
		    "%ju-%ju: %s", (uintmax_t)a, (uintmax_t)b - 1,
		    strerror(errno));
	}
	in->sv->copied += b - a;
	return 0;
}

/* One extent's part of the chunk. */
static int
put_runs(uint64_t first, uint64_t n, void *arg)
{
	return each_run(arg, first, first + n, put);
}

static int
zero_run(struct install *in, uint64_t a, uint64_t b)
{
	if (pager_uffd_zero(&in->sv->mem, a, b - a) == 0)
		return 0;
	if (errno == ESRCH)
		return PAGER_GONE;
	return pager_fail(in->e, EX_PROTOCOL, "UFFDIO_ZEROPAGE of pages "
	    "%ju-%ju: %s", (uintmax_t)a, (uintmax_t)b - 1, strerror(errno));
}

/* A hole: zero pages for it and for the layer's other holes the guest
 * lacks in the chunk-sized window around it (fresh memory is touched in
 * runs too). */
static int
zero(struct install *in)
{
	uint64_t w = S3LAYER_CHUNK / PAGER_PAGE, a = in->fault / w * w;
	uint64_t end = a + w < in->sv->st->npages ? a + w : in->sv->st->npages;

	in->holes = true;
	return each_run(in, a, end, zero_run);
}

int
pager_fault(struct pager_srv *sv, uint64_t addr, struct pager_err *e)
{
	struct pager_mem *pm = &sv->mem;
	struct install in = { .sv = sv, .e = e };
	struct pager_layer *l;
	size_t c;
	int rc;

	if (addr < pm->base || addr - pm->base >= pm->bytes)
		return pager_fail(e, EX_PROTOCOL, "a fault at 0x%jx, outside "
		    "the guest memory the runner gave (0x%jx, %ju bytes)",
		    (uintmax_t)addr, (uintmax_t)pm->base, (uintmax_t)pm->bytes);
	sv->faults++;
	in.fault = (addr - pm->base) / PAGER_PAGE;
	in.li = sv->st->owner[in.fault];
	in.l = l = &sv->st->layer[in.li];
	if (!pager_layer_chunk(l, in.fault, &c))
		rc = zero(&in);
	else if ((rc = pager_chunk_get(sv->st, l, c, &l->s3, e)) == 0)
		rc = pager_layer_chunk_pages(l, c, put_runs, &in);
	if (rc == 0 && pager_uffd_wake(pm, in.fault) == -1 && errno == ESRCH)
		rc = PAGER_GONE;
	return rc;
}
