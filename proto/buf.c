/* buf.c: the growable byte buffer behind TLS input, ciphertext output and frame decoding. */
#include "proto/buf.h"

#include <errno.h>
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
