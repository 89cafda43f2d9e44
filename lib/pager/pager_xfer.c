/*
 * The background transfer: a few threads, each with its own connections,
 * fetch every chunk still absent in object order, while faults fetch the
 * chunks the guest wants ahead of them.  The last thread to end checks
 * each fetched layer against its manifest and syncs it, then makes the
 * eventfd readable.  The first failure stops the others.  The threads
 * run at the lowest priority: the restore they feed (its vCPUs, the
 * faults' fetches) comes first on a busy host.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "pager.h"

static void
xfer_fail(struct pager_xfer *x, const struct pager_err *e)
{
	pthread_mutex_lock(&x->st->mu);
	/* A thread that gave up because another failed does not hide the
	 * reason. */
	if (x->err.status == 0 || (x->err.status == EX_TEMPFAIL &&
	    e->status != EX_TEMPFAIL))
		x->err = *e;
	pthread_mutex_unlock(&x->st->mu);
	atomic_store(&x->stop, 1);
}

/* Each file of a fetched layer, as a restore would read it. */
static int
check_layer(struct pager_layer *l, struct pager_err *e)
{
	if (snapmeta_verify(l->tmp, &l->m) == -1)
		return pager_fail(e, EX_DATAERR, "%s: the layer fetched into %s "
		    "is not what its manifest says", l->spec, l->tmp);
	if (fsync(l->mem_fd) == -1 || file_sync_dir(l->tmp) == -1)
		return pager_fail(e, EX_IOERR, "%s: %s", l->tmp,
		    strerror(errno));
	return 0;
}

static void
finish(struct pager_xfer *x)
{
	struct pager_stack *st = x->st;
	struct pager_err e = { 0 };
	size_t missing;

	if (x->err.status != 0)	/* no thread is left to change it */
		return;
	if (atomic_load(&x->stop)) {
		pager_fail(&e, EX_TEMPFAIL, "the transfer was stopped");
		xfer_fail(x, &e);
		return;
	}
	if ((missing = pager_chunk_missing(st)) > 0) {
		pager_fail(&e, EX_SOFTWARE, "%zu chunks missing at the "
		    "transfer's end", missing);
		xfer_fail(x, &e);
		return;
	}
	for (int i = 0; i < st->n; i++)
		if (st->layer[i].tmp[0] != '\0' &&
		    check_layer(&st->layer[i], &e) != 0) {
			xfer_fail(x, &e);
			return;
		}
	x->checked = true;
}

static void
close_conns(struct s3 *s, int n)
{
	for (int i = 0; i < n; i++)
		s3_close(&s[i]);	/* none made: nothing done */
}

/* One for each layer being fetched. */
static int
open_conns(struct pager_xfer *x, struct s3 *s)
{
	struct pager_stack *st = x->st;

	memset(s, 0, sizeof(*s) * (size_t)st->n);
	for (int i = 0; i < st->n; i++) {
		if (st->layer[i].tmp[0] == '\0')
			continue;
		if (s3_open(&s[i], st->conf, st->layer[i].uri.bucket) == -1) {
			close_conns(s, i);
			return -1;
		}
		s[i].stop = &x->stop;
		s[i].pace = &st->pace;
		s[i].count = &st->layer[i].net;
	}
	return 0;
}

static void
end_thread(struct pager_xfer *x)
{
	uint64_t one = 1;
	bool last;

	pthread_mutex_lock(&x->st->mu);
	last = --x->running == 0;
	pthread_mutex_unlock(&x->st->mu);
	if (!last)
		return;
	finish(x);
	if (write(x->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("transfer: eventfd");
}

static void *
worker(void *arg)
{
	struct pager_xfer *x = arg;
	struct pager_err e = { 0 };
	struct s3 s[SNAP_MAX_LAYERS];
	size_t c;
	int li;

	/* Linux keeps a nice value per thread.  Only slower if refused. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), PAGER_XFER_NICE) == -1)
		log_debug("transfer: setpriority: %s", strerror(errno));
	if (open_conns(x, s) == -1) {
		pager_fail(&e, EX_OSERR, "transfer: cannot make a connection");
		xfer_fail(x, &e);
		end_thread(x);
		return NULL;
	}
	while (!atomic_load(&x->stop) && pager_chunk_claim(x->st, &li, &c))
		if (pager_chunk_fetch(x->st, &x->st->layer[li], c,
		    PAGER_BY_XFER, &s[li], &e) != 0) {
			xfer_fail(x, &e);
			break;
		}
	close_conns(s, x->st->n);
	end_thread(x);
	return NULL;
}

static int
threads(struct pager_xfer *x)
{
	sigset_t all, old;
	int started;

	/* Signals are the main thread's: its poll must see them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	x->running = x->nthreads;
	for (started = 0; started < x->nthreads; started++)
		if ((errno = pthread_create(&x->t[started], NULL, worker,
		    x)) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started == x->nthreads)
		return 0;
	log_warn("transfer: pthread_create");
	atomic_store(&x->stop, 1);
	pthread_mutex_lock(&x->st->mu);
	x->running -= x->nthreads - started;
	pthread_mutex_unlock(&x->st->mu);
	for (int i = 0; i < started; i++)
		pthread_join(x->t[i], NULL);
	x->nthreads = 0;
	return EX_OSERR;
}

int
pager_xfer_start(struct pager_xfer *x, struct pager_stack *st)
{
	uint64_t one = 1;
	bool fetching = false;

	memset(x, 0, sizeof(*x));
	x->st = st;
	if ((x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		log_warn("eventfd");
		return EX_OSERR;
	}
	for (int i = 0; i < st->n; i++)
		fetching |= st->layer[i].tmp[0] != '\0';
	if (!fetching) {
		x->checked = true;
		return write(x->efd, &one, sizeof(one)) == sizeof(one) ? 0 :
		    EX_OSERR;
	}
	x->nthreads = st->conf->jobs < PAGER_XFER_MAX ? (int)st->conf->jobs :
	    PAGER_XFER_MAX;
	if (x->nthreads < 1)
		x->nthreads = 1;
	return threads(x);
}

static void
join(struct pager_xfer *x)
{
	for (int i = 0; i < x->nthreads; i++)
		pthread_join(x->t[i], NULL);
	x->nthreads = 0;
}

void
pager_xfer_stop(struct pager_xfer *x)
{
	atomic_store(&x->stop, 1);
	join(x);
	if (x->efd != -1)
		close(x->efd);
	x->efd = -1;
}

int
pager_xfer_wait(struct pager_xfer *x)
{
	join(x);
	if (x->checked)
		return 0;
	return x->err.status != 0 ? x->err.status : EX_SOFTWARE;
}
