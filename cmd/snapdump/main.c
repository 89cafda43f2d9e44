/* snapdump: have a running VM write a snapshot through its control
 * socket.  See snapdump(1) and snapvm-api(5). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "apiclient.h"
#include "log.h"
#include "monotime.h"

#define OP_TIMEOUT_MS		10000
#define SNAPSHOT_TIMEOUT_MS	600000	/* a large guest to a slow disk */

struct opts {
	const char *sock, *dir;
	bool diff, stop, keep_paused, quiet;
	char abs_dir[PATH_MAX];		/* dir for the VM */
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: snapdump --sock PATH --dir DIR [--diff] "
	    "[--stop | --keep-paused] [-q]\n"
	    "       snapdump --help | --version\n");
}

/* The VM resolves paths in its own working directory, not ours. */
static int
absolute(const char *dir, char *buf, size_t size)
{
	char cwd[PATH_MAX];

	if (dir[0] == '/')
		return (size_t)snprintf(buf, size, "%s", dir) < size ? 0 : -1;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		log_warn("getcwd");
		return -1;
	}
	if ((size_t)snprintf(buf, size, "%s/%s", cwd, dir) >= size) {
		log_warnx("%s: path too long", dir);
		return -1;
	}
	return 0;
}

static int
check(struct opts *o, int argc, char **argv)
{
	if (optind != argc) {
		log_warnx("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (o->sock == NULL || o->dir == NULL || *o->dir == '\0') {
		log_warnx("%s is required", o->sock == NULL ? "--sock PATH" :
		    "--dir DIR");
		return -1;
	}
	if (o->stop && o->keep_paused) {
		log_warnx("--stop and --keep-paused contradict each other");
		return -1;
	}
	return absolute(o->dir, o->abs_dir, sizeof(o->abs_dir));
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option flags[] = {
		{ "sock", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' },
		{ "diff", no_argument, NULL, 'D' },
		{ "stop", no_argument, NULL, 'S' },
		{ "keep-paused", no_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "qh", flags, NULL)) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'd': o->dir = optarg; break;
		case 'D': o->diff = true; break;
		case 'S': o->stop = true; break;
		case 'k': o->keep_paused = true; break;
		case 'q': o->quiet = true; break;
		case 'h': return CLI_HELP;
		case 'V': return CLI_VERSION;
		default: return -1;
		}
	}
	return check(o, argc, argv);
}

/* One op; its exit status. */
static int
step(struct apiclient *c, const char *op, const char *dir, bool diff)
{
	int timeout = dir != NULL ? SNAPSHOT_TIMEOUT_MS : OP_TIMEOUT_MS;
	char code[32];

	switch (apiclient_op(c, op, dir, diff, timeout, code, sizeof(code))) {
	case APICLIENT_OK:
		return 0;
	case APICLIENT_IO:
		return errno == EPROTO ? EX_PROTOCOL : EX_UNAVAILABLE;
	default:
		if (strcmp(code, "denied") == 0)
			return EX_NOPERM;
		if (strcmp(code, "bad-request") == 0)
			return EX_PROTOCOL;
		return dir != NULL ? EX_IOERR : EX_SOFTWARE;
	}
}

static int
open_status(int e)
{
	switch (e) {
	case ENOENT: return EX_NOINPUT;
	case EACCES: case EPERM: return EX_NOPERM;
	case ENAMETOOLONG: return EX_USAGE;
	default: return EX_UNAVAILABLE;
	}
}


/* Pause, snapshot, then resume, stop or neither.  A VM that answered but
 * could not write the snapshot is resumed, never stopped, so that its
 * state is not lost. */
static int
dump(struct apiclient *c, const struct opts *o)
{
	const char *after = o->keep_paused ? NULL : "resume";
	long t0;
	int rc, rc2;

	if ((rc = step(c, "pause", NULL, false)) != 0)
		return rc;
	t0 = mono_ms();
	rc = step(c, "snapshot", o->abs_dir, o->diff);
	t0 = mono_ms() - t0;
	if (rc == 0 && o->stop)
		after = "stop";
	if (rc == EX_UNAVAILABLE || rc == EX_PROTOCOL)
		after = NULL;	/* the connection is gone or garbled */
	if (after != NULL && (rc2 = step(c, after, NULL, false)) != 0 && rc == 0)
		rc = rc2;
	if (rc == 0 && !o->quiet)
		printf("snapdump: wrote %s snapshot to %s in %ld ms\n",
		    o->diff ? "diff" : "full", o->dir, t0);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct apiclient c;	/* 64 KiB of reply buffer */
	static struct opts o;
	int rc;

	log_init(argv[0], LOG_WARN);
	if ((rc = parse(argc, argv, &o)) != 0)
		return cli_finish(rc, "snapdump", usage);
	if (apiclient_open(&c, o.sock) == -1)
		return open_status(errno);
	rc = dump(&c, &o);
	apiclient_close(&c);
	return rc;
}
