/*
 * The pool: one runner process per VM.  A request goes to an idle VM of
 * its function (warm); else a new VM is started for it (restored from the
 * function's snapshot, or cold-booted while there is none) if the
 * function's concurrency and the memory budget allow, evicting idle VMs
 * of other functions, least recently used first; else it waits in the
 * queue until its deadline.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"
#include "snapmeta.h"

#define GRACE_MS	5000	/* beyond a request's timeout, for the runner */
/* A new VM answers its first request only once its runtime is up: the
 * runner enforces the request's timeout from then on, and ctrl's own
 * deadline, a backstop against runners that hang, allows for start-up. */
#define RESTORE_MS	60000
#define COLD_BOOT_MS	900000

static void
send_request(struct ctrl *c, struct vm_slot *v, struct request *r)
{
	json_object *o = json_object_new_object();
	const char *s;
	char *line;
	size_t n;

	json_object_object_add(o, "id", json_object_new_int64((int64_t)r->seq));
	json_object_object_add(o, "payload", json_tokener_parse(r->payload));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(s);
	v->req = r;
	v->deadline_ms = mono_ms() + c->conf.fn[r->fn].timeout_ms + GRACE_MS +
	    (v->served > 0 ? 0 : v->cold_boot ? COLD_BOOT_MS : RESTORE_MS);
	v->state = VMS_BUSY;
	/* What the pipe does not take now waits for POLLOUT: a runner reads
	 * only once its guest is up, or never. */
	if ((line = malloc(n + 1)) != NULL) {
		memcpy(line, s, n);
		line[n] = '\n';
	}
	if (line == NULL || runproc_send(&v->proc, line, n + 1) == -1)
		ctrl_log(c, "runner_write_failed", r->seq, "\"pid\":%d",
		    (int)v->proc.pid);
	free(line);
	json_object_put(o);
}

/* The runner's command line for a function. */
struct runner_args {
	char *argv[32];
	int argc;
	int pager;			/* a lazy restore's pager, or -1 */
	char layers[CTRL_MAX_LAYERS * CTRL_PATH];
	char timeout[24], mem[24], vcpus[24];
	bool cold;
	struct net_args net;
	struct ctrl_jail_args jail;
};

/* With pager (a job of ctrl_pager.c, else -1), a lazy restore from the
 * layers it serves. */
static void
runner_argv(struct ctrl *c, int fn, struct runner_args *a, int pager)
{
	const struct fn_conf *f = &c->conf.fn[fn];
	char **argv = a->argv;
	int i = 0;

	snprintf(a->timeout, sizeof(a->timeout), "%ju",
	    (uintmax_t)f->timeout_ms);
	snprintf(a->mem, sizeof(a->mem), "%ju", (uintmax_t)f->memory_mib);
	snprintf(a->vcpus, sizeof(a->vcpus), "%d", f->vcpus);
	a->pager = pager;
	if (pager >= 0)
		snprintf(a->layers, sizeof(a->layers), "%s",
		    c->pager[pager].load);
	a->cold = !f->snapshots || (pager < 0 &&
	    !ctrl_state_load_dirs(c, fn, a->layers, sizeof(a->layers)));
	if (a->cold) {
		argv[i++] = c->conf.vmrun;
		argv[i++] = "--kernel";
		argv[i++] = c->conf.kernel;
		argv[i++] = "--rootfs";
		argv[i++] = c->conf.rootfs;
		argv[i++] = "--mem";
		argv[i++] = a->mem;
		argv[i++] = "--vcpus";
		argv[i++] = a->vcpus;
	} else {
		argv[i++] = c->conf.snaprestore;
		argv[i++] = "--load-dir";
		argv[i++] = a->layers;
		argv[i++] = "--rootfs";		/* a layer names no file */
		argv[i++] = c->conf.rootfs;
		if (pager >= 0) {
			argv[i++] = "--page-server";
			argv[i++] = c->pager[pager].sock;
		}
	}
	argv[i++] = "--appfs";
	argv[i++] = (char *)f->appfs;
	argv[i++] = "--timeout";
	argv[i++] = a->timeout;
	ctrl_cpu_argv(c, argv, &i);
	a->argc = i;
}

/* Which VMs have a network device: those of a function with network,
 * and every restore from ctrl's own layers, which the builder makes with
 * one (ctrl_net.c). */
static bool
needs_tap(const struct ctrl *c, int fn, const struct runner_args *a)
{
	const struct fn_conf *f = &c->conf.fn[fn];

	return c->conf.network && (f->network || (!a->cold && f->nlayers == 0));
}

