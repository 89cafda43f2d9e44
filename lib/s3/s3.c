#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include <curl/curl.h>

#include "hash.h"
#include "log.h"
#include "monotime.h"
#include "s3.h"
#include "s3xml.h"

#define S3_URL_MAX	4096
#define S3_ERRBODY_MAX	(64 * 1024)
#define S3_BACKOFF_MS	250
#define S3_BACKOFF_MAX	8000
#define S3_PACE_SLACK_US 10000	/* what an idle link may send at once */

/* What one attempt collects while curl runs. */
struct attempt {
	struct s3 *s;
	struct s3_req *r;
	size_t upos;			/* upload position in r->body */
	long status;
	struct s3_buf err;		/* body of a non-2xx answer */
	bool overflow;			/* more body than expected */
	curl_off_t seen;		/* bytes counted into s->moved */
};

int
s3_global_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("libcurl could not be initialised");
		return -1;
	}
	return 0;
}

void
s3_global_cleanup(void)
{
	curl_global_cleanup();
}

int
s3_open(struct s3 *s, const struct s3conf *conf, const char *bucket)
{
	memset(s, 0, sizeof(*s));
	s->conf = conf;
	snprintf(s->bucket, sizeof(s->bucket), "%s", bucket);
	if ((s->curl = curl_easy_init()) == NULL) {
		log_warnx("libcurl: cannot make a handle");
		return -1;
	}
	return 0;
}

void
s3_close(struct s3 *s)
{
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	s->curl = NULL;
}

