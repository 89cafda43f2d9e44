#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "rtnl.h"

#define RTNL_REQ_MAX	1024		/* our requests are a few attributes */
#define RTNL_RECV_MAX	32768		/* one datagram of a dump */

bool
rtnl_ifname_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= IFNAMSIZ || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	return true;
}

int
rtnl_open(struct rtnl *r)
{
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (r->nl == NULL || mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		log_warn("rtnetlink socket");
		rtnl_close(r);
		return -1;
	}
	/* Refusals carry the kernel's text, and not our request back.
	 * Kernels without these options still answer, in fewer words. */
	mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(r->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	return 0;
}

void
rtnl_close(struct rtnl *r)
{
	if (r->nl != NULL)
		mnl_socket_close(r->nl);
	r->nl = NULL;
}

struct extack {
	char *msg;
	size_t size;
};

static int
extack_attr(const struct nlattr *a, void *data)
{
	struct extack *x = data;

	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		snprintf(x->msg, x->size, "%s", mnl_attr_get_str(a));
	return MNL_CB_OK;
}

int
rtnl_parse_error(const struct nlmsghdr *nlh, char *msg, size_t size)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t len = mnl_nlmsg_get_payload_len(nlh), off = sizeof(*e);
	struct extack x = { msg, size };

	msg[0] = '\0';
	if (nlh->nlmsg_len < sizeof(*nlh) || len < sizeof(*e))
		return EPROTO;
	/* Without NETLINK_CAP_ACK our request comes back before the TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED) &&
	    e->msg.nlmsg_len >= sizeof(e->msg) && e->msg.nlmsg_len <= len)
		off += MNL_ALIGN(e->msg.nlmsg_len) - sizeof(e->msg);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && off < len)
		mnl_attr_parse(nlh, (unsigned)off, extack_attr, &x);
	return e->error > 0 || e->error < -4095 ? EPROTO : -e->error;
}

const char *
rtnl_why(const struct rtnl *r, int err, char *buf, size_t size)
{
	if (r->msg[0] != '\0')
		snprintf(buf, size, "%s (%s)", r->msg, strerror(err));
	else
		snprintf(buf, size, "%s", strerror(err));
	return buf;
}

/* One request and its answers: data messages to fn, then the ack. */
struct talk {
	struct rtnl *r;
	mnl_cb_t fn;
	void *arg;
};

static int
talk_data(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;

	return t->fn != NULL ? t->fn(nlh, t->arg) : MNL_CB_OK;
}

static int
talk_error(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	int err = rtnl_parse_error(nlh, t->r->msg, sizeof(t->r->msg));

	if (err == 0)
		return MNL_CB_STOP;
	errno = err;
	return MNL_CB_ERROR;
}

/* The end of a dump, which holds an error if the dump failed. */
static int
talk_done(const struct nlmsghdr *nlh, void *data)
{
	int err = 0;

	(void)data;
	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(err))
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	if (err >= 0)
		return MNL_CB_STOP;
	errno = err < -4095 ? EPROTO : -err;
	return MNL_CB_ERROR;
}

/* Each message of a datagram inside it: libmnl takes nlmsg_len as an int
 * and walks past the end of the buffer on one of 2 GiB or more. */
static bool
rtnl_whole(const char *buf, size_t n)
{
	while (n >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const void *)buf;
		size_t step;

		if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > n)
			return false;
		step = MNL_ALIGN(h->nlmsg_len);
		if (step >= n)
			break;
		buf += step;
		n -= step;
	}
	return true;
}

static int
rtnl_talk(struct rtnl *r, struct nlmsghdr *nlh, mnl_cb_t fn, void *arg)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_ERROR] = talk_error, [NLMSG_DONE] = talk_done,
	};
	char buf[RTNL_RECV_MAX];
	struct talk t = { r, fn, arg };
	ssize_t n;
	int rc;

	r->msg[0] = '\0';
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++r->seq;
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	do {
		if ((n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf))) < 0)
			return -1;
		if (!rtnl_whole(buf, (size_t)n)) {
			errno = EPROTO;
			return -1;
		}
		rc = mnl_cb_run2(buf, (size_t)n, nlh->nlmsg_seq, r->portid,
		    talk_data, &t, ctl, NLMSG_MIN_TYPE);
	} while (rc > MNL_CB_STOP);
	return rc == MNL_CB_ERROR ? -1 : 0;
}

