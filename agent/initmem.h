/* initmem.h: what the agent keeps of the container inits it entered, by pid and start time (a
 * reused pid is another process and misses): the seccomp filters (dumped with ptrace: an exec
 * does not stop the init each time, and a dump that passed the direct path's check is the one
 * every later exec gets, whatever the init stacks afterwards) and the spec's summary (a
 * running container's spec does not change; reading and parsing its JSON again was a tenth
 * of each direct exec here). The oldest of INITMEM_SLOTS goes first. Owned by struct agent;
 * shared by the thread pool's jobs (a lock inside). */
#ifndef REXEC_AGENT_INITMEM_H
#define REXEC_AGENT_INITMEM_H

#include <sys/types.h>

#include <linux/filter.h>

#include "agent/ocispec.h"

#define INITMEM_SLOTS 16

struct initmem;

/* A new, empty memory (NULL: out of memory); initmem_free() frees it and what it keeps. */
struct initmem *initmem_new(void);
void initmem_free(struct initmem *m);

/* The spec summary kept for the init PID started at START into OUT. Returns 1, or 0 when none
 * is kept (or START is 0: unknown). M may be NULL (keeps nothing). */
int initmem_spec(struct initmem *m, pid_t pid, unsigned long long start, struct ocispec *out);
void initmem_put_spec(struct initmem *m, pid_t pid, unsigned long long start,
		      const struct ocispec *spec);

/* The filters kept for the init into DST (SCDUMP_MAX entries, copies the caller frees with
 * scdump_free()), *N of them. Returns 1, 0 when none are kept, or -ENOMEM. */
int initmem_filters(struct initmem *m, pid_t pid, unsigned long long start, struct sock_fprog *dst,
		    int *n);
/* Keeps a copy of the N filters of SRC for the init, unless some are kept already. */
void initmem_put_filters(struct initmem *m, pid_t pid, unsigned long long start,
			 const struct sock_fprog *src, int n);

#endif
