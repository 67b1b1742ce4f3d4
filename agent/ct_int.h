/* ct_int.h: what container.c and ctrun.c (the parts of container.h's module) share: the copy
 * of an Open, the state of one container session, and the engine helpers both use. Internal:
 * nothing outside agent/container.c and agent/ctrun.c includes it. */
#ifndef REXEC_AGENT_CT_INT_H
#define REXEC_AGENT_CT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>
#include <uv.h>

#include "agent/container.h"
#include "agent/detachkeys.h"
#include "agent/engine.h"
#include "proto/buf.h"
#include "proto/wire.h"

#define LABEL_NS            "com.docker.compose."
#define LABEL_PROJECT       "com.docker.compose.project"
#define LABEL_SERVICE       "com.docker.compose.service"
#define LABEL_NUMBER        "com.docker.compose.container-number"
#define LABEL_ONEOFF        "com.docker.compose.oneoff"
#define LABEL_FILES         "com.docker.compose.project.config_files"
#define LABEL_WORKDIR       "com.docker.compose.project.working_dir"
#define EXIT_POLL_MS        5000 /* how long an ended exec may still show as running */
#define DETACH_POLL_MS      500  /* an attach stream that ended while the container still runs */
#define MAX_TREE            4096 /* processes signalled when a vanished client's exec is ended */
#define ID_MAX              72
#define MAX_PENDING_SIGNALS 8
#define NAME_MAX_           256

enum ct_kind { CT_EXEC, CT_ATTACH, CT_RUN, CT_LIST };

/* The Open, copied: the frame is gone by the time a job runs. */
struct ct_req {
	enum ct_kind kind;
	int by_container; /* target CONTAINER: NAME is a container name or id */
	char *project, *service, *container;
	unsigned index;
	char **argv;
	size_t n_argv;
	char **env; /* "K=V" */
	size_t n_env;
	char *user, *workdir;
	int tty, stdin_open;
	unsigned rows, cols;
	char **opt_keys, **opt_vals; /* verb options */
	size_t n_opts;
};

struct ct {
	uv_loop_t *loop;
	struct engine engine;
	struct ctcache *cache;   /* NULL: every start asks the engine */
	struct initmem *initmem; /* what the direct path learnt of inits (initmem.h), or NULL */
	struct ct_req req;
	void *arg; /* the session; NULL once released */
	ct_started_fn started;
	ct_exit_fn exited;
	int jobs;
	/* What the start found. */
	char cid[ID_MAX];              /* container id */
	char cname[NAME_MAX_];         /* container name */
	char exec_id[ID_MAX];          /* exec sessions */
	pid_t pid;                     /* exec process, or container main process */
	unsigned long long init_start; /* the container's init's start time, if known */
	unsigned long long pidns;      /* its pid namespace (inode), 0 if not known */
	int exec_path;                 /* enum agent_exec_path */
	int pid_known;                 /* exec: the engine has said (pid may be 0: it never ran) */
	int pending[MAX_PENDING_SIGNALS]; /* exec: signals that came before the pid */
	int n_pending;
	int pending_hangup; /* exec: the client went away before the pid was known */
	int tty;
	int rm; /* run --rm */
	char what[NAME_MAX_ + 64];
	/* Multiplexed stream state: the header being read, then the payload left. */
	uint8_t hdr[8];
	size_t hdr_len;
	size_t left;
	int fd_now;
	/* An exec that failed to start says so on its stream: kept for the exit reason. */
	int first_output_seen;
	char start_error[WIRE_TEXT_MAX];
	struct detach_keys detach; /* attach with a TTY: matched by the agent (ctattach.c) */
	/* The policy (ctpolicy.c): who asks, and the names the target matches. */
	struct policy *policy;
	char *who;
	char **groups;
	size_t n_groups;
	char tgt_service[2 * NAME_MAX_ + 2]; /* "PROJECT/SERVICE", or "" */
	char tgt_container[NAME_MAX_ + 16];  /* "container:NAME", or "" */
};