/* A restored VM has its snapshot's memory, whatever the function says. */
static uint64_t
vm_mib(const struct ctrl *c, int fn, const struct runner_args *a)
{
	const char *last = strrchr(a->layers, ',');
	struct snap_meta m;

	if (a->cold || snapmeta_read(last ? last + 1 : a->layers, &m) == -1)
		return c->conf.fn[fn].memory_mib;
	return m.mem_mib;
}

static struct vm_slot *
start_vm(struct ctrl *c, int fn, struct runner_args *a, bool *broken)
{
	struct vm_slot *v = NULL;
	char path[CTRL_PATH + 16], err[128];
	char *const *argv;
	const char *ws;

	/* A slot whose jail a killed keeper left (its runner still dying,
	 * its cgroup not yet empty) waits; the next free one serves. */
	for (int i = 0; i < CTRL_MAX_VMS && v == NULL; i++)
		if (c->vm[i].state == VMS_FREE &&
		    ctrl_jail_release(c, i, 1) == 0)
			v = &c->vm[i];
	if (v == NULL)
		return NULL;
	/* A lazy restore records no working set (snaprestore(1)). */
	if ((ws = ctrl_ws_arm(c, fn, (int)(v - c->vm), !a->cold &&
	    a->pager < 0)) != NULL) {
		a->argv[a->argc++] = "--record-workset";
		a->argv[a->argc++] = (char *)ws;
		a->argv[a->argc] = NULL;
	}
	if (needs_tap(c, fn, a)) {
		if (ctrl_net_attach(c, (int)(v - c->vm), c->conf.fn[fn].network,
		    &a->net, a->argv, &a->argc) == -1) {
			*broken = true;
			return NULL;
		}
		v->tap = true;
	}
	argv = ctrl_jail_argv(c, (int)(v - c->vm), vm_mib(c, fn, a),
	    c->conf.fn[fn].vcpus, v->tap, a->argv, &a->jail);
	if (argv != NULL && a->pager >= 0 &&
	    ctrl_pager_prepare(c, a->pager, (int)(v - c->vm)) == -1)
		argv = NULL;
	if (argv == NULL ||
	    runproc_spawn(&v->proc, argv, RUNPROC_PIPE) == -1) {
		ctrl_log(c, "runner_spawn_failed", 0, "\"runner\":%s,"
		    "\"error\":%s", ctrl_log_jstr(path, sizeof(path),
		    argv ? argv[0] : a->argv[0]),
		    ctrl_log_jstr(err, sizeof(err), strerror(errno)));
		if (v->tap)
			ctrl_net_detach(c, (int)(v - c->vm));
		v->tap = false;
		*broken = true;
		return NULL;
	}
	v->fn = fn;
	v->lazy = a->pager >= 0;
	if (v->lazy)
		ctrl_pager_bound(c, a->pager, (int)(v - c->vm));
	ctrl_console_open(c, &v->con, v->proc.pid, c->conf.fn[fn].name);
	v->con_shown = false;
	v->cold_boot = a->cold;
	if (!a->cold && c->conf.fn[fn].nlayers == 0)
		ctrl_cache_touch(c, fn);
	v->mem_mib = v->guest_mib = vm_mib(c, fn, a);
	v->started_ms = v->last_used_ms = mono_ms();
	v->served = 0;
	v->state = VMS_IDLE;
	c->used_mib += v->mem_mib;
	ctrl_log(c, "vm_started", 0, "\"function\":\"%s\",\"pid\":%d,"
	    "\"restore\":%s,\"lazy\":%s", c->conf.fn[fn].name,
	    (int)v->proc.pid, a->cold ? "false" : "true",
	    v->lazy ? "true" : "false");
	return v;
}

/* Asks a runner to finish: its stdin closes, it stops its VM and exits;
 * the memory is counted until it is reaped. */
static void
retire(struct ctrl *c, struct vm_slot *v, const char *why)
{
	ctrl_log(c, "vm_retired", 0, "\"pid\":%d,\"why\":\"%s\"",
	    (int)v->proc.pid, why);
	runproc_close_input(&v->proc);
	v->state = VMS_STOPPING;
	v->deadline_ms = mono_ms() + GRACE_MS;
}

/* With cgroups, a VM is charged what the kernel counts for it
 * (memory.current: its guest's pages, its runner's own memory, the page
 * cache of its files) when that is more than its guest's memory, so that
 * the budget holds what the host really gives. */
