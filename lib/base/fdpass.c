#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

/* How many descriptors c carries, counting only what lies within the
 * control buffer, should a header claim more. */
static size_t
cmsg_nfds(const struct msghdr *msg, const struct cmsghdr *c)
{
	const char *end = (const char *)msg->msg_control + msg->msg_controllen;
	const char *data = (const char *)CMSG_DATA(c);
	size_t len;

	if (c->cmsg_len < CMSG_LEN(0) || data > end)
		return 0;
	len = c->cmsg_len - CMSG_LEN(0);
	if (len > (size_t)(end - data))
		len = (size_t)(end - data);
	return len / sizeof(int);
}

int
fdpass_collect(struct msghdr *msg, int *fds, int max, bool *cut)
{
	int n = 0, fd;

	*cut = (msg->msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
	    c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0, k = cmsg_nfds(msg, c); i < k; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (n < max) {
				fds[n++] = fd;
			} else {
				close(fd);
				*cut = true;
			}
		}
	}
	return n;
}

void
fdpass_close(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}
