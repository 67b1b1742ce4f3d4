/* conn.c: a rexec connection over libuv TCP: TLS handshake, Hello, keepalive, frame
 * decoding and validation, and an orderly close that flushes what was queued. */
#include "proto/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/error.h"
#include "proto/log.h"
#include "proto/version.h"
#include "proto/wq.h"

#define TICK_MS     500
#define FLUSH_LIMIT 3000 /* ms a closing connection may spend flushing */
/* Bytes queued for the socket at which the connection is congested, and the length it must
 * come back under before the owner hears on_drain (conn.h). OpenSSH stops reading its channels
 * while more than 128 KiB wait in its packet output (ssh_packet_not_very_much_data_to_write());
 * a session's read here takes up to 128 KiB, so one more read fits under the mark. */
#define QUEUE_FULL    (256 * 1024)
#define QUEUE_SHORT   (128 * 1024)
#define NOTSENT_LOWAT (128 * 1024) /* TCP_NOTSENT_LOWAT (low_water()) */

enum conn_state {
	CONN_CONNECTING,
	CONN_HANDSHAKE,
	CONN_HELLO, /* TLS up, waiting for the peer's Hello */
	CONN_READY,
	CONN_CLOSING,
};

static const char *state_names[] = { "connecting", "handshake", "hello", "ready", "closing" };

struct conn {
	union {
		uv_tcp_t tcp;   /* to or from an agent, under TLS */
		uv_pipe_t pipe; /* a control master's unix socket: plain frames */
	} io;
	uv_timer_t timer;
	uv_check_t flush_after;    /* hand what a turn of the loop queued to one write: */
	uv_prepare_t flush_before; /* after its I/O callbacks, or at the latest before it waits */
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	enum conn_state state;
	struct conn_opts opts;
	unsigned tickets_saved; /* names this connection's temporary ticket files apart */
	char *server_name;
	char *ticket_file;
	struct conn_cb cb;
	void *arg;
	struct tls_session *tls;
	struct wire_decoder dec;
	/* Ciphertext (a master's socket: plain frames) for the socket, one write in flight. */
	struct wq out;
	/* Frames packed but not yet in TLS records: sealed when a write can start, so that a
	 * turn's frames fill 16 KiB records (a 32 KiB Data frame was two full records and a third
	 * of a few bytes, and each Credit a record of its own), and so that while a write is in
	 * flight the frames of interactive streams (URGQ) can still go ahead of bulk ones. */
	struct buf sealq, urgq;
	int congested;  /* conn_congested() said so: on_drain is owed once the queue is short */
	int shutting;   /* the shutdown is asked for (once, after the last write) */
	int peer_hello; /* the peer's Hello came */
	int eager;      /* a run on a control master's socket: ready once its Hello is sent */
	int server;     /* accepted (the agent's end) */
	int was_ready;  /* reached CONN_READY (stays set while closing) */
	uint64_t started, last_rx, last_ping, closing_since;
	int open_handles;
	int close_err;
	char close_why[256];
	char peer_addr[64];
	uint8_t rbuf[65536];
};

static void flush(struct conn *c);
static size_t write_queue(const struct conn *c);
static int seal(struct conn *c);
static void close_handles(struct conn *c);
static void shut_down(struct conn *c);

/* The one place the state changes: checks the transition and logs it. */
static void set_state(struct conn *c, enum conn_state next)
{
	if (next < c->state && next != CONN_CLOSING) {
		log_error("%s: refusing %s -> %s", c->peer_addr, state_names[c->state],
			  state_names[next]);
		return;
	}
	log_debug("%s: %s -> %s", c->peer_addr, state_names[c->state], state_names[next]);
	c->state = next;
}

/* TLS hands ciphertext here; it leaves on the next flush. */
static void on_tls_send(void *arg, const uint8_t *data, size_t len)
{
	struct conn *c = arg;

	if (buf_append(&c->out.q, data, len) < 0) {
		/* Dropping ciphertext would corrupt the stream: end it. */
		conn_close(c, -ENOMEM, "out of memory");
	}
}

/* The peer closed (or reset: it closes without reading what we sent) a TLS connection in its
 * handshake: an agent over its limits does so before any TLS, with no alert to say why. Closes
 * C saying so and returns 1; 0 when C is past its handshake. */