/* buf holds RTNL_REQ_MAX bytes; zeroed, so that no padding leaks. */
static struct nlmsghdr *
msg_new(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, RTNL_REQ_MAX);
	nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static struct ifinfomsg *
link_header(struct nlmsghdr *nlh, int index)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

/* Attribute tables: tb[type] for every type up to max. */
struct attrs {
	const struct nlattr **tb;
	int max;
};

static int
attr_keep(const struct nlattr *a, void *data)
{
	const struct attrs *t = data;

	if (mnl_attr_type_valid(a, (uint16_t)t->max) > 0)
		t->tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static bool
attr_is(const struct nlattr *a, enum mnl_attr_data_type type)
{
	return a != NULL && mnl_attr_validate(a, type) == 0;
}

static void
link_tun(const struct nlattr *data, struct rtnl_link *l)
{
	const struct nlattr *tb[IFLA_TUN_MAX + 1] = { 0 };
	struct attrs t = { tb, IFLA_TUN_MAX };
	uint32_t owner;

	if (mnl_attr_parse_nested(data, attr_keep, &t) != MNL_CB_OK)
		return;
	if (attr_is(tb[IFLA_TUN_TYPE], MNL_TYPE_U8))
		l->tap = mnl_attr_get_u8(tb[IFLA_TUN_TYPE]) == IFF_TAP;
	if (attr_is(tb[IFLA_TUN_PERSIST], MNL_TYPE_U8))
		l->persist = mnl_attr_get_u8(tb[IFLA_TUN_PERSIST]) != 0;
	if (attr_is(tb[IFLA_TUN_OWNER], MNL_TYPE_U32)) {
		owner = mnl_attr_get_u32(tb[IFLA_TUN_OWNER]);
		l->owner = owner == UINT32_MAX ? -1 : (long)owner;
	}
}

static void
link_info(const struct nlattr *info, struct rtnl_link *l)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1] = { 0 };
	struct attrs t = { tb, IFLA_INFO_MAX };

	if (mnl_attr_parse_nested(info, attr_keep, &t) != MNL_CB_OK)
		return;
	if (attr_is(tb[IFLA_INFO_KIND], MNL_TYPE_NUL_STRING))
		snprintf(l->kind, sizeof(l->kind), "%s",
		    mnl_attr_get_str(tb[IFLA_INFO_KIND]));
	if (strcmp(l->kind, "tun") == 0 && tb[IFLA_INFO_DATA] != NULL)
		link_tun(tb[IFLA_INFO_DATA], l);
}

static int
link_parse(const struct nlmsghdr *nlh, struct rtnl_link *l)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct attrs t = { tb, IFLA_MAX };

	memset(l, 0, sizeof(*l));
	l->owner = -1;
	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi) ||
	    mnl_attr_parse(nlh, sizeof(*ifi), attr_keep, &t) != MNL_CB_OK ||
	    !attr_is(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING)) {
		errno = EPROTO;
		return -1;
	}
	l->index = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (attr_is(tb[IFLA_MASTER], MNL_TYPE_U32))
		l->master = (int)mnl_attr_get_u32(tb[IFLA_MASTER]);
	if (tb[IFLA_LINKINFO] != NULL)
		link_info(tb[IFLA_LINKINFO], l);
	return 0;
}

static int
link_one(const struct nlmsghdr *nlh, void *arg)
{
	return link_parse(nlh, arg) == 0 ? MNL_CB_OK : MNL_CB_ERROR;
}

