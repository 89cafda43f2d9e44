/*
 * Guest memory handed to a page server (snapvm-pager(5)).
 *
 * The userfaultfd is never closed here once the server has it: when the
 * last descriptor of a userfaultfd goes, the kernel drops its ranges'
 * registration and fills every page still missing with zeros on its next
 * touch.  A guest would then run on zeros where its memory should be, so
 * the runner keeps its own descriptor until it exits; a server that goes
 * away leaves faulting threads waiting, and the watcher (mem_uffd_watch)
 * ends the process instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "fdpass.h"
#include "file.h"
#include "log.h"
#include "mem_uffd.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW	_IO(0xAA, 0x00)	/* Linux 6.1 */
#endif

/* The calls the server makes on the registered range. */
#define UFFD_NEEDED	((1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | \
    (1ULL << _UFFDIO_WAKE))
/* Room for descriptors in a reply's control buffer: none is valid, but
 * those that come are received to be closed. */
#define RECV_FDS	4

/*
 * A process without CAP_SYS_PTRACE may not have the syscall's
 * descriptors catch the kernel's own faults (vm.unprivileged_userfaultfd
 * 0), and KVM's are kernel faults; /dev/userfaultfd gives such a
 * descriptor to whoever may open the device.
 */
static int
uffd_new(void)
{
	int fd, dev, e;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd != -1 || errno != EPERM)
		return fd;
	if ((dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)) == -1) {
		errno = EPERM;
		return -1;
	}
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	e = errno;
	close(dev);
	errno = e;
	return fd;
}

/* A new userfaultfd with the whole of m registered for missing pages. */
static int
uffd_register(const struct mem *m)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	struct uffdio_register reg = {
		.range = { (uint64_t)(uintptr_t)m->base, m->bytes },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd;

	if ((fd = uffd_new()) == -1) {
		log_warn("userfaultfd (and /dev/userfaultfd)");
		return -1;
	}
	if (ioctl(fd, UFFDIO_API, &api) == -1) {
		log_warn("userfaultfd: UFFDIO_API");
	} else if (ioctl(fd, UFFDIO_REGISTER, &reg) == -1) {
		log_warn("userfaultfd: registering %ju bytes of guest memory",
		    (uintmax_t)m->bytes);
	} else if ((reg.ioctls & UFFD_NEEDED) != UFFD_NEEDED) {
		log_warnx("userfaultfd: guest memory does not take "
		    "UFFDIO_COPY, _ZEROPAGE and _WAKE (ioctls %#jx)",
		    (uintmax_t)reg.ioctls);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

/* A status, or 0 with *fd connected to the server at sock. */
static int
pager_connect(const char *sock, int *fd)
{
	struct sockaddr_un sa;

	if (file_sockaddr(sock, &sa, "--page-server") == -1)
		return EX_USAGE;
	if ((*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return EX_OSERR;
	}
	if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		log_warn("page server %s: connect", sock);
		close(*fd);
		*fd = -1;
		return EX_UNAVAILABLE;
	}
	return 0;
}

/* The HELLO, checked as the server will check it, with the uffd. */
static int
send_hello(int fd, int uffd, const struct mem *m, char (*const ids)[DIGEST_HEX],
    int n, const char *sock)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct pager_hello h, copy;
	struct iovec iov = { &h, sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	char why[160];

	pagerproto_hello_init(&h);
	h.base = (uint64_t)(uintptr_t)m->base;
	h.bytes = m->bytes;
	h.page_size = PAGER_PAGE;
	h.nlayers = n > 0 ? (uint32_t)n : 0;
	for (int i = 0; i < n && i < SNAP_MAX_LAYERS; i++)
		memcpy(h.id[i], ids[i], sizeof(h.id[i]));
	if (pagerproto_check_hello(&h, sizeof(h), &copy, why, sizeof(why)) == -1) {
		log_warnx("page server %s: our own HELLO: %s", sock, why);
		return EX_SOFTWARE;
	}
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &uffd, sizeof(int));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		log_warn("page server %s: sending HELLO", sock);
		return EX_UNAVAILABLE;
	}
	return 0;
}

