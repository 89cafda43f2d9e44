/*
 * virtio-net behind virtio-mmio, driven by a hostile guest, with frames
 * arriving from the tap (a socket pair here) where the input says so.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "virtio_net.h"

static struct fz_dev d;
static struct virtio_net net;
static int tap = -1;		/* the host's end of the "tap" */

static void
drain(int fd)
{
	static char buf[65536 + 64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* 0x80: a frame from the tap; 0x81: the host takes what the guest sent. */
static void
net_op(struct fz_dev *dev, uint8_t code, struct fz *f)
{
	static uint8_t frame[4096];
	size_t len = fz_u16(f) % sizeof(frame), got;

	(void)dev;
	if (code % 2 == 1) {
		drain(tap);
		return;
	}
	got = fz_take(f, frame, len);
	memset(frame + got, 0, len - got);	/* past the input: zeros */
	if (write(tap, frame, len) == -1)
		return;		/* the tap's queue is full: the frame is lost */
}

static void
net_host_reset(struct fz_dev *dev)
{
	(void)dev;
	drain(net.fd);
	drain(tap);
}

static void
setup(void)
{
	static const uint8_t mac[6] = { 0x02, 0x53, 0, 0, 0, 3 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0, sv) == -1)
		abort();
	tap = sv[1];
	fz_dev_init(&d, &virtio_net_ops, &net);
	if (virtio_net_init(&net, sv[0], "fuzz0", mac, &d.loop, &d.t) == -1)
		abort();
	d.op = net_op;
	d.reset = net_host_reset;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	if (tap == -1)
		setup();
	fz_dev_run(&d, &f);
	fz_dev_reset(&d);	/* all freed again, or it is a leak */
	return 0;
}
