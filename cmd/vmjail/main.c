/* vmjail: runs one snapvm runner in a jail of its own.  See vmjail(1);
 * its EXIT STATUS is what callers rely on. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>

#include "cli.h"
#include "jail.h"
#include "log.h"

#define JAIL_BASE	"/srv/snapvm/jail"

static void
usage(FILE *f)
{
	fprintf(f, "usage: vmjail [-qv] --id ID --uid UID --gid GID [--base DIR]\n"
	    "              [--ro PATH]... [--rw DIR] [--dev PATH]... [--fd N]...\n"
	    "              [--env NAME=VALUE]... [--cgroup DIR] [--memory-max BYTES]\n"
	    "              [--pids-max N] [--cpu-weight N] [--nofile N]\n"
	    "              [--fsize BYTES] [--proc] -- RUNNER [ARG...]\n"
	    "       vmjail [-qv] --remove --id ID [--base DIR] [--cgroup DIR]\n"
	    "       vmjail --help | --version\n");
}

/* A count or a size: digits, for a size with an optional K, M or G. */
static int
number(const char *flag, const char *s, bool size, uint64_t max, uint64_t *v)
{
	char *end;
	uint64_t n, mul = 1;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (size && *end != '\0' && end[1] == '\0')
		mul = *end == 'K' ? 1ULL << 10 : *end == 'M' ? 1ULL << 20 :
		    *end == 'G' ? 1ULL << 30 : 0;
	if (mul != 1 && mul != 0)
		end++;
	if (errno != 0 || end == s || *end != '\0' || mul == 0 || s[0] == '-' ||
	    n > max / mul) {
		log_warnx("%s %s: not a %s up to %" PRIu64, flag, s,
		    size ? "size (bytes, or with K, M or G)" : "number", max);
		return -1;
	}
	*v = n * mul;
	return 0;
}

struct opts {
	struct jail_conf c;
	bool remove;
	int verbosity;
};

static int
parse_value(struct opts *o, int ch, const char *arg)
{
	struct jail_conf *c = &o->c;
	uint64_t v;

	switch (ch) {
	case 'i': c->id = arg; return 0;
	case 'b': c->base = arg; return 0;
	case 'r': return jail_conf_bind(c, arg, JAIL_RO);
	case 'w': return jail_conf_bind(c, arg, JAIL_RW);
	case 'd': return jail_conf_bind(c, arg, JAIL_DEV);
	case 'c': c->cgroup = arg; return 0;
	case 'e':
		if (strchr(arg, '=') == NULL || c->nenv == JAIL_MAX_ENV) {
			log_warnx("--env %s: NAME=VALUE, at most %d", arg,
			    JAIL_MAX_ENV);
			return -1;
		}
		c->env[c->nenv++] = arg;
		return 0;
	}
	if (number(ch == 'u' ? "--uid" : ch == 'g' ? "--gid" : ch == 'f' ? "--fd" :
	    ch == 'm' ? "--memory-max" : ch == 'p' ? "--pids-max" :
	    ch == 'W' ? "--cpu-weight" : ch == 'n' ? "--nofile" : "--fsize", arg,
	    ch == 'm' || ch == 'F', ch == 'f' ? 1023 : UINT32_MAX * (ch == 'm' ||
	    ch == 'F' ? 1024ULL * 1024 : 1ULL), &v) == -1)
		return -1;
	switch (ch) {
	case 'u': c->uid = (uid_t)v; break;
	case 'g': c->gid = (gid_t)v; break;
	case 'm': c->memory_max = v; break;
	case 'p': c->pids_max = v; break;
	case 'W': c->cpu_weight = (uint32_t)v; break;
	case 'n': c->nofile = v; break;
	case 'F': c->fsize = v; break;
	default:
		if (c->nkeep == JAIL_MAX_FDS || v < 3) {
			log_warnx("--fd %s: 3 to 1023, at most %d", arg,
			    JAIL_MAX_FDS);
			return -1;
		}
		c->keep[c->nkeep++] = (int)v;
	}
	return 0;
}

/* 0: run; or CLI_HELP, CLI_VERSION, CLI_USAGE (an error, reported). */
static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "base", required_argument, NULL, 'b' },
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "ro", required_argument, NULL, 'r' },
		{ "rw", required_argument, NULL, 'w' },
		{ "dev", required_argument, NULL, 'd' },
		{ "fd", required_argument, NULL, 'f' },
		{ "env", required_argument, NULL, 'e' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "memory-max", required_argument, NULL, 'm' },
		{ "pids-max", required_argument, NULL, 'p' },
		{ "cpu-weight", required_argument, NULL, 'W' },
		{ "nofile", required_argument, NULL, 'n' },
		{ "fsize", required_argument, NULL, 'F' },
		{ "proc", no_argument, NULL, 'P' },
		{ "remove", no_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->c.base = JAIL_BASE;
	o->c.uid = (uid_t)-1;
	o->c.gid = (gid_t)-1;
	o->c.nofile = 1024;
	while ((ch = getopt_long(argc, argv, "+qvh", flags, NULL)) != -1) {
		switch (ch) {
		case 'R': o->remove = true; break;
		case 'P': o->c.proc = true; break;
		case 'q': o->verbosity = LOG_QUIET; break;
		case 'v': o->verbosity++; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		case '?': return -1;
		default:
			if (parse_value(o, ch, optarg) == -1)
				return -1;
		}
	}
	if (!o->remove && (optind == argc || argv[optind][0] != '/')) {
		log_warnx("%s: give the runner by its absolute path after the "
		    "flags", optind == argc ? "(none)" : argv[optind]);
		return -1;
	}
	return 0;
}

/* Ends the way the runner did: its exit status, or its signal. */
static int
report(int status)
{
	if (WIFSIGNALED(status)) {
		struct rlimit none = { 0, 0 };

		setrlimit(RLIMIT_CORE, &none);
		signal(WTERMSIG(status), SIG_DFL);
		raise(WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int
main(int argc, char **argv)
{
	struct opts o;
	int rc, status;

	log_init("vmjail", LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "vmjail", usage);
	log_init("vmjail", o.verbosity);
	if (o.remove)
		return jail_conf_check_place(&o.c) == -1 ? EX_USAGE :
		    jail_remove(&o.c, 2000) == 0 ? 0 : EX_OSERR;
	if (jail_conf_check(&o.c) == -1)
		return EX_USAGE;
	if (jail_libs_bind(&o.c, argv[optind]) == -1)
		return EX_NOINPUT;
	rc = jail_run(&o.c, argv + optind, &status);
	jail_conf_free(&o.c);
	return rc == -1 ? status : report(status);
}
