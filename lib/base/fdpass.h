/*
 * Descriptors that came with a message over a Unix socket (SCM_RIGHTS,
 * unix(7)): gathered in one place, so that each caller's rule (keep
 * exactly one, or refuse them all) is applied to every one of them and
 * none is left open unseen.
 */
#ifndef SNAPVM_FDPASS_H
#define SNAPVM_FDPASS_H

#include <stdbool.h>

struct msghdr;

/*
 * The descriptors of msg's SCM_RIGHTS control messages, as recvmsg(2)
 * left them: up to max into fds, in the order they came; any beyond max
 * are closed here.  Returns how many are in fds, the caller's to keep or
 * close (fdpass_close).  *cut is set if some did not arrive whole: the
 * control buffer was too small (MSG_CTRUNC: the kernel closed what did
 * not fit) or more than max came.  Control messages of other kinds are
 * skipped; whether there were any is the caller's question
 * (CMSG_FIRSTHDR).
 */
int fdpass_collect(struct msghdr *msg, int *fds, int max, bool *cut);
/* Closes fds[0] to fds[n - 1]. */
void fdpass_close(const int *fds, int n);

#endif
