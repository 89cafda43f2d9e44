/*
 * snappager from start to end: the stack opened (store layers' small
 * files fetched), the socket listening and its place told on stdout, the
 * background transfer started; then one runner served, working set
 * first, until it hangs up and the transfer has ended.  A failure that
 * the guest's memory depends on is told to the runner (PAGER_ERROR) and
 * ends everything; whatever was fetched is removed.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "pager.h"

struct run {
	const struct pager_opts *o;
	struct pager_stack st;
	struct pager_xfer x;
	bool xfer_started, xfer_ended;
	int xfer_rc;
	struct pager_srv sv;
	int lfd, cfd;
	bool hung;			/* the runner hung up */
	struct pager_err err;
};

static void
hang_up(struct run *r)
{
	if (!r->hung)
		log_info("the runner hung up after %ju faults, %ju pages put in",
		    (uintmax_t)r->sv.faults, (uintmax_t)r->sv.copied);
	r->hung = true;
	if (r->sv.mem.uffd != -1)
		close(r->sv.mem.uffd);
	r->sv.mem.uffd = -1;
}

/* The transfer ended: published and DONE, or failed.  A failure here is
 * not the guest's as long as it touches only pages already checked:
 * a fault on a missing chunk fetches it again, and fails the VM only if
 * that fails too.  The layer is never published, and the status is the
 * exit status. */
static void
xfer_end(struct run *r)
{
	uint64_t v;
	int rc;

	if (read(r->x.efd, &v, sizeof(v)) != sizeof(v) && errno == EAGAIN)
		return;
	r->xfer_ended = true;
	rc = pager_xfer_wait(&r->x);
	if (rc == 0 && (rc = pager_done_publish(&r->st)) == 0) {
		log_info("every layer is complete locally");
		if (!r->hung && pager_send(r->cfd, PAGER_DONE, 0, 0, NULL) == -1)
			hang_up(r);
	} else if (rc != 0) {
		log_warnx("the transfer failed (status %d)%s", rc, r->hung ? "" :
		    ": the VM goes on while it touches only pages already here");
	}
	r->xfer_rc = rc;
}

static int
faults(struct run *r)
{
	struct uffd_msg m[16];
	ssize_t n = read(r->sv.mem.uffd, m, sizeof(m));
	int rc;

	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 :
		    pager_fail(&r->err, EX_OSERR, "reading the userfaultfd: %s",
		    strerror(errno));
	for (size_t i = 0; i < (size_t)n / sizeof(m[0]); i++) {
		if (m[i].event != UFFD_EVENT_PAGEFAULT)
			continue;	/* none asked for (features 0) */
		rc = pager_fault(&r->sv, m[i].arg.pagefault.address, &r->err);
		if (rc == PAGER_GONE) {
			hang_up(r);
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The runner says nothing after its HELLO: anything but a hangup is a
 * runner out of step. */
static int
runner_says(struct run *r)
{
	char b[64];
	ssize_t n = recv(r->cfd, b, sizeof(b), MSG_DONTWAIT);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		hang_up(r);
		return 0;
	}
	return pager_fail(&r->err, EX_PROTOCOL, "the runner sent a message "
	    "after its HELLO");
}

static int
serve(struct run *r)
{
	struct pollfd p[3];
	int rc;

	for (;;) {
		if (*r->o->cancel)
			return EX_TEMPFAIL;
		if (r->hung && r->xfer_ended)
			return r->xfer_rc;
		p[0] = (struct pollfd){ r->hung ? -1 : r->sv.mem.uffd, POLLIN, 0 };
		p[1] = (struct pollfd){ r->hung ? -1 : r->cfd, POLLIN, 0 };
		p[2] = (struct pollfd){ r->xfer_ended ? -1 : r->x.efd, POLLIN, 0 };
		if (poll(p, 3, 500) == -1) {
			if (errno == EINTR)
				continue;
			return pager_fail(&r->err, EX_OSERR, "poll: %s",
			    strerror(errno));
		}
		if (p[2].revents)
			xfer_end(r);
		if (p[0].revents && (rc = faults(r)) != 0)
			return rc;
		if (p[1].revents && !r->hung && (rc = runner_says(r)) != 0)
			return rc;
	}
}

/* The chunk buffer: the largest chunk of the stack, page-aligned. */
static int
prepare(struct run *r)
{
	size_t len = S3LAYER_CHUNK;

	for (int i = 0; i < r->st.n; i++)
		if (r->st.layer[i].idx.chunk_size > len)
			len = (size_t)r->st.layer[i].idx.chunk_size;
	r->sv.st = &r->st;
	r->sv.buflen = len;
	if ((r->sv.buf = aligned_alloc(PAGER_PAGE, len)) == NULL) {
		log_warn("a chunk's buffer");
		return EX_OSERR;
	}
	return 0;
}

/* Where the runner loads the layers from, on stdout for whoever started
 * the server, once it can be connected to. */
static int
announce(struct run *r)
{
	printf("load-dir ");
	for (int i = 0; i < r->st.n; i++)
		printf("%s%s", i ? "," : "", pager_layer_dir(&r->st.layer[i]));
	printf("\n");
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("stdout");
		return EX_IOERR;
	}
	return 0;
}

static int
start(struct run *r)
{
	uint64_t n = 0;
	int rc;

	if ((rc = pager_stack_open(&r->st, r->o->layers, r->o->nlayers)) != 0 ||
	    (rc = prepare(r)) != 0)
		return rc;
	if ((r->lfd = pager_listen(r->o->socket)) == -1)
		return EX_CANTCREAT;
	if ((rc = announce(r)) != 0 || (rc = pager_xfer_start(&r->x, &r->st)) != 0)
		return rc;
	r->xfer_started = true;
	if ((rc = pager_accept(r->lfd, &r->st, r->o->cancel, &r->cfd,
	    &r->sv.mem, &r->err)) != 0)
		return rc;
	close(r->lfd);
	r->lfd = -1;
	unlink(r->o->socket);		/* one runner: nobody else connects */
	if ((rc = pager_ws_install(&r->sv, &n, &r->err)) == PAGER_GONE) {
		hang_up(r);
		return 0;
	}
	if (rc != 0)
		return rc;
	log_info("working set: %ju pages put in", (uintmax_t)n);
	if (pager_send(r->cfd, PAGER_READY, 0, n, NULL) == -1)
		hang_up(r);
	return 0;
}

static void
finish(struct run *r, int rc)
{
	if (rc != 0 && r->err.status != 0 && r->cfd != -1 && !r->hung)
		pager_send(r->cfd, PAGER_ERROR, r->err.status, 0, r->err.msg);
	if (r->xfer_started)
		pager_xfer_stop(&r->x);
	for (int i = 0; i < r->st.n; i++)
		pager_layer_summary(&r->st.layer[i]);
	pager_stack_free(&r->st);	/* what was fetched and is not whole */
	if (r->lfd != -1) {
		close(r->lfd);
		unlink(r->o->socket);
	}
	if (r->cfd != -1)
		close(r->cfd);
	if (r->sv.mem.uffd != -1)
		close(r->sv.mem.uffd);
	free(r->sv.mem.installed);
	free(r->sv.buf);
}

int
pager_run(const struct pager_opts *o)
{
	struct run *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL) {
		log_warn("snappager");
		return EX_OSERR;
	}
	r->o = o;
	r->st.conf = o->conf;
	r->st.cancel = o->cancel;
	r->lfd = r->cfd = r->sv.mem.uffd = -1;
	if ((rc = start(r)) == 0)
		rc = serve(r);
	finish(r, rc);
	free(r);
	return rc;
}
