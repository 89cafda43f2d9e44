/* The store's layer index (s3index, s3layer) and its chunks (s3chunk):
 * the index written and read back in every version, every refusal of a
 * damaged one, where a byte of a file is, the manifest against the index,
 * and chunks and small files fetched from a store of our own that answers
 * ranged GETs, honestly or not. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "s3.h"
#include "s3conf.h"
#include "s3layer.h"
#include "s3pool.h"
#include "snapmeta.h"
#include "unit.h"

#define STR_EQ(a, b)	CHECK(strcmp((a), (b)) == 0)
#define KiB		1024
#define MiB		(1024 * 1024)

/* Chunk i of file j of the samples: a digest none other has. */
static void
fake_chunk_sha(struct s3file *f, int j)
{
	for (size_t i = 0; i < f->nchunks; i++)
		memset(f->chunk_sha[i], '0' + (int)((size_t)j + i) % 10,
		    DIGEST_HEX - 1);
}

/* A layer of two files as put would describe it: memory has data at
 * [4 KiB, 1 MiB + 4 KiB) and [4 MiB, 4 MiB + 8 KiB), holes around. */
static void
layer_sized(struct s3layer *l, uint64_t part_size, uint64_t chunk_size)
{
	s3layer_init(l);
	l->version = S3LAYER_VERSION;
	l->part_size = part_size;
	l->chunk_size = chunk_size;
	memset(l->id, 'a', DIGEST_HEX - 1);
	l->nfiles = 2;
	snprintf(l->file[0].name, sizeof(l->file[0].name), "manifest.json");
	l->file[0].size = 100;
	memset(l->file[0].sha256, 'b', DIGEST_HEX - 1);
	extents_add(&l->file[0].ext, 0, 100);
	snprintf(l->file[1].name, sizeof(l->file[1].name), "memory");
	l->file[1].size = 8 * MiB;
	memset(l->file[1].sha256, 'c', DIGEST_HEX - 1);
	extents_add(&l->file[1].ext, 4 * KiB, MiB);
	extents_add(&l->file[1].ext, 4 * MiB, 8 * KiB);
	for (int i = 0; i < 2; i++) {
		s3layer_parts(l, &l->file[i]);
		for (size_t j = 0; j < l->file[i].nparts; j++)
			memset(l->file[i].part_sha[j], 'd' + (int)j,
			    DIGEST_HEX - 1);
		s3layer_chunks(l, &l->file[i]);
		fake_chunk_sha(&l->file[i], i);
	}
}

static void
sample_layer(struct s3layer *l)
{
	layer_sized(l, MiB, S3LAYER_CHUNK);
}

/* The sample's index text with from replaced by to, parsed into back
 * (free it). */
static int
parse_edited_into(struct s3layer *back, const char *from, const char *to)
{
	struct s3layer l;
	char *text, *hit, edited[8192];

	sample_layer(&l);
	text = s3layer_index(&l);
	hit = strstr(text, from);
	CHECK(hit != NULL);
	s3layer_free(&l);
	if (hit == NULL) {
		free(text);
		s3layer_init(back);
		return 0;
	}
	snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(hit - text), text,
	    to, hit + strlen(from));
	free(text);
	return s3layer_parse(back, edited, "test");
}

static int
parse_edited(const char *from, const char *to)
{
	struct s3layer back;
	int rc = parse_edited_into(&back, from, to);

	s3layer_free(&back);
	return rc;
}

