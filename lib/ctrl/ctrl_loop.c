/* ctrl's main loop: signals, request lines, HTTP hand-overs, runners. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"
#include "reqid.h"

#define TICK_MS		100	/* timers: deadlines, idle VMs */
#define LOG_WAIT_MS	2000		/* at exit, for the log's reader */


/* Request lines (--requests), with replay timing. */
struct input {
	int fd;
	char *buf;
	size_t len, cap;
	bool eof;
	bool skip;			/* in an overlong line: to its end */
	struct request *held;		/* waiting for its "time" */
	uint64_t t0;
};

/* A line that is not a request still gets its one answer line. */
static void
bad_line(struct ctrl *c, const char *line, const char *why, int missing)
{
	struct request *r = calloc(1, sizeof(*r));
	json_object *o = json_tokener_parse(line), *id;
	char bad[160];

	if (r == NULL) {
		json_object_put(o);
		return;
	}
	r->fn = -1;
	r->seq = ++c->seq;
	r->arrived_ms = mono_ms();
	/* An id that cannot be returned as it was given is not returned. */
	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "id", &id) &&
	    reqid_check(id, bad, sizeof(bad)) == 0)
		r->id = json_object_get(id);
	json_object_put(o);
	ctrl_request_fail(c, r, missing ? OUT_NOT_FOUND : OUT_BAD_REQUEST,
	    missing ? "NotFound" : "BadRequest", why);
}

static void
input_line(struct ctrl *c, struct input *in, const char *line)
{
	char why[160];
	int missing;
	struct request *r;

	if (line[strspn(line, " \t\r")] == '\0')
		return;
	if ((r = ctrl_request_parse(c, line, why, sizeof(why),
	    &missing)) == NULL) {
		bad_line(c, line, why, missing);
		return;
	}
	r->src = SRC_LINES;
	if (r->at_ms > 0 && in->t0 + r->at_ms > mono_ms())
		in->held = r;
	else
		ctrl_request_enqueue(c, r);
}

/* A line too long to be a request gets its error at once, not after
 * ctrl has buffered all of it. */
static void
skip_long(struct ctrl *c, struct input *in, const char *nl)
{
	size_t n = nl ? (size_t)(nl - in->buf) + 1 : in->len;

	if (!in->skip)
		bad_line(c, "", "the line is longer than " CTRL_MAX_LINE_TEXT,
		    0);
	in->skip = nl == NULL;
	in->len -= n;
	memmove(in->buf, in->buf + n, in->len);
}

static void
input_take(struct ctrl *c, struct input *in)
{
	char *nl;

	if (in->held != NULL && in->t0 + in->held->at_ms <= mono_ms()) {
		ctrl_request_enqueue(c, in->held);
		in->held = NULL;
	}
	/* Responses the reader has not taken hold back the requests that
	 * would make more. */
	while (in->held == NULL && in->len > 0 && !ctrl_sink_full(&c->out)) {
		size_t n;

		nl = memchr(in->buf, '\n', in->len);
		if (in->skip || (nl ? (size_t)(nl - in->buf) :
		    in->len) > CTRL_MAX_LINE) {
			skip_long(c, in, nl);
			continue;
		}
		if (nl == NULL && !in->eof)
			return;
		n = nl ? (size_t)(nl - in->buf) : in->len;
		in->buf[n] = '\0';
		input_line(c, in, in->buf);
		n = nl ? n + 1 : n;
		in->len -= n;
		memmove(in->buf, in->buf + n, in->len);
	}
}

static void
input_read(struct ctrl *c, struct input *in)
{
	ssize_t n;

	if (in->cap - in->len < 65536) {
		char *b = realloc(in->buf, in->cap ? in->cap * 2 : 131072);

		if (b == NULL)
			return;
		in->buf = b;
		in->cap = in->cap ? in->cap * 2 : 131072;
	}
	n = read(in->fd, in->buf + in->len, in->cap - in->len - 1);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		in->eof = true;
	else
		in->len += (size_t)n;
	input_take(c, in);
}

static bool
same_function(const struct fn_conf *a, const struct fn_conf *b)
{
	return strcmp(a->appfs, b->appfs) == 0 &&
	    a->memory_mib == b->memory_mib && a->vcpus == b->vcpus &&
	    a->snapshots == b->snapshots &&
	    a->timeout_ms == b->timeout_ms && a->nlayers == b->nlayers &&
	    memcmp(a->layer, b->layer, sizeof(a->layer)) == 0;
}

