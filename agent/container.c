/* container.c: exec, attach, run and list through the Docker Engine API (see container.h).
 * Everything that talks to the engine runs in a job on libuv's thread pool; the job's result
 * is applied on the loop. */
#include "agent/container.h"
#include "agent/ct_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/ctcache.h"
#include "agent/ctuser.h"
#include "agent/direct.h"
#include "agent/policy.h"
#include "agent/procfs.h"
#include "lib/yconf.h"
#include "proto/errcode.h"
#include "proto/error.h"
#include "proto/log.h"

enum job_type { JOB_START, JOB_EXIT, JOB_RESIZE, JOB_PID };

struct job {
	uv_work_t work;
	struct ct *ct;
	enum job_type type;
	struct ct_started st;
	struct ct_exit ex;
	unsigned rows, cols;
	pid_t pid;
};

const char *ct__opt(const struct ct_req *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n_opts; i++)
		if (strcmp(r->opt_keys[i], key) == 0)
			return r->opt_vals[i];
	return NULL;
}

int ct__opt_on(const struct ct_req *r, const char *key)
{
	const char *v = ct__opt(r, key);

	return v != NULL && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

static void req_free(struct ct_req *r)
{
	free(r->project);
	free(r->service);
	free(r->container);
	yconf_strings_free(r->argv, r->n_argv);
	yconf_strings_free(r->env, r->n_env);
	free(r->user);
	free(r->workdir);
	yconf_strings_free(r->opt_keys, r->n_opts);
	yconf_strings_free(r->opt_vals, r->n_opts);
}

static int req_copy(struct ct_req *r, const Rexec__V1__Open *o)
{
	size_t i;

	switch (o->kind) {
	case REXEC__V1__KIND__KIND_ATTACH:
		r->kind = CT_ATTACH;
		break;
	case REXEC__V1__KIND__KIND_RUN:
		r->kind = CT_RUN;
		break;
	case REXEC__V1__KIND__KIND_LIST:
		r->kind = CT_LIST;
		break;
	default:
		r->kind = CT_EXEC;
		break;
	}
	r->by_container = o->target->type == REXEC__V1__TARGET_TYPE__TARGET_CONTAINER;
	r->index = o->target->index;
	r->tty = o->tty;
	r->stdin_open = o->stdin_open;
	if (o->size != NULL) {
		r->rows = o->size->rows;
		r->cols = o->size->cols;
	}
	r->project = strdup(o->target->project);
	r->service = strdup(o->target->service);
	r->container = strdup(o->target->container);
	r->user = strdup(o->user);
	r->workdir = strdup(o->workdir);
	r->argv = calloc(o->n_argv + 1, sizeof(char *));
	r->env = calloc(o->n_env + 1, sizeof(char *));
	r->opt_keys = calloc(o->n_options + 1, sizeof(char *));
	r->opt_vals = calloc(o->n_options + 1, sizeof(char *));
	if (!r->project || !r->service || !r->container || !r->user || !r->workdir || !r->argv ||
	    !r->env || !r->opt_keys || !r->opt_vals)
		return -ENOMEM;
	for (i = 0; i < o->n_argv; i++, r->n_argv++)
		if ((r->argv[i] = strndup((const char *)o->argv[i].data, o->argv[i].len)) == NULL)
			return -ENOMEM;
	for (i = 0; i < o->n_env; i++, r->n_env++)
		if (asprintf(&r->env[i], "%s=%s", o->env[i]->name, o->env[i]->value) < 0)
			return -ENOMEM;
	for (i = 0; i < o->n_options; i++, r->n_opts++) {
		r->opt_keys[i] = strdup(o->options[i]->key);
		r->opt_vals[i] = strdup(o->options[i]->value);
		if (r->opt_keys[i] == NULL || r->opt_vals[i] == NULL) {
			r->n_opts++;
			return -ENOMEM;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Small engine helpers (thread pool side) */

void ct__fail(struct ct_started *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->error = code;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
}

/* What a failed engine request (RET from engine_call/engine_hijack, R its reply) means for the
 * user: engine down, no such thing (404), the engine refused, or our own failure. */
static void fail_request(struct ct_started *st, int ret, const struct engine_reply *r)
{
	Rexec__V1__ErrorCode code;

	if (ret < 0)
		code = rexec_error_code(ret);
	else if (r->status == 404)
		code = REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND;
	else
		code = REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE;
	ct__fail(st, code, "%s", r->err);
}

/* An engine call whose failure ends the start: the reason goes to ST and the reply is freed.
 * Returns 0 on a 2xx. */
int ct__call(struct ct *ct, struct ct_started *st, const char *method, const char *path,
	     const cJSON *body, struct engine_reply *r)
{
	int ret = engine_call(&ct->engine, method, path, body, r);

	if (ret < 0 || r->status / 100 != 2) {
		fail_request(st, ret, r);
		engine_reply_free(r);
		return -1;
	}
	return 0;
}

void ct__sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

cJSON *ct__str_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

/* The name without the leading '/' the engine lists names with. */
const char *ct__first_name(const cJSON *c)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(c, "Names");
	const cJSON *n = cJSON_GetArrayItem(names, 0);
	const char *s = cJSON_IsString(n) ? n->valuestring : "";

	return s[0] == '/' ? s + 1 : s;
}

const char *ct__list_label(const cJSON *c, const char *name)
{
	return engine_str(cJSON_GetObjectItemCaseSensitive(c, "Labels"), name);
}

/* Whether S is a service name as compose accepts one ([a-zA-Z0-9._-], as its config schema
 * says): a client's name reaches the engine's filter only then. */
static int service_name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	return n > 0 && n < 256 && s[n] == 0;
}

/* GET /containers/json (all states) with a label filter, or every compose container. The
 * filter is built as JSON by cJSON, never pasted: a name cannot change its shape. */
int ct__list_compose(struct ct *ct, struct ct_started *st, const char *service,
		     struct engine_reply *r)
{
	char label[320], esc[1536], path[1700], *filter = NULL;
	cJSON *f = NULL, *labels;
	int ret = -1;

	if (service != NULL && service[0] && !service_name_ok(service)) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
			 "no such service: %.64s is not a compose service name", service);
		return -1;
	}
	snprintf(label, sizeof(label), "%s%s%s",
		 service && service[0] ? LABEL_SERVICE : LABEL_PROJECT,
		 service && service[0] ? "=" : "", service && service[0] ? service : "");
	if ((f = cJSON_CreateObject()) == NULL ||
	    (labels = cJSON_AddArrayToObject(f, "label")) == NULL ||
	    !cJSON_AddItemToArray(labels, cJSON_CreateString(label)) ||
	    (filter = cJSON_PrintUnformatted(f)) == NULL) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s",
		 engine_query_escape(filter, esc, sizeof(esc)));
	if (ct__call(ct, st, "GET", path, NULL, r) < 0)
		goto out;
	if (!cJSON_IsArray(r->json)) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "container engine: bad list");
		engine_reply_free(r);
		goto out;
	}
	ret = 0;
