/*
 * Guest memory served by a page server (snapvm-pager(5)): the runner's
 * side.  The whole host mapping is registered with a userfaultfd for
 * missing-page faults and the descriptor handed to the page server; the
 * kernel then holds every thread (vCPU, device or this process's own
 * mem_ptr() readers) that touches a page not yet there until the server
 * has put it in.
 */
#ifndef SNAPVM_MEM_UFFD_H
#define SNAPVM_MEM_UFFD_H

#include "mem.h"
#include "pagerproto.h"

/*
 * Registers m (anonymous, nothing touched yet) with a new userfaultfd,
 * connects to the page server at sock, sends PAGER_HELLO with ids[0..n-1]
 * (the layers' ids, bottom first) and the descriptor, and waits for the
 * first reply.  0 with *r the PAGER_READY and *sock_fd the connection,
 * kept open for as long as the VM runs (the caller watches it for
 * PAGER_ERROR and hangup); or a sysexits status, logged (for an ERROR
 * reply, the server's status, its message logged).
 */
int mem_uffd_attach(const struct mem *m, const char *sock,
    char (*const ids)[DIGEST_HEX], int n, struct pager_reply *r,
    int *sock_fd);

/* Blocks until the server's next message: 0 for PAGER_DONE (logged at
 * debug level), else the status the VM must end with, logged: the
 * ERROR's own, 69 for a hangup, 76 for a message that is not valid. */
int mem_uffd_watch(int sock_fd);

#endif
