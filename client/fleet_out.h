/* fleet_out.h: what a fan-out run shows: each host's output as "host | line" (colour on a
 * terminal), or gathered by identical output (--group), or one JSON object per host
 * (--json); a live progress line on a terminal; the ^C status and the final summary.
 *
 * Output to a pipe is written without blocking the loop: a host's credit goes back to its
 * agent only once its bytes are written, so a slow reader slows the remote commands instead
 * of growing this process. Terminals and files are written directly. */
#ifndef REXEC_CLIENT_FLEET_OUT_H
#define REXEC_CLIENT_FLEET_OUT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define FLEET_CAPTURE_MAX (1024 * 1024) /* bytes kept per host and stream (--group, --json) */
#define FLEET_LINE_MAX    (16 * 1024)   /* a longer line is shown in pieces */

enum fleet_fmt { FLEET_FMT_LINES, FLEET_FMT_GROUP, FLEET_FMT_JSON };

enum fleet_result {
	FLEET_PENDING,     /* queued or running */
	FLEET_OK,          /* exit 0 */
	FLEET_FAILED,      /* non-zero exit, signal, refused or could not start */
	FLEET_TIMEOUT,     /* --timeout ended it */
	FLEET_UNREACHABLE, /* connect, TLS, lost connection */
	FLEET_SKIPPED,     /* the service does not run there */
	FLEET_NOT_RUN,     /* not launched: --fail-fast, --max-fail */
	FLEET_CANCELLED,   /* a second ^C ended it */
};

/* Bytes of a host's stream kept in memory: the whole output (--group, --json, up to
 * FLEET_CAPTURE_MAX) or the unfinished last line (host | line). */
struct fleet_capture {
	uint8_t *p;
	size_t len, cap;
	int truncated;
};

/* What one host did. The runner fills it in; fleet_out formats it. */
struct fleet_record {
	const char *name;    /* borrowed from the inventory */
	const char *address; /* borrowed */
	enum fleet_result result;
	int exit_code;   /* the exit code as a single session reports it (-1: none) */
	char signal[16]; /* name of the signal that killed it, or "" */
	char *error;     /* one-line reason (allocated) or NULL */
	uint64_t start_ms, end_ms;
	int running;                 /* launched and not finished */
	struct fleet_capture cap[2]; /* stdout, stderr */
};

/* Counters for the progress line. */
struct fleet_counts {
	size_t total, done, running, queued, failed;
};

/* Called when N bytes of a host's output have been consumed (written or kept). */
typedef void (*fleet_credit_fn)(void *arg, size_t n);

struct fleet_out;

/* A new output for N_HOSTS hosts whose longest name is NAME_WIDTH bytes, on this process's
 * stdout and stderr, in FMT. TARGET describes what runs ("host" or "service web") for JSON.
 * Returns NULL when out of memory. Free with fleet_out_free() after the loop has ended and
 * fleet_out_close()'s handles have closed. */
struct fleet_out *fleet_out_new(uv_loop_t *loop, enum fleet_fmt fmt, size_t name_width,
				const char *target);

/* N bytes of R's stdout (FD 0) or stderr (FD 1). CREDIT(ARG, N) runs once consumed. */
void fleet_out_data(struct fleet_out *o, struct fleet_record *r, int fd, const uint8_t *p, size_t n,
		    fleet_credit_fn credit, void *arg);

/* R has its result: flushes its last partial lines and says what happened (host | line
 * mode), or writes its JSON object (--json). */
void fleet_out_host_done(struct fleet_out *o, struct fleet_record *r);

/* Redraws the progress line (only when stderr is a terminal). */
void fleet_out_progress(struct fleet_out *o, const struct fleet_counts *c);

/* Erases the progress line, if one is shown. */
void fleet_out_clear_progress(struct fleet_out *o);

/* The status of every host (on the first ^C). NOW_MS: the loop's time. */
void fleet_out_status(struct fleet_out *o, const struct fleet_record *r, size_t n, uint64_t now_ms);

/* The end: the gathered output (--group) and the summary on stderr. */
void fleet_out_finish(struct fleet_out *o, const struct fleet_record *r, size_t n);

/* Starts closing the output's handles (pending writes still complete). */
void fleet_out_close(struct fleet_out *o);
void fleet_out_free(struct fleet_out *o);

/* Releases R's captures and error. */
void fleet_record_clear(struct fleet_record *r);

/* The name of a result as --json and the summary write it ("ok", "timeout", ...). */
const char *fleet_result_name(enum fleet_result res);

#endif
