/* The test guests' runtime; see guest.h. */
#include "guest.h"

uintptr_t zero_page;		/* written by _start */

void
serial_putc(char c)
{
	while ((inb(COM1_LSR) & LSR_THRE) == 0)
		;
	outb(COM1, (uint8_t)c);
}

void
serial_puts(const char *s)
{
	for (; *s != '\0'; s++)
		serial_putc(*s);
}

int
serial_getc(void)
{
	while ((inb(COM1_LSR) & LSR_DR) == 0)
		;
	return inb(COM1);
}

void
put_dec(int64_t v)
{
	char buf[24];
	char *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	serial_puts(p);
}

void
put_hex(uint64_t v)
{
	int shift = 60;

	serial_puts("0x");
	while (shift > 0 && (v >> shift) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		serial_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

int guest_failures;

void
guest_check(const char *name, int ok)
{
	serial_puts(ok ? "ok " : "FAIL ");
	serial_puts(name);
	serial_putc('\n');
	guest_failures += !ok;
}

void
guest_exit(int status)
{
	outb(DEBUG_EXIT_PORT, (uint8_t)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

const char *
cmdline(void)
{
	uint32_t p = zero_page != 0 ? zero_page_u32(ZP_CMD_LINE_PTR) : 0;

	return p != 0 ? (const char *)(uintptr_t)p : "";
}

/*
 * The value of the first word "key=N" (N decimal, optionally signed) of
 * the command line, or dflt when there is no such word or N is not a
 * number.
 */
int
cmdline_int(const char *key, int dflt)
{
	const char *s = cmdline();

	while (*s != '\0') {
		const char *k = key;
		int neg = 0, digits = 0;
		long v = 0;

		while (*s == ' ')
			s++;
		while (*k != '\0' && *s == *k) {
			s++;
			k++;
		}
		if (*k == '\0' && *s == '=') {
			s++;
			if (*s == '-' || *s == '+')
				neg = *s++ == '-';
			for (; *s >= '0' && *s <= '9'; s++, digits++)
				if (v < 1000000000L)
					v = v * 10 + (*s - '0');
			if (digits > 0 && (*s == ' ' || *s == '\0'))
				return (int)(neg ? -v : v);
		}
		while (*s != ' ' && *s != '\0')
			s++;
	}
	return dflt;
}

void *
memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n-- > 0)
		*d++ = *s++;
	return dst;
}

void *
memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n-- > 0)
		*d++ = (unsigned char)c;
	return dst;
}
