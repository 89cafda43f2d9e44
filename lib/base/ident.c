#include <ctype.h>
#include <string.h>

#include "ident.h"

bool
ident_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max || !isalnum((unsigned char)s[0]))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}
