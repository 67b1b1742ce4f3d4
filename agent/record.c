/* record.c: asciicast v2 files of TTY sessions, written off the loop thread through a bounded
 * buffer; a recording that cannot keep up or be written breaks, never its session. */
#include "agent/record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "lib/strvis.h"
#include "proto/error.h"
#include "proto/log.h"

/* Each of a recording's two buffers (being filled, being written) holds at most this much:
 * a disk that stays this far behind breaks the recording rather than grow the agent. */
#define RECORD_BUF_MAX (320 * 1024)
/* Above this much waiting while a write is under way, the session pauses its output reads
 * (record_full()): one more read (32 KiB, at most 6x that escaped) still fits under the cap. */
#define RECORD_HIGH (64 * 1024)
/* A write that has not come back in this long breaks its recording: the session reads on. */
#define RECORD_STALL_MS 5000
/* Input bytes per event at most: escaped, one slice takes at most 6x this in the buffer. */
#define RECORD_SLICE 8192
#define EVENT_HEAD   48   /* "[123456789.123456, \"o\", \"" and "\"]\n" */
#define COMMAND_MAX  4096 /* bytes of the argv the header keeps: a title, not a copy */

struct record_dir {
	int fd; /* the directory, opened once: files are made relative to it */
	char *path;
	bool input;
	uv_timer_t stall;    /* while writes are under way: finds those that do not come back */
	struct record *live; /* recordings with a file, not yet finished */
};

struct rbuf {
	char *p;
	size_t len, cap;
};

/* A UTF-8 sequence cut at the end of a chunk, held for the next one. */
struct held {
	uint8_t b[4];
	size_t n;
};

struct record {
	uv_loop_t *loop;
	struct record_dir *rd;
	char *who, *target, *user, *command, *term;
	const char *kind;
	unsigned width, height;
	char *file; /* DIR/SESSION_ID.cast once started */
	int fd;
	uint64_t start_ns;
	struct rbuf pending;  /* events not yet handed to a write */
	struct rbuf inflight; /* the write under way */
	uv_fs_t req;
	bool writing;
	bool closing;
	bool broken;
	char error[256];
	uint64_t written; /* bytes in the file, all of them whole lines */
	struct held out, in;
	record_done_cb done;
	void *done_arg;
	record_room_cb room; /* record_full() said yes: called when it would say no again */
	void *room_arg;
	bool waiting;         /* the session waits for room */
	uint64_t write_start; /* uv_now() when the write under way began */
	struct record *next;  /* in rd->live */
	bool live;
	uint8_t slice[RECORD_SLICE + sizeof(((struct held *)0)->b)];
};

int record_dir_new(struct record_dir **out, uv_loop_t *loop, const char *dir, bool input, char *err,
		   size_t errlen)
{
	struct record_dir *rd = NULL;
	struct stat st;
	int fd = -1, ret;

	*out = NULL;
	/* Made when missing, like the audit log's file; a missing parent is a typo to report. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "record: cannot create the directory %s: %s", dir,
			 strerror(errno));
		return ret;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "record: %s: %s", dir,
			 errno == ENOTDIR || errno == ELOOP
				 ? "not a directory (a symlink is not followed): give record: "
				   "{ dir: DIR } a directory of the agent's own"
				 : strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "record: %s: %s", dir, strerror(errno));
		goto fail;
	}
	/* As OpenSSH's StrictModes: someone else who may write there could remove recordings. */
	if (st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		ret = REXEC_ECONFIG;
		snprintf(err, errlen,
			 "record: %s is owned by uid %u with mode %04o: it must be the agent's "
			 "(uid %u) and not writable by group or others (chown, chmod go-w)",
			 dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			 (unsigned)geteuid());
		goto fail;
	}
	if ((rd = calloc(1, sizeof(*rd))) == NULL || (rd->path = strdup(dir)) == NULL) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rd->fd = fd;
	rd->input = input;
	uv_timer_init(loop, &rd->stall);
	rd->stall.data = rd;
	uv_unref((uv_handle_t *)&rd->stall); /* it never keeps the loop alive by itself */
	*out = rd;
	return 0;
fail:
	if (rd != NULL)
		free(rd->path);
	free(rd);
	close(fd);
	return ret;
}

void record_dir_free(struct record_dir *rd)
{
	if (rd == NULL)
		return;
	close(rd->fd);
	free(rd->path);
	free(rd);
}

