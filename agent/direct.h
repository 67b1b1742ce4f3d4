/* direct.h: the direct exec path into a running container, as `runc exec` does it but without
 * the engine: the agent (root on the host) learns the container's init pid from the engine,
 * then starts the process itself inside the init's namespaces and cgroup, with the init's
 * capability sets, no_new_privs, seccomp filters (dumped with ptrace) and rlimits, and the
 * user, environment and working directory the engine would give it. Its stdio are the
 * agent's own pipes or PTY: no engine round trips, no engine stdio copy.
 *
 * direct_prepare() and direct_spawn() block (ptrace, /proc reads, the container's files read
 * and the child's start, each bounded in time): call them on the thread pool, never on the
 * loop. The child is the agent's own child: it is reaped by the SIGCHLD handler like a host
 * session's. */
#ifndef REXEC_AGENT_DIRECT_H
#define REXEC_AGENT_DIRECT_H

#include <stddef.h>
#include <sys/types.h>

#include <cJSON.h>

#include "agent/spawn.h"

struct direct_ctx;
struct initmem;

/* Gathers what the process needs from the container whose init is PID (INSPECT: the engine's
 * container inspect), with the exec's -u USER, -w WORKDIR (NULL or "": the container's) and
 * -e ENV ("K=V", N_ENV of them). Returns 0 with *OUT set, or a negative code with WHY saying
 * which part of the context cannot be reproduced (the engine path is then the way). START,
 * when not 0, is the init's start time as it was found (procfs_start_time): another process
 * under the same pid is refused (-ESRCH). MEM (initmem.h; may be NULL) keeps what was learnt
 * of an init for the next exec into it. */
int direct_prepare(struct direct_ctx **out, struct initmem *mem, pid_t pid,
		   unsigned long long start, const cJSON *inspect, const char *user,
		   const char *workdir, char *const *env, size_t n_env, int tty, char *why,
		   size_t whylen);

/* Starts REQ (argv, tty, size, stdin; the rest is filled from C) in the container. Returns 0
 * with RES as spawn_start() fills it (RES->pid is the host pid), or -errno. */
int direct_spawn(struct direct_ctx *c, struct spawn_req *req, struct spawn_result *res);

/* The uid the process of C will run as, and that uid's name in the container's passwd ("" when
 * it has none): what the policy decides on before direct_spawn(). */
uid_t direct_uid(const struct direct_ctx *c);
const char *direct_user_name(const struct direct_ctx *c);

void direct_free(struct direct_ctx *c);

#endif
