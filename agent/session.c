/* session.c: a host process relayed over one stream: credit-limited output, stdin with
 * explicit EOF, resize, signals by name, exit reported in-band, and no orphans. */
#include "agent/session.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/container.h"
#include "agent/policy.h"
#include "agent/record.h"
#include "agent/spawn.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/signame.h"

#define LINGER_TICK_MS 100  /* after exit, output idle this long twice ends the session */
#define KILL_AFTER_MS  2000 /* SIGHUP, then SIGKILL this much later */
#define DEFAULT_PATH   "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum sess_state {
	SESS_STARTING, /* container sessions: the engine is starting the process */
	SESS_RUNNING,  /* process alive */
	SESS_DRAINING, /* main process reaped; relaying what is left of its output */
	SESS_ENDING,   /* Exit sent (or nobody to send it to); handles closing */
};

static const char *sess_state_names[] = { "starting", "running", "draining", "ending" };

enum timer_mode { TIMER_NONE, TIMER_LINGER, TIMER_GRACE, TIMER_KILL };

#define IN_SPARES 4 /* stdin blocks a session keeps for reuse (write_stdin()) */

struct in_write;

struct session {
	struct session *next;
	struct agent *agent;
	struct conn *conn; /* NULL while detached */
	uint32_t stream;
	enum sess_state state;
	char cmd[128]; /* argv[0], for messages */
	char user[64];
	char who[256]; /* the client certificate's CN: limits.sessions_per_user counts by it */
	int tty;
	struct spawn_result sp; /* host sessions; a container session's pid is sp.pid */
	struct ct *ct;          /* container sessions: out_h is the engine's stream */
	const char *via;        /* "host", "engine" or "direct" */
	int lost_starting;      /* the client went away while the engine was starting */
	uv_pipe_t out_h;        /* stdout pipe, or the PTY master (read and write) */
	uv_pipe_t err_h;
	uv_pipe_t in_h;                  /* pipe mode only: in tty mode stdin goes to the master */
	int out_open, err_open, in_open; /* handle initialised and not yet closed */
	int reading;
	int out_eof;       /* tty: the master reported EIO; kept open until the child is reaped */
	int fed;           /* output came since the last EOF libuv reported (tty_hup()) */
	int64_t window;    /* output bytes the client still accepts */
	int64_t in_window; /* stdin bytes the client may still send: what we granted, less what
			    * came, plus what we credited back (at most WIRE_WINDOW_DEFAULT) */
	uint64_t off[4];
	size_t in_queued; /* stdin bytes written to the process but not yet drained */
	/* Written stdin blocks kept for the next frame the process does not take at once: musl
	 * maps each such block fresh and unmaps it on free (36 KiB per frame on an upload). */
	struct in_write *spare[IN_SPARES];
	int n_spare;
	int stdin_eof; /* Eof arrived; close once in_queued is 0 */
	uint8_t last_in;
	int status;
	uint64_t read_at_tick;
	int idle_ticks;
	uv_timer_t timer;
	enum timer_mode timer_mode;
	int handles;         /* open libuv handles; freed when the last one closes */
	cJSON *audit;        /* the audit log's description of it (audit.h); NULL: no audit log */
	int audit_started;   /* its "start" record is out: session__destroy() writes the "end" */
	uint64_t started_ns; /* uv_hrtime() at the start */
	uint64_t bytes_in;   /* stdin bytes the process (or the engine's stream) took */
	uint64_t bytes_out;  /* stdout and stderr bytes sent to the client */
	struct tls_identity owner; /* who opened it: revocation and expiry end it too */
	/* Its recording (record.h; NULL: none), and its "end" record kept while that closes. */
	struct record *rec;
	struct audit_end end;
	uint8_t buf[WIRE_DATA_MAX];
};

struct in_write {
	uv_write_t req;
	struct session *s;
	size_t len;
	uint8_t data[WIRE_DATA_MAX + DETACH_KEYS_MAX]; /* + detach keys held back before */
};

static void session__set_state(struct session *s, enum sess_state next)
{
	log_debug("session %u/%d: %s -> %s", s->stream, (int)s->sp.pid, sess_state_names[s->state],
		  sess_state_names[next]);
	s->state = next;
}

static void session__send_frame(struct session *s, wire_frame *f)
{
	if (s->conn == NULL)
		return;
	f->stream = s->stream;
	conn_send(s->conn, f);
}

static void session__send_eof(struct session *s, Rexec__V1__Fd fd)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Eof e = REXEC__V1__EOF__INIT;

	e.fd = fd;
	f.msg_case = REXEC__V1__FRAME__MSG_EOF;
	f.eof = &e;
	session__send_frame(s, &f);
}

static void send_credit(struct session *s, size_t n)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Credit c = REXEC__V1__CREDIT__INIT;

	s->in_window += (int64_t)n;
	c.bytes = (uint32_t)n;
	f.msg_case = REXEC__V1__FRAME__MSG_CREDIT;
	f.credit = &c;
	session__send_frame(s, &f);
}

static struct session *session__find(struct agent *a, struct conn *c, uint32_t stream)
{
	struct session *s;

	for (s = a->sessions; s != NULL; s = s->next)
		if (s->conn == c && s->stream == stream)
			return s;
	return NULL;
}

/* Sessions open on C (attached to it, not yet ending). */
static unsigned session__count(struct agent *a, struct conn *c)
{
	struct session *s;
	unsigned n = 0;

	for (s = a->sessions; s != NULL; s = s->next)
		n += s->conn == c;
	return n;
}

/* The sessions of WHO (a certificate CN), on every connection and detached ones too. */
static unsigned session__count_user(struct agent *a, const char *who)
{
	struct session *s;
	unsigned n = 0;

	for (s = a->sessions; s != NULL; s = s->next)
		n += strcmp(s->who, who) == 0;
	return n;
}

static void unlink_session(struct session *s)
{
	struct session **p;

	for (p = &s->agent->sessions; *p != NULL; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			return;
		}
	}
}

/* Drops one of what keeps the session's memory (its open handles, a recording closing); the
 * last one frees it. */
static void unref(struct session *s)
{
	if (--s->handles > 0)
		return;
	if (s->sp.errpipe >= 0)
		close(s->sp.errpipe);
	while (s->n_spare > 0)
		free(s->spare[--s->n_spare]);
	free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
	unref(h->data);
}

static void session__start_reading(struct session *s);

/* The recording's write came back: output paused for it is read again. */
static void session__on_record_room(void *arg)
{
	session__start_reading(arg);
}

