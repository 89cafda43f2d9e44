/*
 * manifest.json, and reading the files of a layer so that what is checked
 * is what is used: each file is opened once, by a name that is no
 * symbolic link, and hashed from that descriptor or from the very bytes
 * read into memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "file.h"
#include "hash.h"
#include "ident.h"
#include "log.h"
#include "snapmeta.h"
#include "snapstate.h"
#include "vmlimits.h"
#include "workset.h"

const char *const snap_file_name[SNAP_NFILES] = { "state", "memory", "pages",
    "workset" };

static json_object *
meta_drives(const struct snap_meta *m)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < m->ndrives; i++) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "size",
		    json_object_new_int64((int64_t)m->drive[i].size));
		json_object_object_add(d, "read_only",
		    json_object_new_boolean(m->drive[i].read_only));
		json_object_object_add(d, "sha256",
		    json_object_new_string(m->drive[i].sha256));
		json_object_array_add(a, d);
	}
	return a;
}

static json_object *
meta_files(const struct snap_meta *m)
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < SNAP_NFILES; i++) {
		json_object *f;

		if (!m->file[i].present)
			continue;
		f = json_object_new_object();
		json_object_object_add(f, "size",
		    json_object_new_int64((int64_t)m->file[i].size));
		json_object_object_add(f, "sha256",
		    json_object_new_string(m->file[i].sha256));
		json_object_object_add(o, snap_file_name[i], f);
	}
	return o;
}

static int
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t n = strlen(text);
	int rc = 0;

	if (fd == -1 || write(fd, text, n) != (ssize_t)n ||
	    write(fd, "\n", 1) != 1 || fsync(fd) == -1) {
		log_warn("%s", path);
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	return rc;
}

static json_object *
meta_cpu(const struct snap_meta *m)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "template",
	    json_object_new_string(m->cpu.template_name));
	return o;
}

int
snapmeta_write(const char *path, const struct snap_meta *m)
{
	json_object *o = json_object_new_object();
	int rc;

	json_object_object_add(o, "format", json_object_new_string(SNAP_FORMAT));
	/* A layer that records no CPU (one of version 2 or 3 given a
	 * working set) is written as version 3, which has no "cpu". */
	json_object_object_add(o, "version", json_object_new_int(
	    m->cpu.present ? SNAP_META_VERSION : 3));
	json_object_object_add(o, "kind",
	    json_object_new_string(m->diff ? "diff" : "full"));
	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "parent", m->diff ?
	    json_object_new_string(m->parent) : NULL);
	json_object_object_add(o, "point", m->point[0] ?
	    json_object_new_string(m->point) : NULL);
	json_object_object_add(o, "mem_mib",
	    json_object_new_int64((int64_t)m->mem_mib));
	json_object_object_add(o, "vcpus", json_object_new_int(m->vcpus));
	json_object_object_add(o, "drives", meta_drives(m));
	json_object_object_add(o, "vsock_cid", m->vsock ?
	    json_object_new_int64((int64_t)m->cid) : NULL);
	if (m->cpu.present)
		json_object_object_add(o, "cpu", meta_cpu(m));
	json_object_object_add(o, "files", meta_files(m));
	rc = write_text(path, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	return rc;
}

/* Field readers: each names the manifest and the field when it fails. */
struct meta_src {
	const char *path;
};

static json_object *
field(const struct meta_src *s, json_object *o, const char *key,
    json_type type, bool nullable)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v)) {
		log_warnx("%s: missing field \"%s\"", s->path, key);
		return NULL;
	}
	if (v == NULL && nullable)
		return o;			/* o: "present, null" */
	if (json_object_is_type(v, type) && type == json_type_string &&
	    strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v)) {
		log_warnx("%s: field \"%s\": a NUL character", s->path, key);
		return NULL;
	}
	if (json_object_is_type(v, type))
		return v;
	log_warnx("%s: field \"%s\": expected %s%s", s->path, key,
	    json_type_to_name(type), nullable ? " or null" : "");
	return NULL;
}

