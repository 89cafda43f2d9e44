/*
 * The page-server protocol's packets (snapvm-pager(5)), as a peer sends
 * them: the first byte chooses the check (even: pagerproto_check_hello,
 * as a page server reads a runner's; odd: pagerproto_check_reply, as a
 * runner reads a server's), the rest is the packet.  One that passes
 * must hold only what the protocol allows, and a refusal must say why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "fuzz.h"
#include "pagerproto.h"

static void
fail(const char *what)
{
	fprintf(stderr, "pagerproto: %s\n", what);
	abort();
}

static void
hello_holds(const struct pager_hello *h)
{
	if (h->type != PAGER_HELLO || h->page_size != PAGER_PAGE ||
	    h->base % PAGER_PAGE || h->bytes % PAGER_PAGE || h->bytes == 0 ||
	    h->base + h->bytes < h->base)
		fail("a HELLO passed with a bad memory layout");
	if (h->nlayers < 1 || h->nlayers > SNAP_MAX_LAYERS)
		fail("a HELLO passed with a bad nlayers");
	for (uint32_t i = 0; i < SNAP_MAX_LAYERS; i++)
		for (int j = 0; j < 64; j++)
			if (i < h->nlayers ? !strchr("0123456789abcdef", h->id[i][j]) ||
			    h->id[i][j] == '\0' : h->id[i][j] != '\0')
				fail("a HELLO passed with a bad id");
}

static void
reply_holds(const struct pager_reply *r)
{
	size_t n;

	if (r->type == PAGER_ERROR) {
		n = strnlen(r->message, sizeof(r->message));
		if (r->status < EX__BASE || r->status > EX__MAX || n == 0 ||
		    n == sizeof(r->message))
			fail("an ERROR passed with a bad status or message");
		for (size_t i = 0; i < n; i++)
			if (r->message[i] < 0x20 || r->message[i] > 0x7e)
				fail("an ERROR passed with an unprintable message");
	} else if (r->type != PAGER_READY && r->type != PAGER_DONE) {
		fail("a reply passed with a bad type");
	} else if (r->status != 0 || r->message[0] != '\0') {
		fail("a READY or DONE passed with a status or message");
	}
	if (r->reserved != 0 || (r->type != PAGER_READY && r->pages != 0))
		fail("a reply passed with reserved or pages set");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pager_hello h;
	struct pager_reply r;
	char why[160];
	int rc;

	fz_init();
	if (size < 1)
		return 0;
	why[0] = '\0';
	if (data[0] % 2 == 0) {
		rc = pagerproto_check_hello(data + 1, size - 1, &h, why,
		    sizeof(why));
		if (rc == 0)
			hello_holds(&h);
	} else {
		rc = pagerproto_check_reply(data + 1, size - 1, &r, why,
		    sizeof(why));
		if (rc == 0)
			reply_holds(&r);
	}
	if (rc == -1 && why[0] == '\0')
		fail("refused without saying why");
	return 0;
}
