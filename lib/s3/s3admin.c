/* s3snap ls, rm and verify, and the cleaning put shares with rm. */
#include <stdio.h>
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

/* The object name below the layer's prefix, if it is one of a layer's. */
static const char *
layer_name(const char *key, size_t plen)
{
	const char *name = key + plen + 1;

	if (strlen(key) <= plen + 1 || key[plen] != '/' || strchr(name, '/'))
		return NULL;
	if (strcmp(name, S3LAYER_INDEX) == 0 || s3layer_known(name))
		return name;
	return NULL;
}

static int
abort_one(const char *key, const char *upload_id, void *arg)
{
	struct stale *st = arg;
	int rc;

	if (layer_name(key, st->plen) == NULL)
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
	char under[S3_PREFIX_MAX + 1];
	int rc;

	snprintf(under, sizeof(under), "%s/", prefix);
	rc = s3_list_uploads(s, under, abort_one, &st);
	if (n != NULL)
		*n = st.n;
	return rc;
}

struct found {
	size_t plen;
	int n;
	bool name[S3LAYER_FILES + 1];	/* index, then the files */
};

static const char *const names[S3LAYER_FILES + 1] = {
	S3LAYER_INDEX, "manifest.json", "state", "memory", "pages", "workset",
};

static int
found_one(const char *key, uint64_t size, void *arg)
{
	struct found *f = arg;
	const char *name = layer_name(key, f->plen);

	(void)size;
	for (int i = 0; name != NULL && i <= S3LAYER_FILES; i++)
		if (strcmp(name, names[i]) == 0 && !f->name[i]) {
			f->name[i] = true;
			f->n++;
		}
	return 0;
}

int
s3sync_delete_layer(struct s3 *s, const char *prefix, int *n)
{
	struct found f = { .plen = strlen(prefix) };
	char under[S3_PREFIX_MAX + 1], key[S3_PREFIX_MAX + 32];
	int rc;

	snprintf(under, sizeof(under), "%s/", prefix);
	if ((rc = s3_list(s, under, "/", found_one, &f)) != 0)
		return rc;
	/* The index first: from then on no reader takes it for complete. */
	for (int i = 0; i <= S3LAYER_FILES; i++) {
		if (!f.name[i])
			continue;
		s3layer_key(prefix, names[i], key, sizeof(key));
		if ((rc = s3_delete(s, key)) != 0)
			return rc;
	}
	if (n != NULL)
		*n = f.n;
	return 0;
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
