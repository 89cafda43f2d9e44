/* vmrun: run a guest kernel in a KVM virtual machine.  See vmrun(1). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "file.h"
#include "log.h"
#include "reqloop.h"
#include "vm.h"

static void
usage(void)
{
	fprintf(stderr, "usage: vmrun --kernel FILE [--initrd FILE] "
	    "[--cmdline STR] [--append STR]\n"
	    "             [--mem MIB] [--vcpus N]\n"
	    "             [--rootfs FILE[,rw]] [--appfs FILE] "
	    "[--drive FILE[,rw]]...\n"
	    "             [--vsock PATH] [--cid N] [--serve] "
	    "[--max-request BYTES]\n"
	    "             [--console FILE] [--console-in FILE] [-v] [-q]\n");
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

/* Drives in guest order: root filesystem, app filesystem, the others. */
struct drives {
	char *rootfs, *appfs;
	int n;
	char *other[VM_MAX_DRIVES];
};

static int
add_drive(struct vm_config *cfg, const char *flag, char *spec,
    bool default_ro)
{
	struct vm_drive *d = &cfg->drive[cfg->ndrives];
	char *comma = strrchr(spec, ',');

	if (cfg->ndrives == VM_MAX_DRIVES) {
		log_warnx("%s: at most %d drives", flag, VM_MAX_DRIVES);
		return -1;
	}
	d->read_only = default_ro;
	if (comma != NULL && (strcmp(comma, ",rw") == 0 ||
	    strcmp(comma, ",ro") == 0)) {
		d->read_only = comma[2] == 'o';
		*comma = '\0';		/* the flag's own argv string */
	}
	d->path = spec;
	cfg->ndrives++;
	return 0;
}

static int
place_drives(struct vm_config *cfg, const struct drives *d)
{
	if (d->rootfs != NULL) {
		if (add_drive(cfg, "--rootfs", d->rootfs, true) == -1)
			return -1;
		cfg->rootfs = true;
	}
	if (d->appfs != NULL && add_drive(cfg, "--appfs", d->appfs, true) == -1)
		return -1;
	for (int i = 0; i < d->n; i++)
		if (add_drive(cfg, "--drive", d->other[i], true) == -1)
			return -1;
	return 0;
}

/* What main needs besides the VM configuration. */
struct opts {
	int verbosity;
	bool serve;
	long max_request;
};

static int
parse_args(int argc, char **argv, struct vm_config *cfg, struct opts *o)
{
	static const struct option opts[] = {
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
		{ "serve", no_argument, NULL, 'S' },
		{ "max-request", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct drives drives = { NULL, NULL, 0, { NULL } };
	long n;
	int ch;

	while ((ch = getopt_long(argc, argv, "k:c:I:A:m:n:o:i:r:a:d:s:C:SM:vqh", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'k': cfg->kernel = optarg; break;
		case 'c': cfg->cmdline = optarg; break;
		case 'I': cfg->initrd = optarg; break;
		case 'A': cfg->append = optarg; break;
		case 'o': cfg->console = optarg; break;
		case 'i': cfg->console_in = optarg; break;
		case 'r': drives.rootfs = optarg; break;
		case 'a': drives.appfs = optarg; break;
		case 's': cfg->vsock = optarg; break;
		case 'C':
			if (parse_num("--cid", optarg, 3, UINT32_MAX - 1, &n) == -1)
				return -1;
			cfg->cid = (uint64_t)n;
			break;
		case 'd':
			if (drives.n == VM_MAX_DRIVES) {
				log_warnx("--drive: at most %d drives", VM_MAX_DRIVES);
				return -1;
			}
			drives.other[drives.n++] = optarg;
			break;
		case 'v': o->verbosity++; break;
		case 'q': o->verbosity = LOG_QUIET; break;
		case 'S': o->serve = true; break;
		case 'M':
			if (parse_num("--max-request", optarg, 2, 1L << 30,
			    &o->max_request) == -1)
				return -1;
			break;
		case 'h': return 1;
		case 'm':
			if (parse_num("--mem", optarg, MEM_MIN_MIB, MEM_MAX_MIB,
			    &n) == -1)
				return -1;
			cfg->mem_mib = (uint64_t)n;
			break;
		case 'n':
			if (parse_num("--vcpus", optarg, 1, VM_MAX_VCPUS, &n) == -1)
				return -1;
			cfg->vcpus = (int)n;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc) {
		log_warnx("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (cfg->kernel == NULL) {
		log_warnx("--kernel FILE is required");
		return -1;
	}
	o->serve = o->serve || drives.appfs != NULL;
	return place_drives(cfg, &drives);
}

static int
exit_status(const struct vm_result *r)
{
	switch (r->kind) {
	case VM_STOP_EXIT:
		return r->status & 0xff;
	case VM_STOP_RESET:
	case VM_STOP_POWEROFF:
		return 0;
	case VM_STOP_SIGNAL:
		return 128 + r->status;
	default:
		return EX_SOFTWARE;
	}
}

/* Request mode: JSON lines on stdin, responses on stdout. */
static int
serve(struct vm *vm, const struct vm_config *cfg, const struct opts *o,
    struct vm_result *res)
{
	struct reqloop_config rc = { cfg->vsock, STDIN_FILENO, STDOUT_FILENO,
	    (size_t)o->max_request };

	return reqloop_run(vm, &rc, res);
}

int
main(int argc, char **argv)
{
	struct vm_config cfg = { .mem_mib = 128, .vcpus = 1, .cid = 3 };
	struct opts o = { LOG_WARN, false, REQLOOP_MAX_REQUEST };
	struct vm_result res;
	struct vm vm;
	char dir[256] = "", sock[300];
	int rc;

	vm_hold_signals();
	log_init(argv[0], LOG_WARN);
	if ((rc = parse_args(argc, argv, &cfg, &o)) != 0) {
		usage();
		return rc == 1 ? 0 : EX_USAGE;
	}
	log_init(argv[0], o.verbosity);
	signal(SIGPIPE, SIG_IGN);
	if (o.serve && cfg.vsock == NULL) {
		if (file_tmpdir(dir, sizeof(dir)) == -1)
			return EX_CANTCREAT;
		snprintf(sock, sizeof(sock), "%s/vsock", dir);
		cfg.vsock = sock;
	}
	if (vm_boot(&vm, &cfg) == -1) {
		rc = vm.fail_class;
	} else {
		if (o.serve)
			serve(&vm, &cfg, &o, &res);
		else
			vm_run(&vm, &res);
		rc = exit_status(&res);
	}
	vm_destroy(&vm);
	if (dir[0] != '\0')
		file_tmpdir_remove(dir);
	return rc;
}
