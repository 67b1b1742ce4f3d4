/* direct.c: exec into a container without the engine (see direct.h). */
#include "agent/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "agent/ctuser.h"
#include "agent/engine.h"
#include "agent/inroot.h"
#include "agent/procfs.h"
#include "proto/log.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif

#define MAX_NS          8
#define MAX_FILTERS     16
#define MAX_GROUPS      CTUSER_MAX_GROUPS
#define MAX_CGROUPS     16
#define STOP_WAIT_MS    1000 /* how long the init may take to stop for the seccomp dump */
#define DIRECT_START_MS 5000 /* how long the child may take to reach its exec */

struct direct_ctx {
	pid_t pid;
	unsigned long long start; /* the init's start time (procfs_start_time) */
	int pidfd;
	int pidns;  /* the init's pid namespace (for the fork only), or -1: the same as ours */
	int userns; /* the init's user namespace, joined last, or -1: the same as ours */
	int ns[MAX_NS];
	int n_ns;
	int timens; /* a time namespace is among them: setns refuses it to a shared mm */
	int cgroups[MAX_CGROUPS]; /* the init's tasks or cgroup.procs files, opened for writing */
	int n_cgroups;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int n_groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint64_t cap_drop; /* what the child drops from the bounding set it has from us */
	int nnp;
	struct sock_fprog filters[MAX_FILTERS]; /* oldest first */
	int n_filters;
	struct rlimit rl[RLIM_NLIMITS];
	char **envp;
	char *cwd;
	char home[512];
};

