/*
 * The store's options on a command line, shared by the programs that
 * reach a store (s3snap(1), snappager(1)): --config FILE and a flag per
 * setting of s3conf.h, and the configuration they make with the AWS
 * CLI's files, the config file and the environment, each overriding the
 * one before.
 */
#ifndef SNAPVM_S3OPTS_H
#define SNAPVM_S3OPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "s3conf.h"

#define S3OPTS_MAX	16

/* Entries of a getopt_long table, for a program's own table. */
#define S3OPTS_LONG \
	{ "config", required_argument, NULL, 'c' }, \
	{ "endpoint", required_argument, NULL, 'E' }, \
	{ "region", required_argument, NULL, 'R' }, \
	{ "addressing-style", required_argument, NULL, 'A' }, \
	{ "jobs", required_argument, NULL, 'j' }, \
	{ "retries", required_argument, NULL, 'r' }, \
	{ "part-size", required_argument, NULL, 'P' }, \
	{ "limit-rate", required_argument, NULL, 'L' }
/* Their short forms, for getopt_long's optstring. */
#define S3OPTS_SHORT	"j:"
struct s3opts {
	const char *config;		/* --config */
	int nset;
	struct { const char *name, *value, *flag; } set[S3OPTS_MAX];
};

/* Takes option ch of S3OPTS_LONG with its argument: false if ch is not
 * one of them. */
bool s3opts_take(struct s3opts *o, int ch, const char *arg);
/* The configuration: the AWS CLI's files, the config file (--config,
 * else $S3SNAP_CONFIG), the environment, the flags.  -1 (logged) if a
 * setting is wrong or credentials are missing. */
int s3opts_configure(const struct s3opts *o, struct s3conf *c);

#endif