out:
	free(filter);
	cJSON_Delete(f);
	return ret;
}

/* Whether the ", "-separated LIST holds WORD. */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ','))
			return 1;
	return 0;
}

/* Picks the container of REQ's service: not a one-off, in REQ's project (which must be given
 * when several projects have the service), replica REQ->index or the lowest-numbered one;
 * running unless ANY_STATE (run only needs the definition). Copies id and name into CT. */
int ct__pick_service(struct ct *ct, struct ct_started *st, int any_state)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply r;
	const cJSON *c, *best = NULL, *stopped = NULL;
	char projects[512] = "";
	int n_projects = 0, best_n = 0, best_running = 0;

	if (ct__list_compose(ct, st, q->service, &r) < 0)
		goto out;
	cJSON_ArrayForEach(c, r.json)
	{
		const char *proj = ct__list_label(c, LABEL_PROJECT);
		int num = atoi(ct__list_label(c, LABEL_NUMBER));
		int running = strcmp(engine_str(c, "State"), "running") == 0;

		if (strcmp(ct__list_label(c, LABEL_ONEOFF), "True") == 0)
			continue;
		if (q->project[0] && strcmp(proj, q->project) != 0)
			continue;
		if (!has_word(projects, proj) &&
		    strlen(projects) + strlen(proj) + 3 < sizeof(projects)) {
			strcat(projects, projects[0] ? ", " : "");
			strcat(projects, proj);
			n_projects++;
		}
		if (q->index && (unsigned)num != q->index)
			continue;
		if (!running && !any_state) {
			stopped = c;
			continue;
		}
		/* Prefer running, then the lowest number. */
		if (best == NULL || (running && !best_running) ||
		    (running == best_running && num < best_n)) {
			best = c;
			best_n = num;
			best_running = running;
		}
	}
	if (n_projects > 1) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
			 "service %s is in several compose projects (%s): name one with --project",
			 q->service, projects);
		goto out;
	}
	if (best == NULL && stopped != NULL) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
			 "container %s of service %s is not running (%s): start it first "
			 "(docker compose up -d %s)",
			 ct__first_name(stopped), q->service, engine_str(stopped, "State"),
			 q->service);
		goto out;
	}
	if (best == NULL) {
		if (q->index)
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				 "service %s has no replica %u here", q->service, q->index);
		else
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				 "no container of service %s%s%s here (rexec ps lists what runs)",
				 q->service, q->project[0] ? " in project " : "", q->project);
		goto out;
	}
	snprintf(ct->cid, sizeof(ct->cid), "%s", engine_str(best, "Id"));
	snprintf(ct->cname, sizeof(ct->cname), "%s", ct__first_name(best));
	engine_reply_free(&r);
	return 0;
