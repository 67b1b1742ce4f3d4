/* audit.c: the audit log's records (JSON lines built with cJSON) and their one-write appends,
 * with lost records counted instead of failing anything. */
#include "agent/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/strvis.h"
#include "proto/log.h"
#include "proto/signame.h"

struct audit {
	char *path;
	int fd;
	uint64_t lost; /* records not written since the last one that was */
	int failing;   /* the failure was logged; quiet until a write succeeds */
	int torn;      /* a cut-short record could not be cut off: start the next on a new line */
};

static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

int audit_new(struct audit **out, const char *path)
{
	struct audit *au = calloc(1, sizeof(*au));
	int fd;

	*out = NULL;
	if (au == NULL || (au->path = strdup(path)) == NULL) {
		free(au);
		return -ENOMEM;
	}
	if ((fd = open_log(path)) < 0) {
		free(au->path);
		free(au);
		return fd;
	}
	au->fd = fd;
	*out = au;
	return 0;
}

int audit_reopen(struct audit *au)
{
	int fd;

	if (au == NULL)
		return 0;
	if ((fd = open_log(au->path)) < 0)
		return fd;
	close(au->fd);
	au->fd = fd;
	au->torn = 0;
	return 0;
}

void audit_free(struct audit *au)
{
	if (au == NULL)
		return;
	close(au->fd);
	free(au->path);
	free(au);
}

/* A record is lost (WHY: what failed): counted, and logged once until a write succeeds. */
static void lose(struct audit *au, const char *why)
{
	au->lost++;
	if (au->failing)
		return;
	au->failing = 1;
	log_warn("audit log %s: %s: records are lost until a write succeeds", au->path, why);
}

/* P..N as valid UTF-8 without NULs: each byte of an invalid sequence, and each NUL, becomes
 * U+FFFD (cJSON copies string bytes as they are, and a line that is not UTF-8 is not JSON).
 * Returns a malloc'd string, or NULL when out of memory. */
static char *clean_text(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	char *out = malloc(3 * n + 1), *o = out;
	size_t i = 0;
	int len;

	if (out == NULL)
		return NULL;
	while (i < n) {
		len = s[i] == 0 ? 0 : utf8_len(s + i, n - i);
		if (len <= 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(o, s + i, (size_t)len);
		o += len;
		i += (size_t)len;
	}
	*o = 0;
	return out;
}

/* Adds NAME: the text P..N (cleaned); NULL P is "". Returns the item or NULL (out of memory). */
static cJSON *add_text(cJSON *obj, const char *name, const char *p, size_t n)
{
	char *t = clean_text(p ? p : "", p ? n : 0);
	cJSON *item = t ? cJSON_CreateString(t) : NULL;

	free(t);
	if (item != NULL && !cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		item = NULL;
	}
	return item;
}

static cJSON *add_str(cJSON *obj, const char *name, const char *s)
{
	return add_text(obj, name, s, s ? strlen(s) : 0);
}

/* Adds NAME: V as an exact integer (cJSON keeps numbers as doubles). */
static cJSON *add_uint(cJSON *obj, const char *name, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, name, s);
}

/* Replaces (or adds) NAME in OBJ with ITEM; ITEM is consumed. Returns 0 or -ENOMEM. */
static int put(cJSON *obj, const char *name, cJSON *item)
{
	if (item == NULL)
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, name) != NULL
		    ? !cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item)
		    : !cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return -ENOMEM;
	}
	return 0;
}

static cJSON *text_item(const char *s)
{
	char *t = clean_text(s, strlen(s));
	cJSON *item = t ? cJSON_CreateString(t) : NULL;

	free(t);
	return item;
}

static const char *kind_name(Rexec__V1__Kind k)
{
	switch (k) {
	case REXEC__V1__KIND__KIND_EXEC:
		return "exec";
	case REXEC__V1__KIND__KIND_RUN:
		return "run";
	case REXEC__V1__KIND__KIND_ATTACH:
		return "attach";
	case REXEC__V1__KIND__KIND_LIST:
		return "list";
	case REXEC__V1__KIND__KIND_RESUME:
		return "resume";
	default:
		return "unspecified";
	}
}

