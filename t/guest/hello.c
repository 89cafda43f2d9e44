#include "guest.h"

int
main(void)
{
	puts_("hello from guest\n");
	return 0;
}