void
s3_buf_free(struct s3_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int
buf_add(struct s3_buf *b, const char *p, size_t n)
{
	size_t max = b->max ? b->max : S3_ERRBODY_MAX;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (b->len + n > max || (d = realloc(b->data, cap)) == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void
s3_sha256(const void *p, size_t n, char hex[DIGEST_HEX])
{
	unsigned char md[HASH_LEN];

	hash_buf(p, n, md);
	digest_hex(md, hex);
}

int
s3_encode(const char *s, bool keep_slash, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || (keep_slash && *p == '/');

		if (n + (plain ? 1 : 3) >= size)
			return -1;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return 0;
}

void
s3_param(struct s3_req *r, const char *name, const char *value)
{
	if (r->nquery < S3_MAX_PARAMS) {
		r->query[r->nquery].name = name;
		r->query[r->nquery].value = value ? value : "";
		r->nquery++;
	}
}

/* SigV4's canonical query: encoded pairs in byte order of name, value. */
int
s3_query_string(const struct s3_param *p, int n, char *out, size_t size)
{
	char enc[S3_MAX_PARAMS][2][1024];
	int order[S3_MAX_PARAMS];
	size_t len = 0;

	if (n > S3_MAX_PARAMS)
		return -1;
	for (int i = 0; i < n; i++) {
		if (s3_encode(p[i].name, false, enc[i][0], sizeof(enc[i][0])) ||
		    s3_encode(p[i].value, false, enc[i][1], sizeof(enc[i][1])))
			return -1;
		order[i] = i;
	}
	for (int i = 1; i < n; i++) {	/* at most 8: insertion sort */
		int j = i, x = order[i];

		for (; j > 0; j--) {
			int y = order[j - 1], c = strcmp(enc[y][0], enc[x][0]);

			if (c < 0 || (c == 0 && strcmp(enc[y][1], enc[x][1]) <= 0))
				break;
			order[j] = y;
		}
		order[j] = x;
	}
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(out + len, size - len, "%s%s=%s", i ? "&" : "",
		    enc[order[i]][0], enc[order[i]][1]);

		if (w < 0 || (size_t)w >= size - len)
			return -1;
		len += (size_t)w;
	}
	return 0;
}

int
s3_url(const struct s3conf *c, const char *bucket, const char *key,
    const char *q, char *out, size_t size)
{
	char path[3 * 1024 + 1];
	int n;

	if (s3_encode(key ? key : "", true, path, sizeof(path)) == -1)
		return -1;
	/* A bucket name with dots as a host name over HTTPS would not match
	 * the store's certificate (*.HOST covers one label): path style. */
	if (c->style == S3_STYLE_VIRTUAL &&
	    !(strchr(bucket, '.') != NULL && strcmp(c->scheme, "https") == 0))
		n = snprintf(out, size, "%s://%s.%s%s/%s%s%s", c->scheme, bucket,
		    c->host, c->base, path, *q ? "?" : "", q);
	else
		n = snprintf(out, size, "%s://%s%s/%s%s%s%s%s", c->scheme,
		    c->host, c->base, bucket, key ? "/" : "", path, *q ? "?" : "",
		    q);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

bool
s3_cancelled(const struct s3 *s)
{
	return (s->cancel != NULL && *s->cancel) ||
	    (s->stop != NULL && atomic_load(s->stop));
}

/* n bytes through the handle's link: waits until it has carried them. */
static void
pace(const struct s3 *s, size_t n)
{
	struct s3_pace *p = s->pace;
	uint64_t now, from, due, old;

	if (p == NULL || p->rate == 0 || n == 0)
		return;
	now = mono_us();
	old = atomic_load(&p->clock_us);
	do {
		from = old + S3_PACE_SLACK_US < now ? now - S3_PACE_SLACK_US :
		    old;
		due = from + (uint64_t)n * 1000000 / p->rate;
	} while (!atomic_compare_exchange_weak(&p->clock_us, &old, due));
	while ((now = mono_us()) < due && !s3_cancelled(s)) {
		struct timespec ts = { 0, (long)(due - now < 50000 ?
		    due - now : 50000) * 1000 };

		nanosleep(&ts, NULL);
	}
}

static void
count_received(struct s3 *s, size_t n)
{
	if (s->count != NULL)
		atomic_fetch_add(&s->count->received, n);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	struct s3_req *r = a->r;

	n *= size;
	count_received(a->s, n);
	pace(a->s, n);
	if (a->status == 0)
		curl_easy_getinfo(a->s->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->status / 100 != 2) {
		buf_add(&a->err, p, n);	/* past the limit: the start will do */
		return n;
	}
	if (r->fixed != NULL) {
		if (r->got + n > r->fixed_len) {
			a->overflow = true;
			return 0;
		}
		memcpy(r->fixed + r->got, p, n);
		r->got += n;
		return n;
	}
	if (r->out != NULL && buf_add(r->out, p, n) == -1) {
		a->overflow = true;
		return 0;
	}
	return n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	size_t len = size * n, v;

	count_received(a->s, len);
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0)
		a->status = 0;		/* a new answer, e.g. after 100 */
	if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		/* Not NUL-terminated: every scan stops at len. */
		for (v = 5; v < len && (p[v] == ' ' || p[v] == '\t'); v++)
			;
		while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
		    p[len - 1] == ' '))
			len--;
		snprintf(a->r->etag, sizeof(a->r->etag), "%.*s", (int)(len - v),
		    p + v);
	}
	return size * n;
}

static size_t
on_read(char *p, size_t size, size_t n, void *arg)
{
	struct attempt *a = arg;
	size_t left = a->r->body_len - a->upos;

	n *= size;
	if (n > left)
		n = left;
	pace(a->s, n);
	memcpy(p, (const char *)a->r->body + a->upos, n);
	a->upos += n;
	return n;
}

