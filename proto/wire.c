/* wire.c: length-prefixed protobuf frames, with caps checked before allocation. */
#include "proto/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/error.h"

#define ARENA_SIZE (WIRE_FRAME_MAX * 2)

/* ---- Data frames, packed by hand ----
 * protobuf-c packs a sub-message behind a one-byte guess of its length and moves it when the
 * length takes more bytes: for a Data frame that moved the whole payload a second time (a
 * quarter of the agent's CPU on a download, by perf). A Data frame is packed here instead,
 * byte for byte as protobuf-c packs it (fields in number order, proto3 zeros left out; held
 * to it by tests/unit/wire_test.c); any other frame, or one carrying unknown fields, still
 * goes through protobuf-c. */
#define TAG_VARINT(n) ((uint8_t)((n) << 3))
#define TAG_LEN(n)    ((uint8_t)((n) << 3 | 2))

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	for (; v >= 0x80; v >>= 7)
		n++;
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	for (; v >= 0x80; v >>= 7)
		*p++ = (uint8_t)(v | 0x80);
	*p++ = (uint8_t)v;
	return p;
}

static int by_hand(const wire_frame *f)
{
	return f->msg_case == REXEC__V1__FRAME__MSG_DATA && f->data != NULL &&
	       f->base.n_unknown_fields == 0 && f->data->base.n_unknown_fields == 0 &&
	       f->data->fd >= 0;
}

/* The Data message's own size. */
static size_t data_size(const Rexec__V1__Data *d)
{
	size_t n = 0;

	if (d->fd != 0)
		n += 1 + varint_len((uint64_t)d->fd);
	if (d->bytes.len > 0)
		n += 1 + varint_len(d->bytes.len) + d->bytes.len;
	if (d->offset != 0)
		n += 1 + varint_len(d->offset);
	return n;
}

/* The frame's size without the length prefix. */
static size_t frame_size(const wire_frame *f)
{
	size_t sub;

	if (!by_hand(f))
		return rexec__v1__frame__get_packed_size(f);
	sub = data_size(f->data);
	return (f->stream != 0 ? 1 + varint_len(f->stream) : 0) + 1 + varint_len(sub) + sub;
}

static void pack_data(const wire_frame *f, uint8_t *p)
{
	const Rexec__V1__Data *d = f->data;

	if (f->stream != 0) {
		*p++ = TAG_VARINT(1);
		p = put_varint(p, f->stream);
	}
	*p++ = TAG_LEN(REXEC__V1__FRAME__MSG_DATA);
	p = put_varint(p, data_size(d));
	if (d->fd != 0) {
		*p++ = TAG_VARINT(1);
		p = put_varint(p, (uint64_t)d->fd);
	}
	if (d->bytes.len > 0) {
		*p++ = TAG_LEN(2);
		p = put_varint(p, d->bytes.len);
		memcpy(p, d->bytes.data, d->bytes.len);
		p += d->bytes.len;
	}
	if (d->offset != 0) {
		*p++ = TAG_VARINT(3);
		put_varint(p, d->offset);
	}
}

/* F, whose size without the prefix is N (at most WIRE_FRAME_MAX), with its length prefix at
 * BUF. */
static void pack_sized(const wire_frame *f, size_t n, uint8_t *buf)
{
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	if (by_hand(f))
		pack_data(f, buf + 4);
	else
		rexec__v1__frame__pack(f, buf + 4);
}

int wire_pack(const wire_frame *f, uint8_t *buf, size_t *len)
{
	size_t n = frame_size(f);

	if (n > WIRE_FRAME_MAX)
		return REXEC_EFRAME_TOO_BIG;
	pack_sized(f, n, buf);
	*len = n + 4;
	return 0;
}

int wire_pack_into(const wire_frame *f, struct buf *b)
{
	size_t n = frame_size(f); /* once: protobuf-c walks the whole frame to size it */
	uint8_t *at;

	if (n > WIRE_FRAME_MAX)
		return REXEC_EFRAME_TOO_BIG;
	if ((at = buf_reserve(b, n + 4)) == NULL)
		return -ENOMEM;
	pack_sized(f, n, at);
	buf_commit(b, n + 4);
	return 0;
}

