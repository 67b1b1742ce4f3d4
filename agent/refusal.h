/* refusal.h: the log of connections refused before authentication (failed or refused TLS
 * handshakes, connections over a limit), rate-limited per address so that a flood cannot fill
 * a disk: each address gets REFUSAL_BURST lines (and audit records) a window, all addresses
 * together REFUSAL_GLOBAL; what is left out is counted and said in one summary line and record
 * per address when its window ends. Memory is bounded: REFUSAL_SLOTS addresses are tracked, and
 * the counts of one pushed out go to a summary for "other addresses".
 *
 * Like sshd's per-source penalties and the kernel's printk_ratelimit(), a fixed window per key
 * rather than a token bucket: one counter and one timestamp per address, and a summary at a
 * known time. Caller-allocated (embedded in struct agent, as a libuv handle is). */
#ifndef REXEC_AGENT_REFUSAL_H
#define REXEC_AGENT_REFUSAL_H

#include <stdint.h>

#include <uv.h>

#include "agent/audit.h"

#define REFUSAL_SLOTS     64    /* addresses tracked at once */
#define REFUSAL_BURST     5     /* lines per address per window */
#define REFUSAL_GLOBAL    20    /* lines per window, all addresses together */
#define REFUSAL_WINDOW_MS 10000 /* the window; summaries come at most this late */

struct refusal_slot {
	char host[48];     /* the address without port; "" for a free slot */
	uint64_t since;    /* its window's start (uv_now) */
	unsigned logged;   /* lines this window */
	uint64_t left_out; /* refusals not logged this window */
};

/* Private fields: use the functions. */
struct refusal_log {
	uv_timer_t timer; /* every window: the summaries */
	struct audit *audit;
	uint64_t since;           /* the global window's start */
	unsigned logged;          /* lines this global window */
	uint64_t others_left_out; /* of addresses pushed out of the table */
	struct refusal_slot slots[REFUSAL_SLOTS];
};

/* Prepares R on LOOP, writing records to AU (NULL: none; borrowed). The timer does not keep the
 * loop alive; close R->timer with the loop's other handles. */
void refusal_log_init(struct refusal_log *r, uv_loop_t *loop, struct audit *au);

/* Logs (log_warn, and an audit record) or counts WHAT, a refusal from WHAT->from. */
void refusal_log_note(struct refusal_log *r, const struct audit_conn_refusal *what);

/* The host part of FROM ("ADDR:PORT" or "[V6]:PORT") into HOST (LEN bytes). */
void refusal_host(const char *from, char *host, size_t len);

#endif
