/*
 * Pieces of snappager that need neither a store nor a runner: the
 * failure told to the runner, the pages of a chunk, and pages put into a
 * userfaultfd range (a page there already is no error).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sysexits.h>
#include <unistd.h>

#include "pager.h"
#include "unit.h"

static void
test_fail_first_and_printable(void)
{
	struct pager_err e = { 0 };
	char long_msg[600];

	CHECK_EQ(pager_fail(&e, EX_DATAERR, "bad \x01 byte %d", 7), EX_DATAERR);
	CHECK(strcmp(e.msg, "bad ? byte 7") == 0);
	CHECK_EQ(pager_fail(&e, EX_IOERR, "later"), EX_IOERR);
	CHECK_EQ(e.status, EX_DATAERR);		/* the first one stays */
	CHECK(strcmp(e.msg, "bad ? byte 7") == 0);
	memset(&e, 0, sizeof(e));
	memset(long_msg, 'a', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	pager_fail(&e, EX_IOERR, "%s", long_msg);
	CHECK_EQ(strlen(e.msg), PAGER_MSG_MAX - 1);
}

/* A key too long for the message loses its start, never the chunk, its
 * bytes or the reason. */
static void
test_fail_chunk_keeps_the_tail(void)
{
	struct pager_err e = { 0 };
	char key[901];

	pager_fail_chunk(&e, EX_DATAERR, "bkt", "p/m/memory", 3, 786432,
	    262144);
	CHECK(strcmp(e.msg, "s3://bkt/p/m/memory: chunk 3, bytes "
	    "786432-1048575: not the index's SHA-256 or length (corrupt "
	    "object)") == 0);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	memcpy(key + sizeof(key) - 8, "/memory", 8);
	memset(&e, 0, sizeof(e));
	pager_fail_chunk(&e, EX_UNAVAILABLE, "bkt", key, 12, 0, 4096);
	CHECK(strlen(e.msg) < PAGER_MSG_MAX);
	CHECK(strncmp(e.msg, "s3://bkt/...kkk", 15) == 0);
	CHECK(strstr(e.msg, "kkk/memory: chunk 12, bytes 0-4095: the store "
	    "did not answer") != NULL);
}

struct runs {
	uint64_t first[8], n[8];
	int count;
};

static int
collect(uint64_t first, uint64_t n, void *arg)
{
	struct runs *r = arg;

	r->first[r->count] = first;
	r->n[r->count++] = n;
	return 0;
}

/* Chunks of 8 KiB over extents of 3, 1 and 4 pages: chunk 1 takes the
 * first extent's last page and the second's only one. */
static void
test_chunk_pages(void)
{
	struct pager_layer l;
	struct runs r = { 0 };
	size_t c = 99;

	pager_layer_init(&l);
	l.idx.version = S3LAYER_VERSION;
	l.idx.chunk_size = 8192;
	l.idx.nfiles = 1;
	l.mf = &l.idx.file[0];
	l.mf->size = 64 * 4096;
	CHECK(extents_add(&l.mf->ext, 0, 3 * 4096) == 0);
	CHECK(extents_add(&l.mf->ext, 10 * 4096, 4096) == 0);
	CHECK(extents_add(&l.mf->ext, 20 * 4096, 4 * 4096) == 0);
	l.mf->nchunks = 4;
	CHECK(pager_layer_chunk_pages(&l, 1, collect, &r) == 0);
	CHECK_EQ(r.count, 2);
	CHECK_EQ(r.first[0], 2);
	CHECK_EQ(r.n[0], 1);
	CHECK_EQ(r.first[1], 10);
	CHECK_EQ(r.n[1], 1);
	CHECK(pager_layer_chunk(&l, 10, &c) && c == 1);
	CHECK(pager_layer_chunk(&l, 23, &c) && c == 3);
	CHECK(!pager_layer_chunk(&l, 5, &c));	/* a hole */
	CHECK(!pager_layer_chunk(&l, 63, &c));
	pager_layer_free(&l);
}

/* An anonymous mapping registered for missing pages, as a runner's. */
static int
registered(uint8_t **mem, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	*mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd == -1 || *mem == MAP_FAILED)
		return -1;
	reg.range.start = (uint64_t)(uintptr_t)*mem;
	reg.range.len = len;
	if (ioctl(fd, UFFDIO_API, &api) == -1 ||
	    ioctl(fd, UFFDIO_REGISTER, &reg) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Pages 2-5 copied over page 3 put in before: 3 keeps its contents, the
 * others get theirs, all are marked. */
static void
test_copy_over_a_page_already_there(void)
{
	uint64_t installed[1] = { 0 };
	struct pager_mem pm = { .installed = installed };
	uint8_t *mem, *src = aligned_alloc(4096, 4 * 4096);
	size_t len = 16 * 4096;

	if ((pm.uffd = registered(&mem, len)) == -1) {
		unit_skip("no userfaultfd here");
		free(src);
		return;
	}
	pm.base = (uint64_t)(uintptr_t)mem;
	pm.bytes = len;
	memset(src, 0xaa, 4096);
	CHECK(pager_uffd_copy(&pm, 3, 1, src) == 0);
	for (int i = 0; i < 4; i++)
		memset(src + i * 4096, 0x10 + i, 4096);
	CHECK(pager_uffd_copy(&pm, 2, 4, src) == 0);
	CHECK_EQ(mem[2 * 4096], 0x10);
	CHECK_EQ(mem[3 * 4096 + 100], 0xaa);
	CHECK_EQ(mem[4 * 4096], 0x12);
	CHECK_EQ(mem[5 * 4096 + 4095], 0x13);
	CHECK(pager_uffd_zero(&pm, 5, 3) == 0);	/* 5 is there: 6, 7 zero */
	CHECK_EQ(mem[5 * 4096], 0x13);
	CHECK_EQ(mem[7 * 4096], 0);
	CHECK_EQ(installed[0], 0xfcULL);
	CHECK(pager_installed(&pm, 7) && !pager_installed(&pm, 8));
	CHECK(pager_uffd_wake(&pm, 3) == 0);
	close(pm.uffd);
	munmap(mem, len);
	free(src);
}

/* The kernel reports faults in the ranges the runner registered: one
 * outside the memory its HELLO gave is a runner out of step. */
static void
test_fault_outside_memory(void)
{
	struct pager_srv sv = { .mem = { .uffd = -1, .base = 0x100000,
	    .bytes = 16 << 20 } };
	struct pager_err e = { 0 };

	CHECK_EQ(pager_fault(&sv, 0xff000, &e), EX_PROTOCOL);
	CHECK(strcmp(e.msg, "a fault at 0xff000, outside the guest memory "
	    "the runner gave (0x100000, 16777216 bytes)") == 0);
	memset(&e, 0, sizeof(e));
	CHECK_EQ(pager_fault(&sv, 0x1100000, &e), EX_PROTOCOL);	/* the end */
	CHECK(strncmp(e.msg, "a fault at 0x1100000, outside", 29) == 0);
	CHECK_EQ(sv.faults, 0);
}

static const struct unit_test tests[] = {
	{ "a failure: the first kept, printable, cut to a message", test_fail_first_and_printable },
	{ "a chunk's failure keeps its tail when the key is long", test_fail_chunk_keeps_the_tail },
	{ "the pages of a chunk across extents; holes have none", test_chunk_pages },
	{ "a copy over a page already there, and zero pages", test_copy_over_a_page_already_there },
	{ "a fault outside the runner's memory is refused", test_fault_outside_memory },
};

UNIT_MAIN(tests)
