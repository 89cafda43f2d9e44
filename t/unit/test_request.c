/* ctrl's request lines: what request_parse() takes and refuses. */
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "unit.h"

static struct ctrl *
ctrl_with_hello(void)
{
	static struct ctrl *c;

	if (c == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
		c->conf.nfuncs = 1;
		strcpy(c->conf.fn[0].name, "hello");
	}
	return c;
}

static struct request *
parse(const char *line, char *why, int *missing)
{
	return request_parse(ctrl_with_hello(), line, why, 160, missing);
}

static void
test_time(void)
{
	char why[160];
	int missing;
	struct request *r;

	r = parse("{\"function\":\"hello\",\"time\":8000.9}", why, &missing);
	CHECK(r != NULL);
	if (r != NULL)
		CHECK_EQ(r->at_ms, 8000);
	request_free(r);
	r = parse("{\"function\":\"hello\",\"time\":9007199254740992}", why,
	    &missing);
	CHECK(r != NULL);
	request_free(r);
	/* Past 2^53 a double cast to an integer was undefined behaviour. */
	static const char *const bad[] = { "1e300", "-1", "\"5\"", "null",
		"9007199254740994", "[1]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[80];

		snprintf(line, sizeof(line), "{\"function\":\"hello\",\"time\":%s}",
		    bad[i]);
		why[0] = '\0';
		CHECK(parse(line, why, &missing) == NULL);
		CHECK(strncmp(why, "time: ", 6) == 0);
		CHECK_EQ(missing, 0);
	}
}

static void
test_fields(void)
{
	char why[160];
	int missing;

	CHECK(parse("{\"function\":\"nope\"}", why, &missing) == NULL);
	CHECK_EQ(missing, 1);
	CHECK(parse("{\"function\":\"hello\",\"x\":1}", why, &missing) == NULL);
	CHECK(strstr(why, "unknown field") != NULL);
	CHECK(parse("[]", why, &missing) == NULL);
	CHECK(strcmp(why, "not a JSON object") == 0);
}

static const struct unit_test tests[] = {
	{ "request: time is whole milliseconds from 0 to 2^53", test_time },
	{ "request: unknown functions and fields", test_fields },
};

UNIT_MAIN(tests)
