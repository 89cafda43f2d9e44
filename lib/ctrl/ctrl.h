/*
 * ctrl, the dispatcher (ctrl(1)): a pool of runner processes per
 * function, each one VM, fed one request at a time over its pipes; a
 * memory budget over all of them; requests from JSON lines or HTTP.
 * Everything but the HTTP server's own threads runs on one thread, in
 * ctrl_loop_run()'s poll loop, so pool and accounting need no locks.
 *
 * Each file calls only files later in this list, never one before it:
 * ctrl_loop, ctrl_notify; ctrl_pool; ctrl_pager, ctrl_snap; ctrl_store,
 * ctrl_http;
 * ctrl_async; ctrl_cache, ctrl_request, ctrl_console, ctrl_net,
 * ctrl_jail, ctrl_cpu; ctrl_metrics, ctrl_log; ctrl_prom, ctrl_sink, ctrl_state,
 * ctrl_hold.  What has to go the other way is a callback: a request's
 * answer reaches the HTTP gateway, or a kept result, through r->respond.
 */
#ifndef SNAPVM_CTRL_H
#define SNAPVM_CTRL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "ctrlconf.h"
#include "runproc.h"

/* A payload: the runner's 4 MiB request limit (vmrun(1), --max-request)
 * less the room of the line ctrl wraps it in. */
#define CTRL_MAX_PAYLOAD	((4U << 20) - 64)
#define CTRL_MAX_PAYLOAD_TEXT	"4 MiB - 64 bytes"
/* A request line: a payload and room around it. */
#define CTRL_MAX_LINE		((4U << 20) + 65536)
#define CTRL_MAX_LINE_TEXT	"4 MiB + 64 KiB"

enum vm_state { VMS_FREE, VMS_BUSY, VMS_IDLE, VMS_STOPPING };

/* A descriptor ctrl writes without blocking (ctrl_sink.c). */
#define CTRL_LOG_LIMIT	(1U << 20)	/* log lines waiting for its reader */
#define CTRL_OUT_LIMIT	(1U << 20)	/* response lines waiting: past this,
					 * no more request lines are taken */
struct sink {
	bool open;
	int fd;
	bool own;			/* a description of ctrl's own, to close */
	bool sock;			/* written with send(MSG_DONTWAIT) */
	bool broken;			/* the reader is gone: all is dropped */
	bool lossy;			/* full: drop lines (the log) */
	char *buf;			/* not written yet: buf[off..len) */
	size_t off, len, cap, limit;
	uint64_t dropped;		/* lines, since last reported */
};

/* A runner's standard error (ctrl_console.c). */
#define CONSOLE_LINE	512		/* longer lines are logged cut */
struct console {
	pid_t pid;
	char who[64];			/* its function, or the builder's */
	char *ring;			/* the last size bytes: ring[head] is
					 * the oldest once used == size */
	size_t size, head, used;
	char line[CONSOLE_LINE];	/* the line being read */
	size_t llen;
	bool skipping;			/* the rest of a line logged cut */
	uint64_t tokens;		/* lines it may log, in thousandths */
	uint64_t refilled_ms, reported_ms;
	uint64_t suppressed;		/* lines not logged, to report */
};
enum req_source { SRC_LINES, SRC_HTTP, SRC_ASYNC };

/* Outcomes, as counted in /metrics and mapped to HTTP statuses. */
enum outcome { OUT_OK, OUT_FUNCTION_ERROR, OUT_BAD_REQUEST, OUT_NOT_FOUND,
	OUT_OVER_CAPACITY, OUT_TIMEOUT, OUT_RUNNER_FAILED, OUT_SHUTDOWN,
	OUT_N };

struct ctrl;

struct request {
	uint64_t seq;			/* ctrl's own id, in the logs */
	json_object *id;		/* the caller's, or NULL */
	char client_id[129];		/* HTTP: its X-Request-Id, or "" */
	int fn;				/* index in conf.fn; -1: none */
	char fn_name[64];
	uint64_t at_ms;			/* replay: due this long after start */
	char *payload;			/* JSON text */
	uint64_t arrived_ms, deadline_ms;
	enum req_source src;
	/* An HTTP exchange's answer: the gateway (ctrl_http.c) sets this,
	 * and ctrl calls it once, on its main loop, with the HTTP status
	 * and the body; NULL: the answer is a response line. */
	void (*respond)(struct ctrl *c, struct request *r, int status,
	    const char *body);
	void *http;			/* the exchange waiting for it: the
					 * gateway's, opaque to the rest */
	bool cold;			/* served by a VM started for it */
	bool retried;			/* ran once on a runner that died */
	struct request *next;
};

