/*
 * The guest's network set-up, by ioctls on an AF_INET datagram socket:
 * no ip(8) is forked, since every fork and exec is emulated kernel work
 * on the project's hosts.  init uses it at boot (snapvm.net=), and
 * snapvm-netcfg, which the runtime runs when a "continue" message tells
 * a restored copy its own address and MAC.  See rootfs/README.
 */
#ifndef SNAPVM_NETCFG_H
#define SNAPVM_NETCFG_H

#include <stdbool.h>
#include <stdint.h>

#include "netaddr.h"

#define NETCFG_ERR_LEN	192

/* A name the ioctls can carry: 1 to 15 bytes, no '/', ':' or blank (a
 * colon would name an alias address, not the interface). */
bool netcfg_ifname_ok(const char *name);

/*
 * Each returns 0, or -1 with errno set and err saying what failed, for
 * which interface and why (ENODEV: "IFACE: no such interface").  s is an
 * AF_INET datagram socket.
 */
int netcfg_link_up(int s, const char *ifname, char err[NETCFG_ERR_LEN]);
/* Gives ifname the MAC mac (unless NULL), takes every IPv4 address it
 * has away, sets na's address and netmask, brings it up and makes na's
 * gateway the only default route (with no gateway: no default route). */
int netcfg_iface(int s, const char *ifname, const struct netaddr *na,
    const uint8_t *mac, char err[NETCFG_ERR_LEN]);

#endif
