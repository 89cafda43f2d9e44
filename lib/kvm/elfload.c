#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfload.h"
#include "file.h"
#include "log.h"

static int
elf_bad(const char **why, const char *reason)
{
	*why = reason;
	errno = ENOEXEC;
	return -1;
}

static int
elf_check_header(const Elf64_Ehdr *eh, size_t size, const char **why)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return elf_bad(why, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return elf_bad(why, "not a 64-bit ELF file");
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return elf_bad(why, "not a little-endian ELF file");
	if (eh->e_machine != EM_X86_64)
		return elf_bad(why, "not an x86-64 ELF file");
	if (eh->e_type != ET_EXEC)
		return elf_bad(why, "not an ELF executable (ET_EXEC)");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0)
		return elf_bad(why, "no usable program headers");
	if (eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return elf_bad(why, "program headers past the end of the file");
	return 0;
}

static int
elf_add_segment(struct elf_image *img, const Elf64_Phdr *ph, size_t size,
    const char **why)
{
	struct elf_segment *s;

	if (ph->p_filesz > ph->p_memsz)
		return elf_bad(why, "segment file size exceeds its memory size");
	if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset)
		return elf_bad(why, "segment data past the end of the file");
	if (ph->p_paddr + ph->p_memsz < ph->p_paddr)
		return elf_bad(why, "segment wraps around the address space");
	if (img->nsegs == ELF_MAX_SEGMENTS)
		return elf_bad(why, "too many loadable segments");
	for (int i = 0; i < img->nsegs; i++) {
		s = &img->seg[i];
		if (ph->p_paddr < s->paddr + s->memsz &&
		    s->paddr < ph->p_paddr + ph->p_memsz)
			return elf_bad(why, "loadable segments overlap");
	}
	s = &img->seg[img->nsegs++];
	*s = (struct elf_segment){ ph->p_paddr, ph->p_offset, ph->p_filesz,
	    ph->p_memsz };
	return 0;
}

int
elf_parse(const uint8_t *buf, size_t size, struct elf_image *img,
    const char **why)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;

	memset(img, 0, sizeof(*img));
	if (size >= sizeof(eh))
		memcpy(&eh, buf, sizeof(eh));
	if (elf_check_header(&eh, size, why) == -1)
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz > 0 &&
		    elf_add_segment(img, &ph, size, why) == -1)
			return -1;
	}
	if (img->nsegs == 0)
		return elf_bad(why, "no loadable segments");
	img->entry = eh.e_entry;
	for (int i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->seg[i];

		if (img->entry >= s->paddr && img->entry - s->paddr < s->memsz)
			return 0;
	}
	return elf_bad(why, "entry point is outside every loadable segment");
}

int
elf_place(const struct elf_image *img, const struct mem *m,
    uint64_t min_addr, const char **why)
{
	for (int i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->seg[i];

		if (s->paddr < min_addr) {
			*why = "a segment lies below the lowest load address";
			errno = EFBIG;
			return -1;
		}
		if (mem_ptr(m, s->paddr, s->memsz) == NULL) {
			*why = "a segment lies outside guest memory "
			    "(memory too small for the image?)";
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

static uint8_t *
elf_slurp(const char *path, const struct mem *m, size_t *size)
{
	uint8_t *buf;
	uint64_t sz;
	int fd;

	if ((fd = file_open_regular(path, &sz)) == -1)
		return NULL;
	/* An image larger than guest RAM cannot fit, however it is laid out. */
	if (sz > m->bytes) {
		log_warnx("%s: %llu bytes do not fit in %llu MiB of guest memory",
		    path, (unsigned long long)sz,
		    (unsigned long long)(m->bytes >> 20));
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	if ((buf = malloc(sz + 1)) == NULL ||
	    file_read_all(fd, path, buf, sz) == -1) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*size = sz;
	return buf;
}

/* Segments are zero-filled up to memsz: guest memory may be reused. */
int
elf_load(const char *path, struct mem *m, uint64_t min_addr, uint64_t *entry,
    uint64_t *end)
{
	struct elf_image img;
	const char *why = NULL;
	uint8_t *buf;
	size_t size = 0;

	if ((buf = elf_slurp(path, m, &size)) == NULL)
		return -1;
	if (elf_parse(buf, size, &img, &why) == -1 ||
	    elf_place(&img, m, min_addr, &why) == -1) {
		int e = errno;

		log_warnx("%s: %s", path, why);
		free(buf);
		errno = e;
		return -1;
	}
	for (int i = 0; i < img.nsegs; i++) {
		const struct elf_segment *s = &img.seg[i];
		uint8_t *dst = mem_ptr(m, s->paddr, s->memsz);

		memcpy(dst, buf + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	*entry = img.entry;
	*end = 0;
	for (int i = 0; i < img.nsegs; i++)
		if (img.seg[i].paddr + img.seg[i].memsz > *end)
			*end = img.seg[i].paddr + img.seg[i].memsz;
	free(buf);
	return 0;
}
