/* s3snap: snapshot layers in S3-compatible storage.  See s3snap(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "s3opts.h"
#include "s3sync.h"

struct opts {
	struct s3opts store;
	bool quiet;
	int verbose;
	const char *cmd;
	char *const *args;
	int nargs;
};

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

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		S3OPTS_LONG,
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, S3OPTS_SHORT "qvh", flags,
	    NULL)) != -1) {
		if (s3opts_take(&o->store, ch, optarg))
			continue;
		switch (ch) {
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

int
main(int argc, char **argv)
{
	static struct opts o;
	static struct s3conf conf;
	struct s3sync y = { .conf = &conf };
	const char *dir = NULL;
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "s3snap", usage);
	if (operands(&o, &y, &dir) == -1)
		return cli_finish(CLI_USAGE, "s3snap", usage);
	log_init(argv[0], o.verbose ? LOG_INFO + o.verbose - 1 : LOG_WARN);
	if (strcmp(o.cmd, "verify") != 0 &&
	    s3opts_configure(&o.store, &conf) == -1)
		return EX_USAGE;
	y.progress = !o.quiet && isatty(STDERR_FILENO);
	y.cancel = cli_catch_stop();
	rc = run(&o, &y, dir);
	cli_stopped();
	return rc;
}
