#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "s3ops.h"
#include "s3xml.h"

#define LIST_MAX	(16 * 1024 * 1024)	/* one page of a listing */
#define TOKEN_MAX	1024

int
s3_put(struct s3 *s, const char *key, const void *data, size_t len,
    const char *sha)
{
	struct s3_req r = { .method = "PUT", .key = key, .body = data,
	    .body_len = len, .body_sha = sha };

	return s3_do(s, &r);
}

int
s3_get_range(struct s3 *s, const char *key, uint64_t off, size_t len,
    void *buf)
{
	struct s3_req r = { .method = "GET", .key = key, .range = len > 0,
	    .range_off = off, .range_len = len, .fixed = buf,
	    .fixed_len = len };

	return s3_do(s, &r);
}

int
s3_get_all(struct s3 *s, const char *key, size_t max, bool missing_ok,
    struct s3_buf *out, char code[64])
{
	struct s3_req r = { .method = "GET", .key = key, .out = out,
	    .missing_ok = missing_ok };
	int rc;

	out->max = max;
	rc = s3_do(s, &r);
	if (code != NULL)
		memcpy(code, r.code, sizeof(r.code));
	return rc;
}

/* An object that is not there is deleted already; a bucket that is not
 * there is a mistake. */
int
s3_delete(struct s3 *s, const char *key)
{
	struct s3_req r = { .method = "DELETE", .key = key, .missing_ok = true };
	int rc = s3_do(s, &r);

	if (rc == EX_NOINPUT && strcmp(r.code, "NoSuchBucket") == 0)
		log_warnx("DELETE s3://%s/%s: HTTP 404 NoSuchBucket", s->bucket,
		    key);
	else if (rc == EX_NOINPUT)
		rc = 0;
	return rc;
}

/* A 200 answer that carries an <Error> (CompleteMultipartUpload may). */
static int
error_in_body(const struct s3 *s, const char *what, const char *key,
    const struct s3_buf *b)
{
	char code[64] = "", msg[256] = "";

	if (b->data == NULL || strstr(b->data, "<Error>") == NULL)
		return 0;
	s3xml_text(b->data, b->data + b->len, "Code", code, sizeof(code));
	s3xml_text(b->data, b->data + b->len, "Message", msg, sizeof(msg));
	log_warnx("%s s3://%s/%s: %s (%s)", what, s->bucket, key, code, msg);
	return strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "SlowDown") == 0 ? EX_UNAVAILABLE : EX_PROTOCOL;
}

int
s3_mpu_create(struct s3 *s, const char *key, char upload_id[S3_UPLOAD_ID_MAX])
{
	struct s3_buf b = { 0 };
	struct s3_req r = { .method = "POST", .key = key, .out = &b };
	int rc;

	b.max = 64 * 1024;
	s3_param(&r, "uploads", "");
	if ((rc = s3_do(s, &r)) == 0 && (b.data == NULL ||
	    s3xml_text(b.data, b.data + b.len, "UploadId", upload_id,
	    S3_UPLOAD_ID_MAX) == -1 || upload_id[0] == '\0')) {
		log_warnx("POST s3://%s/%s?uploads: no UploadId in the answer",
		    s->bucket, key);
		rc = EX_PROTOCOL;
	}
	s3_buf_free(&b);
	return rc;
}

int
s3_mpu_part(struct s3 *s, const char *key, const char *upload_id, int part,
    const void *data, size_t len, const char *sha, char etag[S3_ETAG_MAX])
{
	struct s3_req r = { .method = "PUT", .key = key, .body = data,
	    .body_len = len, .body_sha = sha };
	char num[16];
	int rc;

	snprintf(num, sizeof(num), "%d", part);
	s3_param(&r, "partNumber", num);
	s3_param(&r, "uploadId", upload_id);
	if ((rc = s3_do(s, &r)) != 0)
		return rc;
	if (r.etag[0] == '\0') {
		log_warnx("PUT s3://%s/%s part %d: no ETag in the answer",
		    s->bucket, key, part);
		return EX_PROTOCOL;
	}
	memcpy(etag, r.etag, S3_ETAG_MAX);
	return 0;
}

/* The CompleteMultipartUpload document; NULL if out of memory. */
static char *
complete_xml(char (*etags)[S3_ETAG_MAX], size_t n, size_t *len)
{
	size_t cap = 128 + n * (2 * S3_ETAG_MAX + 96), used;
	char *x = malloc(cap), esc[6 * S3_ETAG_MAX];

	if (x == NULL)
		return NULL;
	used = (size_t)snprintf(x, cap, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n; i++) {
		if (s3xml_escape(etags[i], esc, sizeof(esc)) == -1)
			esc[0] = '\0';
		used += (size_t)snprintf(x + used, cap - used, "<Part><PartNumber>"
		    "%zu</PartNumber><ETag>%s</ETag></Part>", i + 1, esc);
	}
	used += (size_t)snprintf(x + used, cap - used,
	    "</CompleteMultipartUpload>");
	*len = used;
	return x;
}

