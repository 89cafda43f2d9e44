/*
 * What an S3 store answers, through lib/s3/s3.c and lib/s3/s3ops.c: listings
 * (ListObjectsV2, ListMultipartUploads, page after page), multipart
 * uploads (UploadId, ETag headers, <Error> in a 200), whole and ranged
 * objects, and error bodies.  libcurl's easy interface is replaced here:
 * each transfer takes its answer (status, header lines, body) from the
 * input, so everything from the header and body callbacks on is real.
 *
 * Input: an operation byte, then answers, each a 16-bit status, a 16-bit
 * header length and the header lines, a 32-bit body length and the body.
 */
#define CURL_DISABLE_TYPECHECK
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fuzz.h"
#include "s3ops.h"

static struct fz in;
static long status;
static curl_write_callback on_body, on_header;
static void *body_arg, *header_arg;
static int dummy;

CURL *
curl_easy_init(void)
{
	return (CURL *)&dummy;
}

void curl_easy_cleanup(CURL *c) { (void)c; }

void
curl_easy_reset(CURL *c)
{
	(void)c;
	on_body = on_header = NULL;
}

CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;

	(void)c;
	va_start(ap, opt);
	if (opt == CURLOPT_WRITEFUNCTION)
		on_body = va_arg(ap, curl_write_callback);
	else if (opt == CURLOPT_HEADERFUNCTION)
		on_header = va_arg(ap, curl_write_callback);
	else if (opt == CURLOPT_WRITEDATA)
		body_arg = va_arg(ap, void *);
	else if (opt == CURLOPT_HEADERDATA)
		header_arg = va_arg(ap, void *);
	va_end(ap);
	return CURLE_OK;
}

CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;

	(void)c;
	va_start(ap, info);
	if (info == CURLINFO_RESPONSE_CODE)
		*va_arg(ap, long *) = status;
	va_end(ap);
	return CURLE_OK;
}

/* Hands n bytes of the input to cb in a buffer of exactly n bytes, as
 * libcurl would (not NUL-terminated); false if cb refused them. */
static bool
deliver(curl_write_callback cb, void *arg, size_t n)
{
	char *p = malloc(n ? n : 1);
	size_t got = fz_take(&in, p, n);
	bool ok = cb(p, 1, got, arg) == got;

	free(p);
	return ok;
}

/* Header lines one at a time, each with its line end, then the body in
 * chunks of at most 16 KiB (CURL_MAX_WRITE_SIZE). */
CURLcode
curl_easy_perform(CURL *c)
{
	size_t hlen, blen, line;

	(void)c;
	if (in.n == 0)
		return CURLE_COULDNT_CONNECT;
	status = fz_u16(&in) % 600;
	hlen = fz_u16(&in);
	while (hlen > 0 && in.n > 0) {
		const uint8_t *nl = memchr(in.p, '\n', hlen < in.n ? hlen : in.n);

		line = nl ? (size_t)(nl - in.p) + 1 : hlen;
		hlen -= line < hlen ? line : hlen;
		deliver(on_header, header_arg, line);
	}
	for (blen = fz_u32(&in) % (1U << 20); blen > 0 && in.n > 0; ) {
		size_t n = blen < CURL_MAX_WRITE_SIZE ? blen : CURL_MAX_WRITE_SIZE;

		if (!deliver(on_body, body_arg, n))
			return CURLE_WRITE_ERROR;
		blen -= n;
	}
	return CURLE_OK;
}

static int
object(const char *key, uint64_t size, void *arg)
{
	(void)size;
	(void)arg;
	return strlen(key) == 0;
}

static int
upload(const char *key, const char *id, void *arg)
{
	(void)arg;
	return strlen(key) == 0 || strlen(id) == 0;
}

static void
operation(struct s3 *s, uint8_t op)
{
	static char etags[3][S3_ETAG_MAX] = { "\"a\"", "\"b&<\"", "" };
	char id[S3_UPLOAD_ID_MAX], etag[S3_ETAG_MAX], code[64], range[100];
	struct s3_buf b = { 0 };

	switch (op % 8) {
	case 0: s3_list(s, "snaps/x", NULL, object, NULL); break;
	case 1: s3_list(s, "snaps/", "/", object, NULL); break;
	case 2: s3_list_uploads(s, "snaps/", upload, NULL); break;
	case 3: s3_mpu_create(s, "snaps/x/memory", id); break;
	case 4: s3_mpu_complete(s, "snaps/x/memory", "id", etags, 3); break;
	case 5: s3_get_all(s, "snaps/x/s3snap-index.json", 65536, true, &b,
	    code); break;
	case 6: s3_mpu_part(s, "k", "id", 1, "data", 4, NULL, etag); break;
	default: s3_get_range(s, "snaps/x/state", 0, sizeof(range), range);
	}
	s3_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct s3conf conf;
	struct s3 s;

	fz_init();
	s3conf_defaults(&conf);
	strcpy(conf.scheme, "http");
	strcpy(conf.host, "store.invalid");
	conf.retries = 0;		/* a retry waits a quarter second */
	in = (struct fz){ data, size };
	if (s3_open(&s, &conf, "bucket") == -1)
		abort();
	operation(&s, fz_u8(&in));
	s3_close(&s);
	return 0;
}
