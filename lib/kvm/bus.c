#include <errno.h>
#include <string.h>

#include "bus.h"
#include "log.h"

int
bus_add(struct bus *b, const char *name, uint64_t base, uint64_t len,
    bus_io_fn *io, void *opaque)
{
	if (len == 0 || base + len < base || b->n == BUS_MAX_RANGES) {
		log_warnx("%s: cannot register range %#llx+%#llx", name,
		    (unsigned long long)base, (unsigned long long)len);
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->range[i];

		if (base < r->base + r->len && r->base < base + len) {
			log_warnx("%s: range %#llx overlaps %s", name,
			    (unsigned long long)base, r->name);
			errno = EEXIST;
			return -1;
		}
	}
	b->range[b->n++] = (struct bus_range){ base, len, io, opaque, name };
	return 0;
}

const struct bus_range *
bus_find(const struct bus *b, uint64_t addr)
{
	for (int i = 0; i < b->n; i++) {
		const struct bus_range *r = &b->range[i];

		if (addr >= r->base && addr - r->base < r->len)
			return r;
	}
	return NULL;
}

/*
 * Returns false for an address no device claims.  Reads of such addresses
 * see all ones, as on a real bus with nothing driving it; writes vanish.
 */
bool
bus_access(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len,
    bool is_write)
{
	const struct bus_range *r = bus_find(b, addr);

	if (r == NULL || len > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	r->io(r->opaque, addr - r->base, data, len, is_write);
	return true;
}
