/* ctrl's counters, and their Prometheus text exposition (/metrics). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctrl.h"
#include "monotime.h"

static const double bucket_s[16] = { 0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 0 /* +Inf */ };

static const char *const outcome_label[OUT_N] = { "ok", "function_error",
	"bad_request", "not_found", "over_capacity", "timeout",
	"runner_failed", "shutdown" };

void
ctrl_metrics_observe(struct ctrl *c, const struct request *r, enum outcome o)
{
	struct fn_stats *s;
	uint64_t us;
	int b;

	if (r->fn < 0) {
		c->unknown_fn += o == OUT_NOT_FOUND;
		return;
	}
	s = &c->stats[r->fn];
	s->outcome[o]++;
	us = (mono_ms() - r->arrived_ms) * 1000;
	for (b = 0; b < 15 && (double)us / 1e6 > bucket_s[b]; b++)
		;
	s->lat_bucket[r->cold][b]++;
	s->lat_count[r->cold]++;
	s->lat_sum_us[r->cold] += us;
}

/* A growing text buffer. */
struct text {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL,
		    t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->s != NULL && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
		if ((t->s = realloc(t->s, t->cap)) == NULL)
			return;
	}
}

static void
put_histogram(struct text *t, const struct ctrl *c, int f)
{
	const struct fn_stats *s = &c->stats[f];

	for (int cold = 0; cold < 2; cold++) {
		uint64_t cum = 0;

		for (int b = 0; b < 16; b++) {
			cum += s->lat_bucket[cold][b];
			if (b < 15)
				put(t, "snapvm_request_duration_seconds_bucket"
				    "{function=\"%s\",start=\"%s\",le=\"%g\"} "
				    "%ju\n",
				    c->conf.fn[f].name, cold ? "cold" : "warm",
				    bucket_s[b], (uintmax_t)cum);
			else
				put(t, "snapvm_request_duration_seconds_bucket"
				    "{function=\"%s\",start=\"%s\","
				    "le=\"+Inf\"} %ju\n",
				    c->conf.fn[f].name, cold ? "cold" : "warm",
				    (uintmax_t)cum);
		}
		put(t, "snapvm_request_duration_seconds_sum{function=\"%s\","
		    "start=\"%s\"} %.6f\n", c->conf.fn[f].name, cold ? "cold" :
		    "warm", (double)s->lat_sum_us[cold] / 1e6);
		put(t, "snapvm_request_duration_seconds_count{function=\"%s\","
		    "start=\"%s\"} %ju\n", c->conf.fn[f].name, cold ? "cold" :
		    "warm", (uintmax_t)s->lat_count[cold]);
	}
}

/* The gateway's limits; its counters are the server threads' too. */
static void
put_http(struct text *t, const struct ctrl *c)
{
	put(t, "# TYPE snapvm_http_connections gauge\n"
	    "snapvm_http_connections %ju\n"
	    "# TYPE snapvm_http_connections_limit gauge\n"
	    "snapvm_http_connections_limit %ju\n"
	    "# TYPE snapvm_http_buffered_bytes gauge\n"
	    "snapvm_http_buffered_bytes %ju\n"
	    "# TYPE snapvm_http_buffer_limit_bytes gauge\n"
	    "snapvm_http_buffer_limit_bytes %ju\n"
	    "# TYPE snapvm_http_memory_reserved_bytes gauge\n"
	    "snapvm_http_memory_reserved_bytes %ju\n"
	    "# TYPE snapvm_http_refused_total counter\n"
	    "snapvm_http_refused_total{reason=\"connections\"} %ju\n"
	    "snapvm_http_refused_total{reason=\"buffer\"} %ju\n"
	    "# TYPE snapvm_async_invocations gauge\n"
	    "snapvm_async_invocations{state=\"pending\"} %ju\n"
	    "snapvm_async_invocations{state=\"done\"} %ju\n",
	    (uintmax_t)__atomic_load_n(&c->http_conns, __ATOMIC_SEQ_CST),
	    (uintmax_t)c->conf.http_connections,
	    (uintmax_t)__atomic_load_n(&c->http_bytes, __ATOMIC_SEQ_CST),
	    (uintmax_t)c->conf.http_buffer,
	    (uintmax_t)ctrlconf_http_mib(&c->conf) << 20,
	    (uintmax_t)__atomic_load_n(&c->http_refused[0], __ATOMIC_SEQ_CST),
	    (uintmax_t)__atomic_load_n(&c->http_refused[1], __ATOMIC_SEQ_CST),
	    (uintmax_t)c->async_n[0], (uintmax_t)c->async_n[1]);
}

/* What the kernel charges each function's jailed VMs (their cgroups'
 * memory.current): guest pages touched, the runner, its page tables. */
static void
put_cgroup_memory(struct text *t, const struct ctrl *c)
{
	uint64_t sum;

	if (!c->conf.jail || c->conf.jail_cgroup[0] == '\0')
		return;
	put(t, "# TYPE snapvm_vm_memory_current_bytes gauge\n");
	for (int f = 0; f < c->conf.nfuncs; f++) {
		sum = 0;
		for (int i = 0; i < CTRL_MAX_VMS; i++)
			if (c->vm[i].state != VMS_FREE && c->vm[i].fn == f)
				sum += ctrl_jail_memory_current(c, i);
		put(t, "snapvm_vm_memory_current_bytes{function=\"%s\"} %ju\n",
		    c->conf.fn[f].name, (uintmax_t)sum);
	}
}

