/* fleet.c: the fan-out runner: selection, a sliding window of connections in rolling
 * batches, the service query before the command, timeouts and ^C that end the remote
 * processes, and the exit code of the whole run. */
#include "client/fleet.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <uv.h>

#include "client/config.h"
#include "client/dial.h"
#include "client/exec.h"
#include "client/fleet_cli.h"
#include "client/fleet_out.h"
#include "client/ps.h"
#include "client/select.h"
#include "client/svccache.h"
#include "proto/conn.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/signame.h"
#include "proto/version.h"

#define STREAM_LIST   1 /* the service query */
#define STREAM_EXEC   3 /* the command */
#define TICK_MS       100
#define DOUBLE_INT_MS 1000 /* a second ^C within this cancels everything */
#define LIST_MAX      (256 * 1024)

enum host_state {
	HOST_QUEUED,
	HOST_RESOLVING, /* getaddrinfo */
	HOST_CONNECTING,
	HOST_LISTING, /* asking whether the service runs there */
	HOST_RUNNING,
	HOST_DONE,
};

static const char *const state_names[] = { "queued",  "resolving", "connecting",
					   "listing", "running",   "done" };

struct fleet;

struct host {
	struct fleet *f;
	const struct client_host *h;
	struct tls_config *tls; /* borrowed from the fleet's cache */
	enum host_state state;
	struct fleet_record *rec; /* f->recs[i] */
	struct conn *conn;
	uv_getaddrinfo_t gai;
	uint64_t deadline; /* --timeout, loop time; 0: none */
	int exec_sent;     /* the command's Open went out: a cancel must reach the agent */
	char *list;        /* the agent's answer to the service query (JSON lines) */
	size_t list_len;
	size_t containers; /* running containers of the service there */
};

/* One TLS configuration per distinct (ca, cert, key): hosts may override the config's. */
struct tls_entry {
	const char *ca, *cert, *key;
	struct tls_config *tls;
};

struct fleet {
	uv_loop_t loop;
	const struct cli_exec *cli;
	struct client_config *cfg;
	const char *service; /* NULL: the host itself (--host) */
	char **cmd;
	size_t n_cmd;
	int list_only; /* only ask (a bare service, ps): run nothing, print nothing per host */
	int ps;        /* `rexec ps SELECTOR`: keep every host's list for one table */
	struct host *hosts;
	struct fleet_record *recs; /* the hosts' results, in selection order */
	size_t n;
	size_t next, running, done, failed;
	size_t batch_size, batch_end, max_fail;
	unsigned parallel, connect_timeout_ms;
	int stopping, cancelled, launching, ended;
	uint64_t last_int;
	struct tls_entry *tls;
	size_t n_tls;
	int cert_warned; /* dial_check_cert() warned once: not again for another host */
	uv_timer_t tick;
	uv_signal_t sigs[3];
	struct fleet_out *out;
	char target[300];
	char software[64];
};

static void launch_more(struct fleet *f);

/* The one place a host's state changes. */
static void set_state(struct host *h, enum host_state next)
{
	log_debug("%s: %s -> %s", h->h->name, state_names[h->state], state_names[next]);
	h->state = next;
}

static int is_failure(enum fleet_result r)
{
	return r == FLEET_FAILED || r == FLEET_TIMEOUT || r == FLEET_UNREACHABLE;
}

static void send_frame(struct host *h, uint32_t stream, wire_frame *fr)
{
	fr->stream = stream;
	if (h->conn != NULL)
		conn_send(h->conn, fr);
}

/* Stops the loop's own handles once every host is done; connections still closing and
 * output still being written end the loop by themselves. */
static void check_end(struct fleet *f)
{
	size_t i;

	if (f->ended || f->launching || f->running > 0)
		return;
	if (f->next < f->n && !f->stopping && !f->cancelled)
		return;
	for (i = f->next; i < f->n; i++) {
		f->recs[i].result = FLEET_NOT_RUN;
		set_state(&f->hosts[i], HOST_DONE);
		if (!f->list_only)
			fleet_out_host_done(f->out, &f->recs[i]);
	}
	f->next = f->n;
	f->ended = 1;
	uv_close((uv_handle_t *)&f->tick, NULL);
	for (i = 0; i < sizeof(f->sigs) / sizeof(f->sigs[0]); i++)
		uv_close((uv_handle_t *)&f->sigs[i], NULL);
}

/* H has its result: account for it, close its connection, show it, launch the next. ERROR
 * (printf-style, may be NULL) says why for anything but an exit. */
