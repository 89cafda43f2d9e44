/*
 * The small runtime shared by the freestanding test guests: port I/O,
 * the COM1 console, the debug-exit port and the command line that vmrun
 * passes through the zero page.  See README for the boot contract.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#define COM1		0x3f8		/* THR (write) / RBR (read) */
#define COM1_LSR	(COM1 + 5)	/* line status register */
#define LSR_DR		0x01		/* a received byte is waiting */
#define LSR_THRE	0x20		/* transmit holding register empty */
#define DEBUG_EXIT_PORT	0x505		/* out N: vmrun exits with N & 0xff */

#define ZP_CMD_LINE_PTR	0x228		/* boot_params.hdr.cmd_line_ptr */
#define ZP_RAMDISK_IMAGE 0x218		/* boot_params.hdr.ramdisk_image */
#define ZP_RAMDISK_SIZE	0x21c		/* boot_params.hdr.ramdisk_size */

/* The address of the zero page (struct boot_params), RSI at entry. */
extern uintptr_t zero_page;

static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void
outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t
inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t
inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* A 32-bit field of the zero page. */
static inline uint32_t
zero_page_u32(unsigned off)
{
	return *(const volatile uint32_t *)(zero_page + off);
}

void serial_putc(char c);
void serial_puts(const char *s);
int serial_getc(void);			/* waits for a byte: 0..255 */
void put_dec(int64_t v);
void put_hex(uint64_t v);		/* "0x" and no leading zeros */
void guest_exit(int status) __attribute__((noreturn));
/* Prints "ok NAME" or "FAIL NAME"; guest_failures counts the latter. */
void guest_check(const char *name, int ok);
extern int guest_failures;
const char *cmdline(void);		/* "" when there is none */
int cmdline_int(const char *key, int dflt);

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
