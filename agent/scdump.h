/* scdump.h: the seccomp filters of a process (a container's init), dumped with ptrace: seize,
 * interrupt, PTRACE_SECCOMP_GET_FILTER for each, detach. A stopped or frozen process is
 * refused, and one that does not stop within a second. Blocks (up to that second): not on the
 * loop. */
#ifndef REXEC_AGENT_SCDUMP_H
#define REXEC_AGENT_SCDUMP_H

#include <stddef.h>
#include <sys/types.h>

#include <linux/filter.h>

#define SCDUMP_MAX 16 /* filters read at most; a process with as many is refused */

/* The filters of PID into FILTERS (SCDUMP_MAX entries), oldest first (the order to install
 * them), *N of them; each program is its own allocation (scdump_free()). Returns 0, or a
 * negative code with WHY: the process cannot be traced or stopped, has SCDUMP_MAX filters or
 * more (-E2BIG), or uses a user-notify filter, whose listener lives in the runtime
 * (-ENOTSUP). What was read is in FILTERS either way. */
int scdump_read(pid_t pid, struct sock_fprog *filters, int *n, char *why, size_t whylen);

/* Copies N filters from SRC to DST (each program its own allocation). Returns 0 or -ENOMEM
 * (nothing left allocated). */
int scdump_copy(struct sock_fprog *dst, const struct sock_fprog *src, int n);

/* Frees the N programs of FILTERS. */
void scdump_free(struct sock_fprog *filters, int n);

#endif