out:
	engine_reply_free(&r);
	return -1;
}

/* GET /containers/ID/json into R. */
int ct__inspect(struct ct *ct, struct ct_started *st, const char *id, struct engine_reply *r)
{
	char esc[512], path[600];

	snprintf(path, sizeof(path), "/containers/%s/json",
		 engine_query_escape(id, esc, sizeof(esc)));
	if (ct__call(ct, st, "GET", path, NULL, r) < 0) {
		if (st->error == REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND)
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				 "no container %s here (rexec ps lists what runs)", id);
		return -1;
	}
	return 0;
}

/* What names the target in the answers ctcache keeps; -1 when it does not fit (then the
 * cache is not used: a cut key could name two targets). */
static int cache_key(const struct ct_req *q, char *out, size_t len)
{
	int n = q->by_container
			? snprintf(out, len, "c/%s", q->container)
			: snprintf(out, len, "s/%s/%s/%u", q->project, q->service, q->index);

	return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* The target's inspect from the cache, if one is kept and its init is the one that was
 * found (a container that restarted or died keeps its answer only until its event comes). */
static int cached(struct ct *ct, const char *key, struct engine_reply *r)
{
	unsigned long long start;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if ((r->json = ctcache_get(ct->cache, key, &start)) == NULL)
		return -1;
	pid = (pid_t)engine_num(cJSON_GetObjectItemCaseSensitive(r->json, "State"), "Pid", 0);
	if (pid <= 0 || procfs_start_time(pid) != start) {
		ctcache_forget(ct->cache, key);
		engine_reply_free(r);
		return -1;
	}
	ct->init_start = start;
	return 0;
}

/* The inode of PID's pid namespace, or 0. */
unsigned long long ct__pidns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return pid > 0 && stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The target container for exec and attach: by name/id, or by service. It must run.
 * CACHE_ONLY: -2 (and nothing said) when the cache does not have it. */
int ct__find_running(struct ct *ct, struct ct_started *st, struct engine_reply *r, int cache_only)
{
	const cJSON *state;
	char key[CTCACHE_KEY_MAX];
	int use = ct->cache != NULL && cache_key(&ct->req, key, sizeof(key)) == 0;
	unsigned long gen = use ? ctcache_begin(ct->cache) : 0;
	int hit = use && cached(ct, key, r) == 0;

	if (!hit && cache_only)
		return -2;
	if (!hit && !ct->req.by_container && ct__pick_service(ct, st, 0) < 0)
		return -1;
	if (!hit && ct__inspect(ct, st, ct->req.by_container ? ct->req.container : ct->cid, r) < 0)
		return -1;
	snprintf(ct->cid, sizeof(ct->cid), "%s", engine_str(r->json, "Id"));
	snprintf(ct->cname, sizeof(ct->cname), "%s",
		 engine_str(r->json, "Name")[0] == '/' ? engine_str(r->json, "Name") + 1
						       : engine_str(r->json, "Name"));
	state = cJSON_GetObjectItemCaseSensitive(r->json, "State");
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"))) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
			 "container %s is not running (%s): start it first", ct->cname,
			 engine_str(state, "Status"));
		engine_reply_free(r);
		return -1;
	}
	ct->pid = (pid_t)engine_num(state, "Pid", 0);
	if (!hit && gen && ct->pid > 0 && (ct->init_start = procfs_start_time(ct->pid)) != 0)
		ctcache_put(ct->cache, gen, key, r->json, ct->init_start);
	ct->pidns = ct__pidns_of(ct->pid);
	log_debug("%s%s", ct->cname, hit ? ": as found before (no engine event since)" : "");
	return 0;
}

