/* ELF64 x86-64 executables (a test guest or a Linux vmlinux). */
#ifndef SNAPVM_ELFLOAD_H
#define SNAPVM_ELFLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define ELF_MAX_SEGMENTS	16

struct elf_segment {
	uint64_t paddr;
	uint64_t offset;
	uint64_t filesz;
	uint64_t memsz;
};

struct elf_image {
	uint64_t entry;
	int nsegs;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};

/* errno ENOEXEC with *why set when buf is not a usable executable. */
int elf_parse(const uint8_t *buf, size_t size, struct elf_image *img,
    const char **why);
/* errno EFBIG when a segment does not fit in [min_addr, end of RAM). */
int elf_place(const struct elf_image *img, const struct mem *m,
    uint64_t min_addr, const char **why);
/* *end: the first address past every loaded segment. */
int elf_load(const char *path, struct mem *m, uint64_t min_addr,
    uint64_t *entry, uint64_t *end);

#endif
