#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "digest.h"
#include "file.h"
#include "frame.h"
#include "log.h"
#include "monotime.h"
#include "reqid.h"
#include "reqloop.h"
#include "ws_record.h"
#include "vm_counts.h"

struct reqloop;
static void runtime_gone(struct reqloop *rl);

struct reqloop {
	struct vm *vm;
	const struct reqloop_config *cfg;
	char sock[128];
	int listen_fd, conn_fd;
	struct frame_reader fr;
	struct frame_writer fw;		/* frames the runtime has yet to take */
	struct log_rate log_rt;		/* what the runtime (the guest) did wrong */
	char *buf;			/* input bytes not yet taken as lines */
	size_t len, cap;
	size_t clean;			/* buf's first bytes known to hold no
					 * newline: a long line arriving in
					 * many reads is searched once */
	bool in_eof, discarding, ready, busy;
	bool recorded;			/* --record-workset done (or failed) */
	unsigned long lineno;
	json_object *id;		/* of the request in flight */
	uint64_t started_us;
	struct vm_counts counts0;	/* at the request's dispatch */
	char app[64];
};


static void
emit(struct reqloop *rl, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	size_t n = strlen(s);
	char *line = malloc(n + 1);

	if (line != NULL) {
		memcpy(line, s, n);
		line[n] = '\n';
		for (size_t off = 0; off <= n; ) {
			ssize_t w = write(rl->cfg->out_fd, line + off, n + 1 - off);

			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				break;	/* nobody reads our output: nothing to do */
			off += (size_t)w;
		}
		free(line);
	}
	json_object_put(o);
}

static json_object *
timings(uint64_t total, int64_t handler)
{
	json_object *t = json_object_new_object();

	json_object_object_add(t, "total", json_object_new_int64((int64_t)total));
	json_object_object_add(t, "handler", json_object_new_int64(handler));
	return t;
}

/* What the request cost the VMM since its dispatch (--timings). */
static json_object *
counts(const struct reqloop *rl)
{
	json_object *o = json_object_new_object();
	struct vm_counts now, d;

	vm_counts(rl->vm, &now);
	vm_counts_since(&rl->counts0, &now, &d);
	json_object_object_add(o, "io_exits", json_object_new_int64(
	    (int64_t)d.io_exits));
	json_object_object_add(o, "mmio_exits", json_object_new_int64(
	    (int64_t)d.mmio_exits));
	json_object_object_add(o, "intr_exits", json_object_new_int64(
	    (int64_t)d.intr_exits));
	json_object_object_add(o, "other_exits", json_object_new_int64(
	    (int64_t)d.other_exits));
	json_object_object_add(o, "interrupts", json_object_new_int64(
	    (int64_t)d.interrupts));
	return o;
}

/* An error line; id is borrowed. */
static void
emit_error(struct reqloop *rl, json_object *id, const char *type,
    const char *msg, json_object *timing)
{
	json_object *o = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "status", json_object_new_string("error"));
	json_object_object_add(e, "type", json_object_new_string(type));
	json_object_object_add(e, "message", json_object_new_string(msg));
	json_object_object_add(o, "error", e);
	if (timing != NULL)
		json_object_object_add(o, "timings_us", timing);
	emit(rl, o);
}

/* --timings: the phases, on standard error, once the first answer is
 * out. */
static void
report_phases(struct reqloop *rl)
{
	struct phases *p = rl->vm->phases;
	char *s;

	if (p == NULL || p->at_us[PHASE_FIRST_RESPONSE] != 0)
		return;
	phase_mark(p, PHASE_FIRST_RESPONSE, true);
	if ((s = phase_json(p)) != NULL)
		fprintf(stderr, "%s\n", s);
	free(s);
}

/* The pages the first request needed, read before its answer goes out,
 * so that whoever waits for the answer finds the file complete. */
static void
record_workset(struct reqloop *rl)
{
	if (rl->cfg->record_workset == NULL || rl->recorded)
		return;
	rl->recorded = true;
	if (ws_record(rl->vm, rl->cfg->record_workset) == 0)
		log_info("working set of the first request written to %s",
		    rl->cfg->record_workset);
}

static void
finish_request(struct reqloop *rl)
{
	json_object_put(rl->id);
	rl->id = NULL;
	rl->busy = false;
	report_phases(rl);
}

static const char *
obj_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void
runtime_hello(struct reqloop *rl, json_object *f)
{
	const char *app = obj_str(f, "app");

	snprintf(rl->app, sizeof(rl->app), "%s", app ? app : "");
	rl->ready = true;
	phase_mark(rl->vm->phases, PHASE_RUNTIME_READY, true);
	log_info("runtime ready%s%s", app ? ", app " : "", app ? app : "");
}

