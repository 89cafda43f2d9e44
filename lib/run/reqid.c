#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "reqid.h"

#define REQID_MAX	9007199254740991LL	/* 2^53 - 1 */

int
reqid_check(json_object *id, char *why, size_t n)
{
	int64_t v;

	switch (id == NULL ? json_type_null : json_object_get_type(id)) {
	case json_type_null:
	case json_type_boolean:
	case json_type_string:
		return 0;
	case json_type_int:
		/* A uint64 beyond INT64_MAX reads as INT64_MAX here. */
		v = json_object_get_int64(id);
		if (v >= -REQID_MAX && v <= REQID_MAX)
			return 0;
		break;
	default:
		break;
	}
	snprintf(why, n, "id: expected a string, null, or an integer from "
	    "-(2^53-1) to 2^53-1, which comes back exactly as given");
	return -1;
}

int
reqid_members(json_object *req, const char *const *known, char *why,
    size_t n)
{
	json_object_object_foreach(req, key, val) {
		size_t i = 0;

		while (known[i] != NULL && strcmp(key, known[i]) != 0)
			i++;
		if (known[i] == NULL) {
			snprintf(why, n, "unknown field \"%.40s\"", key);
			return -1;
		}
		if (strcmp(key, "id") == 0 && reqid_check(val, why, n) == -1)
			return -1;
	}
	return 0;
}
