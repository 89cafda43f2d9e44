/*
 * The operations of tapnet(1): bridges with addresses, and persistent taps
 * on them for the VMs' network devices, in the caller's network namespace.
 * Every operation is idempotent: adding what is already there in the shape
 * asked for, or deleting what is not there, succeeds.  A failure returns
 * -1 with errno set and a message already logged, in the kernel's words
 * where the kernel refused:
 *   EEXIST          the name belongs to an interface of another kind
 *   ENODEV          the bridge a tap should join does not exist
 *   EPERM, EACCES   not allowed (CAP_NET_ADMIN is needed)
 *   anything else   as the kernel or the system gave it
 */
#ifndef SNAPVM_TAPNET_H
#define SNAPVM_TAPNET_H

#include <stdio.h>

#include "rtnl.h"

/* "ADDRESS/PREFIX", IPv4 or IPv6; -1 (EINVAL, logged) if it is not. */
int tapnet_parse_cidr(const char *s, struct rtnl_addr *a);
/* addr may be NULL: a bridge without an address of ours. */
int tapnet_bridge_add(const char *name, const struct rtnl_addr *addr);
int tapnet_bridge_del(const char *name);
/* owner -1 leaves the tap's owner as it is (none for a new tap). */
int tapnet_tap_add(const char *name, const char *bridge, long owner);
int tapnet_tap_del(const char *name);
/* One line per bridge and tap; see tapnet(1) for the columns. */
int tapnet_ls(FILE *out);

#endif
