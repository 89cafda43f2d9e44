/*
 * SHA-256 (hash.c over nettle, digest.c's files): known digests, the
 * FIPS 180-2 examples and a 1 MiB message, however the message is cut
 * into updates, and a file longer than digest.c's read chunk.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "hash.h"
#include "unit.h"

#define MIB	(1 << 20)

static const char empty_hex[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char mib_hex[] =	/* 1 MiB of 'a' */
    "9bc1b2a288b26af7257a36277ae3816a7d4f16e89c1e7e77d0a5c48bad62b360";

static int
buf_is(const void *p, size_t n, const char *want)
{
	unsigned char md[HASH_LEN];
	char hex[DIGEST_HEX];

	hash_buf(p, n, md);
	digest_hex(md, hex);
	return strcmp(hex, want) == 0;
}

static void
test_vectors(void)
{
	static const char two_blocks[] =
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char *a = malloc(MIB);

	CHECK(buf_is("", 0, empty_hex));
	CHECK(buf_is(NULL, 0, empty_hex));
	CHECK(buf_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad"));
	/* 56 bytes: the padding takes a second block. */
	CHECK(buf_is(two_blocks, strlen(two_blocks), "248d6a61d20638b8"
	    "e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	CHECK(a != NULL);
	if (a == NULL)
		return;
	memset(a, 'a', MIB);
	CHECK(buf_is(a, MIB, mib_hex));
	free(a);
}

/* Updates of every awkward size (within, at and across 64-byte blocks)
 * give the one update's digest; hash_final starts the context again. */
static void
test_split(void)
{
	static const size_t cut[] = { 0, 1, 63, 64, 65, 127, 4095, 4096, 7 };
	const size_t ncut = sizeof(cut) / sizeof(cut[0]);
	unsigned char one[HASH_LEN], parts[HASH_LEN], again[HASH_LEN];
	char *a = malloc(MIB), hex[DIGEST_HEX];
	struct hash_ctx h;
	size_t off = 0;

	CHECK(a != NULL);
	if (a == NULL)
		return;
	memset(a, 'a', MIB);
	hash_buf(a, MIB, one);
	hash_init(&h);
	for (size_t i = 0; off < MIB; i = (i + 1) % ncut) {
		size_t n = cut[i] < MIB - off ? cut[i] : MIB - off;

		hash_update(&h, a + off, n);
		off += n;
	}
	hash_update(&h, NULL, 0);
	hash_final(&h, parts);
	CHECK(memcmp(one, parts, HASH_LEN) == 0);
	digest_hex(parts, hex);
	CHECK(strcmp(hex, mib_hex) == 0);
	hash_final(&h, again);
	digest_hex(again, hex);
	CHECK(strcmp(hex, empty_hex) == 0);
	free(a);
}

/* digest_file reads in 1 MiB chunks: a file a little longer crosses one. */
static void
test_file(void)
{
	char path[] = "/tmp/snapvm-test-hash.XXXXXX", hex[DIGEST_HEX];
	char *a = malloc(MIB + 3);
	int fd = mkstemp(path);

	CHECK(a != NULL && fd != -1);
	if (a == NULL || fd == -1) {
		free(a);
		return;
	}
	memset(a, 'a', MIB + 3);
	CHECK(write(fd, a, MIB + 3) == MIB + 3);
	close(fd);
	CHECK(digest_file(path, hex) == 0);
	CHECK(strcmp(hex, "f5e25b6b994188fdb721357d459785dc"
	    "479934edfd40f95658a45ab2ce2d8027") == 0);
	unlink(path);
	unit_catch_stderr();
	CHECK(digest_file(path, hex) == -1);
	CHECK_EQ(unit_release_stderr("No such file"), 1);
	free(a);
}

static const struct unit_test tests[] = {
	{ "known vectors", test_vectors },
	{ "split updates", test_split },
	{ "a file across read chunks", test_file },
};

UNIT_MAIN(tests)
