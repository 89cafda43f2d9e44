/* Resets the machine through the i8042 controller. */
#include "guest.h"

int
main(void)
{
	puts_("resetting\n");
	outb(0x64, 0xfe);
	puts_("still running after reset\n");
	return 44;
}
