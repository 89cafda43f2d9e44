/* lib/base/file.c's paths: cleaning one by name alone. */
#include <string.h>

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

static const struct unit_test tests[] = {
	{ "file_path_clean: . and .. and repeated slashes", test_clean },
};

UNIT_MAIN(tests)
