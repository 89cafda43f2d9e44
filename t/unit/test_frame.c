/*
 * Runtime frames over a non-blocking socket pair: the writer never waits
 * for a peer that does not read (issue 14, defect 8), and what it queued
 * arrives whole once the peer reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "unit.h"

static int
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		return -1;
	return 0;
}

static void
test_writer_never_waits(void)
{
	size_t n = 1U << 20;
	char *json = malloc(n);
	struct frame_writer w = { 0 };
	struct frame_reader r = { 0 };
	int sv[2], rc = 0, got = 0;

	CHECK_EQ(pair(sv), 0);
	memset(json, 'x', n);
	json[0] = '"';
	json[n - 1] = '"';
	CHECK_EQ(frame_queue(&w, json, n), 0);
	CHECK_EQ(frame_queue(&w, "{}", 2), 0);
	CHECK_EQ(frame_flush(&w, sv[0]), 0);		/* the peer reads nothing */
	CHECK(frame_pending(&w));
	for (int i = 0; i < 100000 && got < 2; i++) {
		if (frame_pending(&w))
			CHECK(frame_flush(&w, sv[0]) >= 0);
		while ((rc = frame_read(&r, sv[1])) == 1) {
			if (got == 0) {
				CHECK_EQ(r.want, n);
				CHECK(memcmp(r.body, json, n) == 0);
			} else {
				CHECK(strcmp(r.body, "{}") == 0);
			}
			got++;
			frame_reset(&r);
		}
		CHECK(rc != -1);
	}
	CHECK_EQ(got, 2);
	CHECK(!frame_pending(&w));
	CHECK(w.buf == NULL);			/* nothing kept once written */
	close(sv[0]);
	CHECK_EQ(frame_read(&r, sv[1]), -1);	/* EOF */
	close(sv[1]);
	frame_reset(&r);
	frame_writer_reset(&w);
	free(json);
}

static void
test_writer_peer_gone(void)
{
	struct frame_writer w = { 0 };
	int sv[2];

	CHECK_EQ(pair(sv), 0);
	close(sv[1]);
	CHECK_EQ(frame_queue(&w, "{}", 2), 0);
	CHECK_EQ(frame_flush(&w, sv[0]), -1);	/* EPIPE, no SIGPIPE */
	close(sv[0]);
	frame_writer_reset(&w);
}

static void
test_writer_bounded(void)
{
	struct frame_writer w = { 0 };
	char *big = calloc(1, FRAME_MAX + 1);
	int queued = 0;

	errno = 0;
	CHECK_EQ(frame_queue(&w, big, 0), -1);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(frame_queue(&w, big, FRAME_MAX + 1), -1);
	CHECK_EQ(errno, EMSGSIZE);
	for (int i = 0; i < 4; i++)
		queued += frame_queue(&w, big, FRAME_MAX) == 0;
	CHECK_EQ(queued, 2);
	CHECK_EQ(errno, ENOBUFS);
	CHECK(w.len <= FRAME_QUEUE_MAX);
	frame_writer_reset(&w);
	free(big);
}

static void
test_reader_refuses_oversize(void)
{
	struct frame_reader r = { 0 };
	uint8_t hdr[4] = { 0x01, 0x00, 0x00, 0x01 };	/* FRAME_MAX + 1 */
	int sv[2];

	CHECK_EQ(pair(sv), 0);
	CHECK_EQ(write(sv[0], hdr, 4), 4);
	CHECK_EQ(frame_read(&r, sv[1]), -1);
	CHECK_EQ(errno, EMSGSIZE);
	frame_reset(&r);
	close(sv[0]);
	close(sv[1]);
}

static const struct unit_test tests[] = {
	{ "frame: the writer queues what the peer does not take, never waits", test_writer_never_waits },
	{ "frame: a peer that is gone is an error, not a signal", test_writer_peer_gone },
	{ "frame: the writer holds two whole frames at most", test_writer_bounded },
	{ "frame: the reader refuses a frame over FRAME_MAX", test_reader_refuses_oversize },
};

UNIT_MAIN(tests)
