/* spawn.c: vfork (or fork) + setsid + (PTY with TIOCSCTTY and initial winsize | pipes) +
 * credentials + exec, with start failures reported through a close-on-exec pipe. */
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "lib/pipesize.h"

#define PIPE_SIZE (256 * 1024) /* a session's stdin and stdout pipes (F_SETPIPE_SZ) */

enum stage {
	STAGE_ENTER = 1,
	STAGE_SETSID,
	STAGE_TTY,
	STAGE_STDIO,
	STAGE_GROUPS,
	STAGE_SETUID,
	STAGE_CHDIR,
	STAGE_EXEC
};

static const char *stage_names[] = { "",      "enter the container", "setsid", "controlling tty",
				     "stdio", "setgroups",           "setuid", "chdir",
				     "exec" };

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* In the child: report STAGE and errno to the parent, then leave with docker's codes. */
static void child_fail(int errfd, enum stage stage)
{
	int msg[2] = { stage, errno };
	ssize_t n = write(errfd, msg, sizeof(msg));
	(void)n;
	_exit(stage == STAGE_EXEC && (msg[1] == ENOENT || msg[1] == ENOTDIR) ? 127 : 126);
}

/* FILE (no '/') looked up in ENVP's PATH, as musl's execvpe() does but with the PATH of the
 * environment the process gets, and without touching environ: the child may share our memory.
 * Returns only on failure, with errno set (EACCES if some candidate was not executable). */
static void exec_path(const char *file, char *const *argv, char *const *envp)
{
	const char *path = "/usr/local/bin:/bin:/usr/bin", *p, *z;
	char buf[PATH_MAX + NAME_MAX + 2];
	size_t k = strlen(file);
	int seen_eacces = 0, i;

	if (strchr(file, '/') != NULL || k == 0) {
		if (k == 0)
			errno = ENOENT;
		else
			syscall(SYS_execve, file, argv, envp);
		return;
	}
	if (k > NAME_MAX) {
		errno = ENAMETOOLONG;
		return;
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (p = path;; p = z + 1) {
		z = strchrnul(p, ':');
		if ((size_t)(z - p) < PATH_MAX) {
			memcpy(buf, p, (size_t)(z - p));
			buf[z - p] = '/';
			memcpy(buf + (z - p) + (z > p), file, k + 1);
			syscall(SYS_execve, buf, argv, envp);
			if (errno == EACCES)
				seen_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (*z == 0)
			break;
	}
	if (seen_eacces)
		errno = EACCES;
}

/* In the child: DIR as the working directory, looked up inside our root (RESOLVE_IN_ROOT: a
 * symlink or ".." never leads out of it, and no magic link such as /proc/self/fd/N or
 * /proc/PID/cwd is followed), the way runc resolves an exec's cwd since CVE-2024-21626.
 * Returns 0, or -1 with errno. */
static int enter_dir(const char *dir)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT };
	int root, fd, ret, e;

	if ((root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, root, dir, &how, sizeof(how));
	e = errno;
	close(root);
	if (fd < 0) {
		errno = e;
		return -1;
	}
	ret = fchdir(fd);
	e = errno;
	close(fd);
	errno = e;
	return ret;
}

struct child_args {
	const struct spawn_req *req;
	int errfd, slave, in, out, err;
	const gid_t *groups; /* a host session as root: the user's groups */
	int n_groups;        /* -1: no user switch */
};

/* In the child: everything after clone (or fork, with own_mm). Never returns. It runs in our
 * memory until exec: raw system calls only, no libc state (locks, malloc, environ; musl's
 * setuid(), setgroups() and setrlimit() would signal our threads), errno aside (the parent
 * thread's, which waits). The hooks keep to that too. */
static int child(void *arg)
{
	const struct child_args *a = arg;
	const struct spawn_req *req = a->req;
	struct { /* the kernel's struct sigaction */
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} dfl = { SIG_DFL, 0, NULL, 0 };
	uint64_t none = 0;
	int sig, fd, in = a->in, out = a->out, err = a->err, errfd = a->errfd;

	/* Signal dispositions and mask back to defaults (the agent ignores SIGPIPE and blocks
	 * everything across the start). */
	for (sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));

	if (req->enter != NULL && req->enter(req->hook_arg) < 0)
		child_fail(errfd, STAGE_ENTER);
	if (setsid() < 0)
		child_fail(errfd, STAGE_SETSID);
	if (req->tty) {
		if (ioctl(a->slave, TIOCSCTTY, 0) < 0)
			child_fail(errfd, STAGE_TTY);
		in = out = err = a->slave;
	} else if (in < 0) {
		if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			child_fail(errfd, STAGE_STDIO);
	}
	/* dup2 clears close-on-exec on the copies; the originals close at exec. */
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		child_fail(errfd, STAGE_STDIO);
	if (req->creds != NULL) {
		if (req->creds(req->hook_arg) < 0)
			child_fail(errfd, STAGE_SETUID);
	} else if (a->n_groups >= 0) {
		if (syscall(SYS_setgroups, a->n_groups, a->groups) < 0 ||
		    syscall(SYS_setgid, req->gid) < 0)
			child_fail(errfd, STAGE_GROUPS);
		if (syscall(SYS_setuid, req->uid) < 0)
			child_fail(errfd, STAGE_SETUID);
	} else if (req->uid != getuid()) {
		errno = EPERM;
		child_fail(errfd, STAGE_SETUID);
	}
	/* Nothing of the agent's may leak: close every fd above stderr except the error pipe
	 * (close-on-exec already covers most; this is the belt to those braces), before the
	 * working directory is looked up, so that no path can lead to one of ours
	 * (/proc/self/fd/N: runc's CVE-2024-21626). close_range (Linux 5.9) does it in two
	 * calls, where a loop costs a thousand; older kernels loop. */
	if ((errfd > 3 && syscall(SYS_close_range, 3U, (unsigned)errfd - 1, 0U) < 0) ||
	    syscall(SYS_close_range, (unsigned)errfd + 1, ~0U, 0U) < 0) {
		for (fd = 3; fd < 1024; fd++)
			if (fd != errfd)
				close(fd);
	}
	if (req->workdir != NULL) {
		if (enter_dir(req->workdir) < 0)
			child_fail(errfd, STAGE_CHDIR);
	} else if (req->fallback == NULL || enter_dir(req->fallback) < 0) {
		if (chdir("/") < 0)
			child_fail(errfd, STAGE_CHDIR);
	}
	exec_path(req->file ? req->file : req->argv[0], req->argv, req->envp);
	child_fail(errfd, STAGE_EXEC);
	return 0;
}

