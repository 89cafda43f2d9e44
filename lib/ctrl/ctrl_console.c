/*
 * A runner's standard error: its own messages and its guest's console,
 * which the guest writes as it likes.  ctrl reads it through a pipe, a
 * bounded amount a turn, keeps the last console_ring bytes of it (for the
 * failure event, if the runner fails) and logs it line by line, at most
 * console_rate lines a second per runner with a burst of ten seconds'
 * worth; lines over that are counted and reported, never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "monotime.h"

#define CONSOLE_READ		65536	/* a turn's read: a flood waits */
#define CONSOLE_BURST_S		10
/* Suppressed lines are told in one event a second. */
#define CONSOLE_REPORT_MS	1000

void
ctrl_console_open(const struct ctrl *c, struct console *k, pid_t pid,
    const char *who)
{
	memset(k, 0, sizeof(*k));
	k->pid = pid;
	snprintf(k->who, sizeof(k->who), "%s", who);
	k->size = c->conf.console_ring;
	if (k->size > 0 && (k->ring = malloc(k->size)) == NULL)
		k->size = 0;		/* no ring: lines are still logged */
	k->refilled_ms = k->reported_ms = mono_ms();
	k->tokens = c->conf.console_rate * CONSOLE_BURST_S * 1000;
}

static void
ring_put(struct console *k, const char *p, size_t n)
{
	size_t first;

	if (k->size == 0)
		return;
	if (n > k->size) {
		p += n - k->size;
		n = k->size;
	}
	first = n < k->size - k->head ? n : k->size - k->head;
	memcpy(k->ring + k->head, p, first);
	memcpy(k->ring, p + first, n - first);
	k->head = (k->head + n) % k->size;
	k->used = k->used + n < k->size ? k->used + n : k->size;
}

/* Token bucket, in thousandths of a line. */
static bool
may_log(const struct ctrl *c, struct console *k)
{
	uint64_t now = mono_ms(), rate = c->conf.console_rate;
	uint64_t burst = rate * CONSOLE_BURST_S * 1000;

	k->tokens += (now - k->refilled_ms) * rate;
	if (k->tokens > burst)
		k->tokens = burst;
	k->refilled_ms = now;
	if (k->tokens < 1000)
		return false;
	k->tokens -= 1000;
	return true;
}

static void
line_done(struct ctrl *c, struct console *k, bool cut)
{
	char who[80];

	while (k->llen > 0 && k->line[k->llen - 1] == '\r')
		k->llen--;		/* serial consoles end lines in \r\n */
	if (k->llen == 0)
		return;
	if (may_log(c, k))
		ctrl_log_text(c, "console", 0, "line", k->line, k->llen,
		    "\"pid\":%d,\"function\":%s%s", (int)k->pid,
		    ctrl_log_jstr(who, sizeof(who), k->who),
		    cut ? ",\"cut\":true" : "");
	else
		k->suppressed++;
	k->llen = 0;
}

static void
feed(struct ctrl *c, struct console *k, const char *p, size_t n)
{
	ring_put(k, p, n);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (!k->skipping)
				line_done(c, k, false);
			k->skipping = false;
		} else if (k->skipping) {
			continue;
		} else if (k->llen == sizeof(k->line)) {
			line_done(c, k, true);	/* the rest of it is dropped */
			k->skipping = true;
		} else {
			k->line[k->llen++] = p[i];
		}
	}
}

int
ctrl_console_read(struct ctrl *c, struct console *k, struct runproc *p)
{
	char *buf = malloc(CONSOLE_READ);
	ssize_t n;

	if (buf == NULL)
		return 0;
	if ((n = runproc_read_err(p, buf, CONSOLE_READ)) > 0)
		feed(c, k, buf, (size_t)n);
	free(buf);
	if (n == -1 && k->llen > 0 && !k->skipping)
		line_done(c, k, false);	/* the last line, without newline */
	ctrl_console_report(c, k, false);
	return n == -1 ? -1 : (int)(n > 0);
}

void
ctrl_console_report(struct ctrl *c, struct console *k, bool now)
{
	char who[80];

	if (k->suppressed == 0 ||
	    (!now && mono_ms() - k->reported_ms < CONSOLE_REPORT_MS))
		return;
	ctrl_log_text(c, "console_suppressed", 0, NULL, NULL, 0, "\"pid\":%d,"
	    "\"function\":%s,\"lines\":%ju", (int)k->pid,
	    ctrl_log_jstr(who, sizeof(who), k->who), (uintmax_t)k->suppressed);
	k->suppressed = 0;
	k->reported_ms = mono_ms();
}

char *
ctrl_console_tail(const struct console *k, size_t *len)
{
	size_t start = (k->head + k->size - k->used) % (k->size ? k->size : 1);
	size_t first = k->used < k->size - start ? k->used : k->size - start;
	char *s = malloc(k->used + 1);

	*len = 0;
	if (s == NULL || k->used == 0) {
		free(s);
		return NULL;
	}
	memcpy(s, k->ring + start, first);
	memcpy(s + first, k->ring, k->used - first);
	s[k->used] = '\0';
	*len = k->used;
	return s;
}

void
ctrl_console_close(struct ctrl *c, struct console *k)
{
	ctrl_console_report(c, k, true);
	free(k->ring);
	k->ring = NULL;
	k->size = k->used = k->head = 0;
}

char *
ctrl_console_finish(struct ctrl *c, struct console *k, struct runproc *p,
    bool want_tail, size_t *len)
{
	char *tail = NULL;

	/* A few turns only, never to the end: what the child left behind
	 * may still write to the pipe, and no console may hold the loop. */
	for (int i = 0; i < 8 && ctrl_console_read(c, k, p) > 0; i++)
		;
	*len = 0;
	if (want_tail)
		tail = ctrl_console_tail(k, len);
	ctrl_console_close(c, k);
	return tail;
}
