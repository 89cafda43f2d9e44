#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "snapstate.h"

static size_t
align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static void
snapbuf_put(struct snapbuf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->cap - b->len < align8(n)) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *d;

		while (cap - b->len < align8(n))
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL) {
			b->failed = ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	memset(b->data + b->len + n, 0, align8(n) - n);
	b->len += align8(n);
}

void
snapbuf_init(struct snapbuf *b)
{
	struct snap_file_hdr h = { SNAP_STATE_MAGIC, SNAP_VERSION, 0 };

	memset(b, 0, sizeof(*b));
	snapbuf_put(b, &h, sizeof(h));
}

void
snapbuf_add(struct snapbuf *b, uint32_t type, uint32_t index, const void *p,
    uint32_t size)
{
	struct snap_sec_hdr h = { type, index, size, 0 };

	snapbuf_put(b, &h, sizeof(h));
	snapbuf_put(b, p, size);
	if (!b->failed) {
		b->nsections++;
		((struct snap_file_hdr *)b->data)->nsections = b->nsections;
	}
}

void
snapbuf_free(struct snapbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Every section must lie inside the file: checked once, here. */
static int
snapstate_check(const struct snapstate *st)
{
	const struct snap_file_hdr *h = (const void *)st->data;
	size_t off = sizeof(*h);

	if (st->len < sizeof(*h) || memcmp(h->magic, SNAP_STATE_MAGIC, 8) != 0) {
		log_warnx("%s: not a snapvm state file", st->path);
		return -1;
	}
	if (h->version != SNAP_VERSION) {
		log_warnx("%s: state format version %u, this program reads "
		    "version %u", st->path, h->version, SNAP_VERSION);
		return -1;
	}
	for (uint32_t i = 0; i < h->nsections; i++) {
		const struct snap_sec_hdr *s = (const void *)(st->data + off);

		if (st->len - off < sizeof(*s) ||
		    st->len - off - sizeof(*s) < align8(s->size)) {
			log_warnx("%s: section %u runs past the end of the file",
			    st->path, i);
			return -1;
		}
		off += sizeof(*s) + align8(s->size);
	}
	if (off != st->len) {
		log_warnx("%s: %zu bytes after the last section", st->path,
		    st->len - off);
		return -1;
	}
	return 0;
}

int
snapstate_load(struct snapstate *st, const char *path)
{
	uint64_t size;
	int fd;

	memset(st, 0, sizeof(*st));
	snprintf(st->path, sizeof(st->path), "%s", path);
	if ((fd = file_open_regular(path, &size)) == -1)
		return -1;
	if (size > SNAP_STATE_MAX || size % 8 != 0) {
		log_warnx("%s: %ju bytes is not the size of a state file", path,
		    (uintmax_t)size);
		close(fd);
		return -1;
	}
	st->len = size;
	st->data = malloc(size ? size : 1);
	if (st->data == NULL || file_read_all(fd, path, st->data, size) == -1) {
		close(fd);
		snapstate_free(st);
		return -1;
	}
	close(fd);
	if (snapstate_check(st) == -1) {
		snapstate_free(st);
		return -1;
	}
	return 0;
}

const void *
snapstate_find(const struct snapstate *st, uint32_t type, uint32_t index,
    uint32_t *size)
{
	const struct snap_file_hdr *h = (const void *)st->data;
	size_t off = sizeof(*h);

	for (uint32_t i = 0; i < h->nsections; i++) {
		const struct snap_sec_hdr *s = (const void *)(st->data + off);

		if (s->type == type && s->index == index) {
			*size = s->size;
			return s + 1;
		}
		off += sizeof(*s) + align8(s->size);
	}
	return NULL;
}

const void *
snapstate_get(const struct snapstate *st, uint32_t type, uint32_t index,
    uint32_t size)
{
	uint32_t got;
	const void *p = snapstate_find(st, type, index, &got);

	if (p == NULL) {
		log_warnx("%s: no section 0x%x.%u", st->path, type, index);
		return NULL;
	}
	if (got != size) {
		log_warnx("%s: section 0x%x.%u has %u bytes, expected %u",
		    st->path, type, index, got, size);
		return NULL;
	}
	return p;
}

void
snapstate_free(struct snapstate *st)
{
	free(st->data);
	st->data = NULL;
	st->len = 0;
}