/* Working-set states follow their functions by name; a new one starts
 * with none.  An adder still running for a function that went: -2. */
static void
ws_remap(struct ctrl *c, const int *map)
{
	uint8_t ws[CTRL_MAX_FUNCS] = { 0 };

	for (int i = 0; i < c->conf.nfuncs; i++)
		if (map[i] >= 0)
			ws[map[i]] = c->ws[i];
	memcpy(c->ws, ws, sizeof(ws));
	if (c->ws_fn >= 0)
		c->ws_fn = map[c->ws_fn] < 0 ? -2 : map[c->ws_fn];
}

/* SIGHUP: functions.yaml again.  VMs of unchanged functions stay warm;
 * those of changed or removed ones finish what they do and go. */
static void
ctrl_reload(struct ctrl *c, struct input *in)
{
	struct fn_conf *fns = calloc(CTRL_MAX_FUNCS, sizeof(*fns));
	struct fn_stats *stats = calloc(CTRL_MAX_FUNCS, sizeof(*stats));
	int n, map[CTRL_MAX_FUNCS];

	if (fns == NULL || stats == NULL || ctrlconf_load_functions(&c->conf,
	    c->conf.functions, fns, &n) == -1) {
		char file[CTRL_PATH + 16];

		ctrl_log(c, "reload_failed", 0, "\"file\":%s",
		    ctrl_log_jstr(file, sizeof(file), c->conf.functions));
		free(fns);
		free(stats);
		return;
	}
	for (int i = 0; i < c->conf.nfuncs; i++) {
		map[i] = -1;
		for (int j = 0; j < n; j++)
			if (strcmp(c->conf.fn[i].name, fns[j].name) == 0) {
				map[i] = j;
				stats[j] = c->stats[i];
			}
	}
	for (int i = 0; i < CTRL_MAX_VMS; i++) {
		struct vm_slot *v = &c->vm[i];

		if (v->state == VMS_FREE || v->fn < 0)
			continue;
		if (map[v->fn] < 0 || !same_function(&c->conf.fn[v->fn],
		    &fns[map[v->fn]]))
			v->stale = true;
		v->fn = map[v->fn];
		if (v->req != NULL && v->req->fn >= 0)
			v->req->fn = map[v->req->fn];	/* -1: not counted */
	}
	/* Requests keep their function by name: -1, removed, is failed by
	 * ctrl_pool_dispatch. */
	for (struct request *r = c->queue; r != NULL; r = r->next)
		r->fn = r->fn < 0 ? -1 : map[r->fn];
	if (in->held != NULL && in->held->fn >= 0)
		in->held->fn = map[in->held->fn];
	if (c->builder_fn >= 0)		/* -3: its function is gone */
		c->builder_fn = map[c->builder_fn] < 0 ? -3 :
		    map[c->builder_fn];
	for (int i = 0; i < CTRL_PAGERS; i++)
		if (c->pager[i].state != PGS_FREE && c->pager[i].fn >= 0)
			c->pager[i].fn = map[c->pager[i].fn];	/* -1: gone */
	ws_remap(c, map);
	memcpy(c->conf.fn, fns, sizeof(*fns) * (size_t)n);
	memcpy(c->stats, stats, sizeof(*stats) * CTRL_MAX_FUNCS);
	c->conf.nfuncs = n;
	memset(c->snap_failed, 0, sizeof(c->snap_failed));
	memset(c->lazy_skip, 0, sizeof(c->lazy_skip));
	c->nabsent = 0;			/* the store is asked again */
	c->store_base_failed = false;
	ctrl_log(c, "reloaded", 0, "\"functions\":%d", n);
	free(fns);
	free(stats);
}

static int
signals_open(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, old);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void
on_signal(struct ctrl *c, int fd, struct input *in)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			ctrl_pool_reap(c);
		} else if (si.ssi_signo == SIGHUP) {
			ctrl_reload(c, in);
		} else if (!c->draining) {
			ctrl_log(c, "draining", 0, "\"signal\":%u",
			    si.ssi_signo);
			ctrl_notify_stopping(c);
			c->draining = true;
			in->eof = true;
			if (in->held != NULL)	/* refused, not waited for */
				ctrl_request_enqueue(c, in->held);
			in->held = NULL;
			if (c->builder.pid > 0 && c->ws_fn == -1)
				kill(c->builder.pid, SIGTERM);
			ctrl_store_drain(c);
			ctrl_pager_drain(c);
		}
	}
}

