/* ctcache.c: the engine's event stream on the loop, and the answers it keeps valid. */
#include "agent/ctcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"

#define SLOTS     32
#define HEAD_MAX  4096
#define RETRY_MS  2000
#define READ_SIZE 4096

/* The events that change which container a request names, or its init: not exec_*, attach,
 * resize or health_status, which come with every session or every few seconds. podman 4.3
 * filters by its own names ("died", "remove") and reports dockerd's ("die", "destroy"): both
 * are asked for, and dockerd does not check the values of a filter. */
#define EVENT_FILTER                                                                     \
	"{\"type\":[\"container\"],\"event\":[\"create\",\"start\",\"restart\",\"die\"," \
	"\"died\",\"destroy\",\"remove\",\"rename\",\"pause\",\"unpause\",\"update\"]}"

struct slot {
	char key[CTCACHE_KEY_MAX];
	cJSON *inspect;
	unsigned long long start;
	unsigned long gen;
	unsigned long used; /* the least recently used slot is reused */
};

struct ctcache {
	uv_loop_t *loop;
	struct engine engine;
	/* Loop side. */
	uv_pipe_t pipe;
	uv_connect_t connect;
	uv_write_t write;
	uv_timer_t retry;
	char request[1024];
	char head[HEAD_MAX]; /* the response head, until it is complete */
	size_t nhead;
	char rbuf[READ_SIZE];
	int pipe_open, streaming, closing, handles;
	/* Shared, under lock. */
	uv_mutex_t lock;
	unsigned long gen; /* bumped by every event and every change of the stream */
	int live;          /* the stream is up: answers may be kept */
	unsigned long tick;
	struct slot slots[SLOTS];
};

/* Everything kept so far is stale; LIVE says whether new answers may be kept. */
static void bump(struct ctcache *c, int live)
{
	uv_mutex_lock(&c->lock);
	c->gen++;
	c->live = live;
	uv_mutex_unlock(&c->lock);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ctcache *c = h->data;

	if (h == (uv_handle_t *)&c->pipe)
		c->pipe_open = 0;
	c->handles--;
}

static void start_watch(struct ctcache *c);

static void on_retry(uv_timer_t *t)
{
	start_watch(t->data);
}

