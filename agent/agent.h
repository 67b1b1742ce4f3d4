/* agent.h: the agent's shared state, passed explicitly to every module (no globals). */
#ifndef REXEC_AGENT_H
#define REXEC_AGENT_H

#include <uv.h>

#include "agent/config.h"
#include "agent/engine.h"
#include "agent/refusal.h"
#include "agent/sdnotify.h"
#include "proto/conn.h"

struct audit;
struct certwatch;
struct ctcache;
struct initmem;
struct policy;
struct record_dir;
struct session;

#define AGENT_MAX_LISTENERS 8

struct agent {
	uv_loop_t *loop;
	struct tls_config *tls;
	struct engine engine;    /* the container engine's API socket */
	struct ctcache *ctcache; /* the containers found before (ctcache.h); NULL: none */
	struct initmem *initmem; /* the inits the direct path entered (initmem.h); NULL: none */
	unsigned grace_ms;       /* how long a session outlives its vanished client */
	unsigned keepalive_ms;   /* ping period; a peer silent for 3x is dead */
	uv_tcp_t listeners[AGENT_MAX_LISTENERS];
	int n_listeners;
	uv_signal_t sigchld, sigterm, sigint, sighup;
	struct session *sessions; /* every live session, attached or not */
	int exec_path;            /* enum agent_exec_path: how an exec into a container starts */
	struct audit *audit;      /* the audit log (audit.h); NULL: none */
	/* Where TTY sessions are recorded (record.h); NULL: off. */
	struct record_dir *record;
	/* Children reaped before their session knew them (a direct exec that ended before its
	 * start job reported back): pid and wait status, a small ring. */
	struct {
		pid_t pid;
		int status;
	} unclaimed[16];
	unsigned n_unclaimed;
	unsigned long long n_opened; /* sessions opened so far: their ids' sequence numbers */
	int stopping;
	uv_timer_t stop_timer; /* on a stop signal: the time given to the last frames */
	char software[64];     /* "rexec-agent VERSION": our Hello's software, for every conn */
	/* The connections accepted and not yet closed: each frees itself in its close callback,
	 * so at exit the ones still open are closed through conn_close() (agent_close_conns). */
	struct conn **conns;
	size_t n_conns, cap_conns;
	/* Who may do what (policy.h): never NULL once started (--allow-all has one too); a
	 * SIGHUP replaces it from POLICY_PATH (NULL: --allow-all, nothing to re-read). */
	struct policy *policy;
	const char *policy_path;
	/* What one client may take (config.h); connections refused before authentication are
	 * logged through REFUSALS, rate-limited per address (refusal.h). */
	struct agent_limits limits;
	struct refusal_log refusals;
	struct certwatch *certwatch; /* TLS reloads, revocation and expiry (certwatch.h) */
	struct sdnotify notify;      /* the service manager's $NOTIFY_SOCKET (sdnotify.h) */
};

/* Starts listening on ADDR ("HOST:PORT", "[V6]:PORT"; port 0 picks one). On success the
 * bound address is written to BOUND. Returns 0 or a negative code. */
int agent_listen(struct agent *a, const char *addr, char *bound, size_t boundlen);

/* Closes the listeners and ends every session (SIGHUP to their process groups). */
void agent_stop(struct agent *a);

/* At exit, once the loop has stopped: closes the connections still open and runs the loop
 * (up to LIMIT_MS) until their close callbacks have freed them. Returns how many are left. */
size_t agent_close_conns(struct agent *a, unsigned limit_ms);

#endif
