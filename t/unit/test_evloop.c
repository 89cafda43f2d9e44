/*
 * The device I/O loop: its handler table must hold every fd the devices
 * and their connections register, so that no one (a guest opening vsock
 * connections) can use up the room another device needs.
 */
#include <stdint.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "unit.h"

#define NFD	300

static int hits[NFD];

static void
on_event(void *opaque, int fd, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(fd, &v, sizeof(v)) == sizeof(v))
		__atomic_add_fetch((int *)opaque, 1, __ATOMIC_RELAXED);
}

static void
test_many_fds(void)
{
	struct evloop l;
	int fd[NFD], added = 0, seen = 0, gone = 0;
	uint64_t one = 1;

	CHECK_EQ(evloop_init(&l), 0);
	for (int i = 0; i < NFD; i++) {
		fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		added += evloop_add(&l, fd[i], EPOLLIN, on_event, &hits[i]) == 0;
	}
	CHECK_EQ(added, NFD);
	CHECK_EQ(evloop_start(&l), 0);
	for (int i = 0; i < NFD; i++)
		CHECK_EQ(write(fd[i], &one, sizeof(one)), sizeof(one));
	for (int t = 0; t < 2000 && seen < NFD; t++) {
		usleep(1000);
		seen = 0;
		for (int i = 0; i < NFD; i++)
			seen += __atomic_load_n(&hits[i], __ATOMIC_RELAXED) == 1;
	}
	CHECK_EQ(seen, NFD);
	for (int i = 0; i < NFD; i += 2)
		gone += evloop_del(&l, fd[i]) == 0;
	CHECK_EQ(gone, NFD / 2);
	CHECK_EQ(evloop_del(&l, fd[0]), -1);		/* already gone */
	evloop_stop(&l);
	evloop_destroy(&l);
	for (int i = 0; i < NFD; i++)
		close(fd[i]);
}

static void
test_bounded(void)
{
	struct evloop l;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), added = 0;
	struct rlimit rl;

	/* Room for EVLOOP_MAX fds in this process (Debian's hard limit). */
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK(rl.rlim_cur > EVLOOP_MAX + 64);
	CHECK_EQ(evloop_init(&l), 0);
	/* The same fd cannot be registered twice: epoll refuses it. */
	CHECK_EQ(evloop_add(&l, fd, EPOLLIN, on_event, &hits[0]), 0);
	CHECK_EQ(evloop_add(&l, fd, EPOLLIN, on_event, &hits[0]), -1);
	for (int i = 0; i < EVLOOP_MAX + 10; i++) {
		int d = dup(fd);

		if (d != -1 &&
		    evloop_add(&l, d, EPOLLIN, on_event, &hits[0]) == 0)
			added++;
		else if (d != -1)
			close(d);
	}
	CHECK_EQ(added, EVLOOP_MAX - 1);	/* a limit, but not a small one */
	CHECK(EVLOOP_MAX >= 1024);
	evloop_destroy(&l);
	close(fd);
}

static const struct unit_test tests[] = {
	{ "evloop: hundreds of fds, each event delivered to its handler", test_many_fds },
	{ "evloop: the table grows up to EVLOOP_MAX, then refuses", test_bounded },
};

UNIT_MAIN(tests)