static int cut_in_handshake(struct conn *c)
{
	if (c->tls == NULL || c->state != CONN_HANDSHAKE)
		return 0;
	conn_close(c, REXEC_ECLOSED,
		   c->server ? "connection closed by peer during the TLS handshake"
			     : "the agent closed the connection before the TLS handshake was done "
			       "(over its connection limits? its log says why)");
	return 1;
}

/* A write to the socket is done: the next one starts, or the close goes on. */
static void on_written(struct wq *out, size_t n, int status)
{
	struct conn *c = out->arg;

	if (status < 0) {
		if ((status == UV_ECONNRESET || status == UV_EPIPE) && cut_in_handshake(c))
			return;
		if (status != UV_ECANCELED && c->state != CONN_CLOSING)
			conn_close(c, status, uv_strerror(status));
		else if (c->state == CONN_CLOSING)
			close_handles(c);
		return;
	}
	flush(c);
	if (c->state == CONN_CLOSING && !c->out.writing)
		shut_down(c);
}

static void flush_now(struct conn *c)
{
	uv_check_stop(&c->flush_after);
	uv_prepare_stop(&c->flush_before);
	flush(c);
}

static void on_flush_after(uv_check_t *h)
{
	flush_now(h->data);
}

static void on_flush_before(uv_prepare_t *h)
{
	flush_now(h->data);
}

/* Frames leave once per turn of the loop (as ssh writes its queued packets once per pass of
 * its loop): what one turn's I/O callbacks produce (a relayed burst, a session's output and
 * Exit) goes in one write and wakes the peer once, before that turn's close callbacks free
 * anything; what timers or close callbacks queue leaves before the loop next waits. */
static void flush_soon(struct conn *c)
{
	if (uv_is_active((uv_handle_t *)&c->flush_after) || uv_is_closing((uv_handle_t *)&c->io))
		return;
	uv_check_start(&c->flush_after, on_flush_after);
	uv_prepare_start(&c->flush_before, on_flush_before);
}

/* Tells the owner, once, that a queue it was told is congested is short again. */
static void note_drained(struct conn *c)
{
	if (!c->congested || c->state == CONN_CLOSING || write_queue(c) >= QUEUE_SHORT)
		return;
	c->congested = 0;
	if (c->cb.on_drain)
		c->cb.on_drain(c, c->arg);
}

/* Hands the pending ciphertext to libuv, unless a write is in flight (then it goes when that
 * one completes, together with whatever else accumulated). Frames are sealed only here, when
 * a write can start: while one is in flight they wait as plaintext, where an interactive
 * stream's frames (urgq) still go ahead of the bulk queued before them. */
static void flush(struct conn *c)
{
	int ret;

	if (c->out.writing || uv_is_closing((uv_handle_t *)&c->io) || seal(c) < 0)
		return;
	if ((ret = wq_flush(&c->out, (uv_stream_t *)&c->io)) < 0) {
		if (c->state != CONN_CLOSING)
			conn_close(c, ret, uv_strerror(ret));
		return;
	}
	/* Nothing to write, or written at once (the usual case): the owner may read again
	 * before the loop waits. */
	note_drained(c);
}

#define SEAL_AT (64 * 1024) /* with no write in flight, plaintext past this is sealed at once */

/* The frames of Q into TLS records (their ciphertext to OUT). */
static int seal_queue(struct conn *c, struct buf *q)
{
	int ret;

	if (buf_size(q) == 0)
		return 0;
	ret = tls_session_write(c->tls, buf_peek(q), buf_size(q));
	buf_consume(q, buf_size(q));
	if (ret < 0)
		conn_close(c, ret, tls_session_error(c->tls));
	return ret;
}

/* The queued frames into TLS records, the urgent ones first. Returns 0, or a negative code
 * once the connection is closing for it. */
static int seal(struct conn *c)
{
	int ret;

	if (c->tls == NULL)
		return 0;
	if ((ret = seal_queue(c, &c->urgq)) < 0)
		return ret;
	return seal_queue(c, &c->sealq);
}

