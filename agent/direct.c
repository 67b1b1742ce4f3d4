/* direct.c: exec into a container without the engine (see direct.h). */
#include "agent/direct.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
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
#include "agent/initmem.h"
#include "agent/inroot.h"
#include "agent/ocispec.h"
#include "agent/procfs.h"
#include "agent/scdump.h"
#include "proto/log.h"

#define MAX_NS          8
#define MAX_FILTERS     SCDUMP_MAX
#define MAX_GROUPS      CTUSER_MAX_GROUPS
#define MAX_CGROUPS     16
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
	char user_name[256]; /* the passwd entry's name of UID, "" without one (for the policy) */
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

static void apply_spec(struct direct_ctx *c, const struct ocispec *sum)
{
	c->cap_inh = sum->cap_inh;
	c->cap_prm = sum->cap_prm;
	c->cap_eff = sum->cap_eff;
	c->cap_bnd = sum->cap_bnd;
	c->cap_amb = sum->cap_amb;
	c->nnp = sum->nnp;
	memcpy(c->rl, sum->rl, sizeof(c->rl));
}

/* GID out of C's additional groups. */
static void drop_group(struct direct_ctx *c, gid_t gid)
{
	int i, o = 0;

	for (i = 0; i < c->n_groups; i++)
		if (c->groups[i] != gid)
			c->groups[o++] = c->groups[i];
	c->n_groups = o;
}

/* Without -u the exec runs as the spec's user: uid, gid and additional gids as they are
 * there. Returns -1 if the spec has none. */
static int spec_user(struct direct_ctx *c, const struct ocispec *sum)
{
	if (!sum->has_user)
		return -1;
	c->uid = sum->uid;
	c->gid = sum->gid;
	c->n_groups = sum->n_groups;
	memcpy(c->groups, sum->groups, sizeof(c->groups[0]) * (size_t)sum->n_groups);
	return 0;
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

/* The summary of the spec of C's container into SUM, from MEM or from its bundle. Returns 2
 * when it was kept from before, 1 when it was read now, 0 when no spec was found, or a
 * negative code with WHY when it asks for something we cannot reproduce. */
static int spec_summary(const struct direct_ctx *c, struct initmem *mem, const char *id,
			struct ocispec *sum, char *why, size_t whylen)
{
	int ret;

	if (initmem_spec(mem, c->pid, c->start, sum))
		return 2;
	if ((ret = ocispec_read(c->pid, id, sum, why, whylen)) <= 0)
		return ret;
	initmem_put_spec(mem, c->pid, c->start, sum);
	return 1;
}

/* The init's seccomp filters into C: kept from before (MEM), or dumped now and kept.
 * WANT is how many the runtime installed (1 when the spec has a profile, else 0). Filters only
 * stack, and the runtime installs its own before the container's first instruction: so the
 * init has exactly WANT filters unless something in the container (or around the runtime)
 * stacked more, and then the dump is refused. Only the runtime's filter may reach an exec:
 * one the container stacked can fake success for capset, setuid or prctl, and the child
 * installs the filters while it is still root with every capability (runc and crun install
 * the spec's profile, never a filter the container made). Checking the result afterwards
 * proves nothing: a filter can fake getuid and capget too. A dump that passed is kept, so a
 * filter stacked later never reaches an exec either. */
static int cached_filters(struct direct_ctx *c, struct initmem *mem, int want, char *why,
			  size_t whylen)
{
	int ret = initmem_filters(mem, c->pid, c->start, c->filters, &c->n_filters);

	if (ret != 0)
		return ret < 0 ? ret : 0;
	if ((ret = scdump_read(c->pid, c->filters, &c->n_filters, why, whylen)) < 0)
		return ret;
	if (c->n_filters != want) {
		why_set(why, whylen,
			"the container's init has %d seccomp filter%s where its spec gives %d: "
			"the container stacked its own",
			c->n_filters, c->n_filters == 1 ? "" : "s", want);
		return -EPERM;
	}
	initmem_put_filters(mem, c->pid, c->start, c->filters, c->n_filters);
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
	snprintf(c->user_name, sizeof(c->user_name), "%s", u.name);
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

/* What podman puts in the environment of every container it makes: how its differences from
 * dockerd's exec are told apart. */
#define PODMAN_ENV "container=podman"

/* Whether the container's Config.Env (CFG's) holds the entry KV exactly. */
static int cfg_env_is(const cJSON *cfg, const char *kv)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "Env"))
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, kv) == 0)
			return 1;
	}
	return 0;
}

