#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

int
evloop_init(struct evloop *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = EVLOOP_MAX };

	memset(l, 0, sizeof(*l));
	l->epfd = l->stop_fd = -1;
	for (int i = 0; i < EVLOOP_MAX; i++)
		l->h[i].fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (l->stop_fd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &ev) == -1) {
		log_warn("epoll");
		return -1;
	}
	return 0;
}

int
evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn *fn,
    void *opaque)
{
	struct epoll_event ev = { .events = events };
	int slot = -1;

	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < EVLOOP_MAX && slot == -1; i++)
		if (l->h[i].fd == -1)
			slot = i;
	if (slot != -1) {
		l->h[slot] = (struct evloop_handler){ fd, fn, opaque };
		ev.data.u32 = (uint32_t)slot;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			l->h[slot].fd = -1;
			slot = -2;
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (slot < 0) {
		if (slot == -1)
			errno = ENOSPC;
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
	for (int i = 0; i < EVLOOP_MAX; i++) {
		if (l->h[i].fd != fd)
			continue;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->h[i].fd = -1;
		rc = 0;
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

static void *
evloop_thread(void *arg)
{
	struct evloop *l = arg;
	struct epoll_event ev[16];
	int n;

	for (;;) {
		n = epoll_wait(l->epfd, ev, 16, -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("epoll_wait");
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct evloop_handler h;

			if (ev[i].data.u32 == EVLOOP_MAX)
				return NULL;
			pthread_mutex_lock(&l->lock);
			h = l->h[ev[i].data.u32];
			pthread_mutex_unlock(&l->lock);
			if (h.fd != -1)
				h.fn(h.opaque, h.fd, ev[i].events);
		}
	}
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
	pthread_mutex_destroy(&l->lock);
}
