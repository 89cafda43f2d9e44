/* The index object of a stored layer: written by put, checked by get. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "s3layer.h"
#include "snapmeta.h"

#define FILE_SIZE_MAX	(1ULL << 40)
#define PART_SIZE_MIN	(1ULL << 20)
#define PART_SIZE_MAX	(1ULL << 30)

/* An array of the n digests at sha. */
static json_object *
index_digests(char (*sha)[DIGEST_HEX], size_t n)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(sha[i]));
	return a;
}

static json_object *
index_file(const struct s3layer *l, const struct s3file *f)
{
	json_object *o = json_object_new_object();
	json_object *ext = json_object_new_array();

	json_object_object_add(o, "name", json_object_new_string(f->name));
	json_object_object_add(o, "size",
	    json_object_new_int64((int64_t)f->size));
	json_object_object_add(o, "sha256", json_object_new_string(f->sha256));
	for (size_t i = 0; i < f->ext.n; i++) {
		json_object *e = json_object_new_array();

		json_object_array_add(e,
		    json_object_new_int64((int64_t)f->ext.v[i].off));
		json_object_array_add(e,
		    json_object_new_int64((int64_t)f->ext.v[i].len));
		json_object_array_add(ext, e);
	}
	json_object_object_add(o, "extents", ext);
	json_object_object_add(o, "parts",
	    index_digests(f->part_sha, f->nparts));
	if (l->version >= S3LAYER_CHUNK_VERSION)
		json_object_object_add(o, "chunks",
		    index_digests(f->chunk_sha, f->nchunks));
	return o;
}

char *
s3layer_index(const struct s3layer *l)
{
	json_object *o = json_object_new_object(), *files;
	char *text;

	json_object_object_add(o, "format",
	    json_object_new_string(S3LAYER_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(l->version));
	json_object_object_add(o, "id", json_object_new_string(l->id));
	json_object_object_add(o, "kind",
	    json_object_new_string(l->diff ? "diff" : "full"));
	json_object_object_add(o, "part_size",
	    json_object_new_int64((int64_t)l->part_size));
	if (l->version >= S3LAYER_CHUNK_VERSION)
		json_object_object_add(o, "chunk_size",
		    json_object_new_int64((int64_t)l->chunk_size));
	files = json_object_new_array();
	for (int i = 0; i < l->nfiles; i++)
		json_object_array_add(files, index_file(l, &l->file[i]));
	json_object_object_add(o, "files", files);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return text;
}

/* Field readers: every message names the index object and the field. */
static json_object *
member(const char *what, json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t)) {
		log_warnx("%s: field \"%s\" is missing or not %s", what, key,
		    json_type_to_name(t));
		return NULL;
	}
	return v;
}

static int
u64(const char *what, json_object *v, const char *field, uint64_t max,
    uint64_t *out)
{
	int64_t x;

	if (!json_object_is_type(v, json_type_int) ||
	    (x = json_object_get_int64(v)) < 0 || (uint64_t)x > max) {
		log_warnx("%s: %s: not a number from 0 to %ju", what, field,
		    (uintmax_t)max);
		return -1;
	}
	*out = (uint64_t)x;
	return 0;
}

static int
hash(const char *what, json_object *v, const char *field,
    char out[DIGEST_HEX])
{
	const char *h = json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : "";

	if (strlen(h) != DIGEST_HEX - 1 ||
	    strspn(h, "0123456789abcdef") != DIGEST_HEX - 1) {
		log_warnx("%s: %s: not a SHA-256 in hex", what, field);
		return -1;
	}
	memcpy(out, h, DIGEST_HEX);
	return 0;
}

/* Extents in order, apart, inside the file. */
static int
parse_extents(const char *what, json_object *a, struct s3file *f)
{
	uint64_t end = 0, off, len;
	char field[64];

	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		snprintf(field, sizeof(field), "%s: extents[%zu]", f->name, i);
		if (!json_object_is_type(e, json_type_array) ||
		    json_object_array_length(e) != 2 ||
		    u64(what, json_object_array_get_idx(e, 0), field, f->size,
		    &off) == -1 ||
		    u64(what, json_object_array_get_idx(e, 1), field, f->size,
		    &len) == -1)
			return -1;
		if (off < end || len == 0 || len > f->size - off) {
			log_warnx("%s: %s: overlaps, is empty or ends past %ju",
			    what, field, (uintmax_t)f->size);
			return -1;
		}
		if (extents_add(&f->ext, off, len) == -1) {
			log_warn("%s", what);
			return -1;
		}
		end = off + len;
	}
	return 0;
}

/* f's "parts" or "chunks" (what), want of them, into *sha (allocated by
 * alloc); each a SHA-256 in lower-case hex. */
static int
parse_digests(const char *what, const struct s3layer *l, json_object *a,
    struct s3file *f, const char *field, size_t want,
    int (*alloc)(const struct s3layer *, struct s3file *),
    char (**sha)[DIGEST_HEX])
{
	char name[64];

	/* Checked before the arrays are made: their size then follows from
	 * the index's own, not from a size an index of a few bytes claims. */
	if (json_object_array_length(a) != want) {
		log_warnx("%s: %s: %zu %s, its extents make %zu", what,
		    f->name, json_object_array_length(a), field, want);
		return -1;
	}
	if (alloc(l, f) == -1)
		return -1;
	for (size_t i = 0; i < want; i++) {
		snprintf(name, sizeof(name), "%s: %s[%zu]", f->name, field, i);
		if (hash(what, json_object_array_get_idx(a, i), name,
		    (*sha)[i]) == -1)
			return -1;
	}
	return 0;
}

