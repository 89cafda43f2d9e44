/* The snapshot state file and manifest: what is written reads back, and
 * no corruption of either is accepted silently or crashes the reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "snapmeta.h"
#include "snapstack.h"
#include "snapstate.h"
#include "unit.h"

static char dir[] = "/tmp/snapvm-test-snap.XXXXXX";

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	if (f != NULL) {
		CHECK(fwrite(p, 1, n, f) == n);
		fclose(f);
	}
}

static void
sample(struct snapbuf *b)
{
	uint64_t regs[18] = { 1, 2, 3 };
	char odd[5] = "abcd";

	snapbuf_init(b);
	snapbuf_add(b, SEC_REGS, 0, regs, sizeof(regs));
	snapbuf_add(b, SEC_SERIAL, 0, odd, sizeof(odd));	/* padded */
	snapbuf_add(b, SEC_REGS, 1, regs, sizeof(regs));
}

static void
test_roundtrip(void)
{
	struct snapbuf b;
	struct snapstate st;
	char path[128];
	uint32_t size;
	const uint64_t *r;

	sample(&b);
	CHECK_EQ(b.failed, 0);
	CHECK_EQ(b.len % 8, 0);
	snprintf(path, sizeof(path), "%s/state", dir);
	write_file(path, b.data, b.len);
	CHECK(snapstate_load(&st, path) == 0);
	r = snapstate_get(&st, SEC_REGS, 1, 18 * 8);
	CHECK(r != NULL && r[0] == 1 && r[2] == 3);
	CHECK(snapstate_find(&st, SEC_SERIAL, 0, &size) != NULL && size == 5);
	CHECK(snapstate_get(&st, SEC_REGS, 0, 17 * 8) == NULL);	/* size */
	CHECK(snapstate_get(&st, SEC_LAPIC, 0, 1024) == NULL);	/* missing */
	snapstate_free(&st);
	snapbuf_free(&b);
}

/* Random bytes anywhere, truncation anywhere: refused or read, never a
 * crash, and every section handed out lies inside the file. */
static void
test_corruption(void)
{
	struct snapbuf b;
	struct snapstate st;
	uint8_t *copy;
	int loaded = 0;

	sample(&b);
	srand(7);
	for (int i = 0; i < 20000; i++) {
		size_t len = b.len;

		if ((copy = malloc(b.len)) == NULL)
			break;
		memcpy(copy, b.data, b.len);
		for (int k = 0; k < 1 + rand() % 4; k++)
			copy[(size_t)rand() % b.len] = (uint8_t)rand();
		if (rand() % 4 == 0)
			len = (size_t)rand() % b.len & ~(size_t)7;
		if (snapstate_parse(&st, "state", copy, len) == 0) {
			uint32_t size;
			const uint8_t *p = snapstate_find(&st, SEC_REGS, 1, &size);

			CHECK(p == NULL || (p >= st.data &&
			    p + size <= st.data + st.len));
			loaded++;
			snapstate_free(&st);
		}
	}
	CHECK(loaded > 0);		/* value-only damage still loads */
	snapbuf_free(&b);
}

static void
meta_sample(struct snap_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->diff = true;
	memset(m->id, 'a', 64);
	memset(m->parent, 'b', 64);
	snprintf(m->point, sizeof(m->point), "app");
	m->mem_mib = 128;
	m->vcpus = 2;
	m->ndrives = 1;
	m->drive[0].size = 4096;
	m->drive[0].read_only = true;
	memset(m->drive[0].sha256, 'c', 64);
	m->vsock = true;
	m->cid = 3;
	m->cpu.present = true;
	snprintf(m->cpu.template_name, sizeof(m->cpu.template_name),
	    "x86-64-v3");
	for (int i = 0; i < SNAP_NFILES; i++) {
		m->file[i].present = true;
		memset(m->file[i].sha256, 'd', 64);
	}
	m->file[SNAP_STATE].size = 16;
	m->file[SNAP_MEMORY].size = 128 << 20;
	m->file[SNAP_PAGES].size = 128 << 20 >> 15;
	m->file[SNAP_WORKSET].size = 8192;	/* header page, one page */
}

