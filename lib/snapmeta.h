/*
 * A snapshot layer's manifest.json (snapvm-snapshot(5)): what the layer
 * is, what it sits on, the machine it needs and the checksum of every
 * file in it.
 */
#ifndef SNAPVM_SNAPMETA_H
#define SNAPVM_SNAPMETA_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"

#define SNAP_FORMAT		"snapvm-snapshot"
#define SNAP_MAX_DRIVES		8

enum snap_file { SNAP_STATE, SNAP_MEMORY, SNAP_PAGES, SNAP_NFILES };
extern const char *const snap_file_name[SNAP_NFILES];

struct snap_drive {
	char path[1024];		/* absolute, as given when dumped; "" */
	uint64_t size;
	bool read_only;
	char sha256[DIGEST_HEX];
};

struct snap_meta {
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
	struct {
		bool present;
		uint64_t size;
		char sha256[DIGEST_HEX];
	} file[SNAP_NFILES];
};

int snapmeta_write(const char *path, const struct snap_meta *m);
/* Reads and checks DIR/manifest.json; messages name the file and field. */
int snapmeta_read(const char *dir, struct snap_meta *m);
/* Every file present and of the recorded size and SHA-256. */
int snapmeta_verify(const char *dir, const struct snap_meta *m);
/* Removes a layer directory, its manifest first, so that a layer half
 * removed is never taken for a whole one. */
void snapmeta_remove(const char *dir);

#endif
