/*
 * ctrl's structured log: one JSON object per line, written through a
 * lossy sink (ctrl_sink.c) so that a log reader that stalls costs lines,
 * counted, and never the loop.  Text from runners (their consoles) goes
 * in as JSON strings, so that nothing a guest prints can forge an event
 * or break the line.
 *
 * Each line has a severity, the "level" member, named as syslog names
 * them; when the log is standard error and that is the journal
 * ($JOURNAL_STREAM), each line also begins with the "<N>" prefix journald
 * reads the priority from.  Events up to "notice" are logged by default,
 * "info" ones with -v.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ctrl.h"
#include "log.h"

/* The length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t need;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1, cp = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n <= need)
		return 0;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* text as a JSON string (malloc'd), every byte that is not part of valid
 * UTF-8 replaced by '?'. */
static char *
json_text(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	char *clean = malloc(len + 1), *out = NULL;
	json_object *o;

	if (clean == NULL)
		return NULL;
	for (size_t i = 0; i < len; ) {
		size_t k = utf8_seq(s + i, len - i);

		if (k == 0) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, s + i, k);
		i += k;
	}
	if ((o = json_object_new_string_len(clean, (int)len)) != NULL)
		out = strdup(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	free(clean);
	return out;
}

enum ctrl_level { CL_ERR = 3, CL_WARNING, CL_NOTICE, CL_INFO };

static const char *const level_name[] = { [CL_ERR] = "err",
	[CL_WARNING] = "warning", [CL_NOTICE] = "notice", [CL_INFO] = "info" };

/* What an operator must see (errors and warnings: something failed;
 * notices: the service's life, its snapshots and evictions) and what
 * only -v shows (each request and VM). */
static const struct { const char *event; enum ctrl_level level; }
    event_level[] = {
	{ "runner_seccomp_killed", CL_ERR }, { "runner_oom_killed", CL_ERR },
	{ "runner_spawn_failed", CL_ERR }, { "runner_failed", CL_ERR },
	{ "runner_write_failed", CL_ERR }, { "snapshot_failed", CL_ERR },
	{ "store_spawn_failed", CL_ERR }, { "network_failed", CL_ERR },
	{ "reload_failed", CL_ERR }, { "tap_failed", CL_ERR },
	{ "request_failed", CL_WARNING },
	{ "snapshot_fetch_failed", CL_WARNING },
	{ "snapshot_upload_failed", CL_WARNING },
	{ "tap_del_failed", CL_WARNING },
	{ "log_dropped", CL_WARNING }, { "snapshot_cache_full", CL_WARNING },
	{ "console_suppressed", CL_WARNING }, { "request_retried", CL_WARNING },
	{ "pager_failed", CL_WARNING }, { "pager_unavailable", CL_WARNING },
	{ "listening", CL_NOTICE }, { "draining", CL_NOTICE },
	{ "stopped", CL_NOTICE }, { "reloaded", CL_NOTICE },
	{ "snapshot_build", CL_NOTICE }, { "snapshot_built", CL_NOTICE },
	{ "snapshot_fetched", CL_NOTICE }, { "snapshot_uploaded", CL_NOTICE },
	{ "snapshot_evicted", CL_NOTICE }, { "snapshot_outdated", CL_NOTICE },
	{ "snapshot_upload_skipped", CL_NOTICE }, { "cpu", CL_NOTICE },
	{ "snapshot_legacy", CL_NOTICE }, { "pager_started", CL_NOTICE },
	{ "pager_ready", CL_NOTICE }, { "pager_done", CL_NOTICE },
	{ "pager_not_in_store", CL_NOTICE }, { "pager_stopped", CL_NOTICE },
};