/* Packs F where it will leave from: plain on a control master's socket (it carries one
 * client's sessions, in order), else the queue of frames to seal, URGENT's or the bulk one. A
 * big burst with no write in flight is sealed as it grows, in whole records. */
static int send_frame(struct conn *c, const wire_frame *f, int urgent)
{
	struct buf *q = c->tls == NULL ? &c->out.q : urgent ? &c->urgq : &c->sealq;
	int ret = wire_pack_into(f, q);

	if (ret == -ENOMEM)
		conn_close(c, -ENOMEM, "out of memory");
	if (ret < 0)
		return ret;
	if (q != &c->out.q && !c->out.writing && buf_size(q) >= SEAL_AT && (ret = seal(c)) < 0)
		return ret;
	flush_soon(c);
	return 0;
}

int conn_send_as(struct conn *c, const wire_frame *f, int urgent)
{
	if (c->state == CONN_CLOSING)
		return REXEC_ECLOSED;
	if (c->state < CONN_HELLO)
		return REXEC_EPROTO;
	return send_frame(c, f, urgent);
}

int conn_send(struct conn *c, const wire_frame *f)
{
	return conn_send_as(c, f, 0);
}

/* One Data frame per WIRE_DATA_MAX bytes: the agent's reads (SESSION_READ_MAX) and the client's
 * (IN_READ_MAX) are larger than a frame may carry. Cut here for both ends, as OpenSSH's
 * channels.c cuts a channel's data into packets of the peer's maximum size in one place for
 * ssh and sshd alike. */
int conn_send_data(struct conn *c, uint32_t stream, Rexec__V1__Fd fd, uint64_t *off, const void *p,
		   size_t n, int urgent)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Data d = REXEC__V1__DATA__INIT;
	const uint8_t *at = p;
	uint64_t pos = *off;
	int ret = 0;

	*off += n;
	d.fd = fd;
	f.stream = stream;
	f.msg_case = REXEC__V1__FRAME__MSG_DATA;
	f.data = &d;
	while (n > 0 && ret == 0) {
		size_t chunk = n < WIRE_DATA_MAX ? n : WIRE_DATA_MAX;

		d.bytes.data = (uint8_t *)at;
		d.bytes.len = chunk;
		d.offset = pos;
		ret = conn_send_as(c, &f, urgent);
		pos += chunk;
		at += chunk;
		n -= chunk;
	}
	return ret;
}

int conn_send_error(struct conn *c, uint32_t stream, Rexec__V1__ErrorCode code, const char *fmt,
		    ...)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Error e = REXEC__V1__ERROR__INIT;
	char msg[WIRE_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e.code = code;
	e.message = msg;
	f.stream = stream;
	f.msg_case = REXEC__V1__FRAME__MSG_ERROR;
	f.error = &e;
	if (c->state < CONN_HELLO || c->state == CONN_CLOSING)
		return REXEC_ECLOSED;
	return send_frame(c, &f, 0);
}

/* Bytes queued for the socket but not yet handed to the kernel. */
static size_t write_queue(const struct conn *c)
{
	/* What libuv still holds of the write in flight: a write it finished at once is in the
	 * kernel's hands, though the queue lets go of it only in on_written. */
	size_t held =
		c->out.writing ? uv_stream_get_write_queue_size((const uv_stream_t *)&c->io) : 0;

	return held + buf_size(&c->out.q) + buf_size(&c->sealq) + buf_size(&c->urgq);
}

int conn_congested(struct conn *c)
{
	if (write_queue(c) < QUEUE_FULL)
		return 0;
	c->congested = 1;
	return 1;
}

static void send_hello(struct conn *c)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Hello h = REXEC__V1__HELLO__INIT;

	h.proto_major = REXEC_PROTO_MAJOR;
	h.proto_minor = REXEC_PROTO_MINOR;
	h.software = (char *)c->opts.software;
	h.initial_window = WIRE_WINDOW_DEFAULT;
	h.max_frame = WIRE_FRAME_MAX;
	f.msg_case = REXEC__V1__FRAME__MSG_HELLO;
	f.hello = &h;
	send_frame(c, &f, 0);
}

