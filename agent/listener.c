/* listener.c: the agent's TCP listeners and the routing of each connection's frames to
 * its sessions. One client's bad input ends its stream or connection, never the agent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/ctcache.h"
#include "agent/session.h"
#include "proto/addr.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/version.h"

#define HANDSHAKE_MS 10000 /* TLS + Hello must be done by then */

static void on_ready(struct conn *c, void *arg)
{
	log_info("%s: %s connected", conn_peer_addr(c), conn_peer_name(c));
}

static void on_frame(struct conn *c, wire_frame *f, void *arg)
{
	session_frame(arg, c, f);
}

static void on_close(struct conn *c, int err, const char *why, void *arg)
{
	struct agent *a = arg;
	size_t i;

	if (err != 0)
		log_info("%s: connection ended: %s", conn_peer_addr(c), why);
	for (i = 0; i < a->n_conns; i++) {
		if (a->conns[i] == c) {
			a->conns[i] = a->conns[--a->n_conns];
			break;
		}
	}
	session_conn_lost(arg, c);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct agent *a = server->data;
	struct conn_opts opts;
	struct conn_cb cb = { on_ready, on_frame, on_close };
	struct conn *c;
	int ret;

	if (status < 0) {
		log_warn("accept: %s", uv_strerror(status));
		return;
	}
	memset(&opts, 0, sizeof(opts));
	opts.tls = a->tls;
	opts.software = a->software;
	opts.keepalive_ms = a->keepalive_ms;
	opts.handshake_ms = HANDSHAKE_MS;
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