/* Writes the session's "end" record, if it started, and drops its audit description. */
static void write_end(struct session *s)
{
	if (s->audit_started)
		audit_ended(s->agent->audit, s->audit, &s->end);
	cJSON_Delete(s->audit);
	s->audit = NULL;
	s->audit_started = 0;
}

/* The recording's last write is done: the "end" record names the file and says whether it is
 * complete. */
static void on_recorded(void *arg, const struct record_result *res)
{
	struct session *s = arg;

	s->end.recording = res->file;
	s->end.recording_complete = res->complete;
	s->end.recording_error = res->error;
	write_end(s);
	unref(s);
}

static void close_handle(struct session *s, uv_handle_t *h, int *open)
{
	if (open != NULL && !*open)
		return;
	if (open != NULL)
		*open = 0;
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
}

/* Tears the session down: no more frames, its "end" in the audit log, handles closed, memory
 * freed at the last close. */
static void session__destroy(struct session *s)
{
	session__set_state(s, SESS_ENDING);
	unlink_session(s);
	if (s->audit_started) {
		s->end = (struct audit_end){ .pid = s->ct != NULL ? ct_exec_pid(s->ct) : 0,
					     .duration_ms = (uv_hrtime() - s->started_ns) / 1000000,
					     .bytes_in = s->bytes_in,
					     .bytes_out = s->bytes_out };
	}
	if (s->rec != NULL) {
		/* The "end" waits for the recording's last write (on the thread pool), so that it
		 * can say whether the file is whole; the session's memory waits with it. */
		s->handles++;
		record_close(s->rec, on_recorded, s);
		s->rec = NULL;
	} else {
		write_end(s);
	}
	ct_release(s->ct);
	s->ct = NULL;
	uv_timer_stop(&s->timer);
	close_handle(s, (uv_handle_t *)&s->out_h, &s->out_open);
	close_handle(s, (uv_handle_t *)&s->err_h, &s->err_open);
	close_handle(s, (uv_handle_t *)&s->in_h, &s->in_open);
	close_handle(s, (uv_handle_t *)&s->timer, NULL);
}

/* Signals the whole process group (the child leads it); ESRCH when it is empty. */
static void signal_group(struct session *s, int sig)
{
	if (s->ct != NULL) {
		ct_hangup(s->ct, sig);
		return;
	}
	if (s->sp.pid <= 0)
		return;
	if (kill(-s->sp.pid, sig) < 0 && errno != ESRCH)
		log_warn("session %u: kill(-%d, %d): %s", s->stream, (int)s->sp.pid, sig,
			 strerror(errno));
}

static void start_timer(struct session *s, enum timer_mode mode, unsigned ms, unsigned repeat);
static void session__start_reading(struct session *s);

/* The client is gone (after the grace period) or gave up: SIGHUP now, SIGKILL later. An
 * attach session only detaches; a container stream is read to its end, which reports the
 * exit. */
static void session__hang_up(struct session *s)
{
	if (s->state == SESS_STARTING) {
		s->lost_starting = 1;
		return;
	}
	if (s->ct != NULL && (s->state == SESS_DRAINING || !ct_hangup(s->ct, SIGHUP))) {
		session__destroy(s);
		return;
	}
	if (s->ct == NULL)
		signal_group(s, SIGHUP);
	start_timer(s, TIMER_KILL, KILL_AFTER_MS, 0);
	session__start_reading(s);
}

/* How the reaped process ended: its exit code (128+N when killed by signal N), with *SIG and
 * *CORE, and a start failure in REASON (LEN bytes; "" when none). */
static int exit_status(struct session *s, int *sig, int *core, char *reason, size_t len)
{
	const char *stage;
	int err = spawn_start_error(&s->sp, &stage), code = 0;

	*sig = *core = 0;
	reason[0] = 0;
	if (err != 0) {
		code = WIFEXITED(s->status) ? WEXITSTATUS(s->status) : 126;
		snprintf(reason, len, "%s %s: %s", stage, s->cmd, strerror(err));
	} else if (WIFEXITED(s->status)) {
		code = WEXITSTATUS(s->status);
	} else if (WIFSIGNALED(s->status)) {
		*sig = WTERMSIG(s->status);
		*core = WCOREDUMP(s->status) != 0;
		code = 128 + *sig;
	}
	return code;
}

/* The process was reaped with nobody to tell: its exit goes to the audit log only. */
static void note_exit(struct session *s)
{
	char reason[WIRE_TEXT_MAX];
	int sig, core, code;

	if (s->audit == NULL)
		return;
	code = exit_status(s, &sig, &core, reason, sizeof(reason));
	audit_exit(s->audit, code, sig, reason);
}

/* Sends Exit and ends the session. What still holds the output gets SIGHUP, as on a
 * terminal hangup. */
static void session__send_exit(struct session *s, int code, int sig, int core, const char *reason);

static void finish(struct session *s)
{
	char reason[WIRE_TEXT_MAX];
	int sig, core, code = exit_status(s, &sig, &core, reason, sizeof(reason));

	session__send_exit(s, code, sig, core, reason);
	audit_exit(s->audit, code, sig, reason);
	log_info("session %u (%s, pid %d) ended: code %d%s%s", s->stream, s->user, (int)s->sp.pid,
		 code, reason[0] ? ", " : "", reason);
	signal_group(s, SIGHUP);
	session__destroy(s);
}

/* After exit: ends the session at output EOF, or when the output stayed idle for two
 * ticks while the client had room for more (a background child holding the pipe open
 * must not keep the session alive). */
static void check_drained(struct session *s)
{
	if (s->state != SESS_DRAINING)
		return;
	if ((!s->out_open || s->out_eof) && !s->err_open) {
		finish(s);
		return;
	}
	if (s->timer_mode != TIMER_LINGER)
		start_timer(s, TIMER_LINGER, LINGER_TICK_MS, LINGER_TICK_MS);
}

static void on_timer(uv_timer_t *t)
{
	struct session *s = t->data;
	uint64_t read = s->off[REXEC__V1__FD__FD_STDOUT] + s->off[REXEC__V1__FD__FD_STDERR];

	switch (s->timer_mode) {
	case TIMER_LINGER:
		/* Output paused by the client's window or by the recording is not idle output. */
		if (s->window <= 0 || record_full(s->rec) || read != s->read_at_tick) {
			s->idle_ticks = 0;
		} else if (++s->idle_ticks >= 2) {
			finish(s);
			return;
		}
		s->read_at_tick = read;
		return;
	case TIMER_GRACE:
		log_info("session %u: client gone for the grace period: SIGHUP to %d", s->stream,
			 (int)s->sp.pid);
		audit_reason(s->audit, "client gone for the grace period: hung up");
		session__hang_up(s);
		return;
	case TIMER_KILL:
		log_info("session %u: SIGKILL to group %d", s->stream, (int)s->sp.pid);
		audit_reason(s->audit, "client gone for the grace period: killed after SIGHUP");
		signal_group(s, SIGKILL);
		s->timer_mode = TIMER_NONE;
		return;
	case TIMER_NONE:
		return;
	}
}

