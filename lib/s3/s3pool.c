#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "log.h"
#include "monotime.h"
#include "s3pool.h"

#define PROGRESS_MS	250

struct pool {
	const struct s3pool_opts *o;
	s3pool_fn fn;
	void *ctx;
	size_t n, next;
	int running;
	int rc;				/* first failure */
	struct s3_pace pace;		/* limit_rate, shared */
	pthread_mutex_t mu;
	pthread_cond_t done;
	atomic_int stop;
	_Atomic uint64_t moved;
};

/* Records a failure; a task that gave up because another failed (or a
 * signal came) does not hide the reason. */
static void
fail(struct pool *p, int rc)
{
	pthread_mutex_lock(&p->mu);
	if (p->rc == 0 || (p->rc == EX_TEMPFAIL && rc != EX_TEMPFAIL))
		p->rc = rc;
	pthread_mutex_unlock(&p->mu);
	atomic_store(&p->stop, 1);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	struct s3 s;
	size_t i;
	int rc;

	if (s3_open(&s, p->o->conf, p->o->bucket) == -1) {
		fail(p, EX_OSERR);
	} else {
		s.cancel = p->o->cancel;
		s.stop = &p->stop;
		s.moved = &p->moved;
		s.pace = p->o->pace != NULL ? p->o->pace : &p->pace;
		for (;;) {
			pthread_mutex_lock(&p->mu);
			i = p->next++;
			pthread_mutex_unlock(&p->mu);
			if (i >= p->n || s3_cancelled(&s))
				break;
			if ((rc = p->fn(&s, p->ctx, i)) != 0) {
				fail(p, rc);
				break;
			}
		}
		s3_close(&s);
	}
	pthread_mutex_lock(&p->mu);
	p->running--;
	pthread_cond_signal(&p->done);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
show(const struct pool *p, uint64_t t0, bool last)
{
	const double mib = 1024.0 * 1024.0;
	uint64_t moved = atomic_load(&p->moved), ms = mono_ms() - t0;
	uint64_t total = p->o->total ? p->o->total : 1;

	if (last) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	fprintf(stderr, "\r\033[K%s: %3d%% %.1f of %.1f MiB, %.1f MiB/s",
	    p->o->label, (int)(moved * 100 / total > 100 ? 100 :
	    moved * 100 / total), (double)moved / mib,
	    (double)p->o->total / mib,
	    ms ? (double)moved / mib * 1000.0 / (double)ms : 0.0);
}

/* Waits for the workers, redrawing the progress line meanwhile. */
static void
wait_all(struct pool *p)
{
	uint64_t t0 = mono_ms();
	struct timespec ts;

	pthread_mutex_lock(&p->mu);
	while (p->running > 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += PROGRESS_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->done, &p->mu, &ts);
		if (p->o->progress && p->running > 0)
			show(p, t0, false);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->o->progress)
		show(p, t0, true);
}

int
s3pool_run(const struct s3pool_opts *o, size_t n, s3pool_fn fn, void *ctx,
    uint64_t *moved)
{
	struct pool p = { .o = o, .fn = fn, .ctx = ctx, .n = n };
	size_t nthreads = o->conf->jobs < n ? o->conf->jobs : n;
	pthread_t *t = calloc(nthreads ? nthreads : 1, sizeof(*t));
	size_t started = 0;

	if (t == NULL) {
		log_warn("threads");
		return EX_OSERR;
	}
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.done, NULL);
	p.pace.rate = o->conf->limit_rate;
	p.running = (int)nthreads;
	for (; started < nthreads; started++) {
		if ((errno = pthread_create(&t[started], NULL, worker, &p)) != 0) {
			log_warn("pthread_create");
			pthread_mutex_lock(&p.mu);
			p.running -= (int)(nthreads - started);
			pthread_mutex_unlock(&p.mu);
			fail(&p, EX_OSERR);
			break;
		}
	}
	wait_all(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	pthread_cond_destroy(&p.done);
	pthread_mutex_destroy(&p.mu);
	free(t);
	if (moved != NULL)
		*moved = atomic_load(&p.moved);
	if (p.rc == 0 && o->cancel != NULL && *o->cancel)
		p.rc = EX_TEMPFAIL;
	return p.rc;
}
