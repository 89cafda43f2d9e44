/*
 * The x86-64 boot state: what a guest finds when its first instruction
 * runs.  Documented for guests in vmrun(1), BOOT STATE.
 */
#ifndef SNAPVM_BOOT_X86_H
#define SNAPVM_BOOT_X86_H

#include <stdint.h>

#include "mem.h"

#define BOOT_GDT	0x500ULL
#define BOOT_PML4	0x1000ULL
#define BOOT_PDPT	0x2000ULL
#define BOOT_PD		0x3000ULL	/* four pages: 4 GiB of 2 MiB pages */
#define BOOT_ZERO_PAGE	0x7000ULL	/* Linux struct boot_params */
#define BOOT_STACK_TOP	0x9ff0ULL
#define BOOT_CMDLINE	0x20000ULL
#define BOOT_CMDLINE_MAX 2048		/* Linux x86 COMMAND_LINE_SIZE, with NUL */
#define BOOT_EBDA	0x9fc00ULL	/* reserved up to 1 MiB */
#define BOOT_LOAD_MIN	0x100000ULL	/* lowest address an image may use */

#define BOOT_SEL_CODE	0x10
#define BOOT_SEL_DATA	0x18
#define BOOT_SEL_TSS	0x20

#define BOOT_INITRD_MAX	0x38000000ULL	/* initrds end below 896 MiB */

struct boot_initrd {
	uint64_t addr, size;		/* size 0: none */
};

int boot_load_initrd(const struct mem *m, const char *path,
    uint64_t kernel_end, struct boot_initrd *rd);
int boot_write_tables(const struct mem *m, const char *cmdline,
    const struct boot_initrd *rd);
int boot_setup_bsp(int vcpu_fd, uint64_t entry);
int boot_setup_lapic(int vcpu_fd);

#endif
