/* wq.c: a write queue for a libuv stream, one write in flight (wq.h). */
#include "proto/wq.h"

void wq_init(struct wq *wq, wq_done_cb done, void *arg)
{
	*wq = (struct wq){ .done = done, .arg = arg };
}

static void on_written(uv_write_t *req, int status)
{
	struct wq *wq = req->data;
	size_t n = buf_size(&wq->w);

	wq->writing = 0;
	buf_consume(&wq->w, n);
	wq->done(wq, n, status);
}

int wq_flush(struct wq *wq, uv_stream_t *dst)
{
	struct buf t;
	uv_buf_t b;
	int ret;

	if (wq->writing || buf_size(&wq->q) == 0)
		return 0;
	t = wq->w; /* empty: no write in flight */
	wq->w = wq->q;
	wq->q = t;
	b = uv_buf_init((char *)buf_peek(&wq->w), (unsigned int)buf_size(&wq->w));
	wq->writing = 1;
	wq->req.data = wq;
	if ((ret = uv_write(&wq->req, dst, &b, 1, on_written)) < 0) {
		wq->writing = 0;
		buf_consume(&wq->w, buf_size(&wq->w));
	}
	return ret;
}

void wq_free(struct wq *wq)
{
	buf_free(&wq->q);
	buf_free(&wq->w);
}
