/*
 * ctrl's capture of runners' standard error (lib/ctrl/ctrl_console.c) and its
 * non-blocking writers (lib/ctrl/ctrl_sink.c): the ring keeps the last bytes
 * in order, lines reach the log as JSON events, cut and escaped, at a
 * bounded rate, and a log nobody reads drops lines and says how many.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "unit.h"

struct rig {
	struct ctrl *c;
	int log_r;			/* the log's reading end */
	int err_w;			/* the "runner's" stderr */
	struct runproc p;
	struct console k;
};

static void
rig_open(struct rig *r, uint64_t ring, uint64_t rate, size_t log_limit)
{
	int lp[2], ep[2];

	memset(r, 0, sizeof(*r));
	r->c = calloc(1, sizeof(*r->c));
	if (r->c == NULL || pipe2(lp, O_CLOEXEC) == -1 ||
	    pipe2(ep, O_CLOEXEC | O_NONBLOCK) == -1)
		abort();
	r->log_r = lp[0];
	fcntl(r->log_r, F_SETFL, O_NONBLOCK);
	r->c->log_fd = lp[1];
	ctrl_sink_open(&r->c->log, lp[1], log_limit, true);
	r->c->conf.console_ring = ring;
	r->c->conf.console_rate = rate;
	r->p.in_fd = r->p.out_fd = -1;
	r->p.err_fd = ep[0];
	r->err_w = ep[1];
	ctrl_console_open(r->c, &r->k, 42, "fn");
}

static void
rig_close(struct rig *r)
{
	ctrl_console_close(r->c, &r->k);
	ctrl_sink_close(&r->c->log, 0);
	close(r->c->log_fd);
	close(r->log_r);
	close(r->err_w);
	runproc_release(&r->p);
	free(r->c);
}

/* The runner writes s; ctrl reads it all. */
static void
say(struct rig *r, const char *s, size_t n)
{
	CHECK_EQ(write(r->err_w, s, n), n);
	while (ctrl_console_read(r->c, &r->k, &r->p) > 0)
		;
}

