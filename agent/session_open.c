/* session_open.c: the opening of a session, from its Open frame: the stream and limit checks,
 * the policy on a host exec, its user, argv and environment, the process started (or the
 * engine's start of a container session, and its answer), then Opened. The relay from then on
 * is session.c's; what both share is in session_int.h. The seam is OpenSSH's: its session.c
 * sets a session up (do_setup_env(), do_exec()) and channels.c relays it, so that neither has to
 * be read to change the other. */
#include "agent/session.h"
#include "agent/session_int.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/container.h"
#include "agent/policy.h"
#include "agent/record.h"
#include "agent/spawn.h"
#include "proto/error.h"
#include "proto/log.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The user a session runs as: by name or numeric id; "" means the agent's own user. */
static int resolve_user(const char *name, struct passwd *out, char *buf, size_t len)
{
	struct passwd *pw = NULL;
	char *end;
	unsigned long id;

	if (name[0] == 0)
		getpwuid_r(geteuid(), out, buf, len, &pw);
	else if (getpwnam_r(name, out, buf, len, &pw) == 0 && pw != NULL)
		;
	else if ((id = strtoul(name, &end, 10), *end == 0 && end != name && id < 0x7fffffff))
		getpwuid_r((uid_t)id, out, buf, len, &pw);
	return pw != NULL ? 0 : REXEC_ENOT_FOUND;
}