/* P..N as the inside of a JSON string into DST (NULL: only measure); returns the length. Valid
 * UTF-8 is copied, each other byte becomes U+FFFD, control characters are escaped (a NUL as
 * \u0000). Hand-written rather than cJSON's: cJSON takes NUL-terminated strings (a NUL of the
 * output would cut the event short) and copies invalid UTF-8 as it is; this is one pass
 * straight into the bounded buffer. */
static size_t escape(char *dst, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0;
	int len;

#define PUT(s, l)                                  \
	do {                                       \
		if (dst != NULL)                   \
			memcpy(dst + o, (s), (l)); \
		o += (l);                          \
	} while (0)
	while (i < n) {
		uint8_t c = p[i];
		size_t run = i;
		/* Most output is printable ASCII: copied a run at a time. */
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			PUT(p + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			PUT(e, 2);
		} else if (c == '\n') {
			PUT("\\n", 2);
		} else if (c == '\r') {
			PUT("\\r", 2);
		} else if (c == '\t') {
			PUT("\\t", 2);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			PUT(e, 6);
		} else if (c < 0x80) {
			PUT(&c, 1);
		} else if ((len = utf8_len(p + i, n - i)) > 0) {
			PUT(p + i, (size_t)len);
			i += (size_t)len;
			continue;
		} else {
			PUT("\xef\xbf\xbd", 3);
		}
		i++;
	}
#undef PUT
	return o;
}

/* P..N as a new NUL-terminated valid UTF-8 string (for cJSON): invalid bytes and NULs become
 * U+FFFD. NULL when out of memory. */
