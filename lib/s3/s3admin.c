/* s3snap ls, rm and verify, and the cleaning put shares with rm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include "log.h"
#include "s3layer.h"
#include "s3sync.h"
#include "snapmeta.h"

struct stale {
	struct s3 *s;
	size_t plen;
	int n;
};

static bool
hex64(const char *p)
{
	return strspn(p, "0123456789abcdef") == DIGEST_HEX - 1 &&
	    p[DIGEST_HEX - 1] == '/';
}

/* What follows PREFIX/ in key if it is one of a layer's objects: NAME,
 * or with deep also M/NAME (a version 2 layer's, M 64 hex digits). */
static const char *
layer_name(const char *key, size_t plen, bool deep)
{
	const char *name = key + plen + 1;

	if (strlen(key) <= plen + 1 || key[plen] != '/')
		return NULL;
	if (deep && hex64(name))
		name += DIGEST_HEX;
	if (strchr(name, '/') != NULL)
		return NULL;
	if (strcmp(name, S3LAYER_INDEX) == 0 || s3layer_known(name))
		return key + plen + 1;
	return NULL;
}

static int
abort_one(const char *key, const char *upload_id, void *arg)
{
	struct stale *st = arg;
	int rc;

	if (layer_name(key, st->plen, true) == NULL)
		return 0;
	log_info("aborting the unfinished upload of s3://%s/%s", st->s->bucket,
	    key);
	if ((rc = s3_mpu_abort(st->s, key, upload_id)) == 0)
		st->n++;
	return rc;
}

int
s3sync_abort_stale(struct s3 *s, const char *prefix, int *n)
{
	struct stale st = { s, strlen(prefix), 0 };
	char under[S3LAYER_KEY_MAX];
	int rc;

	snprintf(under, sizeof(under), "%s/", prefix);
	rc = s3_list_uploads(s, under, abort_one, &st);
	if (n != NULL)
		*n = st.n;
	return rc;
}

/* The keys of a layer's objects, as listed. */
struct found {
	size_t plen;
	bool deep;
	int n, cap;
	char **key;
};

static int
found_one(const char *key, uint64_t size, void *arg)
{
	struct found *f = arg;
	char **k;

	(void)size;
	if (layer_name(key, f->plen, f->deep) == NULL)
		return 0;
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 16;
		if ((k = realloc(f->key, (size_t)f->cap * sizeof(*k))) == NULL)
			return EX_OSERR;
		f->key = k;
	}
	if ((f->key[f->n] = strdup(key)) == NULL)
		return EX_OSERR;
	f->n++;
	return 0;
}

static bool
is_index(const char *key)
{
	size_t n = strlen(key), k = strlen(S3LAYER_INDEX);

	return n > k && key[n - k - 1] == '/' &&
	    strcmp(key + n - k, S3LAYER_INDEX) == 0;
}

/* The index first: from then on no reader takes the rest for a layer. */
static int
delete_found(struct s3 *s, const struct found *f, bool index)
{
	int rc = 0;

	for (int pass = 0; pass < 2 && rc == 0; pass++)
		for (int i = 0; i < f->n && rc == 0; i++)
			if (is_index(f->key[i]) == (pass == 0) &&
			    (index || !is_index(f->key[i])))
				rc = s3_delete(s, f->key[i]);
	return rc;
}

static void
found_free(struct found *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->key[i]);
	free(f->key);
}

/* Lists under base/ (delim: not deeper) and deletes what is a layer's. */
static int
delete_under(struct s3 *s, struct found *f, const char *base,
    const char *delim, bool index, int *n)
{
	char under[S3LAYER_KEY_MAX];
	int rc;

	snprintf(under, sizeof(under), "%s/", base);
	if ((rc = s3_list(s, under, delim, found_one, f)) == 0) {
		if (n != NULL)
			*n = f->n;
		rc = delete_found(s, f, index);
	}
	found_free(f);
	return rc;
}

int
s3sync_delete_layer(struct s3 *s, const char *prefix, int *n)
{
	struct found f = { .plen = strlen(prefix), .deep = true };

	return delete_under(s, &f, prefix, NULL, true, n);
}

int
s3sync_delete_objects(struct s3 *s, const char *base, int *n)
{
	struct found f = { .plen = strlen(base) };

	return delete_under(s, &f, base, "/", false, n);
}

int
s3sync_cleanup_conn(struct s3 *s, struct s3conf *quick, const struct s3sync *o)
{
	*quick = *o->conf;
	quick->retries = 1;
	return s3_open(s, quick, o->uri.bucket);
}

void
s3sync_summary(const char *what, uint64_t logical, uint64_t moved,
    uint64_t ms)
{
	const double mib = 1024.0 * 1024.0;
	double s = ms ? (double)ms / 1000.0 : 0.001;

	log_info("%s: %.1f MiB of files, %.1f MiB moved in %.2f s "
	    "(%.1f MiB/s of files, %.1f MiB/s moved)", what,
	    (double)logical / mib, (double)moved / mib, s,
	    (double)logical / mib / s, (double)moved / mib / s);
}

static int
print_layer(const char *key, uint64_t size, void *arg)
{
	const struct s3sync *o = arg;
	size_t n = strlen(key), k = strlen(S3LAYER_INDEX);

	(void)size;
	if (n > k + 1 && key[n - k - 1] == '/' &&
	    strcmp(key + n - k, S3LAYER_INDEX) == 0)
		printf("s3://%s/%.*s\n", o->uri.bucket, (int)(n - k - 1), key);
	return 0;
}

int
s3sync_ls(const struct s3sync *o)
{
	struct s3 s;
	int rc;

	if (s3_open(&s, o->conf, o->uri.bucket) == -1)
		return EX_OSERR;
	s.cancel = o->cancel;
	rc = s3_list(&s, o->uri.prefix, NULL, print_layer, (void *)o);
	s3_close(&s);
	if (fflush(stdout) != 0) {
		log_warn("stdout");
		return rc ? rc : EX_IOERR;
	}
	return rc;
}

int
s3sync_rm(const struct s3sync *o)
{
	struct s3 s;
	int rc, aborted = 0, deleted = 0;

	if (s3_open(&s, o->conf, o->uri.bucket) == -1)
		return EX_OSERR;
	s.cancel = o->cancel;
	if ((rc = s3sync_abort_stale(&s, o->uri.prefix, &aborted)) == 0)
		rc = s3sync_delete_layer(&s, o->uri.prefix, &deleted);
	s3_close(&s);
	if (rc == 0 && aborted + deleted == 0) {
		log_warnx("s3://%s/%s: no such layer", o->uri.bucket,
		    o->uri.prefix);
		return EX_NOINPUT;
	}
	if (rc == 0)
		log_info("s3://%s/%s: removed %d objects, aborted %d uploads",
		    o->uri.bucket, o->uri.prefix, deleted, aborted);
	return rc;
}

int
s3sync_need_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		log_warn("%s", dir);
		return EX_NOINPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: not a directory", dir);
		return EX_NOINPUT;
	}
	return 0;
}

int
s3sync_verify(const char *dir)
{
	struct snap_meta m;
	int rc;

	if ((rc = s3sync_need_dir(dir)) != 0)
		return rc;
	if (snapmeta_read(dir, &m) == -1 || snapmeta_verify(dir, &m) == -1)
		return EX_DATAERR;
	log_info("%s: %s layer %.12s: every file matches its manifest", dir,
	    m.diff ? "diff" : "full", m.id);
	return 0;
}