static int
on_seek(void *arg, curl_off_t off, int origin)
{
	struct attempt *a = arg;

	if (origin != SEEK_SET || off < 0 || (size_t)off > a->r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	a->upos = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct attempt *a = arg;

	(void)dltotal;
	(void)ultotal;
	if (a->s->moved != NULL && dlnow + ulnow > a->seen) {
		atomic_fetch_add(a->s->moved, (uint64_t)(dlnow + ulnow - a->seen));
		a->seen = dlnow + ulnow;
	}
	return s3_cancelled(a->s);
}

static struct curl_slist *
headers(struct attempt *a, char *sha)
{
	const struct s3conf *c = a->s->conf;
	struct s3_req *r = a->r;
	struct curl_slist *h = NULL;
	char line[2200];

	if (r->body_sha == NULL)
		s3_sha256(r->body ? r->body : "", r->body_len, sha);
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s",
	    r->body_sha ? r->body_sha : sha);
	h = curl_slist_append(h, line);
	if (r->range) {
		snprintf(line, sizeof(line), "Range: bytes=%ju-%ju",
		    (uintmax_t)r->range_off,
		    (uintmax_t)(r->range_off + r->range_len - 1));
		h = curl_slist_append(h, line);
	}
	if (c->session_token[0] != '\0') {
		snprintf(line, sizeof(line), "x-amz-security-token: %s",
		    c->session_token);
		h = curl_slist_append(h, line);
	}
	if (strcmp(r->method, "POST") == 0)
		h = curl_slist_append(h, "Content-Type: application/xml");
	/* Not "Expect:" to drop 100-continue: libcurl would sign the empty
	 * header it then leaves out, and the signature would not match. */
	return h;
}

static void
set_method(CURL *c, struct attempt *a)
{
	struct s3_req *r = a->r;

	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, a);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, a);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
}

static void
set_options(CURL *c, struct attempt *a, const char *url,
    struct curl_slist *h)
{
	const struct s3conf *conf = a->s->conf;
	char sigv4[128];

	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", conf->region);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, conf->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, conf->secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A store that stops sending for a minute is gone. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	set_method(c, a);
}