static void start_timer(struct session *s, enum timer_mode mode, unsigned ms, unsigned repeat)
{
	s->timer_mode = mode;
	s->idle_ticks = 0;
	s->read_at_tick = s->off[REXEC__V1__FD__FD_STDOUT] + s->off[REXEC__V1__FD__FD_STDERR];
	uv_timer_start(&s->timer, on_timer, ms, repeat);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct session *s = h->data;
	size_t n = sizeof(s->buf);

	/* Never read more than the client has room for (a container stream without a client
	 * is read and dropped until it ends). */
	if (s->conn != NULL && s->window < (int64_t)n)
		n = s->window > 0 ? (size_t)s->window : 0;
	*buf = uv_buf_init((char *)s->buf, (unsigned int)n);
}

static void stop_reading(struct session *s)
{
	if (!s->reading)
		return;
	s->reading = 0;
	if (s->out_open && !s->out_eof)
		uv_read_stop((uv_stream_t *)&s->out_h);
	if (s->err_open)
		uv_read_stop((uv_stream_t *)&s->err_h);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void session__start_reading(struct session *s)
{
	if (s->reading || (s->conn == NULL && s->ct == NULL) || (s->conn && s->window <= 0) ||
	    record_full(s->rec))
		return;
	s->reading = 1;
	if (s->out_open && !s->out_eof)
		uv_read_start((uv_stream_t *)&s->out_h, on_alloc, on_read);
	if (s->err_open)
		uv_read_start((uv_stream_t *)&s->err_h, on_alloc, on_read);
}

static void session__send_data(struct session *s, Rexec__V1__Fd fd, const uint8_t *p, size_t n)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Data d = REXEC__V1__DATA__INIT;

	d.fd = fd;
	d.bytes.data = (uint8_t *)p;
	d.bytes.len = n;
	d.offset = s->off[fd];
	f.msg_case = REXEC__V1__FRAME__MSG_DATA;
	f.data = &d;
	if (s->conn != NULL)
		s->bytes_out += (uint64_t)n;
	record_output(s->rec, p, n);
	session__send_frame(s, &f);
	s->off[fd] += (uint64_t)n;
}

/* A payload of the engine's stream (1: stdout, 2: stderr). */
static void session__emit_ct(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct session *s = arg;

	if (ct_hold_start_error(s->ct, fd, p, n))
		return;
	session__send_data(s, fd == 2 ? REXEC__V1__FD__FD_STDERR : REXEC__V1__FD__FD_STDOUT, p, n);
}

static void on_ct_exit(void *arg, const struct ct_exit *ex);

/* The engine's stream ended: the process is gone (or detached); ask how it ended. */
static void ct_stream_closed(struct session *s)
{
	close_handle(s, (uv_handle_t *)&s->out_h, &s->out_open);
	session__send_eof(s, REXEC__V1__FD__FD_STDOUT);
	session__send_eof(s, REXEC__V1__FD__FD_STDERR);
	session__set_state(s, SESS_DRAINING);
	ct_stream_ended(s->ct, on_ct_exit);
}

/* Whether the EOF N (a negative code) that libuv reported for ST is only the PTY slave's last
 * close, with output still to read: reading goes on then, and it returns 1. libuv ends a stream
 * at POLLHUP after a short read, which is right for a pipe or a socket (a short read emptied
 * it) but not for a PTY master: a read gets at most one line-discipline buffer (4095 bytes)
 * while the pty may still hold up to about 19 KB that the process wrote before it exited. As
 * OpenSSH's channels.c does (it reads a pty until read() fails, whatever poll() said), the end is
 * the read that fails with EIO: the kernel flushes those buffers to the master before it reports
 * that. An EOF with no output since the last one is a real end (a read of 0), not the shortcut, so
 * this cannot loop. */