static void finish(struct host *h, enum fleet_result res, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void finish(struct host *h, enum fleet_result res, int code, const char *fmt, ...)
{
	struct fleet *f = h->f;
	va_list ap;

	if (h->state == HOST_DONE)
		return;
	set_state(h, HOST_DONE);
	h->rec->result = res;
	h->rec->exit_code = code;
	h->rec->running = 0;
	h->rec->end_ms = uv_now(&f->loop);
	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&h->rec->error, fmt, ap) < 0)
			h->rec->error = NULL;
		va_end(ap);
	}
	if (h->conn != NULL)
		conn_close(h->conn, 0, "done");
	f->running--;
	f->done++;
	if (is_failure(res)) {
		f->failed++;
		if (f->max_fail && f->failed >= f->max_fail)
			f->stopping = 1;
	}
	if (!f->list_only)
		fleet_out_host_done(f->out, h->rec);
	launch_more(f);
	check_end(f);
}

/* Ends H's remote command (the agent hangs up its process group, then kills it) and gives
 * H result RES. */
static void cancel_host(struct host *h, enum fleet_result res, const char *why)
{
	if (h->exec_sent && h->conn != NULL)
		conn_send_error(h->conn, STREAM_EXEC, REXEC__V1__ERROR_CODE__ERROR_UNSPECIFIED,
				"%s", why);
	if (h->exec_sent)
		finish(h, res, -1, "%s; the remote command was ended", why);
	else
		finish(h, res, -1, "%s before the command started", why);
}

/* ---- the command ---- */

static void on_credit(void *arg, size_t n)
{
	struct host *h = arg;
	wire_frame fr = REXEC__V1__FRAME__INIT;
	Rexec__V1__Credit c = REXEC__V1__CREDIT__INIT;

	if (h->state != HOST_RUNNING || n == 0)
		return;
	c.bytes = (uint32_t)n;
	fr.msg_case = REXEC__V1__FRAME__MSG_CREDIT;
	fr.credit = &c;
	send_frame(h, STREAM_EXEC, &fr);
}

static void send_exec(struct host *h)
{
	struct fleet *f = h->f;
	wire_frame fr = REXEC__V1__FRAME__INIT;
	struct exec_open eo;

	if (exec_open_build(&eo, f->cli, f->cmd, f->n_cmd) < 0) {
		finish(h, FLEET_FAILED, 255, "out of memory");
		return;
	}
	/* The service word may have come from the HOST position (a bare service); none with
	 * --host. */
	eo.target.type = f->service ? REXEC__V1__TARGET_TYPE__TARGET_SERVICE
				    : REXEC__V1__TARGET_TYPE__TARGET_HOST;
	eo.target.service = (char *)(f->service ? f->service : "");
	if (f->service == NULL) {
		eo.target.project = "";
		eo.target.index = 0;
	}
	fr.msg_case = REXEC__V1__FRAME__MSG_OPEN;
	fr.open = &eo.open;
	set_state(h, HOST_RUNNING);
	send_frame(h, STREAM_EXEC, &fr);
	h->exec_sent = 1;
	exec_open_free(&eo);
}

static void on_exec_frame(struct host *h, wire_frame *fr)
{
	struct fleet *f = h->f;
	int sig, code;

	switch (fr->msg_case) {
	case REXEC__V1__FRAME__MSG_DATA:
		if (fr->data->fd == REXEC__V1__FD__FD_STDOUT ||
		    fr->data->fd == REXEC__V1__FD__FD_STDERR)
			fleet_out_data(f->out, h->rec,
				       fr->data->fd == REXEC__V1__FD__FD_STDERR ? 1 : 0,
				       fr->data->bytes.data, fr->data->bytes.len, on_credit, h);
		return;
	case REXEC__V1__FRAME__MSG_EXIT:
		if (fr->exit->signal[0]) {
			sig = signame_to_number(fr->exit->signal);
			snprintf(h->rec->signal, sizeof(h->rec->signal), "%s", fr->exit->signal);
			finish(h, FLEET_FAILED, sig > 0 ? 128 + sig : 255, NULL);
			return;
		}
		code = fr->exit->code & 255;
		finish(h, code == 0 ? FLEET_OK : FLEET_FAILED, code, NULL);
		return;
	case REXEC__V1__FRAME__MSG_ERROR:
		finish(h, FLEET_FAILED, exec_error_exit_code(fr->error->code), "refused: %s",
		       fr->error->message);
		return;
	default:
		return;
	}
}

/* ---- the service query ---- */

static void send_list(struct host *h)
{
	wire_frame fr = REXEC__V1__FRAME__INIT;
	Rexec__V1__Open o = REXEC__V1__OPEN__INIT;
	Rexec__V1__Target t = REXEC__V1__TARGET__INIT;

	t.type = REXEC__V1__TARGET_TYPE__TARGET_SERVICE;
	t.service = (char *)h->f->service;
	t.project = (char *)(h->f->cli->project ? h->f->cli->project : "");
	o.kind = REXEC__V1__KIND__KIND_LIST;
	o.target = &t;
	o.initial_window = LIST_MAX;
	fr.msg_case = REXEC__V1__FRAME__MSG_OPEN;
	fr.open = &o;
	set_state(h, HOST_LISTING);
	send_frame(h, STREAM_LIST, &fr);
}

