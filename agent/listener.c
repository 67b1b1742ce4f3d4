/* listener.c: the agent's TCP listeners and the routing of each connection's frames to
 * its sessions. One client's bad input ends its stream or connection, never the agent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/certwatch.h"
#include "agent/ctcache.h"
#include "agent/session.h"
#include "proto/addr.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/version.h"

static void on_ready(struct conn *c, void *arg)
{
	log_info("%s: %s connected", conn_peer_addr(c), conn_peer_name(c));
	certwatch_conn_ready(arg, c);
}

static void on_frame(struct conn *c, wire_frame *f, void *arg)
{
	session_frame(arg, c, f);
}

static void on_drain(struct conn *c, void *arg)
{
	session_conn_drained(arg, c);
}

/* A connection that ended before it was ready (a failed or refused TLS handshake, a timeout):
 * logged and audited through the rate-limited refusal log, with the certificate it showed. A
 * connection closed over a limit was logged when it was (REXEC_ELIMIT). */
static void note_refused(struct agent *a, struct conn *c, int err, const char *why)
{
	const struct tls_session *t = conn_tls(c);
	const char *reason = t != NULL ? tls_session_refusal(t) : NULL;
	struct audit_conn_refusal r = { "handshake", conn_peer_addr(c), NULL, NULL, NULL, why };

	if (err == REXEC_ELIMIT || t == NULL)
		return;
	if (reason == NULL)
		reason = err == REXEC_ETIMEOUT              ? "timeout"
			 : err == REXEC_ECLOSED || err == 0 ? "closed"
							    : "protocol";
	r.reason = reason;
	r.who = tls_session_shown_cn(t);
	r.serial = tls_session_shown_serial(t);
	if (why == NULL || why[0] == 0)
		r.error = rexec_strerror(err);
	refusal_log_note(&a->refusals, &r);
}

static void on_close(struct conn *c, int err, const char *why, void *arg)
{
	struct agent *a = arg;
	size_t i;

	if (!conn_was_ready(c))
		note_refused(a, c, err, why);
	else if (err != 0)
		log_info("%s: connection ended: %s", conn_peer_addr(c), why);
	for (i = 0; i < a->n_conns; i++) {
		if (a->conns[i] == c) {
			a->conns[i] = a->conns[--a->n_conns];
			break;
		}
	}
	session_conn_lost(arg, c);
}

/* ---- limits on connections (before authentication) ---- */

/* Logs (rate-limited) a connection from FROM closed at once over the limit NAME (of N; HALF:
 * the address's half of it). */
static void note_limit(struct agent *a, const char *from, const char *name, unsigned n, int half)
{
	char why[160];
	struct audit_conn_refusal r = { "connect", from, NULL, NULL, name, why };

	if (half)
		snprintf(why, sizeof(why),
			 "closed at once: this address holds half of limits.%s (%u of %u)", name,
			 n / 2 > 0 ? n / 2 : 1, n);
	else
		snprintf(why, sizeof(why), "closed at once: limits.%s (%u) reached", name, n);
	refusal_log_note(&a->refusals, &r);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Over limits.connections or limits.handshakes: the pending connection is accepted (libuv
 * accepts no more until it is) and closed at once, before a struct conn, TLS or any read: what
 * sshd does past MaxStartups. */
static void drop_pending(struct agent *a, uv_stream_t *server, const char *name, unsigned n)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char from[64] = "?";

	if (t == NULL)
		return;
	uv_tcp_init(a->loop, t);
	if (uv_accept(server, (uv_stream_t *)t) == 0) {
		if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0)
			addr_format((struct sockaddr *)&ss, from, sizeof(from));
		note_limit(a, from, name, n, 0);
	}
	uv_close((uv_handle_t *)t, free_handle);
}

/* How many connections come from C's address (itself included), and how many of them are
 * still in their handshake. */
static void count_conns(struct agent *a, struct conn *c, unsigned *same, unsigned *same_hs)
{
	char host[48], other[48];
	size_t i;

	refusal_host(conn_peer_addr(c), host, sizeof(host));
	*same = *same_hs = 0;
	for (i = 0; i < a->n_conns; i++) {
		refusal_host(conn_peer_addr(a->conns[i]), other, sizeof(other));
		if (strcmp(host, other) != 0)
			continue;
		(*same)++;
		*same_hs += !conn_was_ready(a->conns[i]);
	}
}

