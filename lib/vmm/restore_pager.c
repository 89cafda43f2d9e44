/*
 * The page server's side of a restore, as the runner sees it.  Once the
 * server has the memory's userfaultfd, a thread that touches a page the
 * server has not put in waits for it, and waits for ever if the server
 * has failed or gone: the watcher does not let that happen.  It ends the
 * whole process at once rather than stopping the VM in order: a stop
 * joins vCPUs that may be waiting on such a page, and the uffd, kept
 * open (mem_uffd.c), must never be closed while a guest could still
 * run.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "mem_uffd.h"
#include "restore_pager.h"
#include "vm.h"

/* On the starter's stack until the watcher has posted sealed. */
struct pager_watch {
	int fd;
	enum jail_seccomp seccomp;
	sem_t sealed;		/* the watcher's filter is loaded */
};

static void *
pager_watch_main(void *arg)
{
	struct pager_watch *w = arg;
	int fd = w->fd, rc;

	/* Named for top -H, ps -L and the kernel's seccomp log. */
	pthread_setname_np(pthread_self(), "pager");
	if (jail_seccomp_load(JAIL_THREAD_PAGER, w->seccomp) == -1) {
		log_warnx("page server: the watcher has no seccomp filter: "
		    "ending the VM");
		_exit(EX_OSERR);
	}
	sem_post(&w->sealed);
	while ((rc = mem_uffd_watch(fd)) == 0)
		;
	log_warnx("page server: guest memory cannot be completed: ending "
	    "the VM with status %d", rc);
	_exit(rc);
}

/* Detached: it ends with the process, or ends it.  Returns once its
 * filter is loaded, so that it is, as every thread's, before the guest
 * runs. */
static int
pager_watch_start(int fd, enum jail_seccomp seccomp)
{
	struct pager_watch w = { .fd = fd, .seccomp = seccomp };
	pthread_attr_t a;
	pthread_t t;
	int e;

	if (sem_init(&w.sealed, 0, 0) == -1) {
		log_warn("page server: starting the watcher");
		return -1;
	}
	if ((e = pthread_attr_init(&a)) == 0) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		e = pthread_create(&t, &a, pager_watch_main, &w);
		pthread_attr_destroy(&a);
	}
	while (e == 0 && sem_wait(&w.sealed) == -1 && errno == EINTR)
		;
	sem_destroy(&w.sealed);
	if (e != 0) {
		errno = e;
		log_warn("page server: starting the watcher");
		return -1;
	}
	return 0;
}

int
restore_pager_attach(struct vm *vm, const struct vm_config *cfg,
    const struct snap_meta *m, int n)
{
	char ids[SNAP_MAX_LAYERS][DIGEST_HEX];
	struct pager_reply r;
	int fd, rc;

	for (int i = 0; i < n && i < SNAP_MAX_LAYERS; i++)
		memcpy(ids[i], m[i].id, DIGEST_HEX);
	rc = mem_uffd_attach(&vm->mem, cfg->page_server, ids, n, &r, &fd);
	if (rc != 0)
		return vm_fail(vm, rc);
	phase_mark(vm->phases, PHASE_MEMORY_MAPPED, true);
	if (r.pages > 0)
		phase_mark(vm->phases, PHASE_WORKSET_READ, true);
	log_debug("page server %s: ready, %ju pages of the working set in",
	    cfg->page_server, (uintmax_t)r.pages);
	if (pager_watch_start(fd, cfg->seccomp) == -1) {
		close(fd);
		return vm_fail(vm, EX_OSERR);
	}
	return 0;
}
