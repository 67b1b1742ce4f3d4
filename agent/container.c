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
#include "agent/procfs.h"
#include "lib/yconf.h"
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

	if (ret == REXEC_EUNAVAILABLE)
		code = REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE;
	else if (ret < 0)
		code = REXEC__V1__ERROR_CODE__ERROR_INTERNAL;
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

static void sleep_ms(unsigned ms)
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

/* GET /containers/json (all states) with a label filter, or every compose container. */
int ct__list_compose(struct ct *ct, struct ct_started *st, const char *service,
		     struct engine_reply *r)
{
	char filter[512], esc[1536], path[1700];

	if (service != NULL && service[0])
		snprintf(filter, sizeof(filter), "{\"label\":[\"" LABEL_SERVICE "=%s\"]}", service);
	else
		snprintf(filter, sizeof(filter), "{\"label\":[\"" LABEL_PROJECT "\"]}");
	snprintf(path, sizeof(path), "/containers/json?all=1&filters=%s",
		 engine_query_escape(filter, esc, sizeof(esc)));
	if (ct__call(ct, st, "GET", path, NULL, r) < 0)
		return -1;
	if (!cJSON_IsArray(r->json)) {
		ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "container engine: bad list");
		return -1;
	}
	return 0;
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
static unsigned long long pidns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return pid > 0 && stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The target container for exec and attach: by name/id, or by service. It must run.
 * CACHE_ONLY: -2 (and nothing said) when the cache does not have it. */
static int find_running(struct ct *ct, struct ct_started *st, struct engine_reply *r,
			int cache_only)
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
	ct->pidns = pidns_of(ct->pid);
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
 * exec */

/* The direct path (direct.c) for an exec into the container of INSPECT, on the thread pool
 * (never on the loop: reading the container's files and starting the child can be made to
 * wait by the container). Returns 0 when it started the process (ST->direct) or failed for
 * good (ST->error); -1 to use the engine path, when the agent may choose (exec_path auto) and
 * the context cannot be reproduced. */
static int start_direct(struct ct *ct, struct ct_started *st, const cJSON *inspect)
{
	const struct ct_req *q = &ct->req;
	pid_t init =
		(pid_t)engine_num(cJSON_GetObjectItemCaseSensitive(inspect, "State"), "Pid", 0);
	struct direct_ctx *dc = NULL;
	struct spawn_req req;
	char why[512] = "", *sh[] = { "sh", NULL };
	int ret;

	if (ct__opt_on(q, "detach") || ct__opt_on(q, "privileged"))
		snprintf(why, sizeof(why), "-d and --privileged go through the engine");
	else if (init <= 0)
		snprintf(why, sizeof(why), "the engine reports no init pid");
	else if ((ret = direct_prepare(&dc, init, ct->init_start, inspect, q->user, q->workdir,
				       q->env, q->n_env, q->tty, why, sizeof(why))) == 0) {
		memset(&req, 0, sizeof(req));
		req.argv = q->n_argv ? q->argv : sh;
		req.tty = q->tty;
		req.stdin_open = q->stdin_open;
		req.ws.ws_row = (unsigned short)q->rows;
		req.ws.ws_col = (unsigned short)q->cols;
		ret = direct_spawn(dc, &req, &st->sp);
		direct_free(dc);
		if (ret < 0) {
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_START_FAILED,
				 "%s: direct exec: %s", ct->cname,
				 ret == -ETIMEDOUT
					 ? "the process was held before its exec (stopped "
					   "from inside the container?) and was killed"
					 : strerror(-ret));
			return 0;
		}
		st->direct = 1;
		st->tty = q->tty;
		ct->pid = st->sp.pid;
		snprintf(ct->what, sizeof(ct->what), "direct exec in %s", ct->cname);
		return 0;
	}
	if (ct->exec_path == AGENT_EXEC_PATH_DIRECT) {
		/* A user the container does not know is the user's mistake, not the path's. */
		ct__fail(st,
			 strncmp(why, "unable to find", 14) == 0
				 ? REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND
				 : REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
			 "%s: %s%s", ct->cname,
			 strncmp(why, "unable to find", 14) ? "no direct exec: " : "", why);
		return 0;
	}
	log_info("exec in %s: engine path: %s", ct->cname, why);
	return -1;
}