static void
test_manifest(void)
{
	struct snap_meta m, r;
	char path[128];

	meta_sample(&m);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	CHECK(snapmeta_write(path, &m) == 0);
	CHECK(snapmeta_read(dir, &r) == 0);
	CHECK(r.diff && r.mem_mib == 128 && r.vcpus == 2 && r.vsock &&
	    r.cid == 3 && r.ndrives == 1 && r.drive[0].read_only);
	CHECK(strcmp(r.parent, m.parent) == 0 && strcmp(r.point, "app") == 0);
	CHECK(r.drive[0].size == 4096 && strcmp(r.drive[0].sha256,
	    m.drive[0].sha256) == 0);
	CHECK(r.file[SNAP_PAGES].present && r.file[SNAP_PAGES].size == 4096);
	CHECK(r.version == 4 && r.cpu.present &&
	    strcmp(r.cpu.template_name, "x86-64-v3") == 0);
	/* a layer that records no CPU (a working set added to one of
	 * version 3) is written as version 3 */
	m.cpu.present = false;
	CHECK(snapmeta_write(path, &m) == 0);
	CHECK(snapmeta_read(dir, &r) == 0);
	CHECK(r.version == 3 && !r.cpu.present);
}

/* Each line of the manifest replaced by junk in turn: refused. */
static void
test_manifest_damage(void)
{
	static const char *bad[] = {
		"{\"format\": \"other\"}",
		"[1, 2]",
		"{",
		"",
	};
	char path[128];
	struct snap_meta m;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], strlen(bad[i]));
		CHECK(snapmeta_read(dir, &m) == -1);
	}
	meta_sample(&m);
	m.diff = false;		/* a full layer must not list pages */
	CHECK(snapmeta_write(path, &m) == 0);
	CHECK(snapmeta_read(dir, &m) == -1);
}

/* A state of sections as written, then one raw change: loaded or not. */
static int
load_raw(const struct snapbuf *b, size_t at, const void *bytes, size_t n,
    size_t cut)
{
	struct snapstate st;
	uint8_t *copy = malloc(b->len);
	char path[128];
	int rc;

	if (copy == NULL)
		return -2;
	memcpy(copy, b->data, b->len);
	if (bytes != NULL)
		memcpy(copy + at, bytes, n);
	snprintf(path, sizeof(path), "%s/state", dir);
	write_file(path, copy, b->len - cut);
	free(copy);
	rc = snapstate_load(&st, path);
	if (rc == 0)
		snapstate_free(&st);
	return rc;
}

/* Offsets in sample(): header 16, REGS.0 at 16 (16 + 144), SERIAL.0 at
 * 176 (16 + 8), REGS.1 at 200. */
#define SEC2	176
#define SEC3	200

static void
test_section_table(void)
{
	struct snapbuf b;
	uint32_t v;

	sample(&b);
	CHECK(load_raw(&b, 0, NULL, 0, 0) == 0);
	v = SEC_REGS;			/* SERIAL.0 becomes a second REGS.0 */
	CHECK(load_raw(&b, SEC2, &v, 4, 0) == -1);
	v = 0x99;			/* a type no snapvm writes */
	CHECK(load_raw(&b, SEC2, &v, 4, 0) == -1);
	v = 8;				/* a ninth vCPU */
	CHECK(load_raw(&b, SEC3 + 4, &v, 4, 0) == -1);
	v = 1;				/* a UART 1 */
	CHECK(load_raw(&b, SEC2 + 4, &v, 4, 0) == -1);
	v = 1;				/* reserved */
	CHECK(load_raw(&b, SEC3 + 12, &v, 4, 0) == -1);
	v = 0x7f;			/* padding after the 5-byte UART */
	CHECK(load_raw(&b, SEC2 + 16 + 6, &v, 1, 0) == -1);
	v = SNAP_MAX_SECTIONS + 1;	/* nsections */
	CHECK(load_raw(&b, 12, &v, 4, 0) == -1);
	v = 2;				/* one section left over */
	CHECK(load_raw(&b, 12, &v, 4, 0) == -1);
	v = 99;				/* version */
	CHECK(load_raw(&b, 8, &v, 4, 0) == -1);
	CHECK(load_raw(&b, 0, NULL, 0, 8) == -1);	/* cut short */
	snapbuf_free(&b);
}

static void
meta_write_read(struct snap_meta *m, int expect)
{
	struct snap_meta r;
	char path[128];

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	CHECK(snapmeta_write(path, m) == 0);
	CHECK(snapmeta_read(dir, &r) == expect);
}

