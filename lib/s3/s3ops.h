/*
 * The S3 operations s3snap uses, on lib/s3.c's requests: objects whole
 * and by range, multipart uploads, and listings of objects and of
 * uploads in progress.  Each returns 0 or a sysexits(3) status and has
 * logged the reason.
 */
#ifndef SNAPVM_S3OPS_H
#define SNAPVM_S3OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3.h"

#define S3_UPLOAD_ID_MAX	512
#define S3_ETAG_MAX		128

int s3_put(struct s3 *s, const char *key, const void *data, size_t len,
    const char *sha);
/* Exactly len bytes of key from offset off into buf. */
int s3_get_range(struct s3 *s, const char *key, uint64_t off, size_t len,
    void *buf);
/* A whole object of at most max bytes; missing_ok: 404 quietly gives
 * EX_NOINPUT, and the error Code (NoSuchKey, NoSuchBucket) in code. */
int s3_get_all(struct s3 *s, const char *key, size_t max, bool missing_ok,
    struct s3_buf *out, char code[64]);
int s3_delete(struct s3 *s, const char *key);

int s3_mpu_create(struct s3 *s, const char *key,
    char upload_id[S3_UPLOAD_ID_MAX]);
int s3_mpu_part(struct s3 *s, const char *key, const char *upload_id,
    int part, const void *data, size_t len, const char *sha,
    char etag[S3_ETAG_MAX]);
int s3_mpu_complete(struct s3 *s, const char *key, const char *upload_id,
    char (*etags)[S3_ETAG_MAX], size_t n);
int s3_mpu_abort(struct s3 *s, const char *key, const char *upload_id);

/* Calls fn for each object under prefix (not below the next delimiter
 * when delim is set); fn returning non-zero stops with that status. */
typedef int (*s3_object_fn)(const char *key, uint64_t size, void *arg);
int s3_list(struct s3 *s, const char *prefix, const char *delim,
    s3_object_fn fn, void *arg);
typedef int (*s3_upload_fn)(const char *key, const char *upload_id,
    void *arg);
int s3_list_uploads(struct s3 *s, const char *prefix, s3_upload_fn fn,
    void *arg);

#endif
