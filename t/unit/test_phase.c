/*
 * Phase timings (phase.c): each phase marked once, the report in phase
 * order with only the phases reached, times counted from the start, and
 * fault counts where they were read.
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monotime.h"
#include "phase.h"
#include "unit.h"

/* The report's phases as JSON objects, in order. */
static json_object *
report(const struct phases *p)
{
	char *s = phase_json(p);
	json_object *o = s ? json_tokener_parse(s) : NULL, *t = NULL;

	free(s);
	if (o != NULL && json_object_object_get_ex(o, "timings", &t))
		json_object_get(t);
	json_object_put(o);
	return t;
}

static const char *
name_at(json_object *t, size_t i)
{
	json_object *e = json_object_array_get_idx(t, i), *n;

	return json_object_object_get_ex(e, "phase", &n) ?
	    json_object_get_string(n) : "";
}

static void
test_off(void)
{
	struct phases p;

	memset(&p, 0, sizeof(p));
	phase_mark(&p, PHASE_FIRST_RUN, true);	/* not started: nothing */
	phase_mark(NULL, PHASE_FIRST_RUN, true);
	CHECK_EQ(p.at_us[PHASE_FIRST_RUN], 0);
}

static void
test_order_and_once(void)
{
	struct phases p;
	json_object *t, *e, *v;
	uint64_t first;

	memset(&p, 0, sizeof(p));
	phase_start(&p, mono_us());
	phase_mark(&p, PHASE_FIRST_RESPONSE, true);
	phase_mark(&p, PHASE_LAYERS_CHECKED, true);
	phase_mark(&p, PHASE_FIRST_RUN, false);
	first = p.at_us[PHASE_LAYERS_CHECKED];
	usleep(2000);
	phase_mark(&p, PHASE_LAYERS_CHECKED, true);	/* a second time */
	CHECK_EQ(p.at_us[PHASE_LAYERS_CHECKED], first);
	t = report(&p);
	CHECK(t != NULL);
	CHECK_EQ(json_object_array_length(t), 3);
	CHECK(strcmp(name_at(t, 0), "layers_checked") == 0);
	CHECK(strcmp(name_at(t, 1), "first_run") == 0);
	CHECK(strcmp(name_at(t, 2), "first_response") == 0);
	/* faults where read: not for the vCPU thread's mark */
	e = json_object_array_get_idx(t, 0);
	CHECK(json_object_object_get_ex(e, "minflt", &v) &&
	    json_object_get_int64(v) > 0);
	CHECK(json_object_object_get_ex(e, "majflt", &v));
	e = json_object_array_get_idx(t, 1);
	CHECK(!json_object_object_get_ex(e, "minflt", &v));
	CHECK(json_object_object_get_ex(e, "ms", &v) &&
	    json_object_is_type(v, json_type_double) &&
	    json_object_get_double(v) >= 0 && json_object_get_double(v) < 1000);
	json_object_put(t);
}

static const struct unit_test tests[] = {
	{ "off", test_off },
	{ "order and once", test_order_and_once },
};

UNIT_MAIN(tests)