static char *clean(const char *p, size_t n)
{
	char *s = malloc(3 * n + 1);
	size_t i = 0, o = 0;
	int len;

	if (s == NULL)
		return NULL;
	while (i < n) {
		len = p[i] != 0 ? utf8_len((const uint8_t *)p + i, n - i) : 0;
		if (len > 0) {
			memcpy(s + o, p + i, (size_t)len);
			o += (size_t)len;
			i += (size_t)len;
		} else {
			memcpy(s + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	s[o] = 0;
	return s;
}

static char *clean_str(const char *s)
{
	return clean(s ? s : "", s ? strlen(s) : 0);
}

/* The target as people write it: "host", "container:NAME", "PROJECT/SERVICE" or "SERVICE",
 * with ":INDEX" when one was asked for. */
static char *target_text(const Rexec__V1__Target *t)
{
	char buf[3 * WIRE_NAME_MAX];

	if (t == NULL || t->type == REXEC__V1__TARGET_TYPE__TARGET_HOST)
		snprintf(buf, sizeof(buf), "host");
	else if (t->type == REXEC__V1__TARGET_TYPE__TARGET_CONTAINER)
		snprintf(buf, sizeof(buf), "container:%s", t->container);
	else
		snprintf(buf, sizeof(buf), "%s%s%s", t->project, t->project[0] ? "/" : "",
			 t->service);
	if (t != NULL && t->index > 0)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ":%u", t->index);
	return clean_str(buf);
}

/* The argv joined by spaces, or what runs without one. */
static char *command_text(const Rexec__V1__Open *o)
{
	size_t i, n = 0;
	char *s, *joined;

	if (o->n_argv == 0)
		return clean_str(o->kind == REXEC__V1__KIND__KIND_ATTACH ? "(attach)"
				 : o->kind == REXEC__V1__KIND__KIND_RUN  ? "(the image's command)"
									 : "(login shell)");
	for (i = 0; i < o->n_argv; i++)
		n += o->argv[i].len + 1;
	if ((joined = malloc(n)) == NULL)
		return NULL;
	for (i = 0, n = 0; i < o->n_argv; i++) {
		memcpy(joined + n, o->argv[i].data, o->argv[i].len);
		n += o->argv[i].len;
		joined[n++] = ' ';
	}
	s = clean(joined, n - 1 < COMMAND_MAX ? n - 1 : COMMAND_MAX);
	free(joined);
	return s;
}

static void free_record(struct record *r)
{
	free(r->who);
	free(r->target);
	free(r->user);
	free(r->command);
	free(r->term);
	free(r->file);
	free(r->pending.p);
	free(r->inflight.p);
	free(r);
}

struct record *record_new(struct record_dir *rd, uv_loop_t *loop, const Rexec__V1__Open *o,
			  const char *who, const char *user, record_room_cb room, void *room_arg)
{
	struct record *r;

	if (rd == NULL)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto oom;
	r->loop = loop;
	r->rd = rd;
	r->fd = -1;
	r->room = room;
	r->room_arg = room_arg;
	r->kind = o->kind == REXEC__V1__KIND__KIND_RUN      ? "run"
		  : o->kind == REXEC__V1__KIND__KIND_ATTACH ? "attach"
							    : "exec";
	r->width = o->size && o->size->cols ? o->size->cols : 80;
	r->height = o->size && o->size->rows ? o->size->rows : 24;
	if ((r->who = clean_str(who)) == NULL || (r->target = target_text(o->target)) == NULL ||
	    (r->user = clean_str(user)) == NULL || (r->command = command_text(o)) == NULL ||
	    (r->term = clean_str(o->term)) == NULL)
		goto oom;
	return r;
oom:
	if (r != NULL)
		free_record(r);
	log_error("session recording: out of memory: a session goes unrecorded");
	return NULL;
}

/* The recording cannot go on (WHY): logged once, later events dropped. */
static void breaks(struct record *r, const char *why)
{
	if (r->broken)
		return;
	r->broken = true;
	snprintf(r->error, sizeof(r->error), "%s", why);
	r->pending.len = 0;
	log_warn("recording %s: %s: the session goes on, the rest of it unrecorded",
		 r->file ? r->file : "(none)", why);
}

static void flush(struct record *r);
static void finish(struct record *r);

/* The session waited for room and there is some again (the write came back, or the recording
 * broke): it reads on. */
static void wake(struct record *r)
{
	if (!r->waiting || r->closing || record_full(r))
		return;
	r->waiting = false;
	if (r->room != NULL)
		r->room(r->room_arg);
}

/* Every RECORD_STALL_MS / 2 while writes are under way: one that has not come back for
 * RECORD_STALL_MS breaks its recording, so that its session reads on and its end is reported;
 * the write itself is still waited for before the file closes and R is freed. */
static void on_stall_tick(uv_timer_t *t)
{
	struct record_dir *rd = t->data;
	struct record *r;
	bool busy = false;

	for (r = rd->live; r != NULL; r = r->next) {
		if (!r->writing)
			continue;
		busy = true;
		if (uv_now(t->loop) - r->write_start < RECORD_STALL_MS || r->broken)
			continue;
		breaks(r, "a write has not come back for 5 s (the disk is stuck?)");
		wake(r);
		if (r->closing && r->done != NULL) {
			struct record_result res = { .file = r->file,
						     .complete = false,
						     .error = r->error };
			r->done(r->done_arg, &res);
			r->done = NULL;
		}
	}
	if (!busy)
		uv_timer_stop(t);
}

static void on_written(uv_fs_t *req)
{
	struct record *r = req->data;
	ssize_t res = req->result;
	char why[128];

	uv_fs_req_cleanup(req);
	r->writing = false;
	if (res < 0) {
		snprintf(why, sizeof(why), "write: %s", uv_strerror((int)res));
		breaks(r, why);
	} else if ((size_t)res < r->inflight.len) {
		/* A full disk or RLIMIT_FSIZE cut it short: back to the last whole line, so that
		 * players read what is there. */
		const char *nl = memrchr(r->inflight.p, '\n', (size_t)res);
		r->written += nl != NULL ? (uint64_t)(nl + 1 - r->inflight.p) : 0;
		if (ftruncate(r->fd, (off_t)r->written) < 0)
			log_warn("recording %s: ftruncate: %s", r->file, strerror(errno));
		breaks(r, "short write (disk full or file size limit)");
	} else {
		r->written += (uint64_t)res;
	}
	r->inflight.len = 0;
	flush(r);
	if (r->closing && !r->writing)
		finish(r);
	else
		wake(r);
}

/* Hands what is pending to a write on the thread pool, unless one is under way. A regular file
 * cannot be polled (epoll refuses it) and a write() to it may block on a busy disk, so this goes
 * through uv_fs_write(), which libuv runs on its pool for that reason; tmux's pipe-pane hands
 * output to a child process through a non-blocking pipe instead, a process per session where
 * this costs one pool job per batch of events. */
static void flush(struct record *r)
{
	struct rbuf t;
	uv_buf_t b;
	int ret;

	if (r->writing || r->broken || r->fd < 0 || r->pending.len == 0)
		return;
	t = r->inflight;
	r->inflight = r->pending;
	r->pending = t;
	r->pending.len = 0;
	b = uv_buf_init(r->inflight.p, (unsigned int)r->inflight.len);
	r->req.data = r;
	if ((ret = uv_fs_write(r->loop, &r->req, r->fd, &b, 1, -1, on_written)) < 0) {
		char why[128];
		snprintf(why, sizeof(why), "write: %s", uv_strerror(ret));
		r->inflight.len = 0;
		breaks(r, why);
		return;
	}
	r->writing = true;
	r->write_start = uv_now(r->loop);
	if (!uv_is_active((uv_handle_t *)&r->rd->stall))
		uv_timer_start(&r->rd->stall, on_stall_tick, RECORD_STALL_MS / 2,
			       RECORD_STALL_MS / 2);
}

bool record_full(struct record *r)
{
	if (r == NULL || r->broken || !r->writing || r->pending.len < RECORD_HIGH)
		return false;
	r->waiting = true;
	return true;
}

/* Room for N more bytes in the pending buffer, within its cap. Returns false (the recording
 * broken) when the disk is too far behind or memory runs out. */
static bool reserve(struct record *r, size_t n)
{
	size_t cap;
	char *p;

	if (r->pending.len + n <= r->pending.cap)
		return true;
	if (r->pending.len + n > RECORD_BUF_MAX) {
		breaks(r, "the disk fell too far behind (the buffer is full)");
		return false;
	}
	for (cap = r->pending.cap ? r->pending.cap : 16384; cap < r->pending.len + n; cap *= 2)
		;
	cap = cap < RECORD_BUF_MAX ? cap : RECORD_BUF_MAX;
	if ((p = realloc(r->pending.p, cap)) == NULL) {
		breaks(r, "out of memory");
		return false;
	}
	r->pending.p = p;
	r->pending.cap = cap;
	return true;
}

/* Seconds since the start, as asciicast v2 counts them. */
static double elapsed(const struct record *r)
{
	return (double)(uv_hrtime() - r->start_ns) / 1e9;
}

/* One event [t, CODE, "P..N escaped"] into the pending buffer. */
static void event(struct record *r, const char *code, const uint8_t *p, size_t n)
{
	char head[EVENT_HEAD];
	size_t esc = escape(NULL, p, n);
	int hl = snprintf(head, sizeof(head), "[%.6f, \"%s\", \"", elapsed(r), code);

	if (!reserve(r, (size_t)hl + esc + 3))
		return;
	memcpy(r->pending.p + r->pending.len, head, (size_t)hl);
	r->pending.len += (size_t)hl;
	escape(r->pending.p + r->pending.len, p, n);
	r->pending.len += esc;
	memcpy(r->pending.p + r->pending.len, "\"]\n", 3);
	r->pending.len += 3;
}

/* Bytes of a stream as events of CODE, a character cut at the end held in H for the next
 * call. */
static void stream_event(struct record *r, const char *code, struct held *h, const uint8_t *p,
			 size_t n)
{
	size_t take, len, j;

	if (r->broken || r->fd < 0 || r->closing)
		return;
	while (n > 0 && !r->broken) {
		take = n < RECORD_SLICE ? n : RECORD_SLICE;
		memcpy(r->slice, h->b, h->n);
		memcpy(r->slice + h->n, p, take);
		len = h->n + take;
		p += take;
		n -= take;
		h->n = 0;
		/* A lead byte among the last three that starts a sequence cut short waits (no
		 * sequence spans a lead byte, so escape() would have reached it). */
		for (j = len; j > 0 && len - j < 3; j--) {
			if ((r->slice[j - 1] & 0xc0) != 0x80) {
				if (utf8_len(r->slice + j - 1, len - (j - 1)) < 0) {
					h->n = len - (j - 1);
					memcpy(h->b, r->slice + j - 1, h->n);
					len = j - 1;
				}
				break;
			}
		}
		if (len > 0)
			event(r, code, r->slice, len);
		flush(r);
	}
}

/* The file and its header line. */
static int create_file(struct record *r, const char *id, char *why, size_t whylen)
{
	cJSON *h = cJSON_CreateObject(), *env;
	char *title = NULL, *json = NULL, *name = NULL;
	int fd = -1, ret = -ENOMEM;

	if (h == NULL)
		goto out;
	if (asprintf(&name, "%s.cast", id) < 0) {
		name = NULL;
		goto out;
	}
	if (asprintf(&r->file, "%s/%s", r->rd->path, name) < 0) {
		r->file = NULL;
		goto out;
	}
	if (asprintf(&title, "%s: %s %s%s%s (session %s)", r->who, r->kind, r->target,
		     r->user[0] ? " as " : "", r->user, id) < 0) {
		title = NULL;
		goto out;
	}
	if (!cJSON_AddNumberToObject(h, "version", 2) ||
	    !cJSON_AddNumberToObject(h, "width", r->width) ||
	    !cJSON_AddNumberToObject(h, "height", r->height) ||
	    !cJSON_AddNumberToObject(h, "timestamp", (double)time(NULL)) ||
	    !cJSON_AddStringToObject(h, "command", r->command) ||
	    !cJSON_AddStringToObject(h, "title", title) ||
	    (env = cJSON_AddObjectToObject(h, "env")) == NULL ||
	    (r->term[0] && !cJSON_AddStringToObject(env, "TERM", r->term)) ||
	    !cJSON_AddStringToObject(env, "REXEC_WHO", r->who) ||
	    !cJSON_AddStringToObject(env, "REXEC_TARGET", r->target) ||
	    (r->user[0] && !cJSON_AddStringToObject(env, "REXEC_USER", r->user)) ||
	    !cJSON_AddStringToObject(env, "REXEC_SESSION", id) ||
	    (json = cJSON_PrintUnformatted(h)) == NULL)
		goto out;
	/* O_EXCL and O_NOFOLLOW, relative to the directory opened at start-up: nothing planted
	 * under that name (a file, a symlink) is ever written through. */
	fd = openat(r->rd->fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot create the file: %s", strerror(errno));
		goto out;
	}
	r->fd = fd;
	fd = -1;
	r->start_ns = uv_hrtime();
	if (reserve(r, strlen(json) + 1)) {
		memcpy(r->pending.p + r->pending.len, json, strlen(json));
		r->pending.len += strlen(json);
		r->pending.p[r->pending.len++] = '\n';
	}
	ret = 0;
out:
	if (ret == -ENOMEM)
		snprintf(why, whylen, "out of memory");
	if (fd >= 0)
		close(fd);
	free(json);
	free(title);
	free(name);
	cJSON_Delete(h);
	return ret;
}

void record_start(struct record *r, const char *session_id, bool tty)
{
	char why[200];
	const char *c;

	if (r == NULL || !tty || r->file != NULL)
		return;
	/* Ids are the agent's own ("PID-N"); a name is never built from anything else. */
	for (c = session_id; *c; c++) {
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || *c == '-')) {
			log_error("recording: odd session id %s: not recorded", session_id);
			return;
		}
	}
	if (create_file(r, session_id, why, sizeof(why)) < 0) {
		breaks(r, why);
		return;
	}
	r->next = r->rd->live;
	r->rd->live = r;
	r->live = true;
	flush(r);
}

