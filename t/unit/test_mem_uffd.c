/*
 * The runner's side of the page-server protocol against a fake server
 * thread: the userfaultfd arrives with the HELLO, pages put in before
 * READY are there, a fault is served while the test reads, and every
 * way a server can fail ends in the status the VM must end with.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mem_uffd.h"
#include "restore_pager.h"
#include "unit.h"

#define T_MIB		16
#define T_FAULT_PAGE	1000

/* What the fake server does after the HELLO. */
enum fake_script {
	FAKE_SERVE,		/* page 0 in, READY, then as told on go */
	FAKE_HANGUP,		/* closes without a word */
	FAKE_GARBAGE,		/* a packet that is no reply */
	FAKE_ERROR,		/* ERROR 65 */
	FAKE_DONE,		/* DONE before READY */
	FAKE_TOO_MANY,		/* READY for more pages than memory has */
	FAKE_WITH_FD,		/* READY with a descriptor along */
};

struct fake {
	char dir[64], path[96];
	enum fake_script script;
	int lfd, conn, uffd;
	int go[2];		/* the test's orders: D, E, F, G, H */
	pthread_t thread;
	struct pager_hello hello;
	int hello_ok;
	atomic_int faults;	/* received, each then served */
	/* The runner's side, in the test's thread. */
	struct mem m;
	struct pager_reply r;
	int fd;
};

static char ids[2][DIGEST_HEX] = {
	"1111111111111111111111111111111111111111111111111111111111111111",
	"abcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdefabcdef0123",
};

/* The contents the server gives page p. */
static void
page_of(uint64_t p, uint8_t *buf)
{
	for (int i = 0; i < PAGER_PAGE; i++)
		buf[i] = (uint8_t)(p * 7 + (uint64_t)i * 13 + 1);
}

static void
fake_send(struct fake *f, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd != -1) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &fd, sizeof(int));
	}
	if (sendmsg(f->conn, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		perror("fake server: sendmsg");
}

static void
fake_reply(struct fake *f, enum pager_type type, uint32_t status,
    uint64_t pages, const char *message)
{
	struct pager_reply r;

	pagerproto_reply_init(&r, type);
	r.status = status;
	r.pages = pages;
	if (message != NULL)
		snprintf(r.message, sizeof(r.message), "%s", message);
	fake_send(f, &r, sizeof(r), -1);
}

static int
fake_copy(struct fake *f, uint64_t addr)
{
	uint8_t page[PAGER_PAGE];
	struct uffdio_copy c = { .dst = addr & ~(uint64_t)(PAGER_PAGE - 1),
	    .src = (uint64_t)(uintptr_t)page, .len = PAGER_PAGE };

	page_of((c.dst - f->hello.base) / PAGER_PAGE, page);
	if (ioctl(f->uffd, UFFDIO_COPY, &c) == -1) {
		perror("fake server: UFFDIO_COPY");
		return -1;
	}
	return 0;
}

/* The HELLO and its descriptor, checked as a real server would. */
static void
fake_hello(struct fake *f)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	unsigned char buf[sizeof(struct pager_hello) + 1];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	char why[160];
	ssize_t len = recvmsg(f->conn, &msg, MSG_CMSG_CLOEXEC);

	c = CMSG_FIRSTHDR(&msg);
	if (len > 0 && c != NULL && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&f->uffd, CMSG_DATA(c), sizeof(int));
	f->hello_ok = len > 0 && pagerproto_check_hello(buf, (size_t)len,
	    &f->hello, why, sizeof(why)) == 0 && f->uffd != -1;
}