/* Connection-level frames (stream 0). */
static void handle_control(struct conn *c, wire_frame *f)
{
	wire_frame r = REXEC__V1__FRAME__INIT;
	Rexec__V1__Pong pong = REXEC__V1__PONG__INIT;

	switch (f->msg_case) {
	case REXEC__V1__FRAME__MSG_HELLO:
		if (c->peer_hello || (c->state != CONN_HELLO && !c->eager)) {
			conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
					"unexpected Hello");
			conn_close(c, REXEC_EPROTO, "unexpected Hello");
			return;
		}
		if (f->hello->proto_major != REXEC_PROTO_MAJOR) {
			conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_VERSION,
					"protocol %u.x is not supported (this end speaks %d.%d)",
					f->hello->proto_major, REXEC_PROTO_MAJOR,
					REXEC_PROTO_MINOR);
			conn_close(c, REXEC_EVERSION, "incompatible protocol version");
			return;
		}
		log_debug("%s: peer is %s", c->peer_addr, f->hello->software);
		c->peer_hello = 1;
		if (c->state == CONN_READY)
			return; /* eager: ready since our Hello */
		set_state(c, CONN_READY);
		c->was_ready = 1;
		if (c->cb.on_ready)
			c->cb.on_ready(c, c->arg);
		return;
	case REXEC__V1__FRAME__MSG_PING:
		pong.nonce = f->ping->nonce;
		r.msg_case = REXEC__V1__FRAME__MSG_PONG;
		r.pong = &pong;
		send_frame(c, &r, 1);
		return;
	case REXEC__V1__FRAME__MSG_PONG:
		return;
	case REXEC__V1__FRAME__MSG_GO_AWAY:
		log_info("%s: peer is going away: %s", c->peer_addr, f->go_away->reason);
		return;
	case REXEC__V1__FRAME__MSG_ERROR:
		conn_close(c, REXEC_EPROTO, f->error->message);
		return;
	default:
		return;
	}
}

static void handle_frame(struct conn *c, wire_frame *f)
{
	const char *why;

	if (wire_validate(f, &why) < 0) {
		log_warn("%s: bad frame: %s", c->peer_addr, why);
		conn_send_error(c, f->stream, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"bad frame: %s", why);
		/* A bad session frame ends that stream (the owner hears of it through the Error
		 * it would have sent); a bad control frame ends the connection. */
		if (f->stream == 0)
			conn_close(c, REXEC_EPROTO, why);
		return;
	}
	if (f->stream == 0) {
		handle_control(c, f);
		return;
	}
	if (c->state != CONN_READY) {
		conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"session before Hello");
		conn_close(c, REXEC_EPROTO, "session frame before Hello");
		return;
	}
	c->cb.on_frame(c, f, c->arg);
}

/* Plaintext out of TLS, frames out of the plaintext, until TLS has no full record left. */
/* The ticket file (conn_opts.ticket_file): "RXT1", the length of the agent's CN and the CN
 * (what the resumed handshake will not show again), then the serialised session. Mode 0600:
 * whoever holds it can resume as the certificate's owner until the ticket expires (1 hour),
 * like whoever holds the key. */
#define TICKET_MAGIC "RXT1"
#define TICKET_MAX   16384

