/*
 * lib/base/fdpass.c: the descriptors that came with a message, every one
 * of them returned or closed, over a real socket pair.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"
#include "unit.h"

/* Sends a byte over s with n descriptors, each of fd. */
static int
send_fds(int s, int fd, int n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	char byte = 'x';
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (n > 0) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		for (int i = 0; i < n; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
	}
	return sendmsg(s, &m, 0) == 1 ? 0 : -1;
}

/* Receives into a control buffer of room descriptors and collects at
 * most max of them. */
static int
recv_fds(int s, int room, int *fds, int max, bool *cut)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = CMSG_SPACE((size_t)room * sizeof(int)) };

	if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	return fdpass_collect(&m, fds, max, cut);
}

static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/*
 * sent descriptors go over a SOCK_SEQPACKET pair into a buffer with room
 * for room, max collected: want come back, cut as given, and once they
 * are closed no descriptor is left open.
 */
static void
pass(int sent, int room, int max, int want, bool want_cut)
{
	int sv[2], p[2], fds[8] = { -1 }, before, n;
	bool cut = !want_cut;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == -1 || pipe(p) == -1) {
		CHECK(0);
		return;
	}
	before = unit_open_fds();
	CHECK_EQ(send_fds(sv[0], p[0], sent), 0);
	n = recv_fds(sv[1], room, fds, max, &cut);
	if (n != want || cut != want_cut)
		printf("#   %d sent, room for %d, max %d: %d%s\n", sent, room,
		    max, n, cut ? " and cut" : "");
	CHECK_EQ(n, want);
	CHECK_EQ(cut, want_cut);
	for (int i = 0; i < n && i < max; i++)
		CHECK(same_file(fds[i], p[0]));
	CHECK_EQ(unit_open_fds(), before + (n > 0 ? n : 0));
	if (n > 0)
		fdpass_close(fds, n);
	CHECK_EQ(unit_open_fds(), before);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static void
test_counts(void)
{
	pass(0, 4, 4, 0, false);
	pass(1, 4, 4, 1, false);
	pass(2, 4, 4, 2, false);
}

/* A control buffer too small: what arrived is returned to be closed,
 * the rest the kernel never installed. */
static void
test_ctrunc(void)
{
	pass(3, 2, 4, 2, true);
	pass(2, 0, 4, 0, true);
}

/* More than the caller takes: the rest are closed here. */
static void
test_beyond_max(void)
{
	pass(3, 4, 1, 1, true);
	pass(2, 4, 0, 0, true);
}

/* No control data at all, or of another kind only. */
static void
test_no_control(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr m = { 0 };
	struct cmsghdr *c;
	bool cut = true;

	CHECK_EQ(fdpass_collect(&m, NULL, 0, &cut), 0);
	CHECK(!cut);
	memset(&ctl, 0, sizeof(ctl));
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	cut = true;
	CHECK_EQ(fdpass_collect(&m, NULL, 0, &cut), 0);
	CHECK(!cut);
}

/* A header that claims more than its buffer holds is read only as far
 * as the buffer goes. */
static void
test_claims_more(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr m = { .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fds[8], mine[2], n;
	bool cut;

	memset(&ctl, 0, sizeof(ctl));
	if ((mine[0] = dup(0)) == -1 || (mine[1] = dup(0)) == -1) {
		CHECK(0);
		return;
	}
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(100 * sizeof(int));
	memcpy(CMSG_DATA(c), mine, sizeof(mine));
	n = fdpass_collect(&m, fds, 8, &cut);
	CHECK_EQ(n, 2);
	CHECK(!cut);
	CHECK(n == 2 && fds[0] == mine[0] && fds[1] == mine[1]);
	fdpass_close(mine, 2);
}

static const struct unit_test tests[] = {
	{ "fdpass: 0, 1 and 2 descriptors collected", test_counts },
	{ "fdpass: a truncated control buffer leaks nothing", test_ctrunc },
	{ "fdpass: descriptors beyond max are closed", test_beyond_max },
	{ "fdpass: a message without control data", test_no_control },
	{ "fdpass: a header longer than its buffer", test_claims_more },
};

UNIT_MAIN(tests)
