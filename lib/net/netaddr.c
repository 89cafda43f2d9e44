#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

#define FORM	"not of the form A.B.C.D/PREFIX[,GATEWAY]"

/* A decimal number up to max without leading zeros (inet_aton would
 * read "010" as octal: refused rather than guessed); advances *p. */
static int
decimal(const char **p, int max)
{
	const char *s = *p;
	int v = 0, n = 0;

	while (isdigit((unsigned char)s[n]) && v <= max)
		v = v * 10 + (s[n++] - '0');
	if (n == 0 || v > max || (n > 1 && s[0] == '0'))
		return -1;
	*p = s + n;
	return v;
}

static int
dotted_quad(const char **p, uint32_t *ip)
{
	uint32_t a = 0;

	for (int i = 0; i < 4; i++) {
		int o;

		if (i > 0) {
			if (**p != '.')
				return -1;
			(*p)++;
		}
		if ((o = decimal(p, 255)) == -1)
			return -1;
		a = a << 8 | (uint32_t)o;
	}
	*ip = a;
	return 0;
}

uint32_t
netaddr_mask(int prefix)
{
	if (prefix <= 0)
		return 0;
	return prefix >= 32 ? 0xffffffffU : 0xffffffffU << (32 - prefix);
}

/* 0/8, 127/8 and 224/4 are no host's; 255.255.255.255 is everyone's. */
static bool
unicast(uint32_t ip)
{
	uint32_t first = ip >> 24;

	return first != 0 && first != 127 && (first & 0xf0) != 0xe0 &&
	    ip != 0xffffffffU;
}

/* Whether ip is the network's own or broadcast address; /31 and /32
 * have neither (RFC 3021). */
static bool
reserved_in(uint32_t ip, int prefix)
{
	uint32_t host = ip & ~netaddr_mask(prefix);

	return prefix <= 30 && (host == 0 || host == ~netaddr_mask(prefix));
}

static const char *
check(const struct netaddr *na)
{
	uint32_t mask = netaddr_mask(na->prefix);

	if (!unicast(na->addr))
		return "the address is not a unicast address (0/8, 127/8, "
		    "multicast or broadcast)";
	if (reserved_in(na->addr, na->prefix))
		return "the address is its network's own or broadcast address";
	if (na->gw == 0)
		return NULL;
	if ((na->gw & mask) != (na->addr & mask) || !unicast(na->gw))
		return "the gateway is not inside the address's network";
	if (na->gw == na->addr)
		return "the gateway is the address itself";
	if (reserved_in(na->gw, na->prefix))
		return "the gateway is its network's own or broadcast address";
	return NULL;
}

const char *
netaddr_parse(const char *s, struct netaddr *na)
{
	const char *p = s;
	struct netaddr r = { 0, 0, 0 };
	const char *why;

	if (dotted_quad(&p, &r.addr) == -1)
		return "the address is not A.B.C.D, four numbers 0 to 255";
	if (*p++ != '/')
		return FORM;
	if (!isdigit((unsigned char)*p))
		return FORM;
	if ((r.prefix = decimal(&p, 32)) < 1)
		return "the prefix length must be 1 to 32";
	if (*p == ',') {
		p++;
		if (dotted_quad(&p, &r.gw) == -1)
			return "the gateway is not A.B.C.D, four numbers 0 to 255";
		if (r.gw == 0)
			return "the gateway is not inside the address's network";
	}
	if (*p != '\0')
		return FORM;
	if ((why = check(&r)) != NULL)
		return why;
	*na = r;
	return NULL;
}

void
netaddr_ip(uint32_t ip, char buf[NETADDR_IP_LEN])
{
	snprintf(buf, NETADDR_IP_LEN, "%u.%u.%u.%u", ip >> 24,
	    (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

void
netaddr_format(const struct netaddr *na, char buf[NETADDR_LEN])
{
	char a[NETADDR_IP_LEN], g[NETADDR_IP_LEN];

	netaddr_ip(na->addr, a);
	netaddr_ip(na->gw, g);
	snprintf(buf, NETADDR_LEN, "%s/%d%s%s", a, na->prefix,
	    na->gw ? "," : "", na->gw ? g : "");
}

static int
nibble(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	    tolower((unsigned char)c) - 'a' + 10;
}

const char *
netaddr_parse_mac(const char *s, uint8_t mac[6])
{
	uint8_t m[6];

	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return "not a MAC address such as 02:53:00:00:00:05";
	if (s[17] != '\0')
		return "not a MAC address such as 02:53:00:00:00:05";
	for (int i = 0; i < 6; i++)
		m[i] = (uint8_t)(nibble(s[3 * i]) << 4 | nibble(s[3 * i + 1]));
	if (m[0] & 1)
		return "a multicast MAC address";
	if (memcmp(m, "\0\0\0\0\0\0", 6) == 0)
		return "the all-zero MAC address";
	memcpy(mac, m, 6);
	return NULL;
}

void
netaddr_format_mac(const uint8_t mac[6], char buf[NETADDR_MAC_LEN])
{
	snprintf(buf, NETADDR_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x",
	    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
