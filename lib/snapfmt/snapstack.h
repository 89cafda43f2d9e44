/*
 * Stacks of layers (snapvm-snapshot(5)): whether layers read one by one
 * make a stack, and putting a finished layer in place.
 */
#ifndef SNAPVM_SNAPSTACK_H
#define SNAPVM_SNAPSTACK_H

#include "snapmeta.h"

/* dir[0..n-1] with their manifests m[] are one stack: the first full,
 * each diff made on the layer below it (its id as parent, the same
 * drives, but for the app drive of a layer below taken at the
 * "runtime" point), all of one machine, each id its state's SHA-256.
 * Messages name the layer at fault. */
int snapstack_check(char *const *dir, const struct snap_meta *m, int n);

/* Gives the whole layer written and synced in tmp the name dir in one
 * step (a layer there already is exchanged, then removed), and syncs
 * dir's parent: no reader ever sees half a layer under dir. */
int snapstack_publish(const char *tmp, const char *dir);

#endif