static void load_ticket(struct conn *c)
{
	uint8_t buf[TICKET_MAX];
	char cn[256];
	ssize_t n, got = 0;
	int fd = open(c->ticket_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	while (got < (ssize_t)sizeof(buf) &&
	       (n = read(fd, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	close(fd);
	if (got < 5 || memcmp(buf, TICKET_MAGIC, 4) != 0 || got < 5 + buf[4] || buf[4] == 0)
		return;
	memcpy(cn, buf + 5, buf[4]);
	cn[buf[4]] = 0;
	if (tls_session_offer_ticket(c->tls, cn, buf + 5 + buf[4], (size_t)got - 5 - buf[4]) < 0)
		log_debug("%s: the session ticket in %s is unusable", c->peer_addr, c->ticket_file);
}

/* Replaces the ticket file (a new file renamed over it: readers see the old or the new). */
static void save_ticket(struct conn *c, const uint8_t *blob, size_t len)
{
	const char *cn = tls_session_peer_cn(c->tls);
	size_t cn_len = strlen(cn);
	uint8_t head[5 + 255];
	char tmp[4200];
	int fd, ok;

	if (cn_len == 0 || cn_len > 255 || 5 + cn_len + len > TICKET_MAX)
		return;
	memcpy(head, TICKET_MAGIC, 4);
	head[4] = (uint8_t)cn_len;
	memcpy(head + 5, cn, cn_len);
	/* Unique per process, connection and ticket: no other writer's name. */
	snprintf(tmp, sizeof(tmp), "%s.%d.%p.%u", c->ticket_file, (int)getpid(), (void *)c,
		 c->tickets_saved++);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_debug("%s: cannot keep the session ticket: %s: %s", c->peer_addr, tmp,
			  strerror(errno));
		return;
	}
	ok = write(fd, head, 5 + cn_len) == (ssize_t)(5 + cn_len) &&
	     write(fd, blob, len) == (ssize_t)len;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, c->ticket_file) < 0) {
		log_debug("%s: cannot keep the session ticket in %s", c->peer_addr, c->ticket_file);
		unlink(tmp);
	}
}

static void keep_ticket(struct conn *c)
{
	uint8_t *blob;
	size_t len;

	if (c->ticket_file != NULL && tls_session_take_ticket(c->tls, &blob, &len)) {
		save_ticket(c, blob, len);
		free(blob);
	}
}

/* Frames out of N bytes of plaintext at P (NULL: already in the decoder's room). Returns -1
 * once the connection is closing. */
static int frames_in(struct conn *c, const uint8_t *p, size_t n)
{
	wire_frame *f = NULL;
	int ret;

	ret = p == NULL ? wire_decoder_fed(&c->dec, n) : wire_decoder_feed(&c->dec, p, n);
	if (ret < 0) {
		log_warn("%s: %s", c->peer_addr, rexec_strerror(ret));
		conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_LIMIT, "%s",
				rexec_strerror(ret));
		conn_close(c, ret, rexec_strerror(ret));
		return -1;
	}
	while (c->state != CONN_CLOSING && (ret = wire_decoder_next(&c->dec, &f)) > 0) {
		c->last_rx = uv_now(c->timer.loop);
		handle_frame(c, f);
		wire_decoder_release(&c->dec, f);
		f = NULL;
	}
	if (ret < 0) {
		log_warn("%s: undecodable frame: %s", c->peer_addr, rexec_strerror(ret));
		conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL, "undecodable frame");
		conn_close(c, ret, "undecodable frame");
		return -1;
	}
	return c->state == CONN_CLOSING ? -1 : 0;
}

#define PLAIN_CHUNK 16384 /* a TLS record's plaintext at most */

/* Plaintext out of TLS straight into the frame decoder, frames out of it, until TLS has no
 * full record left. */
static void pump(struct conn *c)
{
	for (;;) {
		uint8_t *at;
		int n;

		if (c->state == CONN_CLOSING)
			return;
		if ((at = wire_decoder_room(&c->dec, PLAIN_CHUNK)) == NULL) {
			conn_close(c, -ENOMEM, "out of memory");
			return;
		}
		n = tls_session_read(c->tls, at, PLAIN_CHUNK);
		keep_ticket(c);
		if (n == 0)
			return;
		if (n < 0) {
			conn_close(c, n == REXEC_ECLOSED ? 0 : n, tls_session_error(c->tls));
			return;
		}
		if (frames_in(c, NULL, (size_t)n) < 0)
			return;
	}
}

