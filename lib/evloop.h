/*
 * The device I/O thread: one epoll loop that serves every host fd the
 * devices wait on (queue notifications, backends).  Callbacks run on the
 * loop thread only, so a device's backend state needs no lock of its own
 * against other callbacks.
 */
#ifndef SNAPVM_EVLOOP_H
#define SNAPVM_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void evloop_fn(void *opaque, int fd, uint32_t events);

#define EVLOOP_MAX	64

struct evloop_handler {
	int fd;
	evloop_fn *fn;
	void *opaque;
};

struct evloop {
	int epfd;
	int stop_fd;
	bool started;
	pthread_t thread;
	pthread_mutex_t lock;
	struct evloop_handler h[EVLOOP_MAX];
};

int evloop_init(struct evloop *l);
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn *fn,
    void *opaque);
int evloop_del(struct evloop *l, int fd);
int evloop_start(struct evloop *l);
void evloop_stop(struct evloop *l);
void evloop_destroy(struct evloop *l);

#endif
