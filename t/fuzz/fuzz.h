/*
 * What the libFuzzer targets in t/fuzz share: a cursor over the input,
 * a scratch directory, quiet but fully formatted logs, and a fake guest
 * for the virtio devices (guest memory, the transport's registers and
 * the device's evloop, run on the fuzzer's thread so that every input
 * plays out the same way every time).
 */
#ifndef SNAPVM_FUZZ_H
#define SNAPVM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "mem.h"
#include "virtio_mmio.h"

/* The input, taken from the front; past its end every read gives 0s. */
struct fz {
	const uint8_t *p;
	size_t n;
};

uint8_t fz_u8(struct fz *f);
uint16_t fz_u16(struct fz *f);
uint32_t fz_u32(struct fz *f);
uint64_t fz_u64(struct fz *f);
/* Up to max bytes: as many as the input has left. */
size_t fz_take(struct fz *f, void *out, size_t max);

/* Once per process: logs at debug level (every message is formatted,
 * which is where a bad length would show) to stderr, which `make fuzz`
 * silences with -close_fd_mask=2. */
void fz_init(void);
/* A private directory, removed at exit. */
const char *fz_dir(void);
/* Writes data to DIR/name, replacing it; the path in path. */
void fz_file(const char *name, const void *data, size_t n, char *path,
    size_t size);
/* A NUL-terminated copy of the input (free it). */
char *fz_str(const uint8_t *data, size_t n);

/* Guest memory that remembers the pages written through mem_ptr(),
 * which is every access a device makes, and zeroes them again. */
int fz_mem_create(struct mem *m, uint64_t mib);
void fz_mem_clean(struct mem *m);

/* A virtio device behind its transport, on fake guest memory. */
struct fz_dev {
	struct mem m;
	struct evloop loop;
	struct virtio_mmio t;
	/* The device's own actions (host side: a frame from the tap, a
	 * host program connecting), for input op codes from 0x80 up. */
	void (*op)(struct fz_dev *d, uint8_t code, struct fz *f);
	/* Forgets what the host side kept from the last input, or NULL. */
	void (*reset)(struct fz_dev *d);
};

#define FZ_MEM_MIB	16

void fz_dev_init(struct fz_dev *d, const struct virtio_dev_ops *ops,
    void *dev);
/* A fresh guest: zero memory, no queued notifications, device reset. */
void fz_dev_reset(struct fz_dev *d);
/* Runs every handler whose fd is ready, as the evloop thread would,
 * until none is (or for a bounded number of rounds). */
void fz_loop_run(struct evloop *l);
/* Interprets the rest of the input as a driver's actions. */
void fz_dev_run(struct fz_dev *d, struct fz *f);

#endif