/* "host", or the container target as the Open gave it. */
static cJSON *target_item(const Rexec__V1__Target *t)
{
	cJSON *obj;

	if (t == NULL || t->type == REXEC__V1__TARGET_TYPE__TARGET_HOST)
		return cJSON_CreateString("host");
	if ((obj = cJSON_CreateObject()) == NULL)
		return NULL;
	if (!add_str(obj, "project", t->project) || !add_str(obj, "service", t->service) ||
	    !add_uint(obj, "index", t->index) || !add_str(obj, "container", t->container)) {
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

/* WHO's groups as a list of strings. */
static cJSON *groups_item(const struct tls_identity *who)
{
	cJSON *list = cJSON_CreateArray(), *g;
	size_t i;

	for (i = 0; list != NULL && i < who->n_groups; i++) {
		char *t = clean_text(who->groups[i], strlen(who->groups[i]));
		g = t != NULL ? cJSON_CreateString(t) : NULL;
		free(t);
		if (g == NULL || !cJSON_AddItemToArray(list, g)) {
			cJSON_Delete(g);
			cJSON_Delete(list);
			return NULL;
		}
	}
	return list;
}

cJSON *audit_describe(struct audit *au, const Rexec__V1__Open *o, const struct tls_identity *who,
		      const char *from)
{
	cJSON *d = NULL, *argv;
	size_t i;

	if (au == NULL)
		return NULL;
	if ((d = cJSON_CreateObject()) == NULL || !add_str(d, "who", who->cn) ||
	    put(d, "groups", groups_item(who)) < 0 || !add_str(d, "serial", who->serial) ||
	    !add_str(d, "from", from) || !cJSON_AddStringToObject(d, "kind", kind_name(o->kind)) ||
	    put(d, "target", target_item(o->target)) < 0 ||
	    (argv = cJSON_AddArrayToObject(d, "argv")) == NULL)
		goto oom;
	for (i = 0; i < o->n_argv; i++) {
		cJSON *w = NULL;
		char *t = clean_text((const char *)o->argv[i].data, o->argv[i].len);
		if (t != NULL)
			w = cJSON_CreateString(t);
		free(t);
		if (w == NULL || !cJSON_AddItemToArray(argv, w)) {
			cJSON_Delete(w);
			goto oom;
		}
	}
	if (!add_str(d, "user", o->user))
		goto oom;
	return d;
oom:
	cJSON_Delete(d);
	lose(au, "out of memory");
	return NULL;
}

/* "2024-05-01T12:34:56.789Z" */
static void format_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* A record: time, event, then a copy of DESC's fields. NULL when out of memory. */
static cJSON *record(const char *event, const cJSON *desc)
{
	cJSON *rec = cJSON_CreateObject(), *f, *copy;
	char now[40];

	format_time(now, sizeof(now));
	if (rec == NULL || !cJSON_AddStringToObject(rec, "time", now) ||
	    !cJSON_AddStringToObject(rec, "event", event))
		goto oom;
	cJSON_ArrayForEach(f, desc)
	{
		if ((copy = cJSON_Duplicate(f, 1)) == NULL)
			goto oom;
		if (!cJSON_AddItemToObject(rec, f->string, copy)) {
			cJSON_Delete(copy);
			goto oom;
		}
	}
	return rec;
oom:
	cJSON_Delete(rec);
	return NULL;
}

/* Appends REC (consumed) as one line with one write(); a failure is counted, never passed on. */
static void emit(struct audit *au, cJSON *rec)
{
	char *json = NULL, *line = NULL;
	size_t len, n;
	ssize_t w;

	if (rec == NULL) {
		lose(au, "out of memory");
		return;
	}
	if (au->lost > 0 && !add_uint(rec, "lost", au->lost))
		goto oom;
	if ((json = cJSON_PrintUnformatted(rec)) == NULL)
		goto oom;
	len = strlen(json);
	if ((line = malloc(len + 2)) == NULL)
		goto oom;
	n = 0;
	if (au->torn)
		line[n++] = '\n';
	memcpy(line + n, json, len);
	n += len;
	line[n++] = '\n';
	do
		w = write(au->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)n) {
		if (au->failing)
			log_warn("audit log %s: writing again; %" PRIu64 " records were lost",
				 au->path, au->lost);
		au->lost = 0;
		au->failing = 0;
		au->torn = 0;
	} else if (w < 0) {
		lose(au, strerror(errno));
	} else {
		/* Cut short (the disk filled up mid-record): cut it off again. O_APPEND left the
		 * offset at the end of what was written. */
		off_t end = lseek(au->fd, 0, SEEK_CUR);
		if (end < w || ftruncate(au->fd, end - w) < 0)
			au->torn = 1;
		lose(au, "short write (disk full?)");
	}
	goto out;
oom:
	lose(au, "out of memory");
out:
	free(line);
	free(json);
	cJSON_Delete(rec);
}

void audit_refused(struct audit *au, const cJSON *desc, const char *message)
{
	cJSON *rec;

	if (au == NULL)
		return;
	if ((rec = record("refused", desc)) != NULL && !add_str(rec, "error", message)) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	emit(au, rec);
}

void audit_started(struct audit *au, cJSON *desc, const struct audit_start *st)
{
	if (au == NULL || desc == NULL)
		return;
	if (put(desc, "session", text_item(st->session)) < 0 ||
	    put(desc, "user", text_item(st->user ? st->user : "")) < 0 ||
	    put(desc, "tty", cJSON_CreateBool(st->tty)) < 0 ||
	    put(desc, "pid", st->pid > 0 ? cJSON_CreateNumber(st->pid) : cJSON_CreateNull()) < 0 ||
	    put(desc, "via", text_item(st->via ? st->via : "")) < 0 ||
	    (st->detail && st->detail[0] && put(desc, "detail", text_item(st->detail)) < 0)) {
		lose(au, "out of memory");
		return;
	}
	emit(au, record("start", desc));
}

void audit_exit(cJSON *desc, int code, int sig, const char *reason)
{
	const char *name = sig > 0 ? signame_from_number(sig) : NULL;
	char num[16];

	if (desc == NULL)
		return;
	put(desc, "exit", cJSON_CreateNumber(code));
	if (sig > 0) {
		snprintf(num, sizeof(num), "%d", sig);
		put(desc, "signal", cJSON_CreateString(name ? name : num));
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(desc, "signal");
	}
	if (reason != NULL && reason[0])
		audit_reason(desc, reason);
}

void audit_reason(cJSON *desc, const char *reason)
{
	if (desc != NULL)
		put(desc, "reason", text_item(reason));
}

void audit_ended(struct audit *au, const cJSON *desc, const struct audit_end *end)
{
	static const char *const last[] = { "exit", "signal", "reason" };
	cJSON *rec, *item;
	size_t i;

	if (au == NULL || desc == NULL)
		return;
	if ((rec = record("end", desc)) == NULL)
		goto out;
	/* How it ended, after what it was, however the notes came in. */
	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		item = cJSON_DetachItemFromObjectCaseSensitive(rec, last[i]);
		if (item == NULL && i == 0)
			item = cJSON_CreateNull(); /* never learnt (the agent stopped first) */
		if (item != NULL && put(rec, last[i], item) < 0)
			goto oom;
	}
	/* An engine exec's pid, learnt after its start record (which says null). */
	if (end->pid > 0 && put(rec, "pid", cJSON_CreateNumber(end->pid)) < 0)
		goto oom;
	if (!add_uint(rec, "duration_ms", end->duration_ms) ||
	    !add_uint(rec, "bytes_in", end->bytes_in) ||
	    !add_uint(rec, "bytes_out", end->bytes_out))
		goto oom;
	if (end->recording != NULL &&
	    (!add_str(rec, "recording", end->recording) ||
	     !cJSON_AddBoolToObject(rec, "recording_complete", end->recording_complete) ||
	     (!end->recording_complete && !add_str(rec, "recording_error", end->recording_error))))
		goto oom;
	goto out;
oom:
	cJSON_Delete(rec);
	rec = NULL;
out:
	emit(au, rec);
}