int
s3_mpu_complete(struct s3 *s, const char *key, const char *upload_id,
    char (*etags)[S3_ETAG_MAX], size_t n)
{
	struct s3_buf b = { 0 };
	struct s3_req r = { .method = "POST", .key = key, .out = &b };
	size_t len;
	char *x = complete_xml(etags, n, &len);
	int rc;

	if (x == NULL) {
		log_warn("completing s3://%s/%s", s->bucket, key);
		return EX_OSERR;
	}
	b.max = 1024 * 1024;
	r.body = x;
	r.body_len = len;
	s3_param(&r, "uploadId", upload_id);
	if ((rc = s3_do(s, &r)) == 0)
		rc = error_in_body(s, "completing", key, &b);
	s3_buf_free(&b);
	free(x);
	return rc;
}

int
s3_mpu_abort(struct s3 *s, const char *key, const char *upload_id)
{
	struct s3_req r = { .method = "DELETE", .key = key, .missing_ok = true };
	int rc;

	s3_param(&r, "uploadId", upload_id);
	rc = s3_do(s, &r);
	return rc == EX_NOINPUT ? 0 : rc;	/* gone already */
}

/* Each <Contents> of a ListObjectsV2 page. */
static int
list_page(const struct s3_buf *b, s3_object_fn fn, void *arg)
{
	const char *p = b->data, *end = b->data + b->len, *in, *in_end;
	char key[1100], size[32];
	int rc;

	while ((p = s3xml_next(p, end, "Contents", &in, &in_end)) != NULL) {
		if (s3xml_text(in, in_end, "Key", key, sizeof(key)) == -1 ||
		    s3xml_text(in, in_end, "Size", size, sizeof(size)) == -1)
			continue;	/* not one of ours: longer than ours */
		if ((rc = fn(key, strtoull(size, NULL, 10), arg)) != 0)
			return rc;
	}
	return 0;
}

/* "true" in <IsTruncated>, and then the next token in tag. */
static bool
more(const struct s3_buf *b, const char *tag, char *next, size_t size)
{
	char t[8];

	return s3xml_text(b->data, b->data + b->len, "IsTruncated", t,
	    sizeof(t)) == 0 && strcmp(t, "true") == 0 &&
	    s3xml_text(b->data, b->data + b->len, tag, next, size) == 0 &&
	    next[0] != '\0';
}

int
s3_list(struct s3 *s, const char *prefix, const char *delim,
    s3_object_fn fn, void *arg)
{
	char token[TOKEN_MAX] = "";
	struct s3_buf b = { .max = LIST_MAX };
	int rc;

	do {
		struct s3_req r = { .method = "GET", .out = &b };

		s3_param(&r, "list-type", "2");
		s3_param(&r, "prefix", prefix);
		if (delim != NULL)
			s3_param(&r, "delimiter", delim);
		if (token[0] != '\0')
			s3_param(&r, "continuation-token", token);
		if ((rc = s3_do(s, &r)) != 0 || b.data == NULL ||
		    (rc = list_page(&b, fn, arg)) != 0)
			break;
	} while (more(&b, "NextContinuationToken", token, sizeof(token)));
	s3_buf_free(&b);
	return rc;
}

static int
uploads_page(const struct s3_buf *b, s3_upload_fn fn, void *arg)
{
	const char *p = b->data, *end = b->data + b->len, *in, *in_end;
	char key[1100], id[S3_UPLOAD_ID_MAX];
	int rc;

	while ((p = s3xml_next(p, end, "Upload", &in, &in_end)) != NULL) {
		if (s3xml_text(in, in_end, "Key", key, sizeof(key)) == -1 ||
		    s3xml_text(in, in_end, "UploadId", id, sizeof(id)) == -1)
			continue;
		if ((rc = fn(key, id, arg)) != 0)
			return rc;
	}
	return 0;
}

int
s3_list_uploads(struct s3 *s, const char *prefix, s3_upload_fn fn, void *arg)
{
	char key[TOKEN_MAX] = "", id[TOKEN_MAX] = "";
	struct s3_buf b = { .max = LIST_MAX };
	int rc;

	do {
		struct s3_req r = { .method = "GET", .out = &b };

		s3_param(&r, "uploads", "");
		s3_param(&r, "prefix", prefix);
		if (key[0] != '\0') {
			s3_param(&r, "key-marker", key);
			s3_param(&r, "upload-id-marker", id);
		}
		if ((rc = s3_do(s, &r)) != 0 || b.data == NULL ||
		    (rc = uploads_page(&b, fn, arg)) != 0)
			break;
		if (!more(&b, "NextKeyMarker", key, sizeof(key)) ||
		    s3xml_text(b.data, b.data + b.len, "NextUploadIdMarker", id,
		    sizeof(id)) == -1)
			break;
	} while (1);
	s3_buf_free(&b);
	return rc;
}
