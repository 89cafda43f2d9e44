#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <net/if.h>
#include <linux/if_tun.h>

#include "log.h"
#include "rtnl.h"
#include "tuntap.h"

static int
tuntap_name_ok(const char *name)
{
	if (rtnl_ifname_ok(name))
		return 0;
	log_warnx("\"%s\": not a network interface name", name);
	errno = EINVAL;
	return -1;
}

static void
tuntap_close(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/* TUNSETIFF creates the tap when it does not exist (and the caller may),
 * attaches to it when it does, and refuses a tun or any other device. */
static int
tuntap_attach(const char *name, int oflags, struct ifreq *ifr)
{
	int fd = open(TUNTAP_DEV, O_RDWR | O_CLOEXEC | oflags);

	if (fd == -1) {
		log_warn("%s: %s", name, TUNTAP_DEV);
		return -1;
	}
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	ifr->ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, ifr) == 0)
		return fd;
	if (errno == EINVAL)
		log_warnx("%s: exists and is not a tap", name);
	else
		log_warn("%s: cannot attach to the tap", name);
	tuntap_close(fd);
	return -1;
}

int
tuntap_make(const char *name, long owner)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if (tuntap_name_ok(name) == -1 ||
	    (fd = tuntap_attach(name, 0, &ifr)) == -1)
		return -1;
	if (owner != -1 && ioctl(fd, TUNSETOWNER, (unsigned long)owner) == -1)
		log_warn("%s: cannot make user %ld its owner", name, owner);
	else if (ioctl(fd, TUNSETPERSIST, 1UL) == -1)
		log_warn("%s: cannot make it persistent", name);
	else
		rc = 0;
	tuntap_close(fd);
	return rc;
}

/* A tap that would vanish with our fd is not one tapnet made: most likely
 * TUNSETIFF just created it because the named one had gone. */
static int
tuntap_check_persistent(int fd, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == -1) {
		log_warn("%s: TUNGETIFF", name);
		return -1;
	}
	if (ifr.ifr_flags & IFF_PERSIST)
		return 0;
	log_warnx("%s: not a persistent tap (tapnet tap add makes one)", name);
	errno = ENOENT;
	return -1;
}

int
tuntap_open(const char *name)
{
	struct ifreq ifr;
	int hdr = TUNTAP_VNET_HDR_LEN, fd;

	if (tuntap_name_ok(name) == -1)
		return -1;
	if (if_nametoindex(name) == 0) {
		log_warnx("%s: no such network interface (tapnet tap add makes "
		    "one)", name);
		errno = ENOENT;
		return -1;
	}
	if ((fd = tuntap_attach(name, O_NONBLOCK, &ifr)) == -1)
		return -1;
	if (tuntap_check_persistent(fd, name) == -1) {
		tuntap_close(fd);
		return -1;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) == -1 ||
	    ioctl(fd, TUNSETOFFLOAD, 0UL) == -1) {
		log_warn("%s: setting up virtio-net headers", name);
		tuntap_close(fd);
		return -1;
	}
	return fd;
}
