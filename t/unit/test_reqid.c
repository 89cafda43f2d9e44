/*
 * Request ids (reqid.c): what comes back exactly as given passes; a
 * number json-c would clamp, a fraction or a structure is refused.
 */
#include <json-c/json.h>

#include "reqid.h"
#include "unit.h"

static int
check(const char *json)
{
	json_object *o = json_tokener_parse(json);
	char why[160];
	int rc = reqid_check(o, why, sizeof(why));

	json_object_put(o);
	return rc;
}

static void
test_kept(void)
{
	CHECK_EQ(reqid_check(NULL, (char[8]){ 0 }, 8), 0);	/* absent */
	CHECK_EQ(check("null"), 0);
	CHECK_EQ(check("true"), 0);
	CHECK_EQ(check("\"x\""), 0);
	CHECK_EQ(check("0"), 0);
	CHECK_EQ(check("9007199254740991"), 0);
	CHECK_EQ(check("-9007199254740991"), 0);
}

static void
test_refused(void)
{
	CHECK_EQ(check("9007199254740992"), -1);
	CHECK_EQ(check("-9007199254740992"), -1);
	CHECK_EQ(check("99999999999999999999"), -1);	/* json-c clamps it */
	CHECK_EQ(check("18446744073709551615"), -1);
	CHECK_EQ(check("1.5"), -1);
	CHECK_EQ(check("[1]"), -1);
	CHECK_EQ(check("{\"a\":1}"), -1);
}

static const struct unit_test tests[] = {
	{ "kept", test_kept },
	{ "refused", test_refused },
};

UNIT_MAIN(tests)