void audit_policy(cJSON *desc, int rule)
{
	if (desc == NULL)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(desc, "rule");
	if (rule == AUDIT_NO_RULE)
		cJSON_AddStringToObject(desc, "rule", "no rule allows");
	else if (rule >= 0)
		cJSON_AddNumberToObject(desc, "rule", rule);
}

/* ---- connections refused before authentication ---- */

/* Adds NAME: S, or null when S is NULL or empty. Returns the item or NULL (out of memory). */
static cJSON *add_str_or_null(cJSON *obj, const char *name, const char *s)
{
	return s != NULL && s[0] ? add_str(obj, name, s) : cJSON_AddNullToObject(obj, name);
}

void audit_conn_refused(struct audit *au, const struct audit_conn_refusal *r)
{
	cJSON *rec;

	if (au == NULL)
		return;
	if ((rec = record("refused", NULL)) != NULL &&
	    (!add_str(rec, "stage", r->stage) || !add_str(rec, "from", r->from) ||
	     !add_str_or_null(rec, "who", r->who) || !add_str_or_null(rec, "serial", r->serial) ||
	     !add_str(rec, "reason", r->reason) || !add_str(rec, "error", r->error))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	emit(au, rec);
}

void audit_conn_left_out(struct audit *au, const char *from, uint64_t n, unsigned window_s)
{
	cJSON *rec;

	if (au == NULL)
		return;
	if ((rec = record("refused", NULL)) != NULL &&
	    (!add_str(rec, "stage", "summary") || !add_str(rec, "from", from) ||
	     !add_uint(rec, "left_out", n) || !add_uint(rec, "window_s", window_s))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	emit(au, rec);
}

void audit_disconnected(struct audit *au, const struct tls_identity *who, const char *from,
			const char *reason)
{
	cJSON *rec;

	if (au == NULL)
		return;
	if ((rec = record("disconnect", NULL)) != NULL &&
	    (!add_str(rec, "who", who->cn) || put(rec, "groups", groups_item(who)) < 0 ||
	     !add_str(rec, "serial", who->serial) || !add_str(rec, "from", from) ||
	     !add_str(rec, "reason", reason))) {
		cJSON_Delete(rec);
		rec = NULL;
	}
	emit(au, rec);
}
