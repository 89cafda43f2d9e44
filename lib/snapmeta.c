#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "snapmeta.h"
#include "snapstate.h"

const char *const snap_file_name[SNAP_NFILES] = { "state", "memory", "pages" };

static json_object *
meta_drives(const struct snap_meta *m)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < m->ndrives; i++) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "path",
		    json_object_new_string(m->drive[i].path));
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

int
snapmeta_write(const char *path, const struct snap_meta *m)
{
	json_object *o = json_object_new_object();
	int rc;

	json_object_object_add(o, "format", json_object_new_string(SNAP_FORMAT));
	json_object_object_add(o, "version", json_object_new_int(SNAP_VERSION));
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
	if ((v == NULL && nullable) || json_object_is_type(v, type))
		return v ? v : (json_object *)o;	/* o: "present, null" */
	log_warnx("%s: field \"%s\": expected %s%s", s->path, key,
	    json_type_to_name(type), nullable ? " or null" : "");
	return NULL;
}

static int
get_u64(const struct meta_src *s, json_object *o, const char *key,
    uint64_t max, uint64_t *out)
{
	json_object *v = field(s, o, key, json_type_int, false);
	int64_t x;

	if (v == NULL)
		return -1;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max) {
		log_warnx("%s: field \"%s\": %lld is out of range", s->path, key,
		    (long long)x);
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
		log_warnx("%s: field \"%s\": not a SHA-256 in hex", s->path, key);
		return -1;
	}
	memcpy(out, h, DIGEST_HEX);
	return 0;
}

static int
meta_header(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *v;
	const char *kind;

	if ((v = field(s, o, "format", json_type_string, false)) == NULL ||
	    strcmp(json_object_get_string(v), SNAP_FORMAT) != 0) {
		log_warnx("%s: not a snapvm snapshot manifest", s->path);
		return -1;
	}
	if ((v = field(s, o, "version", json_type_int, false)) == NULL)
		return -1;
	if (json_object_get_int(v) != SNAP_VERSION) {
		log_warnx("%s: snapshot format version %d, this program reads "
		    "version %d", s->path, json_object_get_int(v), SNAP_VERSION);
		return -1;
	}
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
	return 0;
}

static int
meta_machine(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	uint64_t vcpus;
	json_object *v;

	if (get_u64(s, o, "mem_mib", 65536, &m->mem_mib) == -1 ||
	    get_u64(s, o, "vcpus", 8, &vcpus) == -1)
		return -1;
	m->vcpus = (int)vcpus;
	if ((v = field(s, o, "point", json_type_string, true)) == NULL)
		return -1;
	if (v != o)
		snprintf(m->point, sizeof(m->point), "%s",
		    json_object_get_string(v));
	if ((v = field(s, o, "vsock_cid", json_type_int, true)) == NULL)
		return -1;
	m->vsock = v != o;
	if (m->vsock && get_u64(s, o, "vsock_cid", UINT32_MAX, &m->cid) == -1)
		return -1;
	return 0;
}

static int
meta_drive_list(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *a = field(s, o, "drives", json_type_array, false), *ro;

	if (a == NULL)
		return -1;
	if (json_object_array_length(a) > SNAP_MAX_DRIVES) {
		log_warnx("%s: field \"drives\": more than %d", s->path,
		    SNAP_MAX_DRIVES);
		return -1;
	}
	m->ndrives = (int)json_object_array_length(a);
	for (int i = 0; i < m->ndrives; i++) {
		json_object *d = json_object_array_get_idx(a, (size_t)i);

		if (!json_object_is_type(d, json_type_object) ||
		    get_u64(s, d, "size", INT64_MAX, &m->drive[i].size) == -1 ||
		    get_hash(s, d, "sha256", m->drive[i].sha256) == -1 ||
		    (ro = field(s, d, "read_only", json_type_boolean,
		    false)) == NULL) {
			log_warnx("%s: drives[%d] is malformed", s->path, i);
			return -1;
		}
		m->drive[i].read_only = json_object_get_boolean(ro);
		if ((ro = field(s, d, "path", json_type_string, false)) == NULL)
			return -1;
		snprintf(m->drive[i].path, sizeof(m->drive[i].path), "%s",
		    json_object_get_string(ro));
	}
	return 0;
}

static int
meta_file_list(const struct meta_src *s, json_object *o, struct snap_meta *m)
{
	json_object *files = field(s, o, "files", json_type_object, false), *f;

	if (files == NULL)
		return -1;
	for (int i = 0; i < SNAP_NFILES; i++) {
		bool want = i != SNAP_PAGES || m->diff;

		m->file[i].present = json_object_object_get_ex(files,
		    snap_file_name[i], &f);
		if (m->file[i].present != want) {
			log_warnx("%s: files: \"%s\" %s", s->path,
			    snap_file_name[i], want ? "is missing" :
			    "belongs to diff snapshots only");
			return -1;
		}
		if (want && (!json_object_is_type(f, json_type_object) ||
		    get_u64(s, f, "size", INT64_MAX, &m->file[i].size) == -1 ||
		    get_hash(s, f, "sha256", m->file[i].sha256) == -1))
			return -1;
	}
	return 0;
}

int
snapmeta_read(const char *dir, struct snap_meta *m)
{
	char path[4096];
	struct meta_src s = { path };
	json_object *o;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (access(path, R_OK) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if ((o = json_object_from_file(path)) == NULL ||
	    !json_object_is_type(o, json_type_object))
		log_warnx("%s: not a JSON object (%s)", path,
		    json_util_get_last_err() ? json_util_get_last_err() : "");
	else if (meta_header(&s, o, m) == 0 && meta_machine(&s, o, m) == 0 &&
	    meta_drive_list(&s, o, m) == 0 && meta_file_list(&s, o, m) == 0)
		rc = 0;
	json_object_put(o);
	return rc;
}

int
snapmeta_verify(const char *dir, const struct snap_meta *m)
{
	char path[4096], hex[DIGEST_HEX];
	struct stat st;

	for (int i = 0; i < SNAP_NFILES; i++) {
		if (!m->file[i].present)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[i]);
		if (stat(path, &st) == -1) {
			log_warn("%s", path);
			return -1;
		}
		if ((uint64_t)st.st_size != m->file[i].size) {
			log_warnx("%s: %jd bytes, the manifest says %ju (truncated "
			    "or replaced)", path, (intmax_t)st.st_size,
			    (uintmax_t)m->file[i].size);
			return -1;
		}
		if (digest_file_cached(path, hex) == -1)
			return -1;
		if (strcmp(hex, m->file[i].sha256) != 0) {
			log_warnx("%s: SHA-256 %s does not match the manifest's %s "
			    "(corrupted)", path, hex, m->file[i].sha256);
			return -1;
		}
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
