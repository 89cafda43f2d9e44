/*
 * Frames of the runtime protocol (snapvm-protocol(5)): a 4-byte
 * big-endian length, then that many bytes of UTF-8 JSON.  The reader is
 * incremental: it takes bytes as a non-blocking socket yields them.
 */
#ifndef SNAPVM_FRAME_H
#define SNAPVM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAX	(16U * 1024 * 1024)

struct frame_reader {
	uint8_t hdr[4];
	uint32_t hdr_len;
	uint32_t want;		/* body length, once the header is in */
	uint32_t have;
	char *body;		/* NUL-terminated when complete */
};

/* 1: a frame is complete in r->body; 0: need more; -1: EOF/error/oversize. */
int frame_read(struct frame_reader *r, int fd);
void frame_reset(struct frame_reader *r);
/* Writes one whole frame, retrying on EINTR and waiting on EAGAIN. */
int frame_write(int fd, const char *json, size_t len);

#endif
