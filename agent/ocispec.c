/* ocispec.c: the container's OCI spec, summarised for an exec (see ocispec.h).
 *
 * The engine's exec starts from the process of the spec the container was created with and
 * overrides only argv, env, cwd, the terminal and (with -u) the user: an init that dropped
 * its own capabilities, lowered its limits or set no_new_privs does not pass that on. So the
 * spec is preferred to what /proc says of the init. It is found through the init's parent:
 * containerd's runtime shim runs in the bundle directory, which is named after the container
 * (.../moby/<id>); podman's conmon runs in the engine's directory and names the bundle in its
 * argv (`-b .../overlay-containers/<id>/userdata`), as CRI-O's does. The name is checked, so
 * a recycled parent pid cannot hand us another directory. Without it (another runtime), the
 * init's own context is used. */
#include "agent/ocispec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/engine.h"
#include "agent/procfs.h"

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

/* Whether the directory held open as DFD is named .../ID (SUFFIX NULL) or .../ID/SUFFIX: the
 * name of the directory held open, not of a path looked up again. */
static int dir_is(int dfd, const char *id, const char *suffix)
{
	char path[64], dir[4096];
	size_t n, idlen = strlen(id), slen = suffix ? strlen(suffix) + 1 : 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", dfd);
	if ((len = readlink(path, dir, sizeof(dir) - 1)) <= 0)
		return 0;
	dir[len] = 0;
	n = (size_t)len;
	if (n < idlen + slen + 1 ||
	    (suffix && (dir[n - slen] != '/' || strcmp(dir + n - slen + 1, suffix) != 0)))
		return 0;
	n -= slen;
	return dir[n - idlen - 1] == '/' && strncmp(dir + n - idlen, id, idlen) == 0;
}

/* The bundle directory of conmon PPID (podman's and CRI-O's monitor, started with `-b
 * BUNDLE`; its cwd is the engine's), opened, if it is .../ID/userdata as podman names it;
 * else -1. A process can rewrite only its own argv, and conmon is the engine's. */
static int conmon_bundle(pid_t ppid, const char *id)
{
	char path[64], argv[8192], *a, *end, *bundle = NULL;
	ssize_t n;
	int dfd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)ppid);
	if ((n = procfs_read(path, argv, sizeof(argv))) <= 0)
		return -1;
	end = argv + n;
	a = strrchr(argv, '/') ? strrchr(argv, '/') + 1 : argv;
	if (strcmp(a, "conmon") != 0)
		return -1;
	for (a = argv + strlen(argv) + 1; a < end; a += strlen(a) + 1)
		if ((strcmp(a, "-b") == 0 || strcmp(a, "--bundle") == 0) &&
		    a + strlen(a) + 1 < end) {
			bundle = a + strlen(a) + 1;
			break;
		}
	if (bundle == NULL || bundle[0] != '/' ||
	    (dfd = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (!dir_is(dfd, id, "userdata")) {
		close(dfd);
		return -1;
	}
	return dfd;
}

/* The spec of container ID (whose init is PID), parsed; NULL when it cannot be found.
 * *RUNTIME is the pid of the shim or monitor it was found through: containerd's shim runs in
 * the bundle directory (docker); podman's conmon names it in its argv. */
static cJSON *read_spec(pid_t pid, const char *id, pid_t *runtime)
{
	char v[32], path[64];
	cJSON *spec = NULL;
	char *text = NULL;
	struct stat st;
	size_t size;
	int dfd = -1, fd = -1;
	pid_t ppid;

	if (id == NULL || id[0] == 0 || strchr(id, '/') != NULL ||
	    procfs_stat_field(pid, 4, v, sizeof(v)) < 0)
		return NULL;
	ppid = (pid_t)strtol(v, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)ppid);
	if (ppid <= 1)
		return NULL;
	if ((dfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) >= 0 && !dir_is(dfd, id, NULL)) {
		close(dfd);
		dfd = -1;
	}
	if (dfd < 0 && (dfd = conmon_bundle(ppid, id)) < 0)
		return NULL;
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
			snprintf(why, whylen, "the spec names an unknown capability %s",
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
static int summarize(struct ocispec *sum, const cJSON *spec, pid_t runtime, char *why,
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
	if ((ret = procfs_limits(runtime, sum->rl)) < 0) {
		snprintf(why, whylen, "reading the runtime's limits: %s", strerror(-ret));
		return ret;
	}
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(p, "rlimits"))
	{
		const char *type = engine_str(r, "type");
		for (i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
			if (strcmp(type, rlimit_names[i].name) == 0)
				break;
		if (i == sizeof(rlimit_names) / sizeof(rlimit_names[0])) {
			snprintf(why, whylen, "the spec sets an unknown rlimit %s", type);
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
		if (sum->n_groups < OCISPEC_MAX_GROUPS && cJSON_IsNumber(g) && g->valuedouble >= 0)
			sum->groups[sum->n_groups++] = (gid_t)g->valuedouble;
	}
	return 0;
}

int ocispec_read(pid_t pid, const char *id, struct ocispec *out, char *why, size_t whylen)
{
	pid_t runtime = 0;
	cJSON *spec = read_spec(pid, id, &runtime);
	int ret;

	if (spec == NULL)
		return 0;
	memset(out, 0, sizeof(*out));
	ret = summarize(out, spec, runtime, why, whylen);
	cJSON_Delete(spec);
	return ret < 0 ? ret : 1;
}
