/* ctuser.c: a container's user through its own passwd and group files (see ctuser.h). */
#include "agent/ctuser.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/inroot.h"

/* Field I (0-based) of a ':'-separated line into OUT. */
static void field(const char *line, int i, char *out, size_t len)
{
	const char *p = line, *e;

	while (i-- > 0 && (p = strchr(p, ':')) != NULL)
		p++;
	if (p == NULL) {
		out[0] = 0;
		return;
	}
	e = p + strcspn(p, ":\n");
	snprintf(out, len, "%.*s", (int)(e - p), p);
}

static int is_number(const char *s)
{
	if (*s == 0)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

#define USER_FILE_MAX   (1 << 16) /* of /etc/passwd, /etc/group read */
#define USER_FILE_SMALL 4096      /* what most containers' are within: read on the stack */

int ctuser_resolve_in(const char *user, const cJSON *extra, const char *passwd, const char *group,
		      struct ctuser *c, char *why, size_t whylen)
{
	char name[256] = "", grp[256] = "", f0[256], f2[64], f3[64], f5[512];
	const char *line, *colon = strchr(user, ':');
	int found = 0;
	const cJSON *g;

	memset(c, 0, sizeof(*c));

	snprintf(name, sizeof(name), "%.*s", (int)(colon ? (size_t)(colon - user) : strlen(user)),
		 user);
	if (colon)
		snprintf(grp, sizeof(grp), "%s", colon + 1);
	if (name[0] == 0)
		snprintf(name, sizeof(name), "0");
	for (line = passwd; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
		field(line, 0, f0, sizeof(f0));
		field(line, 2, f2, sizeof(f2));
		if (strcmp(f0, name) == 0 || (is_number(name) && strcmp(f2, name) == 0)) {
			field(line, 3, f3, sizeof(f3));
			field(line, 5, f5, sizeof(f5));
			c->uid = (uid_t)strtoul(f2, NULL, 10);
			c->gid = (gid_t)strtoul(f3, NULL, 10);
			snprintf(c->home, sizeof(c->home), "%s", f5);
			snprintf(name, sizeof(name), "%s", f0);
			snprintf(c->name, sizeof(c->name), "%s", f0);
			found = 1;
			break;
		}
	}
	if (!found) {
		if (!is_number(name)) {
			snprintf(why, whylen,
				 "unable to find user %s: no matching entries in passwd file",
				 name);
			return -ENOENT;
		}
		c->uid = (uid_t)strtoul(name, NULL, 10);
		c->gid = 0;
		snprintf(c->home, sizeof(c->home), "/");
	}
	if (grp[0]) {
		int ok = is_number(grp);
		for (line = group; !ok && *line;
		     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
			field(line, 0, f0, sizeof(f0));
			if (strcmp(f0, grp) == 0) {
				field(line, 2, f2, sizeof(f2));
				snprintf(grp, sizeof(grp), "%s", f2);
				ok = 1;
			}
		}
		if (!ok) {
			snprintf(why, whylen, "unable to find group %s", grp);
			return -ENOENT;
		}
		c->gid = (gid_t)strtoul(grp, NULL, 10);
	}
	c->groups[c->n_groups++] = c->gid;
	/* As runc: the groups that list the user only for a user found in passwd and no group
	 * given ("supplementary group ids only make sense in the implicit form"). */
	c->group_given = grp[0] != 0;
	for (line = group; found && !c->group_given && *line && c->n_groups < CTUSER_MAX_GROUPS;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
		char members[1024], *m, *save = NULL;
		field(line, 3, members, sizeof(members));
		field(line, 2, f2, sizeof(f2));
		for (m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			gid_t id = (gid_t)strtoul(f2, NULL, 10);
			if (strcmp(m, name) == 0 && id != c->gid && c->n_groups < CTUSER_MAX_GROUPS)
				c->groups[c->n_groups++] = id;
		}
	}
	/* --group-add: numbers, or names of the container's /etc/group (as docker resolves
	 * them into additionalGids). */
	cJSON_ArrayForEach(g, extra)
	{
		if (!cJSON_IsString(g) || c->n_groups >= CTUSER_MAX_GROUPS)
			continue;
		if (is_number(g->valuestring)) {
			c->groups[c->n_groups++] = (gid_t)strtoul(g->valuestring, NULL, 10);
			continue;
		}
		for (line = group; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
			field(line, 0, f0, sizeof(f0));
			if (strcmp(f0, g->valuestring) == 0) {
				field(line, 2, f2, sizeof(f2));
				c->groups[c->n_groups++] = (gid_t)strtoul(f2, NULL, 10);
				break;
			}
		}
		if (!*line) {
			snprintf(why, whylen, "unable to find group %s", g->valuestring);
			return -ENOENT;
		}
	}
	return 0;
}

/* The container's /etc/passwd and /etc/group into BUFS (LEN bytes each), read by the
 * helper of inroot.h (never by us: they are the container's to make FIFOs, devices or FUSE
 * files of). A missing file reads empty; one that is not a regular file, or a helper that
 * had to be killed, is refused with WHY. Longer than LEN - 1: -EFBIG in RES. */
static int read_user_files(pid_t pid, char *const bufs[2], size_t len, ssize_t res[2], char *why,
			   size_t whylen)
{
	static const char *const rels[2] = { "etc/passwd", "etc/group" };
	const size_t lens[2] = { len, len };
	int ret = inroot_read(pid, rels, bufs, lens, res, 2), i;

	if (ret < 0) {
		snprintf(why, whylen, "reading the container's /etc/passwd and /etc/group: %s",
			 ret == -ETIMEDOUT ? "no answer in time" : strerror(-ret));
		return ret;
	}
	for (i = 0; i < 2; i++) {
		if (res[i] == -EINVAL) {
			snprintf(why, whylen, "the container's /%s is not a regular file", rels[i]);
			return -EINVAL;
		}
		if (res[i] < 0 && res[i] != -EFBIG)
			bufs[i][0] = 0;
	}
	return 0;
}

int ctuser_resolve(pid_t pid, const char *user, const cJSON *extra, struct ctuser *c, char *why,
		   size_t whylen)
{
	char small[2][USER_FILE_SMALL], *files = NULL;
	char *bufs[2] = { small[0], small[1] };
	ssize_t res[2];
	int ret;

	memset(c, 0, sizeof(*c));
	if ((ret = read_user_files(pid, bufs, USER_FILE_SMALL, res, why, whylen)) < 0)
		return ret;
	if (res[0] == -EFBIG || res[1] == -EFBIG) {
		/* Read both again, up to the limit (a 128 KiB allocation, mapped and unmapped by
		 * musl each time); a file longer still counts for what fits. */
		if ((files = malloc(2 * USER_FILE_MAX)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		bufs[0] = files;
		bufs[1] = files + USER_FILE_MAX;
		if ((ret = read_user_files(pid, bufs, USER_FILE_MAX, res, why, whylen)) < 0)
			goto out;
	}
	ret = ctuser_resolve_in(user, extra, bufs[0], bufs[1], c, why, whylen);
out:
	free(files);
	return ret;
}