/* The connections still in their handshake (closing ones too: they hold an fd until closed). */
static unsigned count_handshakes(struct agent *a)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < a->n_conns; i++)
		n += !conn_was_ready(a->conns[i]);
	return n;
}

/* Closes C, just accepted, when its address is over limits.connections_per_address, or holds
 * half of limits.handshakes already (so that one address never takes them all). Returns 1 when
 * it did. */
static int over_address_limits(struct agent *a, struct conn *c)
{
	const struct agent_limits *l = &a->limits;
	unsigned same, same_hs, hs_max = l->handshakes > 1 ? l->handshakes / 2 : 1;

	count_conns(a, c, &same, &same_hs);
	if (same > l->connections_per_address) {
		note_limit(a, conn_peer_addr(c), "connections_per_address",
			   l->connections_per_address, 0);
	} else if (same_hs > hs_max) {
		note_limit(a, conn_peer_addr(c), "handshakes", l->handshakes, 1);
	} else {
		return 0;
	}
	conn_close(c, REXEC_ELIMIT, "over a connection limit");
	return 1;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct agent *a = server->data;
	struct conn_opts opts;
	struct conn_cb cb = { on_ready, on_frame, on_close, on_drain };
	struct conn *c;
	int ret;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (a->n_conns >= a->limits.connections) {
		drop_pending(a, server, "connections", a->limits.connections);
		return;
	}
	if (count_handshakes(a) >= a->limits.handshakes) {
		drop_pending(a, server, "handshakes", a->limits.handshakes);
		return;
	}
	memset(&opts, 0, sizeof(opts));
	opts.tls = a->tls;
	opts.software = a->software;
	opts.keepalive_ms = a->keepalive_ms;
	opts.handshake_ms = a->limits.handshake_timeout_ms;
	if (a->n_conns == a->cap_conns) {
		size_t cap = a->cap_conns ? a->cap_conns * 2 : 16;
		struct conn **more = realloc(a->conns, cap * sizeof(*more));
		if (more == NULL) {
			log_warn("accept: out of memory");
			return;
		}
		a->conns = more;
		a->cap_conns = cap;
	}
	if ((ret = conn_accept(&c, server, &opts, &cb, a)) < 0) {
		log_warn("accept: %s", rexec_strerror(ret));
		return;
	}
	a->conns[a->n_conns++] = c;
	over_address_limits(a, c);
}

size_t agent_close_conns(struct agent *a, unsigned limit_ms)
{
	uint64_t until = uv_now(a->loop) + limit_ms;
	size_t i;

	for (i = 0; i < a->n_conns; i++)
		conn_close(a->conns[i], 0, "agent stopped");
	while (a->n_conns > 0 && uv_now(a->loop) < until) {
		uv_run(a->loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(a->loop);
	}
	if (a->n_conns == 0) {
		free(a->conns);
		a->conns = NULL;
		a->cap_conns = 0;
	}
	return a->n_conns;
}

int agent_listen(struct agent *a, const char *addr, char *bound, size_t boundlen)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), ret;
	uv_tcp_t *t;

	if (a->n_listeners == AGENT_MAX_LISTENERS)
		return -E2BIG;
	snprintf(a->software, sizeof(a->software), "rexec-agent %s", version_string());
	if (addr_parse_ip(addr, ADDR_DEFAULT_PORT, &ss) < 0)
		return REXEC_ECONFIG;
	t = &a->listeners[a->n_listeners];
	uv_tcp_init(a->loop, t);
	t->data = a;
	if ((ret = uv_tcp_bind(t, (struct sockaddr *)&ss, 0)) < 0 ||
	    (ret = uv_listen((uv_stream_t *)t, 128, on_connection)) < 0) {
		uv_close((uv_handle_t *)t, NULL);
		return ret;
	}
	a->n_listeners++;
	if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, bound, boundlen);
	return 0;
}

void agent_stop(struct agent *a)
{
	int i;

	if (a->stopping)
		return;
	a->stopping = 1;
	ctcache_close(a->ctcache);
	for (i = 0; i < a->n_listeners; i++)
		uv_close((uv_handle_t *)&a->listeners[i], NULL);
	session_end_all(a);
}