static void
test_index(void)
{
	struct s3layer l, back;
	char *text;

	sample_layer(&l);
	text = s3layer_index(&l);
	CHECK(text != NULL);
	CHECK(strstr(text, "\"chunk_size\":262144") != NULL);
	CHECK(s3layer_parse(&back, text, "test") == 0);
	STR_EQ(back.id, l.id);
	CHECK_EQ(back.version, 3);
	{	/* where the objects are: under the manifest's SHA-256 */
		char base[S3LAYER_BASE_MAX], want[S3LAYER_BASE_MAX];
		char key[S3LAYER_KEY_MAX];

		s3layer_objects(&back, "p/x", base, sizeof(base));
		snprintf(want, sizeof(want), "p/x/%s", l.file[0].sha256);
		STR_EQ(base, want);
		s3layer_file_key(&back, "p/x", &back.file[1], key);
		snprintf(want, sizeof(want), "p/x/%s/memory", l.file[0].sha256);
		STR_EQ(key, want);
		back.version = 1;
		s3layer_objects(&back, "p/x", base, sizeof(base));
		STR_EQ(base, "p/x");
		back.version = 3;
	}
	CHECK_EQ(back.nfiles, 2);
	CHECK_EQ(back.part_size, MiB);
	CHECK_EQ(back.chunk_size, S3LAYER_CHUNK);
	CHECK_EQ(back.file[1].ext.n, 2);
	CHECK_EQ(back.file[1].ext.total, MiB + 8 * KiB);
	CHECK_EQ(back.file[1].nparts, 2);
	STR_EQ(back.file[1].part_sha[1], l.file[1].part_sha[1]);
	CHECK_EQ(back.file[0].nchunks, 1);
	CHECK_EQ(back.file[1].nchunks, 5);	/* 4 whole and 8 KiB */
	for (size_t i = 0; i < 5; i++)
		STR_EQ(back.file[1].chunk_sha[i], l.file[1].chunk_sha[i]);
	STR_EQ(back.file[0].chunk_sha[0], l.file[0].chunk_sha[0]);
	CHECK_EQ(back.file[1].fd, -1);
	s3layer_free(&back);
	free(text);

	/* Versions 1 and 2 are still read, without chunks, and written as
	 * they are. */
	for (int v = 1; v <= 2; v++) {
		l.version = v;
		text = s3layer_index(&l);
		CHECK(strstr(text, "chunk") == NULL);
		CHECK(s3layer_parse(&back, text, "test") == 0);
		CHECK_EQ(back.version, v);
		CHECK_EQ(back.chunk_size, 0);
		CHECK_EQ(back.file[1].nchunks, 0);
		CHECK_EQ(back.file[1].nparts, 2);
		s3layer_free(&back);
		free(text);
	}
	s3layer_free(&l);
	/* Chunk fields in an older version mean nothing. */
	CHECK(parse_edited_into(&back, "\"version\":3", "\"version\":2") == 0);
	CHECK_EQ(back.chunk_size, 0);
	CHECK_EQ(back.file[1].nchunks, 0);
	s3layer_free(&back);

	CHECK(parse_edited("\"version\":3", "\"version\":0") == -1);
	CHECK(parse_edited("\"version\":3", "\"version\":4") == -1);
	CHECK(parse_edited("snapvm-s3snap-layer", "other") == -1);
	CHECK(parse_edited("\"memory\"", "\"passwd\"") == -1);
	CHECK(parse_edited("\"memory\"", "\"manifest.json\"") == -1);
	CHECK(parse_edited("[4096,", "[0,") == 0);	/* still apart */
	CHECK(parse_edited("[4194304,", "[4096,") == -1);	/* overlap */
	CHECK(parse_edited("[4194304,8192]", "[8384512,8192]") == -1);
	CHECK(parse_edited("[4194304,8192]", "[4194304,0]") == -1);
	CHECK(parse_edited("[4194304,8192]", "[4194304,\"x\"]") == -1);
	CHECK(parse_edited(",[4194304,8192]", "") == -1);	/* parts */
	CHECK(parse_edited("\"part_size\":1048576", "\"part_size\":4096") == -1);
	CHECK(parse_edited("\"kind\":\"full\"", "\"kind\":\"half\"") == -1);
	CHECK(parse_edited("\"size\":100,", "\"size\":-1,") == -1);
	/* A manifest larger than any a layer has. */
	CHECK(parse_edited("\"size\":100,", "\"size\":65537,") == -1);
	CHECK(parse_edited("{", "[") == -1);
	CHECK(s3layer_parse(&back, "", "test") == -1);
	CHECK(s3layer_parse(&back, "{}", "test") == -1);
	s3layer_free(&back);
}

/* The sample with part_size and chunk_size, written and read back. */
static int
sized_round_trip(uint64_t part_size, uint64_t chunk_size)
{
	struct s3layer l, back;
	char *text;
	int rc;

	layer_sized(&l, part_size, chunk_size);
	text = s3layer_index(&l);
	rc = s3layer_parse(&back, text, "test");
	s3layer_free(&back);
	s3layer_free(&l);
	free(text);
	return rc;
}