static int tty_hup(struct session *s, uv_stream_t *st, ssize_t n)
{
	if (n != UV_EOF || !s->tty || s->ct != NULL || st != (uv_stream_t *)&s->out_h || !s->fed)
		return 0;
	s->fed = 0;
	s->reading = 0; /* libuv stopped it; a window or a full recording may keep it so */
	session__start_reading(s);
	return 1;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct session *s = st->data;
	Rexec__V1__Fd fd = st == (uv_stream_t *)&s->err_h ? REXEC__V1__FD__FD_STDERR
							  : REXEC__V1__FD__FD_STDOUT;

	if (n > 0) {
		s->fed = 1;
		/* The window counts what the client receives: payload, not the engine's
		 * multiplexing headers. */
		if (s->ct != NULL)
			s->window -= (int64_t)ct_demux(s->ct, (const uint8_t *)buf->base, (size_t)n,
						       session__emit_ct, s);
		else
			session__send_data(s, fd, (const uint8_t *)buf->base, (size_t)n);
		if (s->ct == NULL)
			s->window -= n;
		/* The recording's disk paces the output as the client's window does. */
		if ((s->window <= 0 && s->conn != NULL) || record_full(s->rec))
			stop_reading(s);
		return;
	}
	if (n == 0 || n == UV_ENOBUFS)
		return;
	if (tty_hup(s, st, n))
		return;
	/* EOF; on a PTY master, EIO once every slave fd is closed and all it wrote was read. */
	if (n != UV_EOF && n != UV_EIO)
		log_warn("session %u: read: %s", s->stream, uv_strerror((int)n));
	if (s->ct != NULL) {
		s->reading = 0;
		ct_stream_closed(s);
		return;
	}
	if (fd == REXEC__V1__FD__FD_STDERR) {
		close_handle(s, (uv_handle_t *)&s->err_h, &s->err_open);
	} else if (s->tty) {
		/* Closing the master hangs the terminal up, and the kernel would SIGHUP a child
		 * that closed its output but has not exited yet: keep it until the reap. */
		uv_read_stop((uv_stream_t *)&s->out_h);
		s->out_eof = 1;
	} else {
		close_handle(s, (uv_handle_t *)&s->out_h, &s->out_open);
	}
	session__send_eof(s, fd);
	check_drained(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	free(req);
}

/* Stdin EOF on an engine stream: a half-close without a TTY (the engine closes the process's
 * stdin); with one, the EOF character typed, as for a host PTY in canonical mode. */
static void close_ct_stdin(struct session *s)
{
	uv_shutdown_t *req;

	if (!s->out_open)
		return;
	if (s->tty) {
		char c[2] = { 4, 4 };
		uv_buf_t b = uv_buf_init(c, s->last_in == '\n' || s->last_in == 0 ? 1 : 2);
		if (uv_try_write((uv_stream_t *)&s->out_h, &b, 1) < 0)
			log_warn("session %u: cannot type EOF", s->stream);
		return;
	}
	if ((req = malloc(sizeof(*req))) != NULL &&
	    uv_shutdown(req, (uv_stream_t *)&s->out_h, on_shutdown) < 0)
		free(req);
}

static void close_stdin(struct session *s)
{
	struct termios tio;

	if (s->ct != NULL) {
		close_ct_stdin(s);
		return;
	}
	if (!s->tty) {
		close_handle(s, (uv_handle_t *)&s->in_h, &s->in_open);
		return;
	}
	/* A terminal has no half-close: type the EOF character, twice if a line is pending. */
	if (s->out_open && tcgetattr(s->sp.master, &tio) == 0 && (tio.c_lflag & ICANON)) {
		char c[2] = { (char)tio.c_cc[VEOF], (char)tio.c_cc[VEOF] };
		uv_buf_t b = uv_buf_init(c, s->last_in == '\n' || s->last_in == 0 ? 1 : 2);
		if (uv_try_write((uv_stream_t *)&s->out_h, &b, 1) < 0)
			log_warn("session %u: cannot type EOF", s->stream);
	}
}

static void on_in_written(uv_write_t *req, int status)
{
	struct in_write *w = (struct in_write *)req;
	struct session *s = w->s;

	s->in_queued -= w->len;
	if (status == 0)
		s->bytes_in += w->len;
	/* The bytes left our buffer: the client may send as many more. */
	if (s->state != SESS_ENDING)
		send_credit(s, w->len);
	if (s->n_spare < IN_SPARES)
		s->spare[s->n_spare++] = w;
	else
		free(w);
	if (s->stdin_eof && s->in_queued == 0 && s->state != SESS_ENDING)
		close_stdin(s);
}

static void write_stdin(struct session *s, const ProtobufCBinaryData *b)
{
	int to_out = s->tty || s->ct != NULL;
	uv_stream_t *dst = to_out ? (uv_stream_t *)&s->out_h : (uv_stream_t *)&s->in_h;
	int open = to_out ? s->out_open : s->in_open;
	ProtobufCBinaryData rest, kept;
	struct in_write *w;
	uv_buf_t buf;
	uint8_t keep[WIRE_DATA_MAX + DETACH_KEYS_MAX];
	int detached = 0;

	if (!open || s->stdin_eof || b->len == 0) {
		/* Nobody reads stdin any more: drop the bytes but keep the window turning. */
		if (b->len > 0)
			send_credit(s, b->len);
		return;
	}
	if (s->ct != NULL && b->len <= WIRE_DATA_MAX) {
		/* An attach's detach keys (held-back keys are credited once written). */
		kept.data = (uint8_t *)ct_stdin_detach(s->ct, b->data, b->len, keep, &kept.len,
						       &detached);
		if (detached) {
			ct_stream_closed(s);
			return;
		}
		if (kept.len == 0)
			return;
		b = &kept;
	}
	s->last_in = b->data[b->len - 1];
	/* Most writes complete at once: queue (and copy) only what the process has not taken. */
	if (s->in_queued == 0) {
		uv_buf_t now = uv_buf_init((char *)b->data, (unsigned int)b->len);
		int done = uv_try_write(dst, &now, 1);
		if (done > 0) {
			s->bytes_in += (uint64_t)done;
			send_credit(s, (size_t)done);
			if ((size_t)done == b->len)
				return;
			rest.data = b->data + done;
			rest.len = b->len - (size_t)done;
			b = &rest;
		}
	}
	w = b->len > sizeof(w->data) ? NULL /* wire.c refuses such a frame */
	    : s->n_spare > 0         ? s->spare[--s->n_spare]
				     : malloc(sizeof(*w));
	if (w == NULL) {
		send_credit(s, b->len);
		return;
	}
	w->s = s;
	w->len = b->len;
	memcpy(w->data, b->data, b->len);
	buf = uv_buf_init((char *)w->data, (unsigned int)b->len);
	s->in_queued += b->len;
	if (uv_write(&w->req, dst, &buf, 1, on_in_written) < 0) {
		s->in_queued -= b->len;
		send_credit(s, b->len);
		free(w);
	}
}

static void do_signal(struct session *s, const char *name)
{
	int sig = signame_to_number(name);
	pid_t fg;

	if (sig < 0) {
		log_warn("session %u: unknown signal %s", s->stream, name);
		return;
	}
	if (s->ct != NULL) {
		ct_signal(s->ct, sig);
		return;
	}
	/* With a PTY the signal goes where ^C would: the terminal's foreground job. */
	if (s->tty && s->out_open && (fg = tcgetpgrp(s->sp.master)) > 0) {
		if (kill(-fg, sig) == 0)
			return;
	}
	signal_group(s, sig);
}

/* The peer of C sent past a window it was granted, or credited one past the cap: it is broken
 * or hostile, and loses the connection (its sessions are detached, as when a client
 * vanishes). Nothing it sent is queued: what it may queue stays bounded by the windows. */
static void drop_peer(struct session *s, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void drop_peer(struct session *s, struct conn *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("session %u: %s@%s: %s: dropping the connection", s->stream, conn_peer_name(c),
		 conn_peer_addr(c), msg);
	audit_reason(s->audit, "client broke flow control");
	conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL, "stream %u: %s", s->stream,
			msg);
	conn_close(c, REXEC_EPROTO, msg);
}

void session_frame(struct agent *a, struct conn *c, const wire_frame *f)
{
	struct session *s = session__find(a, c, f->stream);

	if (f->msg_case == REXEC__V1__FRAME__MSG_OPEN) {
		session_open(a, c, f);
		return;
	}
	if (s == NULL) {
		/* Frames may still be in flight for a session that just ended. */
		if (f->msg_case != REXEC__V1__FRAME__MSG_CREDIT &&
		    f->msg_case != REXEC__V1__FRAME__MSG_ERROR)
			conn_send_error(c, f->stream, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
					"unknown stream %u", f->stream);
		return;
	}
	if (s->state == SESS_ENDING)
		return;
	switch (f->msg_case) {
	case REXEC__V1__FRAME__MSG_DATA:
		if (f->data->fd != REXEC__V1__FD__FD_STDIN)
			return;
		if ((int64_t)f->data->bytes.len > s->in_window) {
			drop_peer(s, c, "%zu bytes of stdin past the window granted (%lld left)",
				  f->data->bytes.len, (long long)s->in_window);
			return;
		}
		s->in_window -= (int64_t)f->data->bytes.len;
		record_input(s->rec, f->data->bytes.data, f->data->bytes.len);
		write_stdin(s, &f->data->bytes);
		return;
	case REXEC__V1__FRAME__MSG_EOF:
		if (f->eof->fd == REXEC__V1__FD__FD_STDIN && !s->stdin_eof) {
			s->stdin_eof = 1;
			if (s->in_queued == 0)
				close_stdin(s);
		}
		return;
	case REXEC__V1__FRAME__MSG_CREDIT:
		/* An honest client credits what it consumed: the window never grows past what it
		 * first granted, which is at most WIRE_WINDOW_MAX. */
		if (s->window + (int64_t)f->credit->bytes > WIRE_WINDOW_MAX) {
			drop_peer(s, c, "a credit of %u bytes takes the window past %d",
				  f->credit->bytes, WIRE_WINDOW_MAX);
			return;
		}
		s->window += f->credit->bytes;
		session__start_reading(s);
		return;
	case REXEC__V1__FRAME__MSG_RESIZE:
		record_resize(s->rec, f->resize->size->cols, f->resize->size->rows);
		if (s->ct != NULL) {
			ct_resize(s->ct, f->resize->size->rows, f->resize->size->cols);
		} else if (s->tty && s->out_open) {
			struct winsize ws = { .ws_row = (unsigned short)f->resize->size->rows,
					      .ws_col = (unsigned short)f->resize->size->cols,
					      .ws_xpixel = (unsigned short)f->resize->size->xpixel,
					      .ws_ypixel =
						      (unsigned short)f->resize->size->ypixel };
			if (ioctl(s->sp.master, TIOCSWINSZ, &ws) < 0)
				log_warn("session %u: TIOCSWINSZ: %s", s->stream, strerror(errno));
		}
		return;
	case REXEC__V1__FRAME__MSG_SIGNAL:
		do_signal(s, f->signal->name);
		return;
	case REXEC__V1__FRAME__MSG_ERROR:
		/* The client abandons the stream: hang up as a closed terminal would. */
		log_info("session %u: client cancelled: %s", s->stream, f->error->message);
		audit_reason(s->audit, "client cancelled");
		s->conn = NULL;
		stop_reading(s);
		session__hang_up(s);
		return;
	default:
		conn_send_error(c, f->stream, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"unexpected message on a session stream");
		return;
	}
}

/* The user a session runs as: by name or numeric id; "" means the agent's own user. */
static int resolve_user(const char *name, struct passwd *out, char *buf, size_t len)
{
	struct passwd *pw = NULL;
	char *end;
	unsigned long id;

	if (name[0] == 0)
		getpwuid_r(geteuid(), out, buf, len, &pw);
	else if (getpwnam_r(name, out, buf, len, &pw) == 0 && pw != NULL)
		;
	else if ((id = strtoul(name, &end, 10), *end == 0 && end != name && id < 0x7fffffff))
		getpwuid_r((uid_t)id, out, buf, len, &pw);
	return pw != NULL ? 0 : REXEC_ENOT_FOUND;
}

/* name=value strings for the new process: a login-like base, then the client's variables. */
static char **build_env(const Rexec__V1__Open *o, const struct passwd *pw)
{
	size_t n = 0, i, max = 8 + o->n_env;
	char **env = calloc(max + 1, sizeof(*env));

	if (env == NULL)
		return NULL;
#define ADD(...)                                        \
	do {                                            \
		if (asprintf(&env[n], __VA_ARGS__) < 0) \
			goto fail;                      \
		n++;                                    \
	} while (0)
	ADD("HOME=%s", pw->pw_dir);
	ADD("USER=%s", pw->pw_name);
	ADD("LOGNAME=%s", pw->pw_name);
	ADD("SHELL=%s", pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
	ADD("PATH=%s", DEFAULT_PATH);
	if (o->tty)
		ADD("TERM=%s", o->term && o->term[0] ? o->term : "xterm");
	for (i = 0; i < o->n_env; i++) {
		size_t j, len = strlen(o->env[i]->name);
		/* A client variable replaces a base one of the same name. */
		for (j = 0; j < n; j++) {
			if (strncmp(env[j], o->env[i]->name, len) == 0 && env[j][len] == '=') {
				free(env[j]);
				env[j] = env[--n];
				env[n] = NULL;
				break;
			}
		}
		ADD("%s=%s", o->env[i]->name, o->env[i]->value);
	}
#undef ADD
	return env;
fail:
	for (i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static void free_strv(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* argv for the process: the client's words, or the user's shell as a login shell. */
static char **build_argv(const Rexec__V1__Open *o, const struct passwd *pw, char **file)
{
	size_t i, n = o->n_argv ? o->n_argv : 1;
	char **argv = calloc(n + 1, sizeof(*argv));
	const char *shell = pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh";
	const char *base;

	*file = NULL;
	if (argv == NULL)
		return NULL;
	if (o->n_argv == 0) {
		base = strrchr(shell, '/');
		if (asprintf(&argv[0], "-%s", base ? base + 1 : shell) < 0 ||
		    (*file = strdup(shell)) == NULL)
			goto fail;
		return argv;
	}
	for (i = 0; i < o->n_argv; i++) {
		argv[i] = strndup((const char *)o->argv[i].data, o->argv[i].len);
		if (argv[i] == NULL)
			goto fail;
	}
	return argv;
fail:
	free(*file);
	*file = NULL;
	free_strv(argv);
	return NULL;
}

static int open_pipe(struct session *s, uv_pipe_t *h, int fd, int *open)
{
	int ret;

	if (fd < 0)
		return 0;
	uv_pipe_init(s->agent->loop, h, 0);
	h->data = s;
	s->handles++;
	*open = 1;
	if ((ret = uv_pipe_open(h, fd)) < 0) {
		close(fd);
		return ret;
	}
	return 0;
}

/* The process's stdio as libuv handles: the PTY master, or its pipes. */
static void setup_pipes(struct session *s)
{
	int ret;

	if ((ret = open_pipe(s, &s->out_h, s->tty ? s->sp.master : s->sp.out, &s->out_open)) < 0 ||
	    (ret = open_pipe(s, &s->err_h, s->sp.err, &s->err_open)) < 0 ||
	    (ret = open_pipe(s, &s->in_h, s->sp.in, &s->in_open)) < 0)
		log_error("session %u: %s", s->stream, uv_strerror(ret));
}

/* Opened: the process runs. This is the session's start for the audit log too, also when the
 * client left while the engine was starting it. */
static void send_opened(struct session *s)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Opened o = REXEC__V1__OPENED__INIT;
	char id[32];

	/* Unique for the agent's life (a pid and a stream number are not: two engine sessions
	 * in one container on two connections share both), so that the audit log's start and
	 * end records pair up. */
	snprintf(id, sizeof(id), "%d-%llu", (int)s->sp.pid, ++s->agent->n_opened);
	o.session_id = id;
	o.pid = (uint32_t)s->sp.pid;
	o.tty = s->tty;
	o.via = (char *)(s->via ? s->via : "");
	f.msg_case = REXEC__V1__FRAME__MSG_OPENED;
	f.opened = &o;
	session__send_frame(s, &f);
	record_start(s->rec, id, s->tty);
	if (s->audit != NULL) {
		struct audit_start st = { .session = id,
					  .user = s->user,
					  .tty = s->tty,
					  .pid = s->sp.pid,
					  .via = o.via,
					  /* container sessions: what the engine backend did */
					  .detail = strcmp(o.via, "host") != 0 ? s->cmd : NULL };
		audit_started(s->agent->audit, s->audit, &st);
		s->audit_started = 1;
		s->started_ns = uv_hrtime();
	}
}

/* Refuses an Open on STREAM of C (NULL: the client is gone): an Error frame, and a "refused"
 * record of DESC (the Open's description for the audit log, NULL without one). */
static void session__refuse(struct agent *a, struct conn *c, uint32_t stream, const cJSON *desc,
			    Rexec__V1__ErrorCode code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void session__refuse(struct agent *a, struct conn *c, uint32_t stream, const cJSON *desc,
			    Rexec__V1__ErrorCode code, const char *fmt, ...)
{
	char msg[WIRE_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c != NULL)
		conn_send_error(c, stream, code, "%s", msg);
	if (desc != NULL)
		audit_refused(a->audit, desc, msg);
}

/* Exit: CODE, killed by SIG when > 0 (CORE: with a core dump), REASON for the user. */
static void session__send_exit(struct session *s, int code, int sig, int core, const char *reason)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Exit e = REXEC__V1__EXIT__INIT;
	const char *name = sig > 0 ? signame_from_number(sig) : NULL;

	e.code = code;
	e.core_dumped = core != 0;
	e.signal = (char *)(name ? name : "");
	e.reason = (char *)reason;
	f.msg_case = REXEC__V1__FRAME__MSG_EXIT;
	f.exit = &e;
	session__send_frame(s, &f);
}

/* How a container session's stream ended. */
static void on_ct_exit(void *arg, const struct ct_exit *ex)
{
	struct session *s = arg;

	if (ex->error) {
		if (s->conn != NULL)
			conn_send_error(s->conn, s->stream, (Rexec__V1__ErrorCode)ex->error, "%s",
					ex->reason);
	} else
		session__send_exit(s, ex->code, ex->signal, 0, ex->reason);
	audit_exit(s->audit, ex->code, ex->signal, ex->reason);
	log_info("session %u (%s) ended: code %d%s%s", s->stream, s->cmd, ex->code,
		 ex->reason[0] ? ", " : "", ex->reason);
	session__destroy(s);
}

static void setup_pipes(struct session *s);

/* The direct path started the process as the agent's own child: from here on it is a session
 * like a host one (pipes or PTY, group signals, reaped by SIGCHLD). */
static void start_direct_session(struct session *s, struct ct_started *st)
{
	struct agent *a = s->agent;
	unsigned i;

	ct_release(s->ct);
	s->ct = NULL;
	s->sp = st->sp;
	s->tty = st->tty;
	s->via = "direct";
	setup_pipes(s);
	log_info("session %u: %s: %s (pid %d, %s)", s->stream,
		 s->conn ? conn_peer_name(s->conn) : "(gone)", s->cmd, (int)s->sp.pid,
		 s->tty ? "pty" : "pipes");
	send_opened(s);
	if (s->lost_starting) {
		s->conn = NULL;
		session__hang_up(s);
	} else {
		session__start_reading(s);
	}
	/* It may have ended before we knew it. */
	for (i = 0; i < 16 && i < a->n_unclaimed; i++) {
		if (a->unclaimed[i].pid == s->sp.pid) {
			a->unclaimed[i].pid = 0;
			session_reaped(a, s->sp.pid, a->unclaimed[i].status);
			return;
		}
	}
}

/* The engine has started the process (or answered at once, or failed). */
static void on_ct_started(void *arg, struct ct_started *st)
{
	struct session *s = arg;
	int ret;

	if (st->policy_decided)
		audit_policy(s->audit, st->policy_rule);
	if (st->error) {
		log_info("session %u: %s", s->stream, st->message);
		session__refuse(s->agent, s->conn, s->stream, s->audit,
				(Rexec__V1__ErrorCode)st->error, "%s", st->message);
		session__destroy(s);
		return;
	}
	snprintf(s->cmd, sizeof(s->cmd), "%s", st->what && st->what[0] ? st->what : "list");
	s->sp.pid = st->pid;
	s->tty = st->fd >= 0 && st->tty;
	session__set_state(s, SESS_RUNNING);
	if (st->direct) {
		start_direct_session(s, st);
		return;
	}
	s->via = "engine";
	send_opened(s);
	if (st->fd < 0) {
		/* Answered at once (ps, a detached exec or run). */
		if (buf_size(&st->text) > 0)
			session__send_data(s, REXEC__V1__FD__FD_STDOUT, buf_peek(&st->text),
					   buf_size(&st->text));
		session__send_eof(s, REXEC__V1__FD__FD_STDOUT);
		session__send_eof(s, REXEC__V1__FD__FD_STDERR);
		session__send_exit(s, 0, 0, 0, "");
		audit_exit(s->audit, 0, 0, "");
		session__destroy(s);
		return;
	}
	if ((ret = open_pipe(s, &s->out_h, st->fd, &s->out_open)) < 0) {
		log_error("session %u: %s", s->stream, uv_strerror(ret));
		session__send_exit(s, 255, 0, 0, "agent: cannot read the engine's stream");
		audit_exit(s->audit, 255, 0, "agent: cannot read the engine's stream");
		session__destroy(s);
		return;
	}
	log_info("session %u: %s@%s: %s (%s)", s->stream, s->conn ? conn_peer_name(s->conn) : "-",
		 s->conn ? conn_peer_addr(s->conn) : "gone", s->cmd, s->tty ? "tty" : "no tty");
	if (buf_size(&st->text) > 0) {
		s->window -= (int64_t)ct_demux(s->ct, buf_peek(&st->text), buf_size(&st->text),
					       session__emit_ct, s);
	}
	if (s->lost_starting) {
		s->conn = NULL;
		session__hang_up(s);
		return;
	}
	session__start_reading(s);
}

/* The client's identity for the policy: its CN and groups (the certificate's OU values, as
 * pointers into C's identity, in GP), and the agent's policy now. */
static void peer_who(struct agent *a, struct conn *c, struct ct_who *w,
		     const char *gp[TICKET_GROUPS_MAX])
{
	const struct tls_identity *id = conn_peer_identity(c);
	size_t i;

	w->policy = a->policy;
	w->cn = id->cn;
	for (i = 0; i < id->n_groups && i < TICKET_GROUPS_MAX; i++)
		gp[i] = id->groups[i];
	w->groups = gp;
	w->n_groups = i;
}

/* The options of a host exec that the policy knows. */
static unsigned host_options(const Rexec__V1__Open *o)
{
	unsigned opts = 0;
	size_t i;

	if (o->n_env > 0)
		opts |= POLICY_OPT_ENV;
	if (o->workdir[0])
		opts |= POLICY_OPT_WORKDIR;
	for (i = 0; i < o->n_options; i++)
		if (strcmp(o->options[i]->key, "privileged") == 0 &&
		    strcmp(o->options[i]->value, "0") != 0)
			opts |= POLICY_OPT_PRIVILEGED;
	return opts;
}

/* The policy on the host exec O of C, as PW (the host's passwd) resolved its user and with
 * ARGV (NULL-terminated; the login shell when O has none). Returns 0 when allowed; -1 when
 * refused: the Error sent and DESC's "refused" record written. */
static int host_allowed(struct agent *a, struct conn *c, uint32_t stream, const Rexec__V1__Open *o,
			const struct passwd *pw, char *const *argv, cJSON *desc)
{
	static const char *const host[] = { "host" };
	const char *gp[TICKET_GROUPS_MAX];
	struct ct_who w;
	struct policy_req r;
	struct policy_decision d;
	char *cmd, what[256], rule[512];

	peer_who(a, c, &w, gp);
	cmd = policy_join((const char *const *)argv, o->n_argv);
	if (cmd == NULL) {
		session__refuse(a, c, stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		return -1;
	}
	r = (struct policy_req){ .who = w.cn,
				 .groups = w.groups,
				 .n_groups = w.n_groups,
				 .verb = POLICY_EXEC,
				 .targets = host,
				 .n_targets = 1,
				 .user = { .given = o->user[0] != 0,
					   .name = pw->pw_name,
					   .uid = (long long)pw->pw_uid },
				 .command = cmd,
				 .options = host_options(o) };
	d = policy_decide(a->policy, &r);
	free(cmd);
	if (!policy_allows_all(a->policy))
		audit_policy(desc, d.rule);
	if (d.allow)
		return 0;
	policy_describe(&r, what, sizeof(what));
	log_info("%s@%s: denied by policy: %s: %s", w.cn, conn_peer_addr(c), what,
		 policy_rule_render(a->policy, d.rule, rule, sizeof(rule)));
	session__refuse(a, c, stream, desc, REXEC__V1__ERROR_CODE__ERROR_DENIED,
			"denied by policy: %s", what);
	return -1;
}

/* Refuses the Open of F with ERROR_LIMIT when C or its user is at a limit (agent.h). Returns 1
 * when refused. */
static int over_limits(struct agent *a, struct conn *c, const wire_frame *f, const cJSON *desc)
{
	const char *who = conn_peer_name(c);

	if (session__count(a, c) >= a->limits.streams_per_connection) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_LIMIT,
				"too many sessions on one connection (at most %u at once: "
				"limits.streams_per_connection)",
				a->limits.streams_per_connection);
		return 1;
	}
	if (session__count_user(a, who) >= a->limits.sessions_per_user) {
		log_warn("%s: %s is at limits.sessions_per_user (%u)", conn_peer_addr(c), who,
			 a->limits.sessions_per_user);
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_LIMIT,
				"too many sessions for %s on this agent (at most %u at once: "
				"limits.sessions_per_user); end some first",
				who, a->limits.sessions_per_user);
		return 1;
	}
	return 0;
}

/* A session in a container: the engine backend does the start on the thread pool. DESC (the
 * audit log's description of the Open; NULL without one) goes to the session. */
static void open_container(struct agent *a, struct conn *c, const wire_frame *f, cJSON *desc)
{
	const Rexec__V1__Open *o = f->open;
	struct session *s = NULL;
	const char *gp[TICKET_GROUPS_MAX];
	struct ct_who who;

	if (o->kind == REXEC__V1__KIND__KIND_RESUME) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
				"this agent does not resume sessions");
		goto fail;
	}
	if (o->kind != REXEC__V1__KIND__KIND_LIST &&
	    ((o->target->type == REXEC__V1__TARGET_TYPE__TARGET_SERVICE &&
	      !o->target->service[0]) ||
	     (o->target->type == REXEC__V1__TARGET_TYPE__TARGET_CONTAINER &&
	      !o->target->container[0]))) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"open: the target names no service or container");
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		goto fail;
	}
	s->agent = a;
	s->conn = c;
	s->owner = *conn_peer_identity(c);
	s->stream = f->stream;
	snprintf(s->who, sizeof(s->who), "%s", conn_peer_name(c));
	s->state = SESS_STARTING;
	s->sp.pid = 0;
	s->sp.master = s->sp.in = s->sp.out = s->sp.err = s->sp.errpipe = -1;
	s->window = f->open->initial_window ? f->open->initial_window : WIRE_WINDOW_DEFAULT;
	s->in_window = WIRE_WINDOW_DEFAULT;
	snprintf(s->cmd, sizeof(s->cmd), "%s",
		 f->open->target->service[0] ? f->open->target->service
					     : f->open->target->container);
	snprintf(s->user, sizeof(s->user), "%s", f->open->user);
	peer_who(a, c, &who, gp);
	s->ct = ct_start(a->loop, &a->engine, a->ctcache, a->initmem, a->exec_path, &who, f->open,
			 on_ct_started, s);
	if (s->ct == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		free(s);
		goto fail;
	}
	s->audit = desc;
	s->rec = record_new(a->record, a->loop, o, conn_peer_name(c), o->user,
			    session__on_record_room, s);
	uv_timer_init(a->loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	s->next = a->sessions;
	a->sessions = s;
	ct_go(s->ct); /* may call on_ct_started() before it returns */
	return;
fail:
	cJSON_Delete(desc);
}

