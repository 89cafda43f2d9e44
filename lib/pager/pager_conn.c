/*
 * The runner's side of snapvm-pager(5) as the server sees it: one
 * connection on a SOCK_SEQPACKET socket only its owner may use, whose
 * HELLO must name this very stack and carry a userfaultfd.  The runner
 * is as untrusted as the store: every field and the descriptor are
 * checked before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "fdpass.h"
#include "file.h"
#include "log.h"
#include "pager.h"

#define HELLO_MS	30000	/* from the connection to its HELLO */
#define MAX_FDS		8	/* received to be closed, beyond the one */

int
pager_listen(const char *path)
{
	struct sockaddr_un a;
	mode_t mask;
	int fd, rc;

	if (file_sockaddr(path, &a, "page server socket") == -1 ||
	    file_claim_socket(path, SOCK_SEQPACKET,
	    "another page server listens") == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	mask = umask(0177);	/* no moment at which others may connect */
	rc = bind(fd, (const struct sockaddr *)&a, sizeof(a));
	umask(mask);
	if (rc == -1 || listen(fd, 1) == -1) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits for fd to be readable (ms < 0: for ever): 0, or a status
 * (cancelled, timed out).  A signal that comes just before poll is seen
 * within a slice. */
static int
wait_in(int fd, int ms, const volatile sig_atomic_t *cancel)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n, slice = 500;

	for (;;) {
		if (*cancel)
			return EX_TEMPFAIL;
		if (ms >= 0 && ms < slice)
			slice = ms;
		if ((n = poll(&p, 1, slice)) > 0)
			return 0;
		if (n == 0 && ms >= 0 && (ms -= slice) <= 0)
			return EX_PROTOCOL;
		if (n == -1 && errno != EINTR) {
			log_warn("poll");
			return EX_OSERR;
		}
	}
}

/* The descriptors that came with the message: exactly one is taken. */
static int
take_fd(struct msghdr *mh, int *fd, struct pager_err *e)
{
	int got[MAX_FDS], n;
	bool cut;

	n = fdpass_collect(mh, got, MAX_FDS, &cut);
	if (n == 1 && !cut) {
		*fd = got[0];
		return 0;
	}
	fdpass_close(got, n);
	return pager_fail(e, EX_PROTOCOL, "the runner's HELLO came with %d "
	    "descriptors%s, not its userfaultfd alone", n,
	    cut ? " and more" : "");
}

static bool
is_uffd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[userfaultfd]") == 0;
}

/* The HELLO names this stack, bottom first, and its memory. */
static int
check_stack(const struct pager_hello *h, const struct pager_stack *st,
    struct pager_err *e)
{
	uint64_t bytes = st->npages * PAGER_PAGE;

	if ((int)h->nlayers != st->n)
		return pager_fail(e, EX_CONFIG, "the runner restores %u layers, "
		    "this page server serves %d", h->nlayers, st->n);
	for (int i = 0; i < st->n; i++)
		if (memcmp(h->id[i], st->layer[i].m.id, 64) != 0)
			return pager_fail(e, EX_CONFIG, "the runner's layer %d is "
			    "%.12s, this page server's is %.12s (%s)", i,
			    h->id[i], st->layer[i].m.id, st->layer[i].spec);
	if (h->bytes != bytes)
		return pager_fail(e, EX_CONFIG, "the runner's memory is %ju "
		    "bytes, the layers' %ju", (uintmax_t)h->bytes,
		    (uintmax_t)bytes);
	if (h->base % PAGER_PAGE || h->base + bytes < h->base)
		return pager_fail(e, EX_PROTOCOL, "HELLO: base 0x%jx is not a "
		    "page's address", (uintmax_t)h->base);
	return 0;
}

static int
read_hello(int c_fd, const struct pager_stack *st, struct pager_mem *pm,
    struct pager_err *e)
{
	union {
		struct pager_hello h;
		char b[sizeof(struct pager_hello) + 1];
	} u;
	char ctl[CMSG_SPACE(MAX_FDS * sizeof(int))], why[128];
	struct iovec iov = { u.b, sizeof(u.b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct pager_hello h;
	ssize_t n;
	int fd = -1, rc;

	if ((n = recvmsg(c_fd, &mh, MSG_CMSG_CLOEXEC)) <= 0)
		return pager_fail(e, EX_PROTOCOL, "the runner sent no HELLO%s%s",
		    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
	if ((rc = take_fd(&mh, &fd, e)) != 0)
		return rc;
	if (pagerproto_check_hello(u.b, (size_t)n, &h, why, sizeof(why)) == -1)
		rc = pager_fail(e, EX_PROTOCOL, "the runner's HELLO: %s", why);
	else if (!is_uffd(fd))
		rc = pager_fail(e, EX_PROTOCOL, "the runner's HELLO came with a "
		    "descriptor that is no userfaultfd");
	else if ((rc = check_stack(&h, st, e)) == 0 &&
	    (pm->installed = calloc((st->npages + 63) / 64, 8)) == NULL)
		rc = pager_fail(e, EX_OSERR, "out of memory");
	if (rc != 0) {
		close(fd);
		return rc;
	}
	pm->uffd = fd;
	pm->base = h.base;
	pm->bytes = h.bytes;
	return 0;
}

/* A connection that hangs up without a word (another server probing
 * for a live socket) or says nothing for HELLO_MS is dropped, and the
 * next one taken: the runner may be queued behind it. */
int
pager_accept(int lfd, const struct pager_stack *st,
    const volatile sig_atomic_t *cancel, int *c_fd, struct pager_mem *pm,
    struct pager_err *e)
{
	char b;
	int rc;

	for (;;) {
		*c_fd = -1;
		if ((rc = wait_in(lfd, -1, cancel)) != 0)
			return rc;
		if ((*c_fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			return pager_fail(e, EX_OSERR, "accept: %s",
			    strerror(errno));
		rc = wait_in(*c_fd, HELLO_MS, cancel);
		if (rc == 0 && recv(*c_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
			return read_hello(*c_fd, st, pm, e);
		if (rc != 0 && rc != EX_PROTOCOL)
			return rc;
		log_info("a connection %s, dropped", rc ? "sent no HELLO in "
		    "time" : "hung up without a HELLO");
		close(*c_fd);
	}
}

int
pager_send(int c_fd, enum pager_type type, int status, uint64_t pages,
    const char *msg)
{
	struct pager_reply r;

	pagerproto_reply_init(&r, type);
	r.status = (uint32_t)status;
	r.pages = pages;
	if (msg != NULL)
		snprintf(r.message, sizeof(r.message), "%s", msg);
	if (send(c_fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r)) {
		log_warn("sending to the runner");
		return -1;
	}
	return 0;
}
