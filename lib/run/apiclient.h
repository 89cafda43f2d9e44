/*
 * The client side of a VM's control socket, snapvm-api(5): one request
 * line out, one reply line back, each bounded in time.  Used by snapdump
 * and, later, ctrl.
 */
#ifndef SNAPVM_APICLIENT_H
#define SNAPVM_APICLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"

struct apiclient {
	int fd;
	const char *path;
	size_t len;			/* bytes of buf past the last reply */
	char buf[API_MAX_LINE + 1];
};

/* Connects to the socket at path; -1 with errno (ENOENT: no socket there,
 * ECONNREFUSED: no VM behind it, EACCES, ...), logged. */
int apiclient_open(struct apiclient *c, const char *path);
void apiclient_close(struct apiclient *c);

/* Sends req and waits up to timeout_ms (-1: no limit) for its reply, a
 * JSON object the caller releases.  NULL with errno ETIMEDOUT,
 * ECONNRESET (the VM hung up) or EPROTO (not a reply), logged. */
struct json_object *apiclient_call(struct apiclient *c,
    struct json_object *req, int timeout_ms);

/* 0 if reply says "ok": true; else -1 with its "code" and "error" (empty
 * strings when missing), which live as long as reply. */
int apiclient_check(struct json_object *reply, const char **code,
    const char **error);

/* apiclient_op's outcome. */
enum {
	APICLIENT_IO = -1,		/* no reply: errno says why */
	APICLIENT_OK = 0,
	APICLIENT_REFUSED = 1,		/* the VM replied "ok": false */
};

/* Sends {"version": 1, "op": op}, with dir and kind for "snapshot", and
 * logs what went wrong; the reply's "code" goes to code. */
int apiclient_op(struct apiclient *c, const char *op, const char *dir,
    bool diff, int timeout_ms, char *code, size_t codelen);

#endif