int
rtnl_link_get(struct rtnl *r, const char *name, struct rtnl_link *l)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, 0);

	link_header(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	l->index = 0;
	if (rtnl_talk(r, nlh, link_one, l) == -1)
		return -1;
	if (l->index == 0) {
		errno = ENODEV;
		return -1;
	}
	return 0;
}

struct link_walk {
	rtnl_link_fn *fn;
	void *arg;
};

static int
link_each(const struct nlmsghdr *nlh, void *data)
{
	const struct link_walk *w = data;
	struct rtnl_link l;

	if (link_parse(nlh, &l) == 0)
		w->fn(&l, w->arg);
	return MNL_CB_OK;
}

/* A dump of every object of a type; a zeroed header asks for all
 * address families (AF_UNSPEC). */
static int
rtnl_dump(struct rtnl *r, uint16_t type, size_t hdr_len, mnl_cb_t each,
    void *walk)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, type, NLM_F_DUMP);

	mnl_nlmsg_put_extra_header(nlh, hdr_len);
	return rtnl_talk(r, nlh, each, walk);
}

int
rtnl_links(struct rtnl *r, rtnl_link_fn *fn, void *arg)
{
	struct link_walk w = { fn, arg };

	return rtnl_dump(r, RTM_GETLINK, sizeof(struct ifinfomsg), link_each, &w);
}

static int
addr_parse(const struct nlmsghdr *nlh, struct rtnl_addr *a)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 }, *at;
	struct attrs t = { tb, IFA_MAX };
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa) ||
	    mnl_attr_parse(nlh, sizeof(*ifa), attr_keep, &t) != MNL_CB_OK)
		return -1;
	len = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	/* IPv4 names the interface's own address IFA_LOCAL. */
	at = tb[IFA_LOCAL] != NULL ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (len == 0 || at == NULL || mnl_attr_get_payload_len(at) != len)
		return -1;
	memset(a, 0, sizeof(*a));
	a->index = (int)ifa->ifa_index;
	a->family = ifa->ifa_family;
	a->prefix = ifa->ifa_prefixlen;
	a->scope = ifa->ifa_scope;
	memcpy(a->addr, mnl_attr_get_payload(at), len);
	return 0;
}

struct addr_walk {
	rtnl_addr_fn *fn;
	void *arg;
};

static int
addr_each(const struct nlmsghdr *nlh, void *data)
{
	const struct addr_walk *w = data;
	struct rtnl_addr a;

	if (addr_parse(nlh, &a) == 0)
		w->fn(&a, w->arg);
	return MNL_CB_OK;
}

int
rtnl_addrs(struct rtnl *r, rtnl_addr_fn *fn, void *arg)
{
	struct addr_walk w = { fn, arg };

	return rtnl_dump(r, RTM_GETADDR, sizeof(struct ifaddrmsg), addr_each, &w);
}

int
rtnl_bridge_new(struct rtnl *r, const char *name)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK,
	    NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *info;

	link_header(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, info);
	return rtnl_talk(r, nlh, NULL, NULL);
}

int
rtnl_link_up(struct rtnl *r, int index, int master)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = link_header(nlh, index);

	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (master != 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return rtnl_talk(r, nlh, NULL, NULL);
}

int
rtnl_link_isolate(struct rtnl *r, int index)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = link_header(nlh, index);

	ifi->ifi_flags = 0;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MASTER, 0);	/* out of any bridge */
	return rtnl_talk(r, nlh, NULL, NULL);
}

int
rtnl_link_del(struct rtnl *r, int index)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_DELLINK, 0);

	link_header(nlh, index);
	return rtnl_talk(r, nlh, NULL, NULL);
}

int
rtnl_addr_add(struct rtnl *r, const struct rtnl_addr *a)
{
	char buf[RTNL_REQ_MAX];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWADDR,
	    NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = a->family == AF_INET ? 4 : 16;

	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)a->index;
	mnl_attr_put(nlh, IFA_LOCAL, len, a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, a->addr);
	return rtnl_talk(r, nlh, NULL, NULL);
}
