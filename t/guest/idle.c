/* Halts with interrupts off: the vCPU sleeps in KVM until vmrun stops it. */
#include "guest.h"

int
main(void)
{
	puts_("idle\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
