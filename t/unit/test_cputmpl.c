/* Template files: good ones parse, each bad line is named with its file,
 * line and field. */
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "cputmpl.h"
#include "unit.h"

static int
parse(const char *text, struct cputmpl *t)
{
	return cputmpl_parse(text, strlen(text), "f.tmpl", t);
}

static void
test_good(void)
{
	static const char text[] =
	    "# a fleet of Haswell and newer\r\n"
	    "\n"
	    "snapvm-cpu-template 1\n"
	    "   # indented comment\n"
	    "name fleet-2024.a_1\n"
	    "clear\tavx512f\n"
	    "clear 0x7 0 ebx 0x20000000\n"
	    "clear 13 * eax 0x00000200\r\n"
	    "clear 0x80000001 0 ecx 0x800";	/* no final newline */
	struct cputmpl t;

	CHECK_EQ(parse(text, &t), 0);
	CHECK(strcmp(t.name, "fleet-2024.a_1") == 0);
	CHECK_EQ(t.nmasks, 4);
	CHECK_EQ(t.mask[0].leaf, 7);
	CHECK_EQ(t.mask[0].bits, 1U << 16);
	CHECK_EQ(t.mask[1].reg, CPUTMPL_EBX);
	CHECK_EQ(t.mask[1].bits, 0x20000000);
	CHECK_EQ(t.mask[2].leaf, 13);
	CHECK_EQ(t.mask[2].subleaf, CPUTMPL_ANY_SUBLEAF);
	CHECK_EQ(t.mask[3].leaf, 0x80000001);
	CHECK_EQ(t.mask[3].reg, CPUTMPL_ECX);
	CHECK_EQ(parse("snapvm-cpu-template 1\nname n\n", &t), 0);
	CHECK_EQ(t.nmasks, 0);
}

/* text must be refused with a message containing what. */
static void
bad(const char *text, const char *what)
{
	struct cputmpl t;
	int rc, lines;

	unit_catch_stderr();
	rc = parse(text, &t);
	lines = unit_release_stderr(what);
	if (rc != -1 || lines != 1) {
		unit_failed++;
		printf("#   rc %d, %d lines with \"%s\" for:\n# %s\n", rc, lines,
		    what, text);
	}
}

#define H "snapvm-cpu-template 1\nname t\n"

static void
test_bad(void)
{
	bad("", "f.tmpl:1: snapvm-cpu-template: no header line");
	bad("name t\n", "f.tmpl:1: name: the first line must be");
	bad("snapvm-cpu-template 2\nname t\n", "f.tmpl:1: version: \"2\"");
	bad("snapvm-cpu-template\nname t\n", "f.tmpl:1: snapvm-cpu-template: "
	    "expected one field");
	bad("snapvm-cpu-template 1\n", "f.tmpl:1: name: no name line");
	bad(H "snapvm-cpu-template 1\n", "f.tmpl:3: snapvm-cpu-template: a "
	    "second header");
	bad(H "name u\n", "f.tmpl:3: name: given twice");
	bad("snapvm-cpu-template 1\nname x86-64-v3\n", "f.tmpl:2: name: "
	    "\"x86-64-v3\" is a built-in");
	bad("snapvm-cpu-template 1\nname a/b\n", "f.tmpl:2: name: \"a/b\"");
	bad("snapvm-cpu-template 1\nname -a\n", "f.tmpl:2: name: \"-a\"");
	bad("snapvm-cpu-template 1\nname a b\n", "f.tmpl:2: name: expected one");
	bad(H "clear avx3\n", "f.tmpl:3: feature: \"avx3\": no such feature");
	bad(H "clear\n", "f.tmpl:3: clear: expected a feature");
	bad(H "clear 7 0 ebx\n", "f.tmpl:3: clear: expected a feature");
	bad(H "clear x7 0 ebx 1\n", "f.tmpl:3: leaf: \"x7\"");
	bad(H "clear 0x100000000 0 ebx 1\n", "f.tmpl:3: leaf:");
	bad(H "clear -1 0 ebx 1\n", "f.tmpl:3: leaf:");
	bad(H "clear 7 0xffffffff ebx 1\n", "f.tmpl:3: subleaf:");
	bad(H "clear 7 ** ebx 1\n", "f.tmpl:3: subleaf:");
	bad(H "clear 7 0 rbx 1\n", "f.tmpl:3: register: \"rbx\"");
	bad(H "clear 7 0 EBX 1\n", "f.tmpl:3: register:");
	bad(H "clear 7 0 ebx 0\n", "f.tmpl:3: bits: \"0\"");
	bad(H "clear 7 0 ebx 0x\n", "f.tmpl:3: bits:");
	bad(H "clear 7 0 ebx 1 # no\n", "f.tmpl:3: clear: too many fields");
	bad(H "clear 7 0 ebx 1 2 3 4 5\n", "f.tmpl:3: clear: too many fields");
	bad(H "set avx\n", "f.tmpl:3: keyword: \"set\"");
	bad(H "clear avx\x01\n", "f.tmpl:3: line: a control character");
}

