/*
 * ctrl's own output, its log and its response lines, written without
 * ever blocking the loop: whatever the reader does not take yet waits in
 * a buffer that POLLOUT drains.  A lossy sink (the log) drops whole lines
 * past its limit and counts them; a lossless one (the responses) keeps
 * every line, and tells the loop when it is full, so that the loop stops
 * taking the input that makes more.
 *
 * The descriptors are shared with the process that started ctrl (a
 * terminal, a pipe, the journal's socket), whose own writes must not
 * start failing with EAGAIN: ctrl writes to a description of its own,
 * opened again through /proc, or with MSG_DONTWAIT to a socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrl.h"
#include "log.h"
#include "monotime.h"

void
ctrl_sink_open(struct sink *s, int fd, size_t limit, bool lossy)
{
	char path[40];
	struct stat st;
	int nb;

	memset(s, 0, sizeof(*s));
	s->open = true;
	s->fd = fd;
	s->limit = limit;
	s->lossy = lossy;
	if (fd == -1 || fstat(fd, &st) == -1 || S_ISREG(st.st_mode))
		return;		/* a file's writes never wait for a reader */
	if (S_ISSOCK(st.st_mode)) {
		s->sock = true;
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((nb = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) != -1) {
		s->fd = nb;
		s->own = true;
	} else if (errno != ENXIO) {	/* ENXIO: no reader, writes fail */
		log_warn("%s: writes to it may block", path);
	}
}

static ssize_t
sink_write(struct sink *s, const char *p, size_t n)
{
	ssize_t w;

	do
		w = s->sock ? send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) :
		    write(s->fd, p, n);
	while (w == -1 && errno == EINTR);
	if (w == -1 && errno != EAGAIN) {
		if (!s->broken)
			log_warn("%s output", s->lossy ? "log" : "response");
		s->broken = true;
		s->off = s->len = 0;
	}
	return w;
}

int
ctrl_sink_flush(struct sink *s)
{
	while (!s->broken && s->off < s->len) {
		ssize_t w = sink_write(s, s->buf + s->off, s->len - s->off);

		if (w <= 0)
			return s->broken ? 0 : 1;
		s->off += (size_t)w;
	}
	s->off = s->len = 0;
	if (s->cap > 4 * s->limit) {	/* a burst is over: so is its room */
		free(s->buf);
		s->buf = NULL;
		s->cap = 0;
	}
	return 0;
}

static bool
sink_keep(struct sink *s, const char *p, size_t n)
{
	if (s->off > 0 && s->len + n > s->cap) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		char *b;

		while (cap < s->len + n)
			cap *= 2;
		if ((b = realloc(s->buf, cap)) == NULL)
			return false;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return true;
}

bool
ctrl_sink_put(struct sink *s, const char *p, size_t n)
{
	size_t pending = s->len - s->off;
	ssize_t w;

	if (s->broken || s->fd == -1)
		return false;
	/* A lossy sink takes any one line when nothing waits, so that no
	 * line is too long ever to be written. */
	if (s->lossy && pending > 0 && pending + n > s->limit) {
		s->dropped++;
		return false;
	}
	if (pending == 0) {
		if ((w = sink_write(s, p, n)) == (ssize_t)n || s->broken)
			return !s->broken;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	if (!sink_keep(s, p, n)) {
		s->dropped++;
		return false;
	}
	return true;
}

bool
ctrl_sink_pending(const struct sink *s)
{
	return !s->broken && s->off < s->len;
}

bool
ctrl_sink_full(const struct sink *s)
{
	return ctrl_sink_pending(s) && s->len - s->off >= s->limit;
}

void
ctrl_sink_ensure(struct ctrl *c)
{
	if (!c->log.open)
		ctrl_sink_open(&c->log, c->log_fd, CTRL_LOG_LIMIT, true);
	if (!c->out.open)
		ctrl_sink_open(&c->out, c->out_fd, CTRL_OUT_LIMIT, false);
}

void
ctrl_sink_close(struct sink *s, unsigned wait_ms)
{
	uint64_t until = mono_ms() + wait_ms, now;

	while (ctrl_sink_flush(s) == 1 && (now = mono_ms()) < until) {
		struct pollfd p = { .fd = s->fd, .events = POLLOUT };

		poll(&p, 1, (int)(until - now));
	}
	if (s->own)
		close(s->fd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->open = true;			/* and closed: not opened again */
	s->fd = -1;
}
