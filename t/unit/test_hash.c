/*
 * SHA-256 (hash.c over nettle, digest.c's files): known digests, the
 * FIPS 180-2 examples and a 1 MiB message, however the message is cut
 * into updates, and a file longer than digest.c's read chunk.  And the
 * cache directory digest.c's entries go in (file.c's file_cache_mkdir).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "file.h"
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

static bool
private_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700;
}

static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	return n;
}

static void
remove_tree(const char *top)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
}

/* A missing XDG_CACHE_HOME is made, with snapvm/ and the name in it, all
 * private; again they are simply there; nothing above the base is made.
 * A digest computed through the cache leaves its entry there. */
static void
test_cache_dir(void)
{
	char top[] = "/tmp/snapvm-test-cache.XXXXXX", base[64], want[128];
	char got[128], hex[DIGEST_HEX];
	FILE *f;

	CHECK(mkdtemp(top) != NULL);
	snprintf(base, sizeof(base), "%s/xdg", top);
	setenv("XDG_CACHE_HOME", base, 1);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(file_cache_mkdir("digest", got, sizeof(got)), 0);
		snprintf(want, sizeof(want), "%s/snapvm/digest", base);
		CHECK(strcmp(got, want) == 0);
		CHECK(private_dir(base) && private_dir(got));
		*strrchr(want, '/') = '\0';
		CHECK(private_dir(want));
	}
	CHECK_EQ(file_cache_mkdir(NULL, got, sizeof(got)), 0);
	CHECK(strcmp(got, want) == 0);
	CHECK_EQ(file_cache_mkdir("digest", got, 8), -1);	/* no room */
	snprintf(want, sizeof(want), "%s/abc", top);
	CHECK((f = fopen(want, "w")) != NULL && fputs("abc", f) >= 0 &&
	    fclose(f) == 0);
	CHECK(digest_file_cached(want, hex) == 0);
	CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad") == 0);
	snprintf(want, sizeof(want), "%s/snapvm/digest", base);
	CHECK_EQ(entries(want), 1);
	snprintf(base, sizeof(base), "%s/no/such", top);
	setenv("XDG_CACHE_HOME", base, 1);
	CHECK_EQ(file_cache_mkdir("digest", got, sizeof(got)), -1);
	snprintf(base, sizeof(base), "%s/no", top);
	CHECK(access(base, F_OK) == -1);
	unsetenv("XDG_CACHE_HOME");
	remove_tree(top);
}

/* Without XDG_CACHE_HOME, under $HOME: its .cache is made, HOME is not. */
static void
test_cache_dir_home(void)
{
	char top[] = "/tmp/snapvm-test-cache.XXXXXX", home[64], want[128];
	char got[128], *was = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	CHECK(mkdtemp(top) != NULL);
	unsetenv("XDG_CACHE_HOME");
	snprintf(home, sizeof(home), "%s/home", top);
	CHECK(mkdir(home, 0755) == 0);
	setenv("HOME", home, 1);
	CHECK_EQ(file_cache_mkdir(NULL, got, sizeof(got)), 0);
	snprintf(want, sizeof(want), "%s/.cache/snapvm", home);
	CHECK(strcmp(got, want) == 0 && private_dir(got));
	*strrchr(want, '/') = '\0';
	CHECK(private_dir(want));
	snprintf(home, sizeof(home), "%s/nohome", top);
	setenv("HOME", home, 1);
	CHECK_EQ(file_cache_mkdir(NULL, got, sizeof(got)), -1);
	CHECK(access(home, F_OK) == -1);
	if (was != NULL)
		setenv("HOME", was, 1);
	else
		unsetenv("HOME");
	free(was);
	remove_tree(top);
}

static const struct unit_test tests[] = {
	{ "known vectors", test_vectors },
	{ "split updates", test_split },
	{ "a file across read chunks", test_file },
	{ "the cache's directory, made when missing", test_cache_dir },
	{ "the cache's directory under HOME", test_cache_dir_home },
};

UNIT_MAIN(tests)
