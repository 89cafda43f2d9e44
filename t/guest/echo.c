/* Echoes serial input line by line; "quit" ends with the line count. */
#include "guest.h"

int
main(void)
{
	char line[128];
	int n = 0, lines = 0, c;

	for (;;) {
		c = getc_();
		if (c == 4)
			break;
		if (c != '\n') {
			if (n < (int)sizeof(line) - 1)
				line[n++] = (char)c;
			continue;
		}
		line[n] = 0;
		if (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' &&
		    line[3] == 't')
			break;
		puts_("echo: ");
		puts_(line);
		putc_('\n');
		n = 0;
		lines++;
	}
	return lines > 255 ? 255 : lines;
}
