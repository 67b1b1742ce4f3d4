/* buf.c: the growable byte buffer behind TLS input, ciphertext output and frame decoding, and
 * the appending of formatted text into a fixed buffer. */
#include "proto/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 16384

uint8_t *buf_reserve(struct buf *b, size_t n)
{
	size_t need;

	if (b->len + n <= b->cap)
		return b->data + b->len;
	/* Out of room at the end: move the unconsumed bytes to the front first (only now, not
	 * at every append: a partial frame or record would be moved again and again), then grow
	 * by doubling. */
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	need = b->len + n;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
		uint8_t *nb;
		while (cap < need)
			cap *= 2;
		nb = realloc(b->data, cap);
		if (nb == NULL)
			return NULL;
		b->data = nb;
		b->cap = cap;
	}
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	uint8_t *at = buf_reserve(b, n);

	if (at == NULL)
		return -ENOMEM;
	memcpy(at, p, n);
	b->len += n;
	return 0;
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* vsnprintf() into the rest, as OpenSSH's xextendf() and tmux's xvasprintf() do, but into a
 * caller's fixed buffer: the messages built here have a known bound and must not fail. */
void buf_appendf(char *out, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(out + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n < 0) {
		out[*at] = 0; /* an encoding error leaves the rest undefined: end the text here */
		return;
	}
	*at = (size_t)n < len - *at ? *at + (size_t)n : len;
}
