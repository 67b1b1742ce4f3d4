/* wq.h: bytes for a libuv stream, written with one write in flight at a time. What is queued
 * while a write is in flight fills a second buffer, which leaves whole when that write is done,
 * together with whatever else came meanwhile (as ssh's packet layer writes its output buffer):
 * a burst of small pieces is one write, and the two buffers live as long as the queue, so no
 * allocation per write. A connection's ciphertext (conn.c) and a session's stdin go this way. */
#ifndef REXEC_WQ_H
#define REXEC_WQ_H

#include <stddef.h>

#include <uv.h>

#include "proto/buf.h"

struct wq;

/* The N bytes of a write left the queue: written (STATUS 0) or not (a libuv error, e.g.
 * UV_EPIPE, UV_ECANCELED). What was queued behind it stays in Q. */
typedef void (*wq_done_cb)(struct wq *wq, size_t n, int status);

struct wq {
	struct buf q; /* filling: append here (buf_append, buf_reserve/buf_commit) */
	struct buf w; /* the write in flight */
	uv_write_t req;
	int writing;
	wq_done_cb done;
	void *arg; /* the owner's, for DONE */
};

/* An empty queue whose writes end in DONE. */
void wq_init(struct wq *wq, wq_done_cb done, void *arg);

/* Bytes held: queued and in flight. */
static inline size_t wq_size(const struct wq *wq)
{
	return buf_size(&wq->q) + buf_size(&wq->w);
}

/* Writes what is queued to DST, unless a write is in flight or nothing is queued. Returns 0,
 * or libuv's negative code when the write could not start: then the queued bytes are dropped
 * and DONE is not called for them. */
int wq_flush(struct wq *wq, uv_stream_t *dst);

/* Frees both buffers. Not while a write is in flight (close the stream first: its callback
 * comes with UV_ECANCELED). */
void wq_free(struct wq *wq);

#endif