/* What a polled descriptor is. */
enum fd_role { FD_SIGNAL, FD_INBOX, FD_INPUT, FD_LOG, FD_OUTPUT,
	FD_BUILDER_OUT, FD_BUILDER_ERR, FD_VM_OUT, FD_VM_IN, FD_VM_ERR,
	FD_PAGER_OUT };

#define MAX_POLL	(3 * CTRL_MAX_VMS + CTRL_PAGERS + 8)

struct poller {
	struct pollfd p[MAX_POLL];
	enum fd_role role[MAX_POLL];
	struct vm_slot *vm[MAX_POLL];
	struct pager_job *pager[MAX_POLL];
	int n;
};

static void
watch(struct poller *pl, int fd, short events, enum fd_role role,
    struct vm_slot *v)
{
	if (fd == -1 || pl->n == MAX_POLL)
		return;
	pl->p[pl->n] = (struct pollfd){ .fd = fd, .events = events };
	pl->role[pl->n] = role;
	pl->pager[pl->n] = NULL;
	pl->vm[pl->n++] = v;
}

static int
poll_timeout(const struct input *in)
{
	uint64_t now = mono_ms(), due;

	if (in->held == NULL)
		return TICK_MS;
	due = in->t0 + in->held->at_ms;
	return due <= now ? 0 : due - now < TICK_MS ? (int)(due - now) :
	    TICK_MS;
}

static void
watch_all(struct ctrl *c, struct poller *pl, int sig_fd,
    const struct input *in)
{
	watch(pl, sig_fd, POLLIN, FD_SIGNAL, NULL);
	watch(pl, c->inbox_fd, POLLIN, FD_INBOX, NULL);
	watch(pl, in->fd != -1 && !in->eof && in->held == NULL &&
	    !ctrl_sink_full(&c->out) ? in->fd : -1, POLLIN, FD_INPUT, NULL);
	watch(pl, ctrl_sink_pending(&c->log) ? c->log.fd : -1, POLLOUT, FD_LOG,
	    NULL);
	watch(pl, ctrl_sink_pending(&c->out) ? c->out.fd : -1, POLLOUT,
	    FD_OUTPUT, NULL);
	if (c->builder.pid > 0) {
		watch(pl, c->builder.out_fd, POLLIN, FD_BUILDER_OUT, NULL);
		watch(pl, c->builder.err_fd, POLLIN, FD_BUILDER_ERR, NULL);
	}
	for (int i = 0; i < CTRL_MAX_VMS; i++) {
		struct vm_slot *v = &c->vm[i];

		if (v->state == VMS_FREE)
			continue;
		watch(pl, v->proc.out_fd, POLLIN, FD_VM_OUT, v);
		watch(pl, v->proc.err_fd, POLLIN, FD_VM_ERR, v);
		if (runproc_sending(&v->proc))
			watch(pl, v->proc.in_fd, POLLOUT, FD_VM_IN, v);
	}
	for (int i = 0; i < CTRL_PAGERS; i++)
		if (c->pager[i].state != PGS_FREE &&
		    c->pager[i].proc.out_fd != -1 && pl->n < MAX_POLL) {
			watch(pl, c->pager[i].proc.out_fd, POLLIN, FD_PAGER_OUT,
			    NULL);
			pl->pager[pl->n - 1] = &c->pager[i];
		}
}

/* Each handler looks at its VM or child as it is now: an earlier one in
 * the same turn may have reaped it. */
static void
serve(struct ctrl *c, enum fd_role role, struct vm_slot *v,
    struct pager_job *pg, int sig_fd, struct input *in)
{
	switch (role) {
	case FD_SIGNAL:		on_signal(c, sig_fd, in); break;
	case FD_INBOX:		ctrl_http_take_inbox(c); break;
	case FD_INPUT:		input_read(c, in); break;
	case FD_LOG:		ctrl_log_flush(c); break;
	case FD_OUTPUT:		ctrl_sink_flush(&c->out); break;
	case FD_BUILDER_OUT:	ctrl_snap_build_output(c); break;
	case FD_BUILDER_ERR:	ctrl_snap_build_console(c); break;
	case FD_VM_OUT:		ctrl_pool_runner_output(c, v); break;
	case FD_VM_IN:		ctrl_pool_runner_input(c, v); break;
	case FD_VM_ERR:		ctrl_pool_runner_console(c, v); break;
	case FD_PAGER_OUT:	ctrl_pager_output(c, pg); break;
	}
}

