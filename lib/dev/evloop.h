/*
 * The device I/O thread: one epoll loop that serves every host fd the
 * devices wait on (queue notifications, backends, vsock connections).
 * Callbacks run on the loop thread only, so a device's backend state
 * needs no lock of its own against other callbacks.
 *
 * The handler table grows as fds are added, up to EVLOOP_MAX, so that one
 * user with many fds (vsock connections, which the vsock device bounds
 * itself) cannot take the room another device needs.  An event is
 * delivered only to the handler it was registered for: a slot freed and
 * reused while events for its old fd are pending does not see them.
 */
#ifndef SNAPVM_EVLOOP_H
#define SNAPVM_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void evloop_fn(void *opaque, int fd, uint32_t events);

#define EVLOOP_MAX	4096		/* fds one loop serves at most */

struct evloop_handler {
	int fd;				/* -1: free slot */
	uint32_t gen;			/* of the registration, see above */
	evloop_fn *fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int stop_fd;
	bool started;
	pthread_t thread;
	pthread_mutex_t lock;
	struct evloop_handler *h;
	uint32_t cap;			/* slots in h */
	uint32_t gen;			/* last registration number given */
	/* Called first on the loop thread, if set: -1 ends the thread. */
	int (*enter)(void *arg);
	void *enter_arg;
};

int evloop_init(struct evloop *l);
/* -1 (errno ENOSPC past EVLOOP_MAX, or epoll's) when fd cannot be served. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn *fn,
    void *opaque);
int evloop_del(struct evloop *l, int fd);
/* Waits up to timeout_ms (-1: for ever) and runs once the handler of each
 * fd that is ready: how many ran, or -1 on error or after evloop_stop.
 * The loop thread is this in a loop; tests call it on a loop that was
 * never started, to run a device's callbacks one notification at a time. */
int evloop_turn(struct evloop *l, int timeout_ms);
int evloop_start(struct evloop *l);
void evloop_stop(struct evloop *l);
void evloop_destroy(struct evloop *l);

#endif
