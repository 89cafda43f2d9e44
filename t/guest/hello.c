/* Prints one greeting and exits 0. */
#include "guest.h"

int
main(void)
{
	serial_puts("hello from guest\n");
	return 0;
}
