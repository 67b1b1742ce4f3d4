/* inroot.h: files inside a running container, opened by a short-lived helper process and never
 * by the agent's own threads. Everything under a container's root is the container's to make:
 * /etc/passwd may be a FIFO (an open that never returns), a device node (a host device opened
 * by root; a tty would become our controlling terminal), or sit on a FUSE mount that answers
 * never. As runc does such reads inside the container, a helper does them here: a child that
 * shares our memory (no copy of the page tables) but not our fds, looks the path up with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) under /proc/PID/root (a symlink or ".."
 * never leads out of it, /proc/self/fd/N is never followed), opens it O_PATH first and takes
 * only a regular file (a FIFO or device is never opened for reading), keeps only the
 * capability to read what root may read, and is killed past INROOT_TIMEOUT_MS. Its exit
 * signal is 0, so the agent's SIGCHLD reaper never sees it: the caller reaps it.
 *
 * Each call blocks up to the time bound: call from the thread pool, never from the loop. */
#ifndef REXEC_AGENT_INROOT_H
#define REXEC_AGENT_INROOT_H

#include <stddef.h>
#include <sys/types.h>

#define INROOT_TIMEOUT_MS 2000
#define INROOT_MAX_FILES  4

/* Reads the regular files RELS[0..N) (paths inside the root of process PID) into BUFS (LENS
 * bytes each), NUL-terminated, as procfs_read_fd() reads: RESULTS[i] is the length, or
 * -EFBIG (longer than LENS[i] - 1 bytes, of which BUFS[i] holds the first), -EINVAL (not a
 * regular file), or another -errno. Returns 0 when the helper ran (see RESULTS), -ETIMEDOUT
 * when it had to be killed, or -errno when it could not start. */
int inroot_read(pid_t pid, const char *const *rels, char *const *bufs, const size_t *lens,
		ssize_t *results, int n);

/* A PTY pair from the container's own devpts (dev/pts inside the root of PID, which must be a
 * devpts mount), the master non-blocking, both close-on-exec and O_NOCTTY; the slave through
 * TIOCGPTPEER (no path looked up again). Returns 0, or -errno (-ETIMEDOUT: killed). */
int inroot_pty(pid_t pid, int *master, int *slave);

#endif
