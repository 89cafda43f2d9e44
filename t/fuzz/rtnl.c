/*
 * The kernel's rtnetlink answers to tapnet(1), through lib/net/rtnl.c and
 * lib/net/tapnet.c: libmnl's socket calls are replaced here, so that every
 * datagram the operation reads comes from the input, while parsing is
 * libmnl's and ours.  Nothing reaches the kernel: tuntap_make() is
 * replaced too, since it would make a real tap.
 *
 * Input: an operation byte, then datagrams, each a 16-bit length and
 * that many bytes.  Replies with sequence number and port ID 0 match any
 * request, as libmnl's checks skip zeros.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>

#include "fuzz.h"
#include "tapnet.h"
#include "tuntap.h"

static struct fz in;
static int sock;

struct mnl_socket *
mnl_socket_open2(int bus, int flags)
{
	(void)bus;
	(void)flags;
	return (struct mnl_socket *)&sock;
}

int
mnl_socket_bind(struct mnl_socket *nl, unsigned int groups, pid_t pid)
{
	(void)nl;
	(void)groups;
	(void)pid;
	return 0;
}

int
mnl_socket_setsockopt(const struct mnl_socket *nl, int type, void *buf,
    socklen_t len)
{
	(void)nl;
	(void)type;
	(void)buf;
	(void)len;
	return 0;
}

unsigned int mnl_socket_get_portid(const struct mnl_socket *nl)
{
	(void)nl;
	return 0;
}

int mnl_socket_close(struct mnl_socket *nl) { (void)nl; return 0; }

/* What we send must be one whole message. */
ssize_t
mnl_socket_sendto(const struct mnl_socket *nl, const void *req, size_t len)
{
	const struct nlmsghdr *nlh = req;

	(void)nl;
	if (len < sizeof(*nlh) || nlh->nlmsg_len != len)
		abort();
	return (ssize_t)len;
}

/* The next datagram; as libmnl does, one larger than buf is an error. */
ssize_t
mnl_socket_recvfrom(const struct mnl_socket *nl, void *buf, size_t size)
{
	size_t len = fz_u16(&in);

	(void)nl;
	if (in.n == 0) {
		errno = EAGAIN;		/* a socket with a timeout would */
		return -1;
	}
	if (len > size) {
		fz_take(&in, buf, size);
		errno = ENOSPC;
		return -1;
	}
	return (ssize_t)fz_take(&in, buf, len);
}

int
tuntap_make(const char *name, long owner)
{
	(void)name;
	(void)owner;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *out;
	struct rtnl_addr a;

	fz_init();
	if (out == NULL && (out = fopen("/dev/null", "w")) == NULL)
		abort();
	in = (struct fz){ data, size };
	switch (fz_u8(&in) % 6) {
	case 0: tapnet_ls(out); break;
	case 1:
		tapnet_parse_cidr(in.n % 2 ? "fd00::1/64" : "192.0.2.1/24", &a);
		tapnet_bridge_add("svmbr0", &a);
		break;
	case 2: tapnet_bridge_add("svmbr0", NULL); break;
	case 3: tapnet_bridge_del("svmbr0"); break;
	case 4: tapnet_tap_add("svm0", in.n % 2 ? "svmbr0" : NULL, 1000); break;
	default: tapnet_tap_del("svm0"); break;
	}
	return 0;
}
