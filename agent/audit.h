/* audit.h: the agent's audit log (the config's audit_log, --audit-log): one JSON object per
 * line for every session that starts ("start"), ends ("end") or is refused ("refused"): who
 * (the client certificate's CN, its groups and serial), from where, what (kind, target, argv,
 * user), which exec path ran it ("via"), how it ended, and the bytes each way.
 *
 * A session's identifying fields are built once from its Open (audit_describe()), kept by the
 * session, completed as it starts and ends, and copied into each of its records. Without an
 * audit log (a NULL struct audit) every function is a no-op and audit_describe() returns NULL,
 * so nothing is built or written.
 *
 * Each record is one write() on an O_APPEND descriptor. A write that fails (full disk, EIO)
 * never fails a session: the record is counted as lost, one warning is logged until a write
 * succeeds again, and the next record written carries "lost": N. A record cut short by a
 * full disk is cut off the file again, so that every line stays one whole JSON object. */
#ifndef REXEC_AGENT_AUDIT_H
#define REXEC_AGENT_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

#include <cJSON.h>

#include "proto/tls.h"
#include "proto/wire.h"

struct audit;

/* What a "start" record adds to the session's description. Strings are borrowed. */
struct audit_start {
	const char *session; /* the Opened session_id */
	const char *user;    /* as the process runs ("" for a container's default user) */
	int tty;
	pid_t pid;          /* on the host; 0 when unknown (written as null) */
	const char *via;    /* "host", "engine" or "direct" */
	const char *detail; /* container sessions: what the engine backend did ("exec 3f2a1b in
			     * shop-web-1"); NULL or "" for none */
};

/* What an "end" record adds besides the exit (audit_exit()). */
struct audit_end {
	pid_t pid;            /* the process's host pid learnt since the start record, or 0 */
	uint64_t duration_ms; /* from the start record */
	uint64_t bytes_in;    /* stdin bytes handed to the process */
	uint64_t bytes_out;   /* stdout and stderr bytes sent to the client */
	/* Its recording (record.h), NULL when none: written as "recording" (the file),
	 * "recording_complete" and, when it is not, "recording_error". Borrowed. */
	const char *recording;
	int recording_complete;
	const char *recording_error;
};

/* Opens PATH (created with mode 0600 if missing) for appending. Returns 0 with *OUT set (free
 * with audit_free()), or -errno; -ENOMEM. */
int audit_new(struct audit **out, const char *path);

/* Opens the log's path again and writes there from now on (logrotate, on SIGHUP). Returns 0,
 * or -errno with the old descriptor kept. */
int audit_reopen(struct audit *au);

/* Closes the log and frees AU (NULL is fine). */
void audit_free(struct audit *au);

/* The identifying fields of the session that Open O asks for, for the peer WHO (its
 * certificate's CN, groups and serial) connected from FROM: who, groups, serial, from, kind,
 * target, argv, user (as asked). Returns NULL when AU is NULL, or when out of memory (counted
 * as a lost record); else the caller owns it (cJSON_Delete()). */
cJSON *audit_describe(struct audit *au, const Rexec__V1__Open *o, const struct tls_identity *who,
		      const char *from);

/* Writes a "refused" record: DESC's fields and MESSAGE, the Error the client got. */
void audit_refused(struct audit *au, const cJSON *desc, const char *message);

/* Adds ST's fields to DESC (they identify the session in its "end" record too) and writes a
 * "start" record. */
void audit_started(struct audit *au, cJSON *desc, const struct audit_start *st);

/* Notes in DESC how the session ended: exit CODE, killed by SIG when > 0, and REASON when not
 * empty (an earlier reason stays otherwise). A later call replaces the exit. */
void audit_exit(cJSON *desc, int code, int sig, const char *reason);

/* Notes in DESC why the session is ending (e.g. its client vanished), replacing an earlier
 * reason. */
void audit_reason(cJSON *desc, const char *reason);

/* The policy's decision in DESC (NULL is fine), for the records that follow: RULE, the index of
 * the rule that decided, or the string "no rule allows" for AUDIT_NO_RULE. */
#define AUDIT_NO_RULE (-1)
void audit_policy(cJSON *desc, int rule);

/* Writes an "end" record: DESC's fields, the exit noted (null when none was), END's. */
void audit_ended(struct audit *au, const cJSON *desc, const struct audit_end *end);

/* ---- connections refused before authentication (agent/refusal.c rate-limits them) ---- */

/* A connection refused before it was authenticated: a TLS handshake that failed or was refused,
 * or a connection closed at once over a limit. Strings are borrowed; NULL or "" for none. */
struct audit_conn_refusal {
	const char *stage;  /* "handshake" or "connect" (over a limit, before any TLS) */
	const char *from;   /* "ADDR:PORT" */
	const char *who;    /* the CN of the certificate shown (not trusted: it was refused) */
	const char *serial; /* its serial, hex */
	const char *reason; /* a short name: "unknown_ca", "expired", ..., "connections" */
	const char *error;  /* the full reason */
};

/* Writes {"event":"refused","stage":...,"from":...,"who":...,"serial":...,"reason":...,
 * "error":...} ("who" and "serial" null when unknown). */
void audit_conn_refused(struct audit *au, const struct audit_conn_refusal *r);

/* Writes {"event":"refused","stage":"summary","from":FROM,"left_out":N,"window_s":W}: N
 * refusals from FROM (an address, or "other addresses") in the last W seconds that were not
 * written one by one. */
void audit_conn_left_out(struct audit *au, const char *from, uint64_t n, unsigned window_s);
/* Writes a "disconnect" record: the agent closed the connection of WHO (from FROM) for REASON
 * (its certificate was revoked or expired). */
void audit_disconnected(struct audit *au, const struct tls_identity *who, const char *from,
			const char *reason);

#endif
