#include "guest.h"

#define LSR		(COM1 + 5)
#define LSR_DR		0x01
#define LSR_THRE	0x20
#define CMDLINE_PTR	0x228	/* hdr.cmd_line_ptr in struct boot_params */

void
putc_(char c)
{
	while (!(inb(LSR) & LSR_THRE))
		;
	outb(COM1, (uint8_t)c);
}

void
puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

void
putu(uint64_t v)
{
	char b[21];
	int i = 20;

	b[i] = 0;
	do
		b[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	puts_(b + i);
}

void
putx(uint64_t v)
{
	puts_("0x");
	for (int s = 60; s >= 0; s -= 4)
		putc_("0123456789abcdef"[(v >> s) & 15]);
}

int
getc_(void)
{
	while (!(inb(LSR) & LSR_DR))
		;
	return inb(COM1);
}

void
guest_exit(int status)
{
	outb(DEBUG_EXIT, (uint8_t)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

const char *
cmdline(void)
{
	uint32_t p = *(volatile uint32_t *)(boot_params + CMDLINE_PTR);

	return p ? (const char *)(uintptr_t)p : "";
}

/* The value of "key=N" on the command line, or dflt. */
long
cmdline_int(const char *key, long dflt)
{
	const char *s = cmdline();
	size_t k = 0;

	while (key[k])
		k++;
	for (; *s; s++) {
		size_t i = 0;
		long v = 0;

		if (s != cmdline() && s[-1] != ' ')
			continue;
		while (i < k && s[i] == key[i])
			i++;
		if (i < k || s[k] != '=')
			continue;
		for (s += k + 1; *s >= '0' && *s <= '9'; s++)
			v = v * 10 + (*s - '0');
		return v;
	}
	return dflt;
}

void *
memset(void *d, int c, size_t n)
{
	uint8_t *p = d;

	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

void *
memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