static void
test_index_chunks(void)
{
	char *d = malloc(8 * (DIGEST_HEX + 2) + 1);

	/* chunk_size: a power of two from 4 KiB to part_size, dividing it. */
	CHECK(sized_round_trip(MiB, 4 * KiB) == 0);
	CHECK(sized_round_trip(MiB, MiB) == 0);
	CHECK(sized_round_trip(3 * MiB, MiB) == 0);
	CHECK(sized_round_trip(MiB, 2 * KiB) == -1);
	CHECK(sized_round_trip(MiB, 0) == -1);
	CHECK(sized_round_trip(MiB, 2 * MiB) == -1);
	CHECK(sized_round_trip(3 * MiB, 12 * KiB) == -1);	/* divides */
	CHECK(sized_round_trip(3 * MiB, 2 * MiB) == -1);	/* does not */
	unit_catch_stderr();
	CHECK(sized_round_trip(3 * MiB, 12 * KiB) == -1);
	CHECK_EQ(unit_release_stderr("test: chunk_size: 12288 is not a power "
	    "of two from 4096 that divides part_size (3145728)"), 1);

	CHECK(parse_edited(",\"chunk_size\":262144", "") == -1);
	CHECK(parse_edited("\"chunk_size\":262144",
	    "\"chunk_size\":\"262144\"") == -1);
	CHECK(parse_edited("\"chunk_size\":262144", "\"chunk_size\":-1") == -1);
	CHECK(parse_edited("\"chunk_size\":262144",
	    "\"chunk_size\":262144.0") == -1);

	/* chunks: one per chunk_size bytes of the object, each a SHA-256 in
	 * lower-case hex. */
	memset(d, '5', DIGEST_HEX - 1);			/* memory's last */
	d[DIGEST_HEX - 1] = '\0';
	CHECK(parse_edited(d, "") == -1);		/* empty */
	{
		char from[DIGEST_HEX + 8], to[3 * DIGEST_HEX + 16];

		snprintf(from, sizeof(from), ",\"%s\"", d);
		CHECK(parse_edited(from, "") == -1);	/* one fewer */
		snprintf(to, sizeof(to), ",\"%s\",\"%s\"", d, d);
		CHECK(parse_edited(from, to) == -1);	/* one more */
		unit_catch_stderr();
		CHECK(parse_edited(from, to) == -1);
		CHECK_EQ(unit_release_stderr("test: memory: 6 chunks, its "
		    "extents make 5"), 1);
		snprintf(to, sizeof(to), ",\"%.63s\"", d);
		CHECK(parse_edited(from, to) == -1);	/* 63 digits */
		snprintf(to, sizeof(to), ",\"%s5\"", d);
		CHECK(parse_edited(from, to) == -1);	/* 65 */
		snprintf(to, sizeof(to), ",\"%.63sC\"", d);
		CHECK(parse_edited(from, to) == -1);	/* upper case */
		snprintf(to, sizeof(to), ",\"%.63sg\"", d);
		CHECK(parse_edited(from, to) == -1);	/* not hex */
		CHECK(parse_edited(from, ",1") == -1);
		CHECK(parse_edited(from, ",null") == -1);
		unit_catch_stderr();
		CHECK(parse_edited(from, ",1") == -1);
		CHECK_EQ(unit_release_stderr("test: memory: chunks[4]: not a "
		    "SHA-256 in hex"), 1);
	}
	memset(d, '0', DIGEST_HEX - 1);			/* manifest's only */
	{
		char from[DIGEST_HEX + 16];

		snprintf(from, sizeof(from), "\"chunks\":[\"%s\"]", d);
		CHECK(parse_edited(from, "\"chunks\":\"x\"") == -1);
		CHECK(parse_edited(from, "\"chunks\":{}") == -1);
		CHECK(parse_edited(from, "\"chunkz\":[]") == -1);  /* missing */
		CHECK(parse_edited(from, "\"chunks\":[]") == -1);
	}
	free(d);
}

static void
test_chunk_at(void)
{
	struct s3layer l;
	struct s3file *m = &l.file[1];
	uint64_t obj;
	size_t c, len;

	sample_layer(&l);
	c = 99;
	CHECK(!s3layer_chunk_at(&l, m, 0, &c, &obj));		/* a hole */
	CHECK(!s3layer_chunk_at(&l, m, 4095, &c, &obj));
	CHECK_EQ(c, 99);
	CHECK(s3layer_chunk_at(&l, m, 4096, &c, &obj));
	CHECK(c == 0 && obj == 0);
	CHECK(s3layer_chunk_at(&l, m, 4096 + 262143, &c, &obj));
	CHECK(c == 0 && obj == 262143);
	CHECK(s3layer_chunk_at(&l, m, 4096 + 262144, &c, &obj));
	CHECK(c == 1 && obj == 262144);
	CHECK(s3layer_chunk_at(&l, m, 4096 + MiB - 1, &c, &obj));
	CHECK(c == 3 && obj == MiB - 1);
	CHECK(!s3layer_chunk_at(&l, m, 4096 + MiB, &c, &obj));	/* between */
	CHECK(!s3layer_chunk_at(&l, m, 4 * MiB - 1, &c, &obj));
	CHECK(s3layer_chunk_at(&l, m, 4 * MiB, &c, &obj));
	CHECK(c == 4 && obj == MiB);
	CHECK(s3layer_chunk_at(&l, m, 4 * MiB + 8191, &c, &obj));
	CHECK(c == 4 && obj == MiB + 8191);
	CHECK(!s3layer_chunk_at(&l, m, 4 * MiB + 8192, &c, &obj));
	CHECK(!s3layer_chunk_at(&l, m, 8 * MiB - 1, &c, &obj));
	CHECK(!s3layer_chunk_at(&l, m, 8 * MiB, &c, &obj));	/* past */
	CHECK(!s3layer_chunk_at(&l, m, UINT64_MAX, &c, &obj));
	CHECK(s3layer_chunk_at(&l, &l.file[0], 99, &c, &obj));
	CHECK(c == 0 && obj == 99);
	CHECK(!s3layer_chunk_at(&l, &l.file[0], 100, &c, &obj));

	s3layer_chunk_span(&l, m, 0, &obj, &len);
	CHECK(obj == 0 && len == S3LAYER_CHUNK);
	s3layer_chunk_span(&l, m, 3, &obj, &len);
	CHECK(obj == 3 * S3LAYER_CHUNK && len == S3LAYER_CHUNK);
	s3layer_chunk_span(&l, m, 4, &obj, &len);		/* the last */
	CHECK(obj == MiB && len == 8192);
	s3layer_chunk_span(&l, &l.file[0], 0, &obj, &len);
	CHECK(obj == 0 && len == 100);

	l.chunk_size = 0;				/* version 2 */
	CHECK(!s3layer_chunk_at(&l, m, 4096, &c, &obj));
	s3layer_free(&l);

	/* Many extents: every one found, every hole between them not. */
	s3layer_init(&l);
	l.part_size = MiB;
	l.chunk_size = 4096;
	l.nfiles = 1;
	for (uint64_t i = 0; i < 1000; i++)
		extents_add(&l.file[0].ext, i * 12288 + 4096, 4096);
	l.file[0].size = 1000 * 12288;
	CHECK(s3layer_chunks(&l, &l.file[0]) == 0);
	CHECK_EQ(l.file[0].nchunks, 1000);
	for (uint64_t i = 0; i < 1000; i++) {
		bool ok = s3layer_chunk_at(&l, &l.file[0], i * 12288 + 4096 + 7,
		    &c, &obj);

		CHECK(ok && c == i && obj == i * 4096 + 7);
		CHECK(!s3layer_chunk_at(&l, &l.file[0], i * 12288, &c, &obj));
		CHECK(!s3layer_chunk_at(&l, &l.file[0], i * 12288 + 8192, &c,
		    &obj));
	}
	s3layer_free(&l);
}

