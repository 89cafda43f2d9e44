/*
 * The page-server protocol (snapvm-pager(5)), version 1: how a runner
 * hands its guest memory's userfaultfd to a page server (snappager(1))
 * and learns when the memory is ready, or that it never will be.
 *
 * One SOCK_SEQPACKET connection per VM, the runner connecting.  The
 * runner sends one PAGER_HELLO with the userfaultfd (SCM_RIGHTS), after
 * registering its whole guest memory for missing-page faults; the page
 * server answers PAGER_READY once the top layer's working set is in
 * guest memory, or PAGER_ERROR.  After READY it may send PAGER_DONE (the
 * layers are complete on local disk; information only) and PAGER_ERROR
 * at any time: the runner then ends the VM with the status given, as the
 * guest must never run on memory that was not verified.  Every message
 * is one packet of exactly its struct's size, little-endian, and both
 * sides check every field before use: each is as untrusted as the other.
 */
#ifndef SNAPVM_PAGERPROTO_H
#define SNAPVM_PAGERPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "snapmeta.h"

#define PAGER_MAGIC		"SNAPVMPG"	/* 8 bytes, no NUL */
#define PAGER_VERSION		1
#define PAGER_PAGE		4096
#define PAGER_MSG_MAX		256	/* message text, with its NUL */

enum pager_type {
	PAGER_HELLO = 1,	/* runner to server, with the userfaultfd */
	PAGER_READY = 2,	/* server: the working set is in; run */
	PAGER_ERROR = 3,	/* server: end the VM with status */
	PAGER_DONE = 4,		/* server: every layer is complete locally */
};

struct pager_hello {
	char magic[8];
	uint32_t version;
	uint32_t type;			/* PAGER_HELLO */
	uint64_t base;			/* guest memory's address in the runner */
	uint64_t bytes;			/* its length, a multiple of PAGER_PAGE */
	uint32_t page_size;		/* PAGER_PAGE */
	uint32_t nlayers;		/* 1 to SNAP_MAX_LAYERS */
	/* Each layer's id (its manifest's "id", lower-case hex, no NUL),
	 * bottom first; unused slots zero. */
	char id[SNAP_MAX_LAYERS][64];
};

struct pager_reply {
	char magic[8];
	uint32_t version;
	uint32_t type;			/* PAGER_READY, _ERROR or _DONE */
	uint32_t status;		/* ERROR: a sysexits(3) status; else 0 */
	uint32_t reserved;		/* zero */
	uint64_t pages;			/* READY: pages installed before it */
	char message[PAGER_MSG_MAX];	/* ERROR: why, NUL-terminated; else
					 * all zero */
};

/* Fills in a message's magic, version and type (the rest zeroed). */
void pagerproto_hello_init(struct pager_hello *h);
void pagerproto_reply_init(struct pager_reply *r, enum pager_type type);

/*
 * Checks a packet of len bytes received as a hello or a reply: size,
 * magic, version, type and every field (ids hex, unused slots and
 * reserved bytes zero, an ERROR's status a sysexits status and its
 * message NUL-terminated, printable).  0, or -1 with why (at most
 * whylen bytes) saying which field is wrong.
 */
int pagerproto_check_hello(const void *buf, size_t len,
    struct pager_hello *h, char *why, size_t whylen);
int pagerproto_check_reply(const void *buf, size_t len,
    struct pager_reply *r, char *why, size_t whylen);

#endif
