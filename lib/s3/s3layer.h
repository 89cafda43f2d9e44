/*
 * A snapshot layer as s3snap stores it (s3snap(1), "OBJECTS IN THE
 * STORE"): each file of the layer directory is one object holding only
 * the file's data extents, back to back, and the index object, written
 * last, says where each extent goes and gives the SHA-256 of every part
 * of every object.  Since version 2 the objects of one upload sit under
 * a name of their own, PREFIX/M/, M the SHA-256 of the layer's
 * manifest.json: puts of different layers to one prefix never write the
 * same object, and the index, one object, names one whole layer.
 * Version 3 adds the SHA-256 of every chunk_size bytes of each object,
 * so that a page server (snappager(1)) can fetch and check a small
 * piece of a layer where a guest touches it, without the whole part.
 */
#ifndef SNAPVM_S3LAYER_H
#define SNAPVM_S3LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "extent.h"
#include "s3conf.h"
#include "s3ops.h"

struct s3;
struct s3pool_opts;

#define S3LAYER_INDEX		"s3snap-index.json"
#define S3LAYER_FORMAT		"snapvm-s3snap-layer"
#define S3LAYER_VERSION		3	/* written; 3 adds chunks */
#define S3LAYER_MIN_VERSION	1	/* read: objects right under PREFIX/ */
#define S3LAYER_CHUNK_VERSION	3	/* the first with chunk digests */
#define S3LAYER_CHUNK		(256 * 1024)	/* chunk_size written */
#define S3LAYER_CHUNK_MIN	4096	/* read: a power of two from here */
#define S3LAYER_FILES		5	/* manifest.json and snap_file_name */
#define S3LAYER_INDEX_MAX	(64 * 1024 * 1024)
/* PREFIX/M, and PREFIX/M/NAME (NAME at most s3snap-index.json) */
#define S3LAYER_BASE_MAX	(S3_PREFIX_MAX + 72)
#define S3LAYER_KEY_MAX		(S3LAYER_BASE_MAX + 32)

struct s3file {
	char name[16];
	uint64_t size;
	char sha256[DIGEST_HEX];	/* of the whole file */
	struct extents ext;		/* ext.total: bytes in the store */
	size_t nparts;
	char (*part_sha)[DIGEST_HEX];
	size_t nchunks;			/* version 3: ext.total / chunk_size,
					 * rounded up; else 0 */
	char (*chunk_sha)[DIGEST_HEX];

	/* While transferring. */
	int fd;
	char upload_id[S3_UPLOAD_ID_MAX];	/* multipart: nparts > 1 */
	char (*etag)[S3_ETAG_MAX];
};

struct s3layer {
	int version;			/* of the index: where the objects are */
	char id[DIGEST_HEX];
	bool diff;
	uint64_t part_size;
	uint64_t chunk_size;		/* 0: the index has none (version < 3) */
	int nfiles;
	struct s3file file[S3LAYER_FILES];	/* manifest.json first */
};

/* The layer in directory dir, checked against its manifest, files open,
 * each one's extents its blocks that are not all zeros.  0 or a sysexits
 * status. */
int s3layer_local(struct s3layer *l, const char *dir, uint64_t part_size);
/* The index object's text in the format of l->version (put's:
 * S3LAYER_VERSION), chunk digests from S3LAYER_CHUNK_VERSION on (free
 * it); NULL if out of memory. */
char *s3layer_index(const struct s3layer *l);
/* An index object read from the store (what: its name for messages);
 * every field checked, as the store is not trusted. */
int s3layer_parse(struct s3layer *l, const char *text, const char *what);
void s3layer_init(struct s3layer *l);		/* empty, no file open */
void s3layer_free(struct s3layer *l);

/* Whether name is one a layer may hold (manifest.json, state, ...). */
bool s3layer_known(const char *name);
/* PREFIX/NAME; -1 if too long. */
int s3layer_key(const char *prefix, const char *name, char *out,
    size_t size);
/* Where the layer's file objects are: PREFIX/M (version 2 on, M the
 * SHA-256 of its manifest.json, file[0]) or PREFIX (version 1). */
void s3layer_objects(const struct s3layer *l, const char *prefix, char *out,
    size_t size);
/* The key of f's object, of the layer stored under prefix. */
void s3layer_file_key(const struct s3layer *l, const char *prefix,
    const struct s3file *f, char out[S3LAYER_KEY_MAX]);
/* One part of one file: the unit of work of a transfer. */
struct s3task {
	int file;
	size_t part;
};

/* Every part of every file, file by file; with empty_too, a file without
 * data counts as one empty part.  0, or -1 if out of memory. */
int s3layer_plan(const struct s3layer *l, bool empty_too, struct s3task **t,
    size_t *n);
/* A task being worked on: its file, object, packed range and buffer. */
struct s3part {
	struct s3file *f;
	size_t i;
	char key[S3LAYER_KEY_MAX];
	uint64_t at;
	size_t len;
	char *buf;			/* len bytes (free it) */
};