/* Faults and the test's orders until one ends the connection. */
static void
fake_serve(struct fake *f)
{
	struct pollfd p[2] = { { f->uffd, POLLIN, 0 }, { f->go[0], POLLIN, 0 } };
	struct uffd_msg m;
	char order;

	for (;;) {
		if (poll(p, 2, -1) == -1)
			return;
		if (p[0].revents & POLLIN) {
			/* Counted first: the copy wakes the reader. */
			if (read(f->uffd, &m, sizeof(m)) == (ssize_t)sizeof(m) &&
			    m.event == UFFD_EVENT_PAGEFAULT) {
				atomic_fetch_add(&f->faults, 1);
				fake_copy(f, m.arg.pagefault.address);
			}
		}
		if (!(p[1].revents & POLLIN))
			continue;
		if (read(f->go[0], &order, 1) != 1)
			return;
		if (order == 'D')
			fake_reply(f, PAGER_DONE, 0, 0, NULL);
		if (order == 'E')
			fake_reply(f, PAGER_ERROR, EX_DATAERR, 0,
			    "memory: chunk 3: not the index's digest");
		if (order == 'F') {
			struct pager_reply r;

			pagerproto_reply_init(&r, PAGER_DONE);
			fake_send(f, &r, sizeof(r), f->go[0]);
		}
		if (order == 'G')
			fake_send(f, "garbage", 7, -1);
		if (strchr("EFGH", order) != NULL)
			return;
	}
}

static void
fake_script_run(struct fake *f)
{
	uint64_t pages = f->hello.bytes / PAGER_PAGE;

	switch (f->script) {
	case FAKE_SERVE:
		if (fake_copy(f, f->hello.base) == 0) {
			fake_reply(f, PAGER_READY, 0, 1, NULL);
			fake_serve(f);
		}
		break;
	case FAKE_HANGUP:
		break;
	case FAKE_GARBAGE:
		fake_send(f, "SNAPVMPG", 8, -1);
		break;
	case FAKE_ERROR:
		fake_reply(f, PAGER_ERROR, EX_DATAERR, 0,
		    "s3://b/l: the index is version 2: put the layer again");
		break;
	case FAKE_DONE:
		fake_reply(f, PAGER_DONE, 0, 0, NULL);
		break;
	case FAKE_TOO_MANY:
		fake_reply(f, PAGER_READY, 0, pages + 1, NULL);
		break;
	case FAKE_WITH_FD: {
		struct pager_reply r;

		pagerproto_reply_init(&r, PAGER_READY);
		fake_send(f, &r, sizeof(r), f->go[0]);
		break;
	}
	}
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	if ((f->conn = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return NULL;
	fake_hello(f);
	if (f->hello_ok)
		fake_script_run(f);
	close(f->conn);
	if (f->uffd != -1)
		close(f->uffd);
	return NULL;
}

static int
fake_start(struct fake *f, enum fake_script script)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->script = script;
	f->uffd = f->conn = f->fd = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_mem_uffd.XXXXXX");
	if (mkdtemp(f->dir) == NULL || pipe2(f->go, O_CLOEXEC) == -1)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/pager.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (f->lfd == -1 || bind(f->lfd, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1 || listen(f->lfd, 1) == -1)
		return -1;
	return pthread_create(&f->thread, NULL, fake_main, f) == 0 ? 0 : -1;
}

static void
fake_order(struct fake *f, char order)
{
	if (write(f->go[1], &order, 1) != 1)
		perror("fake server: order");
}

/* Ends the server (an order past its end goes unread) and cleans up,
 * the runner's side too. */
static void
fake_stop(struct fake *f)
{
	if (f->fd != -1)
		close(f->fd);
	fake_order(f, 'H');
	pthread_join(f->thread, NULL);
	mem_destroy(&f->m);
	close(f->lfd);
	close(f->go[0]);
	close(f->go[1]);
	unlink(f->path);
	rmdir(f->dir);
}

/* Whether this host gives a userfaultfd that catches the kernel's
 * faults, by the calls mem_uffd.c makes; if so, the test is given 30
 * seconds. */
static int
uffd_begin(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC), dev;

	if (fd == -1 && errno == EPERM &&
	    (dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)) != -1) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
		close(dev);
	}
	if (fd == -1) {
		unit_skip("no userfaultfd on this host");
		return 0;
	}
	close(fd);
	alarm(30);
	return 1;
}

/* Attaches the runner's side to a server that follows script; the
 * attach's status. */
static int
attach_to(struct fake *f, enum fake_script script)
{
	CHECK_EQ(fake_start(f, script), 0);
	CHECK_EQ(mem_create(&f->m, T_MIB), 0);
	return mem_uffd_attach(&f->m, f->path, ids, 2, &f->r, &f->fd);
}