static int
parse_file(const char *what, struct s3layer *l, json_object *o)
{
	struct s3file *f = &l->file[l->nfiles];
	json_object *v;

	if (!json_object_is_type(o, json_type_object) ||
	    (v = member(what, o, "name", json_type_string)) == NULL)
		return -1;
	if (!s3layer_known(json_object_get_string(v))) {
		log_warnx("%s: files: \"%s\" is not a file of a layer", what,
		    json_object_get_string(v));
		return -1;
	}
	snprintf(f->name, sizeof(f->name), "%s", json_object_get_string(v));
	for (int i = 0; i < l->nfiles; i++)
		if (strcmp(l->file[i].name, f->name) == 0) {
			log_warnx("%s: files: \"%s\" twice", what, f->name);
			return -1;
		}
	l->nfiles++;
	if ((v = member(what, o, "size", json_type_int)) == NULL ||
	    u64(what, v, "size", FILE_SIZE_MAX, &f->size) == -1 ||
	    (v = member(what, o, "sha256", json_type_string)) == NULL ||
	    hash(what, v, "sha256", f->sha256) == -1 ||
	    (v = member(what, o, "extents", json_type_array)) == NULL ||
	    parse_extents(what, v, f) == -1 ||
	    (v = member(what, o, "parts", json_type_array)) == NULL ||
	    parse_digests(what, l, v, f, "parts", s3layer_nparts(l, f),
	    s3layer_parts, &f->part_sha) == -1)
		return -1;
	if (l->version < S3LAYER_CHUNK_VERSION)
		return 0;
	if ((v = member(what, o, "chunks", json_type_array)) == NULL)
		return -1;
	return parse_digests(what, l, v, f, "chunks", s3layer_nchunks(l, f),
	    s3layer_chunks, &f->chunk_sha);
}

/* A power of two from S3LAYER_CHUNK_MIN that divides part_size: each
 * part holds whole chunks. */
static int
parse_chunk_size(const char *what, json_object *o, struct s3layer *l)
{
	json_object *v = member(what, o, "chunk_size", json_type_int);
	uint64_t c;

	if (v == NULL || u64(what, v, "chunk_size", l->part_size, &c) == -1)
		return -1;
	if (c < S3LAYER_CHUNK_MIN || (c & (c - 1)) != 0 ||
	    l->part_size % c != 0) {
		log_warnx("%s: chunk_size: %ju is not a power of two from %d "
		    "that divides part_size (%ju)", what, (uintmax_t)c,
		    S3LAYER_CHUNK_MIN, (uintmax_t)l->part_size);
		return -1;
	}
	l->chunk_size = c;
	return 0;
}

static int
parse_header(const char *what, json_object *o, struct s3layer *l)
{
	json_object *v;
	const char *kind;

	if ((v = member(what, o, "format", json_type_string)) == NULL ||
	    strcmp(json_object_get_string(v), S3LAYER_FORMAT) != 0) {
		log_warnx("%s: not an s3snap layer index", what);
		return -1;
	}
	if ((v = member(what, o, "version", json_type_int)) == NULL)
		return -1;
	l->version = json_object_get_int(v);
	if (l->version < S3LAYER_MIN_VERSION || l->version > S3LAYER_VERSION) {
		log_warnx("%s: layer format version %d, this program reads "
		    "versions %d to %d", what, l->version, S3LAYER_MIN_VERSION,
		    S3LAYER_VERSION);
		return -1;
	}
	if ((v = member(what, o, "id", json_type_string)) == NULL ||
	    hash(what, v, "id", l->id) == -1 ||
	    (v = member(what, o, "kind", json_type_string)) == NULL)
		return -1;
	kind = json_object_get_string(v);
	if (strcmp(kind, "full") != 0 && strcmp(kind, "diff") != 0) {
		log_warnx("%s: kind: \"%s\" is neither full nor diff", what, kind);
		return -1;
	}
	l->diff = kind[0] == 'd';
	if ((v = member(what, o, "part_size", json_type_int)) == NULL ||
	    u64(what, v, "part_size", PART_SIZE_MAX, &l->part_size) == -1)
		return -1;
	if (l->part_size < PART_SIZE_MIN) {
		log_warnx("%s: part_size: %ju is below 1 MiB", what,
		    (uintmax_t)l->part_size);
		return -1;
	}
	return l->version < S3LAYER_CHUNK_VERSION ? 0 :
	    parse_chunk_size(what, o, l);
}

static int
parse_files(const char *what, json_object *o, struct s3layer *l)
{
	json_object *a = member(what, o, "files", json_type_array);

	if (a == NULL)
		return -1;
	if (json_object_array_length(a) > S3LAYER_FILES) {
		log_warnx("%s: files: more than %d", what, S3LAYER_FILES);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (parse_file(what, l, json_object_array_get_idx(a, i)) == -1)
			return -1;
	if (l->nfiles == 0 || strcmp(l->file[0].name, "manifest.json") != 0) {
		log_warnx("%s: files: manifest.json is not the first", what);
		return -1;
	}
	if (l->file[0].size > SNAP_META_MAX) {
		log_warnx("%s: files: manifest.json: size %ju, a manifest has "
		    "at most %d bytes", what, (uintmax_t)l->file[0].size,
		    SNAP_META_MAX);
		return -1;
	}
	return 0;
}

int
s3layer_parse(struct s3layer *l, const char *text, const char *what)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	int rc = -1;

	s3layer_init(l);
	if (tok == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))
		log_warnx("%s: not a JSON object", what);
	else if (parse_header(what, o, l) == 0 && parse_files(what, o, l) == 0)
		rc = 0;
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}
