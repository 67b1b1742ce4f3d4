/* buf.c: the growable byte buffer behind TLS input, ciphertext output and frame decoding. */
#include "proto/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 16384

int buf_append(struct buf *b, const void *p, size_t n)
{
	size_t need;

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
			return -ENOMEM;
		b->data = nb;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
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
