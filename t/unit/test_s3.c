/* s3snap's pure parts: SigV4 encoding and query order, URLs, the XML
 * scraps, extents of sparse files and configuration (the layer index:
 * test_s3layer.c). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extent.h"
#include "log.h"
#include "s3.h"
#include "s3conf.h"
#include "s3layer.h"
#include "s3pool.h"
#include "s3xml.h"
#include "unit.h"

#define STR_EQ(a, b)	CHECK(strcmp((a), (b)) == 0)

static void
test_encode(void)
{
	char out[64];

	CHECK(s3_encode("a b/c~d_e.f-g", true, out, sizeof(out)) == 0);
	STR_EQ(out, "a%20b/c~d_e.f-g");
	CHECK(s3_encode("a b/c", false, out, sizeof(out)) == 0);
	STR_EQ(out, "a%20b%2Fc");
	CHECK(s3_encode("\xc3\xa9+=&?%", false, out, sizeof(out)) == 0);
	STR_EQ(out, "%C3%A9%2B%3D%26%3F%25");
	CHECK(s3_encode("", true, out, sizeof(out)) == 0);
	STR_EQ(out, "");
	CHECK(s3_encode("abc", true, out, 3) == -1);	/* no room for NUL */
	CHECK(s3_encode("   ", true, out, 9) == -1);
	CHECK(s3_encode("   ", true, out, 10) == 0);
}

static void
test_query(void)
{
	struct s3_param p[4] = {
		{ "uploadId", "2~x+y/z" }, { "partNumber", "10" },
	};
	char q[256];

	CHECK(s3_query_string(p, 2, q, sizeof(q)) == 0);
	STR_EQ(q, "partNumber=10&uploadId=2~x%2By%2Fz");
	p[0] = (struct s3_param){ "uploads", "" };
	p[1] = (struct s3_param){ "prefix", "a/" };
	CHECK(s3_query_string(p, 2, q, sizeof(q)) == 0);
	STR_EQ(q, "prefix=a%2F&uploads=");
	p[0] = (struct s3_param){ "list-type", "2" };
	p[1] = (struct s3_param){ "prefix", "" };
	p[2] = (struct s3_param){ "delimiter", "/" };
	p[3] = (struct s3_param){ "continuation-token", "a b" };
	CHECK(s3_query_string(p, 4, q, sizeof(q)) == 0);
	STR_EQ(q, "continuation-token=a%20b&delimiter=%2F&list-type=2&prefix=");
	CHECK(s3_query_string(p, 0, q, sizeof(q)) == 0);
	STR_EQ(q, "");
	CHECK(s3_query_string(p, 4, q, 20) == -1);
}

static void
test_url(void)
{
	struct s3conf c;
	char url[256];

	s3conf_defaults(&c);
	CHECK(s3conf_set(&c, "endpoint", "http://127.0.0.1:8000", "t") == 0);
	c.style = S3_STYLE_PATH;
	CHECK(s3_url(&c, "bkt", "a b/c", "x=1", url, sizeof(url)) == 0);
	STR_EQ(url, "http://127.0.0.1:8000/bkt/a%20b/c?x=1");
	CHECK(s3_url(&c, "bkt", NULL, "", url, sizeof(url)) == 0);
	STR_EQ(url, "http://127.0.0.1:8000/bkt");
	c.style = S3_STYLE_VIRTUAL;
	CHECK(s3_url(&c, "bkt", "k", "", url, sizeof(url)) == 0);
	STR_EQ(url, "http://bkt.127.0.0.1:8000/k");
	CHECK(s3_url(&c, "bkt", NULL, "list-type=2", url, sizeof(url)) == 0);
	STR_EQ(url, "http://bkt.127.0.0.1:8000/?list-type=2");
	CHECK(s3_url(&c, "bkt", "k", "", url, 10) == -1);
	/* A gateway's path, with or without its trailing slash. */
	CHECK(s3conf_set(&c, "endpoint", "https://gw.example/s3/", "t") == 0);
	STR_EQ(c.base, "/s3");
	CHECK(s3_url(&c, "bkt", "k", "", url, sizeof(url)) == 0);
	STR_EQ(url, "https://bkt.gw.example/s3/k");
	/* Dots in a bucket over HTTPS: path style, which the certificate
	 * covers; over HTTP the style asked for. */
	CHECK(s3_url(&c, "my.bkt", "k", "", url, sizeof(url)) == 0);
	STR_EQ(url, "https://gw.example/s3/my.bkt/k");
	c.style = S3_STYLE_PATH;
	CHECK(s3_url(&c, "bkt", "k", "x=1", url, sizeof(url)) == 0);
	STR_EQ(url, "https://gw.example/s3/bkt/k?x=1");
	CHECK(s3conf_set(&c, "endpoint", "http://store:9000", "t") == 0);
	c.style = S3_STYLE_VIRTUAL;
	CHECK(s3_url(&c, "my.bkt", "k", "", url, sizeof(url)) == 0);
	STR_EQ(url, "http://my.bkt.store:9000/k");
}