/* Whether an exec may take the direct path. `auto` takes the engine path until the direct
 * path has passed the hostile-container tests (a container that fakes its seccomp filters,
 * plants FIFOs or devices, stops the joining child or points -w at an agent fd): only an
 * explicit `direct` takes it. */
static int direct_wanted(const struct ct *ct)
{
	return ct->exec_path == AGENT_EXEC_PATH_DIRECT;
}

/* The exec's -u through the container's own files (ctuser.h), as numbers for the engine:
 * the uid the agent resolved is the uid that runs, and a file the container planted in place
 * of /etc/passwd or /etc/group is refused before the engine is asked. Returns 0, or -1 with
 * ST's error set. */
static int engine_user(struct ct *ct, struct ct_started *st, char *out, size_t len)
{
	struct ctuser u;
	char why[512] = "";
	int ret = ctuser_resolve(ct->pid, ct->req.user, NULL, &u, why, sizeof(why));

	if (ret < 0) {
		ct__fail(st,
			 ret == -ENOENT ? REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND
					: REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
			 "%s: %s", ct->cname, why);
		return -1;
	}
	/* The uid alone lets the runtime add the groups that list its passwd entry's name, as
	 * for the name; with a group named, it adds none ("uid:gid"). */
	if (u.group_given)
		snprintf(out, len, "%u:%u", (unsigned)u.uid, (unsigned)u.gid);
	else
		snprintf(out, len, "%u", (unsigned)u.uid);
	return 0;
}

static void start_exec(struct ct *ct, struct ct_started *st)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply r;
	cJSON *body = NULL;
	char path[256], user[32] = "";
	int detach = ct__opt_on(q, "detach");

	if (find_running(ct, st, &r, 0) < 0)
		return;
	if (direct_wanted(ct) && start_direct(ct, st, r.json) == 0) {
		engine_reply_free(&r);
		return;
	}
	engine_reply_free(&r);
	if (st->error || (q->user[0] && engine_user(ct, st, user, sizeof(user)) < 0))
		return;
	body = cJSON_CreateObject();
	cJSON_AddBoolToObject(body, "AttachStdin", q->stdin_open && !detach);
	cJSON_AddBoolToObject(body, "AttachStdout", !detach);
	cJSON_AddBoolToObject(body, "AttachStderr", !detach);
	cJSON_AddBoolToObject(body, "Tty", q->tty);
	cJSON_AddBoolToObject(body, "Privileged", ct__opt_on(q, "privileged"));
	if (q->n_argv > 0) {
		cJSON_AddItemToObject(body, "Cmd", ct__str_array(q->argv, q->n_argv));
	} else {
		char *sh[] = { "sh" };
		cJSON_AddItemToObject(body, "Cmd", ct__str_array(sh, 1));
	}
	if (q->n_env > 0)
		cJSON_AddItemToObject(body, "Env", ct__str_array(q->env, q->n_env));
	if (user[0])
		cJSON_AddStringToObject(body, "User", user);
	if (q->workdir[0])
		cJSON_AddStringToObject(body, "WorkingDir", q->workdir);
	if (q->tty && !ct__opt(q, "detach-keys"))
		cJSON_AddStringToObject(body, "DetachKeys", "");
	snprintf(path, sizeof(path), "/containers/%s/exec", ct->cid);
	if (ct__call(ct, st, "POST", path, body, &r) < 0)
		goto out;
	snprintf(ct->exec_id, sizeof(ct->exec_id), "%s", engine_str(r.json, "Id"));
	engine_reply_free(&r);
	snprintf(ct->what, sizeof(ct->what), "exec %.12s in %s", ct->exec_id, ct->cname);
	cJSON_Delete(body);
	body = cJSON_CreateObject();
	cJSON_AddBoolToObject(body, "Detach", detach);
	cJSON_AddBoolToObject(body, "Tty", q->tty);
	snprintf(path, sizeof(path), "/exec/%s/start", ct->exec_id);
	if (detach) {
		if (ct__call(ct, st, "POST", path, body, &r) == 0)
			engine_reply_free(&r);
		goto out;
	}
	if (ct__hijack(ct, st, path, body, &st->text) < 0)
		goto out;
	ct->tty = q->tty;
	st->tty = q->tty;
	if (q->tty)
		ct__resize_now(ct, q->rows, q->cols);
	/* The exec's host pid follows in a job of its own (JOB_PID): the engine reports it
	 * ~90 ms after the start, and the session need not wait for it. */