/* The chunk digests of a part are those of its pieces. */
static void
test_hash_chunks(void)
{
	struct s3layer l;
	struct s3file *f = &l.file[0];
	size_t total = 600 * KiB;
	char *obj = malloc(total), want[DIGEST_HEX];

	for (size_t i = 0; i < total; i++)
		obj[i] = (char)(i * 7 + i / 4096);
	s3layer_init(&l);
	l.part_size = 512 * KiB;
	l.chunk_size = 256 * KiB;
	l.nfiles = 1;
	extents_add(&f->ext, 0, total);
	CHECK(s3layer_chunks(&l, f) == 0);
	CHECK_EQ(f->nchunks, 3);
	s3layer_hash_chunks(&l, f, 0, obj, 512 * KiB);		/* part 0 */
	s3layer_hash_chunks(&l, f, 512 * KiB, obj + 512 * KiB, 88 * KiB);
	for (size_t c = 0; c < 3; c++) {
		s3_sha256(obj + c * 256 * KiB, c < 2 ? 256 * KiB : 88 * KiB,
		    want);
		STR_EQ(f->chunk_sha[c], want);
	}
	l.chunk_size = 0;			/* none: nothing touched */
	memset(f->chunk_sha[0], 'x', DIGEST_HEX - 1);
	s3layer_hash_chunks(&l, f, 0, obj, 512 * KiB);
	CHECK(f->chunk_sha[0][0] == 'x');
	s3layer_free(&l);
	free(obj);
}

/* A layer whose index matches manifest text: *text (free it). */
static void
manifest_layer(struct s3layer *l, char **text, size_t *len)
{
	char path[] = "/tmp/snapvm-test-s3layer.XXXXXX";
	struct snap_meta m;
	int fd = mkstemp(path);
	FILE *f;

	memset(&m, 0, sizeof(m));
	memset(m.id, 'a', 64);
	m.mem_mib = 128;
	m.vcpus = 1;
	m.file[SNAP_STATE].present = m.file[SNAP_MEMORY].present = true;
	m.file[SNAP_STATE].size = 16;
	memset(m.file[SNAP_STATE].sha256, 'd', 64);
	m.file[SNAP_MEMORY].size = 128 * MiB;
	memset(m.file[SNAP_MEMORY].sha256, 'e', 64);
	CHECK(fd != -1 && snapmeta_write(path, &m) == 0);
	*text = calloc(1, SNAP_META_MAX);
	f = fopen(path, "rb");
	*len = f ? fread(*text, 1, SNAP_META_MAX, f) : 0;
	if (f)
		fclose(f);
	close(fd);
	unlink(path);

	s3layer_init(l);
	memcpy(l->id, m.id, sizeof(l->id));
	l->nfiles = 3;
	snprintf(l->file[0].name, sizeof(l->file[0].name), "manifest.json");
	l->file[0].size = *len;
	s3_sha256(*text, *len, l->file[0].sha256);
	for (int i = 0; i < 2; i++) {
		snprintf(l->file[i + 1].name, sizeof(l->file[i + 1].name), "%s",
		    snap_file_name[i]);
		l->file[i + 1].size = m.file[i].size;
		memcpy(l->file[i + 1].sha256, m.file[i].sha256, DIGEST_HEX);
	}
}

