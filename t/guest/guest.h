/* The little runtime of the freestanding test guests (see README). */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#define COM1		0x3f8
#define DEBUG_EXIT	0x505

extern uint64_t boot_params;	/* the zero page vmrun passes in RSI */

static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

void putc_(char c);
void puts_(const char *s);
void putu(uint64_t v);
void putx(uint64_t v);
int getc_(void);
void guest_exit(int status) __attribute__((noreturn));
const char *cmdline(void);
long cmdline_int(const char *key, long dflt);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

#endif