static void
charge_vms(struct ctrl *c)
{
	for (int i = 0; i < CTRL_MAX_VMS; i++) {
		struct vm_slot *v = &c->vm[i];
		uint64_t now, mib;

		if (v->state == VMS_FREE)
			continue;
		now = ctrl_jail_memory_current(c, i);
		mib = (now + (1 << 20) - 1) >> 20;
		if (mib < v->guest_mib)
			mib = v->guest_mib;
		c->used_mib = c->used_mib - v->mem_mib + mib;
		v->mem_mib = mib;
	}
}

/* Frees memory for need MiB by retiring idle VMs, least recent first. */
static bool
make_room(struct ctrl *c, uint64_t need)
{
	uint64_t idle = 0, stopping = 0;

	charge_vms(c);
	for (int i = 0; i < CTRL_MAX_VMS; i++) {
		idle += c->vm[i].state == VMS_IDLE ? c->vm[i].mem_mib : 0;
		stopping += c->vm[i].state == VMS_STOPPING ?
		    c->vm[i].mem_mib : 0;
	}
	if (c->used_mib - stopping - idle + need > c->vm_budget_mib)
		return false;	/* even evicting every idle VM is not enough */
	while (c->used_mib - stopping + need > c->vm_budget_mib) {
		struct vm_slot *lru = NULL;

		for (int i = 0; i < CTRL_MAX_VMS; i++)
			if (c->vm[i].state == VMS_IDLE && (lru == NULL ||
			    c->vm[i].last_used_ms < lru->last_used_ms))
				lru = &c->vm[i];
		stopping += lru->mem_mib;
		c->evictions++;
		retire(c, lru, "evicted");
	}
	/* Room is there once the retired runners are reaped. */
	return c->used_mib + need <= c->vm_budget_mib;
}

static struct vm_slot *
idle_vm(struct ctrl *c, int fn)
{
	struct vm_slot *best = NULL;

	for (int i = 0; i < CTRL_MAX_VMS; i++)
		if (c->vm[i].state == VMS_IDLE && c->vm[i].fn == fn &&
		    !c->vm[i].stale &&
		    (best == NULL ||
		    c->vm[i].last_used_ms > best->last_used_ms))
			best = &c->vm[i];
	return best;
}

/* Where r can run now: a warm VM, a new one, or nowhere yet (NULL);
 * *broken when a runner cannot even be started, which waiting won't mend. */
static struct vm_slot *
place(struct ctrl *c, struct request *r, bool *broken)
{
	const struct fn_conf *f = &c->conf.fn[r->fn];
	struct vm_slot *v = idle_vm(c, r->fn);
	struct runner_args a;

	*broken = false;
	if (v != NULL)
		return v;
	if (ctrl_state_vm_count(c, r->fn, VMS_BUSY) >= f->concurrency)
		return NULL;
	runner_argv(c, r->fn, &a, -1);
	/* Layers missing: restored lazily from the store, or better waited
	 * for than booted cold. */
	if (a.cold && f->snapshots) {
		int job = -1;

		switch (ctrl_pager_place(c, r->fn, &job)) {
		case PAGER_WAIT:
			return NULL;
		case PAGER_RUN:
			runner_argv(c, r->fn, &a, job);
			break;
		case PAGER_NONE:
			if (ctrl_store_fetch(c, r->fn) ||
			    ctrl_snap_diff_coming(c, r->fn))
				return NULL;
		}
	}
	if (!make_room(c, vm_mib(c, r->fn, &a)))
		return NULL;
	if ((v = start_vm(c, r->fn, &a, broken)) != NULL)
		r->cold = true;
	return v;
}

int
ctrl_pool_dispatch(struct ctrl *c)
{
	int sent = 0;

	for (struct request **pp = &c->queue; *pp != NULL; ) {
		struct request *r = *pp;
		bool broken = false;
		struct vm_slot *v = r->fn < 0 ? NULL : place(c, r, &broken);

		if (r->fn < 0 || broken) {
			*pp = r->next;
			c->queued--;
			if (broken)
				ctrl_request_fail(c, r, OUT_RUNNER_FAILED,
				    "RunnerFailed", "the runner could not be "
				    "started; ctrl's log says why");
			else
				ctrl_request_fail(c, r, OUT_NOT_FOUND,
				    "NotFound", "the function was removed");
			continue;
		}
		if (v == NULL) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		c->queued--;
		send_request(c, v, r);
		sent++;
	}
	c->queue_tail = &c->queue;
	while (*c->queue_tail != NULL)
		c->queue_tail = &(*c->queue_tail)->next;
	return sent;
}

