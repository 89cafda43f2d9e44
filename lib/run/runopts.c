/* The flags of vmrun(1) and snaprestore(1). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "monotime.h"
#include "reqloop.h"
#include "runner.h"

void
runner_usage(FILE *f, enum runner_mode mode)
{
	if (mode == RUNNER_VMRUN)
		fprintf(f, "usage: vmrun --kernel FILE [--initrd FILE] "
		    "[--cmdline STR] [--append STR]\n"
		    "             [--mem MIB] [--vcpus N] [--load-dir DIR[,DIFF...]]\n");
	else
		fprintf(f, "usage: snaprestore --load-dir DIR[,DIFF...] "
		    "[--mem MIB] [--vcpus N]\n");
	fprintf(f, "             [--rootfs FILE[,rw]] [--appfs FILE] "
	    "[--drive FILE[,rw]]...\n"
	    "             [--vsock PATH] [--cid N] [--net TAP[/MAC]]\n"
	    "             [--net-addr ADDR/PREFIX[,GATEWAY]] [--serve]\n"
	    "             [--max-request BYTES] [--timeout MS] [--dump-dir DIR]\n"
	    "             [--api-sock PATH] [--console FILE] [--console-in FILE]\n"
	    "             [--seccomp kill|log|off] [--no-seccomp] [--timings]\n"
	    "             [--record-workset FILE]%s\n"
	    "             [--cpu-workarounds auto|on|noxsave|off]\n"
	    "             [--cpu-template NAME|FILE] [--check-only] [-v] [-q]\n"
	    "       %s --load-dir DIR[,DIFF...] --add-workset FILE\n"
	    "       %s --help | --version\n",
	    mode == RUNNER_VMRUN ? "" : " [--page-server SOCKET]",
	    mode == RUNNER_VMRUN ? "vmrun" : "snaprestore",
	    mode == RUNNER_VMRUN ? "vmrun" : "snaprestore");
}

static int
parse_num(const char *flag, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max) {
		log_warnx("%s: expected a whole number from %ld to %ld, got \"%s\"",
		    flag, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int
split_layers(struct runner_opts *o, char *list)
{
	o->load = list;
	o->nlayers = 0;
	for (char *p = strtok(list, ","); p != NULL; p = strtok(NULL, ",")) {
		if (o->nlayers == SNAP_MAX_LAYERS) {
			log_warnx("--load-dir: at most %d layers", SNAP_MAX_LAYERS);
			return -1;
		}
		o->layer[o->nlayers++] = p;
	}
	if (o->nlayers == 0) {
		log_warnx("--load-dir: no directory given");
		return -1;
	}
	return 0;
}

static int
parse_net_addr(const char *s, struct netaddr *na)
{
	const char *why = netaddr_parse(s, na);

	if (why != NULL) {
		log_warnx("--net-addr: \"%s\": %s", s, why);
		return -1;
	}
	return 0;
}

static int
parse_seccomp(const char *s, enum jail_seccomp *mode)
{
	if (jail_seccomp_mode(s, mode) == -1) {
		log_warnx("--seccomp: expected kill, log or off, got \"%s\"", s);
		return -1;
	}
	return 0;
}

static int
parse_workarounds(const char *s, enum cpuwa *w)
{
	if (cpuwa_parse(s, w) == 0)
		return 0;
	log_warnx("--cpu-workarounds: expected " CPUWA_WORDS ", got \"%s\"",
	    s);
	return -1;
}

static const struct option runner_flags[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "cmdline", required_argument, NULL, 'c' },
	{ "initrd", required_argument, NULL, 'I' },
	{ "append", required_argument, NULL, 'A' },
	{ "mem", required_argument, NULL, 'm' },
	{ "vcpus", required_argument, NULL, 'n' },
	{ "console", required_argument, NULL, 'o' },
	{ "console-in", required_argument, NULL, 'i' },
	{ "rootfs", required_argument, NULL, 'r' },
	{ "appfs", required_argument, NULL, 'a' },
	{ "drive", required_argument, NULL, 'd' },
	{ "vsock", required_argument, NULL, 's' },
	{ "cid", required_argument, NULL, 'C' },
	{ "net", required_argument, NULL, 'N' },
	{ "net-addr", required_argument, NULL, 'E' },
	{ "serve", no_argument, NULL, 'S' },
	{ "max-request", required_argument, NULL, 'M' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "api-sock", required_argument, NULL, 'P' },
	{ "dump-dir", required_argument, NULL, 'D' },
	{ "load-dir", required_argument, NULL, 'L' },
	{ "seccomp", required_argument, NULL, 'X' },
	{ "no-seccomp", no_argument, NULL, 'x' },
	{ "timings", no_argument, NULL, 't' },
	{ "record-workset", required_argument, NULL, 'W' },
	{ "add-workset", required_argument, NULL, 'w' },
	{ "page-server", required_argument, NULL, 'g' },
	{ "cpu-workarounds", required_argument, NULL, 'U' },
	{ "cpu-template", required_argument, NULL, 'K' },
	{ "check-only", no_argument, NULL, 'O' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int
parse_limit(int ch, struct runner_opts *o)
{
	long n;

	switch (ch) {
	case 'C':
		if (parse_num("--cid", optarg, 3, UINT32_MAX - 1, &n) == -1)
			return -1;
		o->vm.cid = (uint64_t)n;
		return 0;
	case 'M':
		return parse_num("--max-request", optarg, 2, 1L << 30,
		    &o->max_request);
	case 'T':
		return parse_num("--timeout", optarg, 1, 86400000L, &o->timeout_ms);
	case 'm':
		if (parse_num("--mem", optarg, MEM_MIN_MIB, MEM_MAX_MIB, &n) == -1)
			return -1;
		o->vm.mem_mib = (uint64_t)n;
		return 0;
	default:	/* 'n' */
		if (parse_num("--vcpus", optarg, 1, VM_MAX_VCPUS, &n) == -1)
			return -1;
		o->vm.vcpus = (int)n;
		return 0;
	}
}

