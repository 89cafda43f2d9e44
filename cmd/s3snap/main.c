/* s3snap: snapshot layers in S3-compatible storage.  See s3snap(1). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "s3conf.h"
#include "s3sync.h"

#define MAX_FLAGS	16

struct opts {
	const char *config;
	int nset;
	struct { const char *name, *value, *flag; } set[MAX_FLAGS];
	bool quiet;
	int verbose;
	const char *cmd;
	char *const *args;
	int nargs;
};

/* Per-process: the signal that asked us to stop, 0 while none has. */
static volatile sig_atomic_t stop_signal;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: s3snap [options] put DIR s3://BUCKET/PREFIX\n"
	    "       s3snap [options] get s3://BUCKET/PREFIX DIR\n"
	    "       s3snap [options] ls s3://BUCKET[/PREFIX]\n"
	    "       s3snap [options] rm s3://BUCKET/PREFIX\n"
	    "       s3snap [-v] verify DIR\n"
	    "options: --config FILE --endpoint URL --region NAME\n"
	    "         --addressing-style auto|path|virtual --jobs N --retries N\n"
	    "         --part-size SIZE --limit-rate BYTES -q -v\n"
	    "       s3snap --help | --version\n");
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "region", required_argument, NULL, 'R' },
		{ "addressing-style", required_argument, NULL, 'A' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "retries", required_argument, NULL, 'r' },
		{ "part-size", required_argument, NULL, 'P' },
		{ "limit-rate", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const setting[128] = {
		['E'] = "endpoint", ['R'] = "region", ['A'] = "addressing_style",
		['j'] = "jobs", ['r'] = "retries", ['P'] = "part_size",
		['L'] = "limit_rate",
	};
	int ch, idx = 0;

	while ((ch = getopt_long(argc, argv, "j:qvh", flags, &idx)) != -1) {
		if (ch > 0 && ch < 128 && setting[ch] != NULL &&
		    o->nset < MAX_FLAGS) {
			o->set[o->nset].name = setting[ch];
			o->set[o->nset].value = optarg;
			o->set[o->nset++].flag = ch == 'j' ? "--jobs" :
			    flags[idx].name;
			continue;
		}
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose++; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		default: return -1;
		}
	}
	if (optind >= argc) {
		log_warnx("no command");
		return -1;
	}
	o->cmd = argv[optind];
	o->args = argv + optind + 1;
	o->nargs = argc - optind - 1;
	return 0;
}

static const char *
env(const char *name)
{
	return getenv(name);
}

/* The AWS CLI's files, config file, environment, flags: each overrides
 * the one before. */
static int
configure(const struct opts *o, struct s3conf *c)
{
	const char *file = o->config ? o->config : getenv("S3SNAP_CONFIG");

	s3conf_defaults(c);
	if (s3conf_aws(c, env) == -1)
		return -1;
	if (file != NULL && *file != '\0' && s3conf_file(c, file) == -1)
		return -1;
	if (s3conf_env(c, env) == -1)
		return -1;
	for (int i = 0; i < o->nset; i++)
		if (s3conf_set(c, o->set[i].name, o->set[i].value,
		    o->set[i].flag) == -1)
			return -1;
	s3conf_report(c);
	return s3conf_finish(c);
}

/* The command's operands: which is the s3:// one, which the directory. */
static int
operands(const struct opts *o, struct s3sync *y, const char **dir)
{
	static const struct { const char *cmd; int n, uri, dir; } cmds[] = {
		{ "put", 2, 1, 0 }, { "get", 2, 0, 1 }, { "ls", 1, 0, -1 },
		{ "rm", 1, 0, -1 }, { "verify", 1, -1, 0 },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(o->cmd, cmds[i].cmd) != 0)
			continue;
		if (o->nargs != cmds[i].n) {
			log_warnx("%s takes %d operand%s", o->cmd, cmds[i].n,
			    cmds[i].n > 1 ? "s" : "");
			return -1;
		}
		*dir = cmds[i].dir >= 0 ? o->args[cmds[i].dir] : NULL;
		if (*dir != NULL && **dir == '\0') {
			log_warnx("%s: empty directory name", o->cmd);
			return -1;
		}
		return cmds[i].uri < 0 ? 0 : s3_uri_parse(o->args[cmds[i].uri],
		    strcmp(o->cmd, "ls") != 0, &y->uri);
	}
	log_warnx("unknown command \"%s\"", o->cmd);
	return -1;
}

static int
run(const struct opts *o, struct s3sync *y, const char *dir)
{
	int rc;

	if (strcmp(o->cmd, "verify") == 0)
		return s3sync_verify(dir);
	if (s3_global_init() == -1)
		return EX_OSERR;
	if (strcmp(o->cmd, "put") == 0)
		rc = s3sync_put(y, dir);
	else if (strcmp(o->cmd, "get") == 0)
		rc = s3sync_get(y, dir);
	else if (strcmp(o->cmd, "ls") == 0)
		rc = s3sync_ls(y);
	else
		rc = s3sync_rm(y);
	s3_global_cleanup();
	return rc;
}

static void
catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	static struct opts o;
	static struct s3conf conf;
	struct s3sync y = { .conf = &conf, .cancel = &stop_signal };
	const char *dir = NULL;
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "s3snap", usage);
	if (operands(&o, &y, &dir) == -1)
		return cli_finish(CLI_USAGE, "s3snap", usage);
	log_init(argv[0], o.verbose ? LOG_INFO + o.verbose - 1 : LOG_WARN);
	if (strcmp(o.cmd, "verify") != 0 && configure(&o, &conf) == -1)
		return EX_USAGE;
	y.progress = !o.quiet && isatty(STDERR_FILENO);
	catch_signals();
	rc = run(&o, &y, dir);
	if (stop_signal != 0) {
		log_warnx("stopped by signal %d",
		    (int)stop_signal);
		signal(stop_signal, SIG_DFL);
		raise(stop_signal);
	}
	return rc;
}
