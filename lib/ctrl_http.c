/*
 * ctrl's HTTP gateway (libmicrohttpd, its own threads).  The server's
 * threads never touch ctrl's state: each exchange is handed to the main
 * loop through the inbox and its connection suspended; the main loop
 * answers it and resumes the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"

#define HTTP_MAX_BODY	(4U << 20)
#define HTTP_DRAIN_MS	5000	/* for answers to reach slow clients */
#define INVOKE_PREFIX	"/v1/functions/"
#define INVOKE_SUFFIX	"/invoke"

enum http_kind { HK_INVOKE, HK_FUNCTIONS, HK_METRICS, HK_HEALTH };

struct http_x {
	struct MHD_Connection *conn;
	enum http_kind kind;
	char fn[64];
	char *body;
	size_t len;
	bool too_big, handed, done;
	int status;
	char *resp;
	const char *ctype;
	struct request req;		/* the exchange's request, for ctrl */
};

static struct MHD_Response *
text_response(const char *s, const char *ctype)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s),
	    (void *)s, MHD_RESPMEM_MUST_COPY);

	if (r != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	return r;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, int status, const char *body,
    const char *ctype)
{
	struct MHD_Response *r = text_response(body, ctype);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	rc = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Which handler a method and path go to; -1 and *status if none. */
static int
route(const char *method, const char *url, struct http_x *x, int *status)
{
	size_t n = strlen(url), pre = strlen(INVOKE_PREFIX),
	    suf = strlen(INVOKE_SUFFIX);
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	*status = 404;
	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/metrics") == 0 ||
	    strcmp(url, "/v1/functions") == 0) {
		x->kind = url[1] == 'h' ? HK_HEALTH : url[1] == 'm' ? HK_METRICS :
		    HK_FUNCTIONS;
		*status = 405;
		return get ? 0 : -1;
	}
	if (n > pre + suf && n - pre - suf < sizeof(x->fn) &&
	    strncmp(url, INVOKE_PREFIX, pre) == 0 &&
	    strcmp(url + n - suf, INVOKE_SUFFIX) == 0) {
		x->kind = HK_INVOKE;
		memcpy(x->fn, url + pre, n - pre - suf);
		*status = 405;
		return post ? 0 : -1;
	}
	return -1;
}

static bool
append_body(struct http_x *x, const char *data, size_t n)
{
	char *b;

	if (x->too_big || x->len + n > HTTP_MAX_BODY) {
		x->too_big = true;
		return true;
	}
	if ((b = realloc(x->body, x->len + n + 1)) == NULL)
		return false;
	x->body = b;
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return true;
}