/* An asynchronous invocation (ctrl_async.c): its request runs as any
 * other, and its answer waits here, in memory, for the client to fetch
 * it, until async_keep seconds after it came. */
#define CTRL_ASYNC_MAX	4096		/* kept at once, pending or done */
#define CTRL_ASYNC_ID	32		/* hex digits of its id */
struct async_inv {
	char id[CTRL_ASYNC_ID + 1];	/* random: whoever has it may fetch */
	char fn_name[64];
	char client_id[129];		/* the submission's X-Request-Id */
	bool done, cold;
	int status;			/* the answer's HTTP status */
	char *body;			/* the answer, once done */
	uint64_t held;			/* its bytes in c->http_bytes: the
					 * payload, then the answer */
	uint64_t arrived_ms, done_ms;
	struct async_inv *next;
};

struct vm_slot {
	enum vm_state state;
	bool tap;			/* its slot's tap exists */
	int fn;				/* -1: its function was removed */
	bool stale;			/* its function changed: retire when idle */
	bool cold_boot;			/* vmrun, not a restore */
	struct runproc proc;
	struct console con;
	bool con_shown;			/* a failure event showed it */
	struct request *req;		/* in flight */
	uint64_t mem_mib;
	uint64_t guest_mib;		/* its guest's memory; mem_mib is more
					 * when its cgroup counts more */
	uint64_t started_ms, last_used_ms, deadline_ms;
	unsigned served;
	bool lazy;			/* restored through page server pager */
	int pager;
	bool recording;			/* records a working set until its
					 * first answer (ctrl_workset.c) */
	char ws_path[CTRL_PATH + 16];	/* where it writes the page bitmap */
};

/* A function's working set, in this run of ctrl (ctrl_workset.c). */
enum ws_state { WS_NONE, WS_RECORDING, WS_TAKEN, WS_ADDING, WS_DONE };

enum store_result { STORE_OK, STORE_ABSENT, STORE_FAILED };

/* An s3snap child: a layer on its way from or to the store. */
#define CTRL_STORE_JOBS	4
struct store_job {
	pid_t pid;			/* 0: free */
	bool put;
	uint64_t started_ms;
	char dir[CTRL_PATH];
};

/* A page server (snappager(1)) of a lazy restore (ctrl_pager.c): it
 * fetches a function's missing layers from the store while the one VM
 * restored from them runs. */
#define CTRL_PAGERS	CTRL_MAX_FUNCS
enum pager_state {
	PGS_FREE,
	PGS_STARTING,			/* its load-dir line not read yet */
	PGS_READY,			/* listening: a VM may start on it */
	PGS_BOUND,			/* its VM's runner started */
	PGS_DETACHED,			/* that runner is gone: the transfer
					 * finishes, then the pager exits */
	PGS_STOPPING,			/* ctrl sent it SIGTERM */
};
/* How a lazy restore's page server ended, as /metrics counts it. */
enum pager_outcome { PGO_OK, PGO_NOT_IN_STORE, PGO_CORRUPT,
	PGO_UNREACHABLE, PGO_FAILED, PGO_STOPPED, PGO_N };
#define CTRL_PAGER_LAYERS	2	/* ctrl's own: the base and a diff */
struct pager_job {
	enum pager_state state;
	int fn;				/* -1: its function was removed */
	int slot;			/* PGS_BOUND: its VM's */
	struct runproc proc;		/* stdout: the load-dir line */
	char dir[CTRL_PAGER_LAYERS][CTRL_PATH];	/* bottom first */
	bool fetch[CTRL_PAGER_LAYERS];	/* from the store, into dir */
	bool arrived[CTRL_PAGER_LAYERS];	/* ...and dir is there now */
	char load[CTRL_PAGER_LAYERS * (CTRL_PATH + 64)];  /* its load-dir */
	char sock[CTRL_PATH + 32];	/* shorter than 108 (ctrl_pager_settle) */
	uint64_t started_ms, ready_ms;
	uint64_t term_ms;		/* SIGTERM sent; or its VM gone, or
					 * its last layer in */
	int end;			/* PGS_STOPPING: the outcome ctrl gave
					 * it (enum pager_outcome), or -1 */
};