static enum ctrl_level
ctrl_log_level(const char *event, const char *extra)
{
	for (size_t i = 0; i < sizeof(event_level) / sizeof(event_level[0]);
	    i++)
		if (strcmp(event, event_level[i].event) == 0)
			return event_level[i].level;
	/* A VM retired to make room is an eviction. */
	if (strcmp(event, "vm_retired") == 0 &&
	    strstr(extra, "\"why\":\"evicted\"") != NULL)
		return CL_NOTICE;
	return CL_INFO;
}

bool
ctrl_log_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static void
log_put(struct ctrl *c, enum ctrl_level level, const char *event,
    uint64_t seq, const char *extra, const char *name, const char *text)
{
	char head[160], req[40] = "";
	struct timespec ts;
	size_t n;
	char *line;
	int h;

	if (seq != 0)
		snprintf(req, sizeof(req), ",\"request\":%ju", (uintmax_t)seq);
	clock_gettime(CLOCK_REALTIME, &ts);
	h = snprintf(head, sizeof(head),
	    "%s{\"ts\":%ld.%03ld,\"event\":\"%s\"%s",
	    c->journal ? (const char []){ '<', (char)('0' + level), '>', 0 } :
	    "", (long)ts.tv_sec, ts.tv_nsec / 1000000, event, req);
	if (h < 0 || (size_t)h >= sizeof(head))
		return;
	n = (size_t)h + strlen(extra) + 32 + (name ? strlen(name) +
	    strlen(text) + 8 : 0);
	if ((line = malloc(n)) == NULL)
		return;
	h = snprintf(line, n, "%s%s%s%s%s%s%s,\"level\":\"%s\"}\n", head,
	    extra[0] ? "," : "", extra, name ? ",\"" : "", name ? name : "",
	    name ? "\":" : "", name ? text : "", level_name[level]);
	/* A log that cannot be written is not worth a stop. */
	ctrl_sink_ensure(c);
	if (h > 0 && (size_t)h < n)
		ctrl_sink_put(&c->log, line, (size_t)h);
	free(line);
}

void
ctrl_log(struct ctrl *c, const char *event, uint64_t seq, const char *fmt, ...)
{
	char extra[1536] = "";
	enum ctrl_level level;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	level = ctrl_log_level(event, extra);
	if (level > CL_NOTICE && log_level() < LOG_INFO)
		return;
	log_put(c, level, event, seq, extra, NULL, NULL);
}

void
ctrl_log_text(struct ctrl *c, const char *event, uint64_t seq,
    const char *name, const char *text, size_t len, const char *fmt, ...)
{
	char extra[1536] = "", *j = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(extra, sizeof(extra), fmt, ap);
	va_end(ap);
	if (name != NULL && (j = json_text(text ? text : "", text ? len : 0)) ==
	    NULL)
		name = NULL;
	/* Always written: failures with their console (a runner that died,
	 * as vm_exited), and what -v or a failure asked for. */
	log_put(c, strcmp(event, "vm_exited") == 0 ? CL_ERR :
	    ctrl_log_level(event, extra), event, seq, extra, name, j);
	free(j);
}

void
ctrl_log_flush(struct ctrl *c)
{
	uint64_t lost = c->log.dropped;

	if (ctrl_sink_flush(&c->log) != 0 || lost == 0)
		return;
	c->log.dropped = 0;
	ctrl_log_text(c, "log_dropped", 0, NULL, NULL, 0, "\"lines\":%ju",
	    (uintmax_t)lost);
}

const char *
ctrl_log_jstr(char *buf, size_t n, const char *s)
{
	json_object *o = json_object_new_string(s);
	const char *j = o ? json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;

	if (j != NULL && strlen(j) >= n) {
		/* Escaping takes at most 6 bytes a byte: a prefix that fits. */
		json_object_put(o);
		o = json_object_new_string_len(s, n > 8 ? (int)(n - 3) / 6 : 0);
		j = o ? json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE) : NULL;
	}
	snprintf(buf, n, "%s", j != NULL && strlen(j) < n ? j : "\"\"");
	json_object_put(o);
	return buf;
}
