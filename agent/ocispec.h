/* ocispec.h: the OCI spec (config.json) of a running container, summarised for an exec. The
 * engine's exec starts from the spec's process, not from what the init made of itself, so the
 * direct path does too: capabilities, no_new_privs, rlimits (over the runtime shim's own), the
 * user, and whether the runtime installed a seccomp filter. The spec is found through the
 * init's parent (containerd's shim runs in the bundle directory, named after the container;
 * podman's conmon names its bundle .../<id>/userdata in its argv). */
#ifndef REXEC_AGENT_OCISPEC_H
#define REXEC_AGENT_OCISPEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define OCISPEC_MAX_GROUPS 64

/* Plain values, caller-allocated. */
struct ocispec {
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	int nnp;
	struct rlimit rl[RLIM_NLIMITS];
	int has_user; /* the process's uid, gid and additional gids below */
	uid_t uid;
	gid_t gid;
	gid_t groups[OCISPEC_MAX_GROUPS];
	int n_groups;
	int seccomp; /* the spec has a seccomp profile: the runtime installed one filter */
};

/* The summary of the spec of container ID, whose init is PID, into OUT. Returns 1 when it was
 * read, 0 when no spec was found (another runtime), or a negative code with WHY when it asks
 * for something an exec cannot reproduce (an unknown capability or rlimit). */
int ocispec_read(pid_t pid, const char *id, struct ocispec *out, char *why, size_t whylen);

#endif