static void
test_xml(void)
{
	const char *x = "<?xml version=\"1.0\"?><R xmlns=\"u\"><Code>No&amp;"
	    "Such&#x4b;ey</Code><Upload><Key>a/&lt;1&gt;</Key><UploadId>u1"
	    "</UploadId></Upload><Upload><Key>b</Key><UploadId/></Upload>"
	    "<Message>x</Message></R>";
	const char *end = x + strlen(x), *p = x, *in, *in_end;
	char out[64], esc[64];
	int n = 0;

	CHECK(s3xml_text(x, end, "Code", out, sizeof(out)) == 0);
	STR_EQ(out, "No&SuchKey");
	CHECK(s3xml_text(x, end, "Code", out, 5) == -1);
	CHECK(s3xml_text(x, end, "Nothing", out, sizeof(out)) == -1);
	CHECK(s3xml_text(x, end, "R", out, sizeof(out)) == -1);	/* long */
	while ((p = s3xml_next(p, end, "Upload", &in, &in_end)) != NULL) {
		CHECK(s3xml_text(in, in_end, "Key", out, sizeof(out)) == 0);
		STR_EQ(out, n == 0 ? "a/<1>" : "b");
		CHECK(s3xml_text(in, in_end, "UploadId", out, sizeof(out)) == 0);
		STR_EQ(out, n == 0 ? "u1" : "");
		n++;
	}
	CHECK_EQ(n, 2);
	CHECK(s3xml_text(x, x + 30, "Code", out, sizeof(out)) == -1);
	x = "<a>&bogus;</a><b>&#0;</b><c>&#x7e;</c>";
	end = x + strlen(x);
	CHECK(s3xml_text(x, end, "a", out, sizeof(out)) == -1);
	CHECK(s3xml_text(x, end, "b", out, sizeof(out)) == -1);
	CHECK(s3xml_text(x, end, "c", out, sizeof(out)) == 0);
	STR_EQ(out, "~");
	CHECK(s3xml_escape("\"a\"&<b>'", esc, sizeof(esc)) == 0);
	STR_EQ(esc, "&quot;a&quot;&amp;&lt;b&gt;&apos;");
	CHECK(s3xml_escape("&&&", esc, 10) == -1);
}

static void
test_extents_add(void)
{
	struct extents e = { 0 };

	CHECK(extents_add(&e, 0, 4096) == 0);
	CHECK(extents_add(&e, 4096, 4096) == 0);	/* adjacent: merged */
	CHECK(extents_add(&e, 6000, 4000) == 0);	/* overlapping */
	CHECK(extents_add(&e, 20480, 8192) == 0);
	CHECK(extents_add(&e, 40960, 0) == 0);		/* empty: nothing */
	CHECK_EQ(e.n, 2);
	CHECK_EQ(e.v[0].off, 0);
	CHECK_EQ(e.v[0].len, 10000);
	CHECK_EQ(e.v[1].off, 20480);
	CHECK_EQ(e.v[1].at, 10000);
	CHECK_EQ(e.total, 18192);
	CHECK_EQ(extents_find(&e, 0), 0);
	CHECK_EQ(extents_find(&e, 9999), 0);
	CHECK_EQ(extents_find(&e, 10000), 1);
	CHECK_EQ(extents_find(&e, 18191), 1);
	CHECK_EQ(extents_find(&e, 18192), e.n);
	/* By offset in the file: the hole between them is in none. */
	CHECK_EQ(extents_find_off(&e, 0), 0);
	CHECK_EQ(extents_find_off(&e, 9999), 0);
	CHECK_EQ(extents_find_off(&e, 10000), e.n);
	CHECK_EQ(extents_find_off(&e, 20479), e.n);
	CHECK_EQ(extents_find_off(&e, 20480), 1);
	CHECK_EQ(extents_find_off(&e, 28671), 1);
	CHECK_EQ(extents_find_off(&e, 28672), e.n);
	CHECK_EQ(extents_find_off(&e, UINT64_MAX), e.n);
	extents_free(&e);
	CHECK_EQ(extents_find(&e, 0), 0);	/* empty: none */
	CHECK_EQ(extents_find_off(&e, 0), 0);
}