void record_output(struct record *r, const uint8_t *p, size_t n)
{
	if (r != NULL)
		stream_event(r, "o", &r->out, p, n);
}

void record_input(struct record *r, const uint8_t *p, size_t n)
{
	if (r != NULL && r->rd->input)
		stream_event(r, "i", &r->in, p, n);
}

void record_resize(struct record *r, uint32_t cols, uint32_t rows)
{
	char size[32];

	if (r == NULL || r->broken || r->fd < 0 || r->closing)
		return;
	snprintf(size, sizeof(size), "%" PRIu32 "x%" PRIu32, cols, rows);
	event(r, "r", (const uint8_t *)size, strlen(size));
	flush(r);
}

/* Every write is done: the file is closed, the owner told, R freed. */
static void finish(struct record *r)
{
	struct record_result res = { .file = r->file,
				     .complete = !r->broken,
				     .error = r->broken ? r->error : "" };

	if (r->fd >= 0 && close(r->fd) < 0 && !r->broken) {
		snprintf(r->error, sizeof(r->error), "close: %s", strerror(errno));
		res.complete = false;
		res.error = r->error;
	}
	r->fd = -1;
	if (r->live) {
		struct record **p;
		for (p = &r->rd->live; *p != r; p = &(*p)->next)
			;
		*p = r->next;
	}
	if (r->done != NULL)
		r->done(r->done_arg, &res);
	free_record(r);
}

void record_close(struct record *r, record_done_cb done, void *arg)
{
	if (r == NULL)
		return;
	r->done = done;
	r->done_arg = arg;
	/* What was held for a character's end never got it: its bytes are U+FFFD. */
	if (!r->broken && r->fd >= 0) {
		if (r->out.n > 0)
			event(r, "o", r->out.b, r->out.n);
		if (r->in.n > 0 && r->rd->input)
			event(r, "i", r->in.b, r->in.n);
		flush(r);
	}
	r->closing = true;
	if (!r->writing)
		finish(r);
}