void session_open(struct agent *a, struct conn *c, const wire_frame *f)
{
	const Rexec__V1__Open *o = f->open;
	struct spawn_req req;
	struct passwd pw;
	char pwbuf[4096];
	char **argv = NULL, **envp = NULL, *file = NULL;
	struct session *s = NULL;
	cJSON *desc = audit_describe(a->audit, o, conn_peer_identity(c), conn_peer_addr(c));
	int ret;

	if (a->stopping || session__find(a, c, f->stream) != NULL || f->stream % 2 == 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"stream %u cannot be opened", f->stream);
		goto out;
	}
	if (over_limits(a, c, f, desc))
		goto out;
	if (o->target->type != REXEC__V1__TARGET_TYPE__TARGET_HOST) {
		open_container(a, c, f, desc);
		return;
	}
	if (o->kind != REXEC__V1__KIND__KIND_EXEC) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
				"only exec runs on the host itself; name a service or container");
		goto out;
	}
	if (resolve_user(o->user, &pw, pwbuf, sizeof(pwbuf)) < 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				"no such user on this host: %s", o->user);
		goto out;
	}
	argv = build_argv(o, &pw, &file);
	if (argv != NULL && host_allowed(a, c, f->stream, o, &pw, argv, desc) < 0)
		goto out;
	envp = build_env(o, &pw);
	s = calloc(1, sizeof(*s));
	if (argv == NULL || envp == NULL || s == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		free(s);
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.file = file;
	req.argv = argv;
	req.envp = envp;
	req.user = pw.pw_name;
	req.uid = pw.pw_uid;
	req.gid = pw.pw_gid;
	req.workdir = o->workdir[0] ? o->workdir : NULL;
	req.fallback = pw.pw_dir;
	req.tty = o->tty;
	req.stdin_open = o->stdin_open;
	if (o->size != NULL) {
		req.ws.ws_row = (unsigned short)o->size->rows;
		req.ws.ws_col = (unsigned short)o->size->cols;
		req.ws.ws_xpixel = (unsigned short)o->size->xpixel;
		req.ws.ws_ypixel = (unsigned short)o->size->ypixel;
	}
	if ((ret = spawn_start(&req, &s->sp)) < 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_START_FAILED,
				"cannot start %s: %s", argv[0], strerror(-ret));
		free(s);
		goto out;
	}

	s->agent = a;
	s->conn = c;
	s->owner = *conn_peer_identity(c);
	s->stream = f->stream;
	snprintf(s->who, sizeof(s->who), "%s", conn_peer_name(c));
	s->state = SESS_RUNNING;
	s->tty = o->tty;
	s->window = o->initial_window ? o->initial_window : WIRE_WINDOW_DEFAULT;
	s->in_window = WIRE_WINDOW_DEFAULT;
	snprintf(s->cmd, sizeof(s->cmd), "%s", o->n_argv ? argv[0] : file);
	snprintf(s->user, sizeof(s->user), "%s", pw.pw_name);
	s->audit = desc;
	desc = NULL;
	s->rec = record_new(a->record, a->loop, o, conn_peer_name(c), s->user,
			    session__on_record_room, s);
	uv_timer_init(a->loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	s->next = a->sessions;
	a->sessions = s;
	s->via = "host";
	setup_pipes(s);
	log_info("session %u: %s@%s runs %s as %s (pid %d, %s)", s->stream, conn_peer_name(c),
		 conn_peer_addr(c), s->cmd, s->user, (int)s->sp.pid, s->tty ? "pty" : "pipes");
	send_opened(s);
	session__start_reading(s);
out:
	cJSON_Delete(desc);
	free(file);
	free_strv(argv);
	free_strv(envp);
}

