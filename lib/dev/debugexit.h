/*
 * The debug-exit port: a guest writes its exit status (low 8 bits) to
 * port 0x505 and the VM stops; vmrun exits with that status.  Test guests
 * and the guest init use it to report how they ended.
 */
#ifndef SNAPVM_DEBUGEXIT_H
#define SNAPVM_DEBUGEXIT_H

#include <stdbool.h>
#include <stdint.h>

#define DEBUGEXIT_PORT	0x505
#define DEBUGEXIT_LEN	4	/* accepts 8-, 16- and 32-bit writes */

typedef void debugexit_fn(void *opaque, int status);

struct debugexit {
	debugexit_fn *exit;
	void *opaque;
};

void debugexit_init(struct debugexit *d, debugexit_fn *fn, void *opaque);
void debugexit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write);

#endif