/* name=value strings for the new process: a login-like base, then the client's variables. */
static char **build_env(const Rexec__V1__Open *o, const struct passwd *pw)
{
	size_t n = 0, i, max = 8 + o->n_env;
	char **env = calloc(max + 1, sizeof(*env));

	if (env == NULL)
		return NULL;
#define ADD(...)                                        \
	do {                                            \
		if (asprintf(&env[n], __VA_ARGS__) < 0) \
			goto fail;                      \
		n++;                                    \
	} while (0)
	ADD("HOME=%s", pw->pw_dir);
	ADD("USER=%s", pw->pw_name);
	ADD("LOGNAME=%s", pw->pw_name);
	ADD("SHELL=%s", pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh");
	ADD("PATH=%s", DEFAULT_PATH);
	if (o->tty)
		ADD("TERM=%s", o->term && o->term[0] ? o->term : "xterm");
	for (i = 0; i < o->n_env; i++) {
		size_t j, len = strlen(o->env[i]->name);
		/* A client variable replaces a base one of the same name. */
		for (j = 0; j < n; j++) {
			if (strncmp(env[j], o->env[i]->name, len) == 0 && env[j][len] == '=') {
				free(env[j]);
				env[j] = env[--n];
				env[n] = NULL;
				break;
			}
		}
		ADD("%s=%s", o->env[i]->name, o->env[i]->value);
	}
#undef ADD
	return env;
fail:
	for (i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return NULL;
}

/* Frees V, a NULL-terminated array of strings (NULL: nothing). */
static void free_strv(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* argv for the process: the client's words, or the user's shell as a login shell. */
static char **build_argv(const Rexec__V1__Open *o, const struct passwd *pw, char **file)
{
	size_t i, n = o->n_argv ? o->n_argv : 1;
	char **argv = calloc(n + 1, sizeof(*argv));
	const char *shell = pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh";
	const char *base;

	*file = NULL;
	if (argv == NULL)
		return NULL;
	if (o->n_argv == 0) {
		base = strrchr(shell, '/');
		if (asprintf(&argv[0], "-%s", base ? base + 1 : shell) < 0 ||
		    (*file = strdup(shell)) == NULL)
			goto fail;
		return argv;
	}
	for (i = 0; i < o->n_argv; i++) {
		argv[i] = strndup((const char *)o->argv[i].data, o->argv[i].len);
		if (argv[i] == NULL)
			goto fail;
	}
	return argv;
fail:
	free(*file);
	*file = NULL;
	free_strv(argv);
	return NULL;
}

/* FD (-1: none) as the libuv pipe H of S, counted in its handles and marked *OPEN. Returns 0
 * or a negative libuv code (FD closed). */
static int open_pipe(struct session *s, uv_pipe_t *h, int fd, int *open)
{
	int ret;

	if (fd < 0)
		return 0;
	uv_pipe_init(s->agent->loop, h, 0);
	h->data = s;
	s->handles++;
	*open = 1;
	if ((ret = uv_pipe_open(h, fd)) < 0) {
		close(fd);
		return ret;
	}
	return 0;
}

/* The process's stdio as libuv handles: the PTY master, or its pipes. */
static void setup_pipes(struct session *s)
{
	int ret;

	if ((ret = open_pipe(s, &s->out_h, s->tty ? s->sp.master : s->sp.out, &s->out_open)) < 0 ||
	    (ret = open_pipe(s, &s->err_h, s->sp.err, &s->err_open)) < 0 ||
	    (ret = open_pipe(s, &s->in_h, s->sp.in, &s->in_open)) < 0)
		log_error("session %u: %s", s->stream, uv_strerror(ret));
}

/* Opened: the process runs. This is the session's start for the audit log too, also when the
 * client left while the engine was starting it. */
static void send_opened(struct session *s)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Opened o = REXEC__V1__OPENED__INIT;
	char id[32];

	/* Unique for the agent's life (a pid and a stream number are not: two engine sessions
	 * in one container on two connections share both), so that the audit log's start and
	 * end records pair up. */
	snprintf(id, sizeof(id), "%d-%llu", (int)s->sp.pid, ++s->agent->n_opened);
	o.session_id = id;
	o.pid = (uint32_t)s->sp.pid;
	o.tty = s->tty;
	o.via = (char *)(s->via ? s->via : "");
	f.msg_case = REXEC__V1__FRAME__MSG_OPENED;
	f.opened = &o;
	session__send_frame(s, &f);
	record_start(s->rec, id, s->tty);
	if (s->audit != NULL) {
		struct audit_start st = { .session = id,
					  .user = s->user,
					  .tty = s->tty,
					  .pid = s->sp.pid,
					  .via = o.via,
					  /* container sessions: what the engine backend did */
					  .detail = strcmp(o.via, "host") != 0 ? s->cmd : NULL };
		audit_started(s->agent->audit, s->audit, &st);
		s->audit_started = 1;
		s->started_ns = uv_hrtime();
	}
}

/* Refuses an Open: an Error frame on its stream, a "refused" audit record (session_int.h). */
void session__refuse(struct agent *a, struct conn *c, uint32_t stream, const cJSON *desc,
		     Rexec__V1__ErrorCode code, const char *fmt, ...)
{
	char msg[WIRE_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c != NULL)
		conn_send_error(c, stream, code, "%s", msg);
	if (desc != NULL)
		audit_refused(a->audit, desc, msg);
}

/* The direct path started the process as the agent's own child: from here on it is a session
 * like a host one (pipes or PTY, group signals, reaped by SIGCHLD). */
static void start_direct_session(struct session *s, struct ct_started *st)
{
	struct agent *a = s->agent;
	unsigned i;

	ct_release(s->ct);
	s->ct = NULL;
	s->sp = st->sp;
	s->tty = st->tty;
	s->via = "direct";
	setup_pipes(s);
	log_info("session %u: %s: %s (pid %d, %s)", s->stream,
		 s->conn ? conn_peer_name(s->conn) : "(gone)", s->cmd, (int)s->sp.pid,
		 s->tty ? "pty" : "pipes");
	send_opened(s);
	if (s->lost_starting) {
		s->conn = NULL;
		session__hang_up(s);
	} else {
		session__start_reading(s);
	}
	/* It may have ended before we knew it. */
	for (i = 0; i < 16 && i < a->n_unclaimed; i++) {
		if (a->unclaimed[i].pid == s->sp.pid) {
			a->unclaimed[i].pid = 0;
			session_reaped(a, s->sp.pid, a->unclaimed[i].status);
			return;
		}
	}
}

/* The engine has started the process (or answered at once, or failed). */
static void on_ct_started(void *arg, struct ct_started *st)
{
	struct session *s = arg;
	int ret;

	if (st->policy_decided)
		audit_policy(s->audit, st->policy_rule);
	if (st->error) {
		log_info("session %u: %s", s->stream, st->message);
		session__refuse(s->agent, s->conn, s->stream, s->audit,
				(Rexec__V1__ErrorCode)st->error, "%s", st->message);
		session__destroy(s);
		return;
	}
	snprintf(s->cmd, sizeof(s->cmd), "%s", st->what && st->what[0] ? st->what : "list");
	s->sp.pid = st->pid;
	s->tty = st->fd >= 0 && st->tty;
	session__set_state(s, SESS_RUNNING);
	if (st->direct) {
		start_direct_session(s, st);
		return;
	}
	s->via = "engine";
	send_opened(s);
	if (st->fd < 0) {
		/* Answered at once (ps, a detached exec or run). */
		if (buf_size(&st->text) > 0)
			session__send_data(s, REXEC__V1__FD__FD_STDOUT, buf_peek(&st->text),
					   buf_size(&st->text));
		session__send_eof(s, REXEC__V1__FD__FD_STDOUT);
		session__send_eof(s, REXEC__V1__FD__FD_STDERR);
		session__send_exit(s, 0, 0, 0, "");
		audit_exit(s->audit, 0, 0, "");
		session__destroy(s);
		return;
	}
	if ((ret = open_pipe(s, &s->out_h, st->fd, &s->out_open)) < 0) {
		log_error("session %u: %s", s->stream, uv_strerror(ret));
		session__send_exit(s, 255, 0, 0, "agent: cannot read the engine's stream");
		audit_exit(s->audit, 255, 0, "agent: cannot read the engine's stream");
		session__destroy(s);
		return;
	}
	log_info("session %u: %s@%s: %s (%s)", s->stream, s->conn ? conn_peer_name(s->conn) : "-",
		 s->conn ? conn_peer_addr(s->conn) : "gone", s->cmd, s->tty ? "tty" : "no tty");
	if (buf_size(&st->text) > 0) {
		s->window -= (int64_t)ct_demux(s->ct, buf_peek(&st->text), buf_size(&st->text),
					       session__emit_ct, s);
	}
	if (s->lost_starting) {
		s->conn = NULL;
		session__hang_up(s);
		return;
	}
	session__start_reading(s);
}

/* The client's identity for the policy: its CN and groups (the certificate's OU values, as
 * pointers into C's identity, in GP), and the agent's policy now. */
static void peer_who(struct agent *a, struct conn *c, struct ct_who *w,
		     const char *gp[TICKET_GROUPS_MAX])
{
	const struct tls_identity *id = conn_peer_identity(c);
	size_t i;

	w->policy = a->policy;
	w->cn = id->cn;
	for (i = 0; i < id->n_groups && i < TICKET_GROUPS_MAX; i++)
		gp[i] = id->groups[i];
	w->groups = gp;
	w->n_groups = i;
}

/* The options of a host exec that the policy knows. */
static unsigned host_options(const Rexec__V1__Open *o)
{
	unsigned opts = 0;
	size_t i;

	if (o->n_env > 0)
		opts |= POLICY_OPT_ENV;
	if (o->workdir[0])
		opts |= POLICY_OPT_WORKDIR;
	for (i = 0; i < o->n_options; i++)
		if (strcmp(o->options[i]->key, "privileged") == 0 &&
		    strcmp(o->options[i]->value, "0") != 0)
			opts |= POLICY_OPT_PRIVILEGED;
	return opts;
}

/* The policy on the host exec O of C, as PW (the host's passwd) resolved its user and with
 * ARGV (NULL-terminated; the login shell when O has none). Returns 0 when allowed; -1 when
 * refused: the Error sent and DESC's "refused" record written. */
static int host_allowed(struct agent *a, struct conn *c, uint32_t stream, const Rexec__V1__Open *o,
			const struct passwd *pw, char *const *argv, cJSON *desc)
{
	static const char *const host[] = { "host" };
	const char *gp[TICKET_GROUPS_MAX];
	struct ct_who w;
	struct policy_req r;
	struct policy_decision d;
	char *cmd, what[256], rule[512];

	peer_who(a, c, &w, gp);
	cmd = policy_join((const char *const *)argv, o->n_argv);
	if (cmd == NULL) {
		session__refuse(a, c, stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		return -1;
	}
	r = (struct policy_req){ .who = w.cn,
				 .groups = w.groups,
				 .n_groups = w.n_groups,
				 .verb = POLICY_EXEC,
				 .targets = host,
				 .n_targets = 1,
				 .user = { .given = o->user[0] != 0,
					   .name = pw->pw_name,
					   .uid = (long long)pw->pw_uid },
				 .command = cmd,
				 .options = host_options(o) };
	d = policy_decide(a->policy, &r);
	free(cmd);
	if (!policy_allows_all(a->policy))
		audit_policy(desc, d.rule);
	if (d.allow)
		return 0;
	policy_describe(&r, what, sizeof(what));
	log_info("%s@%s: denied by policy: %s: %s", w.cn, conn_peer_addr(c), what,
		 policy_rule_render(a->policy, d.rule, rule, sizeof(rule)));
	session__refuse(a, c, stream, desc, REXEC__V1__ERROR_CODE__ERROR_DENIED,
			"denied by policy: %s", what);
	return -1;
}

/* Refuses the Open of F with ERROR_LIMIT when C or its user is at a limit (agent.h). Returns 1
 * when refused. */
static int over_limits(struct agent *a, struct conn *c, const wire_frame *f, const cJSON *desc)
{
	const char *who = conn_peer_name(c);

	if (session__count(a, c) >= a->limits.streams_per_connection) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_LIMIT,
				"too many sessions on one connection (at most %u at once: "
				"limits.streams_per_connection)",
				a->limits.streams_per_connection);
		return 1;
	}
	if (session__count_user(a, who) >= a->limits.sessions_per_user) {
		log_warn("%s: %s is at limits.sessions_per_user (%u)", conn_peer_addr(c), who,
			 a->limits.sessions_per_user);
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_LIMIT,
				"too many sessions for %s on this agent (at most %u at once: "
				"limits.sessions_per_user); end some first",
				who, a->limits.sessions_per_user);
		return 1;
	}
	return 0;
}

