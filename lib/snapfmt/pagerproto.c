/*
 * The page-server protocol's messages (snapvm-pager(5)) checked field by
 * field.  Each side is the other's untrusted peer: a packet is copied
 * out, and nothing in it is used before every field is known good.
 * Strictness costs nothing here (both sides are this code), and a field
 * that must be zero and is not says the peer speaks another protocol.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "pagerproto.h"
#include "vmlimits.h"

/* The layout is the wire format: no padding anywhere. */
static_assert(sizeof(struct pager_hello) == 40 + SNAP_MAX_LAYERS * 64,
    "struct pager_hello has padding");
static_assert(sizeof(struct pager_reply) == 32 + PAGER_MSG_MAX,
    "struct pager_reply has padding");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
    "the protocol is little-endian, as the host must be");

/* As a message names a reply of its type. */
static const char *const pager_reply_names[] = {
	[PAGER_READY] = "a READY", [PAGER_ERROR] = "an ERROR",
	[PAGER_DONE] = "a DONE",
};

void
pagerproto_hello_init(struct pager_hello *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, PAGER_MAGIC, sizeof(h->magic));
	h->version = PAGER_VERSION;
	h->type = PAGER_HELLO;
}

void
pagerproto_reply_init(struct pager_reply *r, enum pager_type type)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->magic, PAGER_MAGIC, sizeof(r->magic));
	r->version = PAGER_VERSION;
	r->type = (uint32_t)type;
}

static int
why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* What the size, magic and version of any message must be. */
static int
check_head(const void *buf, size_t len, size_t want, const char *what,
    char *why, size_t whylen)
{
	uint32_t version;

	if (len != want)
		return why_set(why, whylen, "a %s is %zu bytes, the packet %zu",
		    what, want, len);
	if (memcmp(buf, PAGER_MAGIC, 8) != 0)
		return why_set(why, whylen, "field magic: not %s", PAGER_MAGIC);
	memcpy(&version, (const char *)buf + 8, sizeof(version));
	if (version != PAGER_VERSION)
		return why_set(why, whylen, "field version: %u, this program "
		    "speaks %d", version, PAGER_VERSION);
	return 0;
}

/* 64 lower-case hex digits, as a manifest's id. */
static int
is_id(const char id[64])
{
	for (int i = 0; i < 64; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

static int
check_ids(const struct pager_hello *h, char *why, size_t whylen)
{
	if (h->nlayers < 1 || h->nlayers > SNAP_MAX_LAYERS)
		return why_set(why, whylen, "field nlayers: %u, 1 to %d",
		    h->nlayers, SNAP_MAX_LAYERS);
	for (uint32_t i = 0; i < SNAP_MAX_LAYERS; i++) {
		if (i < h->nlayers && !is_id(h->id[i]))
			return why_set(why, whylen, "field id[%u]: not 64 "
			    "lower-case hex digits", i);
		if (i >= h->nlayers && !all_zero(h->id[i], sizeof(h->id[i])))
			return why_set(why, whylen, "field id[%u]: past nlayers "
			    "(%u) but not zero", i, h->nlayers);
	}
	return 0;
}

int
pagerproto_check_hello(const void *buf, size_t len, struct pager_hello *h,
    char *why, size_t whylen)
{
	const uint64_t max = (uint64_t)MEM_MAX_MIB << 20;

	if (check_head(buf, len, sizeof(*h), "HELLO", why, whylen) == -1)
		return -1;
	memcpy(h, buf, sizeof(*h));
	if (h->type != PAGER_HELLO)
		return why_set(why, whylen, "field type: %u, expected %d (HELLO)",
		    h->type, PAGER_HELLO);
	if (h->page_size != PAGER_PAGE)
		return why_set(why, whylen, "field page_size: %u, expected %d",
		    h->page_size, PAGER_PAGE);
	if (h->base == 0 || h->base % PAGER_PAGE != 0)
		return why_set(why, whylen, "field base: %#jx, not a page's "
		    "address", (uintmax_t)h->base);
	if (h->bytes == 0 || h->bytes % PAGER_PAGE != 0 || h->bytes > max)
		return why_set(why, whylen, "field bytes: %ju, a multiple of %d "
		    "from %d to %ju", (uintmax_t)h->bytes, PAGER_PAGE,
		    PAGER_PAGE, (uintmax_t)max);
	if (h->base > UINT64_MAX - h->bytes)
		return why_set(why, whylen, "fields base and bytes: %#jx + %ju "
		    "wraps around", (uintmax_t)h->base, (uintmax_t)h->bytes);
	return check_ids(h, why, whylen);
}

/* An ERROR's text: a NUL within the field, printable ASCII before it,
 * zeros after it, and something to say. */
static int
check_message(const struct pager_reply *r, char *why, size_t whylen)
{
	const char *end = memchr(r->message, '\0', sizeof(r->message));
	size_t n;

	if (end == NULL)
		return why_set(why, whylen, "field message: no NUL in its %d "
		    "bytes", PAGER_MSG_MAX);
	n = (size_t)(end - r->message);
	if (n == 0)
		return why_set(why, whylen, "field message: empty");
	for (size_t i = 0; i < n; i++)
		if (r->message[i] < 0x20 || r->message[i] > 0x7e)
			return why_set(why, whylen, "field message: byte %zu is "
			    "%#x, not printable", i,
			    (unsigned)(unsigned char)r->message[i]);
	if (!all_zero(end, sizeof(r->message) - n))
		return why_set(why, whylen, "field message: bytes after its "
		    "NUL are not zero");
	return 0;
}

/* The fields a type does not use must be zero. */
static int
check_unused(const struct pager_reply *r, char *why, size_t whylen)
{
	const char *name = pager_reply_names[r->type];

	if (r->type != PAGER_ERROR && r->status != 0)
		return why_set(why, whylen, "field status: %u in %s, expected 0",
		    r->status, name);
	if (r->type != PAGER_READY && r->pages != 0)
		return why_set(why, whylen, "field pages: %ju in %s, expected 0",
		    (uintmax_t)r->pages, name);
	if (r->type != PAGER_ERROR && !all_zero(r->message, sizeof(r->message)))
		return why_set(why, whylen, "field message: not zero in %s",
		    name);
	return 0;
}

int
pagerproto_check_reply(const void *buf, size_t len, struct pager_reply *r,
    char *why, size_t whylen)
{
	if (check_head(buf, len, sizeof(*r), "reply", why, whylen) == -1)
		return -1;
	memcpy(r, buf, sizeof(*r));
	if (r->type != PAGER_READY && r->type != PAGER_ERROR &&
	    r->type != PAGER_DONE)
		return why_set(why, whylen, "field type: %u, expected %d (READY), "
		    "%d (ERROR) or %d (DONE)", r->type, PAGER_READY, PAGER_ERROR,
		    PAGER_DONE);
	if (r->reserved != 0)
		return why_set(why, whylen, "field reserved: %u, expected 0",
		    r->reserved);
	if (check_unused(r, why, whylen) == -1)
		return -1;
	if (r->type != PAGER_ERROR)
		return 0;
	if (r->status < EX__BASE || r->status > EX__MAX)
		return why_set(why, whylen, "field status: %u in an ERROR, a "
		    "sysexits status (%d to %d)", r->status, EX__BASE, EX__MAX);
	return check_message(r, why, whylen);
}
