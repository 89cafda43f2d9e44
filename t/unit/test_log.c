/*
 * The rate limit for messages an untrusted peer can cause: stderr is
 * caught in a file and its lines counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unit.h"

static int saved_fd = -1;
static FILE *caught;

static void
catch_stderr(void)
{
	fflush(stderr);
	caught = tmpfile();
	saved_fd = dup(2);
	dup2(fileno(caught), 2);
	log_init("unit", LOG_WARN);
}

/* Restores stderr; the lines written meanwhile, NUL-separated in buf. */
static int
release_stderr(char *buf, size_t size)
{
	size_t n;
	int lines = 0;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	log_init("unit", LOG_QUIET);
	rewind(caught);
	n = fread(buf, 1, size - 1, caught);
	fclose(caught);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	return lines;
}

static void
test_burst_then_count(void)
{
	struct log_rate r = LOG_RATE_INIT("test");
	char buf[8192];

	r.burst = 3;
	r.interval_ms = 60000;
	catch_stderr();
	for (int i = 0; i < 100; i++)
		log_warnx_rate(&r, "message %d", i);
	log_rate_flush(&r);
	CHECK_EQ(release_stderr(buf, sizeof(buf)), 4);
	CHECK(strstr(buf, "unit: message 0\n") != NULL);
	CHECK(strstr(buf, "unit: message 2\n") != NULL);
	CHECK(strstr(buf, "message 3\n") == NULL);
	CHECK(strstr(buf, "unit: test: 97 similar messages suppressed\n") != NULL);
}

static void
test_new_interval_reports(void)
{
	struct log_rate r = LOG_RATE_INIT("test");
	char buf[8192];

	r.burst = 1;
	r.interval_ms = 20;
	catch_stderr();
	log_warnx_rate(&r, "first");
	log_warnx_rate(&r, "second");
	log_warnx_rate(&r, "third");
	usleep(30000);			/* the interval is over */
	log_warnx_rate(&r, "fourth");
	log_rate_flush(&r);		/* nothing left to report */
	CHECK_EQ(release_stderr(buf, sizeof(buf)), 3);
	CHECK(strstr(buf, "unit: first\nunit: test: 2 similar messages "
	    "suppressed\nunit: fourth\n") != NULL);
}

static void
test_below_level_not_counted(void)
{
	struct log_rate r = LOG_RATE_INIT("test");
	char buf[8192];

	r.burst = 1;
	catch_stderr();
	for (int i = 0; i < 5; i++)
		log_info_rate(&r, "chatter");	/* not shown at LOG_WARN */
	log_warnx_rate(&r, "shown");
	log_rate_flush(&r);
	CHECK_EQ(release_stderr(buf, sizeof(buf)), 1);
	CHECK(strcmp(buf, "unit: shown\n") == 0);
}

static const struct unit_test tests[] = {
	{ "log: a burst of lines, then one line with the count", test_burst_then_count },
	{ "log: the count comes before the next interval's first line", test_new_interval_reports },
	{ "log: lines below the level are neither shown nor counted", test_below_level_not_counted },
};

UNIT_MAIN(tests)
