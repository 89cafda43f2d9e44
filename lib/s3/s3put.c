/*
 * s3snap put: a layer directory into the store, its index last.  The
 * objects go under a name of this layer's own (PREFIX/M/, s3layer.h), so
 * the index a reader finds, old or new, always names whole objects; the
 * replaced layer's objects are deleted only once the new index is in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "monotime.h"
#include "s3layer.h"
#include "s3pool.h"
#include "s3sync.h"

struct put {
	const struct s3sync *o;
	struct s3layer l;
	struct s3task *task;
	size_t ntasks;
	char base[S3LAYER_BASE_MAX];	/* where this put's objects go */
	bool had_old;			/* an index was there before */
	char old_base[S3LAYER_BASE_MAX];	/* where its objects are */
};

/* One part (or the whole of a small file): read, hash (the part, and
 * the chunks in it, from the one read), send. */
static int
put_part(struct s3 *s, void *ctx, size_t i)
{
	struct put *p = ctx;
	struct s3part t;
	char sha[DIGEST_HEX];
	int rc;

	if ((rc = s3layer_part(&p->l, p->o->uri.prefix, &p->task[i], &t)) != 0)
		return rc;
	if (extents_io(&t.f->ext, t.f->fd, t.at, t.buf, t.len, false) == -1) {
		log_warn("%s: reading", t.f->name);
		free(t.buf);
		return EX_IOERR;
	}
	s3_sha256(t.buf, t.len, sha);
	s3layer_hash_chunks(&p->l, t.f, t.at, t.buf, t.len);
	if (t.f->nparts <= 1)
		rc = s3_put(s, t.key, t.buf, t.len, sha);
	else
		rc = s3_mpu_part(s, t.key, t.f->upload_id, (int)t.i + 1, t.buf,
		    t.len, sha, t.f->etag[t.i]);
	if (rc == 0 && t.f->nparts > 0)
		memcpy(t.f->part_sha[t.i], sha, DIGEST_HEX);
	free(t.buf);
	return rc;
}

/* Starts (or, with finish, completes) the multipart upload of every
 * file of more than one part. */
