#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define EVLOOP_STOP	UINT64_MAX	/* epoll data of the stop eventfd */
#define EVLOOP_FIRST	32		/* slots before the first growth */

int
evloop_init(struct evloop *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EVLOOP_STOP };

	memset(l, 0, sizeof(*l));
	l->epfd = l->stop_fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (l->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &ev) == -1) {
		log_warn("epoll");
		return -1;
	}
	return 0;
}

/* A free slot, growing the table if there is none; -1 at EVLOOP_MAX. */
static int
evloop_slot(struct evloop *l)
{
	struct evloop_handler *h;
	uint32_t cap;

	for (uint32_t i = 0; i < l->cap; i++)
		if (l->h[i].fd == -1)
			return (int)i;
	if (l->cap == EVLOOP_MAX)
		return -1;
	cap = l->cap ? l->cap * 2 : EVLOOP_FIRST;
	if (cap > EVLOOP_MAX)
		cap = EVLOOP_MAX;
	if ((h = realloc(l->h, cap * sizeof(*h))) == NULL)
		return -1;
	for (uint32_t i = l->cap; i < cap; i++)
		h[i].fd = -1;
	l->h = h;
	l->cap = cap;
	return evloop_slot(l);
}

int
evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn *fn,
    void *opaque)
{
	struct epoll_event ev = { .events = events };
	int slot, err = ENOSPC;

	pthread_mutex_lock(&l->lock);
	if ((slot = evloop_slot(l)) != -1) {
		l->h[slot] = (struct evloop_handler){ fd, ++l->gen, fn, opaque };
		ev.data.u64 = (uint64_t)l->h[slot].gen << 32 | (uint32_t)slot;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			err = errno;
			l->h[slot].fd = -1;
			slot = -1;
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (slot == -1) {
		errno = err;
		log_warn("evloop: fd %d", fd);
		return -1;
	}
	return 0;
}

int
evloop_del(struct evloop *l, int fd)
{
	int rc = -1;

	pthread_mutex_lock(&l->lock);
	for (uint32_t i = 0; i < l->cap; i++) {
		if (l->h[i].fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->h[i].fd = -1;
		rc = 0;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

/* The handler an event was registered for, or one with fd -1. */
static struct evloop_handler
evloop_lookup(struct evloop *l, uint64_t data)
{
	struct evloop_handler h = { .fd = -1 };
	uint32_t slot = (uint32_t)data, gen = (uint32_t)(data >> 32);

	pthread_mutex_lock(&l->lock);
	if (slot < l->cap && l->h[slot].gen == gen)
		h = l->h[slot];
	pthread_mutex_unlock(&l->lock);
	return h;
}

int
evloop_turn(struct evloop *l, int timeout_ms)
{
	struct epoll_event ev[16];
	int n, ran = 0;

	do
		n = epoll_wait(l->epfd, ev, 16, timeout_ms);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_warn("epoll_wait");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct evloop_handler h;

		if (ev[i].data.u64 == EVLOOP_STOP)
			return -1;
		h = evloop_lookup(l, ev[i].data.u64);
		if (h.fd != -1) {
			h.fn(h.opaque, h.fd, ev[i].events);
			ran++;
		}
	}
	return ran;
}

static void *
evloop_thread(void *arg)
{
	struct evloop *l = arg;

	pthread_setname_np(pthread_self(), "evloop");
	if (l->enter != NULL && l->enter(l->enter_arg) == -1)
		return NULL;
	while (evloop_turn(l, -1) != -1)
		;
	return NULL;
}

int
evloop_start(struct evloop *l)
{
	int e = pthread_create(&l->thread, NULL, evloop_thread, l);

	if (e != 0) {
		errno = e;
		log_warn("pthread_create");
		return -1;
	}
	l->started = true;
	return 0;
}

void
evloop_stop(struct evloop *l)
{
	uint64_t one = 1;

	if (!l->started)
		return;
	if (write(l->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd write");
	pthread_join(l->thread, NULL);
	l->started = false;
}

void
evloop_destroy(struct evloop *l)
{
	if (l->epfd != -1)
		close(l->epfd);
	if (l->stop_fd != -1)
		close(l->stop_fd);
	l->epfd = l->stop_fd = -1;
	free(l->h);
	l->h = NULL;
	l->cap = 0;
	pthread_mutex_destroy(&l->lock);
}
