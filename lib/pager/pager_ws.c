/* The top layer's working set into the guest before it runs: the pages
 * its recorded request touched, so that the request itself faults on
 * few others.  Its contents were checked with the layer (its SHA-256 in
 * the manifest) and its layers against the stack. */
#include <errno.h>
#include <string.h>
#include <sysexits.h>

#include "pager.h"

/* Through the page-aligned buffer, a buffer's worth at a time. */
static int
put_run(struct pager_srv *sv, const uint8_t *src, uint64_t first,
    uint64_t count, struct pager_err *e)
{
	uint64_t step = sv->buflen / PAGER_PAGE;

	for (uint64_t done = 0; done < count; done += step) {
		uint64_t n = count - done < step ? count - done : step;

		memcpy(sv->buf, src + done * PAGER_PAGE, n * PAGER_PAGE);
		if (pager_uffd_copy(&sv->mem, first + done, n, sv->buf) == -1)
			return errno == ESRCH ? PAGER_GONE : pager_fail(e,
			    EX_PROTOCOL, "UFFDIO_COPY of the working set's pages "
			    "%ju-%ju: %s", (uintmax_t)(first + done),
			    (uintmax_t)(first + done + n - 1), strerror(errno));
	}
	return 0;
}

int
pager_ws_install(struct pager_srv *sv, uint64_t *n, struct pager_err *e)
{
	const struct pager_stack *st = sv->st;
	uint64_t off;
	int rc;

	*n = 0;
	if (!st->has_ws)
		return 0;
	off = st->ws.data_off;
	/* workset_parse checked the runs against the file and the memory. */
	for (uint32_t r = 0; r < st->ws.nruns; r++) {
		const struct workset_run *run = &st->ws.run[r];

		if ((rc = put_run(sv, st->ws_data + off, run->first, run->count,
		    e)) != 0)
			return rc;
		off += run->count * PAGER_PAGE;
		*n += run->count;
	}
	return 0;
}
