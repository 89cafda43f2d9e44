/*
 * ctrl's request lines (ctrl(1), "REQUEST LINES"): a line parsed by
 * ctrl_request_parse() and, if it is a request, answered with the runner's
 * response line that follows it in the input (after the first newline),
 * as ctrl_request_finish() does; the answer goes to /dev/null.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "fuzz.h"

static struct ctrl *c;

static void
setup(void)
{
	static const char *const names[] = { "hello", "echo", "x_y-1" };

	fz_init();
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->out_fd = c->log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	c->queue_tail = &c->queue;
	c->conf.queue_limit = 256;
	c->conf.nfuncs = 3;
	for (int i = 0; i < c->conf.nfuncs; i++) {
		strcpy(c->conf.fn[i].name, names[i]);
		c->conf.fn[i].timeout_ms = 30000;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, *answer, why[160];
	struct request *r;
	int missing;

	if (c == NULL)
		setup();
	line = fz_str(data, size);
	answer = strchr(line, '\n');
	if (answer != NULL)
		*answer++ = '\0';
	r = ctrl_request_parse(c, line, why, sizeof(why), &missing);
	if (r != NULL) {
		r->src = SRC_LINES;
		ctrl_request_finish(c, r, OUT_OK, answer ? answer : "");
	}
	free(line);
	return 0;
}