int session_reaped(struct agent *a, pid_t pid, int status)
{
	struct session *s;

	for (s = a->sessions; s != NULL; s = s->next)
		if (s->ct == NULL && s->sp.pid == pid && s->state == SESS_RUNNING)
			break;
	if (s == NULL)
		return 0;
	s->status = status;
	session__set_state(s, SESS_DRAINING);
	if (s->conn == NULL) {
		/* Nobody to report to: end what is left of the group. */
		note_exit(s);
		signal_group(s, SIGHUP);
		session__destroy(s);
		return 1;
	}
	check_drained(s);
	return 1;
}

void session_conn_lost(struct agent *a, struct conn *c)
{
	struct session *s, *next;

	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->conn != c)
			continue;
		s->conn = NULL;
		stop_reading(s);
		audit_reason(s->audit, "client gone");
		if (s->state == SESS_STARTING) {
			s->lost_starting = 1;
			continue;
		}
		if (s->state == SESS_DRAINING) {
			if (s->ct == NULL) {
				note_exit(s);
				signal_group(s, SIGHUP);
			}
			session__destroy(s);
			continue;
		}
		/* A container stream is read (and dropped) meanwhile: its end is the exit. */
		session__start_reading(s);
		log_info("session %u (pid %d): client gone, grace %u ms", s->stream, (int)s->sp.pid,
			 a->grace_ms);
		start_timer(s, TIMER_GRACE, a->grace_ms, 0);
	}
}

