/* snappager: a restore's guest memory served from local layers and from
 * layers in a store, fetched while the VM runs.  See snappager(1). */
#include <getopt.h>
#include <stdio.h>
#include <sysexits.h>

#include "cli.h"
#include "log.h"
#include "pager.h"
#include "s3opts.h"

struct opts {
	struct s3opts store;
	const char *socket;
	int verbose;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: snappager [options] --socket PATH LAYER...\n"
	    "       LAYER: DIR or s3://BUCKET/PREFIX=DIR, bottom first\n"
	    "options: --config FILE --endpoint URL --region NAME\n"
	    "         --addressing-style auto|path|virtual --jobs N --retries N\n"
	    "         --part-size SIZE --limit-rate BYTES -v\n"
	    "       snappager --help | --version\n");
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		S3OPTS_LONG,
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, S3OPTS_SHORT "vh", flags,
	    NULL)) != -1) {
		if (s3opts_take(&o->store, ch, optarg))
			continue;
		switch (ch) {
		case 's': o->socket = optarg; break;
		case 'v': o->verbose++; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		default: return CLI_USAGE;
		}
	}
	if (o->socket == NULL || *o->socket == '\0') {
		log_warnx("no --socket");
		return CLI_USAGE;
	}
	if (optind >= argc) {
		log_warnx("no layer");
		return CLI_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct opts o;
	static struct s3conf conf;
	struct pager_opts po = { 0 };
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "snappager", usage);
	log_init(argv[0], o.verbose ? LOG_INFO + o.verbose - 1 : LOG_WARN);
	po.socket = o.socket;
	po.layers = argv + optind;
	po.nlayers = argc - optind;
	for (int i = 0; i < po.nlayers; i++)
		if (pager_spec_store(po.layers[i]))
			po.conf = &conf;
	if (po.conf != NULL && s3opts_configure(&o.store, &conf) == -1)
		return EX_USAGE;
	if (po.conf != NULL && s3_global_init() == -1)
		return EX_OSERR;
	po.cancel = cli_catch_stop();
	rc = pager_run(&po);
	if (po.conf != NULL)
		s3_global_cleanup();
	cli_stopped();
	return rc;
}