/* The PTY pair, the master non-blocking and close-on-exec, sized before the child runs. */
static int open_pty(const struct winsize *ws, int *master, int *slave)
{
	char name[64];
	int m = -1, s = -1;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto fail;
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto fail;
	if (ws->ws_row > 0 && ws->ws_col > 0 && ioctl(m, TIOCSWINSZ, ws) < 0)
		goto fail;
	*master = m;
	*slave = s;
	return 0;
fail : {
	int ret = -errno;
	close_fd(&m);
	close_fd(&s);
	return ret;
}
}

/* Waits until the child that shares our memory (CLONE_VM without CLONE_VFORK) is done with
 * it: the error pipe EPIPE's other end closes at its exec or its death. Past TIMEOUT_MS it is
 * killed (through PIDFD) and -ETIMEDOUT returned once it is gone: a process inside the
 * container (root there) can stop it before its exec, and a vfork parent would wait with
 * it. A killed child is reaped by the SIGCHLD handler like any other. */
static int wait_exec(int epipe, int pidfd, unsigned timeout_ms)
{
	struct pollfd p = { .fd = epipe, .events = POLLIN };
	struct timespec t0, t;
	int left = (int)timeout_ms, killed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = poll(&p, 1, killed ? 1000 : left);
		if (n > 0 && (p.revents & (POLLHUP | POLLERR)))
			return killed ? -ETIMEDOUT : 0;
		if (n < 0 && errno != EINTR)
			return -errno; /* cannot happen with one valid fd; the stack stays ours */
		if (killed)
			continue; /* it must go before its stack does: wait as long as it takes */
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = (int)timeout_ms -
		       (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			killed = 1;
		}
	}
}