/* Counts the running, not one-off containers of the service in the agent's answer: one JSON
 * object per line ({"service": "web", "state": "running", "oneoff": false, ...}). */
static size_t count_containers(const char *service, const char *project, char *text, size_t len)
{
	char *line = text, *end = text + len, *nl;
	size_t n = 0;

	while (line < end) {
		cJSON *o, *svc, *state, *oneoff, *proj;
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl != NULL)
			*nl = 0;
		o = cJSON_Parse(line);
		svc = cJSON_GetObjectItemCaseSensitive(o, "service");
		state = cJSON_GetObjectItemCaseSensitive(o, "state");
		oneoff = cJSON_GetObjectItemCaseSensitive(o, "oneoff");
		proj = cJSON_GetObjectItemCaseSensitive(o, "project");
		if (project != NULL &&
		    !(cJSON_IsString(proj) && strcmp(proj->valuestring, project) == 0))
			svc = NULL; /* another project's */
		if (cJSON_IsString(svc) && strcmp(svc->valuestring, service) == 0 &&
		    cJSON_IsString(state) && strcmp(state->valuestring, "running") == 0 &&
		    !cJSON_IsTrue(oneoff))
			n++;
		cJSON_Delete(o);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return n;
}

static void on_list_frame(struct host *h, wire_frame *fr)
{
	struct fleet *f = h->f;
	ProtobufCBinaryData *b;
	char *np;

	switch (fr->msg_case) {
	case REXEC__V1__FRAME__MSG_DATA:
		b = &fr->data->bytes;
		if (fr->data->fd != REXEC__V1__FD__FD_STDOUT || h->list_len + b->len > LIST_MAX)
			return; /* past the window we granted: the agent broke the contract */
		if ((np = realloc(h->list, h->list_len + b->len + 1)) == NULL)
			return;
		h->list = np;
		memcpy(h->list + h->list_len, b->data, b->len);
		h->list_len += b->len;
		h->list[h->list_len] = 0;
		return;
	case REXEC__V1__FRAME__MSG_EXIT:
		if (f->ps) {
			finish(h, FLEET_OK, 0, NULL);
			return;
		}
		h->containers = h->list ? count_containers(f->service, f->cli->project, h->list,
							   h->list_len)
					: 0;
		if (h->containers == 0)
			finish(h, FLEET_SKIPPED, -1, "no running %s container there", f->service);
		else if (f->list_only)
			finish(h, FLEET_OK, 0, NULL);
		else
			send_exec(h);
		return;
	case REXEC__V1__FRAME__MSG_ERROR:
		if (fr->error->code == REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE ||
		    fr->error->code == REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND)
			finish(h, FLEET_SKIPPED, -1, "no %s there (%s)",
			       f->service[0] ? f->service : "containers", fr->error->message);
		else
			finish(h, FLEET_FAILED, exec_error_exit_code(fr->error->code),
			       "cannot list services: %s", fr->error->message);
		return;
	default:
		return;
	}
}

/* ---- the connection ---- */

static void on_frame(struct conn *c, wire_frame *fr, void *arg)
{
	struct host *h = arg;

	if (h->state == HOST_DONE)
		return;
	if (fr->stream == STREAM_LIST && h->state == HOST_LISTING)
		on_list_frame(h, fr);
	else if (fr->stream == STREAM_EXEC && h->state == HOST_RUNNING)
		on_exec_frame(h, fr);
}

static void on_ready(struct conn *c, void *arg)
{
	struct host *h = arg;

	if (h->state == HOST_DONE)
		return;
	if (h->f->service != NULL)
		send_list(h);
	else
		send_exec(h);
}

/* MS as "5s" or "1500ms", for messages. */
static const char *duration(unsigned ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%us", ms / 1000);
	else
		snprintf(buf, len, "%ums", ms);
	return buf;
}

