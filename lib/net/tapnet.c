#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>

#include "log.h"
#include "tapnet.h"
#include "tuntap.h"

#define ADDR_TEXT	(INET6_ADDRSTRLEN + 4)	/* "address/prefix" */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP	0x10000		/* linux/if.h, which net/if.h excludes */
#endif

int
tapnet_parse_cidr(const char *s, struct rtnl_addr *a)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : 0;
	char *end;
	long prefix;

	memset(a, 0, sizeof(*a));
	if (slash != NULL && n < sizeof(host) && slash[1] >= '0' &&
	    slash[1] <= '9') {
		memcpy(host, s, n);
		host[n] = '\0';
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		a->family = inet_pton(AF_INET, host, a->addr) == 1 ? AF_INET :
		    inet_pton(AF_INET6, host, a->addr) == 1 ? AF_INET6 : 0;
		if (a->family != 0 && errno == 0 && *end == '\0' &&
		    prefix <= (a->family == AF_INET ? 32 : 128)) {
			a->prefix = (uint8_t)prefix;
			return 0;
		}
	}
	log_warnx("\"%s\": not an address with a prefix length, such as "
	    "192.0.2.1/24 or fd00::1/64", s);
	errno = EINVAL;
	return -1;
}

static const char *
addr_text(const struct rtnl_addr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	inet_ntop(a->family, a->addr, host, sizeof(host));
	snprintf(buf, size, "%s/%u", host, a->prefix);
	return buf;
}

/* Logs what the kernel refused, in its words; keeps errno. */
static int
refused(const struct rtnl *r, const char *name, const char *doing)
{
	char why[RTNL_MSG_MAX + 64];
	int err = errno;

	log_warnx("%s: %s: %s", name, doing, rtnl_why(r, err, why, sizeof(why)));
	errno = err;
	return -1;
}

static int
wrong_kind(const char *name, const char *kind)
{
	log_warnx("%s: exists and is not a %s", name, kind);
	errno = EEXIST;
	return -1;
}

/* The interface called name: 1 found, 0 there is none, -1 error. */
static int
find(struct rtnl *r, const char *name, struct rtnl_link *l)
{
	if (rtnl_link_get(r, name, l) == 0)
		return 1;
	return errno == ENODEV ? 0 : refused(r, name, "looking it up");
}

static bool
is_bridge(const struct rtnl_link *l)
{
	return strcmp(l->kind, "bridge") == 0;
}

static bool
is_tap(const struct rtnl_link *l)
{
	return strcmp(l->kind, "tun") == 0 && l->tap;
}

/* Runs op on an rtnetlink socket of its own; keeps op's errno. */
static int
with_rtnl(int (*op)(struct rtnl *, void *), void *arg)
{
	struct rtnl r;
	int rc, err;

	if (rtnl_open(&r) == -1)
		return -1;
	rc = op(&r, arg);
	err = errno;
	rtnl_close(&r);
	errno = err;
	return rc;
}

struct bridge_args {
	const char *name;
	const struct rtnl_addr *addr;
};

/* Finds the bridge or makes it; another tapnet may be making it too. */
static int
bridge_make(struct rtnl *r, const char *name, struct rtnl_link *l)
{
	int found = find(r, name, l);

	if (found == 0) {
		if (rtnl_bridge_new(r, name) == -1 && errno != EEXIST)
			return refused(r, name, "creating the bridge");
		found = find(r, name, l);
	}
	if (found == 0) {
		errno = ENODEV;
		return refused(r, name, "gone right after it was made");
	}
	if (found == -1)
		return -1;
	return is_bridge(l) ? 0 : wrong_kind(name, "bridge");
}

static int
bridge_add(struct rtnl *r, void *arg)
{
	const struct bridge_args *b = arg;
	struct rtnl_link l;
	struct rtnl_addr a;
	char text[ADDR_TEXT], doing[ADDR_TEXT + 16];

	if (bridge_make(r, b->name, &l) == -1)
		return -1;
	if (b->addr != NULL) {
		a = *b->addr;
		a.index = l.index;
		snprintf(doing, sizeof(doing), "adding %s",
		    addr_text(&a, text, sizeof(text)));
		if (rtnl_addr_add(r, &a) == -1)
			return refused(r, b->name, doing);
	}
	if (rtnl_link_up(r, l.index, 0) == -1)
		return refused(r, b->name, "setting it up");
	return 0;
}

int
tapnet_bridge_add(const char *name, const struct rtnl_addr *addr)
{
	struct bridge_args b = { name, addr };

	return with_rtnl(bridge_add, &b);
}

struct tap_args {
	const char *name, *bridge;
	long owner;
};

static int
bridge_need(struct rtnl *r, const char *name, struct rtnl_link *l)
{
	int found = find(r, name, l);

	if (found == 0) {
		errno = ENODEV;
		return refused(r, name, "no such bridge (tapnet bridge add makes "
		    "one)");
	}
	if (found == -1)
		return -1;
	return is_bridge(l) ? 0 : wrong_kind(name, "bridge");
}

/* The tun ioctls run only where something must change: they fail on a
 * tap that a VM has open, which a repeated add must not disturb. */
