/*
 * log: see log.h.  Each line is formatted into a stack buffer and written with
 * a single write(2): O_APPEND writes of one line are atomic enough for logs, and
 * this keeps the per-request path free of locks.
 */
#include "proxy/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>
#include <sys/time.h>

static const char *level_names[] = { "error", "warn", "info", "debug" };

static atomic_int cur_level = LOG_INFO;
static atomic_int err_fd = 2;
static atomic_int acc_fd = 2;
static char err_path[4096];
static char acc_path[4096];

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_WARN;
	return -1;
}

const char *log_level_name(int level)
{
	return (level >= 0 && level < 4) ? level_names[level] : "?";
}

/* Opens one target: returns an fd (2 for stderr, -1 for off) or -2 on error. */
static int open_target(const char *t)
{
	if (!t || !*t || strcmp(t, "stderr") == 0)
		return 2;
	if (strcmp(t, "off") == 0)
		return -1;
	int fd = open(t, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	return fd < 0 ? -2 : fd;
}

static int swap_fd(atomic_int *slot, int fd)
{
	int old = atomic_exchange(slot, fd);
	/* A write racing this close may fail with EBADF; losing one log line on
	 * a reopen is acceptable, a lock on every line is not. */
	if (old > 2)
		close(old);
	return 0;
}

int log_open(const char *error_target, const char *access_target, int level)
{
	int efd = open_target(error_target);
	if (efd == -2)
		return -1;
	int afd = open_target(access_target);
	if (afd == -2) {
		int e = errno;
		if (efd > 2)
			close(efd);
		errno = e;
		return -1;
	}
	snprintf(err_path, sizeof err_path, "%s", error_target ? error_target : "stderr");
	snprintf(acc_path, sizeof acc_path, "%s", access_target ? access_target : "stderr");
	swap_fd(&err_fd, efd);
	swap_fd(&acc_fd, afd);
	atomic_store(&cur_level, level);
	return 0;
}

int log_reopen(void)
{
	char e[4096], a[4096];
	memcpy(e, err_path, sizeof e);
	memcpy(a, acc_path, sizeof a);
	return log_open(e, a, atomic_load(&cur_level));
}

void log_set_level(int level) { atomic_store(&cur_level, level); }
int log_enabled(int level) { return level <= atomic_load(&cur_level) && atomic_load(&err_fd) >= 0; }
int log_access_enabled(void) { return atomic_load(&acc_fd) >= 0; }

static int stamp(char *buf, size_t n)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	return (int)k + snprintf(buf + k, n - k, ".%03dZ", (int)(tv.tv_usec / 1000));
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	if (!log_enabled(level))
		return;
	char line[2048];
	int n = stamp(line, sizeof line);
	n += snprintf(line + n, sizeof line - n, " [%s] ", log_level_name(level));
	int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	ssize_t w = write(atomic_load(&err_fd), line, n);
	(void)w;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_access(const char *line, int len)
{
	int fd = atomic_load(&acc_fd);
	if (fd < 0)
		return;
	char buf[4096];
	if (len > (int)sizeof buf - 1)
		len = (int)sizeof buf - 1;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	ssize_t w = write(fd, buf, len);
	(void)w;
}