/* check_manifest's message for a layer changed by one edit. */
static bool
manifest_refused(int edit, const char *says)
{
	struct s3layer l;
	char *text;
	size_t len;
	int rc;

	manifest_layer(&l, &text, &len);
	switch (edit) {
	case 0: l.file[0].size++; break;
	case 1: text[len / 2] ^= 1; break;
	case 2: l.id[0] = 'b'; break;
	case 3: l.diff = true; break;
	case 4: l.file[2].size--; break;
	case 5: l.file[1].sha256[0] = 'f'; break;
	case 6: l.nfiles = 2; break;			/* memory missing */
	case 7: l.nfiles = 4;				/* one more */
		snprintf(l.file[3].name, sizeof(l.file[3].name), "pages");
		break;
	}
	unit_catch_stderr();
	rc = s3layer_check_manifest(&l, text, len, "s3://b/p/M/manifest.json");
	free(text);
	return unit_release_stderr(says) == 1 && rc == EX_DATAERR;
}

static void
test_check_manifest(void)
{
	struct s3layer l;
	char *text;
	size_t len;

	manifest_layer(&l, &text, &len);
	CHECK(len > 100);
	CHECK(s3layer_check_manifest(&l, text, len, "m") == 0);
	free(text);
	CHECK(manifest_refused(0, "s3://b/p/M/manifest.json: "));
	CHECK(manifest_refused(1, "the index says"));
	CHECK(manifest_refused(2, "s3://b/p/M/manifest.json: id: the "
	    "manifest and the index disagree (corrupt layer)"));
	CHECK(manifest_refused(3, ": kind: "));
	CHECK(manifest_refused(4, ": files.memory.size: "));
	CHECK(manifest_refused(5, ": files.state.sha256: "));
	CHECK(manifest_refused(6, ": files.memory (not in the index): "));
	CHECK(manifest_refused(7, ": files (the index has 4, the manifest "
	    "3): "));
}

/* A store of our own: one object, served by ranged GETs (answer decides
 * how), one connection per request, each on a thread of its own.  With
 * hold, answers wait until that many requests have been in at once (for
 * 5 s at most): most then shows they were. */
struct store {
	int fd;
	int port;
	pthread_t thread;
	const char *key;		/* "/bucket/key" */
	char *obj;
	size_t len;
	enum { HONEST, FLIP, SHORT, FLIP_AT } answer;
	uint64_t flip_at;		/* FLIP_AT: the object's byte changed */
	int hold;
	pthread_mutex_t mu;		/* guards what follows */
	pthread_cond_t cv;
	int gets;
	int inflight, most, conns;
	char range[64];			/* the last Range: asked for */
};

/* Counts the request in, and holds it as asked. */
static void
store_enter(struct store *st)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&st->mu);
	st->gets++;
	if (++st->inflight > st->most)
		st->most = st->inflight;
	pthread_cond_broadcast(&st->cv);
	while (st->most < st->hold &&
	    pthread_cond_timedwait(&st->cv, &st->mu, &until) == 0)
		;
	pthread_mutex_unlock(&st->mu);
}

static void
store_answer(struct store *st, int c, const char *req)
{
	unsigned long long a = 0, b = 0;
	const char *r = strstr(req, "\r\nRange: bytes=");
	char head[256], *body;
	size_t n;

	if (strncmp(req, "GET ", 4) != 0 || strncmp(req + 4, st->key,
	    strlen(st->key)) != 0 || r == NULL ||
	    sscanf(r, "\r\nRange: bytes=%llu-%llu", &a, &b) != 2 || b < a ||
	    b >= st->len) {
		n = (size_t)snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found"
		    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
		(void)!write(c, head, n);
		return;
	}
	pthread_mutex_lock(&st->mu);
	snprintf(st->range, sizeof(st->range), "%llu-%llu", a, b);
	pthread_mutex_unlock(&st->mu);
	n = (size_t)(b - a + 1) - (st->answer == SHORT);
	body = malloc(n ? n : 1);
	memcpy(body, st->obj + a, n);
	if (st->answer == FLIP)
		body[n / 2] ^= 0x20;
	if (st->answer == FLIP_AT && st->flip_at >= a && st->flip_at <= b)
		body[st->flip_at - a] ^= 0x20;
	snprintf(head, sizeof(head), "HTTP/1.1 206 Partial Content\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", n);
	(void)!write(c, head, strlen(head));
	(void)!write(c, body, n);
	free(body);
}

struct store_conn {
	struct store *st;
	int c;
};

