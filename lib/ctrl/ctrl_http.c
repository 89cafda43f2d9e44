/*
 * ctrl's HTTP gateway (libmicrohttpd, its own threads).  The server's
 * threads never touch ctrl's state: each exchange is handed to the main
 * loop through the inbox and its connection suspended; the main loop
 * answers it and hands it back through the inbox, to resume the
 * connection once it is done with the exchange.
 *
 * Clients are untrusted, and what they make ctrl hold is bounded:
 * connections by http_connections (libmicrohttpd closes those past it
 * and CTRL_HTTP_EXTRA more at once; the extra ones are told 503), and
 * the bytes each exchange holds, its body as it arrives (all of a
 * declared Content-Length at once), then its payload, then its answer,
 * by http_buffer over all of them.  What does not fit is refused with
 * 503 and Retry-After, and holds nothing.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>
#include <systemd/sd-daemon.h>

#include "ctrl.h"
#include "file.h"
#include "log.h"
#include "monotime.h"

/* The body as sent, and as ctrl writes it again for the runner (which may
 * be longer: a raw control character becomes \u00XX), must fit the line
 * to the runner. */
#define HTTP_MAX_BODY	CTRL_MAX_PAYLOAD
#define HTTP_DRAIN_MS	5000	/* for answers to reach slow clients */
#define HTTP_RETRY_S	"1"	/* Retry-After of a 503 */
#define HTTP_ID_MAX	128	/* X-Request-Id: that many visible ASCII */
/* Answers this small are always given: CTRL_HTTP_CONN_KIB per connection
 * is set aside for them besides http_buffer. */
#define HTTP_SMALL	(32U << 10)
#define HTTP_POOL	(32U << 10)	/* libmicrohttpd's, a connection */
#define INVOKE_PREFIX	"/v1/functions/"
#define INVOKE_SUFFIX	"/invoke"
#define RESULT_PREFIX	"/v1/invocations/"

enum http_kind { HK_INVOKE, HK_FUNCTIONS, HK_METRICS, HK_HEALTH, HK_RESULT };

struct http_x {
	struct MHD_Connection *conn;
	enum http_kind kind;
	char fn[64];
	char inv[CTRL_ASYNC_ID + 1];	/* HK_RESULT: the invocation's id */
	bool async;			/* Prefer: respond-async */
	char location[64];		/* a 202's Location, or "" */
	bool pending;			/* a 202 of a result not there yet */
	char *body;
	size_t len, cap;
	uint64_t held;			/* bytes counted in c->http_bytes */
	bool too_big, handed, done;
	bool over;			/* past http_buffer: refused, dropped */
	bool replied;			/* an answer is queued */
	bool retry;			/* a 503 that says Retry-After */
	int status;
	int force_status;		/* not 0: the answer's status, whatever
					 * ctrl's outcome for it */
	const char *allow;		/* for a 405: the methods there are */
	char *resp;
	const char *ctype;
	char request_id[HTTP_ID_MAX + 1];	/* the client's X-Request-Id */
	char timing[64];		/* Server-Timing of an answer */
	bool cold;			/* X-Snapvm-Start of an answer */
	struct request req;		/* the exchange's request, for ctrl */
};

/* One listen address: its server and, for a Unix socket, the file that
 * is ours to remove (c->httpd holds these). */
struct listener {
	struct MHD_Daemon *d;
	bool v6;			/* libmicrohttpd wants to be told */
	bool is_unix;
	dev_t dev;
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
};

/* allow: the methods of the resource, for a 405; else NULL.  A 503
 * of x->retry says when to come back.  The body is x's, alive until
 * the exchange completes. */