/* One turn: wait for something, then serve it. */
static void
ctrl_turn(struct ctrl *c, int sig_fd, struct input *in)
{
	struct poller pl = { .n = 0 };

	watch_all(c, &pl, sig_fd, in);
	if (poll(pl.p, (nfds_t)pl.n, poll_timeout(in)) == -1 && errno != EINTR)
		log_warn("poll");
	for (int i = 0; i < pl.n; i++)
		if (pl.p[i].revents)
			serve(c, pl.role[i], pl.vm[i], pl.pager[i], sig_fd, in);
	input_take(c, in);
	ctrl_request_expire(c);
	ctrl_async_expire(c);
	ctrl_pool_dispatch(c);
	ctrl_pool_timers(c);
	ctrl_pager_timers(c);
	ctrl_snap_build_next(c);
	ctrl_store_next(c);
	ctrl_notify_watchdog(c);
}

/* Work is over when no more requests can come and none is left. */
static bool
ctrl_done(const struct ctrl *c, const struct input *in)
{
	bool lines = in->fd != -1;	/* --requests: done at its end */
	bool open_input = (lines && (!in->eof || in->len > 0)) ||
	    in->held != NULL ||
	    (!lines && c->nhttpd > 0 && !c->draining);

	return !open_input && c->queue == NULL &&
	    ctrl_state_vm_count(c, -1, VMS_BUSY) == 0;
}

static bool
all_stopped(const struct ctrl *c)
{
	for (int i = 0; i < CTRL_MAX_VMS; i++)
		if (c->vm[i].state != VMS_FREE)
			return false;
	return c->builder.pid <= 0 && ctrl_store_idle(c) &&
	    ctrl_pager_idle(c) &&
	    !ctrl_sink_pending(&c->out);
}

int
ctrl_loop_run(struct ctrl *c, int in_fd)
{
	struct input in = { .fd = in_fd, .t0 = mono_ms() };
	sigset_t old;
	int sig_fd;

	c->journal = ctrl_log_journal(c->log_fd);
	ctrl_sink_ensure(c);
	/* Before anything looks at ctrl's own layers, and with the log's
	 * journal prefixes settled. */
	ctrl_cpu_start(c);
	ctrl_snap_drop_outdated(c);
	ctrl_pager_start(c);
	c->start_s = (uint64_t)time(NULL);
	c->vm_budget_mib = c->conf.budget_mib - ctrlconf_http_mib(&c->conf);
	sig_fd = signals_open(&old);
	c->queue_tail = &c->queue;
	c->builder_fn = -2;
	c->ws_fn = -1;
	pthread_mutex_init(&c->inbox_lock, NULL);
	c->inbox_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sig_fd == -1 || c->inbox_fd == -1 || ctrl_jail_start(c) == -1 ||
	    ctrl_net_start(c) == -1 ||
	    ctrl_http_start(c) == -1) {
		ctrl_http_stop(c);
		ctrl_sink_close(&c->log, LOG_WAIT_MS);
		ctrl_sink_close(&c->out, 0);
		return -1;
	}
	if (in_fd != -1)
		fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
	ctrl_cache_trim(c);
	ctrl_notify_ready(c);
	while (!ctrl_done(c, &in))
		ctrl_turn(c, sig_fd, &in);
	ctrl_notify_stopping(c);
	c->draining = true;
	/* queue and VMs idle: exchanges are answered */
	ctrl_http_stop(c);
	/* A build stops; adding a working set, which is short, ends. */
	if (c->builder.pid > 0 && c->ws_fn == -1)
		kill(c->builder.pid, SIGTERM);
	ctrl_store_drain(c);
	ctrl_pager_drain(c);
	ctrl_pool_stop_all(c);
	while (!all_stopped(c))
		ctrl_turn(c, sig_fd, &in);
	ctrl_log(c, "stopped", 0, "\"used_mib\":%ju,\"queued\":%ju,"
	    "\"evictions\":%ju,\"fetched\":%ju,\"uploaded\":%ju,"
	    "\"layers_evicted\":%ju,\"lazy_restores\":%ju",
	    (uintmax_t)c->used_mib, (uintmax_t)c->queued,
	    (uintmax_t)c->evictions, (uintmax_t)c->fetched[STORE_OK],
	    (uintmax_t)c->uploaded[0], (uintmax_t)c->layers_evicted,
	    (uintmax_t)c->lazy[PGO_OK]);
	ctrl_async_free_all(c);
	close(sig_fd);
	close(c->inbox_fd);
	free(in.buf);
	ctrl_sink_close(&c->out, 0);
	ctrl_sink_close(&c->log, LOG_WAIT_MS);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}
