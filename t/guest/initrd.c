/*
 * Finds the initrd that vmrun announces in the zero page, prints its size,
 * whether it starts on a page boundary and its first line.  Exits 0, or 1
 * without an initrd.
 */
#include "guest.h"

int
main(void)
{
	uint32_t addr = zero_page_u32(ZP_RAMDISK_IMAGE);
	uint32_t size = zero_page_u32(ZP_RAMDISK_SIZE);
	const char *p = (const char *)(uintptr_t)addr;

	if (size == 0) {
		serial_puts("no initrd\n");
		return 1;
	}
	serial_puts("initrd size ");
	put_dec(size);
	serial_puts((addr & 0xfff) != 0 ? " unaligned\n" : " page-aligned\n");
	serial_puts("initrd: ");
	for (uint32_t i = 0; i < size && p[i] != '\n'; i++)
		serial_putc(p[i]);
	serial_putc('\n');
	return 0;
}