static void step_handshake(struct conn *c)
{
	int ret;

	if (c->tls == NULL) {
		set_state(c, CONN_HELLO);
		send_hello(c);
		if (c->eager) {
			/* The master reads what follows our Hello in order, so the run's Open
			 * goes right behind it, not one round trip later; a master that refuses
			 * us closes, and its Hello is checked when it comes. */
			set_state(c, CONN_READY);
			c->was_ready = 1;
			if (c->cb.on_ready)
				c->cb.on_ready(c, c->arg);
		}
		return;
	}
	ret = tls_session_handshake(c->tls);

	flush(c);
	if (ret == 1)
		return;
	/* A refusal is logged by the owner (rate-limited, with conn_tls()'s details). */
	if (ret == REXEC_ETLS_ROLE || ret == REXEC_ETLS_CRL) {
		/* The client's certificate is not a client's, or its CA's CRL is out of date (fail
		 * closed): the handshake is done, so it hears why in an Error rather than a bare
		 * TLS alert. */
		log_debug("%s: %s", c->peer_addr, tls_session_error(c->tls));
		set_state(c, CONN_HELLO);
		conn_send_error(c, 0, REXEC__V1__ERROR_CODE__ERROR_DENIED, "%s",
				tls_session_error(c->tls));
		conn_close(c, ret, tls_session_error(c->tls));
		return;
	}
	if (ret < 0) {
		/* A refused certificate's alert is queued: conn_close() flushes it. */
		log_debug("%s: %s", c->peer_addr, tls_session_error(c->tls));
		conn_close(c, ret, tls_session_error(c->tls));
		return;
	}
	set_state(c, CONN_HELLO);
	send_hello(c);
	pump(c);
}

/* Ciphertext is read straight into the TLS session's input (no copy from a buffer of ours);
 * a master's plain frames, or a read when that cannot grow, into RBUF. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	uint8_t *at = c->tls != NULL ? tls_session_room(c->tls, sizeof(c->rbuf)) : NULL;

	*buf = uv_buf_init((char *)(at != NULL ? at : c->rbuf), sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	int ret;

	if (n == 0)
		return;
	if ((n == UV_EOF || n == UV_ECONNRESET) && cut_in_handshake(c))
		return;
	if (n < 0) {
		conn_close(c, n == UV_EOF ? 0 : (int)n,
			   n == UV_EOF ? "connection closed by peer" : uv_strerror((int)n));
		return;
	}
	if (c->state == CONN_CLOSING)
		return;
	c->last_rx = uv_now(s->loop);
	if (c->tls == NULL) {
		/* A master's socket: its Hello only answers the run's first bytes, so that a peer
		 * refused at once (not the master's user) hears nothing. */
		if (c->state == CONN_HANDSHAKE)
			step_handshake(c);
		frames_in(c, (const uint8_t *)buf->base, (size_t)n);
		return;
	}
	if (buf->base != (char *)c->rbuf)
		tls_session_fed(c->tls, (size_t)n);
	else if ((ret = tls_session_feed(c->tls, (const uint8_t *)buf->base, (size_t)n)) < 0) {
		conn_close(c, ret, "out of memory");
		return;
	}
	if (c->state == CONN_HANDSHAKE)
		step_handshake(c);
	else
		pump(c);
}

static void on_tick(uv_timer_t *t)
{
	struct conn *c = t->data;
	uint64_t now = uv_now(t->loop);
	unsigned ka = c->opts.keepalive_ms;

	if (c->state == CONN_CLOSING) {
		if (now - c->closing_since > FLUSH_LIMIT)
			close_handles(c);
		return;
	}
	if (c->state != CONN_READY) {
		if (c->opts.handshake_ms && now - c->started > c->opts.handshake_ms)
			conn_close(c, REXEC_ETIMEOUT, "handshake timed out");
		return;
	}
	if (ka == 0)
		return;
	if (now - c->last_rx > 3 * (uint64_t)ka) {
		conn_close(c, REXEC_ETIMEOUT, "peer stopped answering keepalives");
	} else if (now - c->last_rx >= ka && now - c->last_ping >= ka) {
		wire_frame f = REXEC__V1__FRAME__INIT;
		Rexec__V1__Ping p = REXEC__V1__PING__INIT;
		p.nonce = now;
		f.msg_case = REXEC__V1__FRAME__MSG_PING;
		f.ping = &p;
		c->last_ping = now;
		send_frame(c, &f, 0);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles > 0)
		return;
	if (c->cb.on_close)
		c->cb.on_close(c, c->close_err, c->close_why, c->arg);
	if (c->tls != NULL)
		tls_session_free(c->tls);
	wire_decoder_close(&c->dec);
	wq_free(&c->out);
	buf_free(&c->sealq);
	buf_free(&c->urgq);
	free(c->server_name);
	free(c->ticket_file);
	free(c);
}

