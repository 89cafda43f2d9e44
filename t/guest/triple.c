/*
 * Loads an empty IDT and raises #UD: #UD cannot be delivered (#GP), nor
 * can #GP (#DF), nor #DF, so the processor shuts down.  vmrun is expected
 * to report the triple fault and exit 70.  Getting past ud2 exits 43.
 */
#include "guest.h"

int
main(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} idtr = { 0, 0 };

	__asm__ volatile("lidt %0\n\tud2" : : "m"(idtr) : "memory");
	serial_puts("ud2 did not fault\n");
	return 43;
}
