/*
 * Just enough of the PC keyboard controller (ports 0x60 and 0x64) for a
 * guest to reboot: command 0xfe pulses the CPU reset line, which stops
 * the VM.  There is no keyboard: status reads show both buffers empty.
 */
#ifndef SNAPVM_I8042_H
#define SNAPVM_I8042_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_BASE	0x60
#define I8042_NPORTS	5	/* 0x60..0x64; 0x61 belongs to the PIT */

typedef void i8042_reset_fn(void *opaque);

struct i8042 {
	i8042_reset_fn *reset;
	void *opaque;
};

void i8042_init(struct i8042 *k, i8042_reset_fn *reset, void *opaque);
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write);

#endif