static enum MHD_Result
reply(struct http_x *x, int status, const char *body, const char *ctype,
    const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body),
	    (void *)body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	if (allow != NULL)
		MHD_add_response_header(r, "Allow", allow);
	if (x->request_id[0] != '\0')
		MHD_add_response_header(r, "X-Request-Id", x->request_id);
	if (x->timing[0] != '\0') {
		MHD_add_response_header(r, "X-Snapvm-Start",
		    x->cold ? "cold" : "warm");
		MHD_add_response_header(r, "Server-Timing", x->timing);
	}
	if (x->location[0] != '\0') {
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION,
		    x->location);
		MHD_add_response_header(r, "Preference-Applied",
		    "respond-async");
	}
	if (x->retry || x->pending)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
		    HTTP_RETRY_S);
	if (x->retry)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	x->replied = true;
	rc = MHD_queue_response(x->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Counts n more bytes for x, if they fit in http_buffer (or are few
 * enough to come out of the connection's own share). */
static bool
http_hold(struct ctrl *c, struct http_x *x, uint64_t n, bool small)
{
	return ctrl_hold(c, &x->held, n, small);
}

static void
http_let_go(struct ctrl *c, struct http_x *x, uint64_t n)
{
	ctrl_let_go(c, &x->held, n);
}

/* x to hold exactly n bytes: false, holding what it held, if they do not
 * fit. */
static bool
http_hold_exactly(struct ctrl *c, struct http_x *x, uint64_t n)
{
	if (n <= x->held) {
		http_let_go(c, x, x->held - n);
		return true;
	}
	return http_hold(c, x, n - x->held, n <= HTTP_SMALL);
}

/* 503 now, from the server's thread: the exchange holds nothing, and
 * the connection closes once the answer is out. */
static enum MHD_Result
refuse(struct ctrl *c, struct http_x *x, int why)
{
	static const char *const msg[2] = {
		"{\"type\":\"OverCapacity\",\"message\":\"too many HTTP "
		    "connections; retry later\"}",
		"{\"type\":\"OverCapacity\",\"message\":\"ctrl's HTTP buffer "
		    "is full; retry later\"}",
	};

	__atomic_add_fetch(&c->http_refused[why], 1, __ATOMIC_SEQ_CST);
	free(x->body);
	x->body = NULL;
	x->len = x->cap = 0;
	http_let_go(c, x, x->held);
	x->done = x->retry = true;
	x->status = 503;
	return reply(x, 503, msg[why], "application/json", NULL);
}

/* Which handler a method and path go to; -1 and *status if none (and
 * *allow, for a 405).  HEAD is GET: the server sends no body for it. */
static int
route(const char *method, const char *url, struct http_x *x, int *status,
    const char **allow)
{
	size_t n = strlen(url), pre = strlen(INVOKE_PREFIX),
	    suf = strlen(INVOKE_SUFFIX), rpre = strlen(RESULT_PREFIX);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0,
	    post = strcmp(method, "POST") == 0;

	*status = 404;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
	    strcmp(url, "/v1/functions") == 0) {
		x->kind = url[1] == 'h' ? HK_HEALTH :
		    url[1] == 'm' ? HK_METRICS : HK_FUNCTIONS;
		*status = 405;
		*allow = "GET, HEAD";
		return get ? 0 : -1;
	}
	if (n > pre + suf && n - pre - suf < sizeof(x->fn) &&
	    strncmp(url, INVOKE_PREFIX, pre) == 0 &&
	    strcmp(url + n - suf, INVOKE_SUFFIX) == 0) {
		x->kind = HK_INVOKE;
		memcpy(x->fn, url + pre, n - pre - suf);
		*status = 405;
		*allow = "POST";
		return post ? 0 : -1;
	}
	if (n > rpre && n - rpre < sizeof(x->inv) &&
	    strncmp(url, RESULT_PREFIX, rpre) == 0) {
		x->kind = HK_RESULT;
		memcpy(x->inv, url + rpre, n - rpre);
		*status = 405;
		*allow = "GET, HEAD";
		return get ? 0 : -1;
	}
	return -1;
}

/* Whether a Prefer header (RFC 7240) asks for respond-async: among its
 * comma-separated preferences, each a token with parameters after ';'. */
static bool
prefers_async(const char *prefer)
{
	static const char tok[] = "respond-async";
	const char *p = prefer;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t,");
		if (strncasecmp(p, tok, sizeof(tok) - 1) == 0 &&
		    strchr(" \t;,", p[sizeof(tok) - 1]) != NULL)
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* A body too big, or past http_buffer, is read and dropped: its answer
 * comes at its end. */
static bool
append_body(struct ctrl *c, struct http_x *x, const char *data, size_t n)
{
	size_t cap;
	char *b;

	if (x->too_big || x->over || x->len + n > HTTP_MAX_BODY) {
		x->too_big = !x->over;
		return true;
	}
	if (x->len + n > x->held && !http_hold(c, x, x->len + n - x->held,
	    false)) {
		x->over = true;		/* refused (and counted) at its end */
		free(x->body);
		x->body = NULL;
		x->len = x->cap = 0;
		http_let_go(c, x, x->held);
		return true;
	}
	if (x->len + n + 1 > x->cap) {
		for (cap = x->cap ? x->cap : 4096; cap < x->len + n + 1;
		    cap *= 2)
			;
		cap = cap < x->held + 1 ? cap : x->held + 1;
		if ((b = realloc(x->body, cap)) == NULL)
			return false;
		x->body = b;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return true;
}

/* Into the inbox: a new exchange for the main loop, or one it answered,
 * to be resumed. */
static void
inbox_push(struct ctrl *c, struct http_x *x)
{
	uint64_t one = 1;

	pthread_mutex_lock(&c->inbox_lock);
	x->req.next = c->inbox;
	c->inbox = &x->req;
	pthread_mutex_unlock(&c->inbox_lock);
	if (write(c->inbox_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd");
}

static void http_respond(struct ctrl *c, struct request *r, int status,
    const char *body);

/* Gives the exchange to the main loop and parks the connection. */
static enum MHD_Result
hand_over(struct ctrl *c, struct http_x *x)
{
	x->handed = true;
	x->req.src = SRC_HTTP;
	memcpy(x->req.client_id, x->request_id, sizeof(x->req.client_id));
	x->req.respond = http_respond;
	x->req.http = x;
	x->req.fn = -1;
	__atomic_add_fetch(&c->http_open, 1, __ATOMIC_SEQ_CST);
	MHD_suspend_connection(x->conn);
	inbox_push(c, x);
	return MHD_YES;
}

/* The Content-Length, or -1 if there is none.  libmicrohttpd has
 * checked its form. */
static long long
declared_length(struct MHD_Connection *conn)
{
	const char *s = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long n;

	if (s == NULL)
		return -1;
	n = strtoull(s, NULL, 10);
	return n > HTTP_MAX_BODY ? (long long)HTTP_MAX_BODY + 1 : (long long)n;
}

static enum MHD_Result
health(struct ctrl *c, struct http_x *x)
{
	/* The main loop sets draining; this thread only reads it. */
	bool draining = __atomic_load_n(&c->draining, __ATOMIC_SEQ_CST);

	return reply(x, draining ? 503 : 200, draining ? "draining\n" : "ok\n",
	    "text/plain", NULL);
}

/* The headers are in.  A refusal waits for the end of the request, as an
 * answer queued now would close the connection; a body declared too big
 * is refused now, and the connection closed, so as not to read it, and
 * so is any request past the limits.  A declared body is counted whole
 * from here. */
/* The client's X-Request-Id, echoed with the answer: kept only if it is
 * 1 to HTTP_ID_MAX visible ASCII characters, which fit any header and
 * log line as they are. */
static void
request_id(struct http_x *x)
{
	const char *id = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND,
	    "X-Request-Id");
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > HTTP_ID_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)
			return;
	memcpy(x->request_id, id, n + 1);
}

static enum MHD_Result
first_call(struct ctrl *c, struct MHD_Connection *conn, const char *url,
    const char *method, void **state)
{
	struct http_x *x = calloc(1, sizeof(*x));
	const char *allow = NULL;
	long long declared;
	int status;

	if (x == NULL)
		return MHD_NO;
	x->conn = conn;
	*state = x;
	request_id(x);
	if (__atomic_load_n(&c->http_conns, __ATOMIC_SEQ_CST) >
	    c->conf.http_connections)
		return refuse(c, x, 0);
	if (route(method, url, x, &status, &allow) == -1) {
		x->allow = allow;
		x->done = true;
		x->status = status;
		x->resp = strdup(status == 404 ? "{\"type\":\"NotFound\","
		    "\"message\":\"no such resource\"}" :
		    "{\"type\":\"MethodNotAllowed\",\"message\":\"method "
		    "not allowed here\"}");
		x->ctype = "application/json";
		return MHD_YES;
	}
	x->async = prefers_async(MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, "Prefer"));
	declared = x->kind == HK_INVOKE ? declared_length(conn) : -1;
	if (declared > (long long)HTTP_MAX_BODY) {
		x->too_big = true;
		return hand_over(c, x);
	}
	if (declared > 0 && !http_hold(c, x, (uint64_t)declared, false))
		return refuse(c, x, 1);
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **state)
{
	struct http_x *x = *state;

	(void)version;
	if (x == NULL)
		return first_call(cls, conn, url, method, state);
	if (*data_size > 0) {	/* the body of a refusal is dropped */
		bool ok = x->done || x->kind != HK_INVOKE ||
		    append_body(cls, x, data, *data_size);

		*data_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (x->replied)
		return MHD_YES;
	if (x->over)
		return refuse(cls, x, 1);
	if (x->done)		/* refused, or answered by the main loop */
		return reply(x, x->status, x->resp ? x->resp : "", x->ctype,
		    x->allow);
	if (x->kind == HK_HEALTH)
		return health(cls, x);
	return x->handed ? MHD_YES : hand_over(cls, x);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_state,
    enum MHD_ConnectionNotificationCode code)
{
	struct ctrl *c = cls;

	(void)conn;
	(void)socket_state;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&c->http_conns, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_sub_fetch(&c->http_conns, 1, __ATOMIC_SEQ_CST);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode why)
{
	struct http_x *x = *state;
	struct ctrl *c = cls;

	(void)conn;
	(void)why;
	if (x == NULL)
		return;
	if (x->handed)
		__atomic_sub_fetch(&c->http_open, 1, __ATOMIC_SEQ_CST);
	http_let_go(c, x, x->held);
	free(x->body);
	free(x->resp);
	json_object_put(x->req.id);
	free(x->req.payload);
	free(x);
	*state = NULL;
}

/* Main loop: the answer is ready (r->respond); the server's thread sends
 * it.  It is what the exchange holds from now on: an answer that does
 * not fit becomes a 503. */
static void
http_respond(struct ctrl *c, struct request *r, int status, const char *body)
{
	struct http_x *x = r->http;
	size_t n = strlen(body);

	free(r->payload);		/* sent, or never to be */
	r->payload = NULL;
	x->status = x->force_status != 0 ? x->force_status : status;
	x->ctype = x->kind == HK_METRICS ?
	    "text/plain; version=0.0.4; charset=utf-8" : "application/json";
	if (!http_hold_exactly(c, x, n)) {
		__atomic_add_fetch(&c->http_refused[1], 1, __ATOMIC_SEQ_CST);
		http_let_go(c, x, x->held);
		x->ctype = "application/json";
		/* An invocation's big answer comes after its function ran:
		 * not a 503, which says it may be sent again (ctrl(1),
		 * Delivery). */
		x->status = x->kind == HK_INVOKE ? 500 : 503;
		body = x->kind == HK_INVOKE ? "{\"type\":\"AnswerDropped\","
		    "\"message\":\"the function ran, but its answer does not "
		    "fit in ctrl's HTTP buffer\"}" :
		    "{\"type\":\"OverCapacity\","
		    "\"message\":\"the answer does not fit in ctrl's HTTP "
		    "buffer; retry later\"}";
		http_hold(c, x, strlen(body), true);
	}
	x->retry = x->status == 503 && !c->draining && x->kind != HK_RESULT;
	if (x->kind == HK_INVOKE && r->fn >= 0 && x->location[0] == '\0') {
		x->cold = r->cold;
		snprintf(x->timing, sizeof(x->timing), "total;dur=%ju",
		    (uintmax_t)(mono_ms() - r->arrived_ms));
	}
	x->resp = strdup(body);
	x->done = true;
	/* Not resumed here: ctrl still reads r on its way back from this
	 * call, and the server's thread frees it once the answer is sent. */
	inbox_push(c, x);
}

/* The body as ctrl will write it to the runner (compact, as ctrl_pool.c
 * writes it), or NULL if it is not one JSON text. */
static char *
body_json(const struct http_x *x)
{
	struct json_tokener *tok;
	json_object *o;
	char *s = NULL;
	size_t end;

	if (x->len == 0)
		return strdup("null");
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	/* JSON is UTF-8 (RFC 8259): a client's other bytes would reach the
	 * guest, and through its answer other readers. */
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	/* With the NUL: the text ends there, so "12" is twelve and not the
	 * start of a longer number. */
	o = json_tokener_parse_ex(tok, x->body, (int)x->len + 1);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    end <= x->len && strspn(x->body + end, " \t\r\n") == x->len - end)
		s = strdup(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	json_tokener_free(tok);
	return s;
}

/* Prefer: respond-async: 202 now, with where its answer will be. */
static void
take_async(struct ctrl *c, struct request *r)
{
	struct http_x *x = r->http;
	const struct async_inv *a = ctrl_async_submit(c, r, x->held);
	char body[256];

	if (a == NULL) {
		ctrl_request_fail(c, r, OUT_OVER_CAPACITY, "OverCapacity",
		    "too many asynchronous invocations are kept; retry later");
		return;
	}
	x->held = 0;			/* the invocation's now */
	snprintf(x->location, sizeof(x->location), RESULT_PREFIX "%s", a->id);
	snprintf(body, sizeof(body), "{\"id\":\"%s\",\"function\":\"%s\","
	    "\"status\":\"pending\",\"location\":\"%s\"}", a->id, a->fn_name,
	    x->location);
	http_respond(c, r, 202, body);
}

static void
take_invoke(struct ctrl *c, struct request *r)
{
	struct http_x *x = r->http;
	const struct fn_conf *f = ctrlconf_find(&c->conf, x->fn);

	if (f == NULL) {
		ctrl_request_fail(c, r, OUT_NOT_FOUND, "NotFound",
		    "no such function");
		return;
	}
	r->fn = (int)(f - c->conf.fn);
	snprintf(r->fn_name, sizeof(r->fn_name), "%s", f->name);
	if (!x->too_big && (r->payload = body_json(x)) == NULL) {
		ctrl_request_fail(c, r, OUT_BAD_REQUEST, "BadRequest",
		    "the body is not JSON");
		return;
	}
	free(x->body);		/* the payload is what is passed on */
	x->body = NULL;
	x->len = x->cap = 0;
	if (!x->too_big && !http_hold_exactly(c, x, strlen(r->payload))) {
		x->force_status = 503;
		__atomic_add_fetch(&c->http_refused[1], 1, __ATOMIC_SEQ_CST);
		ctrl_request_fail(c, r, OUT_OVER_CAPACITY, "OverCapacity",
		    "ctrl's HTTP buffer is full; retry later");
		return;
	}
	if (x->too_big || strlen(r->payload) > CTRL_MAX_PAYLOAD) {
		x->force_status = 413;	/* counted as a bad request */
		ctrl_request_fail(c, r, OUT_BAD_REQUEST, "PayloadTooLarge",
		    x->too_big ? "the body is larger than "
		    CTRL_MAX_PAYLOAD_TEXT : "the body, written compactly, is "
		    "larger than " CTRL_MAX_PAYLOAD_TEXT);
		return;
	}
	if (x->async && c->conf.async_keep_s > 0 &&
	    ctrl_request_refusal(c) == OUT_OK) {
		take_async(c, r);
		return;
	}
	ctrl_request_enqueue(c, r);
}

/* GET /v1/invocations/ID: the answer the call would have had, once
 * there; 202 until then. */
static void
take_result(struct ctrl *c, struct request *r)
{
	struct http_x *x = r->http;
	const struct async_inv *a = ctrl_async_find(c, x->inv);
	char body[192];

	if (a == NULL) {
		http_respond(c, r, 404, "{\"type\":\"NotFound\",\"message\":"
		    "\"no such invocation: unknown, or its result expired\"}");
		return;
	}
	if (x->request_id[0] == '\0')
		memcpy(x->request_id, a->client_id, sizeof(x->request_id));
	if (!a->done) {
		x->pending = true;
		snprintf(body, sizeof(body), "{\"id\":\"%s\",\"function\":"
		    "\"%s\",\"status\":\"pending\"}", a->id, a->fn_name);
		http_respond(c, r, 202, body);
		return;
	}
	x->cold = a->cold;
	snprintf(x->timing, sizeof(x->timing), "total;dur=%ju",
	    (uintmax_t)(a->done_ms - a->arrived_ms));
	http_respond(c, r, a->status, a->body);
}

static void
take_one(struct ctrl *c, struct request *r)
{
	struct http_x *x = r->http;
	char *s;

	r->seq = ++c->seq;
	r->arrived_ms = mono_ms();
	if (x->kind == HK_INVOKE) {
		take_invoke(c, r);
		return;
	}
	if (x->kind == HK_RESULT) {
		take_result(c, r);
		return;
	}
	s = x->kind == HK_METRICS ? ctrl_metrics_text(c) :
	    ctrl_metrics_functions_json(c);
	http_respond(c, r, s ? 200 : 500, s ? s : "");
	free(s);
}

void
ctrl_http_take_inbox(struct ctrl *c)
{
	struct request *list, *rev = NULL;
	uint64_t n;

	if (read(c->inbox_fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&c->inbox_lock);
	list = c->inbox;
	c->inbox = NULL;
	pthread_mutex_unlock(&c->inbox_lock);
	while (list != NULL) {		/* arrival order */
		struct request *next = list->next;

		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev != NULL) {
		struct request *next = rev->next;
		struct http_x *x = rev->http;

		rev->next = NULL;
		if (x->done)	/* answered: the server's thread's from now */
			MHD_resume_connection(x->conn);
		else
			take_one(c, rev);
		rev = next;
	}
}

static int
listen_on(int fd, const struct sockaddr *sa, socklen_t len, const char *addr)
{
	if (bind(fd, sa, len) == -1 || listen(fd, SOMAXCONN) == -1) {
		log_warn("%s", addr);
		close(fd);
		return -1;
	}
	return fd;
}

static int
tcp_listener(struct listener *l, const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why;
	int fd, one = 1;

	if (ctrlconf_inet(addr, &sa, &len, &why) == -1) {
		log_warnx("%s: %s", addr, why);
		return -1;
	}
	if ((fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s", addr);
		return -1;
	}
	/* A restart must not wait for the old connections' TIME_WAIT; and
	 * [::] means IPv6 only, whatever net.ipv6.bindv6only says. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	l->v6 = sa.ss_family == AF_INET6;
	if (l->v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	return listen_on(fd, (struct sockaddr *)&sa, len, addr);
}

static int
unix_listener(struct listener *l, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd;

	if (file_sockaddr(path, &sa, "listen") == -1)
		return -1;
	/* Only a socket nobody listens on is replaced: one left by a ctrl
	 * that did not exit cleanly. */
	if (file_claim_socket(path, SOCK_STREAM,
	    "another process listens") == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	/* Born 0660, never reachable with a wider mode.  The umask is the
	 * process's, but no other thread creates files yet: the only others
	 * are the servers of the listeners already started. */
	old = umask(0117);
	fd = listen_on(fd, (struct sockaddr *)&sa, sizeof(sa), path);
	umask(old);
	if (fd == -1 || stat(path, &st) == -1)
		return fd;
	/* Ours to remove at exit, unless replaced by then. */
	l->is_unix = true;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	memcpy(l->path, sa.sun_path, sizeof(l->path));
	return fd;
}

/* Socket activation (sd_listen_fds(3)): the socket systemd passed that
 * listens on addr, as ctrl would have bound it, or -1.  A passed Unix
 * socket is systemd's, not ctrl's to remove. */
static int
passed_socket(struct listener *l, const char *addr, int n, bool *used)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why;
	bool is_unix = strncmp(addr, "unix:", 5) == 0;

	if (!is_unix && ctrlconf_inet(addr, &sa, &len, &why) == -1)
		return -1;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (used[i] || (is_unix ? sd_is_socket_unix(fd, SOCK_STREAM, 1,
		    addr + 5, 0) : sd_is_socket_sockaddr(fd, SOCK_STREAM,
		    (struct sockaddr *)&sa, len, 1)) <= 0)
			continue;
		used[i] = true;
		l->v6 = !is_unix && sa.ss_family == AF_INET6;
		return fd;
	}
	return -1;
}

static struct MHD_Daemon *
start_one(struct ctrl *c, struct listener *l, const char *addr, int fd)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL;
	bool is_unix = strncmp(addr, "unix:", 5) == 0;
	struct MHD_Daemon *d;

	if (fd == -1)
		fd = is_unix ? unix_listener(l, addr + 5) :
		    tcp_listener(l, addr);

	if (fd == -1)
		return NULL;
	if (l->v6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, c,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, c, MHD_OPTION_NOTIFY_CONNECTION, on_connection, c,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(c->conf.http_connections + CTRL_HTTP_EXTRA),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_POOL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->conf.http_idle_s,
	    MHD_OPTION_END);
	if (d == NULL)
		close(fd);
	return d;
}

/* Removes the Unix socket ctrl made, if it is still that one. */
static void
listener_free(struct listener *l)
{
	struct stat st;

	if (l->is_unix && stat(l->path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino && unlink(l->path) == -1)
		log_warn("%s", l->path);
	free(l);
}

/* The sockets systemd passed, if any; each must serve one of the listen
 * addresses, as a unit's ListenStream= lines must match them. */
static int
passed_count(void)
{
	int n = sd_listen_fds(1);

	if (n < 0) {
		log_warnx("sockets passed by systemd: %s", strerror(-n));
		return -1;
	}
	if (n > CTRL_MAX_LISTEN) {
		log_warnx("systemd passed %d sockets; ctrl serves at most %d "
		    "listen addresses", n, CTRL_MAX_LISTEN);
		return -1;
	}
	return n;
}

static int
passed_unused(int n, const bool *used)
{
	int bad = 0;

	for (int i = 0; i < n; i++)
		if (!used[i]) {
			log_warnx("the socket systemd passed as descriptor %d "
			    "listens on no address of listen: in ctrl.yaml",
			    SD_LISTEN_FDS_START + i);
			bad = -1;
		}
	return bad;
}

int
ctrl_http_start(struct ctrl *c)
{
	char addr[sizeof(c->conf.listen[0]) + 16];
	bool used[CTRL_MAX_LISTEN] = { false };
	int n = passed_count();

	if (n < 0)
		return -1;
	for (int i = 0; i < c->conf.nlisten; i++) {
		struct listener *l = calloc(1, sizeof(*l));
		int fd = l ? passed_socket(l, c->conf.listen[i], n, used) : -1;

		if (l == NULL || (l->d = start_one(c, l, c->conf.listen[i],
		    fd)) == NULL) {
			log_warnx("cannot serve HTTP on %s", c->conf.listen[i]);
			if (l != NULL)
				listener_free(l);
			return -1;
		}
		c->httpd[i] = l;
		c->nhttpd = i + 1;
		ctrl_log(c, "listening", 0, "\"address\":%s,\"from\":\"%s\"",
		    ctrl_log_jstr(addr, sizeof(addr), c->conf.listen[i]),
		    fd == -1 ? "ctrl" : "systemd");
	}
	return passed_unused(n, used);
}

void
ctrl_http_stop(struct ctrl *c)
{
	uint64_t until = mono_ms() + HTTP_DRAIN_MS;

	/* Answers already given may still be on their way out: stop taking
	 * connections, let the server's threads send them, then stop.  Only
	 * a draining ctrl calls this with exchanges open. */
	for (int i = 0; i < c->nhttpd; i++) {
		struct listener *l = c->httpd[i];
		MHD_socket fd = MHD_quiesce_daemon(l->d);

		if (fd != MHD_INVALID_SOCKET)
			close(fd);	/* ours now, not the server's */
	}
	while (__atomic_load_n(&c->http_open, __ATOMIC_SEQ_CST) > 0 &&
	    mono_ms() < until) {
		/* late ones: refused, as draining */
		ctrl_http_take_inbox(c);
		usleep(10000);
	}
	for (int i = 0; i < c->nhttpd; i++) {
		struct listener *l = c->httpd[i];

		MHD_stop_daemon(l->d);
		listener_free(l);
		c->httpd[i] = NULL;
	}
	c->nhttpd = 0;
}