out:
	cJSON_Delete(body);
}

/* ---------------------------------------------------------------------------------------
 * attach */

static void start_attach(struct ct *ct, struct ct_started *st)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply r;
	const cJSON *cfg;
	char path[512], esc[128];
	const char *keys = ct__opt(q, "detach-keys");

	if (find_running(ct, st, &r, 0) < 0)
		return;
	cfg = cJSON_GetObjectItemCaseSensitive(r.json, "Config");
	ct->tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "Tty"));
	engine_reply_free(&r);
	snprintf(ct->what, sizeof(ct->what), "attach to %s", ct->cname);
	snprintf(path, sizeof(path),
		 "/containers/%s/attach?stream=1&stdin=%d&stdout=1&stderr=1&detachKeys=%s", ct->cid,
		 q->stdin_open,
		 engine_query_escape(keys && keys[0] ? keys : "ctrl-p,ctrl-q", esc, sizeof(esc)));
	if (ct__hijack(ct, st, path, NULL, &st->text) < 0)
		return;
	st->tty = ct->tty;
	if (ct->tty)
		ct__resize_now(ct, q->rows, q->cols);
}

/* ---------------------------------------------------------------------------------------
 * list: one JSON object per line, per compose container */

static void start_list(struct ct *ct, struct ct_started *st)
{
	struct engine_reply r;
	const cJSON *c;

	if (ct__list_compose(ct, st, ct->req.service, &r) < 0)
		return;
	cJSON_ArrayForEach(c, r.json)
	{
		cJSON *o = cJSON_CreateObject();
		char *line;

		if (ct->req.project[0] &&
		    strcmp(ct__list_label(c, LABEL_PROJECT), ct->req.project)) {
			cJSON_Delete(o);
			continue;
		}
		cJSON_AddStringToObject(o, "project", ct__list_label(c, LABEL_PROJECT));
		cJSON_AddStringToObject(o, "service", ct__list_label(c, LABEL_SERVICE));
		cJSON_AddNumberToObject(o, "number", atoi(ct__list_label(c, LABEL_NUMBER)));
		cJSON_AddStringToObject(o, "name", ct__first_name(c));
		cJSON_AddStringToObject(o, "id", engine_str(c, "Id"));
		cJSON_AddStringToObject(o, "state", engine_str(c, "State"));
		cJSON_AddStringToObject(o, "status", engine_str(c, "Status"));
		cJSON_AddBoolToObject(o, "oneoff",
				      strcmp(ct__list_label(c, LABEL_ONEOFF), "True") == 0);
		cJSON_AddStringToObject(o, "image", engine_str(c, "Image"));
		line = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (line == NULL || buf_append(&st->text, line, strlen(line)) < 0 ||
		    buf_append(&st->text, "\n", 1) < 0) {
			free(line);
			ct__fail(st, REXEC__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
			break;
		}
		free(line);
	}
	engine_reply_free(&r);
}

/* ---------------------------------------------------------------------------------------
 * The end of a stream */

/* The engine's start failure as the user should read it, and what it means. */
static void start_error(struct ct *ct, struct ct_exit *ex)
{
	static const char *noise[] = { "OCI runtime exec failed: ", "exec failed: ",
				       "unable to start container process: " };
	const char *t = ct->start_error;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (strncmp(t, noise[i], strlen(noise[i])) == 0)
			t += strlen(noise[i]);
	snprintf(ex->reason, sizeof(ex->reason), "%s: %s", ct->cname, t);
	if ((end = strstr(ex->reason, ": unknown")) != NULL && end[9] == 0)
		*end = 0;
	if (strncmp(t, "unable to find user", 19) == 0) {
		ex->error = REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND;
		ex->code = 125;
	} else if (strstr(t, "chdir") == NULL &&
		   (strstr(t, "not found") || strstr(t, "no such file"))) {
		ex->error = REXEC__V1__ERROR_CODE__ERROR_NO_COMMAND;
		ex->code = 127;
	} else {
		ex->error = REXEC__V1__ERROR_CODE__ERROR_START_FAILED;
		ex->code = 126;
	}
}

static void exit_exec(struct ct *ct, struct ct_exit *ex)
{
	struct engine_reply r;
	char path[256];
	int waited;

	snprintf(path, sizeof(path), "/exec/%s/json", ct->exec_id);
	for (waited = 0; waited < EXIT_POLL_MS; waited += 5) {
		const cJSON *code;
		if (engine_call(&ct->engine, "GET", path, NULL, &r) < 0) {
			snprintf(ex->reason, sizeof(ex->reason), "%s", r.err);
			ex->code = 255;
			return;
		}
		code = cJSON_GetObjectItemCaseSensitive(r.json, "ExitCode");
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "Running")) &&
		    cJSON_IsNumber(code)) {
			ex->code = code->valueint;
			engine_reply_free(&r);
			break;
		}
		engine_reply_free(&r);
		sleep_ms(5);
	}
	if (waited >= EXIT_POLL_MS) {
		ex->code = 255;
		snprintf(ex->reason, sizeof(ex->reason), "the engine never reported the exit");
		return;
	}
	if (ct->start_error[0] && ex->code >= 126)
		start_error(ct, ex);
	else if (ex->code > 128 && ex->code < 128 + 65) {
		/* The engine reports a signal death as 128+N, like a shell. */
		ex->signal = ex->code - 128;
	}
}

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
		sleep_ms(10);
	}
	ex->code = (int)engine_num(state, "ExitCode", 255);
	engine_reply_free(&r);
