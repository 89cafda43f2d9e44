/*
 * What a runner writes back to ctrl (ctrl(1), vmrun(1) "OUTPUT"): lines
 * read by ctrl_pool_runner_output() from the runner's stdout while a request
 * is in flight.  vmrun copies the guest runtime's result and error
 * objects into them, so their content is the guest's.  The request in
 * flight has ctrl's sequence number 1, as its answer must say in "id".
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "fuzz.h"

static struct ctrl *c;

static void
setup(void)
{
	fz_init();
	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	c->out_fd = c->log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	c->queue_tail = &c->queue;
	c->conf.nfuncs = 1;
	strcpy(c->conf.fn[0].name, "hello");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_slot *v;
	int p[2];

	if (c == NULL)
		setup();
	v = &c->vm[0];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		abort();
	/* What the pipe does not hold is not sent: a runner's write would
	 * wait for ctrl to read. */
	if (write(p[1], data, size) == -1 && size > 0)
		abort();
	close(p[1]);
	*v = (struct vm_slot){ .state = VMS_BUSY, .proc = { .in_fd = -1,
	    .out_fd = p[0], .err_fd = -1 } };
	if ((v->req = calloc(1, sizeof(*v->req))) == NULL)
		abort();
	v->req->seq = 1;
	strcpy(v->req->fn_name, "hello");
	while (v->proc.out_fd != -1)
		ctrl_pool_runner_output(c, v);
	ctrl_request_free(v->req);
	runproc_release(&v->proc);
	return 0;
}