static int
parse_one(int ch, struct runner_opts *o)
{
	switch (ch) {
	case 'k': o->vm.kernel = optarg; return 0;
	case 'c': o->vm.cmdline = optarg; return 0;
	case 'I': o->vm.initrd = optarg; return 0;
	case 'A': o->vm.append = optarg; return 0;
	case 'o': o->vm.console = optarg; return 0;
	case 'i': o->vm.console_in = optarg; return 0;
	case 'r': o->rootfs = optarg; return 0;
	case 'a': o->appfs = optarg; return 0;
	case 's': o->vm.vsock = optarg; return 0;
	case 'S': o->serve = true; return 0;
	case 'P': o->api_sock = optarg; return 0;
	case 'D': o->dump_dir = optarg; return 0;
	case 'L': return split_layers(o, optarg);
	case 'N': return virtio_net_parse_opt(optarg, &o->vm.net);
	case 'E': return parse_net_addr(optarg, &o->vm.net_addr);
	case 'X': return parse_seccomp(optarg, &o->vm.seccomp);
	case 'x': o->vm.seccomp = JAIL_SECCOMP_OFF; return 0;
	case 't': o->timings = true; return 0;
	case 'W': o->record_workset = optarg; return 0;
	case 'w': o->add_workset = optarg; return 0;
	case 'g': o->vm.page_server = optarg; return 0;
	case 'U': return parse_workarounds(optarg, &o->cpu_workarounds);
	case 'K': o->cpu_template = optarg; return 0;
	case 'O': o->check_only = true; return 0;
	case 'v': o->verbosity++; return 0;
	case 'q': o->verbosity = LOG_QUIET; return 0;
	case 'h': return CLI_HELP;
	case 'V': return CLI_VERSION;
	case 'd':
		if (o->ndrives == VM_MAX_DRIVES) {
			log_warnx("--drive: at most %d drives", VM_MAX_DRIVES);
			return -1;
		}
		o->drive[o->ndrives++] = optarg;
		return 0;
	case 'C': case 'M': case 'T': case 'm': case 'n':
		return parse_limit(ch, o);
	default:
		return -1;
	}
}

