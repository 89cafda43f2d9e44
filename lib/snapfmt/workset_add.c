/*
 * Adding a working set to a layer.  The page list comes from a restored
 * runner, which its guest may have taken over: it only chooses pages.
 * Their contents are read here from the stack's memory files, each
 * checked against its manifest first, so a working set holds exactly
 * what a restore would have mapped.
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
#include "hash.h"
#include "log.h"
#include "snapstack.h"
#include "vmlimits.h"
#include "workset.h"

/* Pages apart by at most this are read as one run: a few pages more
 * to read, far fewer mappings and reads at restore. */
#define WS_JOIN_GAP	4

struct ws_stack {
	char *const *dir;
	int n;
	struct snap_meta m[SNAP_MAX_LAYERS];
	int mem_fd[SNAP_MAX_LAYERS];
	uint8_t *pages[SNAP_MAX_LAYERS];	/* a diff's bitmap */
	uint64_t mem_pages;
};

static bool
bit(const uint8_t *bits, uint64_t i)
{
	return bits[i / 8] >> (i % 8) & 1;
}

static int
stack_open(struct ws_stack *s)
{
	size_t len;

	for (int i = 0; i < s->n; i++)
		if (snapmeta_read(s->dir[i], &s->m[i]) == -1)
			return -1;
	if (snapstack_check(s->dir, s->m, s->n) == -1)
		return -1;
	for (int i = 0; i < s->n; i++) {
		if ((s->mem_fd[i] = snapmeta_open_verified(s->dir[i], &s->m[i],
		    SNAP_MEMORY)) == -1)
			return -1;
		if (s->m[i].diff && snapmeta_load(s->dir[i], &s->m[i],
		    SNAP_PAGES, &s->pages[i], &len) == -1)
			return -1;
	}
	s->mem_pages = s->m[0].mem_mib << 20 >> 12;
	return 0;
}

static void
stack_close(struct ws_stack *s)
{
	for (int i = 0; i < s->n; i++) {
		if (s->mem_fd[i] != -1)
			close(s->mem_fd[i]);
		free(s->pages[i]);
	}
}

/* The bitmap: exactly one bit per page of this memory. */
static uint8_t *
read_bitmap(const char *path, uint64_t mem_pages)
{
	uint64_t size;
	uint8_t *bits = NULL;
	int fd = file_open_regular(path, &size);

	if (fd == -1)
		return NULL;
	if (size != mem_pages / 8)
		log_warnx("%s: %ju bytes, a page bitmap of this memory has %ju",
		    path, (uintmax_t)size, (uintmax_t)(mem_pages / 8));
	else if ((bits = malloc(size)) != NULL &&
	    file_read_all(fd, path, bits, (size_t)size) == -1) {
		free(bits);
		bits = NULL;
	}
	close(fd);
	return bits;
}

/* Runs of set bits, those closer than WS_JOIN_GAP joined, the gap
 * widened until they fit in WORKSET_MAX_RUNS. */
static uint32_t
make_runs(const uint8_t *bits, uint64_t pages, uint64_t gap,
    struct workset_run *run)
{
	uint32_t n = 0;

	for (uint64_t pg = 0; pg < pages; pg++) {
		if (!bit(bits, pg))
			continue;
		if (n > 0 && pg - (run[n - 1].first + run[n - 1].count) <= gap) {
			run[n - 1].count = pg + 1 - run[n - 1].first;
			continue;
		}
		if (n == WORKSET_MAX_RUNS)
			return n + 1;
		run[n].first = pg;
		run[n++].count = 1;
	}
	return n;
}

/* The layer a page comes from: the top one that holds it. */
static int
page_layer(const struct ws_stack *s, uint64_t pg)
{
	for (int i = s->n - 1; i > 0; i--)
		if (bit(s->pages[i], pg))
			return i;
	return 0;
}

struct ws_out {
	int fd;
	const char *path;
	struct hash_ctx md;
	uint64_t size;
};

static int
out_put(struct ws_out *o, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	hash_update(&o->md, buf, len);
	while (len > 0) {
		ssize_t n = write(o->fd, p, len);

		if (n <= 0) {
			log_warn("%s", o->path);
			return -1;
		}
		p += n;
		len -= (size_t)n;
		o->size += (uint64_t)n;
	}
	return 0;
}

static int
put_tables(struct ws_out *o, const struct ws_stack *s,
    const struct workset_run *run, uint32_t nruns, uint64_t npages)
{
	struct workset_hdr h = { .version = WORKSET_VERSION,
	    .nlayers = (uint32_t)s->n, .nruns = nruns, .npages = npages };
	static const uint8_t zero[WORKSET_PAGE];
	uint64_t end = WORKSET_HDR + (uint64_t)s->n * 64 + nruns * 16ULL;

	memcpy(h.magic, WORKSET_MAGIC, 8);
	h.data_off = (end + WORKSET_PAGE - 1) / WORKSET_PAGE * WORKSET_PAGE;
	if (out_put(o, &h, sizeof(h)) == -1)
		return -1;
	for (int i = 0; i < s->n; i++) {
		struct workset_layer l;

		for (int b = 0; b < 32; b++) {
			sscanf(s->m[i].id + 2 * b, "%2hhx", &l.id[b]);
			sscanf(s->m[i].file[SNAP_MEMORY].sha256 + 2 * b, "%2hhx",
			    &l.memory[b]);
		}
		if (out_put(o, &l, sizeof(l)) == -1)
			return -1;
	}
	if (out_put(o, run, nruns * sizeof(*run)) == -1)
		return -1;
	return out_put(o, zero, (size_t)(h.data_off - end));
}