done:
	if (ex->code > 128 && ex->code < 128 + 65)
		ex->signal = ex->code - 128;
	if (ct->rm)
		ct__remove_container(ct);
}

/* The exec's host pid, once the engine reports it; 0 if it ended without (a start
 * failure) or the engine does not say within EXIT_POLL_MS. */
static pid_t exec_pid(struct ct *ct)
{
	struct engine_reply r;
	char path[256];
	pid_t pid = 0;
	int waited, ended;

	snprintf(path, sizeof(path), "/exec/%s/json", ct->exec_id);
	for (waited = 0; waited < EXIT_POLL_MS; waited += 5) {
		if (engine_call(&ct->engine, "GET", path, NULL, &r) < 0)
			break;
		pid = (pid_t)engine_num(r.json, "Pid", 0);
		ended = !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "Running")) &&
			cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r.json, "ExitCode"));
		engine_reply_free(&r);
		if (pid > 0 || ended)
			break;
		sleep_ms(5);
	}
	return pid;
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
			start_exec(ct, &j->st);
			break;
		case CT_ATTACH:
			start_attach(ct, &j->st);
			break;
		case CT_RUN:
			ct__start_run(ct, &j->st);
			break;
		case CT_LIST:
			start_list(ct, &j->st);
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
			exit_exec(ct, &j->ex);
		else
			exit_container(ct, &j->ex);
		return;
	case JOB_RESIZE:
		ct__resize_now(ct, j->rows, j->cols);
		return;
	case JOB_PID:
		j->pid = exec_pid(ct);
		return;
	}
}