/* Numbers a layer gives that no snapvm machine has: refused on reading. */
static void
test_manifest_ranges(void)
{
	struct snap_meta m;

	meta_sample(&m);
	meta_write_read(&m, 0);
	m.vcpus = 0;
	meta_write_read(&m, -1);
	m.vcpus = 9;
	meta_write_read(&m, -1);
	meta_sample(&m);
	m.mem_mib = 65537;
	meta_write_read(&m, -1);
	meta_sample(&m);
	m.cid = 2;
	meta_write_read(&m, -1);
	m.cid = UINT32_MAX;
	meta_write_read(&m, -1);
	meta_sample(&m);
	m.file[SNAP_MEMORY].size += 4096;	/* not mem_mib */
	meta_write_read(&m, -1);
	meta_sample(&m);
	m.file[SNAP_PAGES].size = 8;
	meta_write_read(&m, -1);
	meta_sample(&m);
	m.file[SNAP_STATE].size = 20;		/* not a multiple of 8 */
	meta_write_read(&m, -1);
	m.file[SNAP_STATE].size = SNAP_STATE_MAX + 8;
	meta_write_read(&m, -1);
	meta_sample(&m);
	snprintf(m.point, sizeof(m.point), "/etc/passwd");
	meta_write_read(&m, -1);
}

/* Text replaced in a good manifest: refused. */
static int
meta_edit(const char *from, const char *to)
{
	struct snap_meta m;
	char path[128], *text, *at, *out;
	FILE *f;
	long n;
	int rc = -2;

	meta_sample(&m);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	snapmeta_write(path, &m);
	if ((f = fopen(path, "rb")) == NULL)
		return -2;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	out = calloc(1, (size_t)n + strlen(to) + 1);
	if (text != NULL && out != NULL && fread(text, 1, (size_t)n, f) ==
	    (size_t)n && (at = strstr(text, from)) != NULL) {
		memcpy(out, text, (size_t)(at - text));
		strcat(out, to);
		strcat(out, at + strlen(from));
		write_file(path, out, strlen(out));
		rc = snapmeta_read(dir, &m);
	}
	fclose(f);
	free(text);
	free(out);
	return rc;
}

static void
test_manifest_fields(void)
{
	CHECK(meta_edit("\"version\": 4", "\"version\": 4") == 0);
	/* version 3 recorded no CPU; this manifest does */
	CHECK(meta_edit("\"version\": 4", "\"version\": 3") == -1);
	/* version 2 had no working sets; this manifest names one */
	CHECK(meta_edit("\"version\": 4", "\"version\": 2") == -1);
	/* version 1 named host files for drives: refused, to be rebuilt */
	CHECK(meta_edit("\"version\": 4", "\"version\": 1") == -1);
	CHECK(meta_edit("\"version\": 4", "\"version\": 5") == -1);
	/* the CPU: required from version 4 on, a template's name only */
	CHECK(meta_edit("\"cpu\": {", "\"cpux\": {") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \"x86-64-v3\", \"cpuid\": 1") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \"../../etc\"") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \"\"") == -1);
	/* a template file's name rule: no leading '-' or '.' */
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \"-v3\"") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \".v3\"") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": 3") == -1);
	CHECK(meta_edit("\"template\": \"x86-64-v3\"",
	    "\"template\": \"my_fleet-2.1\"") == 0);
	CHECK(meta_edit("\"read_only\": true", "\"read_only\": true, "
	    "\"path\": \"/etc/shadow\"") == -1);
	CHECK(meta_edit("\"vcpus\": 2", "\"vcpus\": 2, \"kernel\": \"/x\"") ==
	    -1);
	CHECK(meta_edit("\"sha256\": \"dddd", "\"path\": \"/x\", "
	    "\"sha256\": \"dddd") == -1);
	CHECK(meta_edit("\"vcpus\": 2", "\"vcpus\": 2.0") == -1);
	CHECK(meta_edit("\"vcpus\": 2", "\"vcpus\": 18446744073709551617") ==
	    -1);
	CHECK(meta_edit("\"kind\": \"diff\"", "\"kind\": \"full\"") == -1);
	CHECK(meta_edit("\"id\": \"aaaa", "\"id\": \"AAAA") == -1);
	CHECK(meta_edit("\n}", "\n} {}") == -1);	/* trailing text */
	CHECK(meta_edit("\"point\": \"app\"", "\"point\": \"app\\u0000x\"") ==
	    -1);
}

/* No manifest.json of a size, type or place a layer should not have is
 * read, and a FIFO is refused rather than waited on. */
static void
test_manifest_file(void)
{
	char path[128], *big;
	struct snap_meta m;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if ((big = malloc(SNAP_META_MAX + 2)) != NULL) {
		memset(big, ' ', SNAP_META_MAX + 1);
		big[0] = '{';
		big[SNAP_META_MAX] = '}';
		write_file(path, big, SNAP_META_MAX + 1);
		CHECK(snapmeta_read(dir, &m) == -1);
		free(big);
	}
	unlink(path);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(snapmeta_read(dir, &m) == -1);
	unlink(path);
	CHECK(symlink("/etc/hostname", path) == 0);
	CHECK(snapmeta_read(dir, &m) == -1);
	unlink(path);
}

