/*
 * Echoes every line read from the serial port as "echo: LINE".  A line
 * "quit" or a byte 0x04 (^D) ends the program with the number of lines
 * echoed before it, at most 255.  A CR before the LF is dropped; a line
 * longer than the buffer is echoed cut short.
 */
#include "guest.h"

#define EOT	0x04

int
main(void)
{
	char line[256];
	size_t len = 0;
	int lines = 0;

	for (;;) {
		int c = serial_getc();

		if (c == EOT)
			break;
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = (char)c;
			continue;
		}
		line[len] = '\0';
		if (len == 4 && line[0] == 'q' && line[1] == 'u' &&
		    line[2] == 'i' && line[3] == 't')
			break;
		serial_puts("echo: ");
		serial_puts(line);
		serial_putc('\n');
		len = 0;
		if (lines < 255)
			lines++;
	}
	return lines;
}