/* Hijacks METHOD PATH; the stream goes to ST. */
int ct__hijack(struct ct *ct, struct ct_started *st, const char *path, const cJSON *body,
	       struct buf *early)
{
	struct engine_reply r;
	char rest[ENGINE_REST_MAX];
	size_t nrest;
	int fd, ret;

	ret = engine_hijack(&ct->engine, "POST", path, body, &fd, rest, sizeof(rest), &nrest, &r);
	if (ret < 0 || fd < 0) {
		fail_request(st, ret, &r);
		engine_reply_free(&r);
		return -1;
	}
	engine_reply_free(&r);
	if (nrest > 0 && buf_append(early, rest, nrest) < 0) {
		close(fd);
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	st->fd = fd;
	return 0;
}

void ct__resize_now(struct ct *ct, unsigned rows, unsigned cols)
{
	struct engine_reply r;
	char path[256];

	if (rows == 0 || cols == 0)
		return;
	if (ct->exec_id[0])
		snprintf(path, sizeof(path), "/exec/%s/resize?h=%u&w=%u", ct->exec_id, rows, cols);
	else
		snprintf(path, sizeof(path), "/containers/%s/resize?h=%u&w=%u", ct->cid, rows,
			 cols);
	if (engine_call(&ct->engine, "POST", path, NULL, &r) < 0 || r.status / 100 != 2)
		log_debug("resize %s: %s", ct->what, r.err);
	engine_reply_free(&r);
}

/* ---------------------------------------------------------------------------------------
 * The end of a stream */

static void exit_container(struct ct *ct, struct ct_exit *ex)
{
	struct engine_reply r;
	char path[256];
	const cJSON *state;
	int waited;

	snprintf(path, sizeof(path), "/containers/%s/json", ct->cid);
	for (waited = 0;; waited += 10) {
		if (engine_call(&ct->engine, "GET", path, NULL, &r) < 0 || r.status != 200) {
			snprintf(ex->reason, sizeof(ex->reason), "%s", r.err);
			engine_reply_free(&r);
			ex->code = 255;
			return;
		}
		state = cJSON_GetObjectItemCaseSensitive(r.json, "State");
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running")))
			break;
		engine_reply_free(&r);
		if (ct->req.kind == CT_ATTACH && waited >= DETACH_POLL_MS) {
			/* Still running: the stream ended by the detach keys. */
			snprintf(ex->reason, sizeof(ex->reason), "detached from %s", ct->cname);
			ex->code = 0;
			return;
		}
		if (ct->req.kind == CT_RUN) {
			/* Block until it stops. */
			snprintf(path, sizeof(path), "/containers/%s/wait", ct->cid);
			if (engine_call(&ct->engine, "POST", path, NULL, &r) == 0 &&
			    r.status == 200) {
				ex->code = (int)engine_num(r.json, "StatusCode", 255);
				engine_reply_free(&r);
				goto done;
			}
			engine_reply_free(&r);
			snprintf(path, sizeof(path), "/containers/%s/json", ct->cid);
		}
		ct__sleep_ms(10);
	}
	ex->code = (int)engine_num(state, "ExitCode", 255);
	engine_reply_free(&r);
done:
	if (ex->code > 128 && ex->code < 128 + 65)
		ex->signal = ex->code - 128;
	if (ct->rm)
		ct__remove_container(ct);
}

static void pid_learnt(struct ct *ct, pid_t pid)
{
	int i;

	ct->pid = pid;
	ct->pid_known = 1;
	for (i = 0; i < ct->n_pending; i++)
		ct_signal(ct, ct->pending[i]);
	ct->n_pending = 0;
	if (ct->pending_hangup)
		ct_hangup(ct, ct->pending_hangup);
}

/* ---------------------------------------------------------------------------------------
 * Jobs */

static void job_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct ct *ct = j->ct;

