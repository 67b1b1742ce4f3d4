/* fleet_out.c: formatting and writing of a fan-out run's output. */
#include "client/fleet_out.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/strvis.h"

#define NAME_WIDTH_MAX 40 /* host | line prefixes are padded to at most this */
#define LIST_MAX       20 /* host names listed per line of the summary */

/* stdout or stderr: a pipe written through libuv, or a terminal or file written directly. */
struct sink {
	int fd;
	int tty;
	int piped;
	uv_pipe_t pipe;
};

struct fleet_out {
	uv_loop_t *loop;
	enum fleet_fmt fmt;
	int width;
	int colour;
	const char *target;
	struct sink sink[2];
	int progress_shown;
	char progress[160];
};

/* A write to a pipe that could not complete at once; the credit goes back when it does. */
struct pending {
	uv_write_t req;
	fleet_credit_fn credit;
	void *arg;
	size_t n_credit;
	char data[];
};

/* A growable text buffer for one piece of output; on allocation failure it stays short. */
struct text {
	char *p;
	size_t len, cap;
	int oom;
};

static void text_add(struct text *t, const void *p, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *np;
		while (cap < t->len + n + 1)
			cap *= 2;
		if ((np = realloc(t->p, cap)) == NULL) {
			t->oom = 1;
			return;
		}
		t->p = np;
		t->cap = cap;
	}
	if (n > 0) /* P may be NULL then (an empty carry buffer) */
		memcpy(t->p + t->len, p, n);
	t->len += n;
	t->p[t->len] = 0;
}

static void text_puts(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(struct text *t, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		text_add(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

const char *fleet_result_name(enum fleet_result res)
{
	static const char *const names[] = { "pending",     "ok",      "failed",  "timeout",
					     "unreachable", "skipped", "not_run", "cancelled" };
	return res < sizeof(names) / sizeof(names[0]) ? names[res] : "?";
}

void fleet_record_clear(struct fleet_record *r)
{
	int i;

	for (i = 0; i < 2; i++) {
		free(r->cap[i].p);
		memset(&r->cap[i], 0, sizeof(r->cap[i]));
	}
	free(r->error);
	r->error = NULL;
}

/* ---- sinks ---- */

static void sink_init(struct fleet_out *o, struct sink *s, int fd)
{
	uv_handle_type t = uv_guess_handle(fd);

	s->fd = fd;
	s->tty = isatty(fd);
	s->piped = 0;
	if (t == UV_NAMED_PIPE || t == UV_TCP) {
		uv_pipe_init(o->loop, &s->pipe, 0);
		if (uv_pipe_open(&s->pipe, fd) == 0)
			s->piped = 1;
		else
			uv_close((uv_handle_t *)&s->pipe, NULL);
	}
}

/* A blocking write of everything, waiting out a non-blocking fd (a terminal we share). */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 1000);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return; /* the reader is gone: nothing more to do with this output */
		p += r;
		n -= (size_t)r;
	}
}

static void on_pending_written(uv_write_t *req, int status)
{
	struct pending *w = (struct pending *)req;

	(void)status; /* written, or the reader is gone: either way, keep the remotes going */
	if (w->credit)
		w->credit(w->arg, w->n_credit);
	free(w);
}

/* Writes P (N bytes) to sink FD; CREDIT(ARG, N_CREDIT) once it is out. */
static void put(struct fleet_out *o, int fd, const char *p, size_t n, fleet_credit_fn credit,
		void *arg, size_t n_credit)
{
	struct sink *s = &o->sink[fd];
	struct pending *w;
	uv_buf_t b;
	int done;

	if (s->tty)
		fleet_out_clear_progress(o);
	if (!s->piped) {
		write_all(s->fd, p, n);
		goto credit;
	}
	b = uv_buf_init((char *)p, (unsigned int)n);
	done = n ? uv_try_write((uv_stream_t *)&s->pipe, &b, 1) : 0;
	if (done < 0 && done != UV_EAGAIN)
		goto credit; /* the reader is gone */
	if (done > 0) {
		p += done;
		n -= (size_t)done;
	}
	if (n == 0)
		goto credit;
	w = malloc(sizeof(*w) + n);
	if (w == NULL) {
		write_all(s->fd, p, n);
		goto credit;
	}
	w->credit = credit;
	w->arg = arg;
	w->n_credit = n_credit;
	memcpy(w->data, p, n);
	b = uv_buf_init(w->data, (unsigned int)n);
	if (uv_write(&w->req, (uv_stream_t *)&s->pipe, &b, 1, on_pending_written) == 0)
		return;
	free(w);
credit:
	if (credit)
		credit(arg, n_credit);
}