/* A result or error frame answers the request in flight. */
static void
runtime_answer(struct reqloop *rl, json_object *f, bool ok)
{
	json_object *o, *v, *h;
	int64_t handler = -1;

	if (!rl->busy) {
		log_warnx_rate(&rl->log_rt, "runtime answered a request that "
		    "was not asked");
		return;
	}
	if (json_object_object_get_ex(f, "handler_us", &h))
		handler = json_object_get_int64(h);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_get(rl->id));
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" :
	    "error"));
	if (json_object_object_get_ex(f, ok ? "response" : "error", &v))
		json_object_object_add(o, ok ? "response" : "error",
		    json_object_get(v));
	else
		json_object_object_add(o, ok ? "response" : "error", NULL);
	json_object_object_add(o, "timings_us",
	    timings(mono_us() - rl->started_us, handler));
	if (rl->vm->phases != NULL)	/* --timings */
		json_object_object_add(o, "vm", counts(rl));
	record_workset(rl);
	emit(rl, o);
	finish_request(rl);
}

/* With --net-addr: the guest's address and gateway, and the MAC its
 * device has now, which after a restore may not be the one the guest
 * kernel read from the snapshot. */
static void
add_net(struct reqloop *rl, json_object *o)
{
	const struct netaddr *na = rl->cfg->net_addr;
	char ip[NETADDR_IP_LEN], addr[NETADDR_LEN], mac[NETADDR_MAC_LEN];
	json_object *net;

	if (na == NULL || na->prefix == 0 || !rl->vm->has_net)
		return;
	net = json_object_new_object();
	netaddr_ip(na->addr, ip);
	snprintf(addr, sizeof(addr), "%s/%d", ip, na->prefix);
	json_object_object_add(net, "addr", json_object_new_string(addr));
	netaddr_ip(na->gw, ip);
	json_object_object_add(net, "gw", na->gw != 0 ?
	    json_object_new_string(ip) : NULL);
	netaddr_format_mac(rl->vm->net.s.mac, mac);
	json_object_object_add(net, "mac", json_object_new_string(mac));
	json_object_object_add(o, "net", net);
}

/* Queues a frame for the runtime and writes what its socket takes now;
 * the rest goes out as the socket drains (POLLOUT in reqloop_poll), so
 * a runtime that does not read holds up nothing but itself. */
static void
runtime_send(struct reqloop *rl, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	if (frame_queue(&rl->fw, s, strlen(s)) == -1) {
		log_warn("a frame for the runtime");
		runtime_gone(rl);
	} else if (frame_flush(&rl->fw, rl->conn_fd) == -1) {
		runtime_gone(rl);
	}
}

/* What a runtime needs to go on, in the original VM or in a restored
 * copy: fresh entropy (copies of one snapshot must not share a random
 * state), the wall-clock time (the guest's stood still in the snapshot),
 * the size of its app drive (it may have changed under the guest) and
 * its own network identity (copies must not share an address). */
static void
send_continue(struct reqloop *rl)
{
	json_object *o = json_object_new_object();
	unsigned char seed[32];
	char hex[65];
	struct timespec ts;

	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed)) {
		log_warn("getrandom");
		vm_stop(rl->vm, VM_STOP_ERROR, 0);
		json_object_put(o);
		return;
	}
	digest_hex(seed, hex);
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_object_add(o, "type", json_object_new_string("continue"));
	json_object_object_add(o, "seed", json_object_new_string(hex));
	json_object_object_add(o, "time_ns", json_object_new_int64(
	    (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec));
	if (rl->vm->nblk > 1)
		json_object_object_add(o, "app_bytes", json_object_new_int64(
		    (int64_t)rl->vm->blk[1].blk.s.capacity * 512));
	add_net(rl, o);
	runtime_send(rl, o);
	json_object_put(o);
}

static uint32_t
point_number(const char *name)
{
	if (name == NULL)
		return 0;
	return strcmp(name, "runtime") == 0 ? CKPT_RUNTIME :
	    strcmp(name, "app") == 0 ? CKPT_APP : 0;
}

/* The runtime reached a checkpoint (or resumed at one after a restore);
 * the runner may take a snapshot, and then the runtime goes on. */
