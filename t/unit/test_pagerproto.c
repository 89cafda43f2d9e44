/* The page-server protocol's checks: every refusal names its field. */
#include <stdint.h>
#include <string.h>
#include <sysexits.h>

#include "pagerproto.h"
#include "unit.h"

static const char id0[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
good_hello(struct pager_hello *h)
{
	pagerproto_hello_init(h);
	h->base = 0x7f0000000000ULL;
	h->bytes = 128ULL << 20;
	h->page_size = PAGER_PAGE;
	h->nlayers = 2;
	memcpy(h->id[0], id0, 64);
	memcpy(h->id[1], id0, 64);
	h->id[1][0] = 'f';
}

static void
good_error(struct pager_reply *r)
{
	pagerproto_reply_init(r, PAGER_ERROR);
	r->status = EX_DATAERR;
	strcpy(r->message, "s3://b/p/memory: chunk 3: not the index's digest");
}

/* buf refused as a HELLO (hello) or a reply, with why naming what. */
static void
check_refused(int hello, const void *buf, size_t len, const char *what)
{
	union {
		struct pager_hello h;
		struct pager_reply r;
	} out;
	char why[160] = "";

	CHECK_EQ(hello ? pagerproto_check_hello(buf, len, &out.h, why,
	    sizeof(why)) : pagerproto_check_reply(buf, len, &out.r, why,
	    sizeof(why)), -1);
	if (strstr(why, what) == NULL) {
		unit_failed++;
		printf("#   refused with \"%s\", expected \"%s\"\n", why, what);
	}
}

#define check_hello_refused(buf, len, what) check_refused(1, buf, len, what)
#define check_reply_refused(buf, len, what) check_refused(0, buf, len, what)

static void
test_hello_good(void)
{
	struct pager_hello h, out;
	char why[160] = "";

	good_hello(&h);
	CHECK_EQ(pagerproto_check_hello(&h, sizeof(h), &out, why, sizeof(why)), 0);
	CHECK_EQ(memcmp(&h, &out, sizeof(h)), 0);
	CHECK_EQ(sizeof(h), 40 + SNAP_MAX_LAYERS * 64);
	h.nlayers = SNAP_MAX_LAYERS;
	for (int i = 2; i < SNAP_MAX_LAYERS; i++)
		memcpy(h.id[i], id0, 64);
	CHECK_EQ(pagerproto_check_hello(&h, sizeof(h), &out, why, sizeof(why)), 0);
	/* No room for why is no reason to crash. */
	h.nlayers = 0;
	CHECK_EQ(pagerproto_check_hello(&h, sizeof(h), &out, NULL, 0), -1);
}

static void
test_hello_head(void)
{
	unsigned char big[sizeof(struct pager_hello) + 1] = { 0 };
	struct pager_hello h;

	good_hello(&h);
	check_hello_refused(&h, sizeof(h) - 1, "552 bytes, the packet 551");
	memcpy(big, &h, sizeof(h));
	check_hello_refused(big, sizeof(big), "the packet 553");
	check_hello_refused(&h, 0, "the packet 0");
	h.magic[7] = 'X';
	check_hello_refused(&h, sizeof(h), "field magic");
	good_hello(&h);
	h.version = 2;
	check_hello_refused(&h, sizeof(h), "field version: 2");
	good_hello(&h);
	h.type = PAGER_READY;
	check_hello_refused(&h, sizeof(h), "field type: 2");
}

static void
test_hello_memory(void)
{
	struct pager_hello h;

	good_hello(&h);
	h.page_size = 2 << 20;
	check_hello_refused(&h, sizeof(h), "field page_size: 2097152");
	good_hello(&h);
	h.base = 0;
	check_hello_refused(&h, sizeof(h), "field base: 0");
	h.base = 0x7f0000000010ULL;
	check_hello_refused(&h, sizeof(h), "field base: 0x7f0000000010");
	good_hello(&h);
	h.bytes = 0;
	check_hello_refused(&h, sizeof(h), "field bytes: 0");
	h.bytes = (1 << 20) + 1;
	check_hello_refused(&h, sizeof(h), "field bytes: 1048577");
	h.bytes = (64ULL << 30) + 4096;
	check_hello_refused(&h, sizeof(h), "field bytes: 68719480832");
	good_hello(&h);
	h.base = UINT64_MAX - 4095;
	check_hello_refused(&h, sizeof(h), "fields base and bytes");
}

static void
test_hello_ids(void)
{
	struct pager_hello h;

	good_hello(&h);
	h.nlayers = 0;
	check_hello_refused(&h, sizeof(h), "field nlayers: 0");
	h.nlayers = SNAP_MAX_LAYERS + 1;
	check_hello_refused(&h, sizeof(h), "field nlayers: 9");
	good_hello(&h);
	h.id[1][5] = 'A';
	check_hello_refused(&h, sizeof(h), "field id[1]: not 64");
	good_hello(&h);
	h.id[0][63] = '\0';
	check_hello_refused(&h, sizeof(h), "field id[0]: not 64");
	good_hello(&h);
	h.id[SNAP_MAX_LAYERS - 1][10] = 1;
	check_hello_refused(&h, sizeof(h), "field id[7]: past nlayers (2)");
	good_hello(&h);
	h.id[2][0] = 'a';
	check_hello_refused(&h, sizeof(h), "field id[2]");
}

static void
test_reply_good(void)
{
	struct pager_reply r, out;
	char why[160] = "";

	pagerproto_reply_init(&r, PAGER_READY);
	r.pages = 1234;
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
	CHECK_EQ(out.type, PAGER_READY);
	CHECK_EQ(out.pages, 1234);
	pagerproto_reply_init(&r, PAGER_DONE);
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
	CHECK_EQ(out.type, PAGER_DONE);
	good_error(&r);
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
	CHECK_EQ(out.status, EX_DATAERR);
	CHECK(strcmp(out.message, r.message) == 0);
	/* A message that fills the field but for its NUL. */
	memset(r.message, 'x', PAGER_MSG_MAX - 1);
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
	r.status = EX__BASE;
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
	r.status = EX__MAX;
	CHECK_EQ(pagerproto_check_reply(&r, sizeof(r), &out, why, sizeof(why)), 0);
}

static void
test_reply_head(void)
{
	unsigned char big[sizeof(struct pager_reply) + 8] = { 0 };
	struct pager_reply r;

	pagerproto_reply_init(&r, PAGER_READY);
	check_reply_refused(&r, sizeof(r) - 1, "288 bytes, the packet 287");
	memcpy(big, &r, sizeof(r));
	check_reply_refused(big, sizeof(big), "the packet 296");
	check_reply_refused(&r, 0, "the packet 0");
	memcpy(r.magic, "SNAPVMWS", 8);
	check_reply_refused(&r, sizeof(r), "field magic");
	pagerproto_reply_init(&r, PAGER_READY);
	r.version = 0;
	check_reply_refused(&r, sizeof(r), "field version: 0");
	for (uint32_t t = 0; t < 8; t++) {
		if (t == PAGER_READY || t == PAGER_ERROR || t == PAGER_DONE)
			continue;
		pagerproto_reply_init(&r, PAGER_READY);
		r.type = t;
		check_reply_refused(&r, sizeof(r), "field type");
	}
	pagerproto_reply_init(&r, PAGER_READY);
	r.type = UINT32_MAX;
	check_reply_refused(&r, sizeof(r), "field type: 4294967295");
	pagerproto_reply_init(&r, PAGER_DONE);
	r.reserved = 1;
	check_reply_refused(&r, sizeof(r), "field reserved: 1");
}

/* Fields a type does not use are zero. */
static void
test_reply_unused(void)
{
	struct pager_reply r;

	pagerproto_reply_init(&r, PAGER_READY);
	r.status = EX_DATAERR;
	check_reply_refused(&r, sizeof(r), "field status: 65 in a READY");
	pagerproto_reply_init(&r, PAGER_DONE);
	r.status = 1;
	check_reply_refused(&r, sizeof(r), "field status: 1 in a DONE");
	pagerproto_reply_init(&r, PAGER_DONE);
	r.pages = 3;
	check_reply_refused(&r, sizeof(r), "field pages: 3 in a DONE");
	good_error(&r);
	r.pages = 3;
	check_reply_refused(&r, sizeof(r), "field pages: 3 in an ERROR");
	pagerproto_reply_init(&r, PAGER_READY);
	r.message[PAGER_MSG_MAX - 1] = 'x';
	check_reply_refused(&r, sizeof(r), "field message: not zero in a READY");
	pagerproto_reply_init(&r, PAGER_DONE);
	r.message[0] = 'x';
	check_reply_refused(&r, sizeof(r), "field message: not zero in a DONE");
}

static void
test_reply_error(void)
{
	struct pager_reply r;

	good_error(&r);
	r.status = 0;
	check_reply_refused(&r, sizeof(r), "field status: 0 in an ERROR");
	r.status = EX__BASE - 1;
	check_reply_refused(&r, sizeof(r), "field status: 63");
	r.status = EX__MAX + 1;
	check_reply_refused(&r, sizeof(r), "field status: 79");
	good_error(&r);
	memset(r.message, 'x', PAGER_MSG_MAX);
	check_reply_refused(&r, sizeof(r), "field message: no NUL");
	good_error(&r);
	memset(r.message, 0, PAGER_MSG_MAX);
	check_reply_refused(&r, sizeof(r), "field message: empty");
	good_error(&r);
	r.message[4] = '\n';
	check_reply_refused(&r, sizeof(r), "field message: byte 4 is 0xa");
	r.message[4] = '\x1b';
	check_reply_refused(&r, sizeof(r), "field message: byte 4 is 0x1b");
	r.message[4] = (char)0xc3;
	check_reply_refused(&r, sizeof(r), "field message: byte 4 is 0xc3");
	r.message[4] = 0x7f;
	check_reply_refused(&r, sizeof(r), "field message: byte 4 is 0x7f");
	good_error(&r);
	r.message[PAGER_MSG_MAX - 1] = 'x';
	check_reply_refused(&r, sizeof(r), "after its NUL");
}

static const struct unit_test tests[] = {
	{ "pagerproto: a good HELLO passes whole", test_hello_good },
	{ "pagerproto: HELLO size, magic, version, type", test_hello_head },
	{ "pagerproto: HELLO page size, base, bytes", test_hello_memory },
	{ "pagerproto: HELLO nlayers and ids", test_hello_ids },
	{ "pagerproto: good READY, DONE, ERROR pass", test_reply_good },
	{ "pagerproto: reply size, magic, version, type, reserved",
	  test_reply_head },
	{ "pagerproto: a reply's unused fields are zero", test_reply_unused },
	{ "pagerproto: an ERROR's status and message", test_reply_error },
};

UNIT_MAIN(tests)
