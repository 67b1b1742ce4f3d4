/* ctsignal.c: signals for a container session's process (see container.h): the exec's
 * terminal foreground group, its process group or itself, and, when its client is gone for
 * good, its whole process tree, signalled through pidfds and only inside the container's pid
 * namespace. Part of container.c's module (ct_int.h); runs on the loop. */
#include "agent/ct_int.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/procfs.h"
#include "proto/log.h"

/* Reads the children of PID (all its threads') into OUT from N on. */
static int add_children(pid_t pid, pid_t *out, int n, int max)
{
	char path[64];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return n;
	while ((de = readdir(d)) != NULL && n < max) {
		char cpath[128], buf[4096], *s, *end;
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		if ((f = fopen(cpath, "re")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL) {
			for (s = buf; n < max; s = end) {
				long c = strtol(s, &end, 10);
				if (end == s)
					break;
				out[n++] = (pid_t)c;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* SIG to PID through a pidfd, and only while PID is in the container's pid namespace: a pid
 * read from /proc a moment ago may be another process's by now, and no process of the host
 * may get a signal meant for a container's. Once the pidfd is open, the check is of the
 * process it names. */
static void signal_in_container(const struct ct *ct, pid_t pid, int sig)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return;
	if (ct->pidns != 0 && ct__pidns_of(pid) == ct->pidns)
		syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
	close(fd);
}

/* The foreground process group of PID's terminal (tpgid), or 0. */
static pid_t tty_foreground(pid_t pid)
{
	char v[32];
	long tpgid = procfs_stat_field(pid, 8, v, sizeof(v)) == 0 ? strtol(v, NULL, 10) : 0;

	return tpgid > 0 ? (pid_t)tpgid : 0;
}

void ct_signal(struct ct *ct, int sig)
{
	pid_t fg;

	if (ct->req.kind == CT_EXEC && !ct->pid_known) {
		if (ct->n_pending < MAX_PENDING_SIGNALS)
			ct->pending[ct->n_pending++] = sig;
		return;
	}
	if (ct->pid <= 0)
		return;
	if (ct->req.kind == CT_ATTACH && !ct__opt_on(&ct->req, "sig-proxy") &&
	    ct__opt(&ct->req, "sig-proxy") != NULL)
		return;
	if (ct->req.kind == CT_EXEC && ct->tty && (fg = tty_foreground(ct->pid)) > 0 &&
	    kill(-fg, sig) == 0)
		return;
	if (ct->req.kind == CT_EXEC && getpgid(ct->pid) == ct->pid && kill(-ct->pid, sig) == 0)
		return;
	if (kill(ct->pid, sig) < 0 && errno != ESRCH)
		log_warn("%s: kill(%d, %d): %s", ct->what, (int)ct->pid, sig, strerror(errno));
}

int ct_hangup(struct ct *ct, int sig)
{
	pid_t tree[MAX_TREE];
	int n = 0, i;

	if (ct->req.kind == CT_EXEC && !ct->pid_known) {
		ct->pending_hangup = sig;
		return 1;
	}
	if (ct->pid <= 0 || ct->req.kind == CT_ATTACH || ct->req.kind == CT_LIST)
		return 0;
	if (ct->req.kind == CT_RUN) {
		kill(ct->pid, sig);
		return 1;
	}
	/* The exec and every descendant, walked breadth first from the exec's pid. */
	tree[n++] = ct->pid;
	for (i = 0; i < n && n < MAX_TREE; i++)
		n = add_children(tree[i], tree, n, MAX_TREE);
	for (i = 0; i < n; i++)
		signal_in_container(ct, tree[i], sig);
	return 1;
}
