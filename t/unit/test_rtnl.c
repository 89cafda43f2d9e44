/* The pure parts of tapnet: netlink error messages with their extended
 * acknowledgements, addresses with prefixes, interface names. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "rtnl.h"
#include "tapnet.h"
#include "unit.h"

/* An NLMSG_ERROR as the kernel sends it: error, our request (whole or
 * capped to its header), then the TLVs. */
static struct nlmsghdr *
error_msg(char *buf, int error, bool capped, const char *text)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf), *req;
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = capped ? NLM_F_CAPPED : 0;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	e->msg.nlmsg_len = capped ? sizeof(e->msg) : sizeof(e->msg) + 20;
	if (!capped) {
		req = mnl_nlmsg_put_extra_header(nlh, 20);
		memset(req, 0x5a, 20);		/* looks like attributes: skip */
	}
	if (text != NULL) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 24);
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	}
	return nlh;
}

static void
test_parse_error(void)
{
	char buf[512], msg[RTNL_MSG_MAX];
	struct nlmsghdr *nlh;

	nlh = error_msg(buf, -EINVAL, true, "ipv6: Invalid address");
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EINVAL);
	CHECK(strcmp(msg, "ipv6: Invalid address") == 0);
	nlh = error_msg(buf, -EPERM, false, "Can not enslave a bridge");
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EPERM);
	CHECK(strcmp(msg, "Can not enslave a bridge") == 0);
	nlh = error_msg(buf, -ENODEV, true, NULL);
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), ENODEV);
	CHECK_EQ(msg[0], '\0');
	nlh = error_msg(buf, 0, true, NULL);		/* an acknowledgement */
	CHECK_EQ(rtnl_parse_error(nlh, msg, 8), 0);
	nlh = error_msg(buf, -EEXIST, true, "a message longer than the buffer");
	CHECK_EQ(rtnl_parse_error(nlh, msg, 8), EEXIST);
	CHECK(strcmp(msg, "a messa") == 0);
}

static void
test_parse_error_hostile(void)
{
	char buf[512], msg[RTNL_MSG_MAX];
	struct nlmsghdr *nlh;
	struct nlattr *a;

	nlh = error_msg(buf, -EINVAL, true, NULL);
	nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put(nlh, NLMSGERR_ATTR_MSG, 4, "abcd");	/* no NUL */
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EINVAL);
	CHECK_EQ(msg[0], '\0');
	a->nla_len = 200;				/* past the end */
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EINVAL);
	CHECK_EQ(msg[0], '\0');
	nlh = error_msg(buf, -EINVAL, false, "x");
	((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->msg.nlmsg_len = 4000;
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EINVAL);
	nlh = error_msg(buf, 5, true, NULL);		/* not an errno */
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EPROTO);
	nlh->nlmsg_len = sizeof(*nlh) + 4;		/* truncated */
	CHECK_EQ(rtnl_parse_error(nlh, msg, sizeof(msg)), EPROTO);
}

static void
test_why(void)
{
	struct rtnl r = { .msg = "ipv4: Address already assigned" };
	char buf[RTNL_MSG_MAX + 64];

	CHECK(strcmp(rtnl_why(&r, EEXIST, buf, sizeof(buf)),
	    "ipv4: Address already assigned (File exists)") == 0);
	r.msg[0] = '\0';
	CHECK(strcmp(rtnl_why(&r, EPERM, buf, sizeof(buf)),
	    "Operation not permitted") == 0);
}

static void
test_cidr(void)
{
	static const char *const bad[] = {
		"192.0.2.1", "192.0.2.1/", "192.0.2.1/33", "192.0.2.1/-1",
		"192.0.2.1/+8", "192.0.2.1/2x", "192.0.2/24", "fd00::1/129",
		"/24", "", "fd00::1 /64", "192.0.2.1/24/1",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999/64",
	};
	struct rtnl_addr a;
	uint8_t want6[16] = { 0xfd, [15] = 1 };

	CHECK_EQ(tapnet_parse_cidr("192.0.2.1/24", &a), 0);
	CHECK_EQ(a.family, AF_INET);
	CHECK_EQ(a.prefix, 24);
	CHECK(memcmp(a.addr, "\xc0\x00\x02\x01", 4) == 0);
	CHECK_EQ(tapnet_parse_cidr("10.1.2.3/32", &a), 0);
	CHECK_EQ(a.prefix, 32);
	CHECK_EQ(tapnet_parse_cidr("fd00::1/64", &a), 0);
	CHECK_EQ(a.family, AF_INET6);
	CHECK_EQ(a.prefix, 64);
	CHECK(memcmp(a.addr, want6, 16) == 0);
	CHECK_EQ(tapnet_parse_cidr("::/0", &a), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		CHECK_EQ(tapnet_parse_cidr(bad[i], &a), -1);
		CHECK_EQ(errno, EINVAL);
	}
}

static void
test_ifname(void)
{
	CHECK(rtnl_ifname_ok("br0"));
	CHECK(rtnl_ifname_ok("tap-vm.1_2"));
	CHECK(rtnl_ifname_ok("exactly15bytes!"));
	CHECK(!rtnl_ifname_ok("sixteen-bytes-xx"));
	CHECK(!rtnl_ifname_ok(""));
	CHECK(!rtnl_ifname_ok("."));
	CHECK(!rtnl_ifname_ok(".."));
	CHECK(!rtnl_ifname_ok("a/b"));
	CHECK(!rtnl_ifname_ok("a:b"));
	CHECK(!rtnl_ifname_ok("a b"));
	CHECK(!rtnl_ifname_ok("a\tb"));
}

static const struct unit_test tests[] = {
	{ "rtnl: errors and extended acknowledgements", test_parse_error },
	{ "rtnl: malformed error messages", test_parse_error_hostile },
	{ "rtnl: the kernel's words in messages", test_why },
	{ "tapnet: addresses with prefixes", test_cidr },
	{ "rtnl: interface names", test_ifname },
};

UNIT_MAIN(tests)
