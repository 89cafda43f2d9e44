/* The control socket server: see api.h and snapvm-api(5). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "file.h"
#include "log.h"
#include "monotime.h"

_Static_assert(API_PATH_MAX == sizeof(((struct sockaddr_un *)0)->sun_path),
    "API_PATH_MAX must be the size of sun_path");

/* A connection that sends nothing for this long gives way to the next
 * client, since only one is served at a time. */
#define API_IDLE_MS	30000
/* A client that does not read its reply for this long is dropped. */
#define API_WRITE_MS	5000

enum { API_READY = 1, API_WAIT = 0, API_FAIL = -1 };

/* A private directory next to path: "DIR/.api.XXXXXX". */
static int
api_tmpdir(const char *path, char *tmp, size_t size)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash == NULL ? 1 : slash == path ? 0 : (int)(slash - path);
	const char *dir = slash == NULL ? "." : path;

	/* Room for "/s" after it too, the socket's name in there. */
	if ((size_t)snprintf(tmp, size, "%.*s/.api.XXXXXX", dirlen, dir) >=
	    size - 2) {
		log_warnx("%s: socket path too long for its temporary name", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (mkdtemp(tmp) == NULL) {
		log_warn("%s: temporary directory %s", path, tmp);
		return -1;
	}
	return 0;
}

static int
api_bind(const char *sock)
{
	struct sockaddr_un sa;
	int fd;

	if (file_sockaddr(sock, &sa, "API socket") == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    chmod(sock, 0600) == -1 || listen(fd, 8) == -1) {
		log_warn("%s", sock);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * bind(2) creates the socket file with the umask's mode, and a umask
 * around it would be process-wide, racing with the files of the VM's
 * other threads.  So the socket is bound inside a fresh 0700 directory,
 * where no one else can reach it, narrowed to 0600 there and only then
 * linked under its public name.  link(2) fails if that name was taken
 * meanwhile, where rename(2) would replace another VM's socket.
 */
static int
api_listen(struct api *a, const char *path)
{
	char tmp[API_PATH_MAX], sock[API_PATH_MAX];
	struct stat st;
	int fd;

	if (api_tmpdir(path, tmp, sizeof(tmp)) == -1)
		return -1;
	/* api_tmpdir left room for the "/s". */
	if ((size_t)snprintf(sock, sizeof(sock), "%s/s", tmp) >= sizeof(sock))
		fd = -1;
	else if ((fd = api_bind(sock)) != -1 && (lstat(sock, &st) == -1 ||
	    link(sock, path) == -1)) {
		if (errno == EEXIST)
			log_warnx("%s: taken by another VM meanwhile", path);
		else
			log_warn("%s", path);
		close(fd);
		fd = -1;
	}
	unlink(sock);
	rmdir(tmp);
	if (fd != -1) {
		a->dev = st.st_dev;
		a->ino = st.st_ino;
	}
	return fd;
}

/* API_READY when fd has events, API_WAIT on api_stop or after timeout_ms,
 * API_FAIL on errors. */
static int
api_wait(struct api *a, int fd, short events, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = a->stop_fd, .events = POLLIN },
		{ .fd = fd, .events = events },
	};
	int n;

	do
		n = poll(p, 2, timeout_ms);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_warn("poll");
		return API_FAIL;
	}
	if (n == 0 || p[0].revents != 0)
		return API_WAIT;
	return API_READY;
}