/* A field of a nested object is named with its place: "drives[1].size". */
static int
only_fields(const struct meta_src *s, json_object *o, const char *where,
    const char *const *keys)
{
	json_object_object_foreach(o, key, val) {
		size_t i;

		(void)val;
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL) {
			log_warnx("%s: %s%sunknown field \"%s\"", s->path, where,
			    where[0] ? ": " : "", key);
			return -1;
		}
	}
	return 0;
}

static int
get_u64(const struct meta_src *s, json_object *o, const char *key,
    uint64_t min, uint64_t max, uint64_t *out)
{
	json_object *v = field(s, o, key, json_type_int, false);
	int64_t x;

	if (v == NULL)
		return -1;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
		log_warnx("%s: field \"%s\": %lld is out of range (%ju to %ju)",
		    s->path, key, (long long)x, (uintmax_t)min, (uintmax_t)max);
		return -1;
	}
	*out = (uint64_t)x;
	return 0;
}

static int
get_hash(const struct meta_src *s, json_object *o, const char *key,
    char out[DIGEST_HEX])
{
	json_object *v = field(s, o, key, json_type_string, false);
	const char *h = v ? json_object_get_string(v) : NULL;

	if (h == NULL)
		return -1;
	if (strlen(h) != DIGEST_HEX - 1 || strspn(h, "0123456789abcdef") !=
	    DIGEST_HEX - 1) {
		log_warnx("%s: field \"%s\": not a SHA-256 in lower-case hex",
		    s->path, key);
		return -1;
	}
	memcpy(out, h, DIGEST_HEX);
	return 0;
}

static int
meta_version(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *v;
	int version;

	if ((v = field(s, o, "format", json_type_string, false)) == NULL ||
	    strcmp(json_object_get_string(v), SNAP_FORMAT) != 0) {
		log_warnx("%s: not a snapvm snapshot manifest", s->path);
		return -1;
	}
	if ((v = field(s, o, "version", json_type_int, false)) == NULL)
		return -1;
	version = json_object_get_int(v);
	if (version == 1) {
		log_warnx("%s: snapshot format version 1, which named host files "
		    "for its drives: this program reads versions %d to %d; "
		    "rebuild the layer (make snap; ctrl rebuilds its own)",
		    s->path, SNAP_META_MIN_VERSION, SNAP_META_VERSION);
		return -1;
	}
	if (version < SNAP_META_MIN_VERSION || version > SNAP_META_VERSION) {
		log_warnx("%s: snapshot format version %d, this program reads "
		    "versions %d to %d", s->path, version, SNAP_META_MIN_VERSION,
		    SNAP_META_VERSION);
		return -1;
	}
	m->version = version;
	return 0;
}

static const char *const meta_keys[] = { "format", "version", "kind", "id",
    "parent", "point", "mem_mib", "vcpus", "drives", "vsock_cid", "cpu",
    "files", NULL };

static int
meta_header(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *v;
	const char *kind;

	if (meta_version(s, o, m) == -1 ||
	    only_fields(s, o, "", meta_keys) == -1)
		return -1;
	if ((v = field(s, o, "kind", json_type_string, false)) == NULL)
		return -1;
	kind = json_object_get_string(v);
	if (strcmp(kind, "full") != 0 && strcmp(kind, "diff") != 0) {
		log_warnx("%s: field \"kind\": \"%s\" is neither full nor diff",
		    s->path, kind);
		return -1;
	}
	m->diff = kind[0] == 'd';
	if (get_hash(s, o, "id", m->id) == -1)
		return -1;
	if (m->diff)
		return get_hash(s, o, "parent", m->parent);
	if (!json_object_object_get_ex(o, "parent", &v) || v != NULL) {
		log_warnx("%s: field \"parent\": a full layer's is null",
		    s->path);
		return -1;
	}
	return 0;
}

static int
meta_point(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *v = field(s, o, "point", json_type_string, true);
	const char *p;

	if (v == NULL)
		return -1;
	if (v == o)
		return 0;
	p = json_object_get_string(v);
	if (strcmp(p, "runtime") != 0 && strcmp(p, "app") != 0) {
		log_warnx("%s: field \"point\": neither \"runtime\" nor \"app\"",
		    s->path);
		return -1;
	}
	snprintf(m->point, sizeof(m->point), "%s", p);
	return 0;
}

