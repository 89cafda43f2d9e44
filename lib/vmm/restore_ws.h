/*
 * A restore's working-set read (snapvm-snapshot(5), workset): the pages
 * the layer's recorded request touched, read into guest memory in one
 * pass before the first KVM_RUN; every other page stays mapped from the
 * layers and is read when first touched.
 */
#ifndef SNAPVM_RESTORE_WS_H
#define SNAPVM_RESTORE_WS_H

#include "mem.h"
#include "snapmeta.h"
#include "workset.h"

struct restore_ws {
	int fd;				/* -1: the layer has none */
	char path[4200];
	struct workset ws;
};

/* Opens and checks the top layer's working set, if it has one, for the
 * stack m[0..n-1] (their manifests checked already): its size and
 * SHA-256, header and tables, and that it was made on this very stack.
 * w->fd is -1 when there is none. */
int restore_ws_open(struct restore_ws *w, const char *top_dir,
    const struct snap_meta *m, int n);
/* Reads the pages into fresh memory at their places, over the layers'
 * mappings (mem already mapped from them). */
int restore_ws_read(struct restore_ws *w, struct mem *mem);
void restore_ws_close(struct restore_ws *w);

#endif
