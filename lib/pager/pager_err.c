/* Failures told to the runner: one printable line that fits a
 * PAGER_ERROR, the same line logged. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "log.h"
#include "pager.h"

/* A store's key or a path may hold anything: the runner's check wants
 * printable ASCII. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

static int
record(struct pager_err *e, int status, const char *msg)
{
	if (e->status == 0) {
		size_t n = strnlen(msg, sizeof(e->msg) - 1);

		e->status = status;
		memcpy(e->msg, msg, n);	/* cut where a PAGER_ERROR must */
		e->msg[n] = '\0';
		printable(e->msg);
	}
	return status;
}

int
pager_fail(struct pager_err *e, int status, const char *fmt, ...)
{
	char msg[PAGER_MSG_MAX * 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s", msg);
	return record(e, status, msg);
}

static const char *
reason(int status)
{
	switch (status) {
	case EX_DATAERR: return "not the index's SHA-256 or length (corrupt "
	    "object)";
	case EX_UNAVAILABLE: return "the store did not answer";
	case EX_NOPERM: return "the store refused access";
	case EX_NOINPUT: return "no such object";
	case EX_TEMPFAIL: return "interrupted";
	case EX_IOERR: return "cannot write it";
	default: return "cannot fetch it";
	}
}

int
pager_fail_chunk(struct pager_err *e, int status, const char *bucket,
    const char *key, size_t c, uint64_t at, size_t len)
{
	char tail[160], msg[PAGER_MSG_MAX * 4];
	size_t room, klen = strlen(key);

	snprintf(tail, sizeof(tail), ": chunk %zu, bytes %ju-%ju: %s", c,
	    (uintmax_t)at, (uintmax_t)(at + (len ? len : 1) - 1),
	    reason(status));
	/* "s3://" bucket "/" key tail, the key's start given up first. */
	room = PAGER_MSG_MAX - 1 - strlen(tail) - strlen(bucket) - 6;
	if (klen > room)
		snprintf(msg, sizeof(msg), "s3://%s/...%s%s", bucket,
		    key + klen - (room - 3), tail);
	else
		snprintf(msg, sizeof(msg), "s3://%s/%s%s", bucket, key, tail);
	return record(e, status, msg);	/* s3layer_get_chunk logged it */
}
