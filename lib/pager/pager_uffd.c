/*
 * Pages into the runner's memory through its userfaultfd.  A page may be
 * there already (put in with an earlier chunk while its fault was still
 * queued): UFFDIO_COPY then fails with EEXIST for it, which is no error,
 * and the copy goes on after it.  A copy cut short because the runner's
 * mappings were changing reports EAGAIN and how far it got.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#include "pager.h"

static void
mark(struct pager_mem *pm, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n; p++)
		pm->installed[p / 64] |= 1ULL << (p % 64);
}

bool
pager_installed(const struct pager_mem *pm, uint64_t p)
{
	return pm->installed[p / 64] >> (p % 64) & 1;
}

int
pager_uffd_copy(struct pager_mem *pm, uint64_t first, uint64_t npages,
    const void *src)
{
	uint64_t done = 0, len = npages * PAGER_PAGE;

	while (done < len) {
		struct uffdio_copy c = {
			.dst = pm->base + first * PAGER_PAGE + done,
			.src = (uint64_t)(uintptr_t)src + done,
			.len = len - done,
		};

		if (ioctl(pm->uffd, UFFDIO_COPY, &c) == 0) {
			done = len;
			break;
		}
		if (c.copy > 0)
			done += (uint64_t)c.copy;
		if (errno == EEXIST && c.copy == -EEXIST)
			done += PAGER_PAGE;	/* that page is in: the next */
		else if (errno != EAGAIN)
			return -1;
	}
	mark(pm, first, npages);
	return 0;
}

int
pager_uffd_zero(struct pager_mem *pm, uint64_t first, uint64_t npages)
{
	uint64_t done = 0, len = npages * PAGER_PAGE;

	while (done < len) {
		struct uffdio_zeropage z = {
			.range = { pm->base + first * PAGER_PAGE + done,
			    len - done },
		};

		if (ioctl(pm->uffd, UFFDIO_ZEROPAGE, &z) == 0)
			break;
		if (z.zeropage > 0)
			done += (uint64_t)z.zeropage;
		if (errno == EEXIST && z.zeropage == -EEXIST)
			done += PAGER_PAGE;
		else if (errno != EAGAIN)
			return -1;
	}
	mark(pm, first, npages);
	return 0;
}

int
pager_uffd_wake(const struct pager_mem *pm, uint64_t p)
{
	struct uffdio_range r = { pm->base + p * PAGER_PAGE, PAGER_PAGE };

	return ioctl(pm->uffd, UFFDIO_WAKE, &r);
}