size_t session_end_owned(struct agent *a, int (*match)(const struct tls_identity *who, void *arg),
			 void *arg, const char *why)
{
	struct session *s, *next;
	size_t n = 0;

	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SESS_ENDING || !match(&s->owner, arg))
			continue;
		n++;
		log_warn("session %u (%s, serial %s, pid %d): %s: ending it", s->stream,
			 s->owner.cn, s->owner.serial, (int)s->sp.pid, why);
		audit_reason(s->audit, why);
		if (s->conn != NULL)
			conn_send_error(s->conn, s->stream, REXEC__V1__ERROR_CODE__ERROR_DENIED,
					"%s", why);
		/* As when its client vanished, without the grace period. */
		s->conn = NULL;
		stop_reading(s);
		if (s->state == SESS_STARTING) {
			s->lost_starting = 1;
		} else if (s->state == SESS_DRAINING) {
			if (s->ct == NULL) {
				note_exit(s);
				signal_group(s, SIGHUP);
			}
			session__destroy(s);
		} else {
			session__start_reading(s);
			session__hang_up(s);
		}
	}
	return n;
}

void session_end_all(struct agent *a)
{
	struct session *s, *next;

	for (s = a->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SESS_RUNNING)
			signal_group(s, SIGHUP);
		else if (s->state == SESS_DRAINING && s->ct == NULL)
			note_exit(s);
		if (s->state == SESS_STARTING) {
			session__refuse(a, s->conn, s->stream, s->audit,
					REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
					"the agent is shutting down");
		} else {
			audit_reason(s->audit, "the agent is shutting down");
			if (s->conn)
				conn_send_error(s->conn, s->stream,
						REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
						"the agent is shutting down");
		}
		session__destroy(s);
	}
}
