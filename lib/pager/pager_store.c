/*
 * A layer in a store: its index read, and everything but its memory
 * fetched whole into a temporary directory beside its destination
 * before the runner is told where it is; memory is a hole of its full
 * size, filled chunk by chunk while the VM runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "monotime.h"
#include "pager.h"
#include "s3pool.h"
#include "s3sync.h"

/* The chunks are what the pager checks: an index without them cannot
 * be served, and one whose chunks a page straddles is not s3snap's. */
static int
check_index(struct pager_layer *l)
{
	const struct s3layer *x = &l->idx;

	if (x->version < S3LAYER_CHUNK_VERSION || x->chunk_size == 0) {
		log_warnx("%s: the store's index (version %d) has no chunk "
		    "digests, which snappager checks (version %d on); put the "
		    "layer again with this s3snap", l->spec, x->version,
		    S3LAYER_CHUNK_VERSION);
		return EX_DATAERR;
	}
	if (x->chunk_size > PAGER_CHUNK_MAX || x->chunk_size % PAGER_PAGE) {
		log_warnx("%s: chunk_size %ju: snappager takes whole pages up "
		    "to %u bytes", l->spec, (uintmax_t)x->chunk_size,
		    PAGER_CHUNK_MAX);
		return EX_DATAERR;
	}
	for (int i = 0; i < x->nfiles; i++)
		if (strcmp(x->file[i].name, snap_file_name[SNAP_MEMORY]) == 0)
			l->mf = &l->idx.file[i];
	if (l->mf == NULL) {
		log_warnx("%s: the index has no memory file", l->spec);
		return EX_DATAERR;
	}
	for (size_t i = 0; i < l->mf->ext.n; i++)
		if (l->mf->ext.v[i].off % PAGER_PAGE ||
		    l->mf->ext.v[i].len % PAGER_PAGE) {
			log_warnx("%s: the index's memory extent %zu is not whole "
			    "pages", l->spec, i);
			return EX_DATAERR;
		}
	return 0;
}

/* The destination is there already: this very layer, then local. */
static int
existing(struct pager_layer *l)
{
	if (!pager_layer_holds(l)) {
		log_warnx("%s: exists and is not the layer s3://%s/%s", l->dir,
		    l->uri.bucket, l->uri.prefix);
		return EX_CANTCREAT;
	}
	log_info("%s: holds s3://%s/%s already", l->dir, l->uri.bucket,
	    l->uri.prefix);
	s3layer_free(&l->idx);
	l->mf = NULL;
	l->store = false;
	return pager_local_open(l);
}

