/* The probe's cache file: its path, this boot's answer read back, and
 * anything else (another boot, a garbled file) ignored and rewritten;
 * and the workarounds setting auto comes to (cpuwa.h). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpuprobe.h"
#include "cpuwa.h"
#include "unit.h"

#define ID1 "0b6a1c4e-3c5d-4e7f-9a1b-2c3d4e5f6a7b"
#define ID2 "0b6a1c4e-3c5d-4e7f-9a1b-2c3d4e5f6a7c"

static char dir[] = "/tmp/test_cpuprobe.XXXXXX";
static char path[128];

static void
put(const char *text, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd != -1);
	CHECK(write(fd, text, n) == (ssize_t)n);
	close(fd);
}

static void
test_path(void)
{
	char p[256];

	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	CHECK_EQ(cpuprobe_cache_path(p, sizeof(p)), 0);
	CHECK(strcmp(p, "/x/cache/snapvm/cpu-probe") == 0);
	setenv("XDG_CACHE_HOME", "relative", 1);	/* ignored, as XDG says */
	setenv("HOME", "/home/u", 1);
	CHECK_EQ(cpuprobe_cache_path(p, sizeof(p)), 0);
	CHECK(strcmp(p, "/home/u/.cache/snapvm/cpu-probe") == 0);
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	CHECK_EQ(cpuprobe_cache_path(p, sizeof(p)), -1);
	CHECK_EQ(cpuprobe_cache_path(p, 8), -1);
}

static void
test_boot_id(void)
{
	char id[CPUPROBE_BOOT_ID];

	if (access("/proc/sys/kernel/random/boot_id", R_OK) != 0)
		return;
	CHECK_EQ(cpuprobe_boot_id(id), 0);
	CHECK_EQ(strlen(id), 36);
}

static void
test_roundtrip(void)
{
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_UNKNOWN); /* none */
	CHECK_EQ(cpuprobe_cache_write(path, ID1, CPUPROBE_NATIVE), 0);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_NATIVE);
	CHECK_EQ(cpuprobe_cache_read(path, ID2), CPUPROBE_UNKNOWN);
	CHECK_EQ(cpuprobe_cache_write(path, ID2, CPUPROBE_EMULATED), 0);
	CHECK_EQ(cpuprobe_cache_read(path, ID2), CPUPROBE_EMULATED);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_UNKNOWN);
	CHECK_EQ(cpuprobe_cache_write(path, ID2, CPUPROBE_NOXSAVE), 0);
	CHECK_EQ(cpuprobe_cache_read(path, ID2), CPUPROBE_NOXSAVE);
	CHECK_EQ(cpuprobe_cache_write(path, ID1, CPUPROBE_UNKNOWN), -1);
	CHECK_EQ(cpuprobe_cache_write(path, "not-an-id", CPUPROBE_NATIVE), -1);
	CHECK_EQ(cpuprobe_cache_read(path, "not-an-id"), CPUPROBE_UNKNOWN);
}

static void
test_garbled(void)
{
	static const char good[] = "snapvm-cpu-probe 2\nboot_id " ID1
	    "\nanswer native\n";
	static const char *const bad[] = {
		"",
		"garbage\n",
		"snapvm-cpu-probe 2\nboot_id " ID1 "\nanswer native",
		"snapvm-cpu-probe 2\nboot_id " ID1 "\nanswer native\n\n",
		"snapvm-cpu-probe 2\nboot_id " ID1 "\nanswer maybe\n",
		/* version 1, of an older snapvm: probed again */
		"snapvm-cpu-probe 1\nboot_id " ID1 "\nemulated no\n",
		"snapvm-cpu-probe 3\nboot_id " ID1 "\nanswer native\n",
		"snapvm-cpu-probe 2\nboot_id " ID1 "\nanswer native\nextra\n",
		"snapvm-cpu-probe 2\r\nboot_id " ID1 "\r\nanswer native\r\n",
	};
	static const char nul[] = "snapvm-cpu-probe 2\nboot_id " ID1
	    "\nanswer nativ\0\n";
	char big[1024];

	put(good, sizeof(good) - 1);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_NATIVE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(bad[i], strlen(bad[i]));
		if (cpuprobe_cache_read(path, ID1) != CPUPROBE_UNKNOWN) {
			unit_failed++;
			printf("#   bad cache %zu trusted\n", i);
		}
	}
	memset(big, 'a', sizeof(big));
	memcpy(big, good, sizeof(good) - 1);
	put(big, sizeof(big));		/* the good text, then more */
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_UNKNOWN);
	put(nul, sizeof(nul) - 1);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_UNKNOWN);
	/* Garbage is replaced by the next answer. */
	CHECK_EQ(cpuprobe_cache_write(path, ID1, CPUPROBE_EMULATED), 0);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_EMULATED);
}

