/*
 * Frames of the runtime protocol (snapvm-protocol(5)): a 4-byte
 * big-endian length, then that many bytes of UTF-8 JSON.  Reader and
 * writer are incremental, for non-blocking sockets: neither ever waits,
 * so the loop that owns the socket keeps its deadlines and signals.
 */
#ifndef SNAPVM_FRAME_H
#define SNAPVM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX	(16U * 1024 * 1024)
/* Bytes a writer holds at most: a peer that reads nothing cannot make it
 * grow past two whole frames. */
#define FRAME_QUEUE_MAX	(2 * ((size_t)FRAME_MAX + 4))

struct frame_reader {
	uint8_t hdr[4];
	uint32_t hdr_len;
	uint32_t want;		/* body length, once the header is in */
	uint32_t have;
	char *body;		/* NUL-terminated when complete */
};

struct frame_writer {
	uint8_t *buf;
	size_t len;		/* bytes queued */
	size_t off;		/* of which written */
};

/* 1: a frame is complete in r->body; 0: need more; -1: EOF/error/oversize. */
int frame_read(struct frame_reader *r, int fd);
void frame_reset(struct frame_reader *r);

/* Queues one frame: -1 with errno EMSGSIZE (empty or over FRAME_MAX),
 * ENOBUFS (past FRAME_QUEUE_MAX) or ENOMEM. */
int frame_queue(struct frame_writer *w, const char *json, size_t len);
/* Writes what fd takes now: 1 all written, 0 some left (wait for POLLOUT),
 * -1 the peer is gone or fd failed. */
int frame_flush(struct frame_writer *w, int fd);
bool frame_pending(const struct frame_writer *w);
void frame_writer_reset(struct frame_writer *w);

#endif
