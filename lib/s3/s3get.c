/* s3snap get: a stored layer into a new directory, whole and verified
 * under a temporary name first. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "monotime.h"
#include "s3layer.h"
#include "s3pool.h"
#include "s3sync.h"
#include "snapmeta.h"

struct get {
	const struct s3sync *o;
	struct s3layer l;
	char tmp[4096];			/* "" until made */
	struct s3task *task;
	size_t ntasks;
};

/* One part: fetched, checked against the index, written in place. */
static int
get_part(struct s3 *s, void *ctx, size_t i)
{
	struct get *g = ctx;
	struct s3part t;
	char piece[48];
	int rc;

	if ((rc = s3layer_part(&g->l, g->o->uri.prefix, &g->task[i], &t)) != 0)
		return rc;
	snprintf(piece, sizeof(piece), "part %zu", t.i);
	if ((rc = s3_get_range(s, t.key, t.at, t.len, t.buf)) == 0 &&
	    (rc = s3layer_check_digest(s, t.key, piece, t.at, t.buf, t.len,
	    t.f->part_sha[t.i])) == 0 && extents_io(&t.f->ext, t.f->fd, t.at,
	    t.buf, t.len, true) == -1) {
		log_warn("%s/%s", g->tmp, t.f->name);
		rc = EX_IOERR;
	}
	free(t.buf);
	return rc;
}

/* The empty files, full size: holes until the data comes. */
static int
make_files(struct get *g)
{
	char path[4200];

	for (int i = 0; i < g->l.nfiles; i++) {
		struct s3file *f = &g->l.file[i];

		snprintf(path, sizeof(path), "%s/%s", g->tmp, f->name);
		f->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (f->fd == -1) {
			log_warn("%s", path);
			return EX_CANTCREAT;
		}
		if (ftruncate(f->fd, (off_t)f->size) == -1) {
			log_warn("%s", path);
			return EX_IOERR;
		}
	}
	return 0;
}

static int
sync_files(struct get *g)
{
	for (int i = 0; i < g->l.nfiles; i++) {
		struct s3file *f = &g->l.file[i];

		if (fsync(f->fd) == -1 || close(f->fd) == -1) {
			f->fd = -1;
			log_warn("%s/%s", g->tmp, f->name);
			return EX_IOERR;
		}
		f->fd = -1;
	}
	return 0;
}

/* What came down is the layer: manifest, then every file's digest. */
static int
check(struct get *g)
{
	char path[4200], what[S3LAYER_KEY_MAX + S3_BUCKET_MAX + 8];
	char key[S3LAYER_KEY_MAX], text[SNAP_META_MAX];
	size_t len = (size_t)g->l.file[0].size;	/* s3layer_parse: fits */
	struct snap_meta m;
	int fd, rc = EX_DATAERR;

	snprintf(path, sizeof(path), "%s/manifest.json", g->tmp);
	s3layer_file_key(&g->l, g->o->uri.prefix, &g->l.file[0], key);
	snprintf(what, sizeof(what), "s3://%s/%s", g->o->uri.bucket, key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return EX_IOERR;
	}
	if (file_read_all(fd, path, text, len) == -1)
		rc = EX_IOERR;
	else if (s3layer_check_manifest(&g->l, text, len, what) == 0 &&
	    snapmeta_parse(path, text, len, &m) == 0)
		rc = snapmeta_verify(g->tmp, &m) == 0 ? 0 : EX_DATAERR;
	close(fd);
	return rc;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd == -1 || fsync(fd) == -1) {
		log_warn("%s", dir);
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	return rc;
}

static void
remove_tmp(struct get *g)
{
	char path[4200];

	if (g->tmp[0] == '\0')
		return;
	for (int i = 0; i < g->l.nfiles; i++) {
		if (g->l.file[i].fd != -1)
			close(g->l.file[i].fd);
		g->l.file[i].fd = -1;
		snprintf(path, sizeof(path), "%s/%s", g->tmp, g->l.file[i].name);
		unlink(path);
	}
	if (rmdir(g->tmp) == -1)
		log_warn("%s", g->tmp);
	g->tmp[0] = '\0';
}

/* dir is there already: fine if it is this very layer, intact. */
static int
existing(struct get *g, const char *dir)
{
	char path[4096], hex[DIGEST_HEX];
	struct snap_meta m;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (access(path, F_OK) == -1 || digest_file(path, hex) == -1 ||
	    strcmp(hex, g->l.file[0].sha256) != 0 ||
	    snapmeta_read(dir, &m) == -1 || snapmeta_verify(dir, &m) == -1) {
		log_warnx("%s: exists and is not this layer", dir);
		return EX_CANTCREAT;
	}
	log_info("%s: holds s3://%s/%s already", dir, g->o->uri.bucket,
	    g->o->uri.prefix);
	return 0;
}

