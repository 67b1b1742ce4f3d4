/* session.c: the relay of a live session (a host process, or an engine's stream) over one
 * stream: credit-limited output, stdin with explicit EOF, resize, signals by name, exit reported
 * in-band, the grace and kill timers, the reaping, and no orphans. The session table lives here
 * too. The opening is in session_open.c; what both share in session_int.h. */
#include "agent/session.h"
#include "agent/session_int.h"

#include <errno.h>
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
#include "agent/record.h"
#include "agent/spawn.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/signame.h"

#define LINGER_TICK_MS 100  /* after exit, output idle this long twice ends the session */
#define KILL_AFTER_MS  2000 /* SIGHUP, then SIGKILL this much later */

static const char *sess_state_names[] = { "starting", "running", "draining", "ending" };

void session__set_state(struct session *s, enum sess_state next)
{
	log_debug("session %u/%d: %s -> %s", s->stream, (int)s->sp.pid, sess_state_names[s->state],
		  sess_state_names[next]);
	s->state = next;
}

void session__send_frame(struct session *s, wire_frame *f)
{
	if (s->conn == NULL)
		return;
	f->stream = s->stream;
	/* A terminal's frames go ahead of other sessions' bulk (conn.h): every one of them, so
	 * that they keep their order. */
	conn_send_as(s->conn, f, s->tty);
}

void session__send_eof(struct session *s, Rexec__V1__Fd fd)
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

struct session *session__find(struct agent *a, struct conn *c, uint32_t stream)
{
	struct session *s;

	for (s = a->sessions; s != NULL; s = s->next)
		if (s->conn == c && s->stream == stream)
			return s;
	return NULL;
}

/* Sessions open on C (attached to it, not yet ending). */
unsigned session__count(struct agent *a, struct conn *c)
{
	struct session *s;
	unsigned n = 0;

	for (s = a->sessions; s != NULL; s = s->next)
		n += s->conn == c;
	return n;
}

/* The sessions of WHO (a certificate CN), on every connection and detached ones too. */
unsigned session__count_user(struct agent *a, const char *who)
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
	wq_free(&s->in);
	free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
	unref(h->data);
}

/* The recording's write came back: output paused for it is read again. */
void session__on_record_room(void *arg)
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
void session__destroy(struct session *s)
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

/* The client is gone (after the grace period) or gave up: SIGHUP now, SIGKILL later. An
 * attach session only detaches; a container stream is read to its end, which reports the
 * exit. */
void session__hang_up(struct session *s)
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

void session__start_reading(struct session *s)
{
	/* A starting session has nothing to read yet (a Credit may come before its Opened). */
	if (s->reading || s->state == SESS_STARTING || (s->conn == NULL && s->ct == NULL) ||
	    (s->conn && s->window <= 0) || (s->conn && conn_congested(s->conn)) ||
	    record_full(s->rec))
		return;
	s->reading = 1;
	if (s->out_open && !s->out_eof)
		uv_read_start((uv_stream_t *)&s->out_h, on_alloc, on_read);
	if (s->err_open)
		uv_read_start((uv_stream_t *)&s->err_h, on_alloc, on_read);
}

void session__send_data(struct session *s, Rexec__V1__Fd fd, const uint8_t *p, size_t n)
{
	record_output(s->rec, p, n);
	if (s->conn == NULL) {
		s->off[fd] += (uint64_t)n; /* nobody to send to: the position still counts it */
		return;
	}
	s->bytes_out += (uint64_t)n;
	/* A terminal's output goes as urgent, as all its frames do (session__send_frame()). */
	conn_send_data(s->conn, s->stream, fd, &s->off[fd], p, n, s->tty);
}

/* A payload of the engine's stream (1: stdout, 2: stderr). */
void session__emit_ct(void *arg, int fd, const uint8_t *p, size_t n)
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
		/* The recording's disk paces the output as the client's window does, and so
		 * does the connection's socket (session_conn_drained() resumes). */
		if ((s->conn != NULL && (s->window <= 0 || conn_congested(s->conn))) ||
		    record_full(s->rec))
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

/* Where stdin goes: the PTY master, the engine's stream, or the stdin pipe. */
static uv_stream_t *stdin_dst(struct session *s, int *open)
{
	int to_out = s->tty || s->ct != NULL;

	*open = to_out ? s->out_open : s->in_open;
	return to_out ? (uv_stream_t *)&s->out_h : (uv_stream_t *)&s->in_h;
}

/* Hands the queued stdin to libuv, unless a write is in flight (then it goes when that one
 * completes, with whatever else came). */
static void flush_stdin(struct session *s)
{
	int open;
	uv_stream_t *dst = stdin_dst(s, &open);
	size_t n = buf_size(&s->in.q);

	if (s->in.writing || n == 0)
		return;
	if (!open) {
		buf_consume(&s->in.q, n);
		send_credit(s, n);
	} else if (wq_flush(&s->in, dst) < 0) {
		send_credit(s, n); /* dropped, as a write that failed would drop them */
	}
}

void session__stdin_written(struct wq *in, size_t n, int status)
{
	struct session *s = in->arg;

	if (status == 0) {
		s->bytes_in += n;
	} else {
		/* The process closed its stdin (or the handle is closing): what waits behind
		 * this write is dropped with it. */
		size_t q = buf_size(&in->q);

		buf_consume(&in->q, q);
		n += q;
	}
	/* The bytes left our buffer: the client may send as many more. */
	if (s->state != SESS_ENDING)
		send_credit(s, n);
	if (status == 0 && s->state != SESS_ENDING)
		flush_stdin(s);
	if (s->stdin_eof && wq_size(in) == 0 && s->state != SESS_ENDING)
		close_stdin(s);
}

static void write_stdin(struct session *s, const ProtobufCBinaryData *b)
{
	int open;
	uv_stream_t *dst = stdin_dst(s, &open);
	ProtobufCBinaryData rest, kept;
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
	if (wq_size(&s->in) == 0) {
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
	if (buf_append(&s->in.q, b->data, b->len) < 0) {
		/* Out of memory: these bytes are lost, as a write that failed would lose them. */
		log_warn("session %u: stdin: out of memory, %zu bytes dropped", s->stream, b->len);
		send_credit(s, b->len);
		return;
	}
	flush_stdin(s);
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
			if (wq_size(&s->in) == 0)
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

/* Exit: CODE, killed by SIG when > 0 (CORE: with a core dump), REASON for the user. */
void session__send_exit(struct session *s, int code, int sig, int core, const char *reason)
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

void session_conn_drained(struct agent *a, struct conn *c)
{
	struct session *s;

	for (s = a->sessions; s != NULL; s = s->next)
		if (s->conn == c && s->state != SESS_ENDING)
			session__start_reading(s);
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