static void
test_serve(void)
{
	uint8_t want[PAGER_PAGE], got[PAGER_PAGE];
	struct fake f;

	if (!uffd_begin())
		return;
	CHECK_EQ(attach_to(&f, FAKE_SERVE), 0);
	CHECK(f.fd != -1);
	CHECK_EQ(f.r.type, PAGER_READY);
	CHECK_EQ(f.r.pages, 1);
	CHECK(f.hello_ok);
	CHECK_EQ(f.hello.base, (uintptr_t)f.m.base);
	CHECK_EQ(f.hello.bytes, T_MIB << 20);
	CHECK_EQ(f.hello.nlayers, 2);
	CHECK(memcmp(f.hello.id[0], ids[0], 64) == 0);
	CHECK(memcmp(f.hello.id[1], ids[1], 64) == 0);
	/* Page 0 went in before READY: no fault. */
	page_of(0, want);
	CHECK(memcmp(f.m.base, want, PAGER_PAGE) == 0);
	CHECK_EQ(atomic_load(&f.faults), 0);
	/* Page T_FAULT_PAGE comes in when read, once. */
	page_of(T_FAULT_PAGE, want);
	CHECK_EQ(mem_read(&f.m, T_FAULT_PAGE * PAGER_PAGE, got, PAGER_PAGE), 0);
	CHECK(memcmp(got, want, PAGER_PAGE) == 0);
	CHECK_EQ(f.m.base[T_FAULT_PAGE * PAGER_PAGE + 5], want[5]);
	CHECK_EQ(atomic_load(&f.faults), 1);
	/* DONE keeps the watch going; an ERROR ends it with its status. */
	fake_order(&f, 'D');
	CHECK_EQ(mem_uffd_watch(f.fd), 0);
	fake_order(&f, 'E');
	unit_catch_stderr();
	CHECK_EQ(mem_uffd_watch(f.fd), EX_DATAERR);
	CHECK_EQ(unit_release_stderr("page server: memory: chunk 3: not the "
	    "index's digest"), 1);
	fake_stop(&f);
	alarm(0);
}

/* How the watch ends after READY, by the server's last order. */
static const struct {
	char order;
	int status;
	const char *log;
} watch_ends[] = {
	{ 'E', EX_DATAERR, "page server: memory: chunk 3" },
	{ 'H', EX_UNAVAILABLE, "page server hung up" },
	{ 'G', EX_PROTOCOL, "not a valid reply: a reply is 288 bytes, the "
	    "packet 7" },
	{ 'F', EX_PROTOCOL, "a reply with descriptors" },
};
#define N_WATCH_ENDS	(sizeof(watch_ends) / sizeof(watch_ends[0]))

static void
test_watch_fails(void)
{
	struct fake f;
	int before;

	if (!uffd_begin())
		return;
	for (size_t i = 0; i < N_WATCH_ENDS; i++) {
		before = unit_open_fds();
		CHECK_EQ(attach_to(&f, FAKE_SERVE), 0);
		fake_order(&f, watch_ends[i].order);
		unit_catch_stderr();
		CHECK_EQ(mem_uffd_watch(f.fd), watch_ends[i].status);
		CHECK_EQ(unit_release_stderr(watch_ends[i].log), 1);
		fake_stop(&f);
		/* The uffd stays open for good; a descriptor sent along is
		 * closed. */
		CHECK_EQ(unit_open_fds(), before + 1);
	}
	alarm(0);
}

/* Every first reply but a good READY fails the attach with its status,
 * a message, and no descriptor left open. */
static void
test_attach_fails(void)
{
	static const struct {
		enum fake_script script;
		int status;
		const char *log;
	} c[] = {
		{ FAKE_HANGUP, EX_UNAVAILABLE, "page server hung up" },
		{ FAKE_GARBAGE, EX_PROTOCOL, "a reply is 288 bytes, the packet 8" },
		{ FAKE_ERROR, EX_DATAERR, "page server: s3://b/l: the index is "
		    "version 2" },
		{ FAKE_DONE, EX_PROTOCOL, "DONE before READY" },
		{ FAKE_TOO_MANY, EX_PROTOCOL, "field pages: 4097, memory has "
		    "4096" },
		{ FAKE_WITH_FD, EX_PROTOCOL, "with descriptors" },
	};
	struct fake f;
	int before;

	if (!uffd_begin())
		return;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		before = unit_open_fds();
		unit_catch_stderr();
		CHECK_EQ(attach_to(&f, c[i].script), c[i].status);
		CHECK_EQ(unit_release_stderr(c[i].log), 1);
		CHECK_EQ(f.fd, -1);
		fake_stop(&f);
		CHECK(f.hello_ok);
		CHECK_EQ(unit_open_fds(), before);
	}
	alarm(0);
}