/* The page server serves a restore's memory from the layers' files as
 * they were made: a record of what the guest touches needs those files
 * mapped here (exact_touch), and vmrun boots. */
static int
check_page_server(const struct runner_opts *o)
{
	if (o->mode == RUNNER_VMRUN) {
		log_warnx("--page-server is snaprestore's: vmrun boots guests");
		return -1;
	}
	if (o->record_workset || o->add_workset) {
		log_warnx("--page-server: no --%s-workset: a working set is "
		    "recorded and added from the layers' own memory files",
		    o->add_workset ? "add" : "record");
		return -1;
	}
	return 0;
}

static int
check_mode(const struct runner_opts *o)
{
	bool restoring = o->nlayers > 0;

	if (o->mode == RUNNER_SNAPRESTORE && !restoring) {
		log_warnx("--load-dir DIR is required");
		return -1;
	}
	if (restoring && (o->vm.kernel || o->vm.initrd || o->vm.cmdline ||
	    o->vm.append)) {
		log_warnx("--kernel, --initrd, --cmdline and --append come from "
		    "the snapshot when restoring");
		return -1;
	}
	if ((o->record_workset || o->add_workset) && !restoring) {
		log_warnx("--%s-workset is about snapshot layers: it needs "
		    "--load-dir", o->add_workset ? "add" : "record");
		return -1;
	}
	if (o->check_only && (!restoring || o->add_workset ||
	    o->record_workset)) {
		log_warnx("--check-only checks snapshot layers (--load-dir) "
		    "and runs nothing: no --add-workset or --record-workset");
		return -1;
	}
	if (o->record_workset && o->add_workset) {
		log_warnx("--add-workset starts no VM; --record-workset records "
		    "one's pages: give one of them");
		return -1;
	}
	if (o->vm.page_server != NULL && check_page_server(o) == -1)
		return -1;
	if (o->vm.net_addr.prefix != 0 && o->vm.net.tap == NULL) {
		log_warnx("--net-addr needs --net: the address is for the "
		    "guest's network device");
		return -1;
	}
	if (!restoring && o->vm.kernel == NULL) {
		log_warnx("--kernel FILE is required");
		return -1;
	}
	return 0;
}

/* An empty file, socket or directory name would name no file, or
 * (as a socket's) Linux's unnamed abstract one; a command line or an
 * --append may be empty. */
static int
check_empty(int ch)
{
	const struct option *f;

	if (optarg == NULL || *optarg != '\0' || ch == 'c' || ch == 'A')
		return 0;
	for (f = runner_flags; f->name != NULL && f->val != ch; f++)
		;
	log_warnx("--%s: an empty value", f->name != NULL ? f->name : "?");
	return -1;
}

int
runner_parse(int argc, char **argv, struct runner_opts *o,
    enum runner_mode mode)
{
	int ch, rc;

	memset(o, 0, sizeof(*o));
	o->start_us = mono_us();
	o->mode = mode;
	o->verbosity = LOG_WARN;
	o->max_request = REQLOOP_MAX_REQUEST;
	o->vm.cid = 3;
	o->vm.seccomp = JAIL_SECCOMP_KILL;
	while ((ch = getopt_long(argc, argv,
	    "k:c:I:A:m:n:o:i:r:a:d:s:C:SM:vqh", runner_flags, NULL)) != -1) {
		if (mode == RUNNER_SNAPRESTORE && strchr("kcIA", ch) != NULL) {
			log_warnx("snaprestore takes the kernel and its command "
			    "line from the snapshot");
			return -1;
		}
		if (check_empty(ch) == -1)
			return -1;
		if ((rc = parse_one(ch, o)) != 0)
			return rc;
	}
	if (optind != argc) {
		log_warnx("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	return check_mode(o);
}
