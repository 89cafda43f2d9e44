/*
 * Chunks of a stored layer's objects (index version 3): where a byte of a
 * file is in its object, and fetching and checking one chunk, or a small
 * file whole, so that a page server brings in only the pieces of a layer
 * a guest touches and never hands on a byte the index does not vouch for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "s3layer.h"
#include "s3pool.h"

void
s3layer_hash_chunks(const struct s3layer *l, struct s3file *f, uint64_t at,
    const void *buf, size_t len)
{
	const char *p = buf;

	if (l->chunk_size == 0)
		return;
	for (size_t c = (size_t)(at / l->chunk_size); len > 0 &&
	    c < f->nchunks; c++) {
		size_t n = len < l->chunk_size ? len : (size_t)l->chunk_size;

		s3_sha256(p, n, f->chunk_sha[c]);
		p += n;
		len -= n;
	}
}

void
s3layer_chunk_span(const struct s3layer *l, const struct s3file *f,
    size_t c, uint64_t *obj_off, size_t *len)
{
	uint64_t left;

	*obj_off = (uint64_t)c * l->chunk_size;
	left = *obj_off < f->ext.total ? f->ext.total - *obj_off : 0;
	*len = (size_t)(left < l->chunk_size ? left : l->chunk_size);
}

bool
s3layer_chunk_at(const struct s3layer *l, const struct s3file *f,
    uint64_t off, size_t *c, uint64_t *obj_off)
{
	const struct extent *e;
	size_t i;

	if (l->chunk_size == 0 ||
	    (i = extents_find_off(&f->ext, off)) == f->ext.n)
		return false;
	e = &f->ext.v[i];
	*obj_off = e->at + (off - e->off);
	*c = (size_t)(*obj_off / l->chunk_size);
	return *c < f->nchunks;
}

int
s3layer_check_digest(const struct s3 *s, const char *key, const char *piece,
    uint64_t at, const void *buf, size_t len, const char *want)
{
	char sha[DIGEST_HEX];

	s3_sha256(buf, len, sha);
	if (strcmp(sha, want) == 0)
		return 0;
	log_warnx("s3://%s/%s: %s, bytes %ju-%ju: SHA-256 %s, the index says "
	    "%s (corrupt object)", s->bucket, key, piece, (uintmax_t)at,
	    (uintmax_t)(at + len - 1), sha, want);
	return EX_DATAERR;
}

int
s3layer_get_chunk(struct s3 *s, const struct s3layer *l, const char *prefix,
    const struct s3file *f, size_t c, char *buf, size_t *len)
{
	char key[S3LAYER_KEY_MAX], piece[48];
	uint64_t at;
	int rc;

	s3layer_file_key(l, prefix, f, key);
	snprintf(piece, sizeof(piece), "chunk %zu", c);
	*len = 0;
	if (c >= f->nchunks) {
		log_warnx("s3://%s/%s: %s: the index has %zu chunks of it",
		    s->bucket, key, piece, f->nchunks);
		return EX_SOFTWARE;
	}
	s3layer_chunk_span(l, f, c, &at, len);
	if ((rc = s3_get_range(s, key, at, *len, buf)) != 0) {
		log_warnx("s3://%s/%s: %s, bytes %ju-%ju: not fetched",
		    s->bucket, key, piece, (uintmax_t)at,
		    (uintmax_t)(at + *len - 1));
		return rc;
	}
	return s3layer_check_digest(s, key, piece, at, buf, *len,
	    f->chunk_sha[c]);
}

/* The file put together is the one the index describes. */
static int
check_file(const char *bucket, const char *key, const struct s3file *f,
    int fd)
{
	char sha[DIGEST_HEX];

	if (lseek(fd, 0, SEEK_SET) == -1 || digest_fd(fd, f->name, sha) == -1) {
		log_warn("s3://%s/%s: reading back %s", bucket, key, f->name);
		return EX_IOERR;
	}
	if (strcmp(sha, f->sha256) != 0) {
		log_warnx("s3://%s/%s: the file it makes has SHA-256 %s, the "
		    "index says %s (corrupt layer)", bucket, key, sha,
		    f->sha256);
		return EX_DATAERR;
	}
	return 0;
}

/* How much of a file one request of s3layer_get_file asks for, at most
 * (at least one chunk): a request per chunk costs a round trip each, and
 * on a link whose connections start slowly, their slow starts too. */
#define S3LAYER_RUN_MAX	(8u << 20)

/* Chunks a request of at most max bytes takes: at least one. */
static size_t
run_chunks(const struct s3layer *l, size_t max)
{
	return l->chunk_size < max ? (size_t)(max / l->chunk_size) : 1;
}

/* Chunks [c, c + n) of f, consecutive in its object: fetched in one
 * request into buf, then each checked against its digest and written to
 * its place in fd.  A request stopped because a sibling failed or a
 * signal came is not this run's failure: not logged. */