/* The failure event of a runner, with the last of its console. */
static void
log_failure(struct ctrl *c, struct vm_slot *v, const char *event,
    uint64_t seq, const char *extra)
{
	size_t len;
	char *tail = ctrl_console_tail(&v->con, &len);

	ctrl_console_report(c, &v->con, true);
	ctrl_log_text(c, event, seq, tail ? "console" : NULL, tail, len, "%s",
	    extra);
	v->con_shown = true;
	free(tail);
}

/*
 * The request in flight on a runner that died or broke its contract.  It
 * may have run, wholly or in part: it fails, unless its function is
 * declared idempotent, when it goes back to the head of the queue to run
 * on another VM, once (ctrl(1), Delivery).
 */
static void
lost_request(struct ctrl *c, struct vm_slot *v, const char *why)
{
	struct request *r = v->req;
	char reason[200];

	v->req = NULL;
	if (r->fn >= 0 && r->fn < c->conf.nfuncs &&
	    c->conf.fn[r->fn].idempotent && !r->retried) {
		r->retried = true;
		r->cold = false;
		c->stats[r->fn].retries++;
		ctrl_log(c, "request_retried", r->seq, "\"function\":\"%s\","
		    "\"why\":%s", r->fn_name, ctrl_log_jstr(reason,
		    sizeof(reason), why));
		ctrl_request_requeue(c, r);
		return;
	}
	ctrl_request_fail(c, r, OUT_RUNNER_FAILED, "RunnerFailed", why);
}

/* A runner that broke its contract: killed, its request failed. */
static void
runner_failed(struct ctrl *c, struct vm_slot *v, const char *why)
{
	char extra[400], jw[360];

	snprintf(extra, sizeof(extra), "\"pid\":%d,\"why\":%s",
	    (int)v->proc.pid, ctrl_log_jstr(jw, sizeof(jw), why));
	log_failure(c, v, "runner_failed", v->req ? v->req->seq : 0, extra);
	runproc_kill(&v->proc);
	runproc_close_input(&v->proc);
	if (v->req != NULL)
		lost_request(c, v, why);
	v->state = VMS_STOPPING;
	v->deadline_ms = mono_ms() + GRACE_MS;
}

/* A runner stops its VM after a request times out (vmrun(1), --timeout). */
static bool
is_timeout(json_object *o)
{
	json_object *e, *t;

	return json_object_object_get_ex(o, "error", &e) &&
	    json_object_object_get_ex(e, "type", &t) &&
	    json_object_is_type(t, json_type_string) &&
	    strcmp(json_object_get_string(t), "Timeout") == 0;
}

static bool
queued_for(const struct ctrl *c, int fn)
{
	for (const struct request *r = c->queue; r != NULL; r = r->next)
		if (r->fn == fn)
			return true;
	return false;
}

/* A response as snapvm-protocol(5) has it: a status, and a response
 * for "ok" or an error with a type and a message for "error". */
static bool
well_formed(json_object *o)
{
	json_object *st, *e, *t, *m;
	const char *s;

	if (!json_object_object_get_ex(o, "status", &st) ||
	    !json_object_is_type(st, json_type_string))
		return false;
	s = json_object_get_string(st);
	if (strcmp(s, "ok") == 0)
		return json_object_object_get_ex(o, "response", NULL);
	return strcmp(s, "error") == 0 &&
	    json_object_object_get_ex(o, "error", &e) &&
	    json_object_object_get_ex(e, "type", &t) &&
	    json_object_is_type(t, json_type_string) &&
	    json_object_object_get_ex(e, "message", &m) &&
	    json_object_is_type(m, json_type_string);
}

/* The id ctrl gave the request, as an integer: nothing else matches. */
static bool
answers(json_object *o, const struct request *r)
{
	json_object *id;

	return r != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "id", &id) &&
	    json_object_is_type(id, json_type_int) &&
	    json_object_get_int64(id) > 0 &&
	    (uint64_t)json_object_get_int64(id) == r->seq;
}

/* A runner's line as JSON: one text, in UTF-8 (RFC 8259), as a guest's
 * other bytes would reach HTTP clients and the readers of response
 * lines, whose parsers may stop at them. */