static void
runtime_checkpoint(struct reqloop *rl, json_object *f, bool restored)
{
	uint32_t point = point_number(obj_str(f, "point"));

	if (point == 0) {
		log_warnx_rate(&rl->log_rt, "runtime: checkpoint frame without "
		    "a known point");
		return;
	}
	log_info("runtime %s point \"%s\"", restored ? "resumed at" :
	    "reached", obj_str(f, "point"));
	if (!restored && rl->vm->on_ckpt != NULL)
		rl->vm->on_ckpt(rl->vm, point, rl->vm->ckpt_arg);
	if (!vm_stopping(rl->vm))
		send_continue(rl);
}

static void
runtime_frame(struct reqloop *rl, const char *body)
{
	json_object *f = json_tokener_parse(body);
	const char *type = f ? obj_str(f, "type") : NULL;

	if (type == NULL) {
		log_warnx_rate(&rl->log_rt, "runtime sent a frame that is not a "
		    "typed JSON object");
		if (rl->busy) {
			emit_error(rl, rl->id, "RuntimeError",
			    "the runtime sent a malformed frame", NULL);
			finish_request(rl);
		}
	} else if (strcmp(type, "checkpoint") == 0 ||
	    strcmp(type, "restored") == 0) {
		runtime_checkpoint(rl, f, type[0] == 'r');
	} else if (strcmp(type, "hello") == 0) {
		runtime_hello(rl, f);
	} else if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		runtime_answer(rl, f, type[0] == 'r');
	} else {
		log_info_rate(&rl->log_rt, "runtime frame of type \"%.40s\" "
		    "ignored", type);
	}
	json_object_put(f);
}

/* A runtime that hangs up is dead: the VM stops, so that whoever runs
 * vmrun sees a failed runner rather than one that no longer answers. */
static void
runtime_gone(struct reqloop *rl)
{
	log_warnx("the runtime closed its connection; stopping the guest");
	vm_stop(rl->vm, VM_STOP_ERROR, 0);
	close(rl->conn_fd);
	rl->conn_fd = -1;
	rl->ready = false;
	frame_reset(&rl->fr);
	frame_writer_reset(&rl->fw);
	if (rl->busy) {
		emit_error(rl, rl->id, "RuntimeError",
		    "the runtime closed its connection during the request", NULL);
		finish_request(rl);
	}
}

static void
runtime_readable(struct reqloop *rl)
{
	int rc;

	/* A frame may end the connection (a reply that cannot be sent). */
	while ((rc = frame_read(&rl->fr, rl->conn_fd)) == 1) {
		runtime_frame(rl, rl->fr.body);
		frame_reset(&rl->fr);
		if (rl->conn_fd == -1)
			return;
	}
	if (rc == -1)
		runtime_gone(rl);
}

static void
runtime_accept(struct reqloop *rl)
{
	int fd = accept4(rl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd == -1)
		return;
	if (rl->conn_fd != -1) {
		log_warnx_rate(&rl->log_rt, "a second runtime connection refused");
		close(fd);
		return;
	}
	rl->conn_fd = fd;
	phase_mark(rl->vm->phases, PHASE_RUNTIME_CONNECTED, true);
}

/* Parses one request line; on error fills why and returns NULL. */
static json_object *
parse_request(const char *line, size_t len, char *why, size_t whylen)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = o ? json_tokener_get_parse_end(tok) : 0;
	static const char *const members[] = { "id", "function", "payload",
		NULL };

	json_tokener_free(tok);
	if (o == NULL) {
		snprintf(why, whylen, "not JSON: %s", err == json_tokener_continue ?
		    "incomplete value" : json_tokener_error_desc(err));
		return NULL;
	}
	while (end < len && strchr(" \t\r", line[end]) != NULL)
		end++;
	if (end != len || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, end != len ? "trailing bytes after the "
		    "JSON value" : "a request is a JSON object");
		json_object_put(o);
		return NULL;
	}
	if (reqid_members(o, members, why, whylen) == -1) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int
check_function(struct reqloop *rl, json_object *req, char *why, size_t n)
{
	json_object *f;

	if (!json_object_object_get_ex(req, "function", &f))
		return 0;
	if (!json_object_is_type(f, json_type_string)) {
		snprintf(why, n, "function: expected a string");
		return -1;
	}
	if (rl->app[0] && strcmp(json_object_get_string(f), rl->app) != 0) {
		snprintf(why, n, "function \"%.40s\" is not loaded here "
		    "(this VM runs \"%.40s\")", json_object_get_string(f),
		    rl->app);
		return -1;
	}
	return 0;
}