static int
tap_make(struct rtnl *r, const struct tap_args *t, struct rtnl_link *l)
{
	int found = find(r, t->name, l);

	if (found == -1)
		return -1;
	if (found == 1 && !is_tap(l))
		return wrong_kind(t->name, "tap");
	if (found == 1 && l->persist && (t->owner == -1 || t->owner == l->owner))
		return 0;
	if (tuntap_make(t->name, t->owner) == -1)
		return -1;
	if ((found = find(r, t->name, l)) == 0) {
		errno = ENODEV;
		return refused(r, t->name, "gone right after it was made");
	}
	return found == 1 ? 0 : -1;
}

static int
tap_add(struct rtnl *r, void *arg)
{
	const struct tap_args *t = arg;
	struct rtnl_link br, tap;
	char doing[IFNAMSIZ + 32];

	if (t->bridge == NULL) {
		if (tap_make(r, t, &tap) == -1)
			return -1;
		if (rtnl_link_isolate(r, tap.index) == -1)
			return refused(r, t->name, "taking it down, off its bridge");
		return 0;
	}
	if (bridge_need(r, t->bridge, &br) == -1 || tap_make(r, t, &tap) == -1)
		return -1;
	snprintf(doing, sizeof(doing), "joining bridge %s", t->bridge);
	if (rtnl_link_up(r, tap.index, br.index) == -1)
		return refused(r, t->name, doing);
	return 0;
}

int
tapnet_tap_add(const char *name, const char *bridge, long owner)
{
	struct tap_args t = { name, bridge, owner };

	return with_rtnl(tap_add, &t);
}

struct del_args {
	const char *name, *kind;
	bool (*is)(const struct rtnl_link *);
};

static int
del_link(struct rtnl *r, void *arg)
{
	const struct del_args *d = arg;
	struct rtnl_link l;
	int found = find(r, d->name, &l);

	if (found != 1)
		return found;
	if (!d->is(&l))
		return wrong_kind(d->name, d->kind);
	if (rtnl_link_del(r, l.index) == -1 && errno != ENODEV)
		return refused(r, d->name, "deleting it");
	return 0;
}

int
tapnet_bridge_del(const char *name)
{
	struct del_args d = { name, "bridge", is_bridge };

	return with_rtnl(del_link, &d);
}

int
tapnet_tap_del(const char *name)
{
	struct del_args d = { name, "tap", is_tap };

	return with_rtnl(del_link, &d);
}

/* ls: the addresses first, then one line per link as the dump runs. */
struct ls {
	FILE *out;
	struct rtnl_addr *addr;
	size_t naddr, cap;
	int failed;
};

static void
ls_keep_addr(const struct rtnl_addr *a, void *arg)
{
	struct ls *s = arg;
	struct rtnl_addr *grown;

	if (a->scope != RT_SCOPE_UNIVERSE || s->failed)
		return;
	if (s->naddr == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		if ((grown = realloc(s->addr, s->cap * sizeof(*grown))) == NULL) {
			s->failed = ENOMEM;
			return;
		}
		s->addr = grown;
	}
	s->addr[s->naddr++] = *a;
}

static void
ls_addrs(const struct ls *s, int index)
{
	char text[ADDR_TEXT];
	int n = 0;

	for (size_t i = 0; i < s->naddr; i++)
		if (s->addr[i].index == index)
			fprintf(s->out, "%s%s", n++ ? "," : "",
			    addr_text(&s->addr[i], text, sizeof(text)));
	if (n == 0)
		fputc('-', s->out);
}

static void
ls_link(const struct rtnl_link *l, void *arg)
{
	struct ls *s = arg;
	char master[IF_NAMESIZE] = "-", owner[24] = "-";

	if (!is_bridge(l) && !is_tap(l))
		return;
	if (l->master != 0 && if_indextoname((unsigned)l->master, master) == NULL)
		snprintf(master, sizeof(master), "%d", l->master);
	if (l->owner != -1)
		snprintf(owner, sizeof(owner), "%ld", l->owner);
	fprintf(s->out, "%s\t%s\t%s\t%s\t%s\t", is_bridge(l) ? "bridge" : "tap",
	    l->name, !(l->flags & IFF_UP) ? "down" :
	    !(l->flags & IFF_LOWER_UP) ? "no-carrier" : "up", master, owner);
	if (is_bridge(l))
		ls_addrs(s, l->index);
	else
		fputc('-', s->out);
	fputc('\n', s->out);
}

static int
ls_run(struct rtnl *r, void *arg)
{
	struct ls *s = arg;

	if (rtnl_addrs(r, ls_keep_addr, s) == -1 ||
	    rtnl_links(r, ls_link, s) == -1)
		return refused(r, "ls", "listing interfaces");
	if (s->failed) {
		errno = s->failed;
		log_warn("ls");
		return -1;
	}
	return 0;
}

int
tapnet_ls(FILE *out)
{
	struct ls s = { .out = out };
	int rc = with_rtnl(ls_run, &s);

	free(s.addr);
	if (rc == 0 && (fflush(out) == EOF || ferror(out))) {
		log_warn("ls: writing the list");
		rc = -1;
	}
	return rc;
}
