/*
 * A layer's manifest.json, as a shared store brings it: read and checked
 * by snapmeta_read(); one that passes is written back and read again,
 * and must come back the same (what ctrl and s3snap rely on when they
 * copy layers), and its files are looked for as a restore would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "snapmeta.h"

static struct snap_meta meta, again;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4200];

	fz_init();
	fz_file("manifest.json", data, size, path, sizeof(path));
	if (snapmeta_read(fz_dir(), &meta) == -1)
		return 0;
	if (snapmeta_write(path, &meta) == -1 ||
	    snapmeta_read(fz_dir(), &again) == -1 ||
	    memcmp(&meta, &again, sizeof(meta)) != 0) {
		fprintf(stderr, "snapmeta: a manifest read back differs\n");
		abort();
	}
	snapmeta_verify(fz_dir(), &meta);
	return 0;
}