/* No server at the path, or a path no socket can have. */
static void
test_no_server(void)
{
	char sock[200];
	struct pager_reply r;
	struct mem m;
	int fd = 0, before = unit_open_fds();

	if (!uffd_begin())
		return;
	CHECK_EQ(mem_create(&m, T_MIB), 0);
	unit_catch_stderr();
	CHECK_EQ(mem_uffd_attach(&m, "/nonexistent/pager.sock", ids, 2, &r, &fd),
	    EX_UNAVAILABLE);
	CHECK_EQ(unit_release_stderr("page server /nonexistent/pager.sock: "
	    "connect"), 1);
	CHECK_EQ(fd, -1);
	memset(sock, 'a', sizeof(sock) - 1);
	sock[sizeof(sock) - 1] = '\0';
	unit_catch_stderr();
	CHECK_EQ(mem_uffd_attach(&m, sock, ids, 2, &r, &fd), EX_USAGE);
	CHECK_EQ(unit_release_stderr("a socket path has 1 to 107 bytes"), 1);
	CHECK_EQ(unit_open_fds(), before);
	mem_destroy(&m);
	alarm(0);
}

/* A runner's restore in a child: memory attached, a page read through
 * a fault, then the server told to end with order; the child waits for
 * its watcher to end it (or for the alarm). */
static void
child_restore(struct fake *f, char order)
{
	struct vm_config cfg = { .page_server = f->path,
	    .seccomp = JAIL_SECCOMP_KILL };
	struct snap_meta *m = calloc(2, sizeof(*m));
	struct vm *vm = calloc(1, sizeof(*vm));
	uint8_t want[PAGER_PAGE];

	alarm(30);
	if (m == NULL || vm == NULL || mem_create(&vm->mem, T_MIB) == -1)
		_exit(1);
	memcpy(m[0].id, ids[0], DIGEST_HEX);
	memcpy(m[1].id, ids[1], DIGEST_HEX);
	if (restore_pager_attach(vm, &cfg, m, 2) == -1)
		_exit(2);
	page_of(T_FAULT_PAGE, want);
	if (memcmp(vm->mem.base + T_FAULT_PAGE * PAGER_PAGE, want,
	    PAGER_PAGE) != 0)
		_exit(3);
	fake_order(f, order);
	for (;;)
		pause();
}

/* Under its seccomp filter (kill), with the messages it logs. */
static void
test_restore_watcher(void)
{
	struct fake f;
	pid_t pid;
	int st = -1;

	if (!uffd_begin())
		return;
	alarm(60);
	for (size_t i = 0; i < N_WATCH_ENDS; i++) {
		CHECK_EQ(fake_start(&f, FAKE_SERVE), 0);
		unit_catch_stderr();
		if ((pid = fork()) == 0)
			child_restore(&f, watch_ends[i].order);
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		CHECK_EQ(unit_release_stderr(watch_ends[i].log), 1);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == watch_ends[i].status);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != watch_ends[i].status)
			printf("#   wait status %#x\n", st);
		CHECK_EQ(atomic_load(&f.faults), 1);
		fake_stop(&f);
	}
	alarm(0);
}

static const struct unit_test tests[] = {
	{ "mem_uffd: HELLO with the uffd, READY, a fault served, DONE, ERROR",
	  test_serve },
	{ "mem_uffd: an ERROR, hangup, garbage or a descriptor after READY",
	  test_watch_fails },
	{ "mem_uffd: no READY first fails the attach, nothing left open",
	  test_attach_fails },
	{ "mem_uffd: no server, or a socket path too long", test_no_server },
	{ "restore_pager: the watcher ends the runner with the server's status",
	  test_restore_watcher },
};

UNIT_MAIN(tests)
