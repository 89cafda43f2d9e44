/*
 * A small rtnetlink client over libmnl: the link and address requests
 * that tapnet(1) makes.  Requests go one at a time and each waits for its
 * acknowledgement; when the kernel refuses one, the errno and the text of
 * its extended acknowledgement (where the kernel gives one) are kept for
 * the caller's message.  Everything happens in the caller's network
 * namespace.
 */
#ifndef SNAPVM_RTNL_H
#define SNAPVM_RTNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <net/if.h>

struct mnl_socket;
struct nlmsghdr;

#define RTNL_MSG_MAX	256

struct rtnl {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char msg[RTNL_MSG_MAX];		/* the last refusal's text, or "" */
};

/* What tapnet needs to know of a network interface. */
struct rtnl_link {
	int index;
	char name[IFNAMSIZ];
	char kind[16];			/* IFLA_INFO_KIND: "bridge", "tun"... */
	int master;			/* ifindex of its bridge, or 0 */
	unsigned flags;			/* IFF_UP, IFF_LOWER_UP... */
	bool tap;			/* kind "tun" in tap mode */
	bool persist;
	long owner;			/* a tap's owner UID, or -1 */
};

struct rtnl_addr {
	int index;
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
	uint8_t scope;			/* RT_SCOPE_* */
};

typedef void rtnl_link_fn(const struct rtnl_link *l, void *arg);
typedef void rtnl_addr_fn(const struct rtnl_addr *a, void *arg);

/* Whether the kernel would take name as an interface name: 1 to 15
 * bytes, not "." or "..", no '/', ':' or white space. */
bool rtnl_ifname_ok(const char *name);

int rtnl_open(struct rtnl *r);
void rtnl_close(struct rtnl *r);

/* -1 with errno ENODEV when there is no interface of that name. */
int rtnl_link_get(struct rtnl *r, const char *name, struct rtnl_link *l);
int rtnl_links(struct rtnl *r, rtnl_link_fn *fn, void *arg);
int rtnl_addrs(struct rtnl *r, rtnl_addr_fn *fn, void *arg);
int rtnl_bridge_new(struct rtnl *r, const char *name);
/* Sets the link up and, if master is not 0, makes it a port of master. */
int rtnl_link_up(struct rtnl *r, int index, int master);
/* Down and on no bridge: a tap that leads nowhere. */
int rtnl_link_isolate(struct rtnl *r, int index);
int rtnl_link_del(struct rtnl *r, int index);
/* Adds the address, or refreshes it where the interface has it already. */
int rtnl_addr_add(struct rtnl *r, const struct rtnl_addr *a);

/*
 * The error an NLMSG_ERROR message carries: 0 for an acknowledgement,
 * otherwise a positive errno.  The extended acknowledgement's message,
 * if any, goes to msg (size bytes, NUL-terminated; "" if none).
 */
int rtnl_parse_error(const struct nlmsghdr *nlh, char *msg, size_t size);
/* The kernel's words for the last refusal: its message and strerror. */
const char *rtnl_why(const struct rtnl *r, int err, char *buf, size_t size);

#endif