	switch (j->type) {
	case JOB_START:
		switch (ct->req.kind) {
		case CT_EXEC:
			ct__start_exec(ct, &j->st);
			break;
		case CT_ATTACH:
			ct__start_attach(ct, &j->st);
			break;
		case CT_RUN:
			ct__start_run(ct, &j->st);
			break;
		case CT_LIST:
			ct__start_list(ct, &j->st);
			break;
		}
		if (j->st.error && j->st.fd >= 0) {
			close(j->st.fd);
			j->st.fd = -1;
		}
		/* An engine exec's own pid comes later (JOB_PID); ct->pid is the container's. */
		j->st.pid = ct->req.kind == CT_EXEC && !j->st.direct ? 0 : ct->pid;
		j->st.what = ct->what;
		return;
	case JOB_EXIT:
		if (ct->req.kind == CT_EXEC)
			ct__exit_exec(ct, &j->ex);
		else
			exit_container(ct, &j->ex);
		return;
	case JOB_RESIZE:
		ct__resize_now(ct, j->rows, j->cols);
		return;
	case JOB_PID:
		j->pid = ct__exec_pid(ct);
		return;
	}
}

static void ct_free(struct ct *ct)
{
	req_free(&ct->req);
	policy_unref(ct->policy);
	free(ct->who);
	yconf_strings_free(ct->groups, ct->n_groups);
	free(ct);
}

/* WHO into CT: the policy's reference and copies of the names (the frame goes away). */
static int who_copy(struct ct *ct, const struct ct_who *who)
{
	size_t i;

	ct->policy = policy_ref(who->policy);
	if ((ct->who = strdup(who->cn ? who->cn : "")) == NULL)
		return -ENOMEM;
	if (who->n_groups == 0)
		return 0;
	if ((ct->groups = calloc(who->n_groups, sizeof(*ct->groups))) == NULL)
		return -ENOMEM;
	for (i = 0; i < who->n_groups; i++, ct->n_groups++)
		if ((ct->groups[i] = strdup(who->groups[i])) == NULL)
			return -ENOMEM;
	return 0;
}

static int queue(struct ct *ct, enum job_type type, unsigned rows, unsigned cols);

static void close_fds(struct spawn_result *sp)
{
	int *fds[] = { &sp->master, &sp->in, &sp->out, &sp->err, &sp->errpipe };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
}

static void job_done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct ct *ct = j->ct;

	/* This job still counts while the callback runs: a session that ends in it (and
	 * releases the ct) must not free it under us. */
	if (j->type == JOB_PID)
		pid_learnt(ct, j->pid); /* also for a released ct: a hangup may wait for it */
	if (j->type == JOB_START && j->st.error == 0 && j->st.fd >= 0 && !j->st.direct &&
	    ct->req.kind == CT_EXEC)
		queue(ct, JOB_PID, 0, 0);
	if (ct->arg != NULL) {
		if (j->type == JOB_START)
			ct->started(ct->arg, &j->st);
		else if (j->type == JOB_EXIT)
			ct->exited(ct->arg, &j->ex);
	} else if (j->type == JOB_START && j->st.fd >= 0) {
		close(j->st.fd);
	} else if (j->type == JOB_START && j->st.direct) {
		/* Its session is gone already: nobody will relay it. */
		kill(-j->st.sp.pid, SIGKILL);
		close_fds(&j->st.sp);
	}
	buf_free(&j->st.text);
	free(j);
	if (--ct->jobs == 0 && ct->arg == NULL)
		ct_free(ct);
}

static int queue(struct ct *ct, enum job_type type, unsigned rows, unsigned cols)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return -ENOMEM;
	j->ct = ct;
	j->type = type;
	j->rows = rows;
	j->cols = cols;
	j->st.fd = -1;
	j->work.data = j;
	ct->jobs++;
	if (uv_queue_work(ct->loop, &j->work, job_work, job_done) < 0) {
		ct->jobs--;
		free(j);
		return -ENOMEM;
	}
	return 0;
}

void ct_go(struct ct *ct)
{
	struct ct_started st;

	memset(&st, 0, sizeof(st));
	st.fd = -1;
	if (queue(ct, JOB_START, 0, 0) == 0)
		return;
	st.error = REXEC__V1__ERROR_CODE__ERROR_INTERNAL;
	snprintf(st.message, sizeof(st.message), "out of memory");
	/* As a job's result: the ct may not go while the callback runs. */
	ct->jobs++;
	ct->started(ct->arg, &st);
	buf_free(&st.text);
	if (--ct->jobs == 0 && ct->arg == NULL)
		ct_free(ct);
}