/* A sparse file: holes stay out of the packed stream, data reads back. */
static void
test_extents_scan(void)
{
	char path[] = "/tmp/snapvm-test-s3.XXXXXX", buf[3 * 4096], back[3 * 4096];
	struct extents e = { 0 };
	int fd = mkstemp(path);
	uint64_t size = 64 * 4096;

	CHECK(fd != -1);
	if (fd == -1)
		return;
	memset(buf, 'a', sizeof(buf));
	CHECK(ftruncate(fd, (off_t)size) == 0);
	CHECK(pwrite(fd, buf, 100, 8 * 4096 + 10) == 100);
	CHECK(pwrite(fd, buf, 2 * 4096, 40 * 4096) == 2 * 4096);
	CHECK(extents_scan(fd, path, size, &e) == 0);
	/* File systems may report data at a coarser grain, never finer. */
	CHECK(e.total >= 3 * 4096 && e.total <= size);
	CHECK(e.total % 4096 == 0);
	CHECK(e.n >= 1 && e.v[0].off <= 8 * 4096);
	CHECK(extents_io(&e, fd, 0, back, (size_t)(e.total < sizeof(back) ?
	    e.total : sizeof(back)), false) == 0);
	CHECK(extents_io(&e, fd, e.total - 10, back, 11, false) == -1);
	memset(back, 'b', sizeof(back));
	CHECK(extents_io(&e, fd, e.total - 4096, back, 4096, true) == 0);
	CHECK(pread(fd, buf, 4096, (off_t)(e.v[e.n - 1].off +
	    e.v[e.n - 1].len - 4096)) == 4096);
	CHECK(memcmp(buf, back, 4096) == 0);
	extents_free(&e);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(extents_scan(fd, path, 0, &e) == 0);
	CHECK_EQ(e.n, 0);
	close(fd);
	unlink(path);
}

/* Zeros written as data (as a file system without holes shows them, or
 * a copy made without --sparse) are left out; the rest is as it is. */
static void
test_extents_nonzero(void)
{
	char path[] = "/tmp/snapvm-test-s3.XXXXXX", page[4096];
	static char dense[300 * 4096];	/* zeros, and more than one read */
	struct extents e = { 0 };
	int fd = mkstemp(path);
	size_t size = sizeof(dense) - 1000;	/* a short last block */

	CHECK(fd != -1);
	if (fd == -1)
		return;
	memset(page, 'a', sizeof(page));
	memcpy(dense + 3 * 4096, page, 4096);		/* block 3 */
	dense[4 * 4096 + 4095] = 'b';			/* block 4's last byte */
	memcpy(dense + 260 * 4096, page, 4096);		/* past the 1 MiB read */
	dense[size - 1] = 'c';				/* the short block */
	CHECK(pwrite(fd, dense, size, 0) == (ssize_t)size);
	CHECK(extents_scan_nonzero(fd, path, size, &e) == 0);
	CHECK_EQ(e.n, 3);
	CHECK(e.n == 3 && e.v[0].off == 3 * 4096 && e.v[0].len == 2 * 4096);
	CHECK(e.n == 3 && e.v[1].off == 260 * 4096 && e.v[1].len == 4096);
	CHECK(e.n == 3 && e.v[2].off == 299 * 4096 && e.v[2].len == 4096 - 1000);
	CHECK_EQ(e.total, 4 * 4096 - 1000);
	extents_free(&e);
	/* All zeros: nothing. */
	memset(dense + 3 * 4096, 0, 4096);
	CHECK(pwrite(fd, dense, 5 * 4096, 0) == 5 * 4096);
	CHECK(ftruncate(fd, 5 * 4096) == 0);
	CHECK(extents_scan_nonzero(fd, path, 5 * 4096, &e) == 0);
	CHECK(e.n == 1 && e.v[0].off == 4 * 4096);
	extents_free(&e);
	CHECK(ftruncate(fd, 4 * 4096) == 0);
	CHECK(extents_scan_nonzero(fd, path, 4 * 4096, &e) == 0);
	CHECK_EQ(e.n, 0);
	CHECK_EQ(e.total, 0);
	close(fd);
	unlink(path);
}