/* The log's events so far, as one array. */
static json_object *
events(struct rig *r)
{
	static char buf[1 << 20];
	json_object *a = json_object_new_array();
	size_t len = 0;
	ssize_t n;
	char *line, *save = NULL;

	while ((n = read(r->log_r, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);

		CHECK(o != NULL);	/* every line is JSON */
		if (o != NULL)
			json_object_array_add(a, o);
	}
	return a;
}

static const char *
member(json_object *a, size_t i, const char *key)
{
	json_object *v;

	if (i >= json_object_array_length(a) ||
	    !json_object_object_get_ex(json_object_array_get_idx(a, i), key, &v))
		return "";
	return json_object_get_string(v);
}

static void
test_ring_keeps_the_last_bytes_in_order(void)
{
	struct rig r;
	size_t len;
	char *t;

	rig_open(&r, 16, 100, 1 << 20);
	say(&r, "abcdefghij\n", 11);
	t = ctrl_console_tail(&r.k, &len);
	CHECK(t != NULL && len == 11 && memcmp(t, "abcdefghij\n", 11) == 0);
	free(t);
	say(&r, "0123456789\n", 11);
	t = ctrl_console_tail(&r.k, &len);
	CHECK(t != NULL && len == 16 &&
	    memcmp(t, "ghij\n0123456789\n", 16) == 0);
	free(t);
	/* More than the ring at once: its last 16 bytes. */
	say(&r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
	t = ctrl_console_tail(&r.k, &len);
	CHECK(t != NULL && len == 16 && memcmp(t, "KLMNOPQRSTUVWXYZ", 16) == 0);
	free(t);
	json_object_put(events(&r));
	rig_close(&r);
}

static void
test_lines_are_json_cut_and_escaped(void)
{
	char longline[2000];
	json_object *a;
	struct rig r;

	rig_open(&r, 4096, 100, 1 << 20);
	memset(longline, 'x', sizeof(longline));
	longline[sizeof(longline) - 1] = '\n';
	say(&r, "plain\r\n", 7);
	say(&r, longline, sizeof(longline));
	say(&r, "bad \xff\xc0\x80 \"q\" \x1b[0m\n",
	    sizeof("bad \xff\xc0\x80 \"q\" \x1b[0m\n") - 1);
	say(&r, "\n\r\n", 3);			/* empty lines: nothing */
	say(&r, "no newline", 10);
	close(r.err_w);
	r.err_w = -1;
	CHECK_EQ(ctrl_console_read(r.c, &r.k, &r.p), -1);	/* the end */
	r.err_w = open("/dev/null", O_WRONLY);
	a = events(&r);
	CHECK_EQ(json_object_array_length(a), 4);
	CHECK(strcmp(member(a, 0, "event"), "console") == 0);
	CHECK(strcmp(member(a, 0, "line"), "plain") == 0);
	CHECK(strcmp(member(a, 0, "function"), "fn") == 0);
	CHECK_EQ(strlen(member(a, 1, "line")), CONSOLE_LINE);
	CHECK(strcmp(member(a, 1, "cut"), "true") == 0);
	CHECK(strcmp(member(a, 2, "line"), "bad ??? \"q\" \x1b[0m") == 0);
	CHECK(strcmp(member(a, 3, "line"), "no newline") == 0);
	json_object_put(a);
	rig_close(&r);
}

static void
test_rate_limit_counts_what_it_drops(void)
{
	json_object *a;
	struct rig r;
	int lines = 0;

	rig_open(&r, 0, 1, 1 << 20);		/* a burst of 10 lines */
	for (int i = 0; i < 25; i++)
		say(&r, "line\n", 5);
	ctrl_console_close(r.c, &r.k);
	a = events(&r);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		lines += strcmp(member(a, i, "event"), "console") == 0;
	CHECK_EQ(lines, 10);
	CHECK(strcmp(member(a, 10, "event"), "console_suppressed") == 0);
	CHECK(strcmp(member(a, 10, "lines"), "15") == 0);
	json_object_put(a);
	ctrl_console_open(r.c, &r.k, 42, "fn");	/* for rig_close */
	rig_close(&r);
}

static void
test_a_log_nobody_reads_drops_lines_and_says_how_many(void)
{
	char line[200];
	json_object *a;
	struct rig r;
	int seen = 0;

	rig_open(&r, 0, 0, 4096);
	memset(line, 'y', sizeof(line));
	/* 1000 events of ~250 bytes: far more than the pipe and the
	 * sink's 4 KiB; none of them waits. */
	for (int i = 0; i < 1000; i++)
		ctrl_log_text(r.c, "console", 0, "line", line, sizeof(line),
		    "\"n\":%d", i);
	CHECK(r.c->log.dropped > 0);
	CHECK(ctrl_sink_pending(&r.c->log));
	a = events(&r);			/* the reader wakes up */
	seen = (int)json_object_array_length(a);
	json_object_put(a);
	ctrl_log_flush(r.c);
	a = events(&r);
	seen += (int)json_object_array_length(a) - 1;
	CHECK(strcmp(member(a, json_object_array_length(a) - 1, "event"),
	    "log_dropped") == 0);
	CHECK_EQ(seen + atoi(member(a, json_object_array_length(a) - 1,
	    "lines")), 1000);
	json_object_put(a);
	rig_close(&r);
}

static void
test_a_lossless_sink_keeps_all_and_is_full(void)
{
	char buf[65536], *got = malloc(1 << 20);
	struct sink s;
	size_t total = 0;
	int p[2];
	ssize_t n;

	if (got == NULL || pipe2(p, O_CLOEXEC) == -1)
		abort();
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ctrl_sink_open(&s, p[1], 65536, false);
	memset(buf, 'z', sizeof(buf));
	for (int i = 0; i < 8; i++)
		CHECK(ctrl_sink_put(&s, buf, sizeof(buf))); /* never waits */
	CHECK(ctrl_sink_full(&s));
	for (;;) {
		while ((n = read(p[0], got + total, (1 << 20) - total)) > 0)
			total += (size_t)n;
		if (ctrl_sink_flush(&s) == 0)
			break;
	}
	while ((n = read(p[0], got + total, (1 << 20) - total)) > 0)
		total += (size_t)n;
	CHECK_EQ(total, 8 * sizeof(buf));
	CHECK(!ctrl_sink_pending(&s) && !ctrl_sink_full(&s));
	ctrl_sink_close(&s, 0);
	close(p[0]);
	close(p[1]);
	free(got);
}

static const struct unit_test tests[] = {
	{ "the ring keeps the last bytes, in order",
	    test_ring_keeps_the_last_bytes_in_order },
	{ "console lines are JSON events, cut and escaped",
	    test_lines_are_json_cut_and_escaped },
	{ "the rate limit counts the lines it drops",
	    test_rate_limit_counts_what_it_drops },
	{ "a log nobody reads drops lines and says how many",
	    test_a_log_nobody_reads_drops_lines_and_says_how_many },
	{ "a lossless sink keeps every byte and says when it is full",
	    test_a_lossless_sink_keeps_all_and_is_full },
};

UNIT_MAIN(tests)