static void ct_free(struct ct *ct)
{
	req_free(&ct->req);
	free(ct);
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

struct ct *ct_start(uv_loop_t *loop, const struct engine *e, struct ctcache *cache, int exec_path,
		    const Rexec__V1__Open *o, ct_started_fn started, void *arg)
{
	struct ct *ct = calloc(1, sizeof(*ct));

	if (ct == NULL)
		return NULL;
	ct->loop = loop;
	ct->engine = *e;
	ct->cache = cache;
	ct->exec_path = exec_path;
	ct->started = started;
	ct->arg = arg;
	if (req_copy(&ct->req, o) < 0) {
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
	static const char *prefixes[] = { "OCI runtime exec failed", "unable to find user" };
	size_t len, i;

	if (ct->first_output_seen || ct->req.kind != CT_EXEC)
		return 0;
	ct->first_output_seen = 1;
	(void)fd;
	for (i = 0; i < 2; i++)
		if (n >= strlen(prefixes[i]) && memcmp(p, prefixes[i], strlen(prefixes[i])) == 0)
			break;
	if (i == 2)
		return 0;
	len = n < sizeof(ct->start_error) - 1 ? n : sizeof(ct->start_error) - 1;
	memcpy(ct->start_error, p, len);
	ct->start_error[len] = 0;
	ct->start_error[strcspn(ct->start_error, "\r\n")] = 0;
	return 1;
}

/* Reads the children of PID (all its threads') into OUT from N on. */
static int add_children(pid_t pid, pid_t *out, int n, int max)
{
	char path[64];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return n;
	while ((de = readdir(d)) != NULL && n < max) {
		char cpath[128], buf[4096], *s, *end;
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		if ((f = fopen(cpath, "re")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL) {
			for (s = buf; n < max; s = end) {
				long c = strtol(s, &end, 10);
				if (end == s)
					break;
				out[n++] = (pid_t)c;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* SIG to PID through a pidfd, and only while PID is in the container's pid namespace: a pid
 * read from /proc a moment ago may be another process's by now, and no process of the host
 * may get a signal meant for a container's. Once the pidfd is open, the check is of the
 * process it names. */
static void signal_in_container(const struct ct *ct, pid_t pid, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return;
	if (ct->pidns != 0 && pidns_of(pid) == ct->pidns)
		syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	close(fd);
}

/* The foreground process group of PID's terminal (tpgid), or 0. */
static pid_t tty_foreground(pid_t pid)
{
	char v[32];
	long tpgid = procfs_stat_field(pid, 8, v, sizeof(v)) == 0 ? strtol(v, NULL, 10) : 0;

	return tpgid > 0 ? (pid_t)tpgid : 0;
}

void ct_signal(struct ct *ct, int sig)
{
	pid_t fg;

	if (ct->req.kind == CT_EXEC && !ct->pid_known) {
		if (ct->n_pending < MAX_PENDING_SIGNALS)
			ct->pending[ct->n_pending++] = sig;
		return;
	}
	if (ct->pid <= 0)
		return;
	if (ct->req.kind == CT_ATTACH && !ct__opt_on(&ct->req, "sig-proxy") &&
	    ct__opt(&ct->req, "sig-proxy") != NULL)
		return;
	if (ct->req.kind == CT_EXEC && ct->tty && (fg = tty_foreground(ct->pid)) > 0 &&
	    kill(-fg, sig) == 0)
		return;
	if (ct->req.kind == CT_EXEC && getpgid(ct->pid) == ct->pid && kill(-ct->pid, sig) == 0)
		return;
	if (kill(ct->pid, sig) < 0 && errno != ESRCH)
		log_warn("%s: kill(%d, %d): %s", ct->what, (int)ct->pid, sig, strerror(errno));
}

int ct_hangup(struct ct *ct, int sig)
{
	pid_t tree[MAX_TREE];
	int n = 0, i;

	if (ct->req.kind == CT_EXEC && !ct->pid_known) {
		ct->pending_hangup = sig;
		return 1;
	}
	if (ct->pid <= 0 || ct->req.kind == CT_ATTACH || ct->req.kind == CT_LIST)
		return 0;
	if (ct->req.kind == CT_RUN) {
		kill(ct->pid, sig);
		return 1;
	}
	/* The exec and every descendant, walked breadth first from the exec's pid. */
	tree[n++] = ct->pid;
	for (i = 0; i < n && n < MAX_TREE; i++)
		n = add_children(tree[i], tree, n, MAX_TREE);
	for (i = 0; i < n; i++)
		signal_in_container(ct, tree[i], sig);
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