char *
ctrl_metrics_text(const struct ctrl *c)
{
	struct text t = { NULL, 0, 0 };
	char proc[1024];

	/* The Prometheus convention for what is running: always 1. */
	put(&t, "# TYPE snapvm_build_info gauge\n"
	    "snapvm_build_info{version=\"%s\"} 1\n", snapvm_version());
	put(&t, "# TYPE snapvm_requests_total counter\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		for (int o = 0; o < OUT_N; o++)
			put(&t, "snapvm_requests_total{function=\"%s\",outcome="
			    "\"%s\"} %ju\n", c->conf.fn[f].name,
			    outcome_label[o],
			    (uintmax_t)c->stats[f].outcome[o]);
	put(&t, "# TYPE snapvm_requests_unknown_function_total counter\n"
	    "snapvm_requests_unknown_function_total %ju\n",
	    (uintmax_t)c->unknown_fn);
	put(&t, "# TYPE snapvm_request_duration_seconds histogram\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		put_histogram(&t, c, f);
	put(&t, "# TYPE snapvm_vms gauge\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		put(&t, "snapvm_vms{function=\"%s\",state=\"idle\"} %d\n"
		    "snapvm_vms{function=\"%s\",state=\"busy\"} %d\n",
		    c->conf.fn[f].name, ctrl_state_vm_count(c, f, VMS_IDLE),
		    c->conf.fn[f].name, ctrl_state_vm_count(c, f, VMS_BUSY));
	put(&t, "# TYPE snapvm_runner_seccomp_kills_total counter\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		put(&t, "snapvm_runner_seccomp_kills_total{function=\"%s\"} "
		    "%ju\n", c->conf.fn[f].name,
		    (uintmax_t)c->stats[f].seccomp_kills);
	put(&t, "# TYPE snapvm_requests_retried_total counter\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		put(&t, "snapvm_requests_retried_total{function=\"%s\"} %ju\n",
		    c->conf.fn[f].name, (uintmax_t)c->stats[f].retries);
	put(&t, "# TYPE snapvm_runner_oom_kills_total counter\n");
	for (int f = 0; f < c->conf.nfuncs; f++)
		put(&t, "snapvm_runner_oom_kills_total{function=\"%s\"} %ju\n",
		    c->conf.fn[f].name, (uintmax_t)c->stats[f].oom_kills);
	put_cgroup_memory(&t, c);
	put(&t, "# TYPE snapvm_memory_used_bytes gauge\n"
	    "snapvm_memory_used_bytes %ju\n"
	    "# TYPE snapvm_memory_budget_bytes gauge\n"
	    "snapvm_memory_budget_bytes %ju\n"
	    "# TYPE snapvm_evictions_total counter\n"
	    "snapvm_evictions_total %ju\n"
	    "# TYPE snapvm_queue_length gauge\nsnapvm_queue_length %ju\n",
	    (uintmax_t)c->used_mib << 20, (uintmax_t)c->conf.budget_mib << 20,
	    (uintmax_t)c->evictions, (uintmax_t)c->queued);
	put(&t, "# TYPE snapvm_snapshot_fetches_total counter\n"
	    "snapvm_snapshot_fetches_total{result=\"ok\"} %ju\n"
	    "snapvm_snapshot_fetches_total{result=\"not_in_store\"} %ju\n"
	    "snapvm_snapshot_fetches_total{result=\"failed\"} %ju\n"
	    "# TYPE snapvm_snapshot_uploads_total counter\n"
	    "snapvm_snapshot_uploads_total{result=\"ok\"} %ju\n"
	    "snapvm_snapshot_uploads_total{result=\"failed\"} %ju\n"
	    "# TYPE snapvm_snapshot_layers_evicted_total counter\n"
	    "snapvm_snapshot_layers_evicted_total %ju\n",
	    (uintmax_t)c->fetched[STORE_OK],
	    (uintmax_t)c->fetched[STORE_ABSENT],
	    (uintmax_t)c->fetched[STORE_FAILED], (uintmax_t)c->uploaded[0],
	    (uintmax_t)c->uploaded[1], (uintmax_t)c->layers_evicted);
	put(&t, "# TYPE snapvm_lazy_restores_total counter\n");
	for (int o = 0; o < PGO_N; o++)
		put(&t, "snapvm_lazy_restores_total{outcome=\"%s\"} %ju\n",
		    ctrl_pager_outcome_name(o), (uintmax_t)c->lazy[o]);
	put_http(&t, c);
	if (ctrl_prom_process(c, proc, sizeof(proc)) > 0)
		put(&t, "%s", proc);
	return ctrl_prom_help(t.s);
}

char *
ctrl_metrics_functions_json(const struct ctrl *c)
{
	json_object *a = json_object_new_array();
	char layers[CTRL_MAX_LAYERS * CTRL_PATH], *s;

	for (int f = 0; f < c->conf.nfuncs; f++) {
		const struct fn_conf *fc = &c->conf.fn[f];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "name",
		    json_object_new_string(fc->name));
		json_object_object_add(o, "memory_mib",
		    json_object_new_int64((int64_t)fc->memory_mib));
		json_object_object_add(o, "concurrency",
		    json_object_new_int(fc->concurrency));
		json_object_object_add(o, "timeout_ms",
		    json_object_new_int64((int64_t)fc->timeout_ms));
		json_object_object_add(o, "snapshot", json_object_new_boolean(
		    fc->snapshots && ctrl_state_load_dirs(c, f, layers,
		    sizeof(layers))));
		json_object_object_add(o, "vms_idle",
		    json_object_new_int(ctrl_state_vm_count(c, f, VMS_IDLE)));
		json_object_object_add(o, "vms_busy",
		    json_object_new_int(ctrl_state_vm_count(c, f, VMS_BUSY)));
		json_object_array_add(a, o);
	}
	s = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
	json_object_put(a);
	return s;
}