static void put_text(struct fleet_out *o, int fd, struct text *t)
{
	if (t->len)
		put(o, fd, t->p, t->len, NULL, NULL, 0);
	free(t->p);
	memset(t, 0, sizeof(*t));
}

struct fleet_out *fleet_out_new(uv_loop_t *loop, enum fleet_fmt fmt, size_t name_width,
				const char *target)
{
	struct fleet_out *o = calloc(1, sizeof(*o));
	const char *nc = getenv("NO_COLOR");

	if (o == NULL)
		return NULL;
	o->loop = loop;
	o->fmt = fmt;
	o->width = (int)(name_width > NAME_WIDTH_MAX ? NAME_WIDTH_MAX : name_width);
	o->target = target;
	sink_init(o, &o->sink[0], STDOUT_FILENO);
	sink_init(o, &o->sink[1], STDERR_FILENO);
	o->colour = nc == NULL || nc[0] == 0;
	return o;
}

void fleet_out_close(struct fleet_out *o)
{
	int i;

	fleet_out_clear_progress(o);
	for (i = 0; i < 2; i++)
		if (o->sink[i].piped && !uv_is_closing((uv_handle_t *)&o->sink[i].pipe))
			uv_close((uv_handle_t *)&o->sink[i].pipe, NULL);
}

void fleet_out_free(struct fleet_out *o)
{
	free(o);
}

/* ---- host | line ---- */

/* "NAME | " before a line of output; NAME escaped (strvis.h), the output itself never. */
static void add_prefix(struct fleet_out *o, struct text *t, const char *name, int fd)
{
	char vis[256];

	strvis(vis, sizeof(vis), name);
	if (o->colour && o->sink[fd].tty)
		text_printf(t, "\033[%sm%-*s\033[0m | ", fd ? "31" : "36", o->width, vis);
	else
		text_printf(t, "%-*s | ", o->width, vis);
}

/* Adds "name | " LINE "\n" for each complete line of P, keeping an unfinished one in CAP. */
static void format_lines(struct fleet_out *o, struct fleet_record *r, int fd, const uint8_t *p,
			 size_t n, struct text *t)
{
	struct fleet_capture *c = &r->cap[fd];
	const uint8_t *nl;

	while (n > 0) {
		size_t len, room = FLEET_LINE_MAX - c->len;
		nl = memchr(p, '\n', n);
		len = nl ? (size_t)(nl - p) : n;
		if (nl == NULL && len < room) {
			/* An unfinished line: keep it until its end comes. */
			if (c->cap < FLEET_LINE_MAX) {
				uint8_t *np = realloc(c->p, FLEET_LINE_MAX);
				if (np == NULL)
					return;
				c->p = np;
				c->cap = FLEET_LINE_MAX;
			}
			memcpy(c->p + c->len, p, len);
			c->len += len;
			return;
		}
		if (len > room)
			len = room; /* too long a line: show this much of it as one */
		add_prefix(o, t, r->name, fd);
		text_add(t, c->p, c->len);
		text_add(t, p, len);
		text_puts(t, "\n");
		c->len = 0;
		if (nl != NULL && len == (size_t)(nl - p))
			len++; /* the newline itself */
		p += len;
		n -= len;
	}
}

static void capture(struct fleet_capture *c, const uint8_t *p, size_t n)
{
	if (c->len + n > FLEET_CAPTURE_MAX) {
		c->truncated = 1;
		n = FLEET_CAPTURE_MAX - c->len;
	}
	if (n == 0)
		return;
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		uint8_t *np;
		while (cap < c->len + n)
			cap *= 2;
		if (cap > FLEET_CAPTURE_MAX)
			cap = FLEET_CAPTURE_MAX;
		if ((np = realloc(c->p, cap)) == NULL) {
			c->truncated = 1;
			return;
		}
		c->p = np;
		c->cap = cap;
	}
	memcpy(c->p + c->len, p, n);
	c->len += n;
}

