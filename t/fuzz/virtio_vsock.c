/*
 * virtio-vsock behind virtio-mmio, driven by a hostile guest, with host
 * programs on its Unix sockets where the input says so: connecting and
 * asking for a guest port, a service at host port 1024 that the guest
 * may dial, bytes written, read and sockets shut down or closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "virtio_vsock.h"

#define SLOTS	8

static struct fz_dev d;
static struct virtio_vsock v;
static int service = -1;	/* PATH_1024 */
static int host[SLOTS];		/* host programs' sockets, or -1 */

static int
unix_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd == -1)
		abort();
	if (listening ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, SLOTS) == -1 :
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
slot_close(int i)
{
	if (host[i] != -1)
		close(host[i]);
	host[i] = -1;
}

/* 0x80 connect, 0x81 accept from the service, 0x82 write, 0x83 read,
 * 0x84 shutdown(SHUT_WR), 0x85 close: on slot u8 % SLOTS; 0x86 the
 * transport reset that follows a restore. */
static void
vsock_op(struct fz_dev *dev, uint8_t code, struct fz *f)
{
	static char buf[65536];
	int i = fz_u8(f) % SLOTS;
	size_t n;

	(void)dev;
	switch (code % 7) {
	case 0:
		slot_close(i);
		host[i] = unix_socket(v.host.path, false);
		break;
	case 1:
		slot_close(i);
		host[i] = accept4(service, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case 2:
		/* A full or closed socket fails the send, as a host
		 * program would see it. */
		n = fz_take(f, buf, fz_u8(f));
		if (host[i] != -1)
			send(host[i], buf, n, MSG_NOSIGNAL);
		break;
	case 3:
		while (host[i] != -1 && read(host[i], buf, sizeof(buf)) > 0)
			;
		break;
	case 4:
		if (host[i] != -1)
			shutdown(host[i], SHUT_WR);
		break;
	case 5:
		slot_close(i);
		break;
	default:
		virtio_vsock_transport_reset(&v);
		break;
	}
}

static void
vsock_host_reset(struct fz_dev *dev)
{
	int fd;

	(void)dev;
	for (int i = 0; i < SLOTS; i++)
		slot_close(i);
	while ((fd = accept4(service, NULL, NULL, SOCK_CLOEXEC)) != -1)
		close(fd);
	v.host.next_port = 1U << 30;	/* as the same input found it before */
}

static void
setup(void)
{
	char path[100];

	for (int i = 0; i < SLOTS; i++)
		host[i] = -1;
	fz_dev_init(&d, &virtio_vsock_ops, &v);
	snprintf(path, sizeof(path), "%s/v.sock", fz_dir());
	if (virtio_vsock_init(&v, 3, path, &d.loop, &d.t) == -1)
		abort();
	snprintf(path, sizeof(path), "%s/v.sock_1024", fz_dir());
	if ((service = unix_socket(path, true)) == -1)
		abort();
	d.op = vsock_op;
	d.reset = vsock_host_reset;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	if (service == -1)
		setup();
	fz_dev_run(&d, &f);
	fz_dev_reset(&d);	/* all freed again, or it is a leak */
	return 0;
}
