/* conn.h: one rexec connection: TCP (libuv) + TLS (tls.h) + frames (wire.h), the Hello
 * exchange, keepalive pings and the dispatch of session frames to the owner. Both ends use
 * it: the agent accepts, the client connects. */
#ifndef REXEC_CONN_H
#define REXEC_CONN_H

#include <stdint.h>

#include <uv.h>

#include "proto/tls.h"
#include "proto/wire.h"

struct conn;

struct conn_opts {
	struct tls_config *tls;  /* borrowed; outlives the connection */
	const char *server_name; /* client: name the agent's certificate must carry */
	const char *software;    /* e.g. "rexec 0.1.0", sent in Hello */
	unsigned keepalive_ms;   /* ping after this much silence; dead after 3x (0: never) */
	unsigned handshake_ms;   /* TLS + Hello must be done within this (0: no limit) */
	/* Client: where the agent's session ticket is kept between connections (NULL: none).
	 * The connection offers the one it finds there and replaces it with each new one. */
	const char *ticket_file;
};

struct conn_cb {
	/* TLS is up and the peer's Hello was accepted. */
	void (*on_ready)(struct conn *c, void *arg);
	/* A validated frame for a session stream (stream != 0). F is freed after return. */
	void (*on_frame)(struct conn *c, wire_frame *f, void *arg);
	/* The connection is gone (ERR: 0 for a clean close, else why; WHY: text). Called once;
	 * C must not be used after it returns. */
	void (*on_close)(struct conn *c, int err, const char *why, void *arg);
	/* The write queue is short again after conn_congested() said it was not (optional):
	 * resume reading what feeds the connection. Never called while closing. */
	void (*on_drain)(struct conn *c, void *arg);
};

/* Accepts a pending connection on SERVER (TCP, or with OPTS->tls NULL a unix socket of a
 * control master, plain frames). Returns 0 with *OUT set, or a negative code. The
 * connection frees itself after on_close. */
int conn_accept(struct conn **out, uv_stream_t *server, const struct conn_opts *opts,
		const struct conn_cb *cb, void *arg);

/* Connects to ADDR. Connection failures arrive through on_close. */
int conn_connect(struct conn **out, uv_loop_t *loop, const struct sockaddr *addr,
		 const struct conn_opts *opts, const struct conn_cb *cb, void *arg);

/* Talks over FD, a unix socket connected to a control master (client/mux.c), which it takes
 * over: the same frames and Hello, without TLS (OPTS->tls must be NULL). on_ready comes as
 * soon as our Hello is queued (before this returns), not after the master's. Failures arrive
 * through on_close. */
int conn_open_unix(struct conn **out, uv_loop_t *loop, int fd, const struct conn_opts *opts,
		   const struct conn_cb *cb, void *arg);

/* Queues F (a session or control frame). Returns 0, REXEC_ECLOSED once closing, or another
 * negative code (the frame is dropped; the caller decides whether to close). */
int conn_send(struct conn *c, const wire_frame *f);

/* As conn_send(), and when URGENT, for the frames of an interactive stream (a TTY session's):
 * they are sealed ahead of the bulk frames queued before them, so a keystroke's echo does not
 * wait behind a download on the same connection. A stream sends every frame with the same
 * URGENT: the two queues keep their own order, not each other's. On a control master's socket
 * (no TLS) the two are the same. */
int conn_send_as(struct conn *c, const wire_frame *f, int urgent);

/* Sends the N bytes at P on STREAM as Data frames for FD of at most WIRE_DATA_MAX bytes each,
 * the first at offset *OFF, through conn_send_as() with URGENT. *OFF advances by N whatever
 * happens (it is the stream's position, which counts what was read even when a frame is
 * dropped). Returns 0, or the first error, after which the rest is not sent. */
int conn_send_data(struct conn *c, uint32_t stream, Rexec__V1__Fd fd, uint64_t *off, const void *p,
		   size_t n, int urgent);

/* Sends an Error frame on STREAM (0: the connection) with a printf-style message. */
int conn_send_error(struct conn *c, uint32_t stream, Rexec__V1__ErrorCode code, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/* 1 when the write queue is long enough that the owner should stop reading what feeds the
 * connection (the peer, or the network, is slower than what it sends); on_drain then comes
 * once the queue is short again. Socket backpressure: without it the queue toward a slow
 * peer grows to the sum of its streams' windows. */
int conn_congested(struct conn *c);

/* Starts closing: queued frames are still flushed (bounded by a timer), then on_close runs
 * with ERR and WHY. Idempotent. */
void conn_close(struct conn *c, int err, const char *why);

/* The socket's fd (-1 when there is none yet); for getsockopt, not for I/O. */
int conn_fileno(const struct conn *c);

/* The connection's TLS session (NULL on a control master's socket), to ask why a handshake was
 * refused (tls_session_refusal(), tls_session_shown_cn()). Borrowed. */
const struct tls_session *conn_tls(const struct conn *c);

/* 1 once the connection was ready (TLS and Hello done), even while it closes since: 0 for one
 * that ended in its handshake. */
int conn_was_ready(const struct conn *c);

/* 1 when the TLS handshake resumed an earlier session with a ticket. */
int conn_resumed(const struct conn *c);

/* The peer's certificate CN (the user, on the agent) and "ADDR:PORT", for logs. Borrowed. */
const char *conn_peer_name(const struct conn *c);

/* Who the peer is: CN, groups (OU values) and serial of its certificate, as tls.h says; all
 * empty before the handshake and on a connection without TLS. Borrowed. */
const struct tls_identity *conn_peer_identity(const struct conn *c);
const char *conn_peer_addr(const struct conn *c);

#endif
