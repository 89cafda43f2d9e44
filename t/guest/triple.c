/* No IDT and an invalid opcode: the CPU shuts down (triple fault). */
#include "guest.h"

int
main(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idt = { 0, 0 };

	__asm__ volatile("lidt %0; ud2" : : "m"(idt));
	return 43;
}
