/*
 * An S3 client on libcurl: one request at a time per struct s3 (one per
 * thread), signed with AWS Signature Version 4 by libcurl.  libcurl signs
 * the path and query exactly as given, so this file encodes key segments
 * and sorts query parameters itself, and always sends
 * x-amz-content-sha256.  Failures are retried with backoff when the store
 * may recover (5xx, connection errors); every result is a sysexits(3)
 * status, and every failure is logged naming the request, the object,
 * the HTTP status and the store's error Code.
 */
#ifndef SNAPVM_S3_H
#define SNAPVM_S3_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "s3conf.h"

/* A growable response body that refuses to grow past max. */
struct s3_buf {
	char *data;			/* NUL-terminated */
	size_t len, cap, max;
};

struct s3_param {
	const char *name, *value;	/* unencoded; value "" for none */
};

#define S3_MAX_PARAMS	8

struct s3_req {
	const char *method;		/* GET PUT POST DELETE HEAD */
	const char *key;		/* NULL: the bucket */
	struct s3_param query[S3_MAX_PARAMS];
	int nquery;
	const void *body;		/* PUT and POST */
	size_t body_len;
	const char *body_sha;		/* hex; NULL: computed here */
	bool range;			/* bytes range_off..+range_len */
	uint64_t range_off, range_len;
	/* What the body goes into: out, or fixed (exactly fixed_len bytes
	 * expected; fewer or more is a corrupt object). */
	struct s3_buf *out;
	char *fixed;
	size_t fixed_len;
	bool missing_ok;		/* 404: return EX_NOINPUT unlogged */

	/* Results. */
	long status;
	char etag[128];
	char code[64];			/* the error body's <Code> */
	size_t got;			/* bytes into fixed */
};

/* What requests did, for a summary: handles of several threads may
 * share one. */
struct s3_count {
	_Atomic uint64_t requests;	/* sent, each retry too */
	_Atomic uint64_t retries;	/* of those, repeats of a failed one */
	_Atomic uint64_t received;	/* bytes of answers: headers, bodies */
};

/* A link of limit_rate bytes per second that handles share: every byte
 * sent or received takes its turn on one clock, and a transfer ahead of
 * the clock waits.  (libcurl's own limit lets a short transfer through
 * at full speed: no chunk-sized GET was ever shaped.) */
struct s3_pace {
	uint64_t rate;			/* bytes/s; 0: any */
	_Atomic uint64_t clock_us;	/* mono_us() when the link is free */
};

struct s3 {
	const struct s3conf *conf;
	char bucket[S3_BUCKET_MAX];
	void *curl;			/* CURL * */
	const volatile sig_atomic_t *cancel;	/* set by a signal handler */
	atomic_int *stop;		/* set when a sibling failed */
	_Atomic uint64_t *moved;	/* bytes sent and received */
	struct s3_pace *pace;		/* NULL: no limit */
	struct s3_count *count;		/* NULL: not counted */
};

/* Process-wide: before any thread starts, after every thread ends. */
int s3_global_init(void);
void s3_global_cleanup(void);

int s3_open(struct s3 *s, const struct s3conf *conf, const char *bucket);
void s3_close(struct s3 *s);
/* Adds a query parameter (sorted and encoded when sent). */
void s3_param(struct s3_req *r, const char *name, const char *value);
/* One request, retried as needed: 0 (2xx) or a sysexits status. */
int s3_do(struct s3 *s, struct s3_req *r);
bool s3_cancelled(const struct s3 *s);

void s3_buf_free(struct s3_buf *b);

/* Pure helpers, exposed for the unit tests. */
/* Percent-encodes s per SigV4: unreserved characters stay, and '/' too
 * when keep_slash.  0, or -1 if out is too small. */
int s3_encode(const char *s, bool keep_slash, char *out, size_t size);
/* "a=1&b=2": parameters sorted by encoded name, then value. */
int s3_query_string(const struct s3_param *p, int n, char *out, size_t size);
/* The URL of key (NULL: the bucket) with query q ("" for none). */
int s3_url(const struct s3conf *c, const char *bucket, const char *key,
    const char *q, char *out, size_t size);
/* SHA-256 of a buffer in hex. */
void s3_sha256(const void *p, size_t n, char hex[DIGEST_HEX]);

#endif
