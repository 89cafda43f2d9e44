/* The control socket client: see apiclient.h and snapvm-api(5). */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "apiclient.h"
#include "file.h"
#include "log.h"
#include "monotime.h"

/* Says why connect failed in the terms of snapvm rather than of socket. */
static void
apiclient_refused(const char *path)
{
	struct stat st;
	int e = errno;

	if (e == ENOENT)
		log_warnx("%s: no such socket; is the VM running with "
		    "--api-sock?", path);
	else if (e == ECONNREFUSED && lstat(path, &st) == 0 &&
	    !S_ISSOCK(st.st_mode))
		log_warnx("%s: not a socket", path);
	else if (e == ECONNREFUSED)
		log_warnx("%s: no VM listens there; the socket is stale", path);
	else if (e == EAGAIN)
		log_warnx("%s: the VM has too many clients waiting", path);
	else
		log_warn("%s", path);
	errno = e;
}

int
apiclient_open(struct apiclient *c, const char *path)
{
	struct sockaddr_un sa;
	int e;

	c->path = path;
	c->len = 0;
	if (file_sockaddr(path, &sa, "API socket") == -1)
		return c->fd = -1;
	/* Non-blocking, so that a VM whose backlog is full says EAGAIN
	 * rather than holding us without a time limit. */
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd == -1 || connect(c->fd, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1) {
		e = errno;
		apiclient_refused(path);
		if (c->fd != -1)
			close(c->fd);
		errno = e;
		return c->fd = -1;
	}
	return 0;
}

void
apiclient_close(struct apiclient *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}


/* 0 when fd is ready, -1 with ETIMEDOUT past the deadline (-1: none). */
static int
apiclient_wait(struct apiclient *c, short events, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int64_t left;
	int n;

	do {
		left = deadline < 0 ? -1 : deadline - (int64_t)mono_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
	} while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

static int
apiclient_send(struct apiclient *c, const char *buf, size_t len,
    int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (apiclient_wait(c, POLLOUT, deadline) == -1)
				return -1;
			continue;
		}
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The length of the next line in buf, its newline excluded. */
static int
apiclient_line(struct apiclient *c, int64_t deadline, size_t *linelen)
{
	char *nl;
	ssize_t n;

	while ((nl = memchr(c->buf, '\n', c->len)) == NULL) {
		if (c->len == API_MAX_LINE) {
			errno = EPROTO;
			return -1;
		}
		if (apiclient_wait(c, POLLIN, deadline) == -1)
			return -1;
		n = recv(c->fd, c->buf + c->len, API_MAX_LINE - c->len,
		    MSG_DONTWAIT);
		if (n == 0)
			errno = ECONNRESET;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	*linelen = (size_t)(nl - c->buf);
	return 0;
}

/* Parses the line at the head of buf and drops it from buf. */
static json_object *
apiclient_parse(struct apiclient *c, size_t n)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;

	c->buf[n] = '\0';
	if (tok != NULL)
		o = json_tokener_parse_ex(tok, c->buf, (int)n + 1);
	if (o != NULL && (json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	c->len -= n + 1;
	memmove(c->buf, c->buf + n + 1, c->len);
	if (o == NULL)
		errno = EPROTO;
	return o;
}

static void
apiclient_fail(struct apiclient *c)
{
	if (errno == ETIMEDOUT)
		log_warnx("%s: no reply in time", c->path);
	else if (errno == ECONNRESET || errno == EPIPE)
		log_warnx("%s: the VM closed the connection", c->path);
	else if (errno == EPROTO)
		log_warnx("%s: the reply is not a JSON object line of at most "
		    "%d bytes", c->path, API_MAX_LINE);
	else
		log_warn("%s", c->path);
}

struct json_object *
apiclient_call(struct apiclient *c, struct json_object *req, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)mono_ms() + timeout_ms;
	const char *s = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN);
	json_object *reply = NULL;
	size_t n;
	int sent;

	sent = apiclient_send(c, s, strlen(s), deadline);
	if (sent == 0)
		sent = apiclient_send(c, "\n", 1, deadline);
	/* A VM that refuses us says why before it hangs up, so the reply
	 * is worth reading even when sending failed. */
	if ((sent == 0 || errno == EPIPE || errno == ECONNRESET) &&
	    apiclient_line(c, deadline, &n) == 0)
		reply = apiclient_parse(c, n);
	if (reply == NULL)
		apiclient_fail(c);
	return reply;
}

int
apiclient_check(struct json_object *reply, const char **code,
    const char **error)
{
	json_object *v;

	*code = *error = "";
	if (json_object_object_get_ex(reply, "ok", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v))
		return 0;
	if (json_object_object_get_ex(reply, "code", &v) &&
	    json_object_is_type(v, json_type_string))
		*code = json_object_get_string(v);
	if (json_object_object_get_ex(reply, "error", &v) &&
	    json_object_is_type(v, json_type_string))
		*error = json_object_get_string(v);
	return -1;
}

int
apiclient_op(struct apiclient *c, const char *op, const char *dir,
    bool diff, int timeout_ms, char *code, size_t codelen)
{
	json_object *req = json_object_new_object(), *reply;
	const char *rcode, *error;
	int rc = APICLIENT_OK;

	json_object_object_add(req, "version", json_object_new_int(API_VERSION));
	json_object_object_add(req, "op", json_object_new_string(op));
	if (dir != NULL) {
		json_object_object_add(req, "dir", json_object_new_string(dir));
		json_object_object_add(req, "kind",
		    json_object_new_string(diff ? "diff" : "full"));
	}
	snprintf(code, codelen, "%s", "");
	reply = apiclient_call(c, req, timeout_ms);
	json_object_put(req);
	if (reply == NULL)
		return APICLIENT_IO;
	if (apiclient_check(reply, &rcode, &error) == -1) {
		log_warnx("%s: %s: %s", c->path, op, *error != '\0' ? error :
		    "refused without a message");
		snprintf(code, codelen, "%s", rcode);
		rc = APICLIENT_REFUSED;
	}
	json_object_put(reply);
	return rc;
}