int spawn_start(const struct spawn_req *req, struct spawn_result *res)
{
	int ep[2] = { -1, -1 }, ip[2] = { -1, -1 }, op[2] = { -1, -1 }, xp[2] = { -1, -1 };
	int master = -1, slave = -1, pidfd = -1, ret, n = 64;
	struct child_args args;
	sigset_t all, old;
	gid_t some[64], *groups = some;
	pid_t pid;
	/* The child's stack: its frames, a path buffer and the hooks' locals. */
	_Alignas(16) char stack[32768];

	memset(res, 0, sizeof(*res));
	res->master = res->in = res->out = res->err = res->errpipe = -1;
	if (pipe2(ep, O_CLOEXEC) < 0)
		return -errno;
	if (req->tty && req->pty_master > 0) {
		/* Taken over: closed here like our own pair. */
		master = req->pty_master;
		slave = req->pty_slave;
		if (req->ws.ws_row > 0 && req->ws.ws_col > 0 &&
		    ioctl(master, TIOCSWINSZ, &req->ws) < 0) {
			ret = -errno;
			goto fail;
		}
	} else if (req->tty) {
		if ((ret = open_pty(&req->ws, &master, &slave)) < 0)
			goto fail;
	} else if ((req->stdin_open && pipe2(ip, O_CLOEXEC) < 0) || pipe2(op, O_CLOEXEC) < 0 ||
		   pipe2(xp, O_CLOEXEC) < 0) {
		ret = -errno;
		goto fail;
	}
	if (!req->tty) {
		/* Bulk streams: a pipe of 256 KiB (Linux's default is 64 KiB) lets the writer and
		 * the agent each go four times as far before waking the other. Best effort: at
		 * /proc/sys/fs/pipe-max-size or the user's pipe quota the default stays. */
		if (req->stdin_open)
			pipesize_grow(ip[1], PIPE_SIZE);
		pipesize_grow(op[0], PIPE_SIZE);
	}

	/* A host session's user switch (as root): its groups, read here as initgroups() would,
	 * since the child may not use stdio. */
	args.n_groups = -1;
	if (req->creds == NULL && getuid() == 0) {
		if (getgrouplist(req->user, req->gid, groups, &n) < 0 &&
		    (n <= 64 || (groups = malloc(sizeof(*groups) * (size_t)n)) == NULL ||
		     getgrouplist(req->user, req->gid, groups, &n) < 0)) {
			ret = groups == NULL ? -ENOMEM : -EIO;
			goto fail;
		}
		args.groups = groups;
		args.n_groups = n;
	}
	args.req = req;
	args.errfd = ep[1];
	args.slave = slave;
	args.in = ip[0];
	args.out = op[1];
	args.err = xp[1];
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (!req->own_mm && req->start_timeout_ms == 0) {
		/* As posix_spawn does: no copy of our page tables to make and then throw away at
		 * exec (about 2 ms of a short session here); we wait until the child has exec'd. */
		pid = clone(child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	} else if (!req->own_mm) {
		/* The same, but the wait is ours and bounded (wait_exec), not the kernel's. */
		pid = clone(child, stack + sizeof(stack), CLONE_VM | CLONE_PIDFD | SIGCHLD, &args,
			    &pidfd);
	} else if ((pid = fork()) == 0) {
		child(&args);
	}
	ret = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		goto fail;
	if (groups != some)
		free(groups);

	close_fd(&ep[1]);
	if (pidfd >= 0) {
		ret = wait_exec(ep[0], pidfd, req->start_timeout_ms);
		close_fd(&pidfd);
		if (ret < 0)
			goto fail;
	}
	close_fd(&slave);
	close_fd(&ip[0]);
	close_fd(&op[1]);
	close_fd(&xp[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	res->pid = pid;
	res->errpipe = ep[0];
	res->master = master;
	res->in = ip[1];
	res->out = op[0];
	res->err = xp[0];
	return 0;
fail:
	if (groups != some)
		free(groups);
	close_fd(&ep[0]);
	close_fd(&ep[1]);
	close_fd(&master);
	close_fd(&slave);
	close_fd(&ip[0]);
	close_fd(&ip[1]);
	close_fd(&op[0]);
	close_fd(&op[1]);
	close_fd(&xp[0]);
	close_fd(&xp[1]);
	return ret;
}

int spawn_start_error(struct spawn_result *res, const char **stage)
{
	int msg[2] = { 0, 0 };
	ssize_t n;

	*stage = "";
	if (res->errpipe < 0)
		return 0;
	n = read(res->errpipe, msg, sizeof(msg));
	close_fd(&res->errpipe);
	if (n != (ssize_t)sizeof(msg) || msg[0] <= 0 || msg[0] > STAGE_EXEC)
		return 0;
	*stage = stage_names[msg[0]];
	return msg[1] ? msg[1] : EIO;
}
