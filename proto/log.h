/* log.h: one-line log messages on stderr, tagged with the program, level and function.
 * Log where an error is handled, not where it is passed through. */
#ifndef REXEC_LOG_H
#define REXEC_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the program name and the most verbose level printed (default: warnings), and whether
 * stderr is the journal ($JOURNAL_STREAM names it): then each line starts with its sd-daemon(3)
 * priority ("<3>" for errors) and carries no time or program name, which journald adds. */
void log_setup(const char *prog, enum log_level max);

/* "<N>", the sd-daemon(3) priority of LEVEL, when stderr is the journal; else "". For messages
 * written to stderr without log_write(). Static storage. */
const char *log_journal_prefix(enum log_level level);

void log_write(enum log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __func__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LEVEL_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__)

#endif
