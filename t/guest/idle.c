/*
 * Says "idle" and halts with interrupts off: the vCPU then sleeps inside
 * KVM until vmrun stops it (used by the request-loop tests).
 */
#include "guest.h"

int
main(void)
{
	serial_puts("idle\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