static void on_close(struct conn *c, int err, const char *why, void *arg)
{
	struct host *h = arg;
	const struct client_host *ch = h->h;
	char d[32];

	h->conn = NULL;
	if (h->state == HOST_DONE)
		return;
	if (why == NULL || why[0] == 0)
		why = rexec_strerror(err);
	if (strncmp(why, "connect: ", 9) == 0)
		why += 9;
	if (h->exec_sent)
		finish(h, FLEET_UNREACHABLE, -1,
		       "connection to %s lost: %s; the command's fate is unknown", ch->address,
		       why);
	else if (err == REXEC_ETIMEOUT)
		finish(h, FLEET_UNREACHABLE, -1,
		       "no answer from %s within %s (--connect-timeout); check that rexec-agent "
		       "listens there",
		       ch->address, duration(h->f->connect_timeout_ms, d, sizeof(d)));
	else if (err == REXEC_EDENIED) /* the agent refused our certificate, and says why */
		finish(h, FLEET_UNREACHABLE, -1, "%s: %s", ch->address, why);
	else if (err == REXEC_ETLS || err == REXEC_ETLS_VERIFY)
		finish(h, FLEET_UNREACHABLE, -1,
		       "TLS with %s failed: %s; check that its certificate is signed by the CA "
		       "and names %s",
		       ch->address, why, ch->server_name);
	else
		finish(h, FLEET_UNREACHABLE, -1,
		       "cannot connect to %s: %s; check that rexec-agent runs there", ch->address,
		       why);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct host *h = req->data;
	struct fleet *f = h->f;
	struct conn_opts opts;
	struct conn_cb cb = { on_ready, on_frame, on_close, NULL };
	char ticket[4200];

	if (h->state != HOST_RESOLVING) {
		uv_freeaddrinfo(res); /* timed out or cancelled meanwhile */
		return;
	}
	if (status < 0 || res == NULL) {
		uv_freeaddrinfo(res);
		finish(h, FLEET_UNREACHABLE, -1, "cannot resolve %s: %s; check its address in %s",
		       h->h->host, uv_strerror(status), f->cfg->path);
		return;
	}
	dial_conn_opts(&opts, f->cfg, h->h, h->tls, f->software, f->connect_timeout_ms, ticket,
		       sizeof(ticket));
	set_state(h, HOST_CONNECTING);
	if (conn_connect(&h->conn, &f->loop, res->ai_addr, &opts, &cb, h) < 0) {
		h->conn = NULL;
		finish(h, FLEET_UNREACHABLE, -1, "cannot connect to %s: out of memory",
		       h->h->address);
	}
	uv_freeaddrinfo(res);
}

static void launch(struct host *h)
{
	struct fleet *f = h->f;
	struct addrinfo hints;
	char port[8];
	int r;

	f->running++;
	h->rec->running = 1;
	h->rec->start_ms = uv_now(&f->loop);
	if (f->cli->timeout_ms)
		h->deadline = h->rec->start_ms + f->cli->timeout_ms;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", h->h->port);
	h->gai.data = h;
	set_state(h, HOST_RESOLVING);
	r = uv_getaddrinfo(&f->loop, &h->gai, on_resolved, h->h->host, port, &hints);
	if (r < 0)
		finish(h, FLEET_UNREACHABLE, -1, "cannot resolve %s: %s", h->h->host,
		       uv_strerror(r));
}

/* Launches hosts while the window has room, the current batch has hosts left (the next
 * batch starts once this one has ended) and no stop was asked for. */
static void launch_more(struct fleet *f)
{
	if (f->launching)
		return;
	f->launching = 1;
	while (f->running < f->parallel && f->next < f->n && !f->stopping && !f->cancelled) {
		if (f->next >= f->batch_end) {
			if (f->running > 0)
				break;
			f->batch_end += f->batch_size;
		}
		launch(&f->hosts[f->next++]);
	}
	f->launching = 0;
}

/* ---- time and signals ---- */

static void progress(struct fleet *f)
{
	struct fleet_counts c;

	if (f->list_only)
		return;
	c.total = f->n;
	c.done = f->done;
	c.running = f->running;
	c.queued = f->n - f->next;
	c.failed = f->failed;
	fleet_out_progress(f->out, &c);
}

static void on_tick(uv_timer_t *t)
{
	struct fleet *f = t->data;
	uint64_t now = uv_now(&f->loop);
	char why[64], d[32];
	size_t i;

	for (i = 0; i < f->next; i++) {
		struct host *h = &f->hosts[i];
		if (h->state == HOST_DONE || h->deadline == 0 || now < h->deadline)
			continue;
		snprintf(why, sizeof(why), "timed out after %s (--timeout)",
			 duration(f->cli->timeout_ms, d, sizeof(d)));
		cancel_host(h, FLEET_TIMEOUT, why);
	}
	if (!f->ended)
		progress(f);
}

static void cancel_all(struct fleet *f, const char *why)
{
	size_t i;

	f->cancelled = 1;
	for (i = 0; i < f->next; i++)
		if (f->hosts[i].state != HOST_DONE)
			cancel_host(&f->hosts[i], FLEET_CANCELLED, why);
	check_end(f);
}

static void on_signal(uv_signal_t *s, int sig)
{
	struct fleet *f = s->data;
	uint64_t now = uv_now(&f->loop);

	if (sig != SIGINT) {
		cancel_all(f, sig == SIGTERM ? "cancelled (SIGTERM)" : "cancelled (SIGHUP)");
		return;
	}
	if (f->last_int && now - f->last_int < DOUBLE_INT_MS) {
		cancel_all(f, "cancelled by ^C");
		return;
	}
	f->last_int = now;
	if (!f->list_only)
		fleet_out_status(f->out, f->recs, f->n, now);
}

