/* sdnotify.h: the service manager's readiness protocol (sd_notify(3)) without libsystemd:
 * READY=1 once the listeners listen, RELOADING=1 around a SIGHUP, STOPPING=1 at shutdown.
 * Outside systemd ($NOTIFY_SOCKET unset) every call does nothing. */
#ifndef REXEC_AGENT_SDNOTIFY_H
#define REXEC_AGENT_SDNOTIFY_H

#include <stddef.h>

/* Where the notifications go, taken from the environment once at start-up. Plain value,
 * caller-allocated (it lives in struct agent). */
struct sdnotify {
	char path[108]; /* $NOTIFY_SOCKET: a path, or "@name" (abstract); "" when unset */
};

/* Reads $NOTIFY_SOCKET into N and removes it from the environment, so that nothing the agent
 * starts inherits it. Returns 0; or REXEC_ECONFIG (N left unset) when it is too long or
 * neither an absolute path nor '@'-abstract: the caller logs that, never fatal. */
int sdnotify_init(struct sdnotify *n);

/* Sends STATE ("READY=1", or several "KEY=VALUE" lines) as one datagram. Returns 0 when sent or
 * when there is no socket, else -errno; the caller logs a failure and goes on. */
int sdnotify_send(const struct sdnotify *n, const char *state);

/* "RELOADING=1" with "MONOTONIC_USEC=" now (CLOCK_MONOTONIC), as Type=notify-reload wants it
 * before a reload; READY=1 follows when it is done. Returns as sdnotify_send(). */
int sdnotify_reloading(const struct sdnotify *n);

#endif