/* No temporary file left; a symlink is not followed; the directory is
 * not made here (cpuprobe_answer makes it: file_cache_mkdir, tested in
 * test_hash). */
static void
test_atomic(void)
{
	char sub[160], link[200], tmp[200];
	struct stat st;

	CHECK_EQ(cpuprobe_cache_write(path, ID1, CPUPROBE_NATIVE), 0);
	CHECK_EQ(cpuprobe_cache_read(path, ID1), CPUPROBE_NATIVE);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	CHECK(stat(tmp, &st) == -1);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(link, sizeof(link), "%s/link", dir);
	CHECK(symlink(path, link) == 0);
	CHECK_EQ(cpuprobe_cache_read(link, ID1), CPUPROBE_UNKNOWN);
	unlink(link);
	snprintf(sub, sizeof(sub), "%s/snapvm/cpu-probe", dir);
	CHECK_EQ(cpuprobe_cache_write(sub, ID1, CPUPROBE_NATIVE), -1);
	*strrchr(sub, '/') = '\0';
	CHECK(stat(sub, &st) == -1);
}

/* Every word names its setting and back; others name none. */
static void
test_cpuwa_words(void)
{
	static const char *const words[] = { "auto", "on", "noxsave", "off" };
	enum cpuwa w;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		CHECK_EQ(cpuwa_parse(words[i], &w), 0);
		CHECK(strcmp(cpuwa_word(w), words[i]) == 0);
	}
	CHECK_EQ(cpuwa_parse("noxsave", &w), 0);
	CHECK_EQ(w, CPUWA_NOXSAVE);
	CHECK_EQ(cpuwa_parse("", &w), -1);
	CHECK_EQ(cpuwa_parse("On", &w), -1);
	CHECK_EQ(cpuwa_parse("auto ", &w), -1);
}

/* auto from this boot's cached answer, with a stand-in for the KVM
 * device (the answer is cached, so no probe runs); without access to
 * the device, on. */
static void
test_cpuwa_auto(void)
{
	static const struct {
		enum cpuprobe_answer a;
		enum cpuwa w;
	} map[] = {
		{ CPUPROBE_NATIVE, CPUWA_OFF },
		{ CPUPROBE_NOXSAVE, CPUWA_NOXSAVE },
		{ CPUPROBE_EMULATED, CPUWA_ON },
	};
	char kvm[160], cache[160], id[CPUPROBE_BOOT_ID];
	enum cpuprobe_answer a = CPUPROBE_NATIVE;
	int fd;

	snprintf(kvm, sizeof(kvm), "%s/kvm", dir);
	CHECK_EQ(cpuwa_auto(kvm, &a), CPUWA_ON);
	CHECK_EQ(a, CPUPROBE_NOKVM);
	if (cpuprobe_boot_id(id) == -1) {
		unit_skip("no boot id");
		return;
	}
	setenv("XDG_CACHE_HOME", dir, 1);
	snprintf(cache, sizeof(cache), "%s/snapvm", dir);
	CHECK_EQ(mkdir(cache, 0700), 0);
	snprintf(cache, sizeof(cache), "%s/snapvm/cpu-probe", dir);
	CHECK((fd = open(kvm, O_RDWR | O_CREAT, 0600)) != -1);
	close(fd);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		CHECK_EQ(cpuprobe_cache_write(cache, id, map[i].a), 0);
		CHECK_EQ(cpuwa_auto(kvm, &a), map[i].w);
		CHECK_EQ(a, map[i].a);
		CHECK_EQ(cpuwa_auto(kvm, NULL), map[i].w);
	}
	unsetenv("XDG_CACHE_HOME");
	unlink(kvm);
	unlink(cache);
	*strrchr(cache, '/') = '\0';
	CHECK_EQ(rmdir(cache), 0);
}

static void
test_setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/cpu-probe", dir);
}

static void
test_cleanup(void)
{
	unlink(path);
	CHECK_EQ(rmdir(dir), 0);
}

static const struct unit_test tests[] = {
	{ "cpuprobe: setup", test_setup },
	{ "cpuprobe: the cache's path", test_path },
	{ "cpuprobe: this boot's id", test_boot_id },
	{ "cpuprobe: answers read back for their boot only", test_roundtrip },
	{ "cpuprobe: a garbled cache is never trusted", test_garbled },
	{ "cpuprobe: written atomically, no symlink followed", test_atomic },
	{ "cpuwa: the words", test_cpuwa_words },
	{ "cpuwa: auto from the probe's answer, on without KVM", test_cpuwa_auto },
	{ "cpuprobe: cleanup", test_cleanup },
};

UNIT_MAIN(tests)