/* Descriptors the server sent along are closed: they are not ours to
 * keep, and a message that carries any, or other control data, is not
 * one of the protocol's. */
static bool
drop_fds(struct msghdr *msg)
{
	int fds[RECV_FDS], n;
	bool cut;

	n = fdpass_collect(msg, fds, RECV_FDS, &cut);
	fdpass_close(fds, n);
	return cut || CMSG_FIRSTHDR(msg) != NULL;
}

/*
 * The server's next message into *r: 0, or the status the VM ends with,
 * logged (69 for a hangup, 76 for anything not a valid reply, an
 * ERROR's own status).
 */
static int
pager_recv(int fd, struct pager_reply *r)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(RECV_FDS * sizeof(int))];
	} ctl;
	unsigned char buf[sizeof(*r) + 1];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	char why[160];
	ssize_t len;

	do {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		len = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	} while (len == -1 && errno == EINTR);
	if (len == 0 || (len == -1 && errno == ECONNRESET)) {
		log_warnx("page server hung up");
		return EX_UNAVAILABLE;
	}
	if (len == -1) {
		log_warn("page server: receiving");
		return EX_UNAVAILABLE;
	}
	if (drop_fds(&msg)) {
		log_warnx("page server: a reply with descriptors or other "
		    "control data");
		return EX_PROTOCOL;
	}
	if (msg.msg_flags & MSG_TRUNC) {
		log_warnx("page server: a packet of more than %zu bytes, a reply "
		    "is %zu", sizeof(buf), sizeof(*r));
		return EX_PROTOCOL;
	}
	if (pagerproto_check_reply(buf, (size_t)len, r, why, sizeof(why)) == -1) {
		log_warnx("page server: not a valid reply: %s", why);
		return EX_PROTOCOL;
	}
	if (r->type == PAGER_ERROR) {
		log_warnx("page server: %s", r->message);
		return (int)r->status;
	}
	return 0;
}

/* The first reply must be READY, for no more pages than memory has. */
static int
first_reply(int fd, const struct mem *m, struct pager_reply *r)
{
	int rc = pager_recv(fd, r);

	if (rc != 0)
		return rc;
	if (r->type != PAGER_READY) {
		log_warnx("page server: DONE before READY");
		return EX_PROTOCOL;
	}
	if (r->pages > m->bytes / PAGER_PAGE) {
		log_warnx("page server: READY: field pages: %ju, memory has %ju",
		    (uintmax_t)r->pages, (uintmax_t)(m->bytes / PAGER_PAGE));
		return EX_PROTOCOL;
	}
	return 0;
}

int
mem_uffd_attach(const struct mem *m, const char *sock,
    char (*const ids)[DIGEST_HEX], int n, struct pager_reply *r,
    int *sock_fd)
{
	int uffd, fd = -1, rc;

	*sock_fd = -1;
	if ((uffd = uffd_register(m)) == -1)
		return EX_OSERR;
	if ((rc = pager_connect(sock, &fd)) == 0 &&
	    (rc = send_hello(fd, uffd, m, ids, n, sock)) == 0)
		rc = first_reply(fd, m, r);
	if (rc != 0) {
		/* The VM never runs: whatever the server put in is unused. */
		if (fd != -1)
			close(fd);
		close(uffd);
		return rc;
	}
	/* uffd stays open for good: see the top of this file. */
	*sock_fd = fd;
	return 0;
}

int
mem_uffd_watch(int sock_fd)
{
	struct pager_reply r;
	int rc = pager_recv(sock_fd, &r);

	if (rc != 0)
		return rc;
	if (r.type == PAGER_READY) {
		log_warnx("page server: READY a second time");
		return EX_PROTOCOL;
	}
	log_debug("page server: every layer is complete on local disk");
	return 0;
}
