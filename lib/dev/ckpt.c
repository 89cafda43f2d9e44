#include <string.h>

#include "ckpt.h"

void
ckpt_init(struct ckpt *c, ckpt_fn *fn, void *opaque, uint32_t restores)
{
	c->reached = fn;
	c->opaque = opaque;
	c->restores = restores;
}

void
ckpt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write)
{
	struct ckpt *c = opaque;
	uint32_t v = 0;

	if (!is_write) {
		memset(data, 0, len);
		if (offset == 0)
			memcpy(data, &c->restores, len < 4 ? len : 4);
		return;
	}
	if (offset != 0)
		return;
	memcpy(&v, data, len < 4 ? len : 4);
	if (c->reached != NULL)
		c->reached(c->opaque, v);
}