static void close_handles(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->io))
		uv_close((uv_handle_t *)&c->io, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->flush_after))
		uv_close((uv_handle_t *)&c->flush_after, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->flush_before))
		uv_close((uv_handle_t *)&c->flush_before, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	close_handles(req->data);
}

void conn_close(struct conn *c, int err, const char *why)
{
	enum conn_state was = c->state;

	if (was == CONN_CLOSING)
		return;
	set_state(c, CONN_CLOSING);
	c->closing_since = uv_now(c->timer.loop);
	c->close_err = err;
	snprintf(c->close_why, sizeof(c->close_why), "%s", why ? why : "");
	uv_read_stop((uv_stream_t *)&c->io);
	uv_check_stop(&c->flush_after);
	uv_prepare_stop(&c->flush_before);
	if (was == CONN_CONNECTING) {
		close_handles(c);
		return;
	}
	/* What was queued goes before the close_notify. */
	if (was >= CONN_HELLO && c->tls != NULL && seal(c) == 0)
		tls_session_close_notify(c->tls);
	flush(c);
	/* The shutdown goes after the last write: with one in flight, what is still queued
	 * behind it goes first (on_written). */
	if (!c->out.writing)
		shut_down(c);
}

static void shut_down(struct conn *c)
{
	if (c->shutting)
		return;
	c->shutting = 1;
	c->shutdown_req.data = c;
	if (uv_is_closing((uv_handle_t *)&c->io) ||
	    uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->io, on_shutdown) < 0)
		close_handles(c);
}

/* Common set-up of a new connection object and its two handles. */
static struct conn *conn_alloc(uv_loop_t *loop, int server, int unix_socket,
			       const struct conn_opts *opts, const struct conn_cb *cb, void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->opts = *opts;
	if (opts->server_name) {
		c->server_name = strdup(opts->server_name);
		if (c->server_name == NULL) {
			free(c);
			return NULL;
		}
	}
	c->opts.server_name = c->server_name;
	c->cb = *cb;
	c->arg = arg;
	c->server = server;
	wire_decoder_init(&c->dec);
	wq_init(&c->out, on_written, c);
	if (unix_socket)
		uv_pipe_init(loop, &c->io.pipe, 0);
	else
		uv_tcp_init(loop, &c->io.tcp);
	uv_timer_init(loop, &c->timer);
	uv_check_init(loop, &c->flush_after);
	uv_prepare_init(loop, &c->flush_before);
	c->io.tcp.data = c->timer.data = c->flush_after.data = c->flush_before.data = c;
	c->open_handles = 4;
	c->started = c->last_rx = uv_now(loop);
	snprintf(c->peer_addr, sizeof(c->peer_addr), unix_socket ? "control master" : "?");
	if (opts->tls != NULL && tls_session_new(&c->tls, opts->tls, server ? NULL : c->server_name,
						 on_tls_send, c) < 0) {
		c->state = CONN_CLOSING;
		close_handles(c);
		return NULL;
	}
	c->opts.ticket_file = NULL;
	if (!server && opts->tls != NULL && opts->ticket_file != NULL &&
	    (c->ticket_file = strdup(opts->ticket_file)) != NULL)
		load_ticket(c);
	uv_timer_start(&c->timer, on_tick, TICK_MS, TICK_MS);
	return c;
}

/* The kernel holds at most NOTSENT_LOWAT bytes that have not left yet: the rest waits in our
 * queues (the socket is not writable), where a terminal's frames still go ahead of bulk and
 * where conn_congested() sees it. Without it, the send buffer (autotuned to megabytes) held a
 * whole window of bulk ahead of a keystroke's echo. HTTP/2 servers set it for the same
 * reason: to keep their stream priorities in user space. It bounds what waits to be sent, not
 * what is in flight, so it does not cap a stream's speed. */
static void low_water(struct conn *c)
{
#ifdef TCP_NOTSENT_LOWAT
	int fd = conn_fileno(c), v = NOTSENT_LOWAT;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
#else
	(void)c;
#endif
}

static void note_peer_addr(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[48] = "?";
	int port = 0;

	if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(c->peer_addr, sizeof(c->peer_addr), "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		snprintf(c->peer_addr, sizeof(c->peer_addr), "[%s]:%d", host, port);
	}
}