static int
api_write(struct api *a, int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (api_wait(a, fd, POLLOUT, API_WRITE_MS) != API_READY)
				return -1;
			continue;
		}
		if (n == -1) {
			log_debug("reply: %s", strerror(errno));
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes reply as one line and releases it. */
static int
api_reply(struct api *a, int fd, json_object *reply)
{
	const char *s;
	char *line;
	size_t n;
	int rc;

	s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	n = strlen(s);
	if ((line = malloc(n + 1)) == NULL) {
		json_object_put(reply);
		return -1;
	}
	memcpy(line, s, n);
	line[n] = '\n';
	json_object_put(reply);
	rc = api_write(a, fd, line, n + 1);
	free(line);
	return rc;
}

static json_object *
api_ok(void)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

/* code is "bad-request", "denied" or "failed": snapvm-api(5). */
static json_object *
api_error(const char *code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static json_object *
api_error(const char *code, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "code", json_object_new_string(code));
	return o;
}

static const char *
api_type(json_object *v)
{
	return json_type_to_name(json_object_get_type(v));
}

/* A string member of the request, or NULL with *bad set to the reply. */
static const char *
api_string(json_object *req, const char *key, json_object **bad)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v)) {
		*bad = api_error("bad-request", "field \"%s\": missing", key);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		*bad = api_error("bad-request", "field \"%s\": expected a string, "
		    "got %s", key, api_type(v));
		return NULL;
	}
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v)) {
		*bad = api_error("bad-request", "field \"%s\": contains a NUL "
		    "character", key);
		return NULL;
	}
	return json_object_get_string(v);
}

/* Every member must be known, and dir and kind belong to snapshot. */
static json_object *
api_check_fields(json_object *req, const char *op)
{
	json_object *v;

	json_object_object_foreach(req, key, val) {
		bool snap_only = strcmp(key, "dir") == 0 ||
		    strcmp(key, "kind") == 0;

		if (snap_only && strcmp(op, "snapshot") != 0)
			return api_error("bad-request", "field \"%s\": only for op "
			    "\"snapshot\"", key);
		if (!snap_only && strcmp(key, "op") != 0 &&
		    strcmp(key, "version") != 0)
			return api_error("bad-request", "unknown field \"%s\"", key);
		(void)val;
	}
	if (!json_object_object_get_ex(req, "version", &v))
		return NULL;
	if (!json_object_is_type(v, json_type_int))
		return api_error("bad-request", "field \"version\": expected an "
		    "integer, got %s", api_type(v));
	if (json_object_get_int64(v) != API_VERSION)
		return api_error("bad-request", "field \"version\": version %s is "
		    "not supported; this VM speaks %d",
		    json_object_get_string(v), API_VERSION);
	return NULL;
}

static json_object *
api_result(int rc, const char *op, const char *err)
{
	if (rc == 0)
		return api_ok();
	return api_error("failed", "%s", *err != '\0' ? err : op);
}


static json_object *
api_snapshot(struct api *a, json_object *req, char *err, size_t errlen)
{
	json_object *bad = NULL, *reply, *v;
	const char *dir, *kind = "full";
	int64_t t0;
	int rc;

	if ((dir = api_string(req, "dir", &bad)) == NULL)
		return bad;
	if (dir[0] != '/')
		return api_error("bad-request", "field \"dir\": \"%s\" is not an "
		    "absolute path", dir);
	if (json_object_object_get_ex(req, "kind", &v) &&
	    (kind = api_string(req, "kind", &bad)) == NULL)
		return bad;
	if (strcmp(kind, "full") != 0 && strcmp(kind, "diff") != 0)
		return api_error("bad-request", "field \"kind\": expected \"full\" "
		    "or \"diff\", got \"%s\"", kind);
	t0 = mono_ms();
	rc = a->ops->snapshot(a->ctx, dir, kind[0] == 'd', err, errlen);
	if ((reply = api_result(rc, "snapshot failed", err)) != NULL && rc == 0)
		json_object_object_add(reply, "ms",
		    json_object_new_int64(mono_ms() - t0));
	return reply;
}

static json_object *
api_status(struct api *a)
{
	json_object *reply = api_ok();

	a->ops->status(a->ctx, reply);
	/* After the VM's members, so that these two cannot be overridden. */
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	json_object_object_add(reply, "version", json_object_new_int(API_VERSION));
	return reply;
}

