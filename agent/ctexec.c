/* ctexec.c: `exec`, a new process in a running container (see container.h): by the direct path
 * (direct.h) where it is wanted and the context can be reproduced, else through the engine's
 * exec API; then the exec's pid and its exit as the engine reports them. Part of container.c's
 * module (ct_int.h), on the thread pool. */
#include "agent/ct_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/ctuser.h"
#include "agent/direct.h"
#include "agent/policy.h"
#include "proto/log.h"

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
	else if ((ret = direct_prepare(&dc, ct->initmem, init, ct->init_start, inspect, q->user,
				       q->workdir, q->env, q->n_env, q->tty, why, sizeof(why))) ==
		 0) {
		/* The policy on the ids direct_prepare() resolved: the ones direct_spawn() takes.
		 */
		struct policy_user pu = { .given = q->user[0] != 0,
					  .uid = direct_uid(dc),
					  .name = direct_user_name(dc)[0] ? direct_user_name(dc)
									  : NULL };
		if (ct__policy_check(ct, st, &pu, NULL) < 0) {
			direct_free(dc);
			return 0;
		}
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

/* The exec's user for the engine and the policy. -u goes through the container's own files
 * (ctuser.h), as numbers for the engine: the uid the agent resolved is the uid that runs, and a
 * file the container planted in place of /etc/passwd or /etc/group is refused before the engine
 * is asked. Without -u the engine would take Config.User (INSPECT): resolved the same way, and
 * handed over as numbers too, only when the policy names users. OUT ("" : the engine's default)
 * and PU (NAME holds its name) are set. Returns 0, or -1 with ST's error set. */
static int engine_user(struct ct *ct, struct ct_started *st, const cJSON *inspect, char *out,
		       size_t len, struct policy_user *pu, char *name, size_t namelen)
{
	const char *want = ct->req.user;
	struct ctuser u;
	char why[512] = "";
	int ret;

	out[0] = 0;
	*pu = (struct policy_user){ .given = want[0] != 0, .name = NULL, .uid = -1 };
	if (!pu->given) {
		if (!ct__policy_wants_user(ct))
			return 0;
		want = engine_str(cJSON_GetObjectItemCaseSensitive(inspect, "Config"), "User");
	}
	if ((ret = ctuser_resolve(ct->pid, want, NULL, &u, why, sizeof(why))) < 0) {
		ct__fail(st,
			 ret == -ENOENT ? REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND
					: REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
			 "%s: %s", ct->cname, why);
		return -1;
	}
	pu->uid = u.uid;
	snprintf(name, namelen, "%s", u.name);
	pu->name = name[0] ? name : NULL;
	/* The uid alone lets the runtime add the groups that list its passwd entry's name, as
	 * for the name; with a group named, it adds none ("uid:gid"). */
	if (u.group_given)
		snprintf(out, len, "%u:%u", (unsigned)u.uid, (unsigned)u.gid);
	else
		snprintf(out, len, "%u", (unsigned)u.uid);
	return 0;
}

void ct__start_exec(struct ct *ct, struct ct_started *st)
{
	const struct ct_req *q = &ct->req;
	struct engine_reply r;
	cJSON *body = NULL;
	char path[256], user[32] = "", name[256];
	struct policy_user pu;
	int detach = ct__opt_on(q, "detach");

	if (ct__find_running(ct, st, &r, 0) < 0)
		return;
	ct__policy_targets(ct, r.json, 0);
	if (direct_wanted(ct) && start_direct(ct, st, r.json) == 0) {
		engine_reply_free(&r);
		return;
	}
	if (st->error ||
	    engine_user(ct, st, r.json, user, sizeof(user), &pu, name, sizeof(name)) < 0 ||
	    ct__policy_check(ct, st, &pu, NULL) < 0) {
		engine_reply_free(&r);
		return;
	}
	engine_reply_free(&r);
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
	if (q->tty && q->rows > 0 && q->cols > 0 && q->rows <= 0xffff && q->cols <= 0xffff) {
		/* The first size, before the process runs. podman 4.3 ignores ConsoleSize and
		 * answers a resize before its exec runs with 500 "not running", but its exec
		 * start takes libpod's h/w; dockerd ignores fields it does not know. dockerd
		 * 20.10 has no size before the start (an exec start's ConsoleSize is API 1.42):
		 * the resize after the start is its first, a race the process can win. */
		cJSON_AddNumberToObject(body, "h", q->rows);
		cJSON_AddNumberToObject(body, "w", q->cols);
	}
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

/* The engine's start failure as the user should read it, and what it means. */
static void start_error(struct ct *ct, struct ct_exit *ex)
{
	static const char *noise[] = { "OCI runtime exec failed: ", "Error: runc: ",
				       "Error: crun: ", "exec failed: ",
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
	/* podman's runtime error class at the end ("...: OCI permission denied"). */
	if ((end = strstr(ex->reason, ": OCI ")) != NULL)
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

void ct__exit_exec(struct ct *ct, struct ct_exit *ex)
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
		ct__sleep_ms(5);
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

/* The exec's host pid, once the engine reports it; 0 if it ended without (a start
 * failure) or the engine does not say within EXIT_POLL_MS. */
pid_t ct__exec_pid(struct ct *ct)
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
		ct__sleep_ms(5);
	}
	return pid;
}