static void
test_size(void)
{
	uint64_t v = 0;

	CHECK(s3conf_size("12", &v) == 0 && v == 12);
	CHECK(s3conf_size("8M", &v) == 0 && v == 8 << 20);
	CHECK(s3conf_size("100k", &v) == 0 && v == 102400);
	CHECK(s3conf_size("1G", &v) == 0 && v == 1 << 30);
	CHECK(s3conf_size("", &v) == -1);
	CHECK(s3conf_size("-1", &v) == -1);
	CHECK(s3conf_size("5Q", &v) == -1);
	CHECK(s3conf_size("5MB", &v) == -1);
	CHECK(s3conf_size("99999999999999999999", &v) == -1);
	CHECK(s3conf_size("17179869184G", &v) == -1);
}

static const char *
fake_env(const char *name)
{
	if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0)
		return "AKID";
	if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0)
		return "secret";
	if (strcmp(name, "AWS_DEFAULT_REGION") == 0)
		return "eu-west-3";
	if (strcmp(name, "S3SNAP_JOBS") == 0)
		return "7";
	return NULL;
}

static void
test_conf(void)
{
	char path[] = "/tmp/snapvm-test-s3conf.XXXXXX";
	struct s3conf c;
	int fd = mkstemp(path);
	FILE *f = fd == -1 ? NULL : fdopen(fd, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fprintf(f, "endpoint: https://store.example:9000/\nregion: r1\n"
	    "jobs: 2\npart_size: 16M\naddressing_style: virtual\n");
	fclose(f);
	s3conf_defaults(&c);
	CHECK(s3conf_file(&c, path) == 0);
	CHECK_EQ(c.jobs, 2);
	CHECK(s3conf_env(&c, fake_env) == 0);	/* env beats the file */
	CHECK_EQ(c.jobs, 7);
	STR_EQ(c.region, "eu-west-3");
	CHECK(s3conf_set(&c, "jobs", "3", "--jobs") == 0);	/* flags win */
	CHECK(s3conf_finish(&c) == 0);
	CHECK_EQ(c.jobs, 3);
	CHECK_EQ(c.part_size, 16 << 20);
	STR_EQ(c.scheme, "https");
	STR_EQ(c.host, "store.example:9000");
	CHECK(c.style == S3_STYLE_VIRTUAL);
	STR_EQ(c.access_key, "AKID");

	f = fopen(path, "w");
	fprintf(f, "endpoint: http://a\nbogus: 1\n");
	fclose(f);
	CHECK(s3conf_file(&c, path) == -1);	/* unknown key */
	f = fopen(path, "w");
	fprintf(f, "- a list\n");
	fclose(f);
	CHECK(s3conf_file(&c, path) == -1);
	unlink(path);
	CHECK(s3conf_file(&c, path) == -1);	/* missing */

	s3conf_defaults(&c);
	CHECK(s3conf_finish(&c) == -1);		/* no credentials */
	STR_EQ(c.host, "s3.us-east-1.amazonaws.com");
	CHECK(c.style == S3_STYLE_VIRTUAL);
	CHECK(s3conf_set(&c, "endpoint", "ftp://x", "t") == -1);
	CHECK(s3conf_set(&c, "endpoint", "http://x/pa th", "t") == -1);
	CHECK(s3conf_set(&c, "endpoint", "http://x/a//b", "t") == -1);
	CHECK(s3conf_set(&c, "endpoint", "http://x/?q", "t") == -1);
	CHECK(s3conf_set(&c, "endpoint", "http://", "t") == -1);
	CHECK(s3conf_set(&c, "endpoint", "http://a@b", "t") == -1);
	CHECK(s3conf_set(&c, "part_size", "4M", "t") == -1);
	/* Parts of whole chunks (S3LAYER_CHUNK): multiples of 256 KiB. */
	CHECK(s3conf_set(&c, "part_size", "5000000", "t") == -1);
	CHECK(s3conf_set(&c, "part_size", "5377k", "t") == -1);
	CHECK(s3conf_set(&c, "part_size", "5376k", "t") == 0);
	CHECK_EQ(c.part_size, 5376 * 1024);
	CHECK(s3conf_set(&c, "part_size", "1G", "t") == 0);
	CHECK(s3conf_set(&c, "jobs", "65", "t") == -1);
	CHECK(s3conf_set(&c, "addressing_style", "odd", "t") == -1);
	CHECK(s3conf_set(&c, "region", "US EAST", "t") == -1);
	CHECK(s3conf_set(&c, "nonsense", "1", "t") == -1);
	CHECK(s3conf_set(&c, "limit_rate", "0", "t") == 0);
	STR_EQ(s3conf_env_name("region"), "AWS_REGION");
	CHECK(s3conf_env_name("nonsense") == NULL);
}

static void
test_uri(void)
{
	struct s3_uri u;

	CHECK(s3_uri_parse("s3://snapvm-test/a/b/", true, &u) == 0);
	STR_EQ(u.bucket, "snapvm-test");
	STR_EQ(u.prefix, "a/b");
	CHECK(s3_uri_parse("s3://bkt", false, &u) == 0);
	STR_EQ(u.prefix, "");
	CHECK(s3_uri_parse("s3://bkt", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/", true, &u) == -1);
	CHECK(s3_uri_parse("http://bkt/a", true, &u) == -1);
	CHECK(s3_uri_parse("s3://ab/a", true, &u) == -1);
	CHECK(s3_uri_parse("s3://Bkt/a", true, &u) == -1);
	CHECK(s3_uri_parse("s3://-bkt/a", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/a//b", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/a/../b", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/./b", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/a\nb", true, &u) == -1);
	CHECK(s3_uri_parse("s3://bkt/..a/b.", true, &u) == 0);
}

struct seen {
	pthread_mutex_t mu;
	struct s3_pace *pace[8];
	uint64_t rate[8];
};

static int
see_pace(struct s3 *s, void *ctx, size_t i)
{
	struct seen *v = ctx;

	pthread_mutex_lock(&v->mu);
	v->pace[i] = s->pace;
	v->rate[i] = s->pace != NULL ? s->pace->rate : 0;
	pthread_mutex_unlock(&v->mu);
	return 0;
}

/* --limit-rate is the transfer's, not each connection's: a file of one
 * part had a fraction of it when each job had its share.  Nothing is
 * sent: the tasks only look at their connections. */
static void
test_pool_pace(void)
{
	struct seen v = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct s3_pace shared = { .rate = 12345 };
	struct s3conf c;
	struct s3pool_opts o = { .conf = &c, .bucket = "b" };

	s3conf_defaults(&c);
	CHECK(s3conf_set(&c, "endpoint", "http://127.0.0.1:1", "t") == 0);
	c.jobs = 4;
	c.limit_rate = 2 << 20;
	CHECK(s3_global_init() == 0);
	CHECK_EQ(s3pool_run(&o, 8, see_pace, &v, NULL), 0);
	for (int i = 0; i < 8; i++) {
		CHECK(v.pace[i] != NULL && v.pace[i] == v.pace[0]);
		CHECK_EQ(v.rate[i], 2 << 20);
	}
	o.pace = &shared;		/* snappager's: one link for all */
	CHECK_EQ(s3pool_run(&o, 8, see_pace, &v, NULL), 0);
	for (int i = 0; i < 8; i++)
		CHECK(v.pace[i] == &shared);
	s3_global_cleanup();
}

static const struct unit_test tests[] = {
	{ "s3: key and query encoding as SigV4 wants it", test_encode },
	{ "s3: query parameters sorted and encoded", test_query },
	{ "s3: path-style and virtual-hosted URLs", test_url },
	{ "s3xml: text, entities, iteration, escaping", test_xml },
	{ "extent: adding, merging, finding", test_extents_add },
	{ "extent: a sparse file's data, read and written", test_extents_scan },
	{ "extent: blocks of zeros written as data are left out",
	    test_extents_nonzero },
	{ "s3conf: sizes with suffixes", test_size },
	{ "s3conf: file, environment, flags in that order", test_conf },
	{ "s3conf: s3:// names", test_uri },
	{ "s3pool: every connection of a transfer shares one link at the "
	    "whole --limit-rate", test_pool_pace },
};

UNIT_MAIN(tests)