/* Gives the exchange to the main loop and parks the connection. */
static enum MHD_Result
hand_over(struct ctrl *c, struct http_x *x)
{
	uint64_t one = 1;

	x->handed = true;
	x->req.src = SRC_HTTP;
	x->req.http = x;
	x->req.fn = -1;
	__atomic_add_fetch(&c->http_open, 1, __ATOMIC_SEQ_CST);
	MHD_suspend_connection(x->conn);
	pthread_mutex_lock(&c->inbox_lock);
	x->req.next = c->inbox;
	c->inbox = &x->req;
	pthread_mutex_unlock(&c->inbox_lock);
	if (write(c->inbox_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd");
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *data,
    size_t *data_size, void **state)
{
	struct http_x *x = *state;
	int status;

	(void)version;
	if (x == NULL) {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			return MHD_NO;
		x->conn = conn;
		*state = x;
		if (route(method, url, x, &status) == -1) {
			x->done = true;
			x->status = status;
			x->resp = strdup(status == 404 ? "{\"type\":\"NotFound\","
			    "\"message\":\"no such resource\"}" :
			    "{\"type\":\"MethodNotAllowed\",\"message\":\"method "
			    "not allowed here\"}");
			x->ctype = "application/json";
		}
		return MHD_YES;
	}
	if (*data_size > 0) {
		bool ok = append_body(x, data, *data_size);

		*data_size = 0;
		return ok ? MHD_YES : MHD_NO;
	}
	if (x->done)
		return reply(conn, x->status, x->resp ? x->resp : "", x->ctype);
	if (x->kind == HK_HEALTH)
		return reply(conn, 200, "ok\n", "text/plain");
	return x->handed ? MHD_YES : hand_over(cls, x);
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
	free(x->body);
	free(x->resp);
	json_object_put(x->req.id);
	free(x->req.payload);
	free(x);
	*state = NULL;
}

/* Main loop: the answer is ready; the server's thread sends it. */
void
http_respond(struct ctrl *c, struct request *r, int status, const char *body)
{
	struct http_x *x = r->http;

	(void)c;
	x->status = status;
	x->resp = strdup(body);
	x->ctype = x->kind == HK_METRICS ? "text/plain; version=0.0.4" :
	    "application/json";
	x->done = true;
	MHD_resume_connection(x->conn);
}

static void
take_one(struct ctrl *c, struct request *r)
{
	struct http_x *x = r->http;
	const struct fn_conf *f;
	json_object *p;
	char *s;

	r->seq = ++c->seq;
	r->arrived_ms = mono_ms();
	if (x->kind != HK_INVOKE) {
		s = x->kind == HK_METRICS ? metrics_text(c) : functions_json(c);
		http_respond(c, r, s ? 200 : 500, s ? s : "");
		free(s);
		return;
	}
	if ((f = ctrlconf_find(&c->conf, x->fn)) == NULL) {
		request_fail(c, r, OUT_NOT_FOUND, "NotFound", "no such function");
		return;
	}
	r->fn = (int)(f - c->conf.fn);
	snprintf(r->fn_name, sizeof(r->fn_name), "%s", f->name);
	p = x->len ? json_tokener_parse(x->body) : NULL;
	if (x->too_big || (x->len > 0 && p == NULL)) {
		request_fail(c, r, OUT_BAD_REQUEST, "BadRequest", x->too_big ?
		    "the body is larger than 4 MiB" : "the body is not JSON");
		return;
	}
	json_object_put(p);
	r->payload = strdup(x->len ? x->body : "null");
	request_enqueue(c, r);
}

void
http_take_inbox(struct ctrl *c)
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

		rev->next = NULL;
		take_one(c, rev);
		rev = next;
	}
}

static int
unix_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_warnx("%s: socket path too long", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    chmod(path, 0660) == -1 || listen(fd, 64) == -1) {
		log_warn("%s", path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static struct MHD_Daemon *
start_one(struct ctrl *c, const char *addr)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_POLL;
	const char *colon = strrchr(addr, ':');
	long port;
	int fd;

	if (strncmp(addr, "unix:", 5) == 0) {
		if ((fd = unix_listener(addr + 5)) == -1)
			return NULL;
		return MHD_start_daemon(flags, 0, NULL, NULL, on_request, c,
		    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
		    on_completed, c, MHD_OPTION_END);
	}
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535) {
		log_warnx("listen: \"%s\": bad port", addr);
		return NULL;
	}
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request,
	    c, MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
	    MHD_OPTION_CONNECTION_TIMEOUT, 120U, MHD_OPTION_END);
}

int
http_start(struct ctrl *c)
{
	for (int i = 0; i < c->conf.nlisten; i++) {
		if ((c->httpd[i] = start_one(c, c->conf.listen[i])) == NULL) {
			log_warnx("cannot serve HTTP on %s", c->conf.listen[i]);
			return -1;
		}
		c->nhttpd = i + 1;
		ctrl_log(c, "listening", 0, "\"address\":\"%s\"", c->conf.listen[i]);
	}
	return 0;
}

void
http_stop(struct ctrl *c)
{
	uint64_t until = mono_ms() + HTTP_DRAIN_MS;

	/* Answers already given may still be on their way out: stop taking
	 * connections, let the server's threads send them, then stop.  Only
	 * a draining ctrl calls this with exchanges open. */
	for (int i = 0; i < c->nhttpd; i++) {
		MHD_socket fd = MHD_quiesce_daemon(c->httpd[i]);

		if (fd != MHD_INVALID_SOCKET)
			close(fd);	/* ours now, not the server's */
	}
	while (__atomic_load_n(&c->http_open, __ATOMIC_SEQ_CST) > 0 &&
	    mono_ms() < until) {
		http_take_inbox(c);	/* late ones: refused, as draining */
		usleep(10000);
	}
	for (int i = 0; i < c->nhttpd; i++)
		MHD_stop_daemon(c->httpd[i]);
	c->nhttpd = 0;
}
