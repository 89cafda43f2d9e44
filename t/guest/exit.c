/* Exits with status=N from the command line. */
#include "guest.h"

int
main(void)
{
	long s = cmdline_int("status", 0);

	puts_("exit ");
	putu((uint64_t)s);
	putc_('\n');
	return (int)s;
}
