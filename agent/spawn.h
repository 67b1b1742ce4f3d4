/* spawn.h: starting a session's process on the host: vfork, a new session (setsid), a PTY
 * made its controlling terminal with the initial size set before exec (libuv's spawn does not
 * do this, and ^C would never arrive), or plain pipes; then the user's credentials and exec. */
#ifndef REXEC_AGENT_SPAWN_H
#define REXEC_AGENT_SPAWN_H

#include <sys/ioctl.h>
#include <sys/types.h>

struct spawn_req {
	const char *file; /* what to exec, looked up in the child's PATH; NULL: argv[0] */
	char *const *argv;
	char *const *envp; /* the complete environment */
	const char *user;  /* for initgroups */
	uid_t uid;
	gid_t gid;
	const char *workdir;  /* must exist: failing to enter it fails the start (126) */
	const char *fallback; /* else this, else "/" (the home directory) */
	int tty;
	struct winsize ws; /* initial size of the PTY */
	int stdin_open;    /* 0: stdin is /dev/null */
	/* The direct path into a container (direct.c): ENTER runs in the child first (cgroup,
	 * namespaces, rlimits); CREDS replaces the user switch (groups, ids, capabilities,
	 * no_new_privs, seccomp). Both are async-signal-safe, return 0 or -1 with errno. */
	int pty_master, pty_slave; /* tty: a pair opened elsewhere (a container's devpts), or -1
				    * each (0 each in a zeroed request also means "open one") */
	int (*enter)(const void *arg);
	int (*creds)(const void *arg);
	const void *hook_arg;
	/* The child needs memory of its own from the start (fork), not ours until it execs
	 * (CLONE_VM | CLONE_VFORK, the default): a time namespace to join, which setns refuses
	 * to a process that shares its memory. */
	int own_mm;
	/* Not 0: the child shares our memory without CLONE_VFORK and spawn_start() waits for its
	 * exec this long at most, then kills it (-ETIMEDOUT): for a child that a container's
	 * processes can see, and so stop, before its exec. */
	unsigned start_timeout_ms;
};

/* What the parent keeps. Every fd is close-on-exec and non-blocking; -1 when absent. */
struct spawn_result {
	pid_t pid;    /* also the process group id: the child leads a new session */
	int master;   /* PTY master (tty mode) */
	int in;       /* stdin pipe (pipe mode, stdin_open) */
	int out, err; /* stdout, stderr pipes (pipe mode) */
	int errpipe;  /* the child writes a start failure here; EOF means exec succeeded */
};

/* Forks and execs REQ. Returns 0 with RES filled, or -errno (nothing is left open;
 * -ETIMEDOUT: START_TIMEOUT_MS passed and the child was killed). */
int spawn_start(const struct spawn_req *req, struct spawn_result *res);

/* After the child exited: reads its start failure from RES's errpipe, if any.
 * Returns 0 when exec succeeded, else the child's errno (and *STAGE names what failed:
 * "exec", "chdir", "setuid", ...), and closes the errpipe. */
int spawn_start_error(struct spawn_result *res, const char **stage);

#endif