static json_object *
runner_json(const char *line)
{
	struct json_tokener *tok = json_tokener_new();
	size_t len = strlen(line), end;
	json_object *o;

	if (tok == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    end > len || strspn(line + end, " \t\r") != len - end) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static void
runner_line(struct ctrl *c, struct vm_slot *v, char *line)
{
	json_object *o;
	bool dying;

	if (v->state == VMS_STOPPING)
		return;
	o = runner_json(line);
	if (o == NULL || !answers(o, v->req)) {
		json_object_put(o);
		runner_failed(c, v, "the runner wrote a line that answers no "
		    "request");
		return;
	}
	if (!well_formed(o)) {
		json_object_put(o);
		runner_failed(c, v, "the runner wrote a malformed response");
		return;
	}
	dying = is_timeout(o);
	json_object_put(o);
	ctrl_request_finish(c, v->req, OUT_OK, line);
	v->req = NULL;
	v->served++;
	ctrl_ws_answered(c, v);
	v->last_used_ms = mono_ms();
	v->state = VMS_IDLE;
	/* Draining, a VM still serves the requests queued for its function. */
	if (dying || v->stale || (c->draining && !queued_for(c, v->fn)))
		retire(c, v, dying ? "timed out" : v->stale ?
		    "function changed" : "draining");
}

void
ctrl_pool_runner_output(struct ctrl *c, struct vm_slot *v)
{
	char *line;
	int rc = 0, eof;

	if (v->state == VMS_FREE)
		return;
	eof = runproc_read(&v->proc);
	while (v->state != VMS_STOPPING &&
	    (rc = runproc_line(&v->proc, &line)) == 1) {
		runner_line(c, v, line);
		free(line);
	}
	if (v->state == VMS_STOPPING)
		v->proc.len = 0;	/* nothing it says counts any more */
	else if (rc == -1)
		runner_failed(c, v, "the runner wrote an overlong line");
	else if (v->state == VMS_IDLE && v->proc.len > 0)
		runner_failed(c, v, "the runner wrote a line that answers no "
		    "request");		/* not kept until it is 8 MiB long */
	if (eof == -1 && v->proc.out_fd != -1) {
		close(v->proc.out_fd);
		v->proc.out_fd = -1;
	}
}

void
ctrl_pool_runner_input(struct ctrl *c, struct vm_slot *v)
{
	if (v->state != VMS_FREE && runproc_flush(&v->proc) == -1)
		ctrl_log(c, "runner_write_failed", v->req ? v->req->seq : 0,
		    "\"pid\":%d", (int)v->proc.pid);
}

void
ctrl_pool_runner_console(struct ctrl *c, struct vm_slot *v)
{
	if (v->state != VMS_FREE)
		ctrl_console_read(c, &v->con, &v->proc);
}

static struct vm_slot *
slot_of(struct ctrl *c, pid_t pid)
{
	for (int i = 0; i < CTRL_MAX_VMS; i++)
		if (c->vm[i].state != VMS_FREE && c->vm[i].proc.pid == pid)
			return &c->vm[i];
	return NULL;
}

/* A system call its seccomp filter forbids: the kernel killed the runner
 * (vmjail ends by the runner's signal too).  Its own event and count, for
 * it means a guest may have taken over its runner, or a filter misses a
 * call the runner needs. */
static void
seccomp_killed(struct ctrl *c, struct vm_slot *v, char *why, size_t n)
{
	const char *fn = v->fn >= 0 ? c->conf.fn[v->fn].name : "";
	char jf[160];

	if (v->fn >= 0)
		c->stats[v->fn].seccomp_kills++;
	ctrl_log(c, "runner_seccomp_killed", v->req ? v->req->seq : 0,
	    "\"function\":%s,\"pid\":%d", ctrl_log_jstr(jf, sizeof(jf), fn),
	    (int)v->proc.pid);
	snprintf(why, n, "the runner made a system call its seccomp filter "
	    "forbids (SIGSYS)");
}

/* The kernel's OOM killer ended the runner: its VM went past its cgroup's
 * memory.max (the kill is SIGKILL; ctrl's own are not counted there).
 * The count is the parent's, since a VM's cgroup is gone by now: each
 * runner killed so takes one kill the count has that ctrl has not yet
 * attributed. */
static bool
oom_killed(struct ctrl *c, struct vm_slot *v, char *why, size_t n)
{
	const char *fn = v->fn >= 0 ? c->conf.fn[v->fn].name : "";
	uint64_t kills = ctrl_jail_oom_kills(c);
	char jf[160];

	if (kills <= c->oom_seen)
		return false;
	c->oom_seen++;
	if (v->fn >= 0)
		c->stats[v->fn].oom_kills++;
	ctrl_log(c, "runner_oom_killed", v->req ? v->req->seq : 0,
	    "\"function\":%s,\"pid\":%d,\"memory_max_mib\":%ju",
	    ctrl_log_jstr(jf, sizeof(jf), fn), (int)v->proc.pid,
	    (uintmax_t)(v->guest_mib + c->conf.jail_overhead_mib));
	snprintf(why, n, "the VM went past its memory limit (memory.max) and "
	    "the kernel killed its runner");
	return true;
}

static void
reaped(struct ctrl *c, struct vm_slot *v, int status)
{
	char why[160], extra[96];
	int code = runproc_exit_code(status);
	bool failed = code != 0 || v->req != NULL;

	ctrl_pool_runner_output(c, v);	/* a last answer may still be there */
	for (int i = 0; i < 8 && ctrl_console_read(c, &v->con, &v->proc) > 0;
	    i++)
		;			/* and its last words */
	snprintf(why, sizeof(why), "the runner %s %d during the request",
	    WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	/* A lazily restored runner ends with its page server's status
	 * when that fails: what the status means, then. */
	if (v->lazy && WIFEXITED(status) && code >= 64 && code <= 78)
		snprintf(why, sizeof(why), "the runner exited with status %d "
		    "during the request (lazy restore: %s)", code,
		    ctrl_store_why(code));
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		seccomp_killed(c, v, why, sizeof(why));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		oom_killed(c, v, why, sizeof(why));
	if (v->req != NULL)
		lost_request(c, v, why);
	snprintf(extra, sizeof(extra), "\"pid\":%d,\"status\":%d,"
	    "\"served\":%u", (int)v->proc.pid, code, v->served);
	if (failed && !v->con_shown)
		log_failure(c, v, "vm_exited", 0, extra);
	else
		ctrl_log(c, "vm_exited", 0, "%s", extra);
	ctrl_console_close(c, &v->con);
	runproc_release(&v->proc);
	ctrl_ws_vm_gone(c, v);
	if (v->lazy)
		ctrl_pager_vm_gone(c, (int)(v - c->vm));
	c->used_mib -= v->mem_mib;
	if (v->tap)
		ctrl_net_detach(c, (int)(v - c->vm));	/* however it ended */
	/* The keeper's, if it was killed. */
	ctrl_jail_release(c, (int)(v - c->vm), 1);
	memset(v, 0, sizeof(*v));
	v->proc.in_fd = v->proc.out_fd = v->proc.err_fd = -1;
}

void
ctrl_pool_reap(struct ctrl *c)
{
	struct vm_slot *v;
	char why[160];
	pid_t pid;
	int status, slot;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((v = slot_of(c, pid)) != NULL) {
			reaped(c, v, status);
			ctrl_cache_trim(c);	/* its layers may be free now */
		}
		else if (pid == c->builder.pid)
			ctrl_snap_build_done(c, status);
		else if (ctrl_pager_reaped(c, pid, status, &slot, why,
		    sizeof(why))) {
			/* Its guest must not run on: no more pages come. */
			if (slot >= 0 && c->vm[slot].state != VMS_FREE &&
			    c->vm[slot].state != VMS_STOPPING)
				runner_failed(c, &c->vm[slot], why);
		}
		else
			ctrl_store_reaped(c, pid, status);
	}
}

void
ctrl_pool_timers(struct ctrl *c)
{
	uint64_t now = mono_ms();

	for (int i = 0; i < CTRL_MAX_VMS; i++) {
		struct vm_slot *v = &c->vm[i];

		if (v->state != VMS_FREE)
			ctrl_console_report(c, &v->con, false);
		if (v->state == VMS_BUSY && now > v->deadline_ms)
			runner_failed(c, v, "the runner did not answer "
			    "within the function's timeout");
		else if (v->state == VMS_STOPPING && now > v->deadline_ms)
			runproc_kill(&v->proc);
		else if (v->state == VMS_IDLE && (v->stale ||
		    now - v->last_used_ms > c->conf.idle_timeout_ms))
			retire(c, v, v->stale ? "function changed" : "idle");
	}
}

void
ctrl_pool_stop_all(struct ctrl *c)
{
	for (int i = 0; i < CTRL_MAX_VMS; i++)
		if (c->vm[i].state == VMS_IDLE)
			retire(c, &c->vm[i], "shutdown");
}