static void
dispatch(struct reqloop *rl, const char *line, size_t len)
{
	char why[160];
	json_object *req, *id = NULL, *payload = NULL, *inv;

	rl->lineno++;
	if ((req = parse_request(line, len, why, sizeof(why))) == NULL ||
	    check_function(rl, req, why, sizeof(why)) == -1) {
		char msg[200];

		if (req != NULL)
			json_object_object_get_ex(req, "id", &id);
		snprintf(msg, sizeof(msg), "line %lu: %s", rl->lineno, why);
		emit_error(rl, id, "BadRequest", msg, NULL);
		json_object_put(req);
		return;
	}
	json_object_object_get_ex(req, "id", &id);
	if (reqloop_test_hook != NULL &&
	    reqloop_test_hook(req, why, sizeof(why)) == 1) {
		emit_error(rl, id, "TestHook", why, NULL);
		json_object_put(req);
		return;
	}
	json_object_object_get_ex(req, "payload", &payload);
	inv = json_object_new_object();
	json_object_object_add(inv, "type", json_object_new_string("invoke"));
	json_object_object_add(inv, "id", json_object_get(id));
	json_object_object_add(inv, "payload", json_object_get(payload));
	rl->id = json_object_get(id);
	rl->busy = true;
	rl->started_us = mono_us();
	if (rl->vm->phases != NULL)	/* --timings */
		vm_counts(rl->vm, &rl->counts0);
	phase_mark(rl->vm->phases, PHASE_FIRST_REQUEST, true);
	runtime_send(rl, inv);
	json_object_put(inv);
	json_object_put(req);
}

static void
emit_too_large(struct reqloop *rl)
{
	char msg[96];

	rl->lineno++;
	snprintf(msg, sizeof(msg), "line %lu: request larger than %zu bytes",
	    rl->lineno, rl->cfg->max_request);
	emit_error(rl, NULL, "BadRequest", msg, NULL);
}

/* The end of the first line in buf, or NULL while it is incomplete. */
static char *
line_end(struct reqloop *rl)
{
	char *nl = memchr(rl->buf + rl->clean, '\n', rl->len - rl->clean);

	rl->clean = nl ? (size_t)(nl - rl->buf) : rl->len;
	return nl;
}

/* Hands out complete lines while the runtime is free for one. */
static void
take_lines(struct reqloop *rl)
{
	char *nl;

	while (rl->ready && !rl->busy && rl->len > 0) {
		size_t n;

		nl = line_end(rl);
		if (nl == NULL && !rl->in_eof)
			return;
		n = nl ? (size_t)(nl - rl->buf) : rl->len;
		if (n > rl->cfg->max_request)
			emit_too_large(rl);
		else if (n > 0 && !(n == 1 && rl->buf[0] == '\r'))
			dispatch(rl, rl->buf, n);
		n = nl ? n + 1 : n;
		memmove(rl->buf, rl->buf + n, rl->len - n);
		rl->len -= n;
		rl->clean = 0;
	}
}

/* The rest of an over-long line is dropped as it arrives. */
static void
too_large(struct reqloop *rl)
{
	emit_too_large(rl);
	rl->discarding = true;
	rl->len = 0;
	rl->clean = 0;
}

static void
input_readable(struct reqloop *rl)
{
	ssize_t n;

	if (rl->cap - rl->len < 65536) {
		size_t cap = rl->cap ? rl->cap * 2 : 131072;
		char *b = realloc(rl->buf, cap);

		if (b == NULL)
			return;
		rl->buf = b;
		rl->cap = cap;
	}
	n = read(rl->cfg->in_fd, rl->buf + rl->len, rl->cap - rl->len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		rl->in_eof = true;
		return;
	}
	rl->len += (size_t)n;
	if (rl->discarding) {
		char *nl = memchr(rl->buf, '\n', rl->len);

		if (nl == NULL) {
			rl->len = 0;
			return;
		}
		rl->discarding = false;
		rl->len -= (size_t)(nl + 1 - rl->buf);
		memmove(rl->buf, nl + 1, rl->len);
	}
	if (line_end(rl) == NULL && rl->len > rl->cfg->max_request)
		too_large(rl);
}

