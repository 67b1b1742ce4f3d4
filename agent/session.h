/* session.h: one session = one stream of a connection = one process group on the host.
 * Relays the process's stdio under credit flow control, applies resizes and signals, and
 * reports its exit in-band; outlives a vanished client by the grace period, then ends the
 * process group (HUP, then KILL). */
#ifndef REXEC_AGENT_SESSION_H
#define REXEC_AGENT_SESSION_H

#include <sys/types.h>

#include "agent/agent.h"
#include "proto/wire.h"

struct session;

/* Handles an Open frame on a new stream of C. On failure an Error goes back on that stream
 * and no session is created. */
void session_open(struct agent *a, struct conn *c, const wire_frame *f);

/* Handles any other frame for a stream of C. Unknown streams get an Error. */
void session_frame(struct agent *a, struct conn *c, const wire_frame *f);

/* C is gone: its sessions are detached and their grace timers start. */
void session_conn_lost(struct agent *a, struct conn *c);

/* C's write queue is short again (conn.h's on_drain): its sessions read their output again,
 * those whose windows are open. */
void session_conn_drained(struct agent *a, struct conn *c);

/* A child exited (from the SIGCHLD handler in loop context). Returns 1 if PID belonged to a
 * session. */
int session_reaped(struct agent *a, pid_t pid, int status);

/* Ends now every session, attached or not, whose client certificate (as its connection showed
 * it at the Open) MATCH says yes to, for WHY (e.g. the certificate was revoked): the client
 * gets an Error on the session's stream, the process SIGHUP (SIGKILL later), the audit "end"
 * record WHY as its reason, the log a line. Returns how many. */
size_t session_end_owned(struct agent *a, int (*match)(const struct tls_identity *who, void *arg),
			 void *arg, const char *why);

/* Ends every session now (agent shutdown). */
void session_end_all(struct agent *a);

#endif
