/*
 * The state file of a snapshot (snapvm-snapshot(5)): a header and a list
 * of sections, each the raw bytes of one KVM structure or one device's
 * state struct, tagged with a type and an index (vCPU, drive).  Integers
 * are little-endian; sections start at 8-byte offsets.
 */
#ifndef SNAPVM_SNAPSTATE_H
#define SNAPVM_SNAPSTATE_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_STATE_MAGIC	"SNAPVMST"
#define SNAP_STATE_VERSION	1
#define SNAP_STATE_MAX		(64U << 20)
#define SNAP_MAX_SECTIONS	1024

enum snap_section {
	SEC_REGS = 0x10, SEC_SREGS, SEC_XSAVE, SEC_XCRS, SEC_MSRS, SEC_LAPIC,
	SEC_MP_STATE, SEC_EVENTS, SEC_DEBUGREGS, SEC_FPU,
	SEC_CPUID,		/* manifest version 4 and later */
	SEC_PIC_MASTER = 0x20, SEC_PIC_SLAVE, SEC_IOAPIC, SEC_PIT, SEC_CLOCK,
	SEC_SERIAL = 0x30, SEC_MMIO, SEC_BLK, SEC_VSOCK, SEC_NET, SEC_NET_TAP,
};

struct snap_file_hdr {
	char magic[8];
	uint32_t version;
	uint32_t nsections;
};

struct snap_sec_hdr {
	uint32_t type, index, size, reserved;
};

/* Building a state file in memory. */
struct snapbuf {
	uint8_t *data;
	size_t len, cap;
	uint32_t nsections;
	int failed;
};

void snapbuf_init(struct snapbuf *b);
void snapbuf_add(struct snapbuf *b, uint32_t type, uint32_t index,
    const void *p, uint32_t size);
void snapbuf_free(struct snapbuf *b);

/*
 * A state file in memory whose section table has been checked: every
 * section lies inside the data, is of a known type with an index in its
 * range, appears once, has zero reserved and padding bytes.  What is
 * inside a section is checked by its reader (snap_kvm_check, the devices).
 */
struct snapstate {
	uint8_t *data;
	size_t len;
	char path[512];
};

/* Takes data (malloc'ed, len bytes), whatever the outcome; path names
 * the file in messages. */
int snapstate_parse(struct snapstate *st, const char *path, uint8_t *data,
    size_t len);
/* Reads path (a regular file of at most SNAP_STATE_MAX bytes) and parses
 * it. */
int snapstate_load(struct snapstate *st, const char *path);
/* The section, which must be exactly size bytes; NULL (and a message
 * naming the file and section) if it is missing or of another size. */
const void *snapstate_get(const struct snapstate *st, uint32_t type,
    uint32_t index, uint32_t size);
/* The section and its size, or NULL without a message. */
const void *snapstate_find(const struct snapstate *st, uint32_t type,
    uint32_t index, uint32_t *size);
/* How many sections of a type, at any index. */
uint32_t snapstate_count(const struct snapstate *st, uint32_t type);
/* "MSRs", "LAPIC", ...: the type's name for messages. */
const char *snapstate_name(uint32_t type);
void snapstate_free(struct snapstate *st);

#endif
