/* Asks the i8042 controller for a system reset (vmrun then exits 0). */
#include "guest.h"

#define I8042_COMMAND	0x64
#define I8042_RESET	0xfe

int
main(void)
{
	serial_puts("resetting\n");
	outb(I8042_COMMAND, I8042_RESET);
	serial_puts("still running after reset\n");
	return 44;
}