/* A TCP connection is up, accepted or connected: no Nagle delay on our small frames, the
 * low-water mark, and the peer's address for the logs. */
static void tcp_up(struct conn *c)
{
	uv_tcp_nodelay(&c->io.tcp, 1);
	low_water(c);
	note_peer_addr(c);
}

int conn_accept(struct conn **out, uv_stream_t *server, const struct conn_opts *opts,
		const struct conn_cb *cb, void *arg)
{
	int unix_socket = server->type == UV_NAMED_PIPE;
	struct conn *c = conn_alloc(server->loop, 1, unix_socket, opts, cb, arg);
	int ret;

	if (c == NULL)
		return -ENOMEM;
	if ((ret = uv_accept(server, (uv_stream_t *)&c->io)) < 0 ||
	    (ret = uv_read_start((uv_stream_t *)&c->io, on_alloc, on_read)) < 0) {
		conn_close(c, ret, uv_strerror(ret));
		return ret;
	}
	*out = c;
	if (!unix_socket)
		tcp_up(c);
	set_state(c, CONN_HANDSHAKE);
	return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	int ret;

	if (c->state == CONN_CLOSING)
		return;
	if (status < 0) {
		c->state = CONN_CLOSING;
		c->close_err = status;
		snprintf(c->close_why, sizeof(c->close_why), "connect: %s", uv_strerror(status));
		close_handles(c);
		return;
	}
	if (c->io.tcp.type == UV_TCP)
		tcp_up(c);
	set_state(c, CONN_HANDSHAKE);
	if ((ret = uv_read_start((uv_stream_t *)&c->io, on_alloc, on_read)) < 0) {
		conn_close(c, ret, uv_strerror(ret));
		return;
	}
	step_handshake(c);
}

int conn_connect(struct conn **out, uv_loop_t *loop, const struct sockaddr *addr,
		 const struct conn_opts *opts, const struct conn_cb *cb, void *arg)
{
	struct conn *c = conn_alloc(loop, 0, 0, opts, cb, arg);
	int ret;

	if (c == NULL)
		return -ENOMEM;
	c->connect_req.data = c;
	if ((ret = uv_tcp_connect(&c->connect_req, &c->io.tcp, addr, on_connect)) < 0) {
		c->state = CONN_CLOSING;
		c->close_err = ret;
		snprintf(c->close_why, sizeof(c->close_why), "connect: %s", uv_strerror(ret));
		close_handles(c);
		*out = c;
		return 0;
	}
	*out = c;
	return 0;
}

int conn_open_unix(struct conn **out, uv_loop_t *loop, int fd, const struct conn_opts *opts,
		   const struct conn_cb *cb, void *arg)
{
	struct conn *c = conn_alloc(loop, 0, 1, opts, cb, arg);
	int ret;

	if (c == NULL) {
		close(fd);
		return -ENOMEM;
	}
	*out = c;
	c->eager = 1;
	c->connect_req.data = c;
	if ((ret = uv_pipe_open(&c->io.pipe, fd)) < 0)
		close(fd);
	/* Connected already: straight on to the Hello. */
	on_connect(&c->connect_req, ret);
	return 0;
}

int conn_fileno(const struct conn *c)
{
	uv_os_fd_t fd = -1;

	return uv_fileno((const uv_handle_t *)&c->io, &fd) == 0 ? fd : -1;
}

const struct tls_session *conn_tls(const struct conn *c)
{
	return c->tls;
}

int conn_was_ready(const struct conn *c)
{
	return c->was_ready;
}

int conn_resumed(const struct conn *c)
{
	return c->tls != NULL && tls_session_resumed(c->tls);
}

const char *conn_peer_name(const struct conn *c)
{
	return c->tls != NULL ? tls_session_peer_cn(c->tls) : "";
}

const struct tls_identity *conn_peer_identity(const struct conn *c)
{
	static const struct tls_identity nobody; /* read-only: no TLS, nobody shown */

	return c->tls != NULL ? tls_session_identity(c->tls) : &nobody;
}

const char *conn_peer_addr(const struct conn *c)
{
	return c->peer_addr;
}
