/*
 * The guest's address as the host hands it over (lib/net/netaddr.c, compiled
 * into vmrun and into the guest's init and snapvm-netcfg alike), and the
 * snapvm.net= that a cold boot's command line gets from it.
 */
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "vmconf.h"
#include "unit.h"

#define IP(a, b, c, d)	((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static void
test_accepted(void)
{
	struct netaddr na;
	char buf[NETADDR_LEN];

	CHECK(netaddr_parse("10.0.0.5/24,10.0.0.1", &na) == NULL);
	CHECK_EQ(na.addr, IP(10, 0, 0, 5));
	CHECK_EQ(na.prefix, 24);
	CHECK_EQ(na.gw, IP(10, 0, 0, 1));
	netaddr_format(&na, buf);
	CHECK(strcmp(buf, "10.0.0.5/24,10.0.0.1") == 0);
	CHECK(netaddr_parse("192.0.2.2/32", &na) == NULL);
	CHECK_EQ(na.gw, 0);
	netaddr_format(&na, buf);
	CHECK(strcmp(buf, "192.0.2.2/32") == 0);
	/* /31: both addresses are hosts' (RFC 3021) */
	CHECK(netaddr_parse("198.51.100.0/31,198.51.100.1", &na) == NULL);
	CHECK(netaddr_parse("1.2.3.4/1", &na) == NULL);
	CHECK_EQ(na.prefix, 1);
	CHECK(netaddr_parse("240.0.0.1/4", &na) == NULL);	/* class E */
	CHECK_EQ(netaddr_mask(24), IP(255, 255, 255, 0));
	CHECK_EQ(netaddr_mask(1), IP(128, 0, 0, 0));
	CHECK_EQ(netaddr_mask(32), 0xffffffffU);
	CHECK_EQ(netaddr_mask(0), 0);
}

struct refusal {
	const char *text, *why;
};

static const struct refusal refusals[] = {
	{ "", "the address is not A.B.C.D" },
	{ "10.0.0.5", "not of the form" },
	{ "10.0.0.5/", "not of the form" },
	{ "10.0.0.5 /24", "not of the form" },
	{ "10.0.0.5/24 ", "not of the form" },
	{ "10.0.0.5/24x", "not of the form" },
	{ "10.0.0.5/24,10.0.0.1,", "not of the form" },
	{ "10.0.0.5/24,10.0.0.1x", "not of the form" },
	{ "10.0.0.5/+24", "not of the form" },
	{ "10.0.0.5/0", "the prefix length must be 1 to 32" },
	{ "10.0.0.5/33", "the prefix length must be 1 to 32" },
	{ "10.0.0.5/024", "the prefix length must be 1 to 32" },
	{ "10.0.0.5/100", "the prefix length must be 1 to 32" },
	{ "10.0.0.256/24", "the address is not A.B.C.D" },
	{ "10.0.0/24", "the address is not A.B.C.D" },
	{ "10.0.0.0.5/24", "not of the form" },
	{ "010.0.0.5/24", "the address is not A.B.C.D" },
	{ "10.0.00.5/24", "the address is not A.B.C.D" },
	{ "10.0.0.-5/24", "the address is not A.B.C.D" },
	{ " 10.0.0.5/24", "the address is not A.B.C.D" },
	{ "10.0.0.1000/24", "the address is not A.B.C.D" },
	{ "0.1.2.3/8", "not a unicast address" },
	{ "0.0.0.0/8", "not a unicast address" },
	{ "127.0.0.2/8", "not a unicast address" },
	{ "224.0.0.1/24", "not a unicast address" },
	{ "239.1.1.1/24", "not a unicast address" },
	{ "255.255.255.255/32", "not a unicast address" },
	{ "10.0.0.0/24", "its network's own or broadcast address" },
	{ "10.0.0.255/24", "its network's own or broadcast address" },
	{ "10.0.0.5/24,", "the gateway is not A.B.C.D" },
	{ "10.0.0.5/24,10.0.0", "the gateway is not A.B.C.D" },
	{ "10.0.0.5/24,10.0.1.1", "the gateway is not inside" },
	{ "10.0.0.5/24,0.0.0.0", "the gateway is not inside" },
	{ "10.0.0.5/32,10.0.0.1", "the gateway is not inside" },
	{ "10.0.0.5/24,10.0.0.5", "the gateway is the address itself" },
	{ "10.0.0.5/24,10.0.0.255", "the gateway is its network's own" },
	{ "10.0.0.5/24,10.0.0.0", "the gateway is its network's own" },
	{ "255.255.255.254/31,255.255.255.255", "the gateway is not inside" },
};

