/* wire.h: frames on the byte stream: a 4-byte big-endian length, then one protobuf Frame.
 * The length is checked against the cap before anything is allocated, and every decoded
 * frame is validated before it is handed on. */
#ifndef REXEC_WIRE_H
#define REXEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "rexec.pb-c.h"

#define WIRE_FRAME_MAX      (256 * 1024)       /* largest frame body either end accepts */
#define WIRE_DATA_MAX       (32 * 1024)        /* largest Data payload a sender puts in one frame */
#define WIRE_WINDOW_DEFAULT (1024 * 1024)      /* per-stream, per-direction credit window */
#define WIRE_WINDOW_MAX     (64 * 1024 * 1024) /* largest window either end may grant */
/* A receiver holds Credit back until it has consumed this much of the window W it granted,
 * as ssh sends its window adjust once half the window is used (channels.c): one Credit frame
 * and TLS record per quarter window instead of one per write, and the sender, with at least
 * three quarters still open, never waits for it. */
#define WIRE_CREDIT_BATCH(w) ((w) / 4)
#define WIRE_ARGV_MAX        4096
#define WIRE_ARG_MAX         (128 * 1024)
#define WIRE_NAME_MAX        256  /* user, workdir-less names, signal names, TERM */
#define WIRE_TEXT_MAX        4096 /* Error messages, Exit reasons */

typedef Rexec__V1__Frame wire_frame;

/* Packs F (length prefix included) into BUF, which holds WIRE_FRAME_MAX + 4 bytes; *LEN is
 * set to the packed size. Returns 0 or REXEC_EFRAME_TOO_BIG. */
int wire_pack(const wire_frame *f, uint8_t *buf, size_t *len);

/* Packs F (length prefix included) at the end of B, sizing it once. Returns 0,
 * REXEC_EFRAME_TOO_BIG or -ENOMEM (then B is as it was). */
int wire_pack_into(const wire_frame *f, struct buf *b);

/* Incremental decoder: bytes in, validated frames out. Caller allocates; init/close.
 * Decoded frames live in an arena reused for every frame (no allocation per frame: musl's
 * allocator returns large blocks to the kernel at once, and the TLB shootdowns of those
 * munmap calls dominated the cost of a stream). */
struct wire_decoder {
	struct buf in; /* plaintext not yet decoded */
	uint8_t *arena;
	size_t arena_used;
	ProtobufCAllocator alloc;
};

void wire_decoder_init(struct wire_decoder *d);
void wire_decoder_close(struct wire_decoder *d);

/* Appends N bytes. Returns 0, -ENOMEM, or REXEC_EFRAME_TOO_BIG as soon as a frame header
 * announces more than WIRE_FRAME_MAX (before the body is buffered). */
int wire_decoder_feed(struct wire_decoder *d, const void *p, size_t n);

/* The same without a copy: room for N bytes at the end of the decoder's input (NULL when out
 * of memory), then wire_decoder_fed() with how many were written there, which checks as
 * wire_decoder_feed() does. */
uint8_t *wire_decoder_room(struct wire_decoder *d, size_t n);
int wire_decoder_fed(struct wire_decoder *d, size_t n);

/* Takes the next complete frame: 1 with *OUT set (release it with wire_decoder_release()
 * before the next call), 0 when more
 * bytes are needed, or a negative code (REXEC_EPROTOBUF, REXEC_EPROTO) for a bad frame;
 * after an error the stream is out of sync and the connection must end. */
int wire_decoder_next(struct wire_decoder *d, wire_frame **out);

void wire_decoder_release(struct wire_decoder *d, wire_frame *f);

/* Checks F against the contract (message present, stream 0 for control messages and non-zero
 * for session ones, enums known, sizes within the caps above). Returns 0 or REXEC_EPROTO, with
 * a short reason in *WHY (static storage). */
int wire_validate(const wire_frame *f, const char **why);

#endif
