/* Exits with the status=N of the command line (0 without one). */
#include "guest.h"

int
main(void)
{
	int status = cmdline_int("status", 0);

	serial_puts("exit ");
	put_dec(status);
	serial_putc('\n');
	return status;
}
