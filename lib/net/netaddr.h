/*
 * A guest's IPv4 configuration as the host hands it over:
 * "A.B.C.D/PREFIX[,GATEWAY]", in vmrun --net-addr, in the guest's
 * snapvm.net= and in the "continue" message of snapvm-protocol(5); and
 * a MAC address as six pairs of hex digits with colons.  The host and the
 * guest's init and snapvm-netcfg (rootfs/init) compile this same file, so
 * both ends accept exactly the same text; it needs nothing but libc.
 */
#ifndef SNAPVM_NETADDR_H
#define SNAPVM_NETADDR_H

#include <stddef.h>
#include <stdint.h>

#define NETADDR_IP_LEN	16	/* "255.255.255.255" and its NUL */
#define NETADDR_LEN	35	/* "A.B.C.D/PP,G.H.I.J" and its NUL */
#define NETADDR_MAC_LEN	18	/* "xx:xx:xx:xx:xx:xx" and its NUL */

struct netaddr {
	uint32_t addr;		/* host byte order */
	int prefix;		/* 1 to 32; 0 in a config: none given */
	uint32_t gw;		/* host byte order; 0: no gateway */
};

/* Parses s strictly: dotted quads of decimal numbers 0-255 without
 * leading zeros, a prefix length 1-32, a gateway inside the network that
 * is not the address itself, nothing after.  Returns NULL, or why s is
 * refused (to print after the value and a colon). */
const char *netaddr_parse(const char *s, struct netaddr *na);
/* "A.B.C.D/P" or "A.B.C.D/P,G.H.I.J", the form netaddr_parse reads. */
void netaddr_format(const struct netaddr *na, char buf[NETADDR_LEN]);
void netaddr_ip(uint32_t ip, char buf[NETADDR_IP_LEN]);
uint32_t netaddr_mask(int prefix);

/* A unicast MAC address, "02:53:00:00:00:05" (either case); NULL or
 * why s is refused. */
const char *netaddr_parse_mac(const char *s, uint8_t mac[6]);
void netaddr_format_mac(const uint8_t mac[6], char buf[NETADDR_MAC_LEN]);

#endif
