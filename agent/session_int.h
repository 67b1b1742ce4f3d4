/* session_int.h: what the two halves of session.h's module share: struct session and its
 * states, the relay's functions that the opening calls, and the refusal that both send.
 * session_open.c opens a session (checks, user, argv, env, the process or the engine's start);
 * session.c relays it from then on (frames, output under credit, stdin, timers, exit, reaping).
 * Internal: nothing outside those two files includes it. */
#ifndef REXEC_AGENT_SESSION_INT_H
#define REXEC_AGENT_SESSION_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/audit.h"
#include "agent/spawn.h"
#include "proto/buf.h"
#include "proto/tls.h"
#include "proto/wire.h"
#include "proto/wq.h"

struct ct;
struct record;

enum sess_state {
	SESS_STARTING, /* container sessions: the engine is starting the process */
	SESS_RUNNING,  /* process alive */
	SESS_DRAINING, /* main process reaped; relaying what is left of its output */
	SESS_ENDING,   /* Exit sent (or nobody to send it to); handles closing */
};

enum timer_mode { TIMER_NONE, TIMER_LINGER, TIMER_GRACE, TIMER_KILL };

/* The most one read of a session's output takes (then sent as Data frames of WIRE_DATA_MAX),
 * with its pipes grown to match (spawn.c): a stream wakes the agent and the writer a quarter
 * as often as with 32 KiB reads of a 64 KiB pipe. */
#define SESSION_READ_MAX (128 * 1024)

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
	/* Stdin the process did not take at once, one write in flight (wq.h). Bytes, not a block
	 * per Data frame: the window bounds the memory, however small the frames (a 36 KiB block
	 * per frame let a client of 1-byte frames make the agent hold 36 GiB), and the buffers are
	 * kept for the session (musl maps a freed block anew: an upload paid a fault per page per
	 * frame). */
	struct wq in;
	int stdin_eof; /* Eof arrived; close once IN is empty */
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
	uint8_t buf[SESSION_READ_MAX];
};

/* session.c: the relay. */

/* Moves S to state NEXT, logging "old -> new". */
void session__set_state(struct session *s, enum sess_state next);

/* Sends F on S's stream; nothing while S is detached. */
void session__send_frame(struct session *s, wire_frame *f);

/* Sends Data of N bytes at P on FD (counted in S's offsets and recorded), Eof of FD, and Exit
 * (CODE, killed by SIG when > 0, CORE: with a core dump, REASON for the user). */
void session__send_data(struct session *s, Rexec__V1__Fd fd, const uint8_t *p, size_t n);

/* A write of stdin is done (the session's wq's callback, set where a session starts). */
void session__stdin_written(struct wq *in, size_t n, int status);
void session__send_eof(struct session *s, Rexec__V1__Fd fd);
void session__send_exit(struct session *s, int code, int sig, int core, const char *reason);

/* The live session on STREAM of C, or NULL. */
struct session *session__find(struct agent *a, struct conn *c, uint32_t stream);

/* Sessions open on C (attached to it, not yet ending); the sessions of WHO (a certificate CN),
 * on every connection and detached ones too. */
unsigned session__count(struct agent *a, struct conn *c);
unsigned session__count_user(struct agent *a, const char *who);

/* Tears S down: unlinked, its "end" in the audit log, handles closed; its memory is freed at
 * the last close, so S must not be used after. */
void session__destroy(struct session *s);

/* The client of S is gone or gave up: SIGHUP now, SIGKILL later (an attach only detaches). */
void session__hang_up(struct session *s);

/* Reads S's output again if the client's window and the recording have room. */
void session__start_reading(struct session *s);

/* record.h's room callback (ARG: the session): output paused for the recording is read again. */
void session__on_record_room(void *arg);

/* ct_demux()'s callback (ARG: the session): a payload of the engine's stream (1: stdout,
 * 2: stderr) sent as Data. */
void session__emit_ct(void *arg, int fd, const uint8_t *p, size_t n);

/* session_open.c: the opening. */

/* Refuses an Open on STREAM of C (NULL: the client is gone): an Error frame, and a "refused"
 * record of DESC (the Open's description for the audit log, NULL without one). */
void session__refuse(struct agent *a, struct conn *c, uint32_t stream, const cJSON *desc,
		     Rexec__V1__ErrorCode code, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#endif
