/* tapnet: bridges and persistent taps for the network devices of snapvm
 * VMs.  See tapnet(1); its EXIT STATUS is what callers rely on. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "log.h"
#include "tapnet.h"

struct opts {
	const char *what[3];		/* object, verb, name */
	int nwhat;
	const char *addr, *bridge, *owner;
	int verbosity;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: tapnet [-qv] bridge add NAME [--addr CIDR]\n"
	    "       tapnet [-qv] bridge del NAME\n"
	    "       tapnet [-qv] tap add NAME [--bridge BRIDGE] [--owner USER]\n"
	    "       tapnet [-qv] tap del NAME\n"
	    "       tapnet [-qv] ls\n"
	    "       tapnet --help | --version\n");
}

/* 0: run; or CLI_HELP, CLI_VERSION, CLI_USAGE (an error, reported). */
static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "owner", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "qvh", flags, NULL)) != -1) {
		switch (ch) {
		case 'a': o->addr = optarg; break;
		case 'b': o->bridge = optarg; break;
		case 'o': o->owner = optarg; break;
		case 'q': o->verbosity = LOG_QUIET; break;
		case 'v': o->verbosity++; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		default: return -1;
		}
	}
	for (; optind < argc; optind++) {
		if (o->nwhat == 3) {
			log_warnx("unexpected argument \"%s\"", argv[optind]);
			return -1;
		}
		o->what[o->nwhat++] = argv[optind];
	}
	return 0;
}

static bool
is(const struct opts *o, const char *object, const char *verb)
{
	return o->nwhat == (verb ? 3 : 1) && strcmp(o->what[0], object) == 0 &&
	    (verb == NULL || strcmp(o->what[1], verb) == 0);
}

/* Which command this is: "ba", "bd", "ta", "td", "ls", or NULL. */
static const char *
command(const struct opts *o)
{
	const char *cmd = is(o, "bridge", "add") ? "ba" :
	    is(o, "bridge", "del") ? "bd" : is(o, "tap", "add") ? "ta" :
	    is(o, "tap", "del") ? "td" : is(o, "ls", NULL) ? "ls" : NULL;

	if (cmd == NULL)
		log_warnx("no such command; see the usage below");
	else if (o->addr && strcmp(cmd, "ba") != 0)
		log_warnx("--addr goes with bridge add only");
	else if ((o->bridge || o->owner) && strcmp(cmd, "ta") != 0)
		log_warnx("--bridge and --owner go with tap add only");
	else if (o->nwhat == 3 && !rtnl_ifname_ok(o->what[2]))
		log_warnx("\"%s\": not an interface name (1 to 15 bytes, no "
		    "'/', ':' or white space)", o->what[2]);
	else if (o->bridge && !rtnl_ifname_ok(o->bridge))
		log_warnx("--bridge: \"%s\" is not an interface name", o->bridge);
	else
		return cmd;
	return NULL;
}

static int
parse_owner(const char *s, long *uid)
{
	struct passwd *pw;
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0 &&
	    v < UINT32_MAX) {
		*uid = (long)v;
		return 0;
	}
	if ((pw = getpwnam(s)) != NULL) {
		*uid = (long)pw->pw_uid;
		return 0;
	}
	log_warnx("--owner: no user \"%s\"", s);
	return -1;
}

/* The errno of a failed operation as an exit status (tapnet(1)). */
static int
exit_status(int err)
{
	switch (err) {
	case EPERM: case EACCES:
		return EX_NOPERM;
	case ENODEV:
		return EX_NOINPUT;
	case EEXIST: case EINVAL: case ERANGE: case EDOM: case EADDRNOTAVAIL:
		return EX_DATAERR;
	case EBUSY:
		return EX_TEMPFAIL;
	case ENOENT: case ENXIO: case EAFNOSUPPORT: case EPROTONOSUPPORT:
	case EOPNOTSUPP:
		return EX_UNAVAILABLE;
	default:
		return EX_OSERR;
	}
}

static int
run(const struct opts *o, const char *cmd)
{
	struct rtnl_addr a;
	long owner = -1;
	int rc;

	if (o->addr && tapnet_parse_cidr(o->addr, &a) == -1)
		return EX_USAGE;
	if (o->owner && parse_owner(o->owner, &owner) == -1)
		return EX_NOUSER;
	if (strcmp(cmd, "ba") == 0)
		rc = tapnet_bridge_add(o->what[2], o->addr ? &a : NULL);
	else if (strcmp(cmd, "bd") == 0)
		rc = tapnet_bridge_del(o->what[2]);
	else if (strcmp(cmd, "ta") == 0)
		rc = tapnet_tap_add(o->what[2], o->bridge, owner);
	else if (strcmp(cmd, "td") == 0)
		rc = tapnet_tap_del(o->what[2]);
	else
		rc = tapnet_ls(stdout);
	return rc == 0 ? 0 : exit_status(errno);
}

int
main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = NULL;
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) == 0) {
		log_init(NULL, o.verbosity);
		cmd = command(&o);
	}
	if (rc != 0 || cmd == NULL)
		return cli_finish(rc != 0 ? rc : CLI_USAGE, "tapnet", usage);
	return run(&o, cmd);
}
