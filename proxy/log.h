/*
 * log: the error log and the access log.
 *
 * Both are line-oriented and written with one write(2) per line, so lines from
 * different worker threads never interleave and no lock is taken.  Targets are
 * "stderr", "off" or a file path; log_reopen() reopens files (SIGHUP, logrotate).
 */
#ifndef QUELL_LOG_H
#define QUELL_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Returns the level for "error|warn|info|debug", or -1. */
int log_level_parse(const char *s);
const char *log_level_name(int level);

/* Sets targets and level.  Returns 0, or -1 when a file cannot be opened
 * (errno set); the previous target stays in use then. */
int log_open(const char *error_target, const char *access_target, int level);
int log_reopen(void);
void log_set_level(int level);
int log_enabled(int level);

/* One error-log line: time, level, message.  A trailing newline is added. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);

/* One access-log line, already formatted by the caller (no newline). */
void log_access(const char *line, int len);
int log_access_enabled(void);

#endif