static int
get_run(struct s3 *s, const struct s3layer *l, const char *key,
    const struct s3file *f, size_t c, size_t n, char *buf, int fd)
{
	char piece[64];
	uint64_t at, end, a;
	size_t len;
	int rc;

	s3layer_chunk_span(l, f, c + n - 1, &a, &len);
	end = a + len;
	s3layer_chunk_span(l, f, c, &at, &len);
	if ((rc = s3_get_range(s, key, at, (size_t)(end - at), buf)) != 0) {
		if (!s3_cancelled(s))
			log_warnx("s3://%s/%s: chunks %zu-%zu, bytes %ju-%ju: "
			    "not fetched", s->bucket, key, c, c + n - 1,
			    (uintmax_t)at, (uintmax_t)(end - 1));
		return rc;
	}
	for (size_t i = c; i < c + n; i++) {
		s3layer_chunk_span(l, f, i, &a, &len);
		snprintf(piece, sizeof(piece), "chunk %zu", i);
		if ((rc = s3layer_check_digest(s, key, piece, a, buf + (a - at),
		    len, f->chunk_sha[i])) != 0)
			return rc;
		if (extents_io(&f->ext, fd, (uint64_t)i * l->chunk_size,
		    buf + (a - at), len, true) == -1) {
			log_warn("s3://%s/%s: chunk %zu: writing %s", s->bucket,
			    key, i, f->name);
			return EX_IOERR;
		}
	}
	return 0;
}

/* f can be fetched chunk by chunk, and fd is made its size. */
static int
get_start(const char *bucket, const struct s3layer *l, const char *key,
    const struct s3file *f, int fd)
{
	if (l->chunk_size == 0 || f->nchunks != s3layer_nchunks(l, f)) {
		log_warnx("s3://%s/%s: the index (version %d) has no chunk "
		    "digests", bucket, key, l->version);
		return EX_DATAERR;
	}
	if (ftruncate(fd, (off_t)f->size) == -1) {
		log_warn("s3://%s/%s: sizing %s", bucket, key, f->name);
		return EX_IOERR;
	}
	return 0;
}

int
s3layer_get_file(struct s3 *s, const struct s3layer *l, const char *prefix,
    const struct s3file *f, int fd)
{
	char key[S3LAYER_KEY_MAX], *buf;
	size_t run;
	int rc;

	s3layer_file_key(l, prefix, f, key);
	if ((rc = get_start(s->bucket, l, key, f, fd)) != 0)
		return rc;
	run = run_chunks(l, S3LAYER_RUN_MAX);
	if ((buf = malloc(run * l->chunk_size)) == NULL) {
		log_warn("s3://%s/%s", s->bucket, key);
		return EX_OSERR;
	}
	for (size_t c = 0; rc == 0 && c < f->nchunks; c += run)
		rc = get_run(s, l, key, f, c,
		    f->nchunks - c < run ? f->nchunks - c : run, buf, fd);
	free(buf);
	return rc == 0 ? check_file(s->bucket, key, f, fd) : rc;
}

/* s3layer_get_files' work: task i is run[i], chunks [c, c + n) of the
 * file of want[w]. */
struct files_run {
	size_t w, c, n;
};

struct files {
	const struct s3layer_want *want;
	struct files_run *run;
	size_t nrun;
};

static int
get_task(struct s3 *s, void *ctx, size_t i)
{
	const struct files *x = ctx;
	const struct files_run *r = &x->run[i];
	const struct s3layer_want *w = &x->want[r->w];
	char key[S3LAYER_KEY_MAX], *buf;
	int rc;

	/* A connection is the store's: the bucket only names the object. */
	if (strcmp(s->bucket, w->bucket) != 0)
		snprintf(s->bucket, sizeof(s->bucket), "%s", w->bucket);
	s->count = w->count;
	s3layer_file_key(w->l, w->prefix, w->f, key);
	if ((buf = malloc(r->n * w->l->chunk_size)) == NULL) {
		log_warn("s3://%s/%s", w->bucket, key);
		return EX_OSERR;
	}
	rc = get_run(s, w->l, key, w->f, r->c, r->n, buf, w->fd);
	free(buf);
	return rc;
}

/* Every file checked and sized, and split into runs. */
static int
plan_files(struct files *x, size_t n)
{
	char key[S3LAYER_KEY_MAX];
	size_t total = 0, k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct s3layer_want *w = &x->want[i];

		s3layer_file_key(w->l, w->prefix, w->f, key);
		if ((rc = get_start(w->bucket, w->l, key, w->f, w->fd)) != 0)
			return rc;
		total += (w->f->nchunks + run_chunks(w->l, S3LAYER_TASK_MAX) -
		    1) / run_chunks(w->l, S3LAYER_TASK_MAX);
	}
	if ((x->run = calloc(total ? total : 1, sizeof(*x->run))) == NULL) {
		log_warn("s3layer_get_files");
		return EX_OSERR;
	}
	for (size_t i = 0; i < n; i++) {
		const struct s3file *f = x->want[i].f;
		size_t run = run_chunks(x->want[i].l, S3LAYER_TASK_MAX);

		for (size_t c = 0; c < f->nchunks; c += run)
			x->run[k++] = (struct files_run){ i, c,
			    f->nchunks - c < run ? f->nchunks - c : run };
	}
	x->nrun = k;
	return 0;
}

int
s3layer_get_files(const struct s3pool_opts *o,
    const struct s3layer_want *want, size_t n, size_t *requests)
{
	struct files x = { .want = want };
	char key[S3LAYER_KEY_MAX];
	int rc;

	*requests = 0;
	if ((rc = plan_files(&x, n)) == 0 && x.nrun > 0)
		rc = s3pool_run(o, x.nrun, get_task, &x, NULL);
	*requests = x.nrun;
	free(x.run);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		s3layer_file_key(want[i].l, want[i].prefix, want[i].f, key);
		rc = check_file(want[i].bucket, key, want[i].f, want[i].fd);
	}
	return rc;
}
