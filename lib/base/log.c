#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "monotime.h"

/* Per-process configuration, set once by main before any thread starts. */
static const char *log_prog = "snapvm";
static int log_lvl = LOG_WARN;

void
log_init(const char *progname, int level)
{
	const char *slash = progname ? strrchr(progname, '/') : NULL;

	if (progname != NULL)
		log_prog = slash ? slash + 1 : progname;
	log_lvl = level;
}

int
log_level(void)
{
	return log_lvl;
}

/* Appends to line[*n..size), keeping *n within the buffer. */
static void
log_append(char *line, size_t size, size_t *n, const char *fmt, va_list ap)
{
	int w;

	if (*n >= size)
		return;
	w = vsnprintf(line + *n, size - *n, fmt, ap);
	if (w > 0)
		*n += (size_t)w < size - *n ? (size_t)w : size - *n - 1;
}

static void
log_appendf(char *line, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_append(line, size, n, fmt, ap);
	va_end(ap);
}

/*
 * The whole line is formatted first and written with one call so that
 * lines from different threads never interleave.  The function name is
 * shown only when debugging: users need the file and the problem, not
 * our call graph.
 */
static void
log_vemit(const char *func, int with_errno, const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno;
	size_t n = 0;

	log_appendf(line, sizeof(line) - 1, &n, "%s: ", log_prog);
	if (log_lvl >= LOG_DEBUG)
		log_appendf(line, sizeof(line) - 1, &n, "%s: ", func);
	log_append(line, sizeof(line) - 1, &n, fmt, ap);
	if (with_errno)
		log_appendf(line, sizeof(line) - 1, &n, ": %s", strerror(saved));
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	errno = saved;
}

void
log_emit(int level, const char *func, int with_errno, const char *fmt, ...)
{
	va_list ap;

	if (level > log_lvl)
		return;
	va_start(ap, fmt);
	log_vemit(func, with_errno, fmt, ap);
	va_end(ap);
}

void
log_rate_flush(struct log_rate *r)
{
	if (r->suppressed > 0)
		log_emit(r->level, __func__, 0, "%s: %u similar messages "
		    "suppressed", r->name, r->suppressed);
	r->suppressed = 0;
	r->level = LOG_DEBUG;
}

void
log_rate_emit(struct log_rate *r, int level, const char *func,
    int with_errno, const char *fmt, ...)
{
	uint64_t now;
	va_list ap;

	if (level > log_lvl)
		return;
	now = mono_ms();
	if (r->lines == 0 || now - r->start_ms >= r->interval_ms) {
		log_rate_flush(r);
		r->start_ms = now;
		r->lines = 0;
	}
	if (r->lines >= r->burst) {
		r->suppressed++;
		if (level < r->level)
			r->level = level;
		return;
	}
	r->lines++;
	va_start(ap, fmt);
	log_vemit(func, with_errno, fmt, ap);
	va_end(ap);
}
