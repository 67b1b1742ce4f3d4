/* ctuser.h: a user of a running container as its own /etc/passwd and /etc/group say, resolved
 * the way runc resolves an exec's user: "name", "uid", "name:group" or "uid:gid"; the primary
 * gid first, then (no group given) every group that lists the user, then the container's
 * --group-add. The files
 * are read by the helper of inroot.h (never by the agent's own threads: a container makes them
 * what it likes). Both exec paths resolve through here, so that the ids a session runs as are
 * the ids the agent resolved (the engine path hands the engine the uid, and the gid when one was
 * named). */
#ifndef REXEC_AGENT_CTUSER_H
#define REXEC_AGENT_CTUSER_H

#include <stddef.h>
#include <sys/types.h>

#include <cJSON.h>

#define CTUSER_MAX_GROUPS 64

/* Plain values, caller-allocated. */
struct ctuser {
	uid_t uid;
	gid_t gid;
	gid_t groups[CTUSER_MAX_GROUPS]; /* the primary gid first */
	int n_groups;
	char home[512];  /* from the passwd entry; "/" without one */
	char name[256];  /* the passwd entry's name; "" for a uid without one (for the policy) */
	int group_given; /* USER named the group ("name:group"): no groups that list the user */
};

/* USER in the container whose init is PID, with EXTRA (HostConfig.GroupAdd: numbers, or names
 * of the container's /etc/group; NULL for none) into *U. Returns 0; -ENOENT with WHY saying
 * "unable to find user NAME: ..." (docker's words) for a user or group the container does not
 * know; another negative code with WHY when the files cannot be read safely (not regular
 * files, no answer in time). Blocks up to INROOT_TIMEOUT_MS: not on the loop. */
int ctuser_resolve(pid_t pid, const char *user, const cJSON *extra, struct ctuser *u, char *why,
		   size_t whylen);

/* ctuser_resolve() on the texts of a container's /etc/passwd and /etc/group (NUL-terminated,
 * "" for a missing file) already read: the parser alone, which ctuser_resolve() calls and the
 * fuzzer drives. Returns 0, or -ENOENT with WHY. */
int ctuser_resolve_in(const char *user, const cJSON *extra, const char *passwd, const char *group,
		      struct ctuser *c, char *why, size_t whylen);

#endif