struct fn_stats {
	uint64_t outcome[OUT_N];
	uint64_t lat_bucket[2][16];	/* [warm, cold]; see ctrl_metrics.c */
	uint64_t lat_count[2], lat_sum_us[2];
	uint64_t seccomp_kills;		/* runners killed by SIGSYS */
	uint64_t oom_kills;		/* runners killed past memory.max */
	uint64_t retries;		/* requests run again (idempotent) */
};

/* A runner's command line through vmjail(1) (ctrl_jail.c). */
#define CTRL_JAIL_ARGV	96
struct ctrl_jail_args {
	char *argv[CTRL_JAIL_ARGV];
	int argc;
	char id[16], uid[24], mem[24], pids[16], weight[16];
	char files[CTRL_MAX_LAYERS * CTRL_PATH + 4 * CTRL_PATH];
	size_t files_len;
	char cache[CTRL_PATH], cache_env[CTRL_PATH + 16];
};

struct ctrl {
	struct ctrl_conf conf;
	const char *conf_path;
	/* the guests' CPU, settled at start (ctrl_cpu.c): cpu_workarounds
	 * with auto resolved, and the directory of ctrl's own layers that
	 * the template and it name */
	char cpu_workarounds[16];
	char cpu_dir[CTRL_PATH];
	int log_fd;			/* the log, for s3snap and tapnet */
	bool journal;			/* log_fd is the journal's stream */
	struct sink log;		/* the log, for ctrl itself */
	struct sink out;		/* response lines */
	uint64_t used_mib;
	uint64_t vm_budget_mib;		/* what HTTP leaves of the budget */
	struct vm_slot vm[CTRL_MAX_VMS];
	struct request *queue, **queue_tail;
	uint64_t queued, seq;
	uint64_t evictions;
	uint64_t oom_seen;		/* ctrl_jail_oom_kills() last read */
	/* the snapshot store and cache, for /metrics */
	uint64_t fetched[3];		/* enum store_result */
	uint64_t uploaded[2];		/* ok, failed */
	uint64_t lazy[PGO_N];		/* page servers ended, by outcome */
	uint64_t layers_evicted;
	struct fn_stats stats[CTRL_MAX_FUNCS];
	uint64_t unknown_fn;		/* requests for no configured function */
	bool draining;			/* SIGTERM: finish, then stop */
	uint64_t start_s;		/* when ctrl started, since the epoch */
	/* the service manager (ctrl_notify.c) */
	uint64_t watchdog_ms, watchdog_due_ms;	/* 0: no watchdog */
	bool notified_stop;
	bool input_done;		/* the request lines ended */
	int out_fd;			/* response lines */
	/* snapshot builder: one child at a time */
	struct runproc builder;
	struct console builder_con;
	int builder_fn;			/* -1: the base */
	uint64_t builder_mib;
	uint64_t builder_started_ms;
	bool builder_tap;
	char builder_stage[CTRL_PATH];	/* jailed: where it writes, or "" */
	struct ctrl_jail_args builder_jail;
	bool snap_failed[CTRL_MAX_FUNCS + 1];	/* last: the base */
	/* working sets: the builder's child adds one for ws_fn, or -1 */
	uint8_t ws[CTRL_MAX_FUNCS];		/* enum ws_state */
	int ws_fn;
	char ws_layers[CTRL_MAX_LAYERS * CTRL_PATH];
	char ws_bitmap[CTRL_PATH + 16];
	/* snapshot store (ctrl_store.c) */
	struct store_job store_job[CTRL_STORE_JOBS];
	char absent[CTRL_MAX_FUNCS + 1][CTRL_PATH];	/* not to be had */
	int nabsent;
	char upload[CTRL_MAX_FUNCS + 1][CTRL_PATH];	/* to go up */
	int nupload;
	char store_base_id[65];		/* the base the store has, if known */
	/* lazy restores (ctrl_pager.c): whether they are possible here,
	 * settled at start, and why not */
	bool lazy_ok;
	char lazy_why[160];
	bool lazy_skip[CTRL_MAX_FUNCS];	/* a page server of it failed: its
					 * layers are downloaded until a
					 * reload */
	struct pager_job pager[CTRL_PAGERS];
	bool store_base_failed;		/* it could not be put there */
	/* HTTP: exchanges handed over from the server's threads */
	pthread_mutex_t inbox_lock;
	struct request *inbox;
	int inbox_fd;			/* eventfd */
	void *httpd[CTRL_MAX_LISTEN];
	int nhttpd;
	int http_open;			/* exchanges handed over and not yet
					 * sent: atomic, the server's threads
					 * count them down */
	/* HTTP limits (ctrl_http.c), shared with the server's threads:
	 * atomic */
	uint64_t http_conns;		/* connections open */
	uint64_t http_bytes;		/* bodies, payloads and answers held */
	uint64_t http_refused[2];	/* 503s: connections, buffer */
	/* asynchronous invocations (ctrl_async.c), newest first */
	struct async_inv *async;
	uint64_t async_n[2];		/* pending, done */
	uint64_t async_bytes;		/* of http_bytes, theirs */
};

