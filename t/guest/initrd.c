/* Finds the initrd through the zero page and prints its first line. */
#include "guest.h"

#define RAMDISK_IMAGE	0x218	/* hdr.ramdisk_image in struct boot_params */
#define RAMDISK_SIZE	0x21c

int
main(void)
{
	uint32_t addr = *(volatile uint32_t *)(boot_params + RAMDISK_IMAGE);
	uint32_t size = *(volatile uint32_t *)(boot_params + RAMDISK_SIZE);
	const char *p = (const char *)(uintptr_t)addr;

	if (size == 0) {
		puts_("no initrd\n");
		return 1;
	}
	puts_("initrd size ");
	putu(size);
	puts_(addr & 0xfff ? " unaligned\n" : " page-aligned\n");
	puts_("initrd: ");
	for (uint32_t i = 0; i < size && p[i] != '\n'; i++)
		putc_(p[i]);
	putc_('\n');
	return 0;
}
