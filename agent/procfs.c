/* procfs.c: small /proc files, and /proc/PID/stat fields. */
#include "agent/procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

ssize_t procfs_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = procfs_read_fd(fd, buf, size);
	close(fd);
	return n;
}

ssize_t procfs_read_fd(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n = 1;
	char more;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (n > 0) /* full: is there more? */
		while ((n = read(fd, &more, 1)) < 0 && errno == EINTR)
			;
	if (n < 0)
		n = -errno;
	if (size > 0)
		buf[len] = 0;
	if (n < 0)
		return n;
	return n > 0 || size == 0 ? -EFBIG : (ssize_t)len;
}

char *procfs_line(char **p)
{
	char *line = *p, *nl;

	if (*line == 0)
		return NULL;
	if ((nl = strchr(line, '\n')) != NULL) {
		*nl = 0;
		*p = nl + 1;
	} else {
		*p = line + strlen(line);
	}
	return line;
}

/* Field N of the /proc/PID/stat text in BUF into OUT: procfs_stat_field()'s parser, apart
 * so that the fuzzer (tests/fuzz/procfs_fuzz.c) reaches it. */
static int stat_field(const char *buf, int n, char *out, size_t outlen)
{
	const char *p;
	size_t len;
	int i;

	p = strrchr(buf, ')');
	/* ") S ppid ...": field 3 follows the first space after the ')'. */
	for (i = 2; p != NULL && i < n; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || n < 3)
		return -EINVAL;
	len = strcspn(p + 1, " \n");
	snprintf(out, outlen, "%.*s", (int)len, p + 1);
	return 0;
}

int procfs_stat_field(pid_t pid, int n, char *out, size_t outlen)
{
	char path[64], buf[2048];
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((r = procfs_read(path, buf, sizeof(buf))) < 0)
		return (int)r;
	return stat_field(buf, n, out, outlen);
}

unsigned long long procfs_start_time(pid_t pid)
{
	char v[32];

	return procfs_stat_field(pid, 22, v, sizeof(v)) == 0 ? strtoull(v, NULL, 10) : 0;
}

/* The kernel lists them in RLIMIT_* order, values at fixed columns. */
int procfs_limits(pid_t pid, struct rlimit *rl)
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
