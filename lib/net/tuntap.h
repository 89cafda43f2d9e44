/*
 * Persistent tap devices through the tun driver's ioctls
 * (linux/if_tun.h): tapnet(1) makes them, vmrun(1) --net attaches a VM's
 * network device to one.  Everything else about a tap (its bridge, its
 * state, deleting it) goes through rtnetlink (rtnl.h).
 */
#ifndef SNAPVM_TUNTAP_H
#define SNAPVM_TUNTAP_H

#define TUNTAP_DEV		"/dev/net/tun"
#define TUNTAP_VNET_HDR_LEN	12	/* struct virtio_net_hdr_v1 */

/*
 * Makes tap name (IFF_TAP, IFF_NO_PI, IFF_VNET_HDR) or takes over the
 * existing one, and leaves it persistent; owner, unless it is -1, becomes
 * the one user besides root who may attach to it.
 */
int tuntap_make(const char *name, long owner);

/*
 * Attaches to the existing persistent tap name for a VM: non-blocking,
 * each read or write one frame behind a 12-byte virtio-net header, no
 * offloads.  Returns the fd, or -1 with a message naming the tap (ENOENT:
 * there is no such tap).
 */
int tuntap_open(const char *name);

#endif