static void
test_refused(void)
{
	struct netaddr na = { IP(1, 1, 1, 1), 9, 0 };

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const char *why = netaddr_parse(refusals[i].text, &na);

		if (why == NULL || strstr(why, refusals[i].why) == NULL) {
			printf("#   \"%s\": got \"%s\", expected \"%s\"\n",
			    refusals[i].text, why ? why : "(accepted)",
			    refusals[i].why);
			unit_failed++;
		}
	}
	CHECK_EQ(na.addr, IP(1, 1, 1, 1));	/* untouched when refused */
	CHECK_EQ(na.prefix, 9);
}

/* Mutations of good texts: never a crash, and whatever is accepted is
 * written back exactly as it was read (the syntax has one spelling). */
static void
test_mutations(void)
{
	static const char *seeds[] = { "10.0.0.5/24,10.0.0.1", "192.0.2.2/32",
	    "172.16.254.1/12,172.16.0.1" };
	static const char alphabet[] = "0123456789./,x ";
	char s[48], back[NETADDR_LEN];
	struct netaddr na;
	unsigned accepted = 0;

	srand(5);
	for (int i = 0; i < 200000; i++) {
		size_t n;

		snprintf(s, sizeof(s), "%s", seeds[i % 3]);
		n = strlen(s);
		for (int k = rand() % 3; k >= 0; k--) {
			size_t at = (size_t)rand() % n;

			s[at] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		}
		if (netaddr_parse(s, &na) != NULL)
			continue;
		accepted++;
		netaddr_format(&na, back);
		if (strcmp(back, s) != 0) {
			printf("#   \"%s\" read back as \"%s\"\n", s, back);
			unit_failed++;
			return;
		}
	}
	CHECK(accepted > 1000);
}

static void
test_mac(void)
{
	uint8_t mac[6] = { 0 };
	char buf[NETADDR_MAC_LEN];

	CHECK(netaddr_parse_mac("02:53:00:00:00:05", mac) == NULL);
	CHECK(memcmp(mac, "\x02\x53\0\0\0\x05", 6) == 0);
	CHECK(netaddr_parse_mac("0A:bC:dE:f0:12:FF", mac) == NULL);
	netaddr_format_mac(mac, buf);
	CHECK(strcmp(buf, "0a:bc:de:f0:12:ff") == 0);
	CHECK(netaddr_parse_mac("02:53:00:00:00", mac) != NULL);
	CHECK(netaddr_parse_mac("02:53:00:00:00:05:", mac) != NULL);
	CHECK(netaddr_parse_mac("02-53-00-00-00-05", mac) != NULL);
	CHECK(netaddr_parse_mac("02:53:00:00:00:g5", mac) != NULL);
	CHECK(netaddr_parse_mac("2:53:00:00:00:05", mac) != NULL);
	CHECK(netaddr_parse_mac("", mac) != NULL);
	CHECK(strstr(netaddr_parse_mac("03:00:00:00:00:01", mac),
	    "multicast") != NULL);
	CHECK(strstr(netaddr_parse_mac("00:00:00:00:00:00", mac),
	    "all-zero") != NULL);
	CHECK(memcmp(mac, "\x0a\xbc\xde\xf0\x12\xff", 6) == 0);
}

/* A cold boot tells the guest's init with snapvm.net=, unless the
 * caller's own line already does. */
static void
test_cmdline(void)
{
	struct vm_config cfg = { .cmdline = "console=ttyS0" };
	char line[2048];

	CHECK(netaddr_parse("192.0.2.7/24,192.0.2.1", &cfg.net_addr) == NULL);
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, " snapvm.net=192.0.2.7/24,192.0.2.1") != NULL);
	cfg.append = "snapvm.net=10.9.9.9/8";
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "snapvm.net=192.0.2.7") == NULL);
	CHECK(strstr(line, "snapvm.net=10.9.9.9/8") != NULL);
	cfg.append = NULL;
	cfg.cmdline = "snapvm.network=x";	/* another parameter */
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "snapvm.net=192.0.2.7/24,192.0.2.1") != NULL);
	cfg.net_addr.prefix = 0;		/* no --net-addr */
	CHECK_EQ(vmconf_cmdline(&cfg, line, sizeof(line)), 0);
	CHECK(strstr(line, "snapvm.net=") == NULL);
}

static const struct unit_test tests[] = {
	{ "netaddr: addresses, prefixes and gateways read and written",
	    test_accepted },
	{ "netaddr: every malformed or unusable text is refused, with why",
	    test_refused },
	{ "netaddr: mutated texts never crash; accepted ones read back",
	    test_mutations },
	{ "netaddr: MAC addresses", test_mac },
	{ "netaddr: snapvm.net= on a cold boot's command line", test_cmdline },
};

UNIT_MAIN(tests)