/* Errors a retry may cure: the store or the path to it hiccupped. */
static bool
transient(CURLcode e)
{
	switch (e) {
	case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Answers a retry may cure, as the AWS CLI retries them: a 5xx, 429 Too
 * Many Requests, and 400 RequestTimeout (the store gave up waiting for a
 * slow upload's body). */
static bool
retryable(const struct attempt *a, CURLcode e)
{
	char code[64];

	if (e != CURLE_OK)
		return transient(e);
	if (a->status >= 500 || a->status == 429)
		return true;
	return a->status == 400 && a->err.data != NULL &&
	    s3xml_text(a->err.data, a->err.data + a->err.len, "Code", code,
	    sizeof(code)) == 0 && strcmp(code, "RequestTimeout") == 0;
}

/* Waits ms, or less if the transfer is called off. */
static void
backoff(const struct s3 *s, long ms)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (; ms > 0 && !s3_cancelled(s); ms -= 50)
		nanosleep(&ts, NULL);
}

static int
status_exit(long status, const char *code)
{
	if (status == 403)
		return EX_NOPERM;
	if (status == 404)
		return EX_NOINPUT;
	if (status == 416 || strcmp(code, "BadDigest") == 0 ||
	    strcmp(code, "XAmzContentSHA256Mismatch") == 0)
		return EX_DATAERR;
	if (status >= 500 || status == 429 ||
	    strcmp(code, "RequestTimeout") == 0)
		return EX_UNAVAILABLE;
	return EX_PROTOCOL;
}

/* The error XML's Code and Message into r->code and msg. */
static void
error_body(struct attempt *a, char *msg, size_t size)
{
	const char *p = a->err.data, *end;

	a->r->code[0] = msg[0] = '\0';
	if (p == NULL)		/* no body: NULL + 0 is undefined too */
		return;
	end = p + a->err.len;
	if (s3xml_text(p, end, "Code", a->r->code, sizeof(a->r->code)) == -1)
		a->r->code[0] = '\0';
	if (s3xml_text(p, end, "Message", msg, size) == -1)
		msg[0] = '\0';
}

/* One try: a CURLcode, with the status and body in a. */
static CURLcode
try_once(struct s3 *s, struct s3_req *r, const char *url, struct attempt *a)
{
	char sha[DIGEST_HEX];
	struct curl_slist *h;
	CURLcode e;

	memset(a, 0, sizeof(*a));
	a->s = s;
	a->r = r;
	r->got = 0;
	r->etag[0] = '\0';
	if (r->out != NULL)
		r->out->len = 0;
	h = headers(a, sha);
	set_options(s->curl, a, url, h);
	if (s->count != NULL)
		atomic_fetch_add(&s->count->requests, 1);
	e = curl_easy_perform(s->curl);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &a->status);
	curl_slist_free_all(h);
	return e;
}

static void
name_of(const struct s3 *s, const struct s3_req *r, char *out, size_t size)
{
	snprintf(out, size, "s3://%s/%s", s->bucket, r->key ? r->key : "");
}

/* The outcome of the last attempt as an exit status, logged. */
static int
outcome(struct s3 *s, struct s3_req *r, struct attempt *a, CURLcode e,
    int tries)
{
	char name[1200], msg[256];

	name_of(s, r, name, sizeof(name));
	error_body(a, msg, sizeof(msg));
	r->status = a->status;
	if (e == CURLE_ABORTED_BY_CALLBACK || (e != CURLE_OK && s3_cancelled(s)))
		return EX_TEMPFAIL;
	if (a->overflow || (e == CURLE_OK && a->status / 100 == 2 &&
	    r->fixed != NULL && r->got != r->fixed_len)) {
		log_warnx("%s %s: the store sent %s bytes than expected (%zu)",
		    r->method, name, a->overflow ? "more" : "fewer",
		    r->fixed ? r->fixed_len : r->out->max);
		return EX_DATAERR;
	}
	if (e != CURLE_OK) {
		log_warnx("%s %s: %s (%d attempt%s)", r->method, name,
		    curl_easy_strerror(e), tries, tries == 1 ? "" : "s");
		return EX_UNAVAILABLE;	/* retried above if it might pass */
	}
	if (a->status / 100 == 2)
		return 0;
	if (a->status == 404 && r->missing_ok)
		return EX_NOINPUT;
	log_warnx("%s %s: HTTP %ld%s%s%s%s%s", r->method, name, a->status,
	    r->code[0] ? " " : "", r->code, msg[0] ? " (" : "", msg,
	    msg[0] ? ")" : "");
	return status_exit(a->status, r->code);
}

int
s3_do(struct s3 *s, struct s3_req *r)
{
	char q[4096], url[S3_URL_MAX], name[1200];
	struct attempt a;
	CURLcode e = CURLE_OK;
	int tries = 0, rc;
	long delay = S3_BACKOFF_MS;

	if (s3_query_string(r->query, r->nquery, q, sizeof(q)) == -1 ||
	    s3_url(s->conf, s->bucket, r->key, q, url, sizeof(url)) == -1) {
		name_of(s, r, name, sizeof(name));
		log_warnx("%s: name too long for a URL", name);
		return EX_USAGE;
	}
	for (;;) {
		e = try_once(s, r, url, &a);
		tries++;
		if (s3_cancelled(s) || (unsigned)tries > s->conf->retries ||
		    !retryable(&a, e))
			break;
		name_of(s, r, name, sizeof(name));
		if (e == CURLE_OK)
			log_info("%s %s: HTTP %ld, retrying in %ld ms", r->method,
			    name, a.status, delay);
		else
			log_info("%s %s: %s, retrying in %ld ms", r->method, name,
			    curl_easy_strerror(e), delay);
		s3_buf_free(&a.err);
		if (s->count != NULL)
			atomic_fetch_add(&s->count->retries, 1);
		backoff(s, delay);
		delay = delay * 2 > S3_BACKOFF_MAX ? S3_BACKOFF_MAX : delay * 2;
	}
	rc = outcome(s, r, &a, e, tries);
	s3_buf_free(&a.err);
	return rc;
}
