#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extent.h"
#include "log.h"

/* Merges [off, off+len) into the last extent if they touch. */
static bool
extend_last(struct extents *e, uint64_t off, uint64_t len)
{
	struct extent *last;
	uint64_t end = off + len;

	if (e->n == 0 || e->v == NULL)
		return false;
	last = &e->v[e->n - 1];
	if (off > last->off + last->len)
		return false;
	if (end > last->off + last->len) {
		e->total += end - (last->off + last->len);
		last->len = end - last->off;
	}
	return true;
}

int
extents_add(struct extents *e, uint64_t off, uint64_t len)
{
	if (len == 0 || extend_last(e, off, len))
		return 0;
	if (e->n == e->cap || e->v == NULL) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct extent *v = reallocarray(e->v, cap, sizeof(*v));

		if (v == NULL)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct extent){ off, len, e->total };
	e->total += len;
	return 0;
}

int
extents_scan(int fd, const char *path, uint64_t size, struct extents *e)
{
	const uint64_t mask = EXTENT_ALIGN - 1;
	off_t data, hole;
	uint64_t from, to;

	for (data = 0; (uint64_t)data < size; data = hole) {
		if ((data = lseek(fd, data, SEEK_DATA)) == -1) {
			if (errno == ENXIO)	/* only a hole is left */
				break;
			log_warn("%s: SEEK_DATA", path);
			return -1;
		}
		if ((hole = lseek(fd, data, SEEK_HOLE)) == -1) {
			log_warn("%s: SEEK_HOLE", path);
			return -1;
		}
		from = (uint64_t)data & ~mask;
		to = ((uint64_t)hole + mask) & ~mask;
		if (to > size)
			to = size;
		if (to > from && extents_add(e, from, to - from) == -1) {
			log_warn("%s", path);
			return -1;
		}
	}
	return 0;
}

/* The extent holding x, a packed offset or (in_file) one in the file:
 * the last extent starting at or before x, if x is inside it; else e->n. */
static size_t
find(const struct extents *e, uint64_t x, bool in_file)
{
	size_t lo = 0, hi = e->n;
	const struct extent *v;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((in_file ? e->v[mid].off : e->v[mid].at) <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return e->n;
	v = &e->v[lo - 1];
	return x - (in_file ? v->off : v->at) < v->len ? lo - 1 : e->n;
}

size_t
extents_find(const struct extents *e, uint64_t at)
{
	return find(e, at, false);
}

size_t
extents_find_off(const struct extents *e, uint64_t off)
{
	return find(e, off, true);
}

static int
io_full(int fd, char *p, size_t n, off_t off, bool write)
{
	while (n > 0) {
		ssize_t k = write ? pwrite(fd, p, n, off) : pread(fd, p, n, off);

		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;	/* the file shrank under us */
			return -1;
		}
		p += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

int
extents_io(const struct extents *e, int fd, uint64_t at, void *buf,
    size_t len, bool write)
{
	char *p = buf;
	size_t i = extents_find(e, at);

	for (; len > 0; i++) {
		uint64_t skip, n;

		if (i >= e->n) {
			errno = ERANGE;
			return -1;
		}
		skip = at - e->v[i].at;
		n = e->v[i].len - skip;
		if (n > len)
			n = len;
		if (io_full(fd, p, n, (off_t)(e->v[i].off + skip), write) == -1)
			return -1;
		p += n;
		at += n;
		len -= n;
	}
	return 0;
}

/* How much of a file the zero test reads at a time. */
#define EXTENT_SCAN_BUF	(1u << 20)

static bool
all_zero(const char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* The blocks of [off, off+len) of fd that hold more than zeros, into e. */
static int
add_nonzero(int fd, const char *path, uint64_t off, uint64_t len, char *buf,
    struct extents *e)
{
	while (len > 0) {
		size_t n = len < EXTENT_SCAN_BUF ? (size_t)len : EXTENT_SCAN_BUF;

		if (io_full(fd, buf, n, (off_t)off, false) == -1) {
			log_warn("%s", path);
			return -1;
		}
		for (size_t b = 0; b < n; b += EXTENT_ALIGN) {
			size_t k = n - b < EXTENT_ALIGN ? n - b : EXTENT_ALIGN;

			if (!all_zero(buf + b, k) &&
			    extents_add(e, off + b, k) == -1) {
				log_warn("%s", path);
				return -1;
			}
		}
		off += n;
		len -= n;
	}
	return 0;
}

int
extents_scan_nonzero(int fd, const char *path, uint64_t size,
    struct extents *e)
{
	struct extents data = { 0 };
	char *buf = NULL;
	int rc = extents_scan(fd, path, size, &data);

	if (rc == 0 && data.n > 0 && (buf = malloc(EXTENT_SCAN_BUF)) == NULL) {
		log_warn("%s", path);
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < data.n; i++)
		rc = add_nonzero(fd, path, data.v[i].off, data.v[i].len, buf, e);
	free(buf);
	extents_free(&data);
	return rc;
}

void
extents_free(struct extents *e)
{
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
	e->total = 0;
}
