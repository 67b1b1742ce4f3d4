/* scdump.c: a process's seccomp filters, dumped with ptrace (see scdump.h). */
#include "agent/scdump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <time.h>

#include <linux/seccomp.h>

#include "agent/procfs.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif

#define STOP_WAIT_MS 1000 /* how long the process may take to stop for the dump */

/* The process state letter of PID (0: unknown). */
static char proc_state(pid_t pid)
{
	char v[8];

	return procfs_stat_field(pid, 3, v, sizeof(v)) == 0 ? v[0] : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int scdump_read(pid_t pid, struct sock_fprog *filters, int *n_out, char *why, size_t whylen)
{
	struct sock_filter *tmp[SCDUMP_MAX];
	int n = 0, i, waited, ret = 0;
	char st = proc_state(pid);

	if (st == 'T' || st == 't') {
		snprintf(why, whylen, "the container's init is stopped or frozen");
		return -EBUSY;
	}
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
		snprintf(why, whylen, "ptrace(SEIZE) of the init: %s", strerror(errno));
		return -errno;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) {
		ret = -errno;
		snprintf(why, whylen, "ptrace(INTERRUPT) of the init: %s", strerror(errno));
		goto detach;
	}
	for (waited = 0; proc_state(pid) != 't'; waited++) {
		if (waited * 2 >= STOP_WAIT_MS) {
			ret = -ETIMEDOUT;
			snprintf(why, whylen, "the init did not stop for the seccomp dump");
			goto detach;
		}
		sleep_ms(2);
	}
	for (n = 0; n < SCDUMP_MAX; n++) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)(long)n, NULL);
		if (len < 0) {
			if (errno != ENOENT) {
				ret = -errno;
				snprintf(why, whylen, "reading the init's seccomp filter: %s",
					 strerror(errno));
			}
			break;
		}
		tmp[n] = calloc((size_t)len, sizeof(struct sock_filter));
		if (tmp[n] == NULL ||
		    ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)(long)n, tmp[n]) != len) {
			free(tmp[n]);
			ret = -EIO;
			snprintf(why, whylen, "reading the init's seccomp filter failed");
			break;
		}
		filters[SCDUMP_MAX - 1 - n].len = (unsigned short)len; /* reordered below */
		filters[SCDUMP_MAX - 1 - n].filter = tmp[n];
	}
detach:
	ptrace(PTRACE_DETACH, pid, 0, 0);
	/* Oldest first, from the front. */
	for (i = 0; i < n; i++) {
		filters[i] = filters[SCDUMP_MAX - n + i];
		if (SCDUMP_MAX - n + i != i)
			memset(&filters[SCDUMP_MAX - n + i], 0, sizeof(filters[0]));
	}
	*n_out = n;
	if (ret == 0 && n == SCDUMP_MAX) {
		snprintf(why, whylen, "more than %d seccomp filters", SCDUMP_MAX);
		ret = -E2BIG;
	}
	/* A user-notify filter needs its listener, which lives in the engine's runtime. */
	for (i = 0; ret == 0 && i < n; i++) {
		unsigned k;
		for (k = 0; k < filters[i].len; k++) {
			const struct sock_filter *ins = &filters[i].filter[k];
			if (ins->code == (BPF_RET | BPF_K) &&
			    (ins->k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF) {
				snprintf(why, whylen,
					 "the container uses a seccomp user-notify filter");
				ret = -ENOTSUP;
				break;
			}
		}
	}
	return ret;
}

int scdump_copy(struct sock_fprog *dst, const struct sock_fprog *src, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		dst[i].len = src[i].len;
		dst[i].filter = malloc(src[i].len * sizeof(struct sock_filter));
		if (dst[i].filter == NULL) {
			while (i-- > 0)
				free(dst[i].filter);
			return -ENOMEM;
		}
		memcpy(dst[i].filter, src[i].filter, src[i].len * sizeof(struct sock_filter));
	}
	return 0;
}

void scdump_free(struct sock_fprog *filters, int n)
{
	while (n-- > 0) {
		free(filters[n].filter);
		filters[n].filter = NULL;
	}
}