/* The environment docker exec gives: PATH (a default when the image has none), HOSTNAME, TERM
 * with a TTY, the container's Config.Env, the exec's -e; HOME from the user's passwd entry
 * when nothing set it (as runc does). podman's exec (its containers carry container=podman)
 * leaves out the HOSTNAME that its Config.Env lists: so does this (seen on podman 4.3). */
static int build_env(struct direct_ctx *c, const cJSON *cfg, char *const *env, size_t n_env,
		     int tty)
{
	const cJSON *e;
	char kv[600];
	size_t n = 0, i;
	int podman = cfg_env_is(cfg, PODMAN_ENV);

	c->envp = calloc(1, sizeof(char *));
	if (c->envp == NULL)
		return -ENOMEM;
	snprintf(kv, sizeof(kv), "HOSTNAME=%s", engine_str(cfg, "Hostname"));
	if (!podman && env_put(&c->envp, &n, kv) < 0)
		return -ENOMEM;
	if (tty && env_put(&c->envp, &n, "TERM=xterm") < 0)
		return -ENOMEM;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "Env"))
	{
		if (!cJSON_IsString(e) || (podman && strncmp(e->valuestring, "HOSTNAME=", 9) == 0))
			continue;
		if (env_put(&c->envp, &n, e->valuestring) < 0)
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

int direct_prepare(struct direct_ctx **out, struct initmem *mem, pid_t pid,
		   unsigned long long start, const cJSON *inspect, const char *user,
		   const char *workdir, char *const *env, size_t n_env, int tty, char *why,
		   size_t whylen)
{
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(inspect, "Config");
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(inspect, "HostConfig");
	struct direct_ctx *c = calloc(1, sizeof(*c));
	int seccomp_mode = 0, ret, i, found;
	struct ocispec sum;
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
	if ((ret = found = spec_summary(c, mem, engine_str(inspect, "Id"), &sum, why, whylen)) < 0)
		goto fail;
	if (found) {
		apply_spec(c, &sum);
	} else if ((ret = procfs_limits(c->pid, c->rl)) < 0) {
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
	    (ret = cached_filters(c, mem, sum.seccomp, why, whylen)) < 0)
		goto fail;
	if (!(user && user[0]) && found && spec_user(c, &sum) == 0) {
		/* The spec's ids; the uid's passwd entry, if any, only gives HOME. */
		snprintf(uid, sizeof(uid), "%u", (unsigned)c->uid);
		c->n_groups = 0;
		if ((ret = resolve_user(c, uid, NULL, why, whylen)) < 0)
			goto fail;
		spec_user(c, &sum);
		/* podman's exec gives the spec's additional gids but its primary gid (seen on
		 * podman 4.3: `id` shows no groups=1000 for user 1000); dockerd's keeps it. */
		if (cfg_env_is(cfg, PODMAN_ENV))
			drop_group(c, c->gid);
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

uid_t direct_uid(const struct direct_ctx *c)
{
	return c->uid;
}

const char *direct_user_name(const struct direct_ctx *c)
{
	return c->user_name;
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
	scdump_free(c->filters, c->n_filters);
	for (i = 0; c->envp != NULL && c->envp[i] != NULL; i++)
		free(c->envp[i]);
	free(c->envp);
	free(c->cwd);
	free(c);
}
