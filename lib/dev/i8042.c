#include <string.h>

#include "i8042.h"

#define I8042_CMD_PORT	4	/* 0x64, relative to the base */
#define I8042_CMD_RESET	0xfe

void
i8042_init(struct i8042 *k, i8042_reset_fn *reset, void *opaque)
{
	k->reset = reset;
	k->opaque = opaque;
}

void
i8042_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write)
{
	struct i8042 *k = opaque;

	if (!is_write) {
		memset(data, offset == 0 || offset == I8042_CMD_PORT ? 0 : 0xff,
		    len);
		return;
	}
	if (offset == I8042_CMD_PORT && data[0] == I8042_CMD_RESET)
		k->reset(k->opaque);
}
