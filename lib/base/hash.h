/*
 * SHA-256, the one digest snapvm uses (layers' files, drives, working
 * sets, the digest cache's names, S3 payloads), over nettle: OpenSSL's
 * provider set-up cost a runner some 2 MiB of memory on its first
 * digest, nettle's code a few pages.  The prefix is hash_ because nettle
 * takes sha256_* for itself.
 *
 * A context needs no freeing and nothing here can fail.
 */
#ifndef SNAPVM_HASH_H
#define SNAPVM_HASH_H

#include <stddef.h>

#include <nettle/sha2.h>

#define HASH_LEN	32	/* bytes of a digest */

struct hash_ctx {
	struct sha256_ctx sha;
};

/* Starts a digest of nothing yet. */
void hash_init(struct hash_ctx *h);
/* Appends n bytes at p (p may be NULL when n is 0). */
void hash_update(struct hash_ctx *h, const void *p, size_t n);
/* The digest of all that was appended since hash_init; h then starts
 * again, as after hash_init. */
void hash_final(struct hash_ctx *h, unsigned char md[HASH_LEN]);
/* The digest of n bytes at p, in one call. */
void hash_buf(const void *p, size_t n, unsigned char md[HASH_LEN]);

#endif
