/*
 * s3snap's commands on snapshot layers: put a layer directory into a
 * store, get one back into a new directory, list, remove and verify.
 * Each returns 0 or a sysexits(3) status (s3snap(1), EXIT STATUS) and has
 * logged why.
 */
#ifndef SNAPVM_S3SYNC_H
#define SNAPVM_S3SYNC_H

#include <signal.h>
#include <stdbool.h>

#include "s3.h"
#include "s3conf.h"

struct s3layer;

struct s3sync {
	const struct s3conf *conf;
	struct s3_uri uri;
	const volatile sig_atomic_t *cancel;	/* SIGINT and friends */
	bool progress;
};

int s3sync_put(const struct s3sync *o, const char *dir);
int s3sync_get(const struct s3sync *o, const char *dir);
int s3sync_ls(const struct s3sync *o);
int s3sync_rm(const struct s3sync *o);
int s3sync_verify(const char *dir);

/* Shared by put and rm: aborts the multipart uploads of a layer's
 * objects under prefix (put: its own object prefix) that a crashed put
 * left; *n counts them. */
int s3sync_abort_stale(struct s3 *s, const char *prefix, int *n);
/* Removes every object of the layer at prefix, index first, and the
 * objects of every upload to it (PREFIX/M/...); *n counts them. */
int s3sync_delete_layer(struct s3 *s, const char *prefix, int *n);
/* Removes the file objects right under base, one upload's; not an
 * index.  *n counts them. */
int s3sync_delete_objects(struct s3 *s, const char *base, int *n);
/* The index object at prefix, parsed into l: EX_NOINPUT if there is
 * none (said only when loud), EX_DATAERR if it is not a valid one. */
int s3sync_read_index(struct s3 *s, const char *prefix, struct s3layer *l,
    bool loud);
/* A connection that still works after a signal, with few retries:
 * for cleaning up after a failure. */
int s3sync_cleanup_conn(struct s3 *s, struct s3conf *quick,
    const struct s3sync *o);
/* EX_NOINPUT (logged) unless dir is a directory. */
int s3sync_need_dir(const char *dir);
/* Logs the summary of a transfer at info level. */
void s3sync_summary(const char *what, uint64_t logical, uint64_t moved,
    uint64_t ms);

#endif
