/* Diagnostics for every snapvm program: one line per message on stderr. */
#ifndef SNAPVM_LOG_H
#define SNAPVM_LOG_H

enum log_level { LOG_QUIET = -1, LOG_WARN = 0, LOG_INFO = 1, LOG_DEBUG = 2 };

void log_init(const char *progname, int level);
int log_level(void);
void log_emit(int level, const char *func, int with_errno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* warn appends strerror(errno); warnx does not. */
#define log_warn(...)  log_emit(LOG_WARN, __func__, 1, __VA_ARGS__)
#define log_warnx(...) log_emit(LOG_WARN, __func__, 0, __VA_ARGS__)
#define log_info(...)  log_emit(LOG_INFO, __func__, 0, __VA_ARGS__)
#define log_debug(...) log_emit(LOG_DEBUG, __func__, 0, __VA_ARGS__)

#endif
