/*
 * What Prometheus users expect around ctrl's own metric families: a
 * "# HELP" line before each "# TYPE" line, and the process_* families
 * every client library exports (CPU time, memory, descriptors, start).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ctrl.h"

static const char *const prom_help[][2] = {
	{ "snapvm_build_info", "The version ctrl was built from; always 1." },
	{ "snapvm_requests_total",
	  "Answered requests by function and outcome." },
	{ "snapvm_requests_unknown_function_total",
	  "Requests for a function that is not configured." },
	{ "snapvm_request_duration_seconds",
	  "Time from a request's arrival to its answer, by warm or cold "
	  "start." },
	{ "snapvm_vms", "VMs of each function, idle or busy." },
	{ "snapvm_runner_seccomp_kills_total",
	  "Runners killed by SIGSYS for a call their seccomp filter "
	  "forbids." },
	{ "snapvm_requests_retried_total",
	  "Requests of idempotent functions run again after their runner "
	  "died." },
	{ "snapvm_runner_oom_kills_total",
	  "Runners the kernel's OOM killer ended at their cgroup's "
	  "memory.max." },
	{ "snapvm_vm_memory_current_bytes",
	  "What the kernel charges each function's jailed VMs "
	  "(memory.current)." },
	{ "snapvm_memory_used_bytes", "Memory the budget counts now." },
	{ "snapvm_memory_budget_bytes", "The configured memory budget." },
	{ "snapvm_evictions_total", "Idle VMs retired to make room." },
	{ "snapvm_queue_length", "Requests waiting for a VM." },
	{ "snapvm_snapshot_fetches_total",
	  "Snapshot layers fetched from the store, by result." },
	{ "snapvm_snapshot_uploads_total",
	  "Snapshot layers uploaded to the store, by result." },
	{ "snapvm_lazy_restores_total",
	  "Page servers of lazy restores from the store, by how they ended." },
	{ "snapvm_snapshot_layers_evicted_total",
	  "Layers removed from the local cache to keep it under its limit." },
	{ "snapvm_http_connections", "Open HTTP connections." },
	{ "snapvm_http_connections_limit", "The HTTP connection limit." },
	{ "snapvm_http_buffered_bytes", "Bytes of HTTP bodies held now." },
	{ "snapvm_http_buffer_limit_bytes", "The HTTP buffer limit." },
	{ "snapvm_http_memory_reserved_bytes",
	  "Memory set aside for HTTP out of the budget." },
	{ "snapvm_http_refused_total",
	  "HTTP requests refused with 503, by reason." },
	{ "snapvm_async_invocations",
	  "Asynchronous invocations kept, waiting for their answer or done." },
	{ "process_cpu_seconds_total", "User and system CPU time of ctrl." },
	{ "process_resident_memory_bytes", "ctrl's resident memory." },
	{ "process_virtual_memory_bytes", "ctrl's virtual memory." },
	{ "process_open_fds", "ctrl's open file descriptors." },
	{ "process_max_fds", "ctrl's limit of open file descriptors." },
	{ "process_start_time_seconds",
	  "When ctrl started, in seconds since the epoch." },
};

static const char *
ctrl_prom_help_of(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(prom_help) / sizeof(prom_help[0]); i++)
		if (strlen(prom_help[i][0]) == len &&
		    strncmp(prom_help[i][0], name, len) == 0)
			return prom_help[i][1];
	return "See ctrl(1), METRICS.";
}

char *
ctrl_prom_help(char *text)
{
	size_t n = 0, cap, len;
	char *out, *p, *line, *name;

	if (text == NULL)
		return NULL;
	cap = 2 * strlen(text) + 8192;
	if ((out = malloc(cap)) == NULL) {
		free(text);
		return NULL;
	}
	for (line = text; *line != '\0'; line = p) {
		p = strchr(line, '\n');
		p = p ? p + 1 : line + strlen(line);
		if (strncmp(line, "# TYPE ", 7) == 0) {
			name = line + 7;
			len = strcspn(name, " \n");
			n += (size_t)snprintf(out + n, cap - n,
			    "# HELP %.*s %s\n", (int)len, name,
			    ctrl_prom_help_of(name, len));
		}
		if (n + (size_t)(p - line) + 1 > cap)
			break;		/* cannot be: cap is twice and more */
		memcpy(out + n, line, (size_t)(p - line));
		n += (size_t)(p - line);
	}
	out[n] = '\0';
	free(text);
	return out;
}

static unsigned long
ctrl_prom_fds(void)
{
	unsigned long n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;		/* the directory's own */
}

int
ctrl_prom_process(const struct ctrl *c, char *buf, size_t size)
{
	unsigned long vsz = 0, rss = 0;
	struct rusage ru;
	struct rlimit rl = { 0, 0 };
	FILE *f = fopen("/proc/self/statm", "re");
	long page = sysconf(_SC_PAGESIZE);

	if (f != NULL) {
		if (fscanf(f, "%lu %lu", &vsz, &rss) != 2)
			vsz = rss = 0;
		fclose(f);
	}
	getrusage(RUSAGE_SELF, &ru);
	getrlimit(RLIMIT_NOFILE, &rl);
	return snprintf(buf, size,
	    "# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total %.3f\n"
	    "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes %lu\n"
	    "# TYPE process_virtual_memory_bytes gauge\n"
	    "process_virtual_memory_bytes %lu\n"
	    "# TYPE process_open_fds gauge\nprocess_open_fds %lu\n"
	    "# TYPE process_max_fds gauge\nprocess_max_fds %ju\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %ju\n",
	    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
	    rss * (unsigned long)page, vsz * (unsigned long)page,
	    ctrl_prom_fds(), (uintmax_t)rl.rlim_cur, (uintmax_t)c->start_s);
}
