/*
 * Port I/O and MMIO dispatch.  Devices register address ranges before the
 * vCPUs start; the table is read-only afterwards, so lookups need no lock.
 * Each device serialises its own state.
 */
#ifndef SNAPVM_BUS_H
#define SNAPVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* offset is relative to the range base; len is 1, 2, 4 or 8. */
typedef void bus_io_fn(void *opaque, uint64_t offset, uint8_t *data,
    uint32_t len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn *io;
	void *opaque;
	const char *name;
};

#define BUS_MAX_RANGES	32

struct bus {
	struct bus_range range[BUS_MAX_RANGES];
	int n;
};

int bus_add(struct bus *b, const char *name, uint64_t base, uint64_t len,
    bus_io_fn *io, void *opaque);
const struct bus_range *bus_find(const struct bus *b, uint64_t addr);
bool bus_access(const struct bus *b, uint64_t addr, uint8_t *data,
    uint32_t len, bool is_write);

#endif
