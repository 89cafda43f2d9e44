/*
 * The checkpoint port (0x510): how a guest marks the moments worth a
 * snapshot without a network stack.  A 32-bit write of a point number
 * (1 = runtime ready, 2 = app loaded; snapvm-snapshot(5)) tells the VMM
 * the guest reached that point; a 32-bit read returns how many times this
 * guest has been restored from a snapshot, so code right after the write
 * knows whether it is running on in the original VM or in a restored one.
 */
#ifndef SNAPVM_CKPT_H
#define SNAPVM_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#define CKPT_PORT	0x510
#define CKPT_LEN	4

#define CKPT_RUNTIME	1	/* the language runtime is loaded, no app */
#define CKPT_APP	2	/* the app is mounted and imported */

typedef void ckpt_fn(void *opaque, uint32_t point);

/* Host-side only: restores are counted by the VMM, not saved. */
struct ckpt {
	ckpt_fn *reached;
	void *opaque;
	uint32_t restores;
};

void ckpt_init(struct ckpt *c, ckpt_fn *fn, void *opaque, uint32_t restores);
void ckpt_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
    bool is_write);

#endif
