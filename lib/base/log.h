/* Diagnostics for every snapvm program: one line per message on stderr. */
#ifndef SNAPVM_LOG_H
#define SNAPVM_LOG_H

#include <stdint.h>

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

/*
 * A budget for messages that someone untrusted (a guest, a client) can
 * cause as often as it likes: at most `burst` lines per `interval_ms`
 * through one struct log_rate; the rest are counted, and the next line
 * after the interval (or log_rate_flush) first says how many were
 * suppressed, as "NAME: N similar messages suppressed".  One struct per
 * kind of message, owned by whoever logs it (a device, a connection
 * table); it has no lock: its owner serialises the calls.
 */
struct log_rate {
	const char *name;
	uint32_t burst;
	uint32_t interval_ms;
	uint32_t lines;			/* printed in the current interval */
	uint32_t suppressed;		/* not printed since the last report */
	int level;			/* the most urgent of those */
	uint64_t start_ms;		/* of the current interval */
};

#define LOG_RATE_BURST		10
#define LOG_RATE_INTERVAL_MS	10000
#define LOG_RATE_INIT(name) \
	{ (name), LOG_RATE_BURST, LOG_RATE_INTERVAL_MS, 0, 0, LOG_DEBUG, 0 }

void log_rate_emit(struct log_rate *r, int level, const char *func,
    int with_errno, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Reports the suppressed count now, if there is one (say, at close). */
void log_rate_flush(struct log_rate *r);

#define log_warn_rate(r, ...) log_rate_emit((r), LOG_WARN, __func__, 1, __VA_ARGS__)
#define log_warnx_rate(r, ...) log_rate_emit((r), LOG_WARN, __func__, 0, __VA_ARGS__)
#define log_info_rate(r, ...) log_rate_emit((r), LOG_INFO, __func__, 0, __VA_ARGS__)

#endif
