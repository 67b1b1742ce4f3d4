/* inroot.c: files inside a running container, through a short-lived helper (see inroot.h). */
#include "agent/inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include "agent/procfs.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* What the helper is asked and answers, in the memory it shares with the caller. */
struct task {
	pid_t pid; /* whose root */
	/* inroot_read */
	const char *const *rels;
	char *const *bufs;
	const size_t *lens;
	ssize_t *results;
	int n;
	/* inroot_pty: the pair goes back over this socket (SCM_RIGHTS) */
	int sock;
	int ret; /* 0, or -errno of the step that failed */
};

/* ---------------------------------------------------------------------------------------
 * In the helper: it runs in our memory, on a stack of the caller's, so only plain system
 * calls (no malloc, no stdio, no locks); its fds are its own and go with it. */

/* The root of T->pid, then every capability but reading what root may read (opening
 * /proc/PID/root may need CAP_SYS_PTRACE, so it comes first). */
static int open_root(const struct task *t)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	char path[64];
	int root;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)t->pid);
	if ((root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1U << CAP_DAC_READ_SEARCH;
	if (syscall(SYS_capset, &hdr, data) < 0) {
		int ret = -errno;
		close(root);
		return ret;
	}
	return root;
}

/* REL under ROOT, with O_PATH (nothing of the file's own open runs), never out of the root
 * and through no magic link; symlinks inside the root are followed, as runc follows them. */
static int lookup(int root, const char *rel, int flags)
{
	struct open_how how = { .flags = (uint64_t)(O_PATH | O_CLOEXEC | flags),
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

/* The regular file REL under ROOT, opened for reading: looked up with O_PATH, checked with
 * fstat, then opened again through its own fd (the same inode, whatever the path is now). */
static int open_regular(int root, const char *rel)
{
	char self[64];
	struct stat st;
	int p, fd;

	if ((p = lookup(root, rel, 0)) < 0)
		return p;
	if (fstat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(p);
		return -EINVAL;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", p);
	fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(p);
	return fd;
}

static int read_files(void *arg)
{
	struct task *t = arg;
	int root = open_root(t), i;

	if (root < 0) {
		t->ret = root;
		_exit(0);
	}
	for (i = 0; i < t->n; i++) {
		int fd = open_regular(root, t->rels[i]);
		if (fd < 0) {
			t->results[i] = fd;
			continue;
		}
		t->results[i] = procfs_read_fd(fd, t->bufs[i], t->lens[i]);
		close(fd);
	}
	_exit(0);
}

static int open_pty(void *arg)
{
	struct task *t = arg;
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { 0 };
	struct iovec iov = { .iov_base = (char *)"p", .iov_len = 1 };
	struct cmsghdr *cm;
	struct statfs sf;
	int root = open_root(t), dir = -1, fds[2] = { -1, -1 }, unlock = 0;

	if (root < 0) {
		t->ret = root;
		_exit(0);
	}
	/* dev/pts must be a devpts: its ptmx is then the kernel's, not a node the container
	 * made (fstatfs on devpts asks no daemon). */
	if ((dir = lookup(root, "dev/pts", O_DIRECTORY)) < 0 || fstatfs(dir, &sf) < 0 ||
	    sf.f_type != DEVPTS_SUPER_MAGIC) {
		t->ret = dir < 0 ? dir : -ENODEV;
		_exit(0);
	}
	fds[0] = openat(dir, "ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fds[0] < 0 || ioctl(fds[0], TIOCSPTLCK, &unlock) < 0 ||
	    (fds[1] = ioctl(fds[0], TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		t->ret = -errno;
		_exit(0);
	}
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(t->sock, &msg, MSG_NOSIGNAL) != 1)
		t->ret = -errno;
	_exit(0);
}

/* ---------------------------------------------------------------------------------------
 * In the caller */

static int elapsed_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Runs FN(T) in a helper that shares our memory, and waits for its end, at most
 * INROOT_TIMEOUT_MS; then it is killed and -ETIMEDOUT returned once it is gone (it must be:
 * its stack is ours). Signals are blocked across the clone: the helper starts with none
 * delivered to it, and SIGKILL needs none. */
static int run(int (*fn)(void *), struct task *t)
{
	_Alignas(16) char stack[16384];
	struct pollfd p = { .events = POLLIN };
	struct timespec t0;
	sigset_t all, old;
	siginfo_t info;
	int pidfd = -1, killed = 0, left;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/* Exit signal 0: not a SIGCHLD child, so waitpid(-1) in the agent's reaper skips it. */
	pid = clone(fn, stack + sizeof(stack), CLONE_VM | CLONE_PIDFD, t, &pidfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	p.fd = pidfd;
	for (;;) {
		left = killed ? 1000 : INROOT_TIMEOUT_MS - elapsed_ms(&t0);
		if (!killed && left <= 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			killed = 1;
			continue;
		}
		if (poll(&p, 1, left) > 0)
			break; /* a pidfd polls readable once its process has exited */
	}
	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL) < 0 &&
	       errno == EINTR)
		;
	close(pidfd);
	return killed ? -ETIMEDOUT : 0;
}

int inroot_read(pid_t pid, const char *const *rels, char *const *bufs, const size_t *lens,
		ssize_t *results, int n)
{
	struct task t = { .pid = pid,
			  .rels = rels,
			  .bufs = bufs,
			  .lens = lens,
			  .results = results,
			  .n = n,
			  .sock = -1 };
	int i, ret;

	if (n > INROOT_MAX_FILES)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		results[i] = -EIO; /* until the helper says otherwise */
		if (lens[i] > 0)
			bufs[i][0] = 0;
	}
	if ((ret = run(read_files, &t)) < 0)
		return ret;
	return t.ret;
}

int inroot_pty(pid_t pid, int *master, int *slave)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct task t = { .pid = pid, .sock = -1 };
	struct msghdr msg = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct cmsghdr *cm;
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	t.sock = sv[1];
	ret = run(open_pty, &t);
	close(sv[1]);
	if (ret == 0)
		ret = t.ret;
	if (ret == 0) {
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		if (recvmsg(sv[0], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1 ||
		    (cm = CMSG_FIRSTHDR(&msg)) == NULL || cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
			ret = -EIO;
		} else {
			int fds[2];
			memcpy(fds, CMSG_DATA(cm), sizeof(fds));
			*master = fds[0];
			*slave = fds[1];
		}
	}
	close(sv[0]);
	return ret;
}
