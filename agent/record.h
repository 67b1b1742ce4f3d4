/* record.h: session recording (the config's `record: { dir: DIR, input: BOOL }`). Every TTY
 * session is written as an asciicast v2 file DIR/SESSION_ID.cast (what `asciinema play` and
 * `asciinema cat` read): a header line (size, timestamp, command, and who / target / session
 * id in "title" and "env"), then one JSON array per event: [t, "o", text] for output,
 * [t, "r", "COLSxROWS"] for a resize, [t, "i", text] for stdin when `input: true`.
 *
 * Text is UTF-8: a character split between two chunks is held until the rest comes, and each
 * byte that cannot be part of valid UTF-8 becomes U+FFFD (asciinema itself decodes the PTY's
 * bytes as UTF-8 with replacement), so every line stays valid JSON.
 *
 * Recording never blocks the loop or stops a session. Events go into a bounded buffer; the
 * file is written on libuv's thread pool, one write at a time per recording. While a write is
 * under way and much is waiting, record_full() asks the session to pause its output reads
 * until the write comes back (the disk paces the session, as a slow client does). A failed or
 * short write (full disk, EIO, RLIMIT_FSIZE), a write that has not come back in 5 s, or a
 * buffer that fills anyway, marks the recording broken: later events are dropped, the file is
 * cut back to its last whole line, the session reads on, and record_close() reports it
 * incomplete with the reason. A write that hangs for good (a dead network file system) holds
 * one thread of the pool per recording: DIR belongs on a local disk. */
#ifndef REXEC_AGENT_RECORD_H
#define REXEC_AGENT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/wire.h"

/* Where recordings go: the directory, opened once at start-up. Opaque. */
struct record_dir;
/* One session's recording. Opaque. */
struct record;

/* Opens DIR for recordings; when it does not exist it is created (mode 0700; its parent must
 * exist). INPUT: stdin is recorded too. Refuses a DIR that is not a directory (a symlink to
 * one included), or that is not ours or group or others may write (they could plant or
 * remove recordings). Returns 0 with *OUT set, or a negative code with a message that says
 * what to fix in ERR (ERRLEN bytes). Start-up only. RD keeps a timer on LOOP (unreferenced):
 * it is closed with the loop's other handles (uv_walk() at exit) before record_dir_free(). */
int record_dir_new(struct record_dir **out, uv_loop_t *loop, const char *dir, bool input, char *err,
		   size_t errlen);

/* Closes the directory and frees RD (NULL is fine), once its timer is closed (see above). */
void record_dir_free(struct record_dir *rd);

/* Called when a session that record_full() paused may read its output again. */
typedef void (*record_room_cb)(void *arg);

/* The recording of the session Open O asks for, by WHO (the peer's CN), running as USER (as
 * resolved; "" for a container's default user): its header's fields are copied now; no file
 * exists until record_start(). ROOM(ROOM_ARG) is how a paused session is told to read on
 * (never after record_close()). Returns NULL when RD is NULL (recording off) or out of memory
 * (logged). Ends with record_close(). */
struct record *record_new(struct record_dir *rd, uv_loop_t *loop, const Rexec__V1__Open *o,
			  const char *who, const char *user, record_room_cb room, void *room_arg);

/* True when the session should stop reading its output for now: the disk is behind. ROOM
 * (record_new()) is then called once it may read again. False for a NULL R. */
bool record_full(struct record *r);

/* The session SESSION_ID is open: with TTY, its file is created (O_EXCL | O_NOFOLLOW, mode
 * 0600) and the header queued; without one (pipes) nothing is recorded. A file that cannot be
 * created makes the recording broken (logged, reported by record_close()). NULL R is fine. */
void record_start(struct record *r, const char *session_id, bool tty);

/* Output of the session (N bytes at P): an "o" event. NULL R is fine. */
void record_output(struct record *r, const uint8_t *p, size_t n);

/* Stdin of the session: an "i" event when the directory records input. NULL R is fine. */
void record_input(struct record *r, const uint8_t *p, size_t n);

/* The terminal was resized to COLS x ROWS: an "r" event. NULL R is fine. */
void record_resize(struct record *r, uint32_t cols, uint32_t rows);

/* How a recording ended, for the audit log. Strings are valid only during the callback. */
struct record_result {
	const char *file;  /* DIR/SESSION_ID.cast; NULL when nothing was recorded (no TTY) */
	bool complete;     /* every event is in the file */
	const char *error; /* why not, when not complete ("" otherwise) */
};

typedef void (*record_done_cb)(void *arg, const struct record_result *res);

/* The session ended: what is buffered is written, the file closed, then DONE(ARG, result) is
 * called once (maybe before this returns; for a write that is stuck, after 5 s, before the
 * write comes back) and R freed. R must not be used after this call. */
void record_close(struct record *r, record_done_cb done, void *arg);

#endif