/* Sets up part for task t of the layer stored under prefix: 0, or
 * EX_OSERR (logged) if out of memory. */
int s3layer_part(struct s3layer *l, const char *prefix,
    const struct s3task *t, struct s3part *part);
/* How many parts f's extents make. */
size_t s3layer_nparts(const struct s3layer *l, const struct s3file *f);
/* Allocates part_sha and etag for f's parts. */
int s3layer_parts(const struct s3layer *l, struct s3file *f);

/* Chunks (version 3): the unit a page server fetches and checks.  Chunk
 * c of a file is bytes [c * chunk_size, (c + 1) * chunk_size) of its
 * object, the last one shorter; part_size is a multiple of chunk_size, so
 * a part holds whole chunks.  These functions only read l: threads may
 * share one layer, each with its own struct s3. */
/* How many chunks f's object makes (0 without chunk_size). */
size_t s3layer_nchunks(const struct s3layer *l, const struct s3file *f);
/* Allocates chunk_sha for f's s3layer_nchunks() chunks: 0, or -1 (logged)
 * if out of memory. */
int s3layer_chunks(const struct s3layer *l, struct s3file *f);
/* The digests of the chunks in buf, object bytes [at, at+len) of f: at a
 * multiple of chunk_size, len whole chunks or up to the object's end (a
 * part).  Nothing without chunk digests. */
void s3layer_hash_chunks(const struct s3layer *l, struct s3file *f,
    uint64_t at, const void *buf, size_t len);
/* Chunk c of f (c < f->nchunks): where it is in f's object. */
void s3layer_chunk_span(const struct s3layer *l, const struct s3file *f,
    size_t c, uint64_t *obj_off, size_t *len);
/* The chunk holding byte off of f's file, and that byte's place in the
 * object; false if off is in a hole (the file is zeros there) or past
 * its end, or the index has no chunks. */
bool s3layer_chunk_at(const struct s3layer *l, const struct s3file *f,
    uint64_t off, size_t *c, uint64_t *obj_off);
/* Fetches chunk c of f, of the layer stored under prefix, into buf (at
 * least l->chunk_size bytes; *len: the chunk's) with one ranged GET, and
 * checks it against the index: 0, or a sysexits status, logged naming the
 * object, the chunk and its bytes (EX_DATAERR: not the index's digest or
 * length; EX_SOFTWARE: no such chunk). */
int s3layer_get_chunk(struct s3 *s, const struct s3layer *l,
    const char *prefix, const struct s3file *f, size_t c, char *buf,
    size_t *len);
/* Fetches the whole of f into fd, made a file of f->size bytes: whole
 * chunks in order, up to 8 MiB of them a request, each checked against
 * its digest and written at its place in the file; then checks the
 * file's SHA-256, read back from fd, against the index (fd's offset is
 * moved): 0 or a sysexits status (logged, naming the object). */
int s3layer_get_file(struct s3 *s, const struct s3layer *l,
    const char *prefix, const struct s3file *f, int fd);
/* One file for s3layer_get_files: f of layer l, stored under
 * s3://bucket/prefix, into fd; its requests counted on count (NULL:
 * not counted). */
struct s3layer_want {
	const struct s3layer *l;
	const char *bucket, *prefix;
	const struct s3file *f;
	int fd;
	struct s3_count *count;
};

/* The most one request of s3layer_get_files asks for (at least one
 * chunk): small enough that a working set of a few MiB is spread over
 * every connection. */
#define S3LAYER_TASK_MAX	(1u << 20)

/* Fetches the files of want[0..n-1] whole, as s3layer_get_file does, but
 * all at once: each file's chunks in runs of up to S3LAYER_TASK_MAX
 * bytes, each run one ranged GET, run on o->conf->jobs connections of
 * their own (s3pool_run: o->pace, o->cancel; o->bucket the one they
 * open with, any want's bucket served); each chunk checked against its
 * digest and written at its place, then each file's SHA-256 read back
 * and checked.  0, or the first failure's sysexits status (logged naming
 * the object, the chunks and their bytes); the files are then partial.
 * *requests: the runs planned. */
int s3layer_get_files(const struct s3pool_opts *o,
    const struct s3layer_want *want, size_t n, size_t *requests);
/* buf, the len bytes at offset at of object key (piece: "part N" or
 * "chunk N" for messages), against want, a SHA-256 from the index: 0, or
 * EX_DATAERR logged naming the object, the piece and its bytes. */
int s3layer_check_digest(const struct s3 *s, const char *key,
    const char *piece, uint64_t at, const void *buf, size_t len,
    const char *want);
/* A layer's manifest.json (text of len bytes) agrees with its index:
 * the index's size and digest of it, the same id and kind and the same
 * files, sizes and digests.  0, or EX_DATAERR logged naming what (the
 * object) and the field. */
int s3layer_check_manifest(const struct s3layer *l, const char *text,
    size_t len, const char *what);

#endif
