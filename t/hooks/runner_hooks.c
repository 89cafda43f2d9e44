/*
 * Test builds of the runners (build/t/hooks/vmrun, .../snaprestore) link
 * this file; the programs in bin/ do not.  A request whose payload is
 *   {"snapvm_test": "open", "path": P}   opens P for reading and answers
 *                                        with what open(2) said;
 *   {"snapvm_test": "sigsys"}            makes a system call that no
 *                                        thread's seccomp list allows.
 * Both run on the runner's main thread after its filter is loaded, which
 * is how the tests see what a guest that took over the runner could do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <json-c/json.h>

#include "reqloop.h"

static const char *
member(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
reqloop_test_hook(json_object *req, char *msg, size_t n)
{
	json_object *payload;
	const char *what, *path;
	struct sysinfo si;
	int fd;

	if (!json_object_object_get_ex(req, "payload", &payload) ||
	    (what = member(payload, "snapvm_test")) == NULL)
		return 0;
	if (strcmp(what, "sigsys") == 0) {
		long rc = syscall(SYS_sysinfo, &si);

		snprintf(msg, n, "sysinfo returned %ld: no filter", rc);
		return 1;
	}
	if (strcmp(what, "open") != 0 || (path = member(payload, "path")) == NULL) {
		snprintf(msg, n, "unknown test hook");
		return 1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(msg, n, "open %s: %s", path, strerror(errno));
		return 1;
	}
	close(fd);
	snprintf(msg, n, "open %s: opened", path);
	return 1;
}