void fleet_out_data(struct fleet_out *o, struct fleet_record *r, int fd, const uint8_t *p, size_t n,
		    fleet_credit_fn credit, void *arg)
{
	struct text t = { 0 };

	if (o->fmt != FLEET_FMT_LINES) {
		capture(&r->cap[fd], p, n);
		credit(arg, n);
		return;
	}
	format_lines(o, r, fd, p, n, &t);
	put(o, fd, t.p, t.len, credit, arg, n);
	free(t.p);
}

/* ---- per host results ---- */

/* "exit 3", "killed by signal TERM", or the error: what happened to R, in a few words (the
 * error escaped: its text may come from the agent, the engine or a container). */
static void describe(const struct fleet_record *r, char *buf, size_t len)
{
	if (r->error != NULL)
		strvis(buf, len, r->error);
	else if (r->signal[0])
		snprintf(buf, len, "killed by signal %s", r->signal);
	else if (r->exit_code >= 0)
		snprintf(buf, len, "exit %d", r->exit_code);
	else
		snprintf(buf, len, "%s", fleet_result_name(r->result));
}

static int valid_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;

	while (i < n) {
		uint8_t c = p[i];
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			need = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			need = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			need = 3, cp = c & 0x07;
		else
			return 0;
		if (i + need >= n)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void json_string(struct text *t, const char *s, size_t n)
{
	size_t i;

	text_puts(t, "\"");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			text_puts(t, "\\");
			text_add(t, &s[i], 1);
		} else if (c == '\n') {
			text_puts(t, "\\n");
		} else if (c == '\t') {
			text_puts(t, "\\t");
		} else if (c == '\r') {
			text_puts(t, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			text_printf(t, "\\u%04x", c);
		} else {
			text_add(t, &s[i], 1);
		}
	}
	text_puts(t, "\"");
}

static void base64(struct text *t, const uint8_t *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	text_puts(t, "\"");
	for (i = 0; i + 2 < n; i += 3) {
		char q[4] = { tab[p[i] >> 2], tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			      tab[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)], tab[p[i + 2] & 63] };
		text_add(t, q, 4);
	}
	if (n - i == 1) {
		char q[4] = { tab[p[i] >> 2], tab[(p[i] & 3) << 4], '=', '=' };
		text_add(t, q, 4);
	} else if (n - i == 2) {
		char q[4] = { tab[p[i] >> 2], tab[((p[i] & 3) << 4) | (p[i + 1] >> 4)],
			      tab[(p[i + 1] & 15) << 2], '=' };
		text_add(t, q, 4);
	}
	text_puts(t, "\"");
}

/* "stdout": "text" when it is UTF-8, else "stdout": null, "stdout_base64": "...". */
static void json_output(struct text *t, const char *key, const struct fleet_capture *c)
{
	const uint8_t *p = c->p ? c->p : (const uint8_t *)"";

	if (valid_utf8(p, c->len)) {
		text_printf(t, ", \"%s\": ", key);
		json_string(t, (const char *)p, c->len);
	} else {
		text_printf(t, ", \"%s\": null, \"%s_base64\": ", key, key);
		base64(t, p, c->len);
	}
	if (c->truncated)
		text_printf(t, ", \"%s_truncated\": true", key);
}

static void json_record(struct fleet_out *o, const struct fleet_record *r, struct text *t)
{
	text_puts(t, "{\"host\": ");
	json_string(t, r->name, strlen(r->name));
	text_puts(t, ", \"address\": ");
	json_string(t, r->address, strlen(r->address));
	text_puts(t, ", \"target\": ");
	json_string(t, o->target, strlen(o->target));
	text_printf(t, ", \"status\": \"%s\"", fleet_result_name(r->result));
	if (r->exit_code >= 0)
		text_printf(t, ", \"exit_code\": %d", r->exit_code);
	else
		text_puts(t, ", \"exit_code\": null");
	if (r->signal[0])
		text_printf(t, ", \"signal\": \"%s\"", r->signal);
	else
		text_puts(t, ", \"signal\": null");
	if (r->error) {
		text_puts(t, ", \"error\": ");
		json_string(t, r->error, strlen(r->error));
	} else {
		text_puts(t, ", \"error\": null");
	}
	json_output(t, "stdout", &r->cap[0]);
	json_output(t, "stderr", &r->cap[1]);
	text_printf(t, ", \"duration_ms\": %llu}\n",
		    (unsigned long long)(r->end_ms >= r->start_ms && r->start_ms
						 ? r->end_ms - r->start_ms
						 : 0));
}

