/* svccache.c: the service-to-hosts cache file. */
#include "client/svccache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "client/config.h"

#define LINE_MAX_LEN 8192
#define MAX_ENTRIES  64 /* older entries fall out beyond this */

/* The cache file's path into BUF: in the runtime directory (gone at logout), else in the
 * client's cache directory; 0, or -1 without a place for it. */
static int cache_path(char *buf, size_t len, int make_dirs)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int n;

	if (run != NULL && run[0] == '/') {
		n = snprintf(buf, len, "%s/rexec-services", run);
		return n < 0 || (size_t)n >= len ? -1 : 0;
	}
	return client_cache_path("services", make_dirs, buf, len) != NULL ? 0 : -1;
}

/* Splits LINE into its four fields in place; 0, or -1 when it is malformed. */
static int split(char *line, long long *expires, char **config, char **service, char **hosts)
{
	char *t1 = strchr(line, '\t'), *t2, *t3, *end;

	if (t1 == NULL || (t2 = strchr(t1 + 1, '\t')) == NULL ||
	    (t3 = strchr(t2 + 1, '\t')) == NULL)
		return -1;
	*t1 = *t2 = *t3 = 0;
	*expires = strtoll(line, &end, 10);
	if (*end != 0)
		return -1;
	*config = t1 + 1;
	*service = t2 + 1;
	*hosts = t3 + 1;
	(*hosts)[strcspn(*hosts, "\n")] = 0;
	return 0;
}

char *svccache_get(const char *config, const char *service)
{
	char path[4096], line[LINE_MAX_LEN], *c, *s, *h, *ret = NULL;
	long long expires, now = (long long)time(NULL);
	FILE *f;

	if (cache_path(path, sizeof(path), 0) < 0 || (f = fopen(path, "r")) == NULL)
		return NULL;
	while (ret == NULL && fgets(line, sizeof(line), f) != NULL) {
		if (split(line, &expires, &c, &s, &h) < 0 || expires <= now ||
		    expires > now + SVCCACHE_TTL_S)
			continue;
		if (strcmp(c, config) == 0 && strcmp(s, service) == 0 && h[0] != 0)
			ret = strdup(h);
	}
	fclose(f);
	return ret;
}

void svccache_put(const char *config, const char *service, const char *hosts)
{
	char path[4096], tmp[4200], line[LINE_MAX_LEN], copy[LINE_MAX_LEN], *c, *s, *h;
	long long expires, now = (long long)time(NULL);
	FILE *in, *out;
	int fd, kept = 0;

	if (strpbrk(config, "\t\n") || strpbrk(service, "\t\n") ||
	    strlen(config) + strlen(service) + strlen(hosts) + 32 > sizeof(line) ||
	    cache_path(path, sizeof(path), 1) < 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return;
	if ((out = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
		return;
	}
	fprintf(out, "%lld\t%s\t%s\t%s\n", now + SVCCACHE_TTL_S, config, service, hosts);
	/* Keep the other live entries. */
	if ((in = fopen(path, "r")) != NULL) {
		while (kept < MAX_ENTRIES && fgets(line, sizeof(line), in) != NULL) {
			memcpy(copy, line, sizeof(line));
			if (split(copy, &expires, &c, &s, &h) < 0 || expires <= now ||
			    (strcmp(c, config) == 0 && strcmp(s, service) == 0))
				continue;
			fputs(line, out);
			kept++;
		}
		fclose(in);
	}
	if (fclose(out) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

void svccache_each(const char *config,
		   void (*fn)(void *arg, const char *service, const char *hosts), void *arg)
{
	char path[4096], line[LINE_MAX_LEN], *c, *s, *h;
	long long expires;
	struct stat st;
	FILE *f;
	int fd;

	/* A regular file only, opened without waiting: completion must never block on a FIFO. */
	if (cache_path(path, sizeof(path), 0) < 0 ||
	    (fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (split(line, &expires, &c, &s, &h) == 0 && strcmp(c, config) == 0)
			fn(arg, s, h);
	fclose(f);
}