static int
put_pages(struct ws_out *o, const struct ws_stack *s,
    const struct workset_run *run, uint32_t nruns)
{
	uint8_t page[WORKSET_PAGE];

	for (uint32_t r = 0; r < nruns; r++)
		for (uint64_t pg = run[r].first; pg < run[r].first + run[r].count;
		    pg++) {
			int i = page_layer(s, pg);

			if (pread(s->mem_fd[i], page, sizeof(page),
			    (off_t)(pg * WORKSET_PAGE)) != (ssize_t)sizeof(page)) {
				log_warnx("%s/memory: cannot read page %ju",
				    s->dir[i], (uintmax_t)pg);
				return -1;
			}
			if (out_put(o, page, sizeof(page)) == -1)
				return -1;
		}
	return 0;
}

/* Writes dir/workset and records its size and SHA-256 in *top. */
static int
write_workset(const char *dir, const struct ws_stack *s,
    const struct workset_run *run, uint32_t nruns, struct snap_meta *top)
{
	char path[4400];
	unsigned char md[HASH_LEN];
	struct ws_out o = { .path = path };
	uint64_t npages = 0;
	int rc = -1;

	for (uint32_t r = 0; r < nruns; r++)
		npages += run[r].count;
	snprintf(path, sizeof(path), "%s/workset", dir);
	if ((o.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	hash_init(&o.md);
	if (put_tables(&o, s, run, nruns, npages) == 0 &&
	    put_pages(&o, s, run, nruns) == 0 && fsync(o.fd) == 0) {
		hash_final(&o.md, md);
		top->file[SNAP_WORKSET].present = true;
		top->file[SNAP_WORKSET].size = o.size;
		digest_hex(md, top->file[SNAP_WORKSET].sha256);
		rc = 0;
	}
	close(o.fd);
	return rc;
}

/* The top layer's other files, by hard link (the same inodes: mappings
 * and digests of them stay valid). */
static int
link_files(const char *from, const char *to, const struct snap_meta *m)
{
	char a[4400], b[4400];

	for (int i = 0; i < SNAP_NFILES; i++) {
		if (!m->file[i].present || i == SNAP_WORKSET)
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, snap_file_name[i]);
		snprintf(b, sizeof(b), "%s/%s", to, snap_file_name[i]);
		if (link(a, b) == -1) {
			log_warn("link %s to %s", a, b);
			return -1;
		}
	}
	return 0;
}

/* A link changes a file's change time, and so voids its cached digest:
 * the files were just checked, so their digests go back in. */
static void
recache(const char *dir, const struct snap_meta *m)
{
	char path[4400];

	for (int i = 0; i < SNAP_NFILES; i++)
		if (m->file[i].present) {
			snprintf(path, sizeof(path), "%s/%s", dir, snap_file_name[i]);
			digest_cache_put(path, m->file[i].sha256);
		}
}

static int
install(const struct ws_stack *s, const struct workset_run *run,
    uint32_t nruns)
{
	const char *top = s->dir[s->n - 1];
	struct snap_meta m = s->m[s->n - 1];
	char tmp[4200], manifest[4300];
	int rc = EX_CANTCREAT;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", top, (long)getpid());
	snapmeta_remove(tmp);
	if (mkdir(tmp, 0755) == -1) {
		log_warn("%s", tmp);
		return EX_CANTCREAT;
	}
	snprintf(manifest, sizeof(manifest), "%s/manifest.json", tmp);
	m.file[SNAP_WORKSET].present = false;
	if (link_files(top, tmp, &m) == 0 &&
	    write_workset(tmp, s, run, nruns, &m) == 0 &&
	    snapmeta_write(manifest, &m) == 0 && file_sync_dir(tmp) == 0 &&
	    snapstack_publish(tmp, top) == 0) {
		recache(top, &m);
		log_info("%s: working set of %u runs added", top, nruns);
		return 0;
	}
	snapmeta_remove(tmp);
	return rc;
}

int
workset_add(char *const *dirs, int n, const char *bitmap)
{
	struct ws_stack s = { .dir = dirs, .n = n };
	struct workset_run *run = NULL;
	uint8_t *bits = NULL;
	uint64_t gap = WS_JOIN_GAP;
	uint32_t nruns;
	int rc = EX_DATAERR;

	for (int i = 0; i < SNAP_MAX_LAYERS; i++)
		s.mem_fd[i] = -1;
	if (n < 1 || n > SNAP_MAX_LAYERS)
		log_warnx("--load-dir: 1 to %d layers, got %d", SNAP_MAX_LAYERS,
		    n);
	else if (stack_open(&s) == 0 &&
	    (bits = read_bitmap(bitmap, s.mem_pages)) != NULL &&
	    (run = calloc(WORKSET_MAX_RUNS + 1, sizeof(*run))) != NULL) {
		while ((nruns = make_runs(bits, s.mem_pages, gap, run)) >
		    WORKSET_MAX_RUNS)
			gap *= 2;
		if (nruns == 0)
			log_warnx("%s: no page is set", bitmap);
		else
			rc = install(&s, run, nruns);
	}
	free(run);
	free(bits);
	stack_close(&s);
	return rc;
}
