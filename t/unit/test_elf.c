/* ELF64 parsing and placement: every malformed image is refused, none crashes. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elfload.h"
#include "unit.h"

#define IMG_SIZE 0x3000

struct img {
	uint8_t b[IMG_SIZE];
};

static Elf64_Ehdr *
ehdr(struct img *i)
{
	return (Elf64_Ehdr *)i->b;
}

static Elf64_Phdr *
phdr(struct img *i, int n)
{
	return (Elf64_Phdr *)(i->b + sizeof(Elf64_Ehdr)) + n;
}

/* Two PT_LOAD segments at 1 MiB and 2 MiB and a PT_NOTE. */
static void
img_valid(struct img *i)
{
	Elf64_Ehdr *e = ehdr(i);

	memset(i, 0, sizeof(*i));
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_X86_64;
	e->e_entry = 0x100010;
	e->e_phoff = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = 3;
	*phdr(i, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000,
	    .p_paddr = 0x100000, .p_filesz = 0x100, .p_memsz = 0x2000 };
	*phdr(i, 1) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x20,
	    .p_paddr = 0, .p_filesz = 0x10, .p_memsz = 0x10 };
	*phdr(i, 2) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x2000,
	    .p_paddr = 0x200000, .p_filesz = 0x1000, .p_memsz = 0x1000 };
}

static int
parse(struct img *i, size_t size, const char **why)
{
	struct elf_image im;

	*why = NULL;
	return elf_parse(i->b, size, &im, why);
}

static void
test_valid(void)
{
	struct img i;
	struct elf_image im;
	const char *why = NULL;

	img_valid(&i);
	CHECK_EQ(elf_parse(i.b, sizeof(i.b), &im, &why), 0);
	CHECK_EQ(im.nsegs, 2);
	CHECK_EQ(im.entry, 0x100010);
	CHECK_EQ(im.seg[1].paddr, 0x200000);
}

static void
test_refusals(void)
{
	struct img i;
	const char *why;

	img_valid(&i);
	CHECK_EQ(parse(&i, 10, &why), -1);
	CHECK(why && strstr(why, "not an ELF"));
	CHECK_EQ(errno, ENOEXEC);

	img_valid(&i); ehdr(&i)->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_machine = EM_386;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_type = ET_DYN;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_phentsize = 10;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_phoff = ~0ULL - 8;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_phnum = 0xffff;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	CHECK(why && strstr(why, "past the end"));
}

static void
test_bad_segments(void)
{
	struct img i;
	const char *why;

	img_valid(&i); phdr(&i, 0)->p_filesz = 0x3000;	/* > memsz */
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); phdr(&i, 2)->p_offset = IMG_SIZE - 0x10;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	CHECK(why && strstr(why, "end of the file"));
	img_valid(&i); phdr(&i, 2)->p_offset = ~0ULL;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); phdr(&i, 2)->p_paddr = 0x101000;	/* overlaps seg 0 */
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	CHECK(why && strstr(why, "overlap"));
	img_valid(&i); phdr(&i, 2)->p_paddr = ~0ULL - 0x10;	/* wraps */
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	img_valid(&i); ehdr(&i)->e_entry = 0x50000;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
	CHECK(why && strstr(why, "entry point"));
	img_valid(&i); phdr(&i, 0)->p_type = PT_NULL;
	phdr(&i, 2)->p_type = PT_NULL;
	CHECK_EQ(parse(&i, sizeof(i.b), &why), -1);
}

static void
test_place(void)
{
	struct img i;
	struct elf_image im;
	struct mem m;
	const char *why;

	CHECK_EQ(mem_create(&m, 16), 0);
	img_valid(&i);
	CHECK_EQ(elf_parse(i.b, sizeof(i.b), &im, &why), 0);
	CHECK_EQ(elf_place(&im, &m, 0x100000, &why), 0);
	im.seg[1].paddr = (16 << 20) - 0x800;		/* runs past the end */
	CHECK_EQ(elf_place(&im, &m, 0x100000, &why), -1);
	CHECK_EQ(errno, EFBIG);
	im.seg[1].paddr = 0x80000;			/* below 1 MiB */
	CHECK_EQ(elf_place(&im, &m, 0x100000, &why), -1);
	mem_destroy(&m);
}

/* Random corruption of a valid image: refused or consistent, never a crash. */
static void
test_mutations(void)
{
	struct img i;
	struct elf_image im;
	const char *why;
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		img_valid(&i);
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245 + 12345;
			i.b[(seed >> 8) % 0x100] = (uint8_t)(seed >> 20);
		}
		if (elf_parse(i.b, sizeof(i.b), &im, &why) == -1)
			continue;
		for (int s = 0; s < im.nsegs; s++) {
			CHECK(im.seg[s].offset + im.seg[s].filesz <= IMG_SIZE);
			CHECK(im.seg[s].filesz <= im.seg[s].memsz);
		}
	}
}

static const struct unit_test tests[] = {
	{ "elf: valid image parses", test_valid },
	{ "elf: bad headers are refused", test_refusals },
	{ "elf: bad segments are refused", test_bad_segments },
	{ "elf: segments must fit guest memory", test_place },
	{ "elf: 20000 corrupted images, no crash", test_mutations },
};

UNIT_MAIN(tests)