void fleet_out_host_done(struct fleet_out *o, struct fleet_record *r)
{
	struct text t = { 0 };
	char what[512], name[256];
	int fd;

	if (o->fmt == FLEET_FMT_JSON) {
		json_record(o, r, &t);
		put_text(o, 0, &t);
		return;
	}
	if (o->fmt != FLEET_FMT_LINES)
		return;
	/* Unfinished last lines first, then what happened when it was not plain success. */
	for (fd = 0; fd < 2; fd++) {
		if (r->cap[fd].len == 0)
			continue;
		add_prefix(o, &t, r->name, fd);
		text_add(&t, r->cap[fd].p, r->cap[fd].len);
		text_puts(&t, "\n");
		r->cap[fd].len = 0;
		put_text(o, fd, &t);
	}
	if (r->result == FLEET_OK || r->result == FLEET_NOT_RUN)
		return;
	describe(r, what, sizeof(what));
	strvis(name, sizeof(name), r->name);
	text_printf(&t, "rexec: %s: %s%s\n", name, r->result == FLEET_SKIPPED ? "skipped: " : "",
		    what);
	put_text(o, 1, &t);
}

/* ---- progress, status, summary ---- */

void fleet_out_clear_progress(struct fleet_out *o)
{
	if (!o->progress_shown)
		return;
	write_all(STDERR_FILENO, "\r\033[K", 4);
	o->progress_shown = 0;
}

void fleet_out_progress(struct fleet_out *o, const struct fleet_counts *c)
{
	char line[160];
	int n;

	if (!o->sink[1].tty)
		return;
	n = snprintf(line, sizeof(line),
		     "\r\033[Krexec: %zu/%zu done, %zu running, %zu queued, %zu failed", c->done,
		     c->total, c->running, c->queued, c->failed);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if (o->progress_shown && strcmp(line, o->progress) == 0)
		return;
	write_all(STDERR_FILENO, line, (size_t)n);
	memcpy(o->progress, line, (size_t)n + 1);
	o->progress_shown = 1;
}

/* Appends "LABEL (N): a, b, c and M more" for the records with result RES. */
static void list_hosts(struct text *t, const char *label, const struct fleet_record *r, size_t n,
		       enum fleet_result res, int with_reason)
{
	size_t i, count = 0, shown = 0;
	char what[256];

	for (i = 0; i < n; i++)
		count += r[i].result == res;
	if (count == 0)
		return;
	text_printf(t, "rexec: %s (%zu):", label, count);
	for (i = 0; i < n && shown < LIST_MAX; i++) {
		if (r[i].result != res)
			continue;
		text_printf(t, "%s %s", shown ? "," : "", r[i].name);
		if (with_reason) {
			describe(&r[i], what, sizeof(what));
			text_printf(t, " (%s)", what);
		}
		shown++;
	}
	if (count > shown)
		text_printf(t, " and %zu more", count - shown);
	text_puts(t, "\n");
}

void fleet_out_status(struct fleet_out *o, const struct fleet_record *r, size_t n, uint64_t now_ms)
{
	struct text t = { 0 };
	size_t i, running = 0, queued = 0, shown = 0;

	for (i = 0; i < n; i++) {
		running += r[i].running;
		queued += r[i].result == FLEET_PENDING && !r[i].running;
	}
	text_printf(&t, "rexec: status (^C again within a second cancels everything):\n");
	if (running) {
		text_printf(&t, "rexec: running (%zu):", running);
		for (i = 0; i < n && shown < LIST_MAX; i++)
			if (r[i].running) {
				text_printf(&t, "%s %s (%.1fs)", shown ? "," : "", r[i].name,
					    (double)(now_ms - r[i].start_ms) / 1000.0);
				shown++;
			}
		if (running > shown)
			text_printf(&t, " and %zu more", running - shown);
		text_puts(&t, "\n");
	}
	if (queued)
		text_printf(&t, "rexec: queued: %zu\n", queued);
	list_hosts(&t, "ok", r, n, FLEET_OK, 0);
	list_hosts(&t, "failed", r, n, FLEET_FAILED, 1);
	list_hosts(&t, "timed out", r, n, FLEET_TIMEOUT, 0);
	list_hosts(&t, "unreachable", r, n, FLEET_UNREACHABLE, 1);
	list_hosts(&t, "skipped", r, n, FLEET_SKIPPED, 0);
	put_text(o, 1, &t);
}