/* tmp/NAME made at its full size, a hole; O_RDWR. */
static int
make_file(struct pager_layer *l, const struct s3file *f, int *fd)
{
	char path[PAGER_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", l->tmp, f->name);
	*fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (*fd == -1) {
		log_warn("%s", path);
		return EX_CANTCREAT;
	}
	if (ftruncate(*fd, (off_t)f->size) == -1) {
		log_warn("%s", path);
		return EX_IOERR;
	}
	return 0;
}

/* manifest.json over the layer's own connection (warm from the index):
 * the one file fetched alone. */
static int
fetch_file(struct pager_layer *l, const struct s3file *f)
{
	int fd, rc;

	if ((rc = make_file(l, f, &fd)) == 0 &&
	    (rc = s3layer_get_file(&l->s3, &l->idx, l->uri.prefix, f,
	    fd)) == 0 && fsync(fd) == -1) {
		log_warn("%s/%s", l->tmp, f->name);
		rc = EX_IOERR;
	}
	if (fd != -1)
		close(fd);
	l->files++;
	return rc;
}

/* manifest.json first: it must agree with the index before the other
 * files' names and sizes are taken from it. */
static int
fetch_manifest(struct pager_layer *l)
{
	char path[PAGER_PATH_MAX + 32], *text;
	uint64_t size;
	int fd, rc;

	if ((rc = fetch_file(l, &l->idx.file[0])) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/manifest.json", l->tmp);
	if ((fd = file_open_regular(path, &size)) == -1)
		return EX_IOERR;
	rc = EX_DATAERR;
	if (size > SNAP_META_MAX)
		log_warnx("%s: %ju bytes, too big for a manifest", path,
		    (uintmax_t)size);
	else if ((text = malloc(size + 1)) == NULL)
		rc = EX_OSERR;
	else {
		if (file_read_all(fd, path, text, (size_t)size) == 0 &&
		    s3layer_check_manifest(&l->idx, text, (size_t)size,
		    path) == 0 &&
		    snapmeta_parse(path, text, (size_t)size, &l->m) == 0)
			rc = 0;
		free(text);
	}
	close(fd);
	return rc;
}

/* The files of a stored layer that are fetched whole after its
 * manifest: every one but manifest.json and memory. */
static bool
fetched_whole(const struct pager_layer *l, int i)
{
	return l->store && i > 0 && &l->idx.file[i] != l->mf;
}

/* The memory file, a hole, and what the other files tell about it. */
static int
finish_layer(struct pager_layer *l)
{
	char base[S3LAYER_BASE_MAX];
	int rc;

	s3layer_objects(&l->idx, l->uri.prefix, base, sizeof(base));
	snprintf(l->mem_key, sizeof(l->mem_key), "%s/%s", base, l->mf->name);
	if ((rc = make_file(l, l->mf, &l->mem_fd)) != 0 ||
	    (rc = pager_layer_bitmap(l, l->tmp)) != 0)
		return rc;
	return pager_layer_chunks(l, PAGER_ABSENT);
}

/* want[0..*n-1]: every file of every stored layer fetched whole, each
 * made in its layer's temporary directory. */
static int
plan_files(struct pager_layer *ls, int nl, struct s3layer_want *want,
    struct pager_layer **of, size_t *n)
{
	int rc;

	for (int k = 0; k < nl; k++)
		for (int i = 0; i < ls[k].idx.nfiles; i++) {
			struct pager_layer *l = &ls[k];
			struct s3layer_want *w = &want[*n];

			if (!fetched_whole(l, i))
				continue;
			*w = (struct s3layer_want){ &l->idx, l->uri.bucket,
			    l->uri.prefix, &l->idx.file[i], -1, &l->net };
			of[(*n)++] = l;
			if ((rc = make_file(l, w->f, &w->fd)) != 0)
				return rc;
			l->files++;
		}
	return 0;
}

/* Synced, then closed whatever happened. */
static int
close_files(struct pager_layer **of, struct s3layer_want *want, size_t n,
    int rc)
{
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && want[i].fd != -1 && fsync(want[i].fd) == -1) {
			log_warn("%s/%s", of[i]->tmp, want[i].f->name);
			rc = EX_IOERR;
		}
		if (want[i].fd != -1)
			close(want[i].fd);
	}
	return rc;
}

int
pager_store_files(struct pager_layer *ls, int nl, const struct s3conf *conf,
    const volatile sig_atomic_t *cancel, struct s3_pace *pace)
{
	struct s3layer_want want[SNAP_MAX_LAYERS * S3LAYER_FILES];
	struct pager_layer *of[SNAP_MAX_LAYERS * S3LAYER_FILES];
	struct s3pool_opts po = { .conf = conf, .cancel = cancel,
	    .pace = pace };
	size_t n = 0, requests = 0;
	uint64_t bytes = 0, t0 = mono_ms();
	int rc;

	rc = plan_files(ls, nl, want, of, &n);
	if (rc == 0 && n > 0) {
		po.bucket = want[0].bucket;
		rc = s3layer_get_files(&po, want, n, &requests);
	}
	if ((rc = close_files(of, want, n, rc)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		bytes += want[i].f->ext.total;
	if (n > 0)
		log_info("stored layers' files: %zu fetched whole, %ju bytes, "
		    "in %zu requests on %zu connections, %ju ms", n,
		    (uintmax_t)bytes, requests, requests < conf->jobs ?
		    requests : (size_t)conf->jobs, (uintmax_t)(mono_ms() - t0));
	for (int k = 0; rc == 0 && k < nl; k++)
		if (ls[k].store)
			rc = finish_layer(&ls[k]);
	return rc;
}

int
pager_store_open(struct pager_layer *l, const struct s3conf *conf,
    const volatile sig_atomic_t *cancel, struct s3_pace *pace)
{
	struct stat st;
	int rc;

	if (s3_open(&l->s3, conf, l->uri.bucket) == -1)
		return EX_OSERR;
	l->s3_open = true;
	l->s3.cancel = cancel;
	l->s3.count = &l->net;
	l->s3.pace = pace;
	if ((rc = s3sync_read_index(&l->s3, l->uri.prefix, &l->idx, true)) != 0)
		return rc;
	if (lstat(l->dir, &st) == 0)
		return existing(l);
	if (errno != ENOENT) {
		log_warn("%s", l->dir);
		return EX_CANTCREAT;
	}
	if ((rc = check_index(l)) != 0)
		return rc;
	if (file_mkdtemp_beside(l->dir, "pager", l->tmp, sizeof(l->tmp)) == -1)
		return EX_CANTCREAT;
	return fetch_manifest(l);
}