static void *
store_conn(void *arg)
{
	struct store_conn *sc = arg;
	struct store *st = sc->st;
	char req[4096];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(req) - 1 &&
	    (n = read(sc->c, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[got] = '\0';
	store_enter(st);
	store_answer(st, sc->c, req);
	close(sc->c);
	free(sc);
	pthread_mutex_lock(&st->mu);
	st->inflight--;
	st->conns--;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

static void *
store_run(void *arg)
{
	struct store *st = arg;
	pthread_t t;
	int c;

	while ((c = accept(st->fd, NULL, NULL)) != -1) {
		struct store_conn *sc = malloc(sizeof(*sc));

		sc->st = st;
		sc->c = c;
		pthread_mutex_lock(&st->mu);
		st->conns++;
		pthread_mutex_unlock(&st->mu);
		if (pthread_create(&t, NULL, store_conn, sc) != 0)
			abort();
		pthread_detach(t);
	}
	return NULL;
}

static int
store_start(struct store *st)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if ((st->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(st->fd, (struct sockaddr *)&a, sizeof(a)) == -1 ||
	    listen(st->fd, 8) == -1 ||
	    getsockname(st->fd, (struct sockaddr *)&a, &alen) == -1)
		return -1;
	st->port = ntohs(a.sin_port);
	return pthread_create(&st->thread, NULL, store_run, st) == 0 ? 0 : -1;
}

/* Once every connection's thread is done with st. */
static void
store_stop(struct store *st)
{
	shutdown(st->fd, SHUT_RDWR);	/* wakes accept() */
	pthread_join(st->thread, NULL);
	close(st->fd);
	pthread_mutex_lock(&st->mu);
	while (st->conns > 0)
		pthread_cond_wait(&st->cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
}

/* The layer of one file, name, of size bytes with data in extents
 * ext[0..n-1] ({offset, length}), chunks of chunk bytes; its object in
 * obj, the file in file. */
static void
file_layer(struct s3layer *l, const char *name, size_t size, size_t chunk,
    const uint64_t (*ext)[2], size_t n, char **obj, char **file)
{
	struct s3file *f = &l->file[1];
	uint64_t at = 0;

	s3layer_init(l);
	l->version = S3LAYER_VERSION;
	l->part_size = 4 * MiB;
	l->chunk_size = chunk;
	l->nfiles = 2;
	snprintf(l->file[0].name, sizeof(l->file[0].name), "manifest.json");
	memset(l->file[0].sha256, '7', DIGEST_HEX - 1);
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->size = size;
	for (size_t i = 0; i < n; i++)
		extents_add(&f->ext, ext[i][0], ext[i][1]);
	*obj = malloc(f->ext.total);
	*file = calloc(1, size);
	for (size_t i = 0; i < f->ext.total; i++)
		(*obj)[i] = (char)(i * 31 + i / 1000);
	for (size_t i = 0; i < n; i++) {
		memcpy(*file + ext[i][0], *obj + at, ext[i][1]);
		at += ext[i][1];
	}
	s3_sha256(*file, size, f->sha256);
	s3layer_chunks(l, f);
	s3layer_hash_chunks(l, f, 0, *obj, f->ext.total);
}

/* The layer of a file "state": 1 MiB with data at [4 KiB, 300000 + 4 KiB)
 * and [512 KiB, 516 KiB), chunks of 64 KiB. */
static void
chunk_layer(struct s3layer *l, char **obj, char **file)
{
	static const uint64_t ext[][2] = { { 4 * KiB, 300000 },
	    { 512 * KiB, 4 * KiB } };

	file_layer(l, "state", MiB, 64 * KiB, ext, 2, obj, file);
}

static int
open_conf(struct s3 *s, struct s3conf *c, int port)
{
	char url[64];

	s3conf_defaults(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	if (s3conf_set(c, "endpoint", url, "t") == -1 ||
	    s3conf_set(c, "region", "us-east-1", "t") == -1 ||
	    s3conf_set(c, "access_key_id", "AKID", "t") == -1 ||
	    s3conf_set(c, "secret_access_key", "secret", "t") == -1 ||
	    s3conf_set(c, "addressing_style", "path", "t") == -1 ||
	    s3conf_set(c, "retries", "0", "t") == -1 || s3conf_finish(c) == -1)
		return -1;
	return s3_open(s, c, "bkt");
}

static void
test_get_chunks(void)
{
	struct store st = { .answer = HONEST };
	struct s3layer l;
	struct s3conf conf;
	struct s3 s;
	char key[S3LAYER_KEY_MAX + 8], says[S3LAYER_KEY_MAX + 64];
	char *file, *buf = malloc(64 * KiB);
	char path[] = "/tmp/snapvm-test-s3chunk.XXXXXX", *back;
	size_t len;
	int fd = mkstemp(path);

	CHECK(fd != -1);
	unlink(path);
	chunk_layer(&l, &st.obj, &file);
	st.len = l.file[1].ext.total;
	CHECK_EQ(l.file[1].nchunks, 5);		/* 304096 bytes */
	snprintf(key, sizeof(key), "/bkt/p/%s/state", l.file[0].sha256);
	st.key = key;
	CHECK(s3_global_init() == 0);
	CHECK(store_start(&st) == 0);
	CHECK(open_conf(&s, &conf, st.port) == 0);

	/* One chunk: one GET of its bytes. */
	CHECK(s3layer_get_chunk(&s, &l, "p", &l.file[1], 1, buf, &len) == 0);
	CHECK_EQ(st.gets, 1);
	STR_EQ(st.range, "65536-131071");
	CHECK(len == 64 * KiB && memcmp(buf, st.obj + 64 * KiB, len) == 0);
	CHECK(s3layer_get_chunk(&s, &l, "p", &l.file[1], 4, buf, &len) == 0);
	STR_EQ(st.range, "262144-304095");
	CHECK_EQ(len, 304096 - 262144);
	unit_catch_stderr();
	CHECK(s3layer_get_chunk(&s, &l, "p", &l.file[1], 5, buf, &len) ==
	    EX_SOFTWARE);
	CHECK_EQ(unit_release_stderr("chunk 5: the index has 5 chunks"), 1);
	CHECK_EQ(st.gets, 2);

	/* The whole file: every chunk in its place, holes zeros; its five
	 * chunks in one request, not one each. */
	st.gets = 0;
	CHECK(s3layer_get_file(&s, &l, "p", &l.file[1], fd) == 0);
	CHECK_EQ(st.gets, 1);
	STR_EQ(st.range, "0-304095");
	back = malloc(MiB);
	CHECK(pread(fd, back, MiB, 0) == MiB && memcmp(back, file, MiB) == 0);
	free(back);
	CHECK_EQ(lseek(fd, 0, SEEK_END), MiB);

	/* A store that lies: the chunk, its number and its bytes named. */
	st.answer = FLIP;
	unit_catch_stderr();
	CHECK(s3layer_get_chunk(&s, &l, "p", &l.file[1], 2, buf, &len) ==
	    EX_DATAERR);
	snprintf(says, sizeof(says), "s3://bkt/p/%s/state: chunk 2, bytes "
	    "131072-196607: SHA-256 ", l.file[0].sha256);
	CHECK_EQ(unit_release_stderr(says), 1);
	unit_catch_stderr();
	CHECK(s3layer_get_file(&s, &l, "p", &l.file[1], fd) == EX_DATAERR);
	CHECK_EQ(unit_release_stderr(says), 1);	/* the same chunk named */
	st.answer = SHORT;
	unit_catch_stderr();
	CHECK(s3layer_get_chunk(&s, &l, "p", &l.file[1], 0, buf, &len) ==
	    EX_DATAERR);
	CHECK_EQ(unit_release_stderr("state: chunk 0, bytes 0-65535: not "
	    "fetched"), 1);

	/* Chunks that agree with a file that does not. */
	st.answer = HONEST;
	l.file[1].sha256[0] ^= 1;
	unit_catch_stderr();
	CHECK(s3layer_get_file(&s, &l, "p", &l.file[1], fd) == EX_DATAERR);
	CHECK_EQ(unit_release_stderr("the file it makes has SHA-256"), 1);
	l.chunk_size = 0;				/* version 2 */
	CHECK(s3layer_get_file(&s, &l, "p", &l.file[1], fd) == EX_DATAERR);

	s3_close(&s);
	store_stop(&st);
	s3_global_cleanup();
	s3layer_free(&l);
	free(st.obj);
	free(file);
	free(buf);
	close(fd);
}

/* got: fds[0..n-1] each hold file (size bytes). */
static bool
same_files(const int *fds, size_t n, const char *file, size_t size)
{
	char *back = malloc(size);
	bool ok = true;

	for (size_t i = 0; i < n; i++)
		ok = ok && pread(fds[i], back, size, 0) == (ssize_t)size &&
		    memcmp(back, file, size) == 0 &&
		    lseek(fds[i], 0, SEEK_END) == (off_t)size;
	free(back);
	return ok;
}

/* A 3 MiB "workset" with 2.5 MiB of data in 10 chunks of 256 KiB, twice
 * (two wants of one object): runs of 4, 4 and 2 chunks each, 6 requests
 * on 4 connections, held by the store until two are in at once. */
static void
test_get_files(void)
{
	static const uint64_t ext[][2] = { { 8 * KiB, 2 * MiB },
	    { 2 * MiB + 512 * KiB, 512 * KiB } };
	struct store st = { .answer = HONEST, .hold = 2 };
	struct s3_count count = { 0 };
	struct s3_pace pace = { .rate = 1ull << 40 };
	struct s3layer l;
	struct s3conf conf;
	struct s3 s;
	struct s3layer_want w[2];
	struct s3pool_opts po = { .conf = &conf, .bucket = "bkt",
	    .pace = &pace };
	char key[S3LAYER_KEY_MAX + 8], says[S3LAYER_KEY_MAX + 96], *file;
	int fds[2];
	size_t requests;

	file_layer(&l, "workset", 3 * MiB, 256 * KiB, ext, 2, &st.obj, &file);
	st.len = l.file[1].ext.total;
	CHECK_EQ(l.file[1].nchunks, 10);
	snprintf(key, sizeof(key), "/bkt/p/%s/workset", l.file[0].sha256);
	st.key = key;
	for (int i = 0; i < 2; i++) {
		char path[] = "/tmp/snapvm-test-s3files.XXXXXX";

		CHECK((fds[i] = mkstemp(path)) != -1);
		unlink(path);
		w[i] = (struct s3layer_want){ &l, "bkt", "p", &l.file[1],
		    fds[i], &count };
	}
	CHECK(s3_global_init() == 0);
	CHECK(store_start(&st) == 0);
	CHECK(open_conf(&s, &conf, st.port) == 0);
	s3_close(&s);
	conf.jobs = 4;

	CHECK(s3layer_get_files(&po, w, 2, &requests) == 0);
	CHECK_EQ(requests, 6);
	CHECK_EQ(st.gets, 6);
	CHECK_EQ(atomic_load(&count.requests), 6);
	CHECK(st.most >= 2);			/* in parallel */
	CHECK(atomic_load(&pace.clock_us) != 0);	/* the link shared */
	CHECK(same_files(fds, 2, file, 3 * MiB));

	/* A corrupt chunk in the last run: named, with its bytes. */
	st.answer = FLIP_AT;
	st.flip_at = 9 * 256 * KiB + 100;
	unit_catch_stderr();
	CHECK(s3layer_get_files(&po, w, 1, &requests) == EX_DATAERR);
	snprintf(says, sizeof(says), "s3://bkt/p/%s/workset: chunk 9, bytes "
	    "2359296-2621439: SHA-256 ", l.file[0].sha256);
	CHECK_EQ(unit_release_stderr(says), 1);

	/* A short answer: refused, whichever run it cut. */
	st.answer = SHORT;
	unit_catch_stderr();
	CHECK(s3layer_get_files(&po, w, 2, &requests) == EX_DATAERR);
	CHECK(unit_release_stderr("the store sent fewer bytes than expected")
	    >= 1);

	/* Chunks that agree with a file that does not; no chunk digests. */
	st.answer = HONEST;
	l.file[1].sha256[0] ^= 1;
	unit_catch_stderr();
	CHECK(s3layer_get_files(&po, w, 1, &requests) == EX_DATAERR);
	CHECK_EQ(unit_release_stderr("workset: the file it makes has "
	    "SHA-256"), 1);
	l.chunk_size = 0;
	unit_catch_stderr();
	CHECK(s3layer_get_files(&po, w, 1, &requests) == EX_DATAERR);
	CHECK_EQ(unit_release_stderr("has no chunk digests"), 1);

	store_stop(&st);
	s3_global_cleanup();
	s3layer_free(&l);
	free(st.obj);
	free(file);
	close(fds[0]);
	close(fds[1]);
}

/* A layer from a directory: put's index of it is version 3, its chunk
 * size divides part_size, which must be a multiple of it. */
static void
test_local(void)
{
	struct s3layer l;

	unit_catch_stderr();
	CHECK(s3layer_local(&l, "/nonexistent", 5 * MiB + 4096) == EX_USAGE);
	CHECK_EQ(unit_release_stderr("part_size: 5246976 is not a multiple of "
	    "256 KiB"), 1);
	s3layer_free(&l);
}

static void
test_plan(void)
{
	struct s3layer l;
	struct s3task *t;
	struct s3part part;
	size_t n;

	sample_layer(&l);
	snprintf(l.file[2].name, sizeof(l.file[2].name), "pages");
	l.nfiles = 3;				/* a file without data */
	CHECK(s3layer_parts(&l, &l.file[2]) == 0);
	CHECK(s3layer_plan(&l, false, &t, &n) == 0);
	CHECK_EQ(n, 3);				/* 1 + 2 + none */
	CHECK(t[1].file == 1 && t[1].part == 0 && t[2].part == 1);
	CHECK(s3layer_part(&l, "a/b", &t[2], &part) == 0);
	{
		char want[S3LAYER_KEY_MAX];

		snprintf(want, sizeof(want), "a/b/%s/memory", l.file[0].sha256);
		STR_EQ(part.key, want);
	}
	CHECK_EQ(part.at, 1 << 20);
	CHECK_EQ(part.len, 8192);
	free(part.buf);
	free(t);
	CHECK(s3layer_plan(&l, true, &t, &n) == 0);
	CHECK_EQ(n, 4);				/* pages: one empty part */
	CHECK(t[3].file == 2 && t[3].part == 0);
	CHECK(s3layer_part(&l, "p", &t[3], &part) == 0);
	CHECK_EQ(part.len, 0);
	free(part.buf);
	free(t);
	s3layer_free(&l);
}

static const struct unit_test tests[] = {
	{ "s3layer: the index reads back and refuses damage", test_index },
	{ "s3layer: chunk_size and chunks checked", test_index_chunks },
	{ "s3layer: a file's bytes in chunks, holes in none", test_chunk_at },
	{ "s3layer: chunk digests from parts", test_hash_chunks },
	{ "s3layer: manifest.json against the index", test_check_manifest },
	{ "s3layer: chunks and files fetched and checked", test_get_chunks },
	{ "s3layer: files fetched in runs on connections at once",
	    test_get_files },
	{ "s3layer: put's part_size holds whole chunks", test_local },
	{ "s3layer: parts of files as tasks", test_plan },
};

UNIT_MAIN(tests)