static int same_output(const struct fleet_record *a, const struct fleet_record *b)
{
	char da[512], db[512];
	int fd;

	if (a->result != b->result)
		return 0;
	describe(a, da, sizeof(da));
	describe(b, db, sizeof(db));
	if (strcmp(da, db) != 0)
		return 0;
	for (fd = 0; fd < 2; fd++)
		if (a->cap[fd].len != b->cap[fd].len ||
		    (a->cap[fd].len && memcmp(a->cap[fd].p, b->cap[fd].p, a->cap[fd].len) != 0))
			return 0;
	return 1;
}

/* --group: one block per distinct (result, stdout, stderr), hosts in selection order. */
static void print_groups(struct fleet_out *o, const struct fleet_record *r, size_t n)
{
	unsigned char *done = calloc(n + 1, 1);
	struct text t = { 0 };
	char what[512];
	size_t i, j, count;
	int fd;

	if (done == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (done[i] || r[i].result == FLEET_NOT_RUN)
			continue;
		count = 0;
		for (j = i; j < n; j++)
			if (!done[j] && same_output(&r[i], &r[j]))
				count++;
		text_printf(&t, "----------------\n");
		for (j = i, count = 0; j < n; j++) {
			if (done[j] || !same_output(&r[i], &r[j]))
				continue;
			done[j] = 1;
			text_printf(&t, "%s%s", count++ ? "," : "", r[j].name);
		}
		describe(&r[i], what, sizeof(what));
		text_printf(&t, " (%zu %s): %s\n----------------\n", count,
			    count == 1 ? "host" : "hosts", what);
		put_text(o, 0, &t);
		for (fd = 0; fd < 2; fd++) {
			if (r[i].cap[fd].len == 0)
				continue;
			put(o, fd, (const char *)r[i].cap[fd].p, r[i].cap[fd].len, NULL, NULL, 0);
			if (r[i].cap[fd].p[r[i].cap[fd].len - 1] != '\n')
				put(o, fd, "\n", 1, NULL, NULL, 0);
			if (r[i].cap[fd].truncated)
				text_printf(&t, "rexec: (output truncated at %d bytes)\n",
					    FLEET_CAPTURE_MAX);
			put_text(o, fd, &t);
		}
	}
	free(done);
}

void fleet_out_finish(struct fleet_out *o, const struct fleet_record *r, size_t n)
{
	struct text t = { 0 };
	size_t i, c[FLEET_CANCELLED + 1] = { 0 };

	fleet_out_clear_progress(o);
	if (o->fmt == FLEET_FMT_GROUP)
		print_groups(o, r, n);
	for (i = 0; i < n; i++)
		c[r[i].result]++;
	text_printf(&t, "rexec: %zu hosts: %zu ok", n, c[FLEET_OK]);
	if (c[FLEET_FAILED])
		text_printf(&t, ", %zu failed", c[FLEET_FAILED]);
	if (c[FLEET_TIMEOUT])
		text_printf(&t, ", %zu timed out", c[FLEET_TIMEOUT]);
	if (c[FLEET_UNREACHABLE])
		text_printf(&t, ", %zu unreachable", c[FLEET_UNREACHABLE]);
	if (c[FLEET_SKIPPED])
		text_printf(&t, ", %zu skipped", c[FLEET_SKIPPED]);
	if (c[FLEET_NOT_RUN])
		text_printf(&t, ", %zu not run", c[FLEET_NOT_RUN]);
	if (c[FLEET_CANCELLED])
		text_printf(&t, ", %zu cancelled", c[FLEET_CANCELLED]);
	text_puts(&t, "\n");
	list_hosts(&t, "failed", r, n, FLEET_FAILED, 1);
	list_hosts(&t, "timed out", r, n, FLEET_TIMEOUT, 0);
	list_hosts(&t, "unreachable", r, n, FLEET_UNREACHABLE, 0);
	list_hosts(&t, "skipped", r, n, FLEET_SKIPPED, 0);
	list_hosts(&t, "not run", r, n, FLEET_NOT_RUN, 0);
	list_hosts(&t, "cancelled", r, n, FLEET_CANCELLED, 0);
	put_text(o, 1, &t);
}