static int
meta_machine(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	uint64_t vcpus;
	json_object *v;

	/* Bounds the work a layer asks for; a restore also wants at least
	 * what any VM has (MEM_MIN_MIB). */
	if (get_u64(s, o, "mem_mib", 1, MEM_MAX_MIB,
	    &m->mem_mib) == -1 ||
	    get_u64(s, o, "vcpus", 1, VM_MAX_VCPUS, &vcpus) == -1 ||
	    meta_point(s, o, m) == -1)
		return -1;
	m->vcpus = (int)vcpus;
	if ((v = field(s, o, "vsock_cid", json_type_int, true)) == NULL)
		return -1;
	m->vsock = v != o;
	/* 0-2 are the hypervisor, local and host; -1 is "any". */
	if (m->vsock && get_u64(s, o, "vsock_cid", 3, UINT32_MAX - 1,
	    &m->cid) == -1)
		return -1;
	return 0;
}

static const char *const cpu_keys[] = { "template", NULL };

static int
meta_cpu_read(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *cpu, *t;

	m->cpu.present = json_object_object_get_ex(o, "cpu", &cpu);
	if (m->cpu.present != (m->version >= 4)) {
		log_warnx("%s: field \"cpu\": %s", s->path, m->version >= 4 ?
		    "missing" : "appears in format version 4 and later");
		return -1;
	}
	if (!m->cpu.present)
		return 0;
	if (!json_object_is_type(cpu, json_type_object)) {
		log_warnx("%s: field \"cpu\": not an object", s->path);
		return -1;
	}
	if (only_fields(s, cpu, "cpu", cpu_keys) == -1 ||
	    (t = field(s, cpu, "template", json_type_string, false)) == NULL)
		return -1;
	if (!ident_ok(json_object_get_string(t), SNAP_CPU_NAME_MAX)) {
		log_warnx("%s: field \"cpu.template\": not a template's name "
		    "(1 to %d letters, digits, '.', '_' and '-')", s->path,
		    SNAP_CPU_NAME_MAX - 1);
		return -1;
	}
	snprintf(m->cpu.template_name, sizeof(m->cpu.template_name), "%s",
	    json_object_get_string(t));
	return 0;
}

static const char *const drive_keys[] = { "size", "read_only", "sha256",
    NULL };

static int
meta_drive(const struct meta_src *s, json_object *d, int i,
    struct snap_drive *out)
{
	char where[32];
	json_object *ro;

	snprintf(where, sizeof(where), "drives[%d]", i);
	if (!json_object_is_type(d, json_type_object)) {
		log_warnx("%s: %s: not an object", s->path, where);
		return -1;
	}
	if (only_fields(s, d, where, drive_keys) == -1 ||
	    get_u64(s, d, "size", 0, INT64_MAX, &out->size) == -1 ||
	    get_hash(s, d, "sha256", out->sha256) == -1 ||
	    (ro = field(s, d, "read_only", json_type_boolean, false)) == NULL) {
		log_warnx("%s: %s is malformed", s->path, where);
		return -1;
	}
	out->read_only = json_object_get_boolean(ro);
	return 0;
}

static int
meta_drive_list(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *a = field(s, o, "drives", json_type_array, false);

	if (a == NULL)
		return -1;
	if (json_object_array_length(a) > SNAP_MAX_DRIVES) {
		log_warnx("%s: field \"drives\": more than %d", s->path,
		    SNAP_MAX_DRIVES);
		return -1;
	}
	m->ndrives = (int)json_object_array_length(a);
	for (int i = 0; i < m->ndrives; i++)
		if (meta_drive(s, json_object_array_get_idx(a, (size_t)i), i,
		    &m->drive[i]) == -1)
			return -1;
	return 0;
}

