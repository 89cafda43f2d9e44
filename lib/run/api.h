/*
 * The control socket of a running VM: JSON lines over a Unix stream
 * socket, snapvm-api(5).  The server runs on a thread of its own and calls
 * the VM through struct api_ops, one request at a time.
 */
#ifndef SNAPVM_API_H
#define SNAPVM_API_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define API_VERSION	1
#define API_MAX_LINE	65536		/* a request or reply line, newline included */
#define API_PATH_MAX	108		/* sizeof(sun_path), terminator included */

struct json_object;

/* The control socket of a running VM: JSON lines, snapvm-api(5). */
struct api_ops {
	/* Each returns 0, or -1 with a message in err (the reply's "error"). */
	int (*pause)(void *ctx, char *err, size_t errlen);
	int (*resume)(void *ctx, char *err, size_t errlen);
	/* Writes a snapshot of the paused or running VM (the VM pauses itself
	 * for the duration if it is running) to dir, atomically. */
	int (*snapshot)(void *ctx, const char *dir, bool diff, char *err, size_t errlen);
	int (*stop)(void *ctx, char *err, size_t errlen);	/* stop the VM; runner exits */
	/* Fills a JSON object: {"state": "running"|"paused", ...}. */
	void (*status)(void *ctx, struct json_object *out);
	/* First thing on the server thread, if set (the runner loads its
	 * seccomp filter there): -1 ends the thread, which serves nothing. */
	int (*enter)(void *ctx);
};

/*
 * The ops run on the server thread.  api_stop waits for an op in progress
 * to return, so it must not be called from an op, nor while holding
 * anything an op waits for; the stop op should only ask the runner to stop
 * and return.  A zeroed struct api may be passed to api_stop.
 */
struct api {
	const struct api_ops *ops;
	void *ctx;
	int listen_fd, stop_fd;
	bool started;
	pthread_t thread;
	dev_t dev;			/* of the socket file, so that api_stop */
	ino_t ino;			/* removes ours and not a successor's */
	char path[API_PATH_MAX];
	char *line;			/* the connection's input, API_MAX_LINE + 1 */
};

int api_start(struct api *a, const char *path, const struct api_ops *ops, void *ctx);
void api_stop(struct api *a);	/* closes, joins its thread, unlinks path */

#endif
