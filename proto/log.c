/* log.c: the log sink (stderr). The level and the journal mode are process configuration set
 * once at start-up. */
#include "proto/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *log_prog = "rexec";
static enum log_level log_max = LOG_LEVEL_WARN;
static bool log_journal;

/* systemd.exec(5): $JOURNAL_STREAM is "DEV:INODE" of the stream it connected to stderr; a
 * process that finds its stderr still there may write sd-daemon(3) "<N>" priorities. A
 * variable inherited by a process whose stderr was redirected does not match. */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(const char *prog, enum log_level max)
{
	log_prog = prog;
	log_max = max;
	log_journal = stderr_is_journal();
}

const char *log_journal_prefix(enum log_level level)
{
	/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG of syslog(3), as sd-daemon.h spells them. */
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };

	return log_journal ? prio[level] : "";
}

void log_write(enum log_level level, const char *func, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	char line[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level > log_max)
		return;
	if (log_journal) {
		/* journald records the time and the program: the priority and the text remain. */
		n = snprintf(line, sizeof(line), "%s%s: %s: ", log_journal_prefix(level),
			     names[level], func);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ld %s %s: %s: ", stamp,
			     ts.tv_nsec / 1000000, log_prog, names[level], func);
	}
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* A message with line breaks would become several journal entries at the default
	 * priority: they become spaces. */
	for (char *p = line; *p != 0; p++)
		if (*p == '\n')
			*p = ' ';
	fprintf(stderr, "%s\n", line);
}
