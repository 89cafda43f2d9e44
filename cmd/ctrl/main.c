/* ctrl: the snapvm dispatcher.  See ctrl(1) and snapvm-config(5). */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "ctrl.h"
#include "log.h"

#define DEFAULT_CONFIG	"/etc/snapvm/ctrl.yaml"

struct opts {
	const char *config, *requests;
	bool check;
	int verbosity;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: ctrl [--config FILE] [--check] "
	    "[--requests FILE|-] [-v] [-q]\n"
	    "       ctrl --help | --version\n");
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'C' },
		{ "requests", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "c:r:vqh", flags, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'C': o->check = true; break;
		case 'r': o->requests = optarg; break;
		case 'v': o->verbosity++; break;
		case 'q': o->verbosity = LOG_QUIET; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		default: return CLI_USAGE;
		}
	}
	if (optind != argc) {
		log_warnx("unexpected argument \"%s\"", argv[optind]);
		return CLI_USAGE;
	}
	return 0;
}

static int
open_requests(const char *path)
{
	int fd;

	if (path == NULL)
		return -1;
	if (strcmp(path, "-") == 0)
		return STDIN_FILENO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("%s", path);
	return fd;
}

static int
open_log(const struct ctrl_conf *c)
{
	int fd;

	if (strcmp(c->log, "stderr") == 0)
		return STDERR_FILENO;
	fd = open(c->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		log_warn("%s", c->log);
	return fd;
}

/* What --check found of the jail, on or off, since it may be on without
 * a jail section. */
static void
print_jail(const struct ctrl_conf *c)
{
	if (!c->jail) {
		printf("jail: off: runners run as ctrl's own user\n");
		return;
	}
	printf("jail: on: uids and gids %ju-%ju, base %s, cgroup %s%s\n",
	    (uintmax_t)c->jail_uid, (uintmax_t)(c->jail_uid + CTRL_BUILDER_SLOT),
	    c->jail_base, c->jail_cgroup[0] ? c->jail_cgroup : "none",
	    c->jail_delegated ? " (delegated)" : "");
}

static int
run(struct ctrl *c, const struct opts *o)
{
	char line[2 * CTRL_PATH + 256];
	int in_fd;

	if (ctrlconf_load(&c->conf, o->config) == -1)
		return EX_CONFIG;
	if (o->check) {
		printf("%s: ok, %d functions\n", o->config, c->conf.nfuncs);
		print_jail(&c->conf);
		ctrl_cpu_settle(c);
		printf("cpu: template %s (%s), workarounds %s (here %s); "
		    "layers in %s\n", c->conf.cpu_name, c->conf.cpu_template,
		    c->conf.cpu_workarounds, c->cpu_workarounds, c->cpu_dir);
		ctrl_pager_settle(c);
		ctrl_pager_describe(c, line, sizeof(line));
		printf("%s\n", line);
		return 0;
	}
	if ((c->log_fd = open_log(&c->conf)) == -1)
		return EX_CANTCREAT;
	if ((in_fd = open_requests(o->requests)) == -1 && o->requests != NULL)
		return EX_NOINPUT;
	if (in_fd == -1 && c->conf.nlisten == 0) {
		log_warnx("nothing to serve: no --requests and no listen address");
		return EX_USAGE;
	}
	c->out_fd = STDOUT_FILENO;
	return ctrl_loop_run(c, in_fd) == 0 ? 0 : EX_UNAVAILABLE;
}

int
main(int argc, char **argv)
{
	struct opts o = { DEFAULT_CONFIG, NULL, false, LOG_WARN };
	struct ctrl *c;
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "ctrl", usage);
	log_init(argv[0], o.verbosity);
	signal(SIGPIPE, SIG_IGN);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return EX_OSERR;
	rc = run(c, &o);
	free(c);
	return rc;
}
