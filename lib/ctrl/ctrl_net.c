/*
 * Network devices for ctrl's VMs (network: in ctrl.yaml; tapnet(1)).
 * Each VM slot has its own tap PREFIXn, MAC and address, so nothing is
 * allocated and nothing can be handed out twice: slot n's address is the
 * bridge's plus 1 + n, the builder's plus 257.  A function with
 * network: true has its VMs' taps on the bridge and its guests told
 * their address (vmrun(1), --net-addr).  Every other VM restored from
 * ctrl's own layers, which have a network device because the builder
 * makes them with one, gets a tap on no bridge, down.  tapnet runs as a
 * child that is waited for: it takes milliseconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctrl.h"


static int
wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return runproc_exit_code(status);
}

static int
tapnet(struct ctrl *c, char *const argv[])
{
	pid_t pid = runproc_spawn_quiet(argv, c->log_fd);

	return pid == -1 ? -1 : wait_child(pid);
}

static void
tap_name(const struct ctrl *c, int slot, char *out, size_t n)
{
	if (slot == CTRL_BUILDER_SLOT)
		snprintf(out, n, "%.8sb", c->conf.tap_prefix);
	else
		snprintf(out, n, "%.8s%u", c->conf.tap_prefix,
		    (unsigned)slot & 511);
}

static void
dotted(uint32_t a, char *out, size_t n)
{
	snprintf(out, n, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
	    (a >> 8) & 255, a & 255);
}

static void
net_names(const struct ctrl *c, int slot, struct net_args *n)
{
	char a[16], gw[16];

	tap_name(c, slot, n->tap, sizeof(n->tap));
	/* Locally administered, unicast; the slot keeps clones apart. */
	snprintf(n->net, sizeof(n->net), "%s/02:53:56:00:%02x:%02x", n->tap,
	    (unsigned)(slot + 1) >> 8, (unsigned)(slot + 1) & 255);
	dotted(c->conf.net_addr + 1 + (uint32_t)slot, a, sizeof(a));
	dotted(c->conf.net_addr, gw, sizeof(gw));
	snprintf(n->addr, sizeof(n->addr), "%s/%d,%s", a, c->conf.net_prefix,
	    gw);
}

/* Makes slot's tap and adds --net (and --net-addr if bridged) to argv. */
int
ctrl_net_attach(struct ctrl *c, int slot, bool bridged, struct net_args *n,
    char **argv, int *i)
{
	char *cmd[10];
	char jt[40];
	int k = 0, rc;

	if (slot < 0)
		slot = CTRL_BUILDER_SLOT;
	net_names(c, slot, n);
	cmd[k++] = c->conf.tapnet;
	cmd[k++] = "-q";
	cmd[k++] = "tap";
	cmd[k++] = "add";
	cmd[k++] = n->tap;
	if (bridged) {
		cmd[k++] = "--bridge";
		cmd[k++] = c->conf.bridge;
	}
	if (c->conf.jail) {
		snprintf(n->owner, sizeof(n->owner), "%ju",
		    (uintmax_t)(c->conf.jail_uid + (uint64_t)slot));
		cmd[k++] = "--owner";
		cmd[k++] = n->owner;
	}
	cmd[k] = NULL;
	if ((rc = tapnet(c, cmd)) != 0) {
		ctrl_log(c, "tap_failed", 0, "\"tap\":%s,\"status\":%d",
		    ctrl_log_jstr(jt, sizeof(jt), n->tap), rc);
		return -1;
	}
	argv[(*i)++] = "--net";
	argv[(*i)++] = n->net;
	if (bridged) {
		argv[(*i)++] = "--net-addr";
		argv[(*i)++] = n->addr;
	}
	argv[*i] = NULL;
	return 0;
}

void
ctrl_net_detach(struct ctrl *c, int slot)
{
	char tap[16];
	char *cmd[] = { c->conf.tapnet, "-q", "tap", "del", tap, NULL };

	tap_name(c, slot < 0 ? CTRL_BUILDER_SLOT : slot, tap, sizeof(tap));
	if (tapnet(c, cmd) != 0)
		ctrl_log(c, "tap_del_failed", 0, "\"tap\":\"%s\"", tap);
}

/* A tap of ours: the prefix, then a slot number or "b". */
static bool
ours(const struct ctrl *c, const char *name)
{
	size_t n = strlen(c->conf.tap_prefix);
	const char *rest = name + n;

	return strncmp(name, c->conf.tap_prefix, n) == 0 && rest[0] != '\0' &&
	    (strcmp(rest, "b") == 0 || strspn(rest, "0123456789") ==
	    strlen(rest));
}

/* Taps a ctrl that died left behind: tapnet ls, then del of each. */
static void
sweep(struct ctrl *c)
{
	char *ls[] = { c->conf.tapnet, "ls", NULL };
	struct runproc p;
	char *line, kind[8], name[32];

	if (runproc_spawn(&p, ls, c->log_fd) == -1)
		return;
	runproc_close_input(&p);
	fcntl(p.out_fd, F_SETFL, 0);	/* read to the end */
	while (runproc_read(&p) == 0)
		;
	while (runproc_line(&p, &line) == 1) {
		if (sscanf(line, "%7[^\t]\t%31[^\t]", kind, name) == 2 &&
		    strcmp(kind, "tap") == 0 && ours(c, name)) {
			char *del[] = { c->conf.tapnet, "-q", "tap", "del",
			    name, NULL };

			tapnet(c, del);
		}
		free(line);
	}
	wait_child(p.pid);
	runproc_release(&p);
}

/* The bridge, with its address; stale taps of ours removed. */
int
ctrl_net_start(struct ctrl *c)
{
	char *cmd[] = { c->conf.tapnet, "-q", "bridge", "add", c->conf.bridge,
	    "--addr", c->conf.net_cidr, NULL };
	char jb[40];
	int rc;

	if (!c->conf.network)
		return 0;
	if ((rc = tapnet(c, cmd)) != 0) {
		ctrl_log(c, "network_failed", 0, "\"bridge\":%s,\"status\":%d",
		    ctrl_log_jstr(jb, sizeof(jb), c->conf.bridge), rc);
		return -1;
	}
	sweep(c);
	return 0;
}
