/* sdnotify.c: sd_notify(3)'s datagram, written by hand as OpenSSH's portable sshd does
 * (openbsd-compat/port-linux.c, ssh_systemd_notify): a static binary with no libsystemd, and
 * the protocol is one sendto() of text on a unix datagram socket. */
#include "agent/sdnotify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto/error.h"

int sdnotify_init(struct sdnotify *n)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;
	int ret = 0;

	n->path[0] = 0;
	if (path == NULL)
		return 0;
	len = strlen(path);
	/* sd_notify(3): an absolute path, or '@' for Linux's abstract namespace. */
	if ((path[0] != '/' && path[0] != '@') || len < 2 || len >= sizeof(n->path))
		ret = REXEC_ECONFIG;
	else
		memcpy(n->path, path, len + 1);
	unsetenv("NOTIFY_SOCKET");
	return ret;
}

int sdnotify_send(const struct sdnotify *n, const char *state)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	size_t len = strlen(n->path);
	ssize_t sent;
	int fd, ret = 0;

	if (len == 0)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, n->path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = 0; /* abstract: the name is the bytes after a NUL, unterminated */
	sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	do
		sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
			      sunlen);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		ret = -errno;
	else if ((size_t)sent != strlen(state))
		ret = -EMSGSIZE;
	close(fd);
	return ret;
}

int sdnotify_reloading(const struct sdnotify *n)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000ULL);
	return sdnotify_send(n, msg);
}