static void
sha256_hex(const void *p, size_t n, char hex[DIGEST_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];

	EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
	digest_hex(md, hex);
}

/* What snapmeta_load returns is what it hashed, and only what matches. */
static void
test_load_once(void)
{
	struct snap_meta m;
	struct snapbuf b;
	char path[128];
	uint8_t *data;
	size_t len;

	sample(&b);
	snprintf(path, sizeof(path), "%s/state", dir);
	write_file(path, b.data, b.len);
	meta_sample(&m);
	m.file[SNAP_STATE].size = b.len;
	sha256_hex(b.data, b.len, m.file[SNAP_STATE].sha256);
	CHECK(snapmeta_load(dir, &m, SNAP_STATE, &data, &len) == 0);
	CHECK(len == b.len && data != NULL && memcmp(data, b.data, len) == 0);
	free(data);
	m.file[SNAP_STATE].sha256[0] ^= 1;
	CHECK(snapmeta_load(dir, &m, SNAP_STATE, &data, &len) == -1);
	CHECK(data == NULL);
	m.file[SNAP_STATE].sha256[0] ^= 1;
	m.file[SNAP_STATE].size += 8;
	CHECK(snapmeta_load(dir, &m, SNAP_STATE, &data, &len) == -1);
	m.file[SNAP_STATE].size -= 8;
	unlink(path);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(snapmeta_load(dir, &m, SNAP_STATE, &data, &len) == -1);
	CHECK(snapmeta_verify(dir, &m) == -1);
	unlink(path);
	CHECK(symlink("/etc/hostname", path) == 0);
	CHECK(snapmeta_open_verified(dir, &m, SNAP_STATE) == -1);
	unlink(path);
	snapbuf_free(&b);
}

/* A base and a diff on it, as a stack's manifests join up. */
static void
stack_sample(struct snap_meta m[2])
{
	for (int i = 0; i < 2; i++) {
		meta_sample(&m[i]);
		memset(m[i].file[SNAP_STATE].sha256, i ? 'e' : 'f', 64);
		memcpy(m[i].id, m[i].file[SNAP_STATE].sha256, DIGEST_HEX);
	}
	m[0].diff = false;
	m[0].parent[0] = '\0';
	memcpy(m[1].parent, m[0].id, DIGEST_HEX);
}

/* A diff has its base's CPU template; under a base of format 3, which
 * records none, it has the one it was restored with. */
static void
test_stack_cpu(void)
{
	char *dirs[2] = { "base", "diff" };
	struct snap_meta m[2];

	stack_sample(m);
	CHECK(snapstack_check(dirs, m, 2) == 0);
	snprintf(m[1].cpu.template_name, sizeof(m[1].cpu.template_name),
	    "host");
	CHECK(snapstack_check(dirs, m, 2) == -1);
	m[1].cpu.present = false;
	CHECK(snapstack_check(dirs, m, 2) == -1);
	stack_sample(m);
	m[0].cpu.present = false;
	m[0].version = 3;
	CHECK(snapstack_check(dirs, m, 2) == 0);
}

static const struct unit_test tests[] = {
	{ "snapstate: sections written are read back, exact sizes", test_roundtrip },
	{ "snapstate: 20000 corrupted or cut files, no crash", test_corruption },
	{ "snapstate: duplicate, unknown, out-of-range sections refused",
	  test_section_table },
	{ "snapmeta: a manifest reads back field for field", test_manifest },
	{ "snapmeta: malformed manifests are refused", test_manifest_damage },
	{ "snapmeta: numbers no machine has are refused", test_manifest_ranges },
	{ "snapmeta: version 1, paths and unknown fields are refused",
	  test_manifest_fields },
	{ "snapmeta: no oversized, FIFO or symlinked manifest is read",
	  test_manifest_file },
	{ "snapmeta: a file is hashed as read, once; FIFOs refused",
	  test_load_once },
	{ "snapstack: a diff has its base's CPU template", test_stack_cpu },
};

static void
remove_dir(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	int rc;

	log_init("test_snap", LOG_QUIET);
	if (mkdtemp(dir) == NULL)
		return 1;
	rc = unit_main(tests, (int)(sizeof(tests) / sizeof(tests[0])));
	remove_dir();
	return rc;
}