/* The value of verb option KEY of R, or NULL; whether it is set to a true value. */
const char *ct__opt(const struct ct_req *r, const char *key);
int ct__opt_on(const struct ct_req *r, const char *key);

/* The start fails with CODE (Rexec__V1__ErrorCode) and a message for the user. */
void ct__fail(struct ct_started *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* An engine call whose failure ends the start: the reason goes to ST and the reply is freed.
 * Returns 0 on a 2xx. */
int ct__call(struct ct *ct, struct ct_started *st, const char *method, const char *path,
	     const cJSON *body, struct engine_reply *r);

/* A JSON array of the N strings of V (the caller owns it). */
cJSON *ct__str_array(char *const *v, size_t n);

/* A listed container's first name (without the leading '/') and its label NAME ("" if none). */
const char *ct__first_name(const cJSON *c);
const char *ct__list_label(const cJSON *c, const char *name);

/* The compose containers of SERVICE (all of them when NULL or ""), in any state, into R. */
int ct__list_compose(struct ct *ct, struct ct_started *st, const char *service,
		     struct engine_reply *r);

/* The container of the request's service into CT (see container.c). */
int ct__pick_service(struct ct *ct, struct ct_started *st, int any_state);

/* The inspect of container ID into R. */
int ct__inspect(struct ct *ct, struct ct_started *st, const char *id, struct engine_reply *r);

/* Hijacks POST PATH with BODY; the stream goes to ST, what came behind the headers to EARLY. */
int ct__hijack(struct ct *ct, struct ct_started *st, const char *path, const cJSON *body,
	       struct buf *early);

/* The TTY of the exec or container to ROWS x COLS (0: nothing to do). */
void ct__resize_now(struct ct *ct, unsigned rows, unsigned cols);

/* ms of sleep, on the thread pool. */
void ct__sleep_ms(unsigned ms);

/* The inode of PID's pid namespace, or 0. */
unsigned long long ct__pidns_of(pid_t pid);

/* The target container for exec and attach (by name/id or by service; it must run) into R,
 * from CT's cache when it kept it. CACHE_ONLY: -2 (and nothing said) when it did not. */
int ct__find_running(struct ct *ct, struct ct_started *st, struct engine_reply *r, int cache_only);

/* ctexec.c: an exec (direct or through the engine); its exit and host pid as the engine
 * reports them (0: it ended without one, or the engine did not say in time). */
void ct__start_exec(struct ct *ct, struct ct_started *st);
void ct__exit_exec(struct ct *ct, struct ct_exit *ex);
pid_t ct__exec_pid(struct ct *ct);

/* ctattach.c, ctlist.c: attach to the main process; list the compose containers. */
void ct__start_attach(struct ct *ct, struct ct_started *st);
void ct__start_list(struct ct *ct, struct ct_started *st);

/* ctrun.c: a one-off container from the service's definition (compose run); its removal. */
void ct__start_run(struct ct *ct, struct ct_started *st);
void ct__remove_container(struct ct *ct);

/* ctpolicy.c: the policy's decision on the resolved request, on the thread pool. */
struct policy_user;

/* The names the target matches, from a container's inspect (or list entry, LISTED): its
 * compose PROJECT/SERVICE, and container:NAME when it was named with --container. */
void ct__policy_targets(struct ct *ct, const cJSON *c, int listed);

/* Decides CT's request (the targets set, the user U, COMMAND; NULL: CT's argv joined) under
 * its policy. Returns 0 when allowed; -1 with ST's error ERROR_DENIED (or INTERNAL) when not. */
int ct__policy_check(struct ct *ct, struct ct_started *st, const struct policy_user *u,
		     const char *command);

/* Whether CT's policy lets its client `ps` the listed container C. */
int ct__policy_may_list(struct ct *ct, const cJSON *c);

/* Whether the policy needs the request's user resolved (some rule names `users`). */
int ct__policy_wants_user(const struct ct *ct);

#endif