static json_object *
api_run(struct api *a, const char *op, json_object *req)
{
	const struct api_ops *o = a->ops;
	char err[512] = "";

	if (strcmp(op, "status") == 0 && o->status != NULL)
		return api_status(a);
	if (strcmp(op, "snapshot") == 0 && o->snapshot != NULL)
		return api_snapshot(a, req, err, sizeof(err));
	if (strcmp(op, "pause") == 0 && o->pause != NULL)
		return api_result(o->pause(a->ctx, err, sizeof(err)),
		    "pause failed", err);
	if (strcmp(op, "resume") == 0 && o->resume != NULL)
		return api_result(o->resume(a->ctx, err, sizeof(err)),
		    "resume failed", err);
	if (strcmp(op, "stop") == 0 && o->stop != NULL)
		return api_result(o->stop(a->ctx, err, sizeof(err)),
		    "stop failed", err);
	return api_error("failed", "op \"%s\": not supported by this VM", op);
}

static bool
api_known_op(const char *op)
{
	static const char *const ops[] = {
		"pause", "resume", "snapshot", "stop", "status",
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

/* The reply to one request object. */
static json_object *
api_request(struct api *a, json_object *req)
{
	json_object *bad = NULL;
	const char *op;

	if (!json_object_is_type(req, json_type_object))
		return api_error("bad-request", "expected a JSON object, got %s",
		    api_type(req));
	if ((op = api_string(req, "op", &bad)) == NULL)
		return bad;
	if (!api_known_op(op))
		return api_error("bad-request", "field \"op\": unknown op \"%s\" "
		    "(expected pause, resume, snapshot, stop or status)", op);
	if ((bad = api_check_fields(req, op)) != NULL)
		return bad;
	return api_run(a, op, req);
}

static json_object *
api_not_json(json_tokener *tok, bool failed, size_t n)
{
	const char *why = failed ? json_tokener_error_desc(
	    json_tokener_get_error(tok)) : "more after the value";
	size_t at = json_tokener_get_parse_end(tok);

	if (at >= n)
		return api_error("bad-request", "not JSON: %s at the end of the "
		    "line", why);
	return api_error("bad-request", "not JSON: %s at byte %zu", why, at + 1);
}

/*
 * The reply to the line at line[0..n), NULL for a blank line.  line[n] is
 * its newline or past the input, and becomes the terminator: json-c needs
 * one to know that a number or a literal at the very end is complete.
 */
static json_object *
api_line(struct api *a, char *line, size_t n)
{
	json_tokener *tok;
	json_object *req, *reply;

	while (n > 0 && strchr(" \t\r", line[n - 1]) != NULL)
		n--;
	if (n == 0)
		return NULL;
	if (memchr(line, '\0', n) != NULL)
		return api_error("bad-request", "not JSON: a NUL byte in the line");
	if ((tok = json_tokener_new()) == NULL)
		return api_error("failed", "out of memory");
	line[n] = '\0';
	req = json_tokener_parse_ex(tok, line, (int)n + 1);
	if (req == NULL || json_tokener_get_parse_end(tok) != n)
		reply = api_not_json(tok, req == NULL, n);
	else
		reply = api_request(a, req);
	json_object_put(req);
	json_tokener_free(tok);
	return reply;
}

/* Answers every complete line in a->line[0..*len) and keeps the rest. */
static int
api_lines(struct api *a, int fd, size_t *len, bool eof)
{
	char *nl, *p = a->line, *end = a->line + *len;
	json_object *reply;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			if (!eof)
				break;
			nl = end;
		}
		reply = api_line(a, p, (size_t)(nl - p));
		if (reply != NULL && api_reply(a, fd, reply) == -1)
			return -1;
		p = nl < end ? nl + 1 : end;
	}
	*len = (size_t)(end - p);
	memmove(a->line, p, *len);
	return 0;
}

