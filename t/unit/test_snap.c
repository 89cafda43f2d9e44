/* The snapshot state file and manifest: what is written reads back, and
 * no corruption of either is accepted silently or crashes the reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapmeta.h"
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
	char path[128];
	uint8_t *copy;
	int loaded = 0;

	sample(&b);
	copy = malloc(b.len);
	snprintf(path, sizeof(path), "%s/state", dir);
	srand(7);
	for (int i = 0; i < 20000 && copy != NULL; i++) {
		size_t len = b.len;

		memcpy(copy, b.data, b.len);
		for (int k = 0; k < 1 + rand() % 4; k++)
			copy[(size_t)rand() % b.len] = (uint8_t)rand();
		if (rand() % 4 == 0)
			len = (size_t)rand() % b.len & ~(size_t)7;
		write_file(path, copy, len);
		if (snapstate_load(&st, path) == 0) {
			uint32_t size;
			const uint8_t *p = snapstate_find(&st, SEC_REGS, 1, &size);

			CHECK(p == NULL || (p >= st.data &&
			    p + size <= st.data + st.len));
			loaded++;
			snapstate_free(&st);
		}
	}
	CHECK(loaded > 0);		/* value-only damage still loads */
	free(copy);
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
	snprintf(m->drive[0].path, sizeof(m->drive[0].path), "/x/rootfs.ext4");
	m->drive[0].size = 4096;
	m->drive[0].read_only = true;
	memset(m->drive[0].sha256, 'c', 64);
	m->vsock = true;
	m->cid = 3;
	for (int i = 0; i < SNAP_NFILES; i++) {
		m->file[i].present = true;
		m->file[i].size = 8;
		memset(m->file[i].sha256, 'd', 64);
	}
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
	CHECK(strcmp(r.drive[0].path, "/x/rootfs.ext4") == 0);
	CHECK(r.file[SNAP_PAGES].present && r.file[SNAP_PAGES].size == 8);
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

static const struct unit_test tests[] = {
	{ "snapstate: sections written are read back, exact sizes", test_roundtrip },
	{ "snapstate: 20000 corrupted or cut files, no crash", test_corruption },
	{ "snapmeta: a manifest reads back field for field", test_manifest },
	{ "snapmeta: malformed manifests are refused", test_manifest_damage },
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
