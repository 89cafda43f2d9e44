/*
 * A snapshot layer's manifest.json (snapvm-snapshot(5)): what the layer
 * is, what it sits on, the machine it needs, the contents of its drives
 * and the checksum of every file in it.  A layer is data: it names no
 * host path, and every number in it is checked before use.
 */
#ifndef SNAPVM_SNAPMETA_H
#define SNAPVM_SNAPMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define SNAP_FORMAT		"snapvm-snapshot"
#define SNAP_META_VERSION	4	/* written; 3 adds workset, 4 cpu */
#define SNAP_META_MIN_VERSION	2	/* the oldest still read */
#define SNAP_META_MAX		(64 << 10)	/* bytes of manifest.json */
#define SNAP_MAX_DRIVES		8
#define SNAP_MAX_LAYERS		8	/* in a stack, base first */
#define SNAP_CPU_NAME_MAX	64	/* a CPU template's name, with NUL */

/* SNAP_WORKSET is optional in any layer (version 3): the pages one
 * request touched, for a restore to read in one go (workset.h). */
enum snap_file { SNAP_STATE, SNAP_MEMORY, SNAP_PAGES, SNAP_WORKSET,
    SNAP_NFILES };
extern const char *const snap_file_name[SNAP_NFILES];

/* A drive by its contents only: the caller names the file. */
struct snap_drive {
	uint64_t size;
	bool read_only;			/* as the guest saw it */
	char sha256[DIGEST_HEX];
};

struct snap_meta {
	int version;			/* as read; written: SNAP_META_VERSION,
					 * or 3 without cpu */
	bool diff;
	char id[DIGEST_HEX];		/* sha256 of the state file */
	char parent[DIGEST_HEX];	/* a diff's layer below; "" for full */
	char point[16];			/* "runtime", "app" or "" */
	uint64_t mem_mib;
	int vcpus;
	int ndrives;
	struct snap_drive drive[SNAP_MAX_DRIVES];
	bool vsock;
	uint64_t cid;
	/* The guest's CPU (version 4): the template it was made under; the
	 * CPUID itself is in the state file, one section per vCPU.  Layers
	 * of a stack all have their base's. */
	struct {
		bool present;
		char template_name[SNAP_CPU_NAME_MAX];
	} cpu;
	struct {
		bool present;
		uint64_t size;
		char sha256[DIGEST_HEX];
	} file[SNAP_NFILES];
};

int snapmeta_write(const char *path, const struct snap_meta *m);
/* Reads and checks DIR/manifest.json; messages name the file and field. */
int snapmeta_read(const char *dir, struct snap_meta *m);
/* The same as snapmeta_read from text in memory; name is used in messages. */
int snapmeta_parse(const char *name, const char *text, size_t len,
    struct snap_meta *m);
/* The version DIR/manifest.json claims, or -1 (nothing else checked):
 * tells a layer of an older format from a damaged one. */
int snapmeta_version(const char *dir);

/* The files of a layer below are opened by a name that is no symbolic
 * link, without waiting (a FIFO or device is refused), and must be
 * regular files. */

/* Reads a file of the layer into memory once, checks its size and the
 * SHA-256 of exactly the bytes read against the manifest; *data is
 * malloc'ed.  For the state file and a diff's pages bitmap. */
int snapmeta_load(const char *dir, const struct snap_meta *m,
    enum snap_file which, uint8_t **data, size_t *len);
/* Opens a file of the layer and checks its size and SHA-256 through that
 * descriptor (the memory file, which is then mapped from it). */
int snapmeta_open_verified(const char *dir, const struct snap_meta *m,
    enum snap_file which);
/* Every file present and of the recorded size and SHA-256. */
int snapmeta_verify(const char *dir, const struct snap_meta *m);
/* Removes a layer directory, its manifest first, so that a layer half
 * removed is never taken for a whole one. */
void snapmeta_remove(const char *dir);


#endif