/* A session in a container: the engine backend does the start on the thread pool. DESC (the
 * audit log's description of the Open; NULL without one) goes to the session. */
/* What every new session S of stream F on C starts with: its owner, its windows, STATE. */
static void start_session(struct session *s, struct agent *a, struct conn *c, const wire_frame *f,
			  enum sess_state state)
{
	s->agent = a;
	s->conn = c;
	s->owner = *conn_peer_identity(c);
	s->stream = f->stream;
	snprintf(s->who, sizeof(s->who), "%s", conn_peer_name(c));
	s->state = state;
	s->window = f->open->initial_window ? f->open->initial_window : WIRE_WINDOW_DEFAULT;
	s->in_window = WIRE_WINDOW_DEFAULT;
	wq_init(&s->in, session__stdin_written, s);
}

/* S joins A's table, with its timer (the first of the handles that keep its memory). */
static void link_session(struct session *s, struct agent *a)
{
	uv_timer_init(a->loop, &s->timer);
	s->timer.data = s;
	s->handles = 1;
	s->next = a->sessions;
	a->sessions = s;
}

static void open_container(struct agent *a, struct conn *c, const wire_frame *f, cJSON *desc)
{
	const Rexec__V1__Open *o = f->open;
	struct session *s = NULL;
	const char *gp[TICKET_GROUPS_MAX];
	struct ct_who who;

	if (o->kind == REXEC__V1__KIND__KIND_RESUME) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
				"this agent does not resume sessions");
		goto fail;
	}
	if (o->kind != REXEC__V1__KIND__KIND_LIST &&
	    ((o->target->type == REXEC__V1__TARGET_TYPE__TARGET_SERVICE &&
	      !o->target->service[0]) ||
	     (o->target->type == REXEC__V1__TARGET_TYPE__TARGET_CONTAINER &&
	      !o->target->container[0]))) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"open: the target names no service or container");
		goto fail;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		goto fail;
	}
	start_session(s, a, c, f, SESS_STARTING);
	s->sp.pid = 0;
	s->sp.master = s->sp.in = s->sp.out = s->sp.err = s->sp.errpipe = -1;
	snprintf(s->cmd, sizeof(s->cmd), "%s",
		 f->open->target->service[0] ? f->open->target->service
					     : f->open->target->container);
	snprintf(s->user, sizeof(s->user), "%s", f->open->user);
	peer_who(a, c, &who, gp);
	s->ct = ct_start(a->loop, &a->engine, a->ctcache, a->initmem, a->exec_path, &who, f->open,
			 on_ct_started, s);
	if (s->ct == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		free(s);
		goto fail;
	}
	s->audit = desc;
	s->rec = record_new(a->record, a->loop, o, conn_peer_name(c), o->user,
			    session__on_record_room, s);
	link_session(s, a);
	ct_go(s->ct); /* may call on_ct_started() before it returns */
	return;
