/* container.h: the engine backend of a session: compose resolution by labels, then exec (a new
 * process in a running container), attach (its main process), run (a one-off container by the
 * compose recipe) or list, all through the Docker Engine API.
 *
 * Engine calls block, so each step runs on libuv's thread pool and reports back on the loop.
 * A struct ct outlives its session while one of its jobs is in flight: ct_release() detaches
 * it and the last job frees it. Docker has no API to signal an exec, so the agent learns the
 * exec's host pid from its inspect and signals it (and, when the client is gone, its whole
 * process tree) itself. */
#ifndef REXEC_AGENT_CONTAINER_H
#define REXEC_AGENT_CONTAINER_H

#include <sys/types.h>
#include <uv.h>

#include "agent/detachkeys.h"
#include "agent/engine.h"
#include "agent/spawn.h"
#include "proto/buf.h"
#include "proto/wire.h"

struct ct;
struct ctcache;
struct initmem;
struct policy;

/* Who asks, for the policy (policy.h) the start is checked against on the thread pool, once
 * the target, its user and the command are resolved and before anything starts. Borrowed by
 * ct_start(), which copies the strings and takes a reference on POLICY. */
struct ct_who {
	struct policy *policy;
	const char *cn;
	const char *const *groups;
	size_t n_groups;
};

/* What a start produced. */
struct ct_started {
	int error; /* 0, or a Rexec__V1__ErrorCode (then MESSAGE says why) */
	char message[WIRE_TEXT_MAX];
	int fd;    /* the process's stream (non-blocking, close-on-exec), or -1: answered at once */
	int tty;   /* the stream is raw; else multiplexed (8-byte headers) */
	pid_t pid; /* the process on the host (0 when unknown: an engine exec's comes later, see
		    * ct_exec_pid()) */
	const char *what; /* "exec 3f2a1b in shop_web_1" etc., for logs */
	struct buf text;  /* answered at once: stdout (ps lines, a run -d container name) */
	int direct;       /* the direct path started it: SP is the agent's own child */
	struct spawn_result sp;
	int policy_decided; /* the policy decided (exec, run, attach): POLICY_RULE says which */
	int policy_rule;    /* the deciding rule's index, or POLICY_NO_RULE */
};

/* What an ended stream means. */
struct ct_exit {
	int code;
	int signal; /* killed by this signal (code is then 128 + signal) */
	int error;  /* the command never started: a Rexec__V1__ErrorCode (CODE is 125, 126, 127) */
	char reason[WIRE_TEXT_MAX];
};

typedef void (*ct_started_fn)(void *arg, struct ct_started *st);
typedef void (*ct_exit_fn)(void *arg, const struct ct_exit *ex);

/* The engine side of the Open O (any kind; target SERVICE or CONTAINER) on LOOP, with the
 * stream's initial terminal size taken from O; ct_go() starts it. WHO's policy decides the
 * start (a denial is ST->error ERROR_DENIED) and filters a list. An exec or attach reuses the
 * target that CACHE (ctcache.h; may be NULL) kept from an earlier start. EXEC_PATH (enum
 * agent_exec_path) says whether an exec may, must or must not take the direct path (direct.h).
 * STARTED is called on the loop with ARG once, unless ct_release() came first. Returns NULL
 * only when out of memory. */
struct ct *ct_start(uv_loop_t *loop, const struct engine *e, struct ctcache *cache,
		    struct initmem *mem, int exec_path, const struct ct_who *who,
		    const Rexec__V1__Open *o, ct_started_fn started, void *arg);

/* Starts what ct_start() set up: on a thread pool job, or at once (STARTED is then called
 * before this returns) when a direct exec needs neither the engine nor a wait on the init. */
void ct_go(struct ct *ct);

/* The stream ended: finds out how (exec inspect, container wait, detach) and calls DONE. For
 * `run --rm`, removes the container first. */
void ct_stream_ended(struct ct *ct, ct_exit_fn done);

/* Splits multiplexed stream bytes into stdout (fd 1) and stderr (fd 2) payloads, passed to
 * EMIT in order. Raw (tty) streams pass through as stdout. Returns the payload byte count. */
size_t ct_demux(struct ct *ct, const uint8_t *p, size_t n,
		void (*emit)(void *arg, int fd, const uint8_t *p, size_t n), void *arg);

/* Holds back the engine's "cannot start" text (so that it becomes the exit reason) when the
 * first output of an exec is that text, and all output after it (the process never ran).
 * Returns 1 if P..N was held back. */
int ct_hold_start_error(struct ct *ct, int fd, const uint8_t *p, size_t n);

/* Stdin bytes P..N of an attach with a TTY on their way to the container, with its detach
 * keys taken out (detachkeys.h). Returns the bytes to write (P itself when CT matches no keys,
 * else BUF, with room for N + DETACH_KEYS_MAX) and their count in *NOUT: a prefix of the keys is
 * held back until the next byte tells. *DETACHED is set to 1 when the keys were typed: the stream
 * is to be closed, the container runs on. podman 4.3 ignores the detachKeys of its attach API, so
 * the agent matches them itself for both engines, as moby/term's escape proxy does. */
const uint8_t *ct_stdin_detach(struct ct *ct, const uint8_t *p, size_t n, uint8_t *buf,
			       size_t *nout, int *detached);

void ct_resize(struct ct *ct, unsigned rows, unsigned cols);

/* A Signal frame: to the exec's foreground job (tty) or process, or the container's main
 * process (attach with sig-proxy, run). */
void ct_signal(struct ct *ct, int sig);

/* The client is gone or gave up: SIG to everything the session started (the exec's process
 * tree, the one-off container); attach sessions just detach. Returns 1 if something was
 * signalled, 0 if the session can simply end. */
int ct_hangup(struct ct *ct, int sig);

/* An engine exec's process on the host once the engine has said which it is (the container's
 * main process is not it); 0 before that, or for other kinds. */
pid_t ct_exec_pid(const struct ct *ct);

/* Forgets the session: no more callbacks; the ct is freed now or when its last job ends. */
void ct_release(struct ct *ct);

#endif