/* ---- set-up ---- */

static struct tls_config *tls_for(struct fleet *f, const struct client_host *ch, char *err,
				  size_t errlen)
{
	struct dial_creds c;
	struct tls_entry *e;
	size_t i;

	dial_creds(f->cfg, ch, &c);
#define SAME(a, b) ((a) == (b) || ((a) && (b) && strcmp((a), (b)) == 0))
	for (i = 0; i < f->n_tls; i++) {
		e = &f->tls[i];
		if (SAME(e->ca, c.ca) && SAME(e->cert, c.cert) && SAME(e->key, c.key))
			return e->tls;
	}
#undef SAME
	e = &f->tls[f->n_tls];
	if (dial_check_cert(c.cert, &f->cert_warned, err, errlen) < 0 ||
	    dial_tls(&e->tls, f->cfg, &c, err, errlen) < 0)
		return NULL;
	e->ca = c.ca;
	e->cert = c.cert;
	e->key = c.key;
	f->n_tls++;
	return e->tls;
}

/* Hosts, TLS and output for the selected hosts IDX (N of them). Returns 0 or 255 after a
 * message. */
static int fleet_setup(struct fleet *f, const size_t *idx, size_t n)
{
	char err[1024];
	size_t i, width = 0, pct_base;
	const struct cli_exec *cli = f->cli;
	enum fleet_fmt fmt = cli->json    ? FLEET_FMT_JSON
			     : cli->group ? FLEET_FMT_GROUP
					  : FLEET_FMT_LINES;

	f->hosts = calloc(n + 1, sizeof(*f->hosts));
	f->recs = calloc(n + 1, sizeof(*f->recs));
	f->tls = calloc(n + 1, sizeof(*f->tls));
	if (f->hosts == NULL || f->recs == NULL || f->tls == NULL) {
		fprintf(stderr, "rexec: out of memory\n");
		return FLEET_EXIT_OWN;
	}
	f->n = n;
	for (i = 0; i < n; i++) {
		struct host *h = &f->hosts[i];
		h->f = f;
		h->h = &f->cfg->hosts[idx[i]];
		h->rec = &f->recs[i];
		h->rec->name = h->h->name;
		h->rec->address = h->h->address;
		h->rec->exit_code = -1;
		if (strlen(h->h->name) > width)
			width = strlen(h->h->name);
		h->tls = tls_for(f, h->h, err, sizeof(err));
		if (h->tls == NULL) {
			fprintf(stderr, "rexec: %s: TLS set-up: %s; check ca, cert and key in %s\n",
				h->h->name, err, f->cfg->path);
			return FLEET_EXIT_OWN;
		}
	}
	pct_base = n;
	f->parallel = cli->parallel ? cli->parallel : FLEET_DEFAULT_PARALLEL;
	f->batch_size = cli->batch == 0  ? n
			: cli->batch_pct ? (pct_base * cli->batch + 99) / 100
					 : cli->batch;
	if (f->batch_size == 0)
		f->batch_size = 1;
	f->max_fail = cli->fail_fast      ? 1
		      : cli->max_fail_pct ? (pct_base * cli->max_fail + 99) / 100
					  : cli->max_fail;
	if (cli->max_fail && f->max_fail == 0)
		f->max_fail = 1;
	f->connect_timeout_ms = cli->connect_timeout_ms      ? cli->connect_timeout_ms
				: f->cfg->connect_timeout_ms ? f->cfg->connect_timeout_ms
							     : CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	if (f->service)
		snprintf(f->target, sizeof(f->target), "service %s", f->service);
	else
		snprintf(f->target, sizeof(f->target), "host");
	snprintf(f->software, sizeof(f->software), "rexec %s", version_string());
	if (f->list_only)
		return 0; /* prints nothing per host: stdout and stderr stay as they are */
	f->out = fleet_out_new(&f->loop, fmt, width, f->target);
	if (f->out == NULL) {
		fprintf(stderr, "rexec: out of memory\n");
		return FLEET_EXIT_OWN;
	}
	return 0;
}