fail:
	cJSON_Delete(desc);
}

void session_open(struct agent *a, struct conn *c, const wire_frame *f)
{
	const Rexec__V1__Open *o = f->open;
	struct spawn_req req;
	struct passwd pw;
	char pwbuf[4096];
	char **argv = NULL, **envp = NULL, *file = NULL;
	struct session *s = NULL;
	cJSON *desc = audit_describe(a->audit, o, conn_peer_identity(c), conn_peer_addr(c));
	int ret;

	if (a->stopping || session__find(a, c, f->stream) != NULL || f->stream % 2 == 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
				"stream %u cannot be opened", f->stream);
		goto out;
	}
	if (over_limits(a, c, f, desc))
		goto out;
	if (o->target->type != REXEC__V1__TARGET_TYPE__TARGET_HOST) {
		open_container(a, c, f, desc);
		return;
	}
	if (o->kind != REXEC__V1__KIND__KIND_EXEC) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE,
				"only exec runs on the host itself; name a service or container");
		goto out;
	}
	if (resolve_user(o->user, &pw, pwbuf, sizeof(pwbuf)) < 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND,
				"no such user on this host: %s", o->user);
		goto out;
	}
	argv = build_argv(o, &pw, &file);
	if (argv != NULL && host_allowed(a, c, f->stream, o, &pw, argv, desc) < 0)
		goto out;
	envp = build_env(o, &pw);
	s = calloc(1, sizeof(*s));
	if (argv == NULL || envp == NULL || s == NULL) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
				"out of memory");
		free(s);
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.file = file;
	req.argv = argv;
	req.envp = envp;
	req.user = pw.pw_name;
	req.uid = pw.pw_uid;
	req.gid = pw.pw_gid;
	req.workdir = o->workdir[0] ? o->workdir : NULL;
	req.fallback = pw.pw_dir;
	req.tty = o->tty;
	req.stdin_open = o->stdin_open;
	if (o->size != NULL) {
		req.ws.ws_row = (unsigned short)o->size->rows;
		req.ws.ws_col = (unsigned short)o->size->cols;
		req.ws.ws_xpixel = (unsigned short)o->size->xpixel;
		req.ws.ws_ypixel = (unsigned short)o->size->ypixel;
	}
	if ((ret = spawn_start(&req, &s->sp)) < 0) {
		session__refuse(a, c, f->stream, desc, REXEC__V1__ERROR_CODE__ERROR_START_FAILED,
				"cannot start %s: %s", argv[0], strerror(-ret));
		free(s);
		goto out;
	}

	start_session(s, a, c, f, SESS_RUNNING);
	s->tty = o->tty;
	snprintf(s->cmd, sizeof(s->cmd), "%s", o->n_argv ? argv[0] : file);
	snprintf(s->user, sizeof(s->user), "%s", pw.pw_name);
	s->audit = desc;
	desc = NULL;
	s->rec = record_new(a->record, a->loop, o, conn_peer_name(c), s->user,
			    session__on_record_room, s);
	link_session(s, a);
	s->via = "host";
	setup_pipes(s);
	log_info("session %u: %s@%s runs %s as %s (pid %d, %s)", s->stream, conn_peer_name(c),
		 conn_peer_addr(c), s->cmd, s->user, (int)s->sp.pid, s->tty ? "pty" : "pipes");
	send_opened(s);
	session__start_reading(s);
out:
	cJSON_Delete(desc);
	free(file);
	free_strv(argv);
	free_strv(envp);
}