struct ct *ct_start(uv_loop_t *loop, const struct engine *e, struct ctcache *cache,
		    struct initmem *mem, int exec_path, const struct ct_who *who,
		    const Rexec__V1__Open *o, ct_started_fn started, void *arg)
{
	struct ct *ct = calloc(1, sizeof(*ct));

	if (ct == NULL)
		return NULL;
	ct->loop = loop;
	ct->engine = *e;
	ct->cache = cache;
	ct->initmem = mem;
	ct->exec_path = exec_path;
	ct->started = started;
	ct->arg = arg;
	if (req_copy(&ct->req, o) < 0 || who_copy(ct, who) < 0) {
		ct_free(ct);
		return NULL;
	}
	return ct;
}

void ct_stream_ended(struct ct *ct, ct_exit_fn done)
{
	ct->exited = done;
	if (queue(ct, JOB_EXIT, 0, 0) < 0) {
		struct ct_exit ex = { .code = 255 };
		snprintf(ex.reason, sizeof(ex.reason), "out of memory");
		done(ct->arg, &ex);
	}
}

void ct_resize(struct ct *ct, unsigned rows, unsigned cols)
{
	if (ct->tty)
		queue(ct, JOB_RESIZE, rows, cols);
}

size_t ct_demux(struct ct *ct, const uint8_t *p, size_t n,
		void (*emit)(void *arg, int fd, const uint8_t *p, size_t n), void *arg)
{
	size_t payload = 0;

	if (ct->tty) {
		emit(arg, 1, p, n);
		return n;
	}
	while (n > 0) {
		if (ct->left == 0) {
			size_t take = 8 - ct->hdr_len < n ? 8 - ct->hdr_len : n;
			memcpy(ct->hdr + ct->hdr_len, p, take);
			ct->hdr_len += take;
			p += take;
			n -= take;
			if (ct->hdr_len < 8)
				break;
			ct->hdr_len = 0;
			ct->fd_now = ct->hdr[0] == 2 ? 2 : 1;
			ct->left = (size_t)ct->hdr[4] << 24 | (size_t)ct->hdr[5] << 16 |
				   (size_t)ct->hdr[6] << 8 | ct->hdr[7];
			continue;
		}
		size_t take = ct->left < n ? ct->left : n;
		emit(arg, ct->fd_now, p, take);
		payload += take;
		ct->left -= take;
		p += take;
		n -= take;
	}
	return payload;
}

int ct_hold_start_error(struct ct *ct, int fd, const uint8_t *p, size_t n)
{
	/* dockerd's words, then podman 4.3's ("Error: runc: exec failed: ...", then "Error:
	 * read unixpacket ...: connection reset by peer" of its own attach). */
	static const char *prefixes[] = { "OCI runtime exec failed", "unable to find user",
					  "Error: runc: exec failed", "Error: crun: " };
	const size_t n_prefixes = sizeof(prefixes) / sizeof(prefixes[0]);
	size_t len, i;

	if (ct->req.kind != CT_EXEC)
		return 0;
	/* The process never ran: what follows the start error is the engine's too. */
	if (ct->start_error[0])
		return 1;
	if (ct->first_output_seen)
		return 0;
	ct->first_output_seen = 1;
	(void)fd;
	for (i = 0; i < n_prefixes; i++)
		if (n >= strlen(prefixes[i]) && memcmp(p, prefixes[i], strlen(prefixes[i])) == 0)
			break;
	if (i == n_prefixes)
		return 0;
	len = n < sizeof(ct->start_error) - 1 ? n : sizeof(ct->start_error) - 1;
	memcpy(ct->start_error, p, len);
	ct->start_error[len] = 0;
	ct->start_error[strcspn(ct->start_error, "\r\n")] = 0;
	return 1;
}

pid_t ct_exec_pid(const struct ct *ct)
{
	return ct->req.kind == CT_EXEC && ct->pid_known ? ct->pid : 0;
}

void ct_release(struct ct *ct)
{
	if (ct == NULL)
		return;
	ct->arg = NULL;
	if (ct->jobs == 0)
		ct_free(ct);
}
