/*
 * Runs the n tasks of a transfer on a few threads, each with its own S3
 * connection: the first failure stops the others, and while they run the
 * calling thread shows progress when asked to.
 */
#ifndef SNAPVM_S3POOL_H
#define SNAPVM_S3POOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3.h"

struct s3pool_opts {
	const struct s3conf *conf;
	const char *bucket;
	const volatile sig_atomic_t *cancel;
	bool progress;			/* a line on stderr, redrawn */
	const char *label;		/* "get s3://..." for that line */
	uint64_t total;			/* bytes expected to move */
	struct s3_pace *pace;		/* a link shared with others; NULL:
					 * the pool's own, conf->limit_rate */
};

/* Task i on connection s: 0 or a sysexits status. */
typedef int (*s3pool_fn)(struct s3 *s, void *ctx, size_t i);

/* 0 when every task succeeded, else the first failure's status;
 * *moved: bytes sent and received. */
int s3pool_run(const struct s3pool_opts *o, size_t n, s3pool_fn fn,
    void *ctx, uint64_t *moved);

#endif
