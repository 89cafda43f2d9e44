/*
 * snapvm-netcfg IFACE ADDR/PREFIX[,GATEWAY] [MAC]
 *
 * Brings lo up and gives IFACE the MAC (if given), the address and the
 * default route, replacing what it had: what the function runtime runs
 * when a "continue" message gives a restored copy its own address and
 * MAC (snapvm-protocol(5)).  Installed as /sbin/snapvm-netcfg in the
 * guest; built for the host too, for t/netcfg.bats.  Exit status from
 * sysexits.h: 64 usage, 65 a bad address or MAC, 66 no such interface,
 * 77 not permitted, 71 any other failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "netcfg.h"

static int
usage(void)
{
	fprintf(stderr, "usage: snapvm-netcfg IFACE ADDR/PREFIX[,GATEWAY] "
	    "[MAC]\n");
	return EX_USAGE;
}

static int
refused(const char *value, const char *why)
{
	fprintf(stderr, "snapvm-netcfg: \"%s\": %s\n", value, why);
	return EX_DATAERR;
}

static int
exit_class(int err)
{
	if (err == ENODEV)
		return EX_NOINPUT;	/* as vmrun says of a missing tap */
	if (err == EPERM || err == EACCES)
		return EX_NOPERM;
	return EX_OSERR;
}

static int
configure(const char *ifname, const struct netaddr *na, const uint8_t *mac)
{
	char err[NETCFG_ERR_LEN];
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = EX_OK;

	if (s == -1) {
		perror("snapvm-netcfg: socket");
		return EX_OSERR;
	}
	if (netcfg_link_up(s, "lo", err) == -1 ||
	    netcfg_iface(s, ifname, na, mac, err) == -1) {
		rc = exit_class(errno);
		fprintf(stderr, "snapvm-netcfg: %s\n", err);
	}
	close(s);
	return rc;
}

int
main(int argc, char **argv)
{
	struct netaddr na;
	uint8_t mac[6];
	const char *why;

	if (argc < 3 || argc > 4)
		return usage();
	if (!netcfg_ifname_ok(argv[1]))
		return refused(argv[1], "not an interface name");
	if ((why = netaddr_parse(argv[2], &na)) != NULL)
		return refused(argv[2], why);
	if (argc == 4 && (why = netaddr_parse_mac(argv[3], mac)) != NULL)
		return refused(argv[3], why);
	return configure(argv[1], &na, argc == 4 ? mac : NULL);
}
