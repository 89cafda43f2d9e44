/* ctrl's request lines: what ctrl_request_parse() takes and refuses. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "unit.h"

static struct ctrl *
ctrl_with_hello(void)
{
	static struct ctrl *c;

	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
		c->conf.nfuncs = 1;
		strcpy(c->conf.fn[0].name, "hello");
		c->log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		ctrl_sink_open(&c->log, c->log_fd, CTRL_LOG_LIMIT, true);
	}
	return c;
}

static struct request *
parse(const char *line, char *why, int *missing)
{
	return ctrl_request_parse(ctrl_with_hello(), line, why, 160, missing);
}

static void
test_time(void)
{
	char why[160];
	int missing;
	struct request *r;

	r = parse("{\"function\":\"hello\",\"time\":8000.9}", why, &missing);
	CHECK(r != NULL);
	if (r != NULL)
		CHECK_EQ(r->at_ms, 8000);
	ctrl_request_free(r);
	r = parse("{\"function\":\"hello\",\"time\":9007199254740992}", why,
	    &missing);
	CHECK(r != NULL);
	ctrl_request_free(r);
	/* Past 2^53 a double cast to an integer was undefined behaviour. */
	static const char *const bad[] = { "1e300", "-1", "\"5\"", "null",
		"9007199254740994", "[1]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[80];

		snprintf(line, sizeof(line), "{\"function\":\"hello\",\"time\":%s}",
		    bad[i]);
		why[0] = '\0';
		CHECK(parse(line, why, &missing) == NULL);
		CHECK(strncmp(why, "time: ", 6) == 0);
		CHECK_EQ(missing, 0);
	}
}

static void
test_fields(void)
{
	char why[160];
	int missing;

	CHECK(parse("{\"function\":\"nope\"}", why, &missing) == NULL);
	CHECK_EQ(missing, 1);
	CHECK(parse("{\"function\":\"hello\",\"x\":1}", why, &missing) == NULL);
	CHECK(strstr(why, "unknown field") != NULL);
	CHECK(parse("[]", why, &missing) == NULL);
	CHECK(strcmp(why, "not a JSON object") == 0);
}

/* The answer line written for a runner's response line. */
static void
finish(const char *response, char *out, size_t size)
{
	struct ctrl *c = ctrl_with_hello();
	char why[160];
	int missing, p[2];
	struct request *r;
	ssize_t n;

	out[0] = '\0';
	if (pipe(p) == -1)
		return;
	/* A sink of its own on each pipe: ctrl's holds its own
	 * non-blocking description of the fd it was opened on. */
	c->out_fd = p[1];
	ctrl_sink_open(&c->out, p[1], CTRL_OUT_LIMIT, false);
	if ((r = parse("{\"id\":5,\"function\":\"hello\"}", why,
	    &missing)) != NULL)
		ctrl_request_finish(c, r, OUT_OK, response);
	ctrl_sink_close(&c->out, 1000);
	close(p[1]);
	n = read(p[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
}

/* The error object is the guest runtime's: null members were passed to
 * strcmp() (a crash of ctrl any guest could cause). */
static void
test_finish(void)
{
	char out[512];

	finish("{\"status\":\"error\",\"error\":{\"type\":null}}", out,
	    sizeof(out));
	CHECK(strstr(out, "\"status\":\"error\"") != NULL);
	finish("{\"status\":null}", out, sizeof(out));
	CHECK(strstr(out, "\"status\":\"ok\"") != NULL);
	finish("{\"status\":\"error\",\"error\":{\"type\":\"Timeout\"}}",
	    out, sizeof(out));
	CHECK(strstr(out, "\"id\":5") != NULL);
	CHECK_EQ(ctrl_with_hello()->stats[0].outcome[OUT_TIMEOUT], 1);
	finish("{\"status\":\"ok\",\"response\":[1]}", out, sizeof(out));
	CHECK(strstr(out, "\"response\":[1]") != NULL);
}

static const struct unit_test tests[] = {
	{ "request: time is whole milliseconds from 0 to 2^53", test_time },
	{ "request: unknown functions and fields", test_fields },
	{ "request: a runner's answer, null members and all", test_finish },
};

UNIT_MAIN(tests)
