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

int
s3layer_part(struct s3layer *l, const char *prefix, const struct s3task *t,
    struct s3part *part)
{
	char base[S3LAYER_BASE_MAX];
	uint64_t left;

	part->f = &l->file[t->file];
	part->i = t->part;
	s3layer_objects(l, prefix, base, sizeof(base));
	s3layer_key(base, part->f->name, part->key, sizeof(part->key));
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
		free(f->etag);
	}
	s3layer_init(l);
}

/* One file of the layer: opened, its extents found. */
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
	if (extents_scan(f->fd, path, size, &f->ext) == -1)
		return EX_IOERR;
	return s3layer_parts(l, f) == 0 ? 0 : EX_OSERR;
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
	l->version = S3LAYER_VERSION;
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