/* The sizes every file must have for this machine. */
static int
meta_file_size(const struct meta_src *s, const struct snap_meta *m, int i)
{
	uint64_t mem = m->mem_mib << 20, want = i == SNAP_MEMORY ? mem :
	    mem / MEM_PAGE / 8, size = m->file[i].size;

	if (i == SNAP_STATE && (size < sizeof(struct snap_file_hdr) ||
	    size > SNAP_STATE_MAX || size % 8 != 0)) {
		log_warnx("%s: files.state.size: %ju bytes is not the size of a "
		    "state file", s->path, (uintmax_t)size);
		return -1;
	}
	if (i == SNAP_WORKSET && (size < WORKSET_MIN_SIZE ||
	    size > workset_max_size(mem / MEM_PAGE))) {
		log_warnx("%s: files.workset.size: %ju bytes is not the size of "
		    "a working set of %ju MiB of memory", s->path,
		    (uintmax_t)size, (uintmax_t)m->mem_mib);
		return -1;
	}
	if ((i == SNAP_MEMORY || i == SNAP_PAGES) && size != want) {
		log_warnx("%s: files.%s.size: %ju bytes, %ju for %ju MiB of "
		    "memory", s->path, snap_file_name[i], (uintmax_t)size,
		    (uintmax_t)want, (uintmax_t)m->mem_mib);
		return -1;
	}
	return 0;
}

static const char *const file_keys[] = { "size", "sha256", NULL };
static const char *const file_names[] = { "state", "memory", "pages",
    "workset", NULL };

/* Whether layer m must (1), may (0) or must not (-1) have file i. */
static int
file_wanted(const struct snap_meta *m, int i)
{
	if (i == SNAP_PAGES)
		return m->diff ? 1 : -1;
	if (i == SNAP_WORKSET)
		return m->version >= 3 ? 0 : -1;
	return 1;
}

static int
meta_file_list(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *files = field(s, o, "files", json_type_object, false), *f;
	char where[32];

	if (files == NULL || only_fields(s, files, "files", file_names) == -1)
		return -1;
	for (int i = 0; i < SNAP_NFILES; i++) {
		int want = file_wanted(m, i);

		m->file[i].present = json_object_object_get_ex(files,
		    snap_file_name[i], &f);
		if (m->file[i].present ? want < 0 : want > 0) {
			log_warnx("%s: files: \"%s\" %s", s->path,
			    snap_file_name[i], want > 0 ? "is missing" :
			    i == SNAP_PAGES ? "belongs to diff snapshots only" :
			    "appears in format version 3 and later");
			return -1;
		}
		if (!m->file[i].present)
			continue;
		snprintf(where, sizeof(where), "files.%s", snap_file_name[i]);
		if (!json_object_is_type(f, json_type_object)) {
			log_warnx("%s: %s: not an object", s->path, where);
			return -1;
		}
		if (only_fields(s, f, where, file_keys) == -1 ||
		    get_u64(s, f, "size", 0, INT64_MAX, &m->file[i].size) == -1 ||
		    get_hash(s, f, "sha256", m->file[i].sha256) == -1 ||
		    meta_file_size(s, m, i) == -1)
			return -1;
	}
	return 0;
}

static bool
only_space(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr(" \t\r\n", p[i]) == NULL)
			return false;
	return true;
}

int
snapmeta_parse(const char *name, const char *text, size_t len,
    struct snap_meta *m)
{
	struct meta_src s = { name };
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (tok == NULL)
		return -1;
	if (len > SNAP_META_MAX || memchr(text, '\0', len) != NULL ||
	    len > INT32_MAX)
		log_warnx("%s: not a manifest (too large, or a NUL byte)", name);
	else if ((o = json_tokener_parse_ex(tok, text, (int)len)) == NULL ||
	    !only_space(text + json_tokener_get_parse_end(tok),
	    len - json_tokener_get_parse_end(tok)) ||
	    !json_object_is_type(o, json_type_object))
		log_warnx("%s: not a JSON object%s%s", name,
		    o == NULL ? ": " : " alone",
		    o == NULL ? json_tokener_error_desc(
		    json_tokener_get_error(tok)) : "");
	else if (meta_header(&s, o, m) == 0 && meta_machine(&s, o, m) == 0 &&
	    meta_cpu_read(&s, o, m) == 0 && meta_drive_list(&s, o, m) == 0 &&
	    meta_file_list(&s, o, m) == 0)
		rc = 0;
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/* A name inside the layer: never a symbolic link out of it, never a FIFO
 * or device to wait on. */
static int
open_plain(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY);
	struct stat st;