static void
test_nul_and_long(void)
{
	char text[600];
	struct cputmpl t;
	int lines;

	memcpy(text, H "clear a", 29);
	memset(text + 29, 'x', 300);
	strcpy(text + 329, "\n");
	bad(text, "f.tmpl:3: line: longer than 255 bytes");
	/* A NUL inside the text, not at its end. */
	unit_catch_stderr();
	CHECK_EQ(cputmpl_parse(H "clear a\0vx\n", sizeof(H) + 10, "f.tmpl", &t),
	    -1);
	lines = unit_release_stderr("control character");
	CHECK_EQ(lines, 1);
}

/* Every bad line is reported, not just the first. */
static void
test_all_reported(void)
{
	struct cputmpl t;
	int lines;

	unit_catch_stderr();
	CHECK_EQ(parse(H "clear 7 0 ebx 1\nclear avx9\nclear 7 0 xx 1\n"
	    "clear avx2\nbogus\n", &t), -1);
	lines = unit_release_stderr("f.tmpl:");
	CHECK_EQ(lines, 3);
}

static void
test_too_many(void)
{
	size_t n = sizeof(H) + 300 * 10;
	char *text = malloc(n), *p = text;
	struct cputmpl t;
	int lines;

	p += sprintf(p, H);
	for (int i = 0; i < 257; i++)
		p += sprintf(p, "clear avx\n");
	unit_catch_stderr();
	CHECK_EQ(parse(text, &t), -1);
	lines = unit_release_stderr("f.tmpl:259: clear: more than 256");
	CHECK_EQ(lines, 1);
	free(text);
}

static void
test_load(void)
{
	char path[] = "/tmp/test_cputmpl.XXXXXX";
	int fd = mkstemp(path);
	struct cputmpl t;

	CHECK(fd != -1);
	CHECK(write(fd, H "clear avx2\n", sizeof(H) + 10) ==
	    (ssize_t)(sizeof(H) + 10));
	close(fd);
	CHECK_EQ(cputmpl_load(path, &t), 0);
	CHECK(strcmp(t.name, "t") == 0);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "oops\n", 5) == 5);
	close(fd);
	unit_catch_stderr();
	CHECK_EQ(cputmpl_load(path, &t), EX_DATAERR);
	CHECK_EQ(unit_release_stderr(":4: keyword: \"oops\""), 1);
	unlink(path);
	unit_catch_stderr();
	CHECK_EQ(cputmpl_load(path, &t), EX_NOINPUT);
	CHECK_EQ(unit_release_stderr("not a built-in template"), 1);
}

static const struct unit_test tests[] = {
	{ "cputmpl: a good file, comments, CRLF, * subleaf", test_good },
	{ "cputmpl: bad lines named with file, line, field", test_bad },
	{ "cputmpl: long lines and NULs", test_nul_and_long },
	{ "cputmpl: every bad line reported", test_all_reported },
	{ "cputmpl: at most 256 masks", test_too_many },
	{ "cputmpl: load from a file, exit statuses", test_load },
};

UNIT_MAIN(tests)