/* Bump allocation in the decoder's arena; malloc once it is full. */
static void *arena_alloc(void *data, size_t size)
{
	struct wire_decoder *d = data;
	size_t at = (d->arena_used + 15) & ~(size_t)15;

	if (d->arena != NULL && at + size <= ARENA_SIZE) {
		d->arena_used = at + size;
		return d->arena + at;
	}
	return malloc(size);
}

static void arena_free(void *data, void *p)
{
	struct wire_decoder *d = data;

	if (d->arena != NULL && (uint8_t *)p >= d->arena && (uint8_t *)p < d->arena + ARENA_SIZE)
		return;
	free(p);
}

void wire_decoder_init(struct wire_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->arena = malloc(ARENA_SIZE);
	d->alloc.alloc = arena_alloc;
	d->alloc.free = arena_free;
	d->alloc.allocator_data = d;
}

void wire_decoder_close(struct wire_decoder *d)
{
	buf_free(&d->in);
	free(d->arena);
	memset(d, 0, sizeof(*d));
}

static uint32_t peek_len(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wire_decoder_feed(struct wire_decoder *d, const void *p, size_t n)
{
	uint8_t *at = wire_decoder_room(d, n);

	if (at == NULL)
		return -ENOMEM;
	memcpy(at, p, n);
	return wire_decoder_fed(d, n);
}

uint8_t *wire_decoder_room(struct wire_decoder *d, size_t n)
{
	return buf_reserve(&d->in, n);
}

int wire_decoder_fed(struct wire_decoder *d, size_t n)
{
	buf_commit(&d->in, n);
	if (buf_size(&d->in) >= 4 && peek_len(buf_peek(&d->in)) > WIRE_FRAME_MAX)
		return REXEC_EFRAME_TOO_BIG;
	return 0;
}

int wire_decoder_next(struct wire_decoder *d, wire_frame **out)
{
	uint32_t n;
	wire_frame *f;

	if (buf_size(&d->in) < 4)
		return 0;
	n = peek_len(buf_peek(&d->in));
	if (n > WIRE_FRAME_MAX)
		return REXEC_EFRAME_TOO_BIG;
	if (buf_size(&d->in) < 4 + (size_t)n)
		return 0;
	d->arena_used = 0;
	f = rexec__v1__frame__unpack(&d->alloc, n, buf_peek(&d->in) + 4);
	buf_consume(&d->in, 4 + (size_t)n);
	if (f == NULL)
		return REXEC_EPROTOBUF;
	*out = f;
	return 1;
}

void wire_decoder_release(struct wire_decoder *d, wire_frame *f)
{
	if (f != NULL)
		rexec__v1__frame__free_unpacked(f, &d->alloc);
	d->arena_used = 0;
}

static int valid_fd(Rexec__V1__Fd fd)
{
	return fd == REXEC__V1__FD__FD_STDIN || fd == REXEC__V1__FD__FD_STDOUT ||
	       fd == REXEC__V1__FD__FD_STDERR;
}

static int valid_size(const Rexec__V1__WinSize *s)
{
	/* struct winsize holds unsigned shorts: refuse what would be narrowed. */
	return s != NULL && s->rows <= 0xffff && s->cols <= 0xffff && s->xpixel <= 0xffff &&
	       s->ypixel <= 0xffff;
}

static int valid_name(const char *s, size_t max)
{
	return s != NULL && strlen(s) <= max;
}

static int validate_open(const Rexec__V1__Open *o, const char **why)
{
	size_t i;

	if (o->kind == REXEC__V1__KIND__KIND_UNSPECIFIED || o->kind > REXEC__V1__KIND__KIND_RESUME)
		return *why = "open: unknown kind", REXEC_EPROTO;
	if (o->target == NULL || o->target->type == REXEC__V1__TARGET_TYPE__TARGET_UNSPECIFIED ||
	    o->target->type > REXEC__V1__TARGET_TYPE__TARGET_CONTAINER)
		return *why = "open: missing or unknown target", REXEC_EPROTO;
	if (o->n_argv > WIRE_ARGV_MAX)
		return *why = "open: too many arguments", REXEC_EPROTO;
	/* An empty argument arrives with data NULL: memchr() must not see it. */
	for (i = 0; i < o->n_argv; i++)
		if (o->argv[i].len > WIRE_ARG_MAX ||
		    (o->argv[i].len > 0 && memchr(o->argv[i].data, 0, o->argv[i].len)))
			return *why = "open: argument too long or containing NUL", REXEC_EPROTO;
	if (o->n_env > WIRE_ARGV_MAX)
		return *why = "open: too many environment variables", REXEC_EPROTO;
	for (i = 0; i < o->n_env; i++) {
		const char *n = o->env[i]->name;
		if (n == NULL || n[0] == 0 || strchr(n, '=') || strlen(n) > WIRE_NAME_MAX ||
		    strlen(o->env[i]->value) > WIRE_ARG_MAX)
			return *why = "open: bad environment variable", REXEC_EPROTO;
	}
	if (!valid_name(o->user, WIRE_NAME_MAX) || !valid_name(o->term, WIRE_NAME_MAX) ||
	    !valid_name(o->workdir, WIRE_TEXT_MAX))
		return *why = "open: user, term or workdir too long", REXEC_EPROTO;
	if (o->size != NULL && !valid_size(o->size))
		return *why = "open: window size out of range", REXEC_EPROTO;
	if (o->initial_window > WIRE_WINDOW_MAX)
		return *why = "open: initial_window over the cap", REXEC_EPROTO;
	return 0;
}

int wire_validate(const wire_frame *f, const char **why)
{
	int control;

	*why = "";
	switch (f->msg_case) {
	case REXEC__V1__FRAME__MSG_HELLO:
	case REXEC__V1__FRAME__MSG_PING:
	case REXEC__V1__FRAME__MSG_PONG:
	case REXEC__V1__FRAME__MSG_GO_AWAY:
		control = 1;
		break;
	case REXEC__V1__FRAME__MSG_ERROR:
		control = -1; /* on stream 0 for the connection, else for that stream */
		break;
	case REXEC__V1__FRAME__MSG__NOT_SET:
		return *why = "frame without a message", REXEC_EPROTO;
	default:
		control = 0;
		break;
	}
	if (control == 1 && f->stream != 0)
		return *why = "control message on a session stream", REXEC_EPROTO;
	if (control == 0 && f->stream == 0)
		return *why = "session message on stream 0", REXEC_EPROTO;

	switch (f->msg_case) {
	case REXEC__V1__FRAME__MSG_HELLO:
		if (!valid_name(f->hello->software, WIRE_NAME_MAX) || f->hello->n_features > 64)
			return *why = "hello: oversized", REXEC_EPROTO;
		if (f->hello->initial_window > WIRE_WINDOW_MAX)
			return *why = "hello: initial_window over the cap", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_OPEN:
		return validate_open(f->open, why);
	case REXEC__V1__FRAME__MSG_DATA:
		if (!valid_fd(f->data->fd))
			return *why = "data: unknown fd", REXEC_EPROTO;
		if (f->data->bytes.len > WIRE_DATA_MAX)
			return *why = "data: chunk over the limit", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_EOF:
		if (!valid_fd(f->eof->fd))
			return *why = "eof: unknown fd", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_RESIZE:
		if (!valid_size(f->resize->size))
			return *why = "resize: size missing or out of range", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_SIGNAL:
		if (!valid_name(f->signal->name, 16) || f->signal->name[0] == 0)
			return *why = "signal: bad name", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_EXIT:
		if (!valid_name(f->exit->signal, 16) || !valid_name(f->exit->reason, WIRE_TEXT_MAX))
			return *why = "exit: oversized", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_ERROR:
		if (!valid_name(f->error->message, WIRE_TEXT_MAX))
			return *why = "error: oversized", REXEC_EPROTO;
		return 0;
	case REXEC__V1__FRAME__MSG_GO_AWAY:
		if (!valid_name(f->go_away->reason, WIRE_TEXT_MAX))
			return *why = "goaway: oversized", REXEC_EPROTO;
		return 0;
	default:
		return 0;
	}
}
