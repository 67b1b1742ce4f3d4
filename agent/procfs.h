/* procfs.h: reading small /proc files whole, and fields of /proc/PID/stat, which direct exec
 * and the engine backend both need (state, terminal foreground group, start time). */
#ifndef REXEC_AGENT_PROCFS_H
#define REXEC_AGENT_PROCFS_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

/* The file at PATH (a /proc or /sys file, read in one go) into BUF, NUL-terminated, without
 * stdio: fopen allocates a buffer per file, which musl's allocator maps and unmaps each time
 * (tens of microseconds each here, on a direct exec's path). Returns its length, or -errno
 * (-EFBIG: it does not fit in SIZE - 1 bytes). */
ssize_t procfs_read(const char *path, char *buf, size_t size);

/* procfs_read() on FD, an open file (not closed here). On -EFBIG, BUF holds its first
 * SIZE - 1 bytes, NUL-terminated. */
ssize_t procfs_read_fd(int fd, char *buf, size_t size);

/* The next line of the NUL-terminated text at *P (its newline replaced by a NUL; *P moves past
 * it), or NULL at the end. */
char *procfs_line(char **p);

/* Field N (numbered as in proc(5): 3 state, 8 tpgid, 22 starttime; N >= 3) of
 * /proc/PID/stat into OUT (OUTLEN bytes). The comm field may hold spaces and parentheses:
 * fields are counted from its last ')'. Returns 0, or -errno (-EINVAL: no such field). */
int procfs_stat_field(pid_t pid, int n, char *out, size_t outlen);

/* The start time of PID in clock ticks since boot (field 22): with the pid, a name for one
 * process that a reused pid does not share. 0: unknown. */
unsigned long long procfs_start_time(pid_t pid);

/* The rlimits of process PID from /proc/PID/limits into RL (RLIM_NLIMITS of them): prlimit()
 * on another process needs CAP_SYS_RESOURCE, reading does not. Returns 0, or -errno
 * (-EINVAL: not the kernel's format). */
int procfs_limits(pid_t pid, struct rlimit *rl);

#endif