	if (fd == -1) {
		if (errno == ELOOP)
			log_warnx("%s: a symbolic link; a layer's files are its "
			    "own", path);
		else
			log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: not a regular file", path);
		close(fd);
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int
snapmeta_read(const char *dir, struct snap_meta *m)
{
	char path[4200], *text;
	uint64_t size;
	int fd, rc = -1;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if ((fd = open_plain(path, &size)) == -1)
		return -1;
	if (size > SNAP_META_MAX)
		log_warnx("%s: %ju bytes, a manifest has at most %u", path,
		    (uintmax_t)size, SNAP_META_MAX);
	else if ((text = malloc(size + 1)) != NULL) {
		if (file_read_all(fd, path, text, (size_t)size) == 0)
			rc = snapmeta_parse(path, text, (size_t)size, m);
		free(text);
	}
	close(fd);
	return rc;
}

int
snapmeta_version(const char *dir)
{
	char path[4200], *text = NULL;
	json_object *o = NULL, *v;
	uint64_t size;
	int fd, version = -1;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if ((fd = open_plain(path, &size)) == -1)
		return -1;
	if (size <= SNAP_META_MAX && (text = malloc(size + 1)) != NULL &&
	    file_read_all(fd, path, text, (size_t)size) == 0) {
		text[size] = '\0';
		if ((o = json_tokener_parse(text)) != NULL &&
		    json_object_object_get_ex(o, "version", &v) &&
		    json_object_is_type(v, json_type_int))
			version = json_object_get_int(v);
	}
	json_object_put(o);
	free(text);
	close(fd);
	return version;
}

static int
check_size(const char *dir, const struct snap_meta *m, enum snap_file which,
    uint64_t size)
{
	if (size == m->file[which].size)
		return 0;
	log_warnx("%s/%s: %ju bytes, the manifest says %ju (truncated or "
	    "replaced)", dir, snap_file_name[which], (uintmax_t)size,
	    (uintmax_t)m->file[which].size);
	return -1;
}

static int
check_hash(const char *dir, const struct snap_meta *m, enum snap_file which,
    const char hex[DIGEST_HEX])
{
	if (strcmp(hex, m->file[which].sha256) == 0)
		return 0;
	log_warnx("%s/%s: SHA-256 %s does not match the manifest's %s "
	    "(corrupted)", dir, snap_file_name[which], hex,
	    m->file[which].sha256);
	return -1;
}

int
snapmeta_load(const char *dir, const struct snap_meta *m,
    enum snap_file which, uint8_t **data, size_t *len)
{
	unsigned char md[HASH_LEN];
	char path[4200], hex[DIGEST_HEX];
	uint64_t size;
	uint8_t *buf = NULL;
	int fd;

	*data = NULL;
	*len = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[which]);
	if ((fd = open_plain(path, &size)) == -1)
		return -1;
	/* The manifest's size is bounded (snapmeta_read); the file's may be
	 * anything. */
	if (check_size(dir, m, which, size) == 0 &&
	    (buf = malloc(size ? size : 1)) != NULL &&
	    file_read_all(fd, path, buf, (size_t)size) == 0) {
		hash_buf(buf, (size_t)size, md);
		digest_hex(md, hex);
		if (check_hash(dir, m, which, hex) == 0) {
			close(fd);
			*data = buf;
			*len = (size_t)size;
			return 0;
		}
	}
	close(fd);
	free(buf);
	return -1;
}

int
snapmeta_open_verified(const char *dir, const struct snap_meta *m,
    enum snap_file which)
{
	char path[4200], hex[DIGEST_HEX];
	uint64_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[which]);
	if ((fd = open_plain(path, &size)) == -1)
		return -1;
	if (check_size(dir, m, which, size) == -1 ||
	    digest_fd_cached(fd, path, hex) == -1 ||
	    check_hash(dir, m, which, hex) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
snapmeta_verify(const char *dir, const struct snap_meta *m)
{
	for (int i = 0; i < SNAP_NFILES; i++) {
		int fd;

		if (!m->file[i].present)
			continue;
		if ((fd = snapmeta_open_verified(dir, m, (enum snap_file)i)) == -1)
			return -1;
		close(fd);
	}
	return 0;
}

void
snapmeta_remove(const char *dir)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	unlink(path);
	for (int i = 0; i < SNAP_NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[i]);
		unlink(path);
	}
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("%s: left behind", dir);
}
