#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "snapstate.h"
#include "vmlimits.h"

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
	struct snap_file_hdr h = { SNAP_STATE_MAGIC, SNAP_STATE_VERSION, 0 };

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

/* The types a state file may hold, how many of each (by index) and
 * their names in messages. */
static const struct sec_kind {
	uint32_t type;
	uint32_t nindex;
	const char *name;
} sec_kinds[] = {
	{ SEC_REGS, VM_MAX_VCPUS, "registers" },
	{ SEC_SREGS, VM_MAX_VCPUS, "segment registers" },
	{ SEC_XSAVE, VM_MAX_VCPUS, "XSAVE" },
	{ SEC_XCRS, VM_MAX_VCPUS, "XCRs" },
	{ SEC_MSRS, VM_MAX_VCPUS, "MSRs" },
	{ SEC_LAPIC, VM_MAX_VCPUS, "LAPIC" },
	{ SEC_MP_STATE, VM_MAX_VCPUS, "MP state" },
	{ SEC_EVENTS, VM_MAX_VCPUS, "vCPU events" },
	{ SEC_DEBUGREGS, VM_MAX_VCPUS, "debug registers" },
	{ SEC_FPU, VM_MAX_VCPUS, "FPU" },
	{ SEC_CPUID, VM_MAX_VCPUS, "CPUID" },
	{ SEC_PIC_MASTER, 1, "master PIC" },
	{ SEC_PIC_SLAVE, 1, "slave PIC" },
	{ SEC_IOAPIC, 1, "IOAPIC" },
	{ SEC_PIT, 1, "PIT" },
	{ SEC_CLOCK, 1, "clock" },
	{ SEC_SERIAL, 1, "UART" },
	{ SEC_MMIO, VM_MAX_DRIVES + 2, "virtio-mmio transport" },
	{ SEC_BLK, VM_MAX_DRIVES, "virtio-blk" },
	{ SEC_VSOCK, 1, "virtio-vsock" },
	{ SEC_NET, 1, "virtio-net" },
	{ SEC_NET_TAP, 1, "virtio-net tap name" },
};
#define SEC_NKINDS	(sizeof(sec_kinds) / sizeof(sec_kinds[0]))
_Static_assert(VM_MAX_DRIVES + 2 <= 16, "section indices fit the bitmap");

static int
sec_kind(uint32_t type)
{
	for (size_t i = 0; i < SEC_NKINDS; i++)
		if (sec_kinds[i].type == type)
			return (int)i;
	return -1;
}

const char *
snapstate_name(uint32_t type)
{
	int k = sec_kind(type);

	return k < 0 ? "unknown" : sec_kinds[k].name;
}

