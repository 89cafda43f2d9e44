/*
 * The Intel MultiProcessor Specification 1.4 tables, for guests without
 * ACPI: Linux finds the processors, the IOAPIC and the ISA interrupt
 * wiring here.  Written in the last KiB of base memory (0x9fc00), which
 * Linux scans and the e820 map reserves.
 */
#ifndef SNAPVM_MPTABLE_H
#define SNAPVM_MPTABLE_H

#include <stdint.h>

#include "mem.h"

#define MPTABLE_ADDR		0x9fc00ULL
#define MPTABLE_MAX_BYTES	1024
#define IOAPIC_ADDR		0xfec00000U
#define LAPIC_ADDR		0xfee00000U
#define IOAPIC_PINS		24

int mptable_write(const struct mem *m, int ncpus);
/* Builds the tables into buf; returns their length or -1. */
int mptable_build(uint8_t *buf, size_t size, uint32_t at, int ncpus);

#endif
