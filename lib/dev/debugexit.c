#include <string.h>

#include "debugexit.h"

void
debugexit_init(struct debugexit *d, debugexit_fn *fn, void *opaque)
{
	d->exit = fn;
	d->opaque = opaque;
}

void
debugexit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write)
{
	struct debugexit *d = opaque;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	if (offset == 0)
		d->exit(d->opaque, data[0]);
}