static int
api_peer_ok(struct api *a, int fd)
{
	struct ucred cred;
	socklen_t n = sizeof(cred);
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) == -1) {
		log_warn("%s: SO_PEERCRED", a->path);
		return 0;
	}
	if (cred.uid == me || cred.uid == 0)
		return 1;
	log_warnx("%s: refused a client of uid %u, pid %d", a->path,
	    (unsigned)cred.uid, (int)cred.pid);
	if (me == 0)
		api_reply(a, fd, api_error("denied", "uid %u may not use this "
		    "socket; only root may", (unsigned)cred.uid));
	else
		api_reply(a, fd, api_error("denied", "uid %u may not use this "
		    "socket; only uid %u and root may", (unsigned)cred.uid,
		    (unsigned)me));
	return 0;
}

/* One connection, until the client hangs up, idles, misbehaves or
 * api_stop is called. */
static void
api_serve(struct api *a, int fd)
{
	size_t len = 0;
	ssize_t n;

	if (!api_peer_ok(a, fd))
		return;
	for (;;) {
		if (len == API_MAX_LINE) {
			api_reply(a, fd, api_error("bad-request", "line longer than "
			    "%d bytes", API_MAX_LINE - 1));
			return;
		}
		if (api_wait(a, fd, POLLIN, API_IDLE_MS) != API_READY)
			return;
		n = recv(fd, a->line + len, API_MAX_LINE - len, MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n == -1)
			return;
		len += (size_t)n;
		if (api_lines(a, fd, &len, n == 0) == -1 || n == 0)
			return;
	}
}

static void *
api_main(void *arg)
{
	struct api *a = arg;
	int fd;

	pthread_setname_np(pthread_self(), "api");
	if (a->ops->enter != NULL && a->ops->enter(a->ctx) == -1)
		return NULL;
	while (api_wait(a, a->listen_fd, POLLIN, -1) == API_READY) {
		fd = accept4(a->listen_fd, NULL, NULL,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("%s: accept", a->path);
			continue;
		}
		api_serve(a, fd);
		close(fd);
	}
	return NULL;
}

/* The server thread takes no signals: the runner's threads handle them. */
static int
api_spawn(struct api *a)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&a->thread, NULL, api_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		log_warn("%s: thread", a->path);
		return -1;
	}
	return 0;
}

int
api_start(struct api *a, const char *path, const struct api_ops *ops, void *ctx)
{
	struct sockaddr_un sa;

	memset(a, 0, sizeof(*a));
	a->listen_fd = a->stop_fd = -1;
	if (file_sockaddr(path, &sa, "API socket") == -1 ||
	    file_claim_socket(path, SOCK_STREAM,
	    "another VM serves its control socket") == -1)
		return -1;
	memcpy(a->path, sa.sun_path, sizeof(a->path));
	a->ops = ops;
	a->ctx = ctx;
	if ((a->line = malloc(API_MAX_LINE + 1)) == NULL ||
	    (a->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1) {
		log_warn("%s", path);
		goto fail;
	}
	if ((a->listen_fd = api_listen(a, path)) == -1)
		goto fail;
	if (api_spawn(a) == 0) {
		a->started = true;
		return 0;
	}
	unlink(path);
fail:
	if (a->listen_fd != -1)
		close(a->listen_fd);
	if (a->stop_fd != -1)
		close(a->stop_fd);
	free(a->line);
	a->line = NULL;
	return -1;
}

void
api_stop(struct api *a)
{
	uint64_t one = 1;
	struct stat st;

	if (!a->started)
		return;
	a->started = false;
	if (write(a->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		log_warn("%s: eventfd", a->path);
	pthread_join(a->thread, NULL);
	/* Unlinked before the listener closes, so that no one finds it
	 * stale and takes the name while we still hold it. */
	if (lstat(a->path, &st) == 0 && st.st_dev == a->dev &&
	    st.st_ino == a->ino)
		unlink(a->path);
	close(a->listen_fd);
	close(a->stop_fd);
	free(a->line);
	a->line = NULL;
}
