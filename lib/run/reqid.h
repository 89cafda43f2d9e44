/*
 * The request id of snapvm-protocol(5), which the request loop and ctrl
 * both return with each answer, and the members a request may have.
 */
#ifndef SNAPVM_REQID_H
#define SNAPVM_REQID_H

#include <stddef.h>

struct json_object;

/*
 * Whether id (NULL: absent) can be returned exactly as it was given:
 * null, a boolean, a string, or an integer of at most 2^53 - 1 either way.
 * A larger integer would come back clamped by the JSON library (or
 * rounded by whoever reads the answer as a double), a fraction or a
 * structure re-spelled: those are refused, -1 with why.
 */
int reqid_check(struct json_object *id, char *why, size_t n);
/* A request object's members: each one of known (NULL-terminated), and
 * "id" as reqid_check() wants it; -1 with why for the first that is not. */
int reqid_members(struct json_object *req, const char *const *known,
    char *why, size_t n);

#endif