static int
check_header(const struct snapstate *st)
{
	struct snap_file_hdr h;

	if (st->len < sizeof(h)) {
		log_warnx("%s: not a snapvm state file (%zu bytes)", st->path,
		    st->len);
		return -1;
	}
	memcpy(&h, st->data, sizeof(h));
	if (memcmp(h.magic, SNAP_STATE_MAGIC, 8) != 0) {
		log_warnx("%s: not a snapvm state file", st->path);
		return -1;
	}
	if (h.version != SNAP_STATE_VERSION) {
		log_warnx("%s: header: state format version %u, this program "
		    "reads version %u", st->path, h.version, SNAP_STATE_VERSION);
		return -1;
	}
	if (h.nsections > SNAP_MAX_SECTIONS) {
		log_warnx("%s: header: field nsections: %u, at most %u",
		    st->path, h.nsections, SNAP_MAX_SECTIONS);
		return -1;
	}
	return 0;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* One section header at off: inside the file, of a known type and index,
 * not seen before, reserved and padding bytes zero. */
static int
check_section(const struct snapstate *st, uint32_t i, size_t off,
    uint16_t seen[SEC_NKINDS])
{
	struct snap_sec_hdr s;
	int k;

	if (st->len - off < sizeof(s)) {
		log_warnx("%s: section %u: header runs past the end of the file",
		    st->path, i);
		return -1;
	}
	memcpy(&s, st->data + off, sizeof(s));
	off += sizeof(s);
	if ((k = sec_kind(s.type)) < 0) {
		log_warnx("%s: section %u: field type: unknown type 0x%x",
		    st->path, i, s.type);
		return -1;
	}
	if (s.index >= sec_kinds[k].nindex) {
		log_warnx("%s: section %u (%s): field index: %u, at most %u",
		    st->path, i, sec_kinds[k].name, s.index,
		    sec_kinds[k].nindex - 1);
		return -1;
	}
	if (seen[k] >> s.index & 1) {
		log_warnx("%s: section %u (%s %u): a second section of this "
		    "type and index", st->path, i, sec_kinds[k].name, s.index);
		return -1;
	}
	seen[k] |= (uint16_t)(1U << s.index);
	if (s.reserved != 0) {
		log_warnx("%s: section %u (%s %u): field reserved is not zero",
		    st->path, i, sec_kinds[k].name, s.index);
		return -1;
	}
	if (st->len - off < align8(s.size)) {
		log_warnx("%s: section %u (%s %u): field size: %u bytes run past "
		    "the end of the file", st->path, i, sec_kinds[k].name,
		    s.index, s.size);
		return -1;
	}
	if (!all_zero(st->data + off + s.size, align8(s.size) - s.size)) {
		log_warnx("%s: section %u (%s %u): padding is not zero",
		    st->path, i, sec_kinds[k].name, s.index);
		return -1;
	}
	return 0;
}

/* The section table is checked once, here; readers then trust it. */
static int
snapstate_check(const struct snapstate *st)
{
	uint16_t seen[SEC_NKINDS] = { 0 };
	struct snap_file_hdr h;
	struct snap_sec_hdr s;
	size_t off = sizeof(h);

	if (check_header(st) == -1)
		return -1;
	memcpy(&h, st->data, sizeof(h));
	for (uint32_t i = 0; i < h.nsections; i++) {
		if (check_section(st, i, off, seen) == -1)
			return -1;
		memcpy(&s, st->data + off, sizeof(s));
		off += sizeof(s) + align8(s.size);
	}
	if (off != st->len) {
		log_warnx("%s: %zu bytes after the last of %u sections", st->path,
		    st->len - off, h.nsections);
		return -1;
	}
	return 0;
}

int
snapstate_parse(struct snapstate *st, const char *path, uint8_t *data,
    size_t len)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->path, sizeof(st->path), "%s", path);
	st->data = data;
	st->len = len;
	if (len > SNAP_STATE_MAX || len % 8 != 0) {
		log_warnx("%s: %zu bytes is not the size of a state file", path,
		    len);
		snapstate_free(st);
		return -1;
	}
	if (snapstate_check(st) == -1) {
		snapstate_free(st);
		return -1;
	}
	return 0;
}

int
snapstate_load(struct snapstate *st, const char *path)
{
	uint64_t size;
	uint8_t *data;
	int fd;

	memset(st, 0, sizeof(*st));
	if ((fd = file_open_regular(path, &size)) == -1)
		return -1;
	if (size > SNAP_STATE_MAX) {
		log_warnx("%s: %ju bytes is not the size of a state file", path,
		    (uintmax_t)size);
		close(fd);
		return -1;
	}
	if ((data = malloc(size ? size : 1)) == NULL ||
	    file_read_all(fd, path, data, size) == -1) {
		close(fd);
		free(data);
		return -1;
	}
	close(fd);
	return snapstate_parse(st, path, data, size);
}

/* Sections start at 8-byte offsets of malloc'ed data: aligned for the
 * structures read through the pointers handed out. */
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

uint32_t
snapstate_count(const struct snapstate *st, uint32_t type)
{
	const struct snap_file_hdr *h = (const void *)st->data;
	size_t off = sizeof(*h);
	uint32_t n = 0;

	for (uint32_t i = 0; i < h->nsections; i++) {
		const struct snap_sec_hdr *s = (const void *)(st->data + off);

		n += s->type == type;
		off += sizeof(*s) + align8(s->size);
	}
	return n;
}

const void *
snapstate_get(const struct snapstate *st, uint32_t type, uint32_t index,
    uint32_t size)
{
	uint32_t got;
	const void *p = snapstate_find(st, type, index, &got);

	if (p == NULL) {
		log_warnx("%s: no section 0x%x (%s) %u", st->path, type,
		    snapstate_name(type), index);
		return NULL;
	}
	if (got != size) {
		log_warnx("%s: section 0x%x (%s) %u: field size: %u bytes, "
		    "expected %u", st->path, type, snapstate_name(type), index,
		    got, size);
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
