#include <errno.h>
#include <poll.h>
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

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EAGAIN) {
			poll(&pfd, 1, 1000);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
frame_write(int fd, const char *json, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16),
	    (uint8_t)(len >> 8), (uint8_t)len };

	if (len == 0 || len > FRAME_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (write_all(fd, hdr, 4) == -1 || write_all(fd, json, len) == -1)
		return -1;
	return 0;
}
