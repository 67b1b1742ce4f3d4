/* procfs.c: /proc/PID/stat fields. */
#include "agent/procfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int procfs_stat_field(pid_t pid, int n, char *out, size_t outlen)
{
	char path[64], buf[1024], *p;
	size_t len;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	p = fgets(buf, sizeof(buf), f) != NULL ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* ") S ppid ...": field 3 follows the first space after the ')'. */
	for (i = 2; p != NULL && i < n; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || n < 3)
		return -EINVAL;
	len = strcspn(p + 1, " \n");
	snprintf(out, outlen, "%.*s", (int)len, p + 1);
	return 0;
}

unsigned long long procfs_start_time(pid_t pid)
{
	char v[32];

	return procfs_stat_field(pid, 22, v, sizeof(v)) == 0 ? strtoull(v, NULL, 10) : 0;
}