/* The stream is gone (or never came): nothing is kept until it is back. */
static void lost(struct ctcache *c, const char *why)
{
	if (c->streaming)
		log_info("engine events: %s: each session looks its container up until the "
			 "stream is back",
			 why);
	else
		log_debug("engine events: %s", why);
	c->streaming = 0;
	bump(c, 0);
	if (c->pipe_open && !uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
	if (!c->closing)
		uv_timer_start(&c->retry, on_retry, RETRY_MS, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct ctcache *c = h->data;

	(void)hint;
	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/* Until the head is complete: its status decides whether this is an event stream. */
static void read_head(struct ctcache *c, const char *p, size_t n)
{
	int status = 0;

	if (n > sizeof(c->head) - 1 - c->nhead) {
		lost(c, "response head too long");
		return;
	}
	memcpy(c->head + c->nhead, p, n);
	c->nhead += n;
	c->head[c->nhead] = 0;
	if (strstr(c->head, "\r\n\r\n") == NULL)
		return;
	if (sscanf(c->head, "HTTP/%*s %d", &status) != 1 || status != 200) {
		lost(c, status ? "the engine refused GET /events" : "not an HTTP response");
		return;
	}
	c->streaming = 1;
	log_debug("engine events: watching");
	/* Answers found before now may predate an event we never saw; one that came with the
	 * head is older than any answer begun from here. */
	bump(c, 1);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct ctcache *c = st->data;

	if (n < 0) {
		lost(c, n == UV_EOF ? "the engine closed the stream" : uv_strerror((int)n));
		return;
	}
	if (n == 0)
		return;
	if (!c->streaming)
		read_head(c, buf->base, (size_t)n);
	else
		bump(c, 1); /* an event (or part of one): which, does not matter */
}

static void on_written(uv_write_t *w, int status)
{
	struct ctcache *c = w->data;

	if (status < 0 && !c->closing)
		lost(c, uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
	struct ctcache *c = req->data;
	uv_buf_t b = uv_buf_init(c->request, (unsigned)strlen(c->request));
	int ret;

	if (c->closing)
		return;
	if (status < 0) {
		lost(c, uv_strerror(status));
		return;
	}
	c->write.data = c;
	if ((ret = uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, on_written)) < 0 ||
	    (ret = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read)) < 0)
		lost(c, uv_strerror(ret));
}

static void start_watch(struct ctcache *c)
{
	if (c->closing || c->pipe_open)
		return;
	c->nhead = 0;
	c->streaming = 0;
	uv_pipe_init(c->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->pipe_open = 1;
	c->handles++;
	/* It does not keep the agent running once everything else has ended. */
	uv_unref((uv_handle_t *)&c->pipe);
	c->connect.data = c;
	uv_pipe_connect(&c->connect, &c->pipe, c->engine.socket, on_connect);
}

struct ctcache *ctcache_new(uv_loop_t *loop, const struct engine *e)
{
	struct ctcache *c = calloc(1, sizeof(*c));
	char filter[512];

	if (c == NULL || uv_mutex_init(&c->lock) < 0) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->engine = *e;
	c->gen = 1;
	snprintf(c->request, sizeof(c->request),
		 "GET /" ENGINE_API_VERSION "/events?filters=%s HTTP/1.1\r\nHost: docker\r\n\r\n",
		 engine_query_escape(EVENT_FILTER, filter, sizeof(filter)));
	uv_timer_init(loop, &c->retry);
	c->retry.data = c;
	c->handles = 1;
	uv_unref((uv_handle_t *)&c->retry);
	start_watch(c);
	return c;
}

void ctcache_close(struct ctcache *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	bump(c, 0);
	uv_close((uv_handle_t *)&c->retry, on_handle_closed);
	if (c->pipe_open && !uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
}

void ctcache_free(struct ctcache *c)
{
	int i;

	/* Handles still open (a loop that never ran them down) would outlive it: leave it. */
	if (c == NULL || c->handles > 0)
		return;
	for (i = 0; i < SLOTS; i++)
		cJSON_Delete(c->slots[i].inspect);
	uv_mutex_destroy(&c->lock);
	free(c);
}

unsigned long ctcache_begin(struct ctcache *c)
{
	unsigned long gen;

	uv_mutex_lock(&c->lock);
	gen = c->live ? c->gen : 0;
	uv_mutex_unlock(&c->lock);
	return gen;
}

cJSON *ctcache_get(struct ctcache *c, const char *key, unsigned long long *start)
{
	cJSON *copy = NULL;
	int i;

	uv_mutex_lock(&c->lock);
	for (i = 0; c->live && i < SLOTS; i++) {
		struct slot *s = &c->slots[i];

		if (s->inspect != NULL && s->gen == c->gen && strcmp(s->key, key) == 0) {
			copy = cJSON_Duplicate(s->inspect, 1);
			*start = s->start;
			s->used = ++c->tick;
			break;
		}
	}
	uv_mutex_unlock(&c->lock);
	return copy;
}

/* Which slot a new answer takes: the lowest rank. */
static unsigned long rank(const struct ctcache *c, const struct slot *s)
{
	if (s->inspect == NULL)
		return 0;
	return s->gen != c->gen ? 1 : 1 + s->used;
}

void ctcache_put(struct ctcache *c, unsigned long gen, const char *key, const cJSON *inspect,
		 unsigned long long start)
{
	struct slot *s = NULL;
	cJSON *copy;
	int i;

	if (gen == 0 || strlen(key) >= CTCACHE_KEY_MAX ||
	    (copy = cJSON_Duplicate(inspect, 1)) == NULL)
		return;
	uv_mutex_lock(&c->lock);
	if (!c->live || gen != c->gen) {
		uv_mutex_unlock(&c->lock);
		cJSON_Delete(copy);
		return;
	}
	/* Its own slot, else an empty one, else a stale one, else the least recently used. */
	for (i = 0; i < SLOTS; i++) {
		struct slot *t = &c->slots[i];

		if (t->inspect != NULL && strcmp(t->key, key) == 0) {
			s = t;
			break;
		}
		if (s == NULL || rank(c, t) < rank(c, s))
			s = t;
	}
	cJSON_Delete(s->inspect);
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->inspect = copy;
	s->start = start;
	s->gen = gen;
	s->used = ++c->tick;
	uv_mutex_unlock(&c->lock);
}

void ctcache_forget(struct ctcache *c, const char *key)
{
	int i;

	uv_mutex_lock(&c->lock);
	for (i = 0; i < SLOTS; i++) {
		if (c->slots[i].inspect != NULL && strcmp(c->slots[i].key, key) == 0) {
			cJSON_Delete(c->slots[i].inspect);
			c->slots[i].inspect = NULL;
		}
	}
	uv_mutex_unlock(&c->lock);
}
