#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"

void
frame_reset(struct frame_reader *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int
frame_header(struct frame_reader *r)
{
	r->want = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
	    (uint32_t)r->hdr[2] << 8 | r->hdr[3];
	if (r->want == 0 || r->want > FRAME_MAX) {
		log_warnx("runtime frame of %u bytes refused", r->want);
		errno = EMSGSIZE;
		return -1;
	}
	if ((r->body = malloc(r->want + 1)) == NULL)
		return -1;
	return 0;
}

int
frame_read(struct frame_reader *r, int fd)
{
	ssize_t n;

	for (;;) {
		if (r->hdr_len < 4)
			n = read(fd, r->hdr + r->hdr_len, 4 - r->hdr_len);
		else
			n = read(fd, r->body + r->have, r->want - r->have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		if (r->hdr_len < 4) {
			r->hdr_len += (uint32_t)n;
			if (r->hdr_len == 4 && frame_header(r) == -1)
				return -1;
			continue;
		}
		r->have += (uint32_t)n;
		if (r->have == r->want) {
			r->body[r->want] = '\0';
			return 1;
		}
	}
}

int
frame_queue(struct frame_writer *w, const char *json, size_t len)
{
	uint8_t *b;

	if (len == 0 || len > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (w->off > 0) {		/* what is written makes room */
		memmove(w->buf, w->buf + w->off, w->len - w->off);
		w->len -= w->off;
		w->off = 0;
	}
	if (w->len + 4 + len > FRAME_QUEUE_MAX) {
		errno = ENOBUFS;
		return -1;
	}
	if ((b = realloc(w->buf, w->len + 4 + len)) == NULL)
		return -1;
	b[w->len] = (uint8_t)(len >> 24);
	b[w->len + 1] = (uint8_t)(len >> 16);
	b[w->len + 2] = (uint8_t)(len >> 8);
	b[w->len + 3] = (uint8_t)len;
	memcpy(b + w->len + 4, json, len);
	w->buf = b;
	w->len += 4 + len;
	return 0;
}

int
frame_flush(struct frame_writer *w, int fd)
{
	while (w->off < w->len) {
		ssize_t n = send(fd, w->buf + w->off, w->len - w->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		w->off += (size_t)n;
	}
	frame_writer_reset(w);
	return 1;
}

bool
frame_pending(const struct frame_writer *w)
{
	return w->off < w->len;
}

void
frame_writer_reset(struct frame_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