/* tmp becomes dir, unless dir appeared meanwhile. */
static int
publish(struct get *g, const char *dir)
{
	char parent[4096];

	if (fsync_dir(g->tmp) == -1)
		return EX_IOERR;
	if (file_rename_noreplace(g->tmp, dir) == -1) {
		if (errno == EEXIST || errno == ENOTEMPTY) {
			remove_tmp(g);	/* a get beside us was quicker */
			return existing(g, dir);
		}
		log_warn("%s", dir);
		return EX_IOERR;
	}
	g->tmp[0] = '\0';
	snprintf(parent, sizeof(parent), "%s", dir);
	return fsync_dir(dirname(parent)) == 0 ? 0 : EX_IOERR;
}

/* A hidden sibling of dir, so that the rename stays in one file system. */
static int
make_tmp(struct get *g, const char *dir)
{
	return file_mkdtemp_beside(dir, "s3snap", g->tmp, sizeof(g->tmp)) ==
	    0 ? 0 : EX_CANTCREAT;
}

static int
transfer(struct get *g, const char *dir)
{
	char label[S3_PREFIX_MAX + 128];
	struct s3pool_opts po = { g->o->conf, g->o->uri.bucket, g->o->cancel,
	    g->o->progress, label, 0, NULL };
	uint64_t moved = 0, size = 0, t0 = mono_ms();
	int rc;

	for (int i = 0; i < g->l.nfiles; i++) {
		po.total += g->l.file[i].ext.total;
		size += g->l.file[i].size;
	}
	snprintf(label, sizeof(label), "get s3://%s/%s", g->o->uri.bucket,
	    g->o->uri.prefix);
	if (s3layer_plan(&g->l, false, &g->task, &g->ntasks) == -1)
		return EX_OSERR;
	if ((rc = make_tmp(g, dir)) != 0 || (rc = make_files(g)) != 0 ||
	    (rc = s3pool_run(&po, g->ntasks, get_part, g, &moved)) != 0 ||
	    (rc = sync_files(g)) != 0 || (rc = check(g)) != 0 ||
	    (rc = publish(g, dir)) != 0)
		return rc;
	snprintf(label, sizeof(label), "get s3://%s/%s to %s", g->o->uri.bucket,
	    g->o->uri.prefix, dir);
	s3sync_summary(label, size, moved, mono_ms() - t0);
	return 0;
}

int
s3sync_read_index(struct s3 *s, const char *prefix, struct s3layer *l,
    bool loud)
{
	char key[S3LAYER_KEY_MAX], what[S3LAYER_KEY_MAX + 128], code[64];
	struct s3_buf b = { 0 };
	int rc;

	s3layer_key(prefix, S3LAYER_INDEX, key, sizeof(key));
	snprintf(what, sizeof(what), "s3://%s/%s", s->bucket, key);
	rc = s3_get_all(s, key, S3LAYER_INDEX_MAX, true, &b, code);
	if (rc == EX_NOINPUT && strcmp(code, "NoSuchBucket") == 0)
		log_warnx("s3://%s: no such bucket (HTTP 404 NoSuchBucket)",
		    s->bucket);
	else if (rc == EX_NOINPUT && loud)
		log_warnx("s3://%s/%s: no such layer (no object %s: HTTP 404 "
		    "%s)", s->bucket, prefix, key, code);
	else if (rc == 0 && (b.data == NULL ||
	    s3layer_parse(l, b.data, what) == -1))
		rc = EX_DATAERR;
	s3_buf_free(&b);
	return rc;
}

int
s3sync_get(const struct s3sync *o, const char *dir)
{
	struct get g = { .o = o };
	struct stat st;
	struct s3 s;
	int rc;

	s3layer_init(&g.l);
	if (s3_open(&s, o->conf, o->uri.bucket) == -1)
		return EX_OSERR;
	s.cancel = o->cancel;
	rc = s3sync_read_index(&s, o->uri.prefix, &g.l, true);
	s3_close(&s);
	if (rc == 0 && lstat(dir, &st) == 0)
		rc = existing(&g, dir);
	else if (rc == 0 && (rc = transfer(&g, dir)) != 0)
		remove_tmp(&g);
	s3layer_free(&g.l);
	free(g.task);
	return rc;
}