/* Runs the loop over the hosts set up; the records hold the results afterwards. */
static void fleet_loop(struct fleet *f)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	size_t i;

	uv_timer_init(&f->loop, &f->tick);
	f->tick.data = f;
	uv_timer_start(&f->tick, on_tick, TICK_MS, TICK_MS);
	for (i = 0; i < 3; i++) {
		uv_signal_init(&f->loop, &f->sigs[i]);
		f->sigs[i].data = f;
		uv_signal_start(&f->sigs[i], on_signal, sigs[i]);
	}
	launch_more(f);
	check_end(f);
	progress(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* The exit code of a fan-out run (fleet_cli.h). */
static int exit_code(struct fleet *f)
{
	size_t i, c[FLEET_CANCELLED + 1] = { 0 };
	int ret = 0;

	if (f->cancelled)
		return FLEET_EXIT_CANCELLED;
	for (i = 0; i < f->n; i++)
		c[f->recs[i].result]++;
	if (f->service && c[FLEET_SKIPPED] == f->n) {
		fprintf(stderr,
			"rexec: no selected host runs service %s; `rexec ps` lists what "
			"runs where\n",
			f->service);
		return FLEET_EXIT_NO_SERVICE;
	}
	if (c[FLEET_FAILED] || c[FLEET_TIMEOUT])
		ret |= FLEET_EXIT_FAILED;
	if (c[FLEET_UNREACHABLE])
		ret |= FLEET_EXIT_UNREACHABLE;
	if (c[FLEET_NOT_RUN])
		ret |= FLEET_EXIT_NOT_RUN;
	return ret;
}

static void fleet_free(struct fleet *f)
{
	size_t i;

	if (f->out != NULL) {
		fleet_out_close(f->out);
		uv_run(&f->loop, UV_RUN_DEFAULT);
		fleet_out_free(f->out);
	}
	for (i = 0; f->hosts != NULL && i < f->n; i++) {
		fleet_record_clear(&f->recs[i]);
		free(f->hosts[i].list);
	}
	free(f->recs);
	for (i = 0; i < f->n_tls; i++)
		tls_config_free(f->tls[i].tls);
	free(f->tls);
	free(f->hosts);
	uv_loop_close(&f->loop);
}

/* ---- entry points ---- */

static int load_config(const struct cli_exec *cli, struct client_config **cfg, int quiet)
{
	char path[4096], err[1024];
	const char *p = cli->config;

	if (p == NULL)
		p = client_config_default_path(path, sizeof(path));
	if (p == NULL) {
		if (!quiet)
			fprintf(stderr, "rexec: no config file: name one with --config FILE or "
					"$REXEC_CONFIG\n");
		return -1;
	}
	if (client_config_load(p, cfg, err, sizeof(err)) < 0) {
		if (!quiet)
			fprintf(stderr, "rexec: %s\n", err);
		return -1;
	}
	return 0;
}

static int fanout_options(const struct cli_exec *cli)
{
	return cli->json || cli->group || cli->timeout_ms || cli->batch || cli->max_fail ||
	       cli->fail_fast || cli->parallel;
}

int fleet_wanted(const struct cli_exec *cli, struct client_config **out)
{
	struct client_config *cfg = NULL;

	*out = NULL;
	if (cli->host == NULL)
		return 0;
	if (fanout_options(cli) || select_has_set_syntax(cli->host))
		return 1;
	if (load_config(cli, &cfg, 1) < 0)
		return 0; /* exec_run() says what is wrong with it */
	if (client_config_find_host(cfg, cli->host) == NULL) {
		client_config_free(cfg);
		return 1;
	}
	*out = cfg; /* read once: exec_run() takes it */
	return 0;
}

/* The command words: what the parser took for a service comes first when there is none
 * (--host, or a bare service standing in the HOST position). */
static int shift_command(struct fleet *f, const struct cli_exec *cli, const char *svc_word)
{
	size_t i, k = 0;

	f->cmd = calloc(cli->n_cmd + 2, sizeof(*f->cmd));
	if (f->cmd == NULL)
		return -1;
	if (svc_word != NULL)
		f->cmd[k++] = (char *)svc_word;
	for (i = 0; i < cli->n_cmd; i++)
		f->cmd[k++] = cli->cmd[i];
	f->n_cmd = k;
	return 0;
}

/* The hosts that the cache says run the service (borrowed names of the inventory, into
 * HITS); their number, 0 on a miss. */
static size_t cached_hosts(struct fleet *f, const char **hits)
{
	char *list = svccache_get(f->cfg->path, f->service), *name, *save = NULL;
	const struct client_host *h;
	size_t n = 0;

	if (list == NULL)
		return 0;
	for (name = strtok_r(list, ",", &save); name != NULL && n < f->cfg->n_hosts;
	     name = strtok_r(NULL, ",", &save))
		if ((h = client_config_find_host(f->cfg, name)) != NULL)
			hits[n++] = h->name;
	free(list);
	return n;
}

/* Asks every host of the inventory whether it runs the service; the names of those that do
 * go into HITS (borrowed) and into the cache. Returns their number, or -1 after a message
 * (*RET set) when nothing can be run. */
static long ask_hosts(struct fleet *f, const char **hits, int *ret)
{
	size_t *idx = NULL, n_hits = 0, i, unasked = 0, len = 0;
	char *joined = NULL;

	*ret = FLEET_EXIT_OWN;
	if ((idx = calloc(f->cfg->n_hosts + 1, sizeof(*idx))) == NULL)
		return -1;
	for (i = 0; i < f->cfg->n_hosts; i++)
		idx[i] = i;
	f->list_only = 1;
	*ret = fleet_setup(f, idx, f->cfg->n_hosts);
	free(idx);
	if (*ret != 0)
		return -1;
	fleet_loop(f);
	if (f->cancelled) {
		*ret = FLEET_EXIT_CANCELLED;
		return -1;
	}
	for (i = 0; i < f->n; i++) {
		const struct fleet_record *r = &f->recs[i];
		if (r->result == FLEET_OK) {
			hits[n_hits++] = r->name;
			len += strlen(r->name) + 1;
		} else if (r->result == FLEET_UNREACHABLE || r->result == FLEET_FAILED) {
			unasked++;
			fprintf(stderr, "rexec: %s: not asked about %s: %s\n", r->name, f->service,
				r->error ? r->error : "failed");
		}
	}
	if (n_hits == 0) {
		fprintf(stderr,
			"rexec: %s: no host or group of that name in %s, and no host runs a "
			"service of that name%s; see `rexec ps`\n",
			f->service, f->cfg->path,
			unasked ? " (some hosts could not be asked)" : "");
		*ret = unasked ? FLEET_EXIT_OWN : FLEET_EXIT_NO_SERVICE;
		return -1;
	}
	if ((joined = calloc(len + 1, 1)) != NULL) {
		for (i = 0; i < n_hits; i++) {
			strcat(joined, i ? "," : "");
			strcat(joined, hits[i]);
		}
		svccache_put(f->cfg->path, f->service, joined);
		free(joined);
	}
	return (long)n_hits;
}

/* A bare service: which hosts run it (the cache's answer if fresh, else the agents'), then
 * one ordinary session, interactive if need be, where it does: exactly one host, or the first
 * with --any. */
static int run_bare_service(struct fleet *f)
{
	const struct cli_exec *cli = f->cli;
	struct cli_exec one;
	const char **hits = calloc(f->cfg->n_hosts + 1, sizeof(*hits));
	long n_hits;
	int ret = FLEET_EXIT_OWN, cached = 1;
	long i;

	if (hits == NULL)
		return ret;
	n_hits = (long)cached_hosts(f, hits);
	if (n_hits == 0) {
		cached = 0;
		if ((n_hits = ask_hosts(f, hits, &ret)) < 0)
			goto out;
	}
	if (n_hits > 1 && !cli->any) {
		fprintf(stderr, "rexec: service %s runs on %ld hosts:", f->service, n_hits);
		for (i = 0; i < n_hits; i++)
			fprintf(stderr, " %s", hits[i]);
		fprintf(stderr,
			"; name one (rexec HOST %s ...), add --any for any one of them, "
			"or write @all %s to run on all\n",
			f->service, f->service);
		ret = FLEET_EXIT_USAGE;
		goto out;
	}
	one = *cli;
	one.cert_checked = 1; /* fleet_setup() checked every host's certificate */
	one.host = hits[0];
	one.service = f->service;
	one.cmd = f->cmd;
	one.n_cmd = f->n_cmd;
	if (cli->verbose)
		fprintf(stderr, "rexec: service %s runs on %s%s\n", f->service, one.host,
			cached ? " (cached answer)" : "");
	ret = exec_run(&one, NULL);
out:
	free(hits);
	return ret;
}

/* `rexec ps SELECTOR`: every selected host's containers (Open of kind list, all services),
 * one table with a HOST column; what could not be asked is said on stderr. */
static int run_ps(struct fleet *f, const size_t *idx, size_t n)
{
	struct ps_table t = { 0 };
	int ret, bits = 0;
	size_t i;

	f->ps = 1;
	f->list_only = 1;
	f->service = "";
	if ((ret = fleet_setup(f, idx, n)) != 0)
		return ret;
	fleet_loop(f);
	if (f->cancelled)
		return FLEET_EXIT_CANCELLED;
	for (i = 0; i < f->n; i++) {
		const struct fleet_record *r = &f->recs[i];
		if (r->result == FLEET_OK) {
			if (f->hosts[i].list != NULL &&
			    ps_table_add(&t, r->name, f->hosts[i].list, f->hosts[i].list_len) < 0)
				fprintf(stderr,
					"rexec: %s: some lines of its answer were not "
					"understood; is the agent of another version?\n",
					r->name);
			continue;
		}
		fprintf(stderr, "rexec: %s: %s\n", r->name, r->error ? r->error : "failed");
		bits |= r->result == FLEET_UNREACHABLE ? FLEET_EXIT_UNREACHABLE
			: r->result == FLEET_SKIPPED   ? 0
						       : FLEET_EXIT_FAILED;
	}
	ps_table_print(&t, stdout, 1);
	fflush(stdout);
	ps_table_free(&t);
	return bits;
}

/* Fan-out over the selected hosts IDX (N of them). */
static int run_fanout(struct fleet *f, const size_t *idx, size_t n)
{
	int ret;

	if ((ret = fleet_setup(f, idx, n)) != 0)
		return ret;
	fleet_loop(f);
	fleet_out_finish(f->out, f->recs, f->n);
	return exit_code(f);
}

/* Refuses what a fan-out cannot do: a TTY, a login shell. */
static int check_fanout(const struct fleet *f, const char *sel, size_t n)
{
	if (f->cli->tty == CLI_TTY_FORCE) {
		fprintf(stderr,
			"rexec: %s selects %zu hosts: a TTY session needs exactly one; "
			"drop -t or name one host\n",
			sel, n);
		return FLEET_EXIT_USAGE;
	}
	if (f->n_cmd == 0) {
		fprintf(stderr,
			"rexec: %s selects %zu hosts: name the command to run on them "
			"(a login shell needs exactly one host)\n",
			sel, n);
		return FLEET_EXIT_USAGE;
	}
	return 0;
}

int fleet_run(const struct cli_exec *cli)
{
	struct fleet f;
	struct selection sel = { 0 };
	struct cli_exec one;
	char err[1024];
	size_t *all = NULL, i;
	int ret, bare;

	memset(&f, 0, sizeof(f));
	f.cli = cli;
	if (load_config(cli, &f.cfg, 0) < 0)
		return FLEET_EXIT_OWN;
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&f.loop);
	bare = cli->verb != CLI_PS && select_is_bare_name(f.cfg, cli->host);
	if (bare && cli->on_host) {
		fprintf(stderr, "rexec: %s: no such host or group in %s (--host needs a host)\n",
			cli->host, f.cfg->path);
		ret = FLEET_EXIT_USAGE;
		goto out;
	}
	if (bare) {
		/* `rexec web CMD...`: the parser took the command's first word for a service. */
		f.service = cli->host;
		if ((ret = shift_command(&f, cli, cli->service)) < 0)
			goto oom;
		if (!fanout_options(cli)) {
			ret = run_bare_service(&f);
			goto out;
		}
		if (cli->verb == CLI_ATTACH) {
			fprintf(stderr, "rexec: attach with fan-out options: name one host\n");
			ret = FLEET_EXIT_USAGE;
			goto out;
		}
		/* With fan-out options: every host that runs it, as @all SERVICE would. */
		if ((all = calloc(f.cfg->n_hosts + 1, sizeof(*all))) == NULL)
			goto oom;
		for (i = 0; i < f.cfg->n_hosts; i++)
			all[i] = i;
		ret = check_fanout(&f, cli->host, f.cfg->n_hosts);
		if (ret == 0)
			ret = run_fanout(&f, all, f.cfg->n_hosts);
		goto out;
	}
	ret = select_expand(f.cfg, cli->host, &sel, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		ret = ret == -ENOMEM ? FLEET_EXIT_OWN : FLEET_EXIT_USAGE;
		goto out;
	}
	if (cli->verb == CLI_PS) {
		ret = run_ps(&f, sel.idx, sel.n);
		goto out;
	}
	if (cli->verb == CLI_ATTACH && sel.n > 1) {
		fprintf(stderr,
			"rexec: %s selects %zu hosts: attach joins one container's terminal; "
			"name one host\n",
			cli->host, sel.n);
		ret = FLEET_EXIT_USAGE;
		goto out;
	}
	f.service = cli->on_host ? NULL : cli->service;
	/* `rexec @all --host CMD` and `rexec @all CMD --host`: no service word either way. */
	if (shift_command(&f, cli, cli->on_host ? cli->service : NULL) < 0)
		goto oom;
	if (sel.n == 1 && !fanout_options(cli)) {
		/* One host: a plain session, interactive if need be. */
		one = *cli;
		one.host = f.cfg->hosts[sel.idx[0]].name;
		one.service = f.service;
		one.cmd = f.cmd;
		one.n_cmd = f.n_cmd;
		ret = exec_run(&one, NULL);
		goto out;
	}
	if (!cli->on_host && f.service == NULL) {
		fprintf(stderr,
			"rexec: name a service after %s, or --host for the hosts "
			"themselves\n",
			cli->host);
		ret = FLEET_EXIT_USAGE;
		goto out;
	}
	ret = check_fanout(&f, cli->host, sel.n);
	if (ret == 0)
		ret = run_fanout(&f, sel.idx, sel.n);
	goto out;
oom:
	fprintf(stderr, "rexec: out of memory\n");
	ret = FLEET_EXIT_OWN;
out:
	fleet_free(&f);
	selection_free(&sel);
	free(all);
	free(f.cmd);
	client_config_free(f.cfg);
	return ret;
}
