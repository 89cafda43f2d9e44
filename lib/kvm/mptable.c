#include <errno.h>
#include <string.h>

#include "mptable.h"

enum { MP_PROC = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define MP_FLOAT_LEN	16
#define MP_HEADER_LEN	44
#define MP_PROC_LEN	20
#define MP_ENTRY_LEN	8
#define MP_SPEC_REV	4
#define MP_CPU_ENABLED	0x01
#define MP_CPU_BSP	0x02
#define LAPIC_VERSION	0x14
#define IOAPIC_VERSION	0x11

struct mp_writer {
	uint8_t *buf;
	size_t size, at;
	int overflow;
};

static uint8_t *
mp_take(struct mp_writer *w, size_t n)
{
	uint8_t *p;

	if (n > w->size - w->at) {
		w->overflow = 1;
		return NULL;
	}
	p = w->buf + w->at;
	memset(p, 0, n);
	w->at += n;
	return p;
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* Every MP structure sums to zero over its length. */
static uint8_t
mp_checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n-- > 0)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

static void
mp_processors(struct mp_writer *w, int ncpus)
{
	for (int i = 0; i < ncpus; i++) {
		uint8_t *e = mp_take(w, MP_PROC_LEN);

		if (e == NULL)
			return;
		e[0] = MP_PROC;
		e[1] = (uint8_t)i;			/* LAPIC ID */
		e[2] = LAPIC_VERSION;
		e[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		put32(e + 4, 0x600);			/* family 6 signature */
		put32(e + 8, 0x201);			/* FPU, APIC */
	}
}

static void
mp_entry(struct mp_writer *w, uint8_t type, uint8_t b1, uint8_t b2,
    uint8_t b4, uint8_t b5, uint8_t b6, uint8_t b7)
{
	uint8_t *e = mp_take(w, MP_ENTRY_LEN);

	if (e == NULL)
		return;
	e[0] = type;
	e[1] = b1;
	e[2] = b2;
	e[4] = b4;
	e[5] = b5;
	e[6] = b6;
	e[7] = b7;
}

/*
 * One ISA bus; every ISA IRQ and the remaining pins wired straight to the
 * IOAPIC pin of the same number (KVM routes GSI n to pin n); LINT0 takes
 * the PIC's ExtINT, LINT1 NMIs, on every processor.
 */
static void
mp_buses_and_irqs(struct mp_writer *w, uint8_t ioapic_id)
{
	uint8_t *bus = mp_take(w, MP_ENTRY_LEN), *io;

	if (bus != NULL) {
		bus[0] = MP_BUS;
		memcpy(bus + 2, "ISA   ", 6);
	}
	if ((io = mp_take(w, MP_ENTRY_LEN)) != NULL) {
		io[0] = MP_IOAPIC;
		io[1] = ioapic_id;
		io[2] = IOAPIC_VERSION;
		io[3] = 1;				/* enabled */
		put32(io + 4, IOAPIC_ADDR);
	}
	for (uint8_t irq = 0; irq < IOAPIC_PINS; irq++)
		mp_entry(w, MP_INTSRC, MP_INT, 0, 0, irq, ioapic_id, irq);
	mp_entry(w, MP_LINTSRC, MP_EXTINT, 0, 0, 0, 0xff, 0);
	mp_entry(w, MP_LINTSRC, MP_NMI, 0, 0, 0, 0xff, 1);
}

int
mptable_build(uint8_t *buf, size_t size, uint32_t at, int ncpus)
{
	struct mp_writer w = { buf, size, 0, 0 };
	uint8_t *fp = mp_take(&w, MP_FLOAT_LEN), *hdr = mp_take(&w, MP_HEADER_LEN);
	size_t table_len;

	if (fp == NULL || hdr == NULL || ncpus < 1 || ncpus > 254) {
		errno = EINVAL;
		return -1;
	}
	mp_processors(&w, ncpus);
	mp_buses_and_irqs(&w, (uint8_t)ncpus);
	if (w.overflow) {
		errno = ENOSPC;
		return -1;
	}
	table_len = w.at - MP_FLOAT_LEN;
	memcpy(hdr, "PCMP", 4);
	put16(hdr + 4, (uint16_t)table_len);
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "SNAPVM  ", 8);
	memcpy(hdr + 16, "MICROVM     ", 12);
	put16(hdr + 34, (uint16_t)(ncpus + 2 + IOAPIC_PINS + 2));
	put32(hdr + 36, LAPIC_ADDR);
	hdr[7] = mp_checksum(hdr, table_len);
	memcpy(fp, "_MP_", 4);
	put32(fp + 4, at + MP_FLOAT_LEN);
	fp[8] = 1;					/* length in 16-byte units */
	fp[9] = MP_SPEC_REV;
	fp[10] = mp_checksum(fp, MP_FLOAT_LEN);
	return (int)w.at;
}

int
mptable_write(const struct mem *m, int ncpus)
{
	uint8_t buf[MPTABLE_MAX_BYTES];
	int n = mptable_build(buf, sizeof(buf), (uint32_t)MPTABLE_ADDR, ncpus);

	if (n == -1)
		return -1;
	return mem_write(m, MPTABLE_ADDR, buf, (uint64_t)n);
}