static int
multipart(struct s3 *s, struct put *p, bool finish)
{
	char key[S3LAYER_KEY_MAX];
	int rc;

	for (int i = 0; i < p->l.nfiles; i++) {
		struct s3file *f = &p->l.file[i];

		if (f->nparts <= 1)
			continue;
		s3layer_key(p->base, f->name, key, sizeof(key));
		if (!finish)
			rc = s3_mpu_create(s, key, f->upload_id);
		else if ((rc = s3_mpu_complete(s, key, f->upload_id, f->etag,
		    f->nparts)) == 0)
			f->upload_id[0] = '\0';
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* After a failure: no upload left open, no object of a half layer; the
 * layer there before, whose index is still in place, stays whole (its
 * objects are these only if it is this very layer). */
static void
undo(struct put *p)
{
	struct s3conf quick;
	char key[S3LAYER_KEY_MAX];
	struct s3 s;

	if (s3sync_cleanup_conn(&s, &quick, p->o) == -1)
		return;
	for (int i = 0; i < p->l.nfiles; i++) {
		struct s3file *f = &p->l.file[i];

		s3layer_key(p->base, f->name, key, sizeof(key));
		if (f->upload_id[0] != '\0' &&
		    s3_mpu_abort(&s, key, f->upload_id) != 0)
			log_warnx("s3://%s/%s: the unfinished upload stays; "
			    "s3snap rm or the next put removes it",
			    p->o->uri.bucket, key);
	}
	if ((!p->had_old || strcmp(p->old_base, p->base) != 0) &&
	    s3sync_delete_objects(&s, p->base, NULL) != 0)
		log_warnx("s3://%s/%s: some objects of the failed put stay; "
		    "s3snap rm removes them", p->o->uri.bucket, p->base);
	s3_close(&s);
}

/* The layer the new index replaced: its objects, unless they are these. */
static void
drop_replaced(struct s3 *s, struct put *p)
{
	int n = 0;

	if (!p->had_old || strcmp(p->old_base, p->base) == 0)
		return;
	if (s3sync_delete_objects(s, p->old_base, &n) != 0)
		log_warnx("s3://%s/%s: objects of the replaced layer stay; "
		    "s3snap rm removes them", p->o->uri.bucket, p->old_base);
	else
		log_info("s3://%s/%s: %d objects of the replaced layer deleted",
		    p->o->uri.bucket, p->old_base, n);
}

/* Where the layer there now keeps its objects, if one is there; an
 * index that is not one is simply replaced. */
static int
find_old(struct s3 *s, struct put *p)
{
	struct s3layer old;
	int rc = s3sync_read_index(s, p->o->uri.prefix, &old, false);

	if (rc == 0) {
		p->had_old = true;
		s3layer_objects(&old, p->o->uri.prefix, p->old_base,
		    sizeof(p->old_base));
	}
	s3layer_free(&old);
	return rc == EX_NOINPUT || rc == EX_DATAERR ? 0 : rc;
}

static int
put_index(struct s3 *s, struct put *p)
{
	char key[S3LAYER_KEY_MAX], sha[DIGEST_HEX];
	char *text = s3layer_index(&p->l);
	int rc;

	if (text == NULL) {
		log_warn("index");
		return EX_OSERR;
	}
	s3layer_key(p->o->uri.prefix, S3LAYER_INDEX, key, sizeof(key));
	s3_sha256(text, strlen(text), sha);
	rc = s3_put(s, key, text, strlen(text), sha);
	free(text);
	return rc;
}

static int
transfer(struct s3 *s, struct put *p, const char *dir)
{
	char label[S3_PREFIX_MAX + 128];
	struct s3pool_opts po = { p->o->conf, p->o->uri.bucket, p->o->cancel,
	    p->o->progress, label, 0, NULL };
	uint64_t moved = 0, size = 0, t0 = mono_ms();
	int rc;

	for (int i = 0; i < p->l.nfiles; i++) {
		po.total += p->l.file[i].ext.total;
		size += p->l.file[i].size;
	}
	snprintf(label, sizeof(label), "put s3://%s/%s", p->o->uri.bucket,
	    p->o->uri.prefix);
	if (s3layer_plan(&p->l, true, &p->task, &p->ntasks) == -1)
		return EX_OSERR;
	if ((rc = multipart(s, p, false)) != 0 ||
	    (rc = s3pool_run(&po, p->ntasks, put_part, p, &moved)) != 0 ||
	    (rc = multipart(s, p, true)) != 0 || (rc = put_index(s, p)) != 0)
		return rc;
	snprintf(label, sizeof(label), "put %s to s3://%s/%s", dir,
	    p->o->uri.bucket, p->o->uri.prefix);
	s3sync_summary(label, size, moved, mono_ms() - t0);
	return 0;
}

int
s3sync_put(const struct s3sync *o, const char *dir)
{
	struct put p = { .o = o };
	struct s3 s;
	int rc;

	if ((rc = s3sync_need_dir(dir)) != 0)
		return rc;
	if ((rc = s3layer_local(&p.l, dir, o->conf->part_size)) != 0) {
		s3layer_free(&p.l);
		return rc;
	}
	if (s3_open(&s, o->conf, o->uri.bucket) == -1) {
		s3layer_free(&p.l);
		return EX_OSERR;
	}
	s.cancel = o->cancel;
	s3layer_objects(&p.l, o->uri.prefix, p.base, sizeof(p.base));
	if ((rc = find_old(&s, &p)) == 0 &&
	    (rc = s3sync_abort_stale(&s, p.base, NULL)) == 0) {
		if ((rc = transfer(&s, &p, dir)) != 0)
			undo(&p);
		else
			drop_replaced(&s, &p);
	}
	s3_close(&s);
	s3layer_free(&p.l);
	free(p.task);
	return rc;
}
