#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "netcfg.h"

/* Addresses or default routes taken away at most, one per ioctl: bounds
 * a loop on a kernel that kept handing one back. */
#define NETCFG_MAX_REMOVE	64

static int __attribute__((format(printf, 3, 4)))
failed(char *err, const char *ifname, const char *fmt, ...)
{
	int e = errno;
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e == ENODEV)
		snprintf(err, NETCFG_ERR_LEN, "%s: no such interface", ifname);
	else
		snprintf(err, NETCFG_ERR_LEN, "%s: %s: %s", ifname, what,
		    strerror(e));
	errno = e;
	return -1;
}

bool
netcfg_ifname_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < IFNAMSIZ && strcspn(name, "/: \t\n") == n;
}

static struct ifreq
ifreq_for(const char *ifname)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	return ifr;
}

static void
put_ip(struct sockaddr *sa, uint32_t ip)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(ip);
	memcpy(sa, &sin, sizeof(sin));
}

static int
set_up(int s, const char *ifname, bool up, char *err)
{
	struct ifreq ifr = ifreq_for(ifname);

	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		return failed(err, ifname, "reading its flags");
	if (((ifr.ifr_flags & IFF_UP) != 0) == up)
		return 0;
	ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP :
	    ifr.ifr_flags & ~IFF_UP);
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		return failed(err, ifname, "bringing it %s", up ? "up" : "down");
	return 0;
}

int
netcfg_link_up(int s, const char *ifname, char err[NETCFG_ERR_LEN])
{
	return set_up(s, ifname, true, err);
}

/* After a restore the device has the MAC the host chose for this copy,
 * but the guest kernel read the snapshot's at boot and never looks
 * again: it is told here.  virtio-net takes it while up; a device that
 * does not is brought down for it (netcfg_iface brings it up again). */
static int
set_mac(int s, const char *ifname, const uint8_t mac[6], char *err)
{
	struct ifreq ifr = ifreq_for(ifname);
	char text[NETADDR_MAC_LEN];

	if (ioctl(s, SIOCGIFHWADDR, &ifr) == -1)
		return failed(err, ifname, "reading its MAC address");
	if (memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) == 0)
		return 0;
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) == 0)
		return 0;
	if (errno == EBUSY) {
		if (set_up(s, ifname, false, err) == -1)
			return -1;
		if (ioctl(s, SIOCSIFHWADDR, &ifr) == 0)
			return 0;
	}
	netaddr_format_mac(mac, text);
	return failed(err, ifname, "setting the MAC address %s", text);
}

/* Setting 0.0.0.0 removes the first IPv4 address labelled ifname (what
 * `ifconfig IFACE 0.0.0.0` does); repeated until none is left. */
static int
clear_addrs(int s, const char *ifname, char *err)
{
	for (int i = 0; i < NETCFG_MAX_REMOVE; i++) {
		struct ifreq ifr = ifreq_for(ifname);

		if (ioctl(s, SIOCGIFADDR, &ifr) == -1)
			return errno == EADDRNOTAVAIL ? 0 :
			    failed(err, ifname, "reading its address");
		put_ip(&ifr.ifr_addr, 0);
		if (ioctl(s, SIOCSIFADDR, &ifr) == -1)
			return failed(err, ifname, "removing an address");
	}
	errno = EMLINK;
	return failed(err, ifname, "removing %d addresses", NETCFG_MAX_REMOVE);
}

/* The kernel gives SIOCSIFADDR's address its class's netmask and
 * broadcast address; SIOCSIFNETMASK replaces both, but the broadcast
 * address only up to /30: a /31 or /32 has none (RFC 3021). */
static int
set_addr(int s, const char *ifname, const struct netaddr *na, char *err)
{
	struct ifreq ifr = ifreq_for(ifname);
	char text[NETADDR_IP_LEN];

	put_ip(&ifr.ifr_addr, na->addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) == -1) {
		netaddr_ip(na->addr, text);
		return failed(err, ifname, "setting the address %s", text);
	}
	put_ip(&ifr.ifr_netmask, netaddr_mask(na->prefix));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) == -1)
		return failed(err, ifname, "setting the prefix length %d",
		    na->prefix);
	if (na->prefix <= 30)
		return 0;
	put_ip(&ifr.ifr_broadaddr, 0);
	if (ioctl(s, SIOCSIFBRDADDR, &ifr) == -1)
		return failed(err, ifname, "removing the broadcast address");
	return 0;
}

static void
default_route(struct rtentry *rt, uint32_t gw, char *dev)
{
	memset(rt, 0, sizeof(*rt));
	put_ip(&rt->rt_dst, 0);
	put_ip(&rt->rt_genmask, 0);
	put_ip(&rt->rt_gateway, gw);
	rt->rt_flags = RTF_UP | (gw != 0 ? RTF_GATEWAY : 0);
	rt->rt_dev = dev;
}

/* Every default route of the main table goes, whatever its device: the
 * guest's one default route is the host's to say. */
static int
clear_default_routes(int s, const char *ifname, char *err)
{
	struct rtentry rt;

	for (int i = 0; i < NETCFG_MAX_REMOVE; i++) {
		default_route(&rt, 0, NULL);
		if (ioctl(s, SIOCDELRT, &rt) == -1)
			return errno == ESRCH ? 0 :
			    failed(err, ifname, "removing the default route");
	}
	errno = EMLINK;
	return failed(err, ifname, "removing %d default routes",
	    NETCFG_MAX_REMOVE);
}

static int
add_default_route(int s, const char *ifname, uint32_t gw, char *err)
{
	struct rtentry rt;
	char dev[IFNAMSIZ] = { 0 }, text[NETADDR_IP_LEN];

	memcpy(dev, ifname, strnlen(ifname, IFNAMSIZ - 1));
	default_route(&rt, gw, dev);
	if (ioctl(s, SIOCADDRT, &rt) == 0)
		return 0;
	netaddr_ip(gw, text);
	return failed(err, ifname, "adding the default route via %s", text);
}

int
netcfg_iface(int s, const char *ifname, const struct netaddr *na,
    const uint8_t *mac, char err[NETCFG_ERR_LEN])
{
	if (!netcfg_ifname_ok(ifname)) {
		snprintf(err, NETCFG_ERR_LEN, "\"%.32s\": not an interface name",
		    ifname);
		errno = EINVAL;
		return -1;
	}
	if ((mac != NULL && set_mac(s, ifname, mac, err) == -1) ||
	    clear_addrs(s, ifname, err) == -1 ||
	    set_addr(s, ifname, na, err) == -1 ||
	    set_up(s, ifname, true, err) == -1 ||
	    clear_default_routes(s, ifname, err) == -1)
		return -1;
	return na->gw == 0 ? 0 : add_default_route(s, ifname, na->gw, err);
}
