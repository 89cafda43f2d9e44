#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

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
void
log_emit(int level, const char *func, int with_errno, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	size_t n = 0;
	va_list ap;

	if (level > log_lvl)
		return;
	log_appendf(line, sizeof(line) - 1, &n, "%s: ", log_prog);
	if (log_lvl >= LOG_DEBUG)
		log_appendf(line, sizeof(line) - 1, &n, "%s: ", func);
	va_start(ap, fmt);
	log_append(line, sizeof(line) - 1, &n, fmt, ap);
	va_end(ap);
	if (with_errno)
		log_appendf(line, sizeof(line) - 1, &n, ": %s", strerror(saved));
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	errno = saved;
}
