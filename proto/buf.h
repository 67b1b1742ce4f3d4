/* buf.h: a growable byte buffer with a consumed prefix: bytes are appended at the end and
 * taken from the front without moving the rest each time. Caller allocates; zero-initialised
 * is empty. */
#ifndef REXEC_BUF_H
#define REXEC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t off; /* bytes before this are consumed */
	size_t len; /* bytes up to this are valid */
	size_t cap;
};

/* The unconsumed bytes and how many there are. Borrowed until the next append. */
static inline uint8_t *buf_peek(const struct buf *b)
{
	return b->data + b->off;
}

static inline size_t buf_size(const struct buf *b)
{
	return b->len - b->off;
}

/* Appends N bytes (moving the unconsumed ones to the front when the end has no room, growing
 * by doubling). Returns 0 or -ENOMEM (then nothing was appended). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Room for N bytes at the end, to be filled in place (a read, a frame packed there) and then
 * added with buf_commit(); NULL when out of memory. Valid until the next change to B. */
uint8_t *buf_reserve(struct buf *b, size_t n);

/* Adds N bytes written at buf_reserve()'s pointer (at most what was reserved). */
void buf_commit(struct buf *b, size_t n);

/* Drops N unconsumed bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* Frees the memory; B is empty afterwards. */
void buf_free(struct buf *b);

/* Appends the printf-formatted text at *AT in the fixed text buffer OUT (LEN bytes), always
 * NUL-terminated, cut at the end: *AT advances by the text's length but never past LEN, so
 * *AT == LEN afterwards means the text was cut and later calls append nothing. For messages
 * built from several parts on the stack; no allocation. */
__attribute__((format(printf, 4, 5))) void buf_appendf(char *out, size_t len, size_t *at,
						       const char *fmt, ...);

#endif
