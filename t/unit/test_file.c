/* lib/base/file.c's paths: cleaning one by name alone, and a Unix
 * socket's address. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "file.h"
#include "unit.h"

static int
clean(const char *in, const char *want)
{
	char p[256];

	snprintf(p, sizeof(p), "%s", in);
	if (file_path_clean(p) == -1)
		return want == NULL;
	if (want == NULL || strcmp(p, want) != 0) {
		printf("#   \"%s\" -> \"%s\", expected \"%s\"\n", in, p,
		    want ? want : "(refused)");
		return 0;
	}
	return 1;
}

static void
test_clean(void)
{
	CHECK(clean("/a/b/../c/./d", "/a/c/d"));
	CHECK(clean("/work/main/etc/../bin/vmjail", "/work/main/bin/vmjail"));
	CHECK(clean("//a///b//", "/a/b"));
	CHECK(clean("/a/..", "/"));
	CHECK(clean("/../../x", "/x"));
	CHECK(clean("/", "/"));
	CHECK(clean("/.", "/"));
	CHECK(clean("/a/b/c/../../..", "/"));
	CHECK(clean("/a/..b/.c/...", "/a/..b/.c/..."));	/* names, not dots */
	CHECK(clean("a/../b", NULL));
	CHECK(clean("", NULL));
}

/* A path fills sun_path with its NUL, or is refused: never cut short. */
static void
test_sockaddr(void)
{
	struct sockaddr_un sa;
	char p[200];

	memset(p, 'a', sizeof(p));
	p[sizeof(sa.sun_path) - 1] = '\0';
	memset(&sa, 0xff, sizeof(sa));
	CHECK_EQ(file_sockaddr(p, &sa, "test"), 0);
	CHECK_EQ(sa.sun_family, AF_UNIX);
	CHECK(strcmp(sa.sun_path, p) == 0);
	CHECK_EQ(file_sockaddr("/run/x.sock", &sa, "test"), 0);
	CHECK(strcmp(sa.sun_path, "/run/x.sock") == 0);
	CHECK_EQ(sa.sun_path[sizeof(sa.sun_path) - 1], 0);	/* zeroed */
	memset(p, 'a', sizeof(p));
	p[sizeof(sa.sun_path)] = '\0';
	errno = 0;
	CHECK_EQ(file_sockaddr(p, &sa, "test"), -1);
	CHECK_EQ(errno, ENAMETOOLONG);
	p[sizeof(p) - 1] = '\0';
	CHECK_EQ(file_sockaddr(p, &sa, "test"), -1);
	/* Linux would bind "" as an abstract socket's name. */
	errno = 0;
	CHECK_EQ(file_sockaddr("", &sa, "test"), -1);
	CHECK_EQ(errno, EINVAL);
}

static const struct unit_test tests[] = {
	{ "file_path_clean: . and .. and repeated slashes", test_clean },
	{ "file_sockaddr: a path fits with its NUL or is refused, as is an empty one", test_sockaddr },
};

UNIT_MAIN(tests)
