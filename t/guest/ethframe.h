/*
 * Ethernet frames for the network tests, shared by the freestanding guest
 * net.c and the unit test of the virtio-net device (t/unit): an ARP
 * request and an ICMP echo request from us to the peer, and the checks
 * of their replies.  Addresses are bytes in network order.  No library
 * calls, so that the guest can use it.
 */
#ifndef ETHFRAME_H
#define ETHFRAME_H

#include <stdint.h>

#define ETH_ARP_LEN		42
#define ETH_ECHO_LEN(payload)	(14 + 20 + 8 + (payload))
#define ETH_ECHO_ID		0x5356		/* "SV" */

struct ethaddrs {
	uint8_t mac[6], peer_mac[6];
	uint8_t ip[4], peer_ip[4];
};

static inline void
eth_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline unsigned
eth_get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static inline void
eth_copy(uint8_t *dst, const uint8_t *src, int n)
{
	for (int i = 0; i < n; i++)
		dst[i] = src[i];
}

static inline int
eth_same(const uint8_t *a, const uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* The Internet checksum of n bytes: 0 over data that holds its own. */
static inline unsigned
eth_csum(const uint8_t *p, int n)
{
	uint32_t sum = 0;

	for (int i = 0; i + 1 < n; i += 2)
		sum += eth_get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static inline void
eth_header(uint8_t *f, const struct ethaddrs *a, const uint8_t *dst,
    unsigned type)
{
	eth_copy(f, dst, 6);
	eth_copy(f + 6, a->mac, 6);
	eth_put16(f + 12, type);
}

/* Who has peer_ip?  Returns the frame's length. */
static inline int
eth_arp_request(uint8_t *f, const struct ethaddrs *a)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	eth_header(f, a, bcast, 0x0806);
	eth_put16(f + 14, 1);			/* Ethernet */
	eth_put16(f + 16, 0x0800);		/* IPv4 */
	f[18] = 6;
	f[19] = 4;
	eth_put16(f + 20, 1);			/* request */
	eth_copy(f + 22, a->mac, 6);
	eth_copy(f + 28, a->ip, 4);
	for (int i = 32; i < 38; i++)
		f[i] = 0;
	eth_copy(f + 38, a->peer_ip, 4);
	return ETH_ARP_LEN;
}

/* An echo request to peer_mac, with payload bytes seq + i. */
static inline int
eth_echo_request(uint8_t *f, const struct ethaddrs *a, unsigned seq,
    int payload)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;

	eth_header(f, a, a->peer_mac, 0x0800);
	for (int i = 0; i < 20; i++)
		ip[i] = 0;
	ip[0] = 0x45;
	eth_put16(ip + 2, (unsigned)(20 + 8 + payload));
	eth_put16(ip + 4, seq);
	eth_put16(ip + 6, 0x4000);		/* don't fragment */
	ip[8] = 64;
	ip[9] = 1;				/* ICMP */
	eth_copy(ip + 12, a->ip, 4);
	eth_copy(ip + 16, a->peer_ip, 4);
	eth_put16(ip + 10, eth_csum(ip, 20));
	icmp[0] = 8;
	icmp[1] = 0;
	eth_put16(icmp + 2, 0);
	eth_put16(icmp + 4, ETH_ECHO_ID);
	eth_put16(icmp + 6, seq);
	for (int i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)(seq + (unsigned)i);
	eth_put16(icmp + 2, eth_csum(icmp, 8 + payload));
	return ETH_ECHO_LEN(payload);
}

/* Whether f is the peer's answer to our ARP request; learns its MAC. */
static inline int
eth_is_arp_reply(const uint8_t *f, uint32_t len, struct ethaddrs *a)
{
	if (len < ETH_ARP_LEN || eth_get16(f + 12) != 0x0806 ||
	    eth_get16(f + 20) != 2 || !eth_same(f, a->mac, 6) ||
	    !eth_same(f + 28, a->peer_ip, 4) || !eth_same(f + 38, a->ip, 4))
		return 0;
	eth_copy(a->peer_mac, f + 22, 6);
	return 1;
}

static inline int
eth_is_echo_reply(const uint8_t *f, uint32_t len, const struct ethaddrs *a,
    unsigned seq, int payload)
{
	const uint8_t *ip = f + 14, *icmp = ip + 20;

	if (len != (uint32_t)ETH_ECHO_LEN(payload) ||
	    eth_get16(f + 12) != 0x0800 || !eth_same(f, a->mac, 6) ||
	    ip[0] != 0x45 || ip[9] != 1 || !eth_same(ip + 12, a->peer_ip, 4) ||
	    !eth_same(ip + 16, a->ip, 4) || eth_csum(ip, 20) != 0 ||
	    icmp[0] != 0 || eth_get16(icmp + 4) != ETH_ECHO_ID ||
	    eth_get16(icmp + 6) != seq || eth_csum(icmp, 8 + payload) != 0)
		return 0;
	for (int i = 0; i < payload; i++)
		if (icmp[8 + i] != (uint8_t)(seq + (unsigned)i))
			return 0;
	return 1;
}

#endif
