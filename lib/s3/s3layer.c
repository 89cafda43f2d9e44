#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "s3layer.h"
#include "snapmeta.h"

bool
s3layer_known(const char *name)
{
	if (strcmp(name, "manifest.json") == 0)
		return true;
	for (int i = 0; i < SNAP_NFILES; i++)
		if (strcmp(name, snap_file_name[i]) == 0)
			return true;
	return false;
}

int
s3layer_key(const char *prefix, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", prefix, name);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

void
s3layer_objects(const struct s3layer *l, const char *prefix, char *out,
    size_t size)
{
	if (l->version >= 2)
		snprintf(out, size, "%s/%s", prefix, l->file[0].sha256);
	else
		snprintf(out, size, "%s", prefix);
}

void
s3layer_file_key(const struct s3layer *l, const char *prefix,
    const struct s3file *f, char out[S3LAYER_KEY_MAX])
{
	char base[S3LAYER_BASE_MAX];

	s3layer_objects(l, prefix, base, sizeof(base));
	s3layer_key(base, f->name, out, S3LAYER_KEY_MAX);
}

int
s3layer_part(struct s3layer *l, const char *prefix, const struct s3task *t,
    struct s3part *part)
{
	uint64_t left;

	part->f = &l->file[t->file];
	part->i = t->part;
	s3layer_file_key(l, prefix, part->f, part->key);
	part->at = (uint64_t)t->part * l->part_size;
	left = part->f->ext.total - part->at;
	part->len = (size_t)(left < l->part_size ? left : l->part_size);
	if ((part->buf = malloc(part->len ? part->len : 1)) == NULL) {
		log_warn("%s", part->f->name);
		return EX_OSERR;
	}
	return 0;
}

size_t
s3layer_nparts(const struct s3layer *l, const struct s3file *f)
{
	return (size_t)((f->ext.total + l->part_size - 1) / l->part_size);
}

int
s3layer_parts(const struct s3layer *l, struct s3file *f)
{
	f->nparts = s3layer_nparts(l, f);
	f->part_sha = calloc(f->nparts ? f->nparts : 1, sizeof(*f->part_sha));
	f->etag = calloc(f->nparts ? f->nparts : 1, sizeof(*f->etag));
	if (f->part_sha == NULL || f->etag == NULL) {
		log_warn("%s", f->name);
		return -1;
	}
	return 0;
}

size_t
s3layer_nchunks(const struct s3layer *l, const struct s3file *f)
{
	if (l->chunk_size == 0)
		return 0;
	return (size_t)((f->ext.total + l->chunk_size - 1) / l->chunk_size);
}

int
s3layer_chunks(const struct s3layer *l, struct s3file *f)
{
	f->nchunks = s3layer_nchunks(l, f);
	f->chunk_sha = calloc(f->nchunks ? f->nchunks : 1,
	    sizeof(*f->chunk_sha));
	if (f->chunk_sha == NULL) {
		log_warn("%s", f->name);
		return -1;
	}
	return 0;
}

int
s3layer_plan(const struct s3layer *l, bool empty_too, struct s3task **t,
    size_t *n)
{
	size_t total = 0;

	for (int i = 0; i < l->nfiles; i++)
		total += l->file[i].nparts ? l->file[i].nparts : empty_too;
	*n = 0;
	if ((*t = calloc(total ? total : 1, sizeof(**t))) == NULL) {
		log_warn("planning the transfer");
		return -1;
	}
	for (int i = 0; i < l->nfiles; i++)
		for (size_t j = 0; j < l->file[i].nparts ||
		    (j == 0 && empty_too && l->file[i].nparts == 0); j++)
			(*t)[(*n)++] = (struct s3task){ i, j };
	return 0;
}

void
s3layer_init(struct s3layer *l)
{
	memset(l, 0, sizeof(*l));
	for (int i = 0; i < S3LAYER_FILES; i++)
		l->file[i].fd = -1;
}

void
s3layer_free(struct s3layer *l)
{
	for (int i = 0; i < l->nfiles; i++) {
		struct s3file *f = &l->file[i];

		if (f->fd != -1)
			close(f->fd);
		extents_free(&f->ext);
		free(f->part_sha);
		free(f->chunk_sha);
		free(f->etag);
	}
	s3layer_init(l);
}

/* One file of the layer: opened, its extents found.  Its blocks of
 * zeros are holes too: a file system that cannot report holes (9p) shows
 * the whole file as data, and storing zeros only to fetch them again
 * costs every restore. */
static int
local_file(struct s3layer *l, const char *dir, const char *name,
    uint64_t size, const char *sha)
{
	struct s3file *f = &l->file[l->nfiles++];
	char path[4096];
	struct stat st;

	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->sha256, sizeof(f->sha256), "%s", sha);
	f->size = size;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(f->fd, &st) == -1) {
		log_warn("%s", path);
		return EX_NOINPUT;
	}
	if ((uint64_t)st.st_size != size) {
		log_warnx("%s: changed while being read", path);
		return EX_DATAERR;
	}
	if (extents_scan_nonzero(f->fd, path, size, &f->ext) == -1)
		return EX_IOERR;
	return s3layer_parts(l, f) == 0 && s3layer_chunks(l, f) == 0 ? 0 :
	    EX_OSERR;
}