static void why_set(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------------------------
 * Reading the init's context */

static int read_status(struct direct_ctx *c, int *seccomp_mode)
{
	char path[64], buf[8192], *p = buf, *line;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	if ((r = procfs_read(path, buf, sizeof(buf))) < 0)
		return (int)r;
	*seccomp_mode = 0;
	while ((line = procfs_line(&p)) != NULL) {
		unsigned long long v;
		if (sscanf(line, "CapInh: %llx", &v) == 1)
			c->cap_inh = v;
		else if (sscanf(line, "CapPrm: %llx", &v) == 1)
			c->cap_prm = v;
		else if (sscanf(line, "CapEff: %llx", &v) == 1)
			c->cap_eff = v;
		else if (sscanf(line, "CapBnd: %llx", &v) == 1)
			c->cap_bnd = v;
		else if (sscanf(line, "CapAmb: %llx", &v) == 1)
			c->cap_amb = v;
		else if (sscanf(line, "NoNewPrivs: %llu", &v) == 1)
			c->nnp = v != 0;
		else if (sscanf(line, "Seccomp: %llu", &v) == 1)
			*seccomp_mode = (int)v;
	}
	return 0;
}

/* The rlimits of process PID from /proc/PID/limits (prlimit() on another process needs
 * CAP_SYS_RESOURCE, reading does not). The kernel lists them in RLIMIT_* order, values at
 * fixed columns. */
static int read_limits(struct rlimit *rl, pid_t pid)
{
	char path[64], buf[4096], *p = buf, *line;
	ssize_t n;
	int r = -1;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if ((n = procfs_read(path, buf, sizeof(buf))) < 0)
		return (int)n;
	while ((line = procfs_line(&p)) != NULL) {
		char soft[32], hard[32];
		if (r++ < 0 || r > RLIM_NLIMITS)
			continue; /* the header */
		if (strlen(line) < 46 || sscanf(line + 26, "%31s %31s", soft, hard) != 2)
			return -EINVAL;
		rl[r - 1].rlim_cur =
			strcmp(soft, "unlimited") == 0 ? RLIM_INFINITY : strtoull(soft, NULL, 10);
		rl[r - 1].rlim_max =
			strcmp(hard, "unlimited") == 0 ? RLIM_INFINITY : strtoull(hard, NULL, 10);
	}
	return r == RLIM_NLIMITS ? 0 : -EINVAL;
}

/* ---------------------------------------------------------------------------------------
 * The container's OCI spec (config.json in its bundle)
 *
 * The engine's exec starts from the process of the spec the container was created with and
 * overrides only argv, env, cwd, the terminal and (with -u) the user: an init that dropped
 * its own capabilities, lowered its limits or set no_new_privs does not pass that on. So the
 * spec is preferred to what /proc says of the init. It is found through the init's parent:
 * containerd's runtime shim runs in the bundle directory, which is named after the container
 * (.../moby/<id>); the name is checked, so a recycled parent pid cannot hand us another
 * directory. Without it (another runtime), the init's own context is used. */

#define SPEC_MAX (4 << 20)

/* Capability names of the spec ("CAP_" + these), by number. */
static const char *const cap_names[] = {
	"CHOWN",
	"DAC_OVERRIDE",
	"DAC_READ_SEARCH",
	"FOWNER",
	"FSETID",
	"KILL",
	"SETGID",
	"SETUID",
	"SETPCAP",
	"LINUX_IMMUTABLE",
	"NET_BIND_SERVICE",
	"NET_BROADCAST",
	"NET_ADMIN",
	"NET_RAW",
	"IPC_LOCK",
	"IPC_OWNER",
	"SYS_MODULE",
	"SYS_RAWIO",
	"SYS_CHROOT",
	"SYS_PTRACE",
	"SYS_PACCT",
	"SYS_ADMIN",
	"SYS_BOOT",
	"SYS_NICE",
	"SYS_RESOURCE",
	"SYS_TIME",
	"SYS_TTY_CONFIG",
	"MKNOD",
	"LEASE",
	"AUDIT_WRITE",
	"AUDIT_CONTROL",
	"SETFCAP",
	"MAC_OVERRIDE",
	"MAC_ADMIN",
	"SYSLOG",
	"WAKE_ALARM",
	"BLOCK_SUSPEND",
	"AUDIT_READ",
	"PERFMON",
	"BPF",
	"CHECKPOINT_RESTORE",
};

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "RLIMIT_CPU", RLIMIT_CPU },           { "RLIMIT_FSIZE", RLIMIT_FSIZE },
	{ "RLIMIT_DATA", RLIMIT_DATA },         { "RLIMIT_STACK", RLIMIT_STACK },
	{ "RLIMIT_CORE", RLIMIT_CORE },         { "RLIMIT_RSS", RLIMIT_RSS },
	{ "RLIMIT_NPROC", RLIMIT_NPROC },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
	{ "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },   { "RLIMIT_AS", RLIMIT_AS },
	{ "RLIMIT_LOCKS", RLIMIT_LOCKS },       { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
	{ "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
	{ "RLIMIT_RTPRIO", RLIMIT_RTPRIO },     { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* The spec of container ID (whose init is C->pid), parsed; NULL when it cannot be found.
 * *RUNTIME is the pid of the shim it was found through. */
static cJSON *read_spec(const struct direct_ctx *c, const char *id, pid_t *runtime)
{
	char v[32], path[64], dir[4096];
	const char *base;
	cJSON *spec = NULL;
	char *text = NULL;
	struct stat st;
	size_t size;
	ssize_t n;
	int dfd = -1, fd = -1;
	pid_t ppid;

	if (id == NULL || id[0] == 0 || procfs_stat_field(c->pid, 4, v, sizeof(v)) < 0)
		return NULL;
	ppid = (pid_t)strtol(v, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)ppid);
	if (ppid <= 1 || (dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return NULL;
	/* The name of the directory we hold open (not of a path looked up again). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	if ((n = readlink(path, dir, sizeof(dir) - 1)) <= 0)
		goto out;
	dir[n] = 0;
	base = strrchr(dir, '/');
	if (base == NULL || strcmp(base + 1, id) != 0)
		goto out;
	/* The file's size and a byte more (at most SPEC_MAX): no 4 MB buffer to map and unmap. */
	if ((fd = openat(dfd, "config.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) < 0)
		goto out;
	size = st.st_size > 0 && st.st_size < SPEC_MAX - 1 ? (size_t)st.st_size + 2 : SPEC_MAX;
	if ((text = malloc(size)) == NULL)
		goto out;
	if (procfs_read_fd(fd, text, size) >= 0 && (spec = cJSON_Parse(text)) != NULL)
		*runtime = ppid;
out:
	free(text);
	if (fd >= 0)
		close(fd);
	close(dfd);
	return spec;
}

/* A capability set of the spec (an array of names) as a mask; -1: a name we do not know
 * (the set cannot be reproduced). */
static int spec_caps(const cJSON *set, uint64_t *mask, char *why, size_t whylen)
{
	const cJSON *e;
	size_t i;

	*mask = 0;
	cJSON_ArrayForEach(e, set)
	{
		for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
			if (cJSON_IsString(e) && strncmp(e->valuestring, "CAP_", 4) == 0 &&
			    strcmp(e->valuestring + 4, cap_names[i]) == 0)
				break;
		if (i == sizeof(cap_names) / sizeof(cap_names[0])) {
			why_set(why, whylen, "the spec names an unknown capability %s",
				cJSON_IsString(e) ? e->valuestring : "(not a string)");
			return -1;
		}
		*mask |= 1ULL << i;
	}
	return 0;
}

static rlim_t spec_rlim(const cJSON *v)
{
	/* 2^64-1 (unlimited) does not survive the trip through a double. */
	return !cJSON_IsNumber(v) || v->valuedouble >= 18446744073709549568.0
		       ? RLIM_INFINITY
		       : (rlim_t)v->valuedouble;
}

/* What a direct exec takes from the spec (kept per init: see init_mem below). */
struct spec_sum {
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int nnp;
	struct rlimit rl[RLIM_NLIMITS];
	int has_user; /* the process's uid, gid and additional gids below */
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int n_groups;
	int seccomp; /* the spec has a seccomp profile: the runtime installed one filter */
};

/* Whether the runtime installs a filter for the spec's linux.seccomp SECCOMP: runc does
 * unless it has neither a default action nor a syscall rule ("assume seccomp disabled"). A
 * wrong answer either way only refuses the direct path (the count must match), except one
 * that says 1 where the runtime installed none: then a filter the container stacked would
 * pass, so this errs towards 0. */
static int spec_has_filter(const cJSON *seccomp)
{
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(seccomp, "defaultAction");
	const cJSON *rules = cJSON_GetObjectItemCaseSensitive(seccomp, "syscalls");

	return cJSON_IsObject(seccomp) &&
	       ((cJSON_IsString(action) && action->valuestring[0] != 0) ||
		cJSON_GetArraySize(rules) > 0);
}

/* Capabilities, no_new_privs, rlimits and the user of the spec's process into SUM; the
 * rlimits it does not set are the runtime's own (RUNTIME, the shim: `runc exec` inherits
 * them from it). */
static int summarize(struct spec_sum *sum, const cJSON *spec, pid_t runtime, char *why,
		     size_t whylen)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(spec, "process");
	const cJSON *caps = cJSON_GetObjectItemCaseSensitive(p, "capabilities"), *r, *g;
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(p, "user");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(u, "uid");
	const cJSON *gid = cJSON_GetObjectItemCaseSensitive(u, "gid");
	size_t i;
	int ret;

	if (spec_caps(cJSON_GetObjectItemCaseSensitive(caps, "bounding"), &sum->cap_bnd, why,
		      whylen) < 0 ||
	    spec_caps(cJSON_GetObjectItemCaseSensitive(caps, "effective"), &sum->cap_eff, why,
		      whylen) < 0 ||
	    spec_caps(cJSON_GetObjectItemCaseSensitive(caps, "permitted"), &sum->cap_prm, why,
		      whylen) < 0 ||
	    spec_caps(cJSON_GetObjectItemCaseSensitive(caps, "inheritable"), &sum->cap_inh, why,
		      whylen) < 0 ||
	    spec_caps(cJSON_GetObjectItemCaseSensitive(caps, "ambient"), &sum->cap_amb, why,
		      whylen) < 0)
		return -ENOTSUP;
	sum->nnp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "noNewPrivileges"));
	sum->seccomp = spec_has_filter(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(spec, "linux"), "seccomp"));
	if ((ret = read_limits(sum->rl, runtime)) < 0) {
		why_set(why, whylen, "reading the runtime's limits: %s", strerror(-ret));
		return ret;
	}
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(p, "rlimits"))
	{
		const char *type = engine_str(r, "type");
		for (i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
			if (strcmp(type, rlimit_names[i].name) == 0)
				break;
		if (i == sizeof(rlimit_names) / sizeof(rlimit_names[0])) {
			why_set(why, whylen, "the spec sets an unknown rlimit %s", type);
			return -ENOTSUP;
		}
		sum->rl[rlimit_names[i].resource].rlim_cur =
			spec_rlim(cJSON_GetObjectItemCaseSensitive(r, "soft"));
		sum->rl[rlimit_names[i].resource].rlim_max =
			spec_rlim(cJSON_GetObjectItemCaseSensitive(r, "hard"));
	}
	/* The user as it was resolved when the container was created. */
	sum->has_user = cJSON_IsNumber(uid) && cJSON_IsNumber(gid) && uid->valuedouble >= 0 &&
			gid->valuedouble >= 0;
	if (sum->has_user) {
		sum->uid = (uid_t)uid->valuedouble;
		sum->gid = (gid_t)gid->valuedouble;
	}
	sum->n_groups = 0;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(u, "additionalGids"))
	{
		if (sum->n_groups < MAX_GROUPS && cJSON_IsNumber(g) && g->valuedouble >= 0)
			sum->groups[sum->n_groups++] = (gid_t)g->valuedouble;
	}
	return 0;
}

static void apply_spec(struct direct_ctx *c, const struct spec_sum *sum)
{
	c->cap_inh = sum->cap_inh;
	c->cap_prm = sum->cap_prm;
	c->cap_eff = sum->cap_eff;
	c->cap_bnd = sum->cap_bnd;
	c->cap_amb = sum->cap_amb;
	c->nnp = sum->nnp;
	memcpy(c->rl, sum->rl, sizeof(c->rl));
}

/* Without -u the exec runs as the spec's user: uid, gid and additional gids as they are
 * there. Returns -1 if the spec has none. */
static int spec_user(struct direct_ctx *c, const struct spec_sum *sum)
{
	if (!sum->has_user)
		return -1;
	c->uid = sum->uid;
	c->gid = sum->gid;
	c->n_groups = sum->n_groups;
	memcpy(c->groups, sum->groups, sizeof(c->groups[0]) * (size_t)sum->n_groups);
	return 0;
}

/* What the agent keeps of the inits it entered, by pid and start time (a reused pid is
 * another process and misses), shared by the pool's threads and the loop: the seccomp filters
 * (dumped with ptrace: an exec does not stop the init each time) and the spec's summary (a
 * running container's spec does not change; reading and parsing its JSON again was a tenth
 * of each direct exec here). The oldest of INIT_MEM goes first. */
#define INIT_MEM 16

static struct init_mem {
	pid_t pid;
	unsigned long long start; /* 0: a free slot */
	int has_filters, n_filters;
	struct sock_fprog filters[MAX_FILTERS];
	int has_spec;
	struct spec_sum spec;
} init_mem[INIT_MEM];
static unsigned init_mem_next;
static pthread_mutex_t init_mem_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of C's init (init_mem_lock held); with MAKE, a new one (the oldest slot emptied)
 * when there is none. NULL when there is none, or C's start time is unknown. */
static struct init_mem *remembered(const struct direct_ctx *c, int make)
{
	struct init_mem *m;
	unsigned i;

	if (c->start == 0)
		return NULL;
	for (i = 0; i < INIT_MEM; i++)
		if (init_mem[i].pid == c->pid && init_mem[i].start == c->start)
			return &init_mem[i];
	if (!make)
		return NULL;
	m = &init_mem[init_mem_next++ % INIT_MEM];
	while (m->n_filters > 0)
		free(m->filters[--m->n_filters].filter);
	memset(m, 0, sizeof(*m));
	m->pid = c->pid;
	m->start = c->start;
	return m;
}

/* The summary of the spec of C's container into SUM, from the cache or from its bundle.
 * Returns 2 when it was kept from before, 1 when it was read now, 0 when no spec was found,
 * or a negative code with WHY when it asks for something we cannot reproduce. */
static int spec_summary(const struct direct_ctx *c, const char *id, struct spec_sum *sum, char *why,
			size_t whylen)
{
	struct init_mem *m;
	pid_t runtime = 0;
	cJSON *spec;
	int ret;

	pthread_mutex_lock(&init_mem_lock);
	if ((m = remembered(c, 0)) != NULL && m->has_spec) {
		*sum = m->spec;
		pthread_mutex_unlock(&init_mem_lock);
		return 2;
	}
	pthread_mutex_unlock(&init_mem_lock);
	if ((spec = read_spec(c, id, &runtime)) == NULL)
		return 0;
	memset(sum, 0, sizeof(*sum));
	ret = summarize(sum, spec, runtime, why, whylen);
	cJSON_Delete(spec);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&init_mem_lock);
	if ((m = remembered(c, 1)) != NULL) {
		m->spec = *sum;
		m->has_spec = 1;
	}
	pthread_mutex_unlock(&init_mem_lock);
	return 1;
}

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

/* The init's seccomp filters, dumped with ptrace: seize, interrupt, read each, detach. The
 * kernel lists the newest first; they are kept oldest first, the order to install them. */
static int dump_filters(struct direct_ctx *c, char *why, size_t whylen)
{
	struct sock_filter *tmp[MAX_FILTERS];
	int n = 0, i, waited, ret = 0;
	char st = proc_state(c->pid);

	if (st == 'T' || st == 't') {
		why_set(why, whylen, "the container's init is stopped or frozen");
		return -EBUSY;
	}
	if (ptrace(PTRACE_SEIZE, c->pid, 0, 0) < 0) {
		why_set(why, whylen, "ptrace(SEIZE) of the init: %s", strerror(errno));
		return -errno;
	}
	if (ptrace(PTRACE_INTERRUPT, c->pid, 0, 0) < 0) {
		ret = -errno;
		why_set(why, whylen, "ptrace(INTERRUPT) of the init: %s", strerror(errno));
		goto detach;
	}
	for (waited = 0; proc_state(c->pid) != 't'; waited++) {
		if (waited * 2 >= STOP_WAIT_MS) {
			ret = -ETIMEDOUT;
			why_set(why, whylen, "the init did not stop for the seccomp dump");
			goto detach;
		}
		sleep_ms(2);
	}
	for (n = 0; n < MAX_FILTERS; n++) {
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, c->pid, (void *)(long)n, NULL);
		if (len < 0) {
			if (errno != ENOENT) {
				ret = -errno;
				why_set(why, whylen, "reading the init's seccomp filter: %s",
					strerror(errno));
			}
			break;
		}
		tmp[n] = calloc((size_t)len, sizeof(struct sock_filter));
		if (tmp[n] == NULL ||
		    ptrace(PTRACE_SECCOMP_GET_FILTER, c->pid, (void *)(long)n, tmp[n]) != len) {
			free(tmp[n]);
			ret = -EIO;
			why_set(why, whylen, "reading the init's seccomp filter failed");
			break;
		}
		c->filters[MAX_FILTERS - 1 - n].len = (unsigned short)len; /* reordered below */
		c->filters[MAX_FILTERS - 1 - n].filter = tmp[n];
	}
detach:
	ptrace(PTRACE_DETACH, c->pid, 0, 0);
	/* Oldest first, from the front. */
	for (i = 0; i < n; i++) {
		c->filters[i] = c->filters[MAX_FILTERS - n + i];
		if (MAX_FILTERS - n + i != i)
			memset(&c->filters[MAX_FILTERS - n + i], 0, sizeof(c->filters[0]));
	}
	c->n_filters = n;
	if (ret == 0 && n == MAX_FILTERS) {
		why_set(why, whylen, "more than %d seccomp filters", MAX_FILTERS);
		ret = -E2BIG;
	}
	/* A user-notify filter needs its listener, which lives in the engine's runtime. */
	for (i = 0; ret == 0 && i < n; i++) {
		unsigned k;
		for (k = 0; k < c->filters[i].len; k++) {
			const struct sock_filter *ins = &c->filters[i].filter[k];
			if (ins->code == (BPF_RET | BPF_K) &&
			    (ins->k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF) {
				why_set(why, whylen,
					"the container uses a seccomp user-notify filter");
				ret = -ENOTSUP;
				break;
			}
		}
	}
	return ret;
}

/* -ENOTSUP when the init runs under an LSM label the direct path would have to set (with
 * attr/exec, not done yet): AppArmor or SELinux in the kernel's LSM list (securityfs, when
 * mounted), or a label on the init itself (/proc/PID/attr/current: EINVAL without a module
 * that labels processes, "unconfined" under AppArmor without a profile). */
static int lsm_label(pid_t pid, char *why, size_t whylen)
{
	char path[64], buf[256] = "";
	ssize_t n;

	/* Longer than BUF: what fits still counts (-EFBIG leaves it there). */
	n = procfs_read("/sys/kernel/security/lsm", buf, sizeof(buf));
	if (n >= 0 || n == -EFBIG) {
		buf[strcspn(buf, "\n")] = 0;
		if (strstr(buf, "apparmor") || strstr(buf, "selinux")) {
			why_set(why, whylen, "an LSM (%s) is active; its label is not set yet",
				buf);
			return -ENOTSUP;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/attr/current", (int)pid);
	n = procfs_read(path, buf, sizeof(buf));
	if (n == 0 || (n < 0 && n != -EFBIG))
		return 0;
	buf[strcspn(buf, "\n")] = 0;
	if (buf[0] == 0 || strcmp(buf, "unconfined") == 0)
		return 0;
	why_set(why, whylen,
		"the container's init runs under the LSM label %s; its label is not set yet", buf);
	return -ENOTSUP;
}

/* Copies N filters from SRC to DST (each program its own allocation). */
static int copy_filters(struct sock_fprog *dst, const struct sock_fprog *src, int n)
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

/* The init's seccomp filters into C: kept from before (init_mem), or dumped now and kept.
 * WANT is how many the runtime installed (1 when the spec has a profile, else 0). Filters only
 * stack, and the runtime installs its own before the container's first instruction: so the
 * init has exactly WANT filters unless something in the container (or around the runtime)
 * stacked more, and then the dump is refused. Only the runtime's filter may reach an exec:
 * one the container stacked can fake success for capset, setuid or prctl, and the child
 * installs the filters while it is still root with every capability (runc and crun install
 * the spec's profile, never a filter the container made). Checking the result afterwards
 * proves nothing: a filter can fake getuid and capget too. A dump that passed is kept, so a
 * filter stacked later never reaches an exec either. */
static int cached_filters(struct direct_ctx *c, int want, char *why, size_t whylen)
{
	struct init_mem *m;
	int ret;

	pthread_mutex_lock(&init_mem_lock);
	if ((m = remembered(c, 0)) != NULL && m->has_filters) {
		ret = copy_filters(c->filters, m->filters, m->n_filters);
		if (ret == 0)
			c->n_filters = m->n_filters;
		pthread_mutex_unlock(&init_mem_lock);
		return ret;
	}
	pthread_mutex_unlock(&init_mem_lock);
	if ((ret = dump_filters(c, why, whylen)) < 0)
		return ret;
	if (c->n_filters != want) {
		why_set(why, whylen,
			"the container's init has %d seccomp filter%s where its spec gives %d: "
			"the container stacked its own",
			c->n_filters, c->n_filters == 1 ? "" : "s", want);
		return -EPERM;
	}
	pthread_mutex_lock(&init_mem_lock);
	if ((m = remembered(c, 1)) != NULL && !m->has_filters &&
	    copy_filters(m->filters, c->filters, c->n_filters) == 0) {
		m->n_filters = c->n_filters;
		m->has_filters = 1;
	}
	pthread_mutex_unlock(&init_mem_lock);
	return 0;
}

/* Opens the init's namespaces that differ from ours. A user namespace of its own (docker's
 * userns-remap) is joined last, once everything that needs the host's root is done: from
 * then on the ids the process takes are the container's, mapped by its uid_map/gid_map. */
static int open_namespaces(struct direct_ctx *c, char *why, size_t whylen)
{
	/* The mount namespace last: after it, /proc and paths are the container's. */
	static const char *names[] = { "cgroup", "ipc", "uts", "net", "time", "mnt" };
	char path[64], mine[64];
	struct stat a, b;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)c->pid);
	if (stat(path, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 && a.st_ino != b.st_ino &&
	    (c->userns = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		why_set(why, whylen, "open %s: %s", path, strerror(errno));
		return -errno;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)c->pid, names[i]);
		snprintf(mine, sizeof(mine), "/proc/self/ns/%s", names[i]);
		if (stat(path, &a) < 0)
			continue; /* a kernel without it */
		if (stat(mine, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		if ((c->ns[c->n_ns] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			why_set(why, whylen, "open %s: %s", path, strerror(errno));
			return -errno;
		}
		c->n_ns++;
		if (strcmp(names[i], "time") == 0)
			c->timens = 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)c->pid);
	if (stat(path, &a) == 0 && stat("/proc/self/ns/pid", &b) == 0 && a.st_ino != b.st_ino &&
	    (c->pidns = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		why_set(why, whylen, "open %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* The init's cgroups: for each hierarchy of /proc/PID/cgroup, the file the child writes "0" to,
 * under the standard layout (/sys/fs/cgroup itself for a pure v2 host; per controller
 * directories, "name=X" as X, and the v2 tree under unified/ on a hybrid one). A hierarchy
 * that is not mounted there is left alone, as a process of ours would be.
 * On a v1 hierarchy that file is `tasks`, not `cgroup.procs` (runc's): the child is a single
 * thread, so moving the thread moves the process, and the kernel moves the calling thread
 * without write-locking every thread group of the system, a lock whose taking waits for an
 * RCU grace period (here ~0.2 ms on an idle machine, 1.5 ms on average and up to 6 ms with
 * both CPUs busy, against 0.5 and 3 ms through `tasks`). v2 has only cgroup.procs. */
static int open_cgroup(struct direct_ctx *c, const char *id, char *why, size_t whylen)
{
	char path[64], buf[16384], *p = buf, *line, procs[4400];
	int pure_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)c->pid);
	if ((r = procfs_read(path, buf, sizeof(buf))) < 0) {
		why_set(why, whylen, "read %s: %s", path, strerror((int)-r));
		return (int)r;
	}
	/* The process under the pid is the container's, not one that took a reused pid since
	 * the engine named it: the engines' cgroups carry the container's id (.../docker/ID,
	 * docker-ID.scope, libpod-ID.scope). Read after the pidfd was opened, and the pidfd is
	 * checked last: this is the process the rest is read from. */
	if (id == NULL || strlen(id) < 12 || strstr(buf, id) == NULL) {
		why_set(why, whylen, "pid %d is not in the container's cgroup", (int)c->pid);
		return -ESRCH;
	}
	while ((line = procfs_line(&p)) != NULL && c->n_cgroups < MAX_CGROUPS) {
		char *ctrl = strchr(line, ':'), *cpath;
		int fd;
		if (ctrl == NULL || (cpath = strchr(++ctrl, ':')) == NULL)
			continue;
		*cpath++ = 0;
		if (ctrl[0] == 0)
			snprintf(procs, sizeof(procs), "/sys/fs/cgroup%s%s/cgroup.procs",
				 pure_v2 ? "" : "/unified", cpath);
		else
			snprintf(procs, sizeof(procs), "/sys/fs/cgroup/%s%s/tasks",
				 strncmp(ctrl, "name=", 5) == 0 ? ctrl + 5 : ctrl, cpath);
		if ((fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
			if (errno == ENOENT)
				continue;
			why_set(why, whylen, "open %s: %s", procs, strerror(errno));
			return -errno;
		}
		c->cgroups[c->n_cgroups++] = fd;
	}
	return 0;
}

/* USER through the container's own passwd and group files (ctuser.h) into C. */
static int resolve_user(struct direct_ctx *c, const char *user, const cJSON *extra, char *why,
			size_t whylen)
{
	struct ctuser u;
	int ret;

	if ((ret = ctuser_resolve(c->pid, user, extra, &u, why, whylen)) < 0)
		return ret;
	c->uid = u.uid;
	c->gid = u.gid;
	c->n_groups = u.n_groups;
	memcpy(c->groups, u.groups, sizeof(u.groups[0]) * (size_t)u.n_groups);
	snprintf(c->home, sizeof(c->home), "%s", u.home);
	return 0;
}

/* Sets NAME=VALUE in the NULL-terminated *ENV (replacing NAME), growing it. */
static int env_put(char ***env, size_t *n, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	char *copy = strdup(kv), **nv;

	if (copy == NULL)
		return -ENOMEM;
	for (i = 0; i < *n; i++) {
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = copy;
			return 0;
		}
	}
	if ((nv = realloc(*env, (*n + 2) * sizeof(*nv))) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	*env = nv;
	return 0;
}

static int env_has(char **env, size_t n, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < n; i++)
		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
			return 1;
	return 0;
}

/* The environment docker exec gives: PATH (a default when the image has none), HOSTNAME, TERM
 * with a TTY, the container's Config.Env, the exec's -e; HOME from the user's passwd entry
 * when nothing set it (as runc does). */
static int build_env(struct direct_ctx *c, const cJSON *cfg, char *const *env, size_t n_env,
		     int tty)
{
	const cJSON *e;
	char kv[600];
	size_t n = 0, i;

	c->envp = calloc(1, sizeof(char *));
	if (c->envp == NULL)
		return -ENOMEM;
	snprintf(kv, sizeof(kv), "HOSTNAME=%s", engine_str(cfg, "Hostname"));
	if (env_put(&c->envp, &n, kv) < 0)
		return -ENOMEM;
	if (tty && env_put(&c->envp, &n, "TERM=xterm") < 0)
		return -ENOMEM;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "Env"))
	{
		if (cJSON_IsString(e) && env_put(&c->envp, &n, e->valuestring) < 0)
			return -ENOMEM;
	}
	if (!env_has(c->envp, n, "PATH") &&
	    env_put(&c->envp, &n,
		    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") < 0)
		return -ENOMEM;
	for (i = 0; i < n_env; i++)
		if (env_put(&c->envp, &n, env[i]) < 0)
			return -ENOMEM;
	if (!env_has(c->envp, n, "HOME")) {
		snprintf(kv, sizeof(kv), "HOME=%s", c->home[0] ? c->home : "/");
		if (env_put(&c->envp, &n, kv) < 0)
			return -ENOMEM;
	}
	return 0;
}

int direct_prepare(struct direct_ctx **out, pid_t pid, unsigned long long start,
		   const cJSON *inspect, const char *user, const char *workdir, char *const *env,
		   size_t n_env, int tty, char *why, size_t whylen)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(inspect, "Config");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(inspect, "HostConfig");
	struct direct_ctx *c = calloc(1, sizeof(*c));
	int seccomp_mode = 0, ret, i, found;
	struct spec_sum sum;
	char uid[16];
	const char *u;

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	c->pid = pid;
	c->pidns = -1;
	c->userns = -1;
	c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (c->pidfd < 0) {
		ret = -errno;
		why_set(why, whylen, "pidfd_open(%d): %s", (int)pid, strerror(errno));
		goto fail;
	}
	/* The pidfd names whatever has the pid now: the init it must be, when we know it. */
	c->start = procfs_start_time(pid);
	if (start != 0 && c->start != start) {
		ret = -ESRCH;
		why_set(why, whylen, "the container's init went away");
		goto fail;
	}
	if ((ret = lsm_label(pid, why, whylen)) < 0)
		goto fail;
	if ((ret = read_status(c, &seccomp_mode)) < 0) {
		why_set(why, whylen, "reading the init's status: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = open_cgroup(c, engine_str(inspect, "Id"), why, whylen)) < 0 ||
	    (ret = open_namespaces(c, why, whylen)) < 0)
		goto fail;
	if ((ret = found = spec_summary(c, engine_str(inspect, "Id"), &sum, why, whylen)) < 0)
		goto fail;
	if (found) {
		apply_spec(c, &sum);
	} else if ((ret = read_limits(c->rl, c->pid)) < 0) {
		why_set(why, whylen, "reading the init's limits: %s", strerror(-ret));
		goto fail;
	}
	log_debug("direct: init %d: capabilities, no_new_privs and rlimits from %s", (int)pid,
		  found == 2   ? "the container's spec, as read before (the same init)"
		  : found == 1 ? "the container's spec"
			       : "the init itself (no spec found)");
	/* Seccomp filters only with a spec that says which of them are the runtime's. */
	if (seccomp_mode == 2 && !found) {
		ret = -ENOTSUP;
		why_set(why, whylen,
			"no spec tells which of the init's seccomp filters are the "
			"runtime's");
		goto fail;
	}
	if (found && (seccomp_mode == 2 || sum.seccomp) &&
	    (ret = cached_filters(c, sum.seccomp, why, whylen)) < 0)
		goto fail;
	if (!(user && user[0]) && found && spec_user(c, &sum) == 0) {
		/* The spec's ids; the uid's passwd entry, if any, only gives HOME. */
		snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
		c->n_groups = 0;
		if ((ret = resolve_user(c, uid, NULL, why, whylen)) < 0)
			goto fail;
		spec_user(c, &sum);
	} else {
		u = user && user[0] ? user : engine_str(cfg, "User");
		if ((ret = resolve_user(c, u, cJSON_GetObjectItemCaseSensitive(host, "GroupAdd"),
					why, whylen)) < 0)
			goto fail;
	}
	if ((ret = build_env(c, cfg, env, n_env, tty)) < 0) {
		why_set(why, whylen, "out of memory");
		goto fail;
	}
	c->cwd = strdup(workdir && workdir[0]              ? workdir
			: engine_str(cfg, "WorkingDir")[0] ? engine_str(cfg, "WorkingDir")
							   : "/");
	if (c->cwd == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	/* Only what the child will have and must not (each call there may run the filter): our
	 * bounding set, or every capability the kernel knows once a user namespace is joined
	 * (setns gives a full set). */
	for (i = 0; i < 64; i++) {
		int have = prctl(PR_CAPBSET_READ, i, 0, 0, 0);
		if (have < 0)
			break; /* beyond the kernel's last */
		if ((have == 1 || (have == 0 && c->userns >= 0)) && !(c->cap_bnd & (1ULL << i)))
			c->cap_drop |= 1ULL << i;
	}
	/* The pid may have been reused while we read: the pidfd still names the init. */
	if (syscall(SYS_pidfd_send_signal, c->pidfd, 0, NULL, 0) < 0) {
		ret = -ESRCH;
		why_set(why, whylen, "the container's init went away");
		goto fail;
	}
	*out = c;
	return 0;
fail:
	direct_free(c);
	return ret;
}

/* ---------------------------------------------------------------------------------------
 * In the child: async-signal-safe, and raw system calls where libc would act on every thread
 * (musl's setrlimit, setgroups, setgid and setuid): the child may run in our memory until it
 * execs (spawn.h), and there "every thread" would be the agent's. */

static int enter(const void *arg)
{
	const struct direct_ctx *c = arg;
	int i;

	/* Until exec, nothing in the container may open /proc/<us>/exe or ptrace us (the agent
	 * is non-dumpable already, and so are we: this is the belt to those braces). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -1;
	for (i = 0; i < c->n_cgroups; i++)
		if (write(c->cgroups[i], "0", 1) != 1)
			return -1;
	for (i = 0; i < c->n_ns; i++)
		if (setns(c->ns[i], 0) < 0)
			return -1;
	/* Raising a hard limit needs CAP_SYS_RESOURCE in the host's user namespace. */
	for (i = 0; i < RLIM_NLIMITS; i++)
		if (syscall(SYS_prlimit64, 0, i, &c->rl[i], NULL) < 0)
			return -1;
	/* All capabilities inside it, none outside: the rest (seccomp, groups, ids, capability
	 * sets) is done as the container's root. */
	if (c->userns >= 0 && setns(c->userns, CLONE_NEWUSER) < 0)
		return -1;
	return 0;
}

static int install_filters(const struct direct_ctx *c)
{
	int i;

	for (i = 0; i < c->n_filters; i++)
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &c->filters[i]) < 0)
			return -1;
	return 0;
}

static int creds(const void *arg)
{
	const struct direct_ctx *c = arg;
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	int cap;

	/* Without no_new_privs a filter needs CAP_SYS_ADMIN: install it while we have it. */
	if (!c->nnp && install_filters(c) < 0)
		return -1;
	for (cap = 0; cap < 64; cap++)
		if ((c->cap_drop & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -1;
	if (syscall(SYS_setgroups, c->n_groups, c->groups) < 0 || syscall(SYS_setgid, c->gid) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || syscall(SYS_setuid, c->uid) < 0)
		return -1;
	data[0].effective = (uint32_t)c->cap_eff;
	data[1].effective = (uint32_t)(c->cap_eff >> 32);
	data[0].permitted = (uint32_t)c->cap_prm;
	data[1].permitted = (uint32_t)(c->cap_prm >> 32);
	data[0].inheritable = (uint32_t)c->cap_inh;
	data[1].inheritable = (uint32_t)(c->cap_inh >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (cap = 0; cap < 64; cap++)
		if ((c->cap_amb & (1ULL << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return -1;
	if (c->nnp && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_filters(c) < 0))
		return -1;
	return 0;
}

int direct_spawn(struct direct_ctx *c, struct spawn_req *req, struct spawn_result *res)
{
	int own = -1, ret;

	/* The container's own devpts (as runc makes it), so that the process's terminal is
	 * /dev/pts/N inside; a container without one gets one of the host's. */
	if (req->tty && inroot_pty(c->pid, &req->pty_master, &req->pty_slave) < 0)
		req->pty_master = req->pty_slave = 0;

	req->envp = c->envp;
	req->workdir = c->cwd;
	req->fallback = NULL;
	req->uid = c->uid;
	req->gid = c->gid;
	req->enter = enter;
	req->creds = creds;
	req->hook_arg = c;
	req->own_mm = c->timens;
	/* The child is in the container's pid namespace before its exec, where its root may
	 * SIGSTOP it: the start is bounded (spawn.h), and runs on the thread pool. */
	req->start_timeout_ms = DIRECT_START_MS;
	/* setns(CLONE_NEWPID) moves only this thread's future children: the fork below lands
	 * in the container's pid namespace; then this pool thread goes back to ours. */
	if (c->pidns >= 0) {
		if ((own = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0)
			return -errno;
		if (setns(c->pidns, CLONE_NEWPID) < 0) {
			ret = -errno;
			close(own);
			return ret;
		}
	}
	ret = spawn_start(req, res);
	if (own >= 0) {
		if (setns(own, CLONE_NEWPID) < 0)
			log_error("direct: cannot return to the agent's pid namespace: %s",
				  strerror(errno));
		close(own);
	}
	return ret;
}

void direct_free(struct direct_ctx *c)
{
	int i;

	if (c == NULL)
		return;
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->pidns >= 0)
		close(c->pidns);
	if (c->userns >= 0)
		close(c->userns);
	for (i = 0; i < c->n_cgroups; i++)
		close(c->cgroups[i]);
	for (i = 0; i < c->n_ns; i++)
		close(c->ns[i]);
	for (i = 0; i < c->n_filters; i++)
		free(c->filters[i].filter);
	for (i = 0; c->envp != NULL && c->envp[i] != NULL; i++)
		free(c->envp[i]);
	free(c->envp);
	free(c->cwd);
	free(c);
}