/* ctrl_log.c: each event with its level (see there); errors, warnings
 * and notices always, the rest with -v. */
void ctrl_log(struct ctrl *c, const char *event, uint64_t seq,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* An event logged whatever the verbosity; with name, text[0..len) (any
 * bytes) as that member, a JSON string. */
void ctrl_log_text(struct ctrl *c, const char *event, uint64_t seq,
    const char *name, const char *text, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* On POLLOUT: writes what waits, and reports lines dropped meanwhile. */
void ctrl_log_flush(struct ctrl *c);
/* s as a JSON string, quotes included, for ctrl_log's %s: buf, cut short
 * (still valid JSON) if it does not fit. */
const char *ctrl_log_jstr(char *buf, size_t n, const char *s);
/* Whether fd is the journal's stream ($JOURNAL_STREAM): lines then get
 * journald's "<N>" priority prefix. */
bool ctrl_log_journal(int fd);

/* ctrl_sink.c: lossy, past limit bytes waiting, drops lines; else keeps
 * them all and is full. */
void ctrl_sink_open(struct sink *s, int fd, size_t limit, bool lossy);
bool ctrl_sink_put(struct sink *s, const char *p, size_t n);
int ctrl_sink_flush(struct sink *s);	/* 1 while bytes wait */
bool ctrl_sink_pending(const struct sink *s);
bool ctrl_sink_full(const struct sink *s);
/* Writes what waits, for at most wait_ms, then lets go of the fd. */
void ctrl_sink_close(struct sink *s, unsigned wait_ms);
/* c->log and c->out on c->log_fd and c->out_fd, unless they are open. */
void ctrl_sink_ensure(struct ctrl *c);

/* ctrl_console.c */
void ctrl_console_open(const struct ctrl *c, struct console *k, pid_t pid,
    const char *who);
/* Takes what p's stderr has now: 1 if there was something, 0 if not, -1
 * at its end. */
int ctrl_console_read(struct ctrl *c, struct console *k, struct runproc *p);
/* Logs the count of suppressed lines: at most once a second, or now. */
void ctrl_console_report(struct ctrl *c, struct console *k, bool now);
/* The ring's bytes, oldest first (malloc'd, NUL after them), or NULL. */
char *ctrl_console_tail(const struct console *k, size_t *len);
void ctrl_console_close(struct ctrl *c, struct console *k);
/* When p has ended: reads its last words (a few turns at most), then
 * closes k.  With want_tail, what the ring held as ctrl_console_tail
 * gives it (the caller frees it); else NULL and *len 0. */
char *ctrl_console_finish(struct ctrl *c, struct console *k, struct runproc *p,
    bool want_tail, size_t *len);

/* ctrl_pool.c */
int ctrl_pool_dispatch(struct ctrl *c);
void ctrl_pool_runner_output(struct ctrl *c, struct vm_slot *v);
void ctrl_pool_runner_input(struct ctrl *c, struct vm_slot *v);
void ctrl_pool_runner_console(struct ctrl *c, struct vm_slot *v);
void ctrl_pool_reap(struct ctrl *c);
void ctrl_pool_timers(struct ctrl *c);
void ctrl_pool_stop_all(struct ctrl *c);

/* ctrl_request.c */
struct request *ctrl_request_parse(struct ctrl *c, const char *line,
    char *why, size_t n, int *fn_missing);
void ctrl_request_enqueue(struct ctrl *c, struct request *r);
/* r, whose runner died under it, first in the queue again. */
void ctrl_request_requeue(struct ctrl *c, struct request *r);
/* What a request queued now would get at once (OUT_SHUTDOWN while ctrl
 * drains, OUT_OVER_CAPACITY with the queue full), or OUT_OK. */
enum outcome ctrl_request_refusal(const struct ctrl *c);
void ctrl_request_finish(struct ctrl *c, struct request *r, enum outcome o,
    const char *response_line);
void ctrl_request_fail(struct ctrl *c, struct request *r, enum outcome o,
    const char *type, const char *msg);
void ctrl_request_free(struct request *r);
void ctrl_request_expire(struct ctrl *c);

/* ctrl_cpu.c: cpu_workarounds auto resolved as vmrun's auto would be on
 * this host (a probe VM, cached per boot), and c->cpu_dir set. */
void ctrl_cpu_settle(struct ctrl *c);
/* At start, before anything looks at ctrl's own layers: settled once
 * (every runner and layer of this ctrl gets the same) and a "cpu" event
 * logged. */
void ctrl_cpu_start(struct ctrl *c);
/* Where a layer of ctrl's own is about to be written: snapshot_dir,
 * c->cpu_dir and its diff directory, made if missing (a failure shows
 * in what then writes there). */
void ctrl_cpu_mkdirs(const struct ctrl *c);
/* --cpu-template and --cpu-workarounds for a runner, at argv[*i] on:
 * booting, the guest gets this CPU; restoring, the layers must have it
 * (snaprestore refuses another template) and the emulation fallback
 * follows the workarounds.  argv stays NULL-terminated. */
void ctrl_cpu_argv(const struct ctrl *c, char **argv, int *i);

/* ctrl_state.c: questions on ctrl's state, which change nothing. */
/* ctrl's own layer of fn, in c->cpu_dir; fn -1: the base. */
void ctrl_state_own_layer(const struct ctrl *c, int fn, char *out, size_t n);
/* c->cpu_dir/diff, or diff-net for layers with a network device. */
void ctrl_state_diff_dir(const struct ctrl *c, char *out, size_t n);
bool ctrl_state_is_diff(const struct ctrl *c, const char *dir);
bool ctrl_state_layer_exists(const char *dir);
/* The --load-dir list of fn (comma-separated), if all its layers are in
 * place and none is a fetch still to be checked. */
bool ctrl_state_load_dirs(const struct ctrl *c, int fn, char *out, size_t n);
bool ctrl_state_has_store(const struct ctrl *c);
/* An s3snap child, fetch or upload, works on dir. */
bool ctrl_state_store_job(const struct ctrl *c, const char *dir);
/* A fetch of dir runs: its layer may be in place before the fetch is
 * reaped and checked against its base, so it is not used yet. */
bool ctrl_state_fetching(const struct ctrl *c, const char *dir);
/* A page server is bringing dir from the store (ctrl_pager.c), and it
 * is not in place yet. */
bool ctrl_state_pager_fetching(const struct ctrl *c, const char *dir);
/* A page server has dir among its layers, fetched or local. */
bool ctrl_state_pager_uses(const struct ctrl *c, const char *dir);
/* The store cannot give dir (or there is no store). */
bool ctrl_state_store_absent(const struct ctrl *c, const char *dir);
bool ctrl_state_upload_queued(const struct ctrl *c, const char *dir);
/* VMs in state st, of fn or (fn -1) of all functions. */
int ctrl_state_vm_count(const struct ctrl *c, int fn, enum vm_state st);

/* ctrl_snap.c */
/* At start-up, after ctrl_cpu_start: ctrl's own layers of an older
 * format are removed, and those at the places of before CPU directories
 * (snapshot_dir/python3, diff/NAME, ...), unless functions.yaml names
 * them. */
void ctrl_snap_drop_outdated(struct ctrl *c);
void ctrl_snap_build_next(struct ctrl *c);
void ctrl_snap_build_output(struct ctrl *c);
void ctrl_snap_build_console(struct ctrl *c);
void ctrl_snap_build_done(struct ctrl *c, int status);
bool ctrl_snap_diff_coming(const struct ctrl *c, int fn);

/* ctrl_store.c */
bool ctrl_store_fetch(struct ctrl *c, int fn);
/* STORE/LAYER, the store's name of one of ctrl's own layers. */
void ctrl_store_url(const struct ctrl *c, const char *dir, char *out,
    size_t n);
/* dir came from the store, ms after it was asked for: kept if it fits
 * the base here (else removed, as ctrl_store_misfit), logged, counted. */
void ctrl_store_fetched(struct ctrl *c, const char *dir, uint64_t ms);
/* dir, from the store, was made on another base: removed, not asked
 * for again, logged (snapshot_fetch_failed) and counted. */
void ctrl_store_misfit(struct ctrl *c, const char *dir);
/* What an s3snap or snappager exit status means. */
const char *ctrl_store_why(int code);
bool ctrl_store_reaped(struct ctrl *c, pid_t pid, int status);
void ctrl_store_upload(struct ctrl *c, const char *dir);

/* ctrl_pager.c: lazy restores, through page servers (snappager(1)) */
/* Whether lazy restores are possible here (c->lazy_ok, and why not in
 * c->lazy_why): at start, and for --check. */
void ctrl_pager_settle(struct ctrl *c);
/* At start, after ctrl_cpu_start: settled, and what page servers of an
 * earlier run left removed (temporary layers, sockets). */
void ctrl_pager_start(struct ctrl *c);
/* --check's line about the store and how layers missing here come. */
void ctrl_pager_describe(const struct ctrl *c, char *out, size_t n);
enum pager_place { PAGER_NONE, PAGER_WAIT, PAGER_RUN };
/* For a new VM of fn, whose layers are not all here: PAGER_RUN with *job
 * a page server ready for it (its socket and load-dir in c->pager[*job]);
 * PAGER_WAIT while one is on its way, started now if need be; PAGER_NONE
 * when the layers come as without lazy restores (downloaded, built or
 * not at all). */
enum pager_place ctrl_pager_place(struct ctrl *c, int fn, int *job);
/* Before slot's runner starts on job: its socket given to the runner's
 * uid when jailed.  -1 if that fails. */
int ctrl_pager_prepare(struct ctrl *c, int job, int slot);
/* slot's runner started on job. */
void ctrl_pager_bound(struct ctrl *c, int job, int slot);
/* slot's runner was reaped: its page server finishes its transfer, or,
 * when ctrl stops, is stopped. */
void ctrl_pager_vm_gone(struct ctrl *c, int slot);
/* Its stdout is readable: the load-dir line, checked. */
void ctrl_pager_output(struct ctrl *c, struct pager_job *p);
/* true if pid was a page server: its end logged and counted.  *slot is a
 * VM whose runner must end with why, as its page server failed, or -1. */
bool ctrl_pager_reaped(struct ctrl *c, pid_t pid, int status, int *slot,
    char *why, size_t n);
/* Each turn: layers put in place, deadlines. */
void ctrl_pager_timers(struct ctrl *c);
/* Draining: page servers no VM runs on are stopped. */
void ctrl_pager_drain(struct ctrl *c);
bool ctrl_pager_idle(const struct ctrl *c);
/* An enum pager_outcome's label in /metrics. */
const char *ctrl_pager_outcome_name(int o);

/* ctrl_workset.c: the working set of a function's own diff, recorded by
 * its first restore's first answer.  ctrl_ws_arm: for a VM about to start
 * in slot, the path to pass with --record-workset, or NULL if this one
 * records none; ctrl_ws_answered after its first answer; ctrl_ws_vm_gone
 * when it ends.  ctrl_ws_next starts snaprestore --add-workset in the
 * builder's place when a bitmap waits (true if it did); ctrl_ws_added
 * when that child ends. */
const char *ctrl_ws_arm(struct ctrl *c, int fn, int slot, bool restore);
void ctrl_ws_answered(struct ctrl *c, struct vm_slot *v);
void ctrl_ws_vm_gone(struct ctrl *c, struct vm_slot *v);
bool ctrl_ws_next(struct ctrl *c);
void ctrl_ws_added(struct ctrl *c, int status);
void ctrl_store_next(struct ctrl *c);
void ctrl_store_drain(struct ctrl *c);
bool ctrl_store_idle(const struct ctrl *c);

/* ctrl_net.c: a VM slot's tap, its --net and --net-addr arguments */
struct net_args {
	char tap[16], net[48], addr[48];
	char owner[24];		/* a jailed runner's uid: it attaches itself */
};
int ctrl_net_start(struct ctrl *c);
/* slot -1: the builder's. */
int ctrl_net_attach(struct ctrl *c, int slot, bool bridged,
    struct net_args *n, char **argv, int *i);
void ctrl_net_detach(struct ctrl *c, int slot);

/* ctrl_jail.c: runners through vmjail(1) */
/* The command line that runs run in slot's jail (run itself without a
 * jail section): vmjail's flags, then run.  NULL (E2BIG) if it does not
 * fit. */
char *const *ctrl_jail_argv(struct ctrl *c, int slot, uint64_t mem_mib,
    int vcpus, bool tap, char *const *run, struct ctrl_jail_args *a);
/* What slot's jail left when its keeper was killed; tries as
 * jail_remove().  0 when nothing is left (always without a jail): the
 * slot may take a runner. */
int ctrl_jail_release(struct ctrl *c, int slot, int tries);
/* At start: the base directory (made if missing), ctrl moved into a leaf
 * of its delegated cgroup, and what jails of an earlier ctrl left.  -1
 * with a message. */
int ctrl_jail_start(struct ctrl *c);
/* The builder's jail: it writes its layer into a staging directory of
 * its own (SNAPSHOT_DIR/.build, emptied here), bound read-write, and
 * nowhere else.  The path to give --dump-dir, in layer. */
int ctrl_jail_stage(struct ctrl *c, char *layer, size_t n);
/* The staged layer, once its builder ended well: each file checked to be
 * a plain file of the builder's, given to ctrl's user, the layer renamed
 * to out and its digests put in the cache.  -1 (reported, the staged
 * layer removed) if anything is amiss. */
int ctrl_jail_adopt(struct ctrl *c, const char *staged, const char *out);
/* What the kernel counts for slot's cgroup (memory.current), in bytes; 0
 * without a cgroup or when it cannot be read. */
uint64_t ctrl_jail_memory_current(const struct ctrl *c, int slot);
/* The OOM kills in the cgroups under jail.cgroup (its memory.events,
 * which counts its descendants'); 0 without a cgroup. */
uint64_t ctrl_jail_oom_kills(const struct ctrl *c);

/* ctrl_async.c */
/* r, an HTTP exchange's request checked and ready to queue, is queued as
 * a request of its own, with r's payload and held bytes (of http_bytes);
 * r is left to answer 202.  NULL, r as it was, when no more can be kept
 * (CTRL_ASYNC_MAX, or half of http_buffer held by kept invocations). */
const struct async_inv *ctrl_async_submit(struct ctrl *c, struct request *r,
    uint64_t held);
/* The invocation of id, pending or done; NULL if unknown or expired. */
const struct async_inv *ctrl_async_find(const struct ctrl *c,
    const char *id);
/* Done invocations kept past async_keep are dropped. */
void ctrl_async_expire(struct ctrl *c);
void ctrl_async_free_all(struct ctrl *c);

/* ctrl_cache.c */
void ctrl_cache_touch(struct ctrl *c, int fn);
void ctrl_cache_trim(struct ctrl *c);

/* ctrl_http.c */
int ctrl_http_start(struct ctrl *c);
void ctrl_http_take_inbox(struct ctrl *c);
void ctrl_http_stop(struct ctrl *c);

/* ctrl_notify.c: sd_notify(3) to systemd, if it listens */
void ctrl_notify_ready(struct ctrl *c);
void ctrl_notify_stopping(struct ctrl *c);
/* Each turn of the loop: WATCHDOG=1 when it is due. */
void ctrl_notify_watchdog(struct ctrl *c);

/* ctrl_hold.c: n more bytes held in c->http_bytes, counted in *held;
 * false (nothing held) past http_buffer, unless small. */
bool ctrl_hold(struct ctrl *c, uint64_t *held, uint64_t n, bool small);
/* n of *held bytes (at most all) let go. */
void ctrl_let_go(struct ctrl *c, uint64_t *held, uint64_t n);

/* ctrl_prom.c: Prometheus conventions around ctrl's families */
/* text with a "# HELP" line before each "# TYPE" line; text is freed. */
char *ctrl_prom_help(char *text);
/* The process_* families, into buf; snprintf's return. */
int ctrl_prom_process(const struct ctrl *c, char *buf, size_t size);

/* ctrl_metrics.c */
void ctrl_metrics_observe(struct ctrl *c, const struct request *r,
    enum outcome o);
char *ctrl_metrics_text(const struct ctrl *c);
char *ctrl_metrics_functions_json(const struct ctrl *c);

/* ctrl_loop.c */
int ctrl_loop_run(struct ctrl *c, int in_fd);

#endif