int
s3layer_local(struct s3layer *l, const char *dir, uint64_t part_size)
{
	char path[4096], hex[DIGEST_HEX];
	struct snap_meta m;
	struct stat st;
	int rc;

	s3layer_init(l);
	l->part_size = part_size;
	l->chunk_size = S3LAYER_CHUNK;
	l->version = S3LAYER_VERSION;
	if (part_size == 0 || part_size % S3LAYER_CHUNK != 0) {
		log_warnx("part_size: %ju is not a multiple of %d KiB, the "
		    "chunk size", (uintmax_t)part_size, S3LAYER_CHUNK / 1024);
		return EX_USAGE;
	}
	if (snapmeta_read(dir, &m) == -1 || snapmeta_verify(dir, &m) == -1)
		return EX_DATAERR;
	memcpy(l->id, m.id, sizeof(l->id));
	l->diff = m.diff;
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (stat(path, &st) == -1 || digest_file(path, hex) == -1)
		return EX_IOERR;
	if ((rc = local_file(l, dir, "manifest.json", (uint64_t)st.st_size,
	    hex)) != 0)
		return rc;
	for (int i = 0; i < SNAP_NFILES; i++)
		if (m.file[i].present && (rc = local_file(l, dir,
		    snap_file_name[i], m.file[i].size, m.file[i].sha256)) != 0)
			return rc;
	return 0;
}

/* Where manifest m and index l first differ, as the manifest's field
 * (written into field); false if they agree. */
static bool
disagree(const struct s3layer *l, const struct snap_meta *m, char *field,
    size_t size)
{
	int n = 1;

	if (strcmp(m->id, l->id) != 0 || m->diff != l->diff) {
		snprintf(field, size, "%s", m->diff != l->diff ? "kind" : "id");
		return true;
	}
	for (int i = 0; i < SNAP_NFILES; i++) {
		const struct s3file *f = NULL;
		const char *why;

		if (!m->file[i].present)
			continue;
		n++;
		for (int j = 1; j < l->nfiles; j++)
			if (strcmp(l->file[j].name, snap_file_name[i]) == 0)
				f = &l->file[j];
		if (f == NULL)
			why = " (not in the index)";
		else if (f->size != m->file[i].size)
			why = ".size";
		else if (strcmp(f->sha256, m->file[i].sha256) != 0)
			why = ".sha256";
		else
			continue;
		snprintf(field, size, "files.%s%s", snap_file_name[i], why);
		return true;
	}
	snprintf(field, size, "files (the index has %d, the manifest %d)",
	    l->nfiles, n);
	return n != l->nfiles;
}

int
s3layer_check_manifest(const struct s3layer *l, const char *text,
    size_t len, const char *what)
{
	char sha[DIGEST_HEX], field[64];
	struct snap_meta m;

	s3_sha256(text, len, sha);
	if (l->nfiles == 0 || len != l->file[0].size ||
	    strcmp(sha, l->file[0].sha256) != 0) {
		log_warnx("%s: %zu bytes of SHA-256 %s, the index says %ju of "
		    "%s (corrupt layer)", what, len, sha,
		    (uintmax_t)(l->nfiles ? l->file[0].size : 0),
		    l->nfiles ? l->file[0].sha256 : "none");
		return EX_DATAERR;
	}
	if (snapmeta_parse(what, text, len, &m) == -1)
		return EX_DATAERR;
	if (disagree(l, &m, field, sizeof(field))) {
		log_warnx("%s: %s: the manifest and the index disagree "
		    "(corrupt layer)", what, field);
		return EX_DATAERR;
	}
	return 0;
}