static int
runtime_listen(struct reqloop *rl)
{
	struct sockaddr_un sa;

	if (snprintf(rl->sock, sizeof(rl->sock), "%s_%u", rl->cfg->vsock_path,
	    RUNTIME_PORT) >= (int)sizeof(rl->sock)) {
		log_warnx("%s: socket path too long", rl->cfg->vsock_path);
		return -1;
	}
	if (file_sockaddr(rl->sock, &sa, "runtime's vsock socket") == -1)
		return -1;
	unlink(rl->sock);
	rl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (rl->listen_fd == -1 ||
	    bind(rl->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(rl->listen_fd, 2) == -1) {
		log_warn("%s", rl->sock);
		return -1;
	}
	return 0;
}

/* Milliseconds until the request in flight runs out of time, or -1. */
static int
poll_timeout(const struct reqloop *rl)
{
	uint64_t limit = (uint64_t)rl->cfg->timeout_ms * 1000, spent;

	if (!rl->busy || limit == 0)
		return -1;
	spent = mono_us() - rl->started_us;
	return spent >= limit ? 0 : (int)((limit - spent + 999) / 1000);
}

/* A handler that overruns its time cannot be interrupted inside the
 * guest without trusting the guest, so the whole VM goes. */
static void
check_deadline(struct reqloop *rl)
{
	char msg[128];

	if (!rl->busy || rl->cfg->timeout_ms == 0 || poll_timeout(rl) != 0)
		return;
	snprintf(msg, sizeof(msg), "the function did not answer within %u ms; "
	    "the VM was stopped", rl->cfg->timeout_ms);
	log_warnx("request line %lu: %s", rl->lineno, msg);
	emit_error(rl, rl->id, "Timeout", msg,
	    timings(mono_us() - rl->started_us, -1));
	finish_request(rl);
	vm_stop(rl->vm, VM_STOP_TIMEOUT, 0);
}

/* The runtime connection: frames in, and frames out while any wait. */
static void
runtime_ready(struct reqloop *rl, short revents)
{
	if ((revents & (POLLOUT | POLLERR | POLLHUP)) && frame_pending(&rl->fw) &&
	    frame_flush(&rl->fw, rl->conn_fd) == -1)
		runtime_gone(rl);
	if (rl->conn_fd != -1 && (revents & (POLLIN | POLLERR | POLLHUP)))
		runtime_readable(rl);
}

/* Input is read only while a request can be sent: the rest waits in the
 * pipe, where the writer feels the back-pressure.  Nothing here blocks:
 * the deadline of the request in flight and the signals are served
 * whatever the runtime does. */
static int
reqloop_poll(struct reqloop *rl)
{
	struct pollfd p[5] = {
		{ .fd = rl->vm->stop_fd, .events = POLLIN },
		{ .fd = rl->vm->sig_fd, .events = POLLIN },
		{ .fd = rl->conn_fd != -1 ? rl->conn_fd : rl->listen_fd,
		  .events = POLLIN | (frame_pending(&rl->fw) ? POLLOUT : 0) },
		{ .fd = rl->ready && !rl->busy && !rl->in_eof ? rl->cfg->in_fd : -1,
		  .events = POLLIN },
		{ .fd = rl->vm->ckpt_fd, .events = POLLIN },
	};

	if (poll(p, 5, poll_timeout(rl)) == -1)
		return errno == EINTR ? 0 : -1;
	check_deadline(rl);
	if (p[1].revents)
		vm_take_signal(rl->vm);
	if (p[2].revents && rl->conn_fd == -1)
		runtime_accept(rl);
	else if (p[2].revents)
		runtime_ready(rl, p[2].revents);
	if (p[3].revents)
		input_readable(rl);
	if (p[4].revents)
		vm_take_ckpt(rl->vm);
	return 0;
}

static void
reqloop_close(struct reqloop *rl)
{
	if (rl->busy) {
		emit_error(rl, rl->id, "VMStopped",
		    "the guest stopped before it answered", NULL);
		finish_request(rl);
	}
	if (rl->conn_fd != -1)
		close(rl->conn_fd);
	if (rl->listen_fd != -1) {
		close(rl->listen_fd);
		unlink(rl->sock);
	}
	frame_reset(&rl->fr);
	frame_writer_reset(&rl->fw);
	log_rate_flush(&rl->log_rt);
	free(rl->buf);
}

int
reqloop_run(struct vm *vm, const struct reqloop_config *cfg,
    struct vm_result *res)
{
	struct reqloop rl = { .vm = vm, .cfg = cfg, .listen_fd = -1,
	    .conn_fd = -1, .log_rt = LOG_RATE_INIT("runtime") };
	int rc;

	if (runtime_listen(&rl) == -1)
		vm_stop(vm, VM_STOP_ERROR, 0);
	else if (vm_start(vm) == 0) {
		while (!vm_stopping(vm)) {
			if (reqloop_poll(&rl) == -1) {
				log_warn("poll");
				vm_stop(vm, VM_STOP_ERROR, 0);
			}
			take_lines(&rl);
			if (rl.in_eof && rl.len == 0 && !rl.busy)
				vm_stop(vm, VM_STOP_POWEROFF, 0);
		}
	}
	rc = vm_finish(vm, res);
	reqloop_close(&rl);
	return rc;
}
