/* mux.c: the control master, rexec's ssh ControlMaster/ControlPersist.
 *
 * Every rexec run used to make its own TCP connection and TLS handshake: even resumed with a
 * ticket, the ECDHE of TLS 1.3 costs each end about 2-5 ms here, most of what a short command
 * costs. With `control_persist` set, the first run for an agent starts a master (this binary,
 * detached) that keeps one connection; later runs connect to its unix socket and speak the
 * same frames to it without TLS. The master is a frame router, as the protocol's streams let
 * it be: it rewrites stream ids and passes everything else (Open, Data, Credit, Resize,
 * Signal, Eof, Exit, Error) as it is, so credit flow control, signals and exit codes stay end
 * to end, and each run keeps its own terminal, raw mode and signal handling.
 *
 * Like ssh's, the socket is the trust boundary: it lives in the user's cache directory (mode
 * 0700), is itself 0600, and a peer whose uid is not the master's is refused. A run that goes
 * away without an Exit is treated as the agent treats a lost connection: SIGHUP to its
 * session, SIGKILL 2 s later. The master leaves when its last run has been gone for
 * control_persist, when the agent connection drops, or when its socket is replaced. */
#include "client/mux.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "client/config.h"
#include "client/dial.h"
#include "proto/conn.h"
#include "proto/error.h"
#include "proto/signame.h"
#include "proto/version.h"

#define TICK_MS       200
#define KILL_AFTER_MS 2000 /* a gone run's session: SIGHUP, then SIGKILL this much later */

struct mux;

/* A run connected to the master. */
struct peer {
	struct peer *next;
	struct mux *m;
	struct conn *c;
};

/* A session: its stream on the agent connection and on its run's. */
struct route {
	struct route *next;
	struct peer *peer; /* NULL once the run is gone */
	uint32_t up, down;
	uint64_t gone_at; /* when the run went away */
	int killed;
	int tty; /* opened with a terminal: its frames go up as urgent (conn.h) */
};

struct mux {
	uv_loop_t loop;
	struct conn *up;
	uv_pipe_t listener;
	uv_timer_t tick;
	uv_signal_t sigs[3]; /* TERM, INT, HUP: leave, taking the socket along */
	int listening, ticking, leaving;
	struct peer *peers;
	struct route *routes;
	uint32_t next_up;
	uint64_t idle_since;
	unsigned persist_ms;
	const char *path;
	ino_t ino;
	int ready_fd;
	char software[64];
};

/* ---------------------------------------------------------------------------------------
 * The run's side: find or start a master */

/* A connection to the master at PATH, or -1 when none listens there. */
static int dial(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* No SOCK_CLOEXEC: macOS has none. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int mux_ensure(const char *path, const char *config, const char *host, unsigned wait_ms, char *why,
	       size_t len)
{
	struct pollfd pfd;
	char msg[512], fdarg[16];
	size_t got = 0;
	int p[2], fd;
	pid_t pid;

	/* The connection the run uses: a master that listens is not asked twice. */
	if ((fd = dial(path)) >= 0)
		return fd;
#if !defined(__linux__)
	/* The master is started as /proc/self/exe. */
	snprintf(why, len, "control masters are started on Linux only");
	return -1;
#endif
	if (pipe(p) < 0 || fcntl(p[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(p[1], F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* Detached: a grandchild in a session of its own, no terminal, no stdio. */
		int null;

		if (fork() != 0)
			_exit(0);
		setsid();
		if ((null = open("/dev/null", O_RDWR)) >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		close(p[0]);
		fcntl(p[1], F_SETFD, 0);
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		execl("/proc/self/exe", "rexec", MUX_MASTER_ARG, config, host, fdarg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	/* The master writes "ok" once it listens, or why it could not, then closes. */
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		ssize_t n;
		int r = poll(&pfd, 1, (int)wait_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(why, len, "the control master did not start within %u ms",
				 wait_ms);
			close(p[0]);
			return -1;
		}
		n = read(p[0], msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (got += (size_t)n) == sizeof(msg) - 1)
			break;
	}
	close(p[0]);
	msg[got] = 0;
	if (strcmp(msg, "ok") != 0) {
		snprintf(why, len, "control master: %s", got ? msg : "exited before it was ready");
		return -1;
	}
	if ((fd = dial(path)) < 0)
		snprintf(why, len, "control master: %s: %s", path, strerror(errno));
	return fd;
}

/* ---------------------------------------------------------------------------------------
 * The master */

static uint64_t now_ms(struct mux *m)
{
	return uv_now(&m->loop);
}

static void tell_ready(struct mux *m, const char *msg)
{
	if (m->ready_fd < 0)
		return;
	if (write(m->ready_fd, msg, strlen(msg)) < 0) {
		/* The run that started us is gone; it connects directly or not at all. */
	}
	close(m->ready_fd);
	m->ready_fd = -1;
}

/* Whether PATH is still our socket (not removed, not replaced by another master's). */
static int socket_is_ours(struct mux *m)
{
	struct stat st;

	return m->listening && stat(m->path, &st) == 0 && st.st_ino == m->ino;
}

/* Ends the master: no new runs, the socket gone (when still ours), every connection closed;
 * the loop then runs out. */
static void leave(struct mux *m)
{
	struct peer *p;

	if (m->leaving)
		return;
	m->leaving = 1;
	if (socket_is_ours(m))
		unlink(m->path);
	if (m->listening)
		uv_close((uv_handle_t *)&m->listener, NULL);
	m->listening = 0;
	for (p = m->peers; p != NULL; p = p->next)
		conn_close(p->c, REXEC_ECLOSED,
			   "the control master's connection to the agent ended");
	if (m->up != NULL)
		conn_close(m->up, 0, "control master leaving");
	if (m->ticking) {
		size_t i;

		uv_close((uv_handle_t *)&m->tick, NULL);
		for (i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++)
			uv_close((uv_handle_t *)&m->sigs[i], NULL);
	}
	m->ticking = 0;
}

static void on_signal(uv_signal_t *h, int sig)
{
	leave(h->data);
}

static struct route *route_up(struct mux *m, uint32_t up)
{
	struct route *r;

	for (r = m->routes; r != NULL; r = r->next)
		if (r->up == up)
			return r;
	return NULL;
}

static struct route *route_down(struct mux *m, struct peer *p, uint32_t down)
{
	struct route *r;

	for (r = m->routes; r != NULL; r = r->next)
		if (r->peer == p && r->down == down)
			return r;
	return NULL;
}

static void route_free(struct mux *m, struct route *dead)
{
	struct route **rp;

	for (rp = &m->routes; *rp != NULL; rp = &(*rp)->next) {
		if (*rp == dead) {
			*rp = dead->next;
			free(dead);
			return;
		}
	}
}

static void send_up_signal(struct mux *m, uint32_t stream, int sig)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Signal s = REXEC__V1__SIGNAL__INIT;

	s.name = (char *)signame_from_number(sig);
	f.stream = stream;
	f.msg_case = REXEC__V1__FRAME__MSG_SIGNAL;
	f.signal = &s;
	conn_send(m->up, &f);
}

static void send_up_eof(struct mux *m, uint32_t stream)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Eof e = REXEC__V1__EOF__INIT;

	e.fd = REXEC__V1__FD__FD_STDIN;
	f.stream = stream;
	f.msg_case = REXEC__V1__FRAME__MSG_EOF;
	f.eof = &e;
	conn_send(m->up, &f);
}

/* A frame of a run's session: to the agent under the session's stream id there. */
static void on_peer_frame(struct conn *c, wire_frame *f, void *arg)
{
	struct peer *p = arg;
	struct mux *m = p->m;
	struct route *r = route_down(m, p, f->stream);

	if (f->msg_case == REXEC__V1__FRAME__MSG_OPEN) {
		if (r != NULL) {
			conn_send_error(c, f->stream, REXEC__V1__ERROR_CODE__ERROR_PROTOCOL,
					"stream %u is already open", f->stream);
			return;
		}
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			conn_send_error(c, f->stream, REXEC__V1__ERROR_CODE__ERROR_INTERNAL,
					"control master: out of memory");
			return;
		}
		r->peer = p;
		r->down = f->stream;
		/* Streams a client opens are odd. */
		r->up = m->next_up = m->next_up ? m->next_up + 2 : 1;
		r->tty = f->open->tty;
		r->next = m->routes;
		m->routes = r;
	}
	if (r == NULL)
		return; /* late frames of a session that has ended */
	f->stream = r->up;
	/* Keystrokes go ahead of another run's upload on the shared connection. */
	if (conn_send_as(m->up, f, r->tty) < 0)
		leave(m);
}

/* A run went away: its sessions get what the agent gives a lost connection's. */
static void on_peer_close(struct conn *c, int err, const char *why, void *arg)
{
	struct peer *p = arg, **pp;
	struct mux *m = p->m;
	struct route *r, *next;

	for (r = m->routes; r != NULL; r = next) {
		next = r->next;
		if (r->peer != p)
			continue;
		r->peer = NULL;
		if (m->leaving || m->up == NULL) {
			route_free(m, r);
			continue;
		}
		r->gone_at = now_ms(m);
		send_up_eof(m, r->up);
		send_up_signal(m, r->up, SIGHUP);
	}
	for (pp = &m->peers; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	free(p);
	if (m->peers == NULL)
		m->idle_since = now_ms(m);
}

static void on_peer_ready(struct conn *c, void *arg)
{
}

static void on_peer(uv_stream_t *server, int status)
{
	struct mux *m = server->data;
	struct conn_opts opts;
	struct conn_cb cb = { on_peer_ready, on_peer_frame, on_peer_close, NULL };
	struct peer *p;
	uid_t uid = (uid_t)-1;
	int fd;

	if (status < 0 || m->leaving || (p = calloc(1, sizeof(*p))) == NULL)
		return;
	memset(&opts, 0, sizeof(opts));
	opts.software = m->software;
	opts.handshake_ms = 10000;
	p->m = m;
	if (conn_accept(&p->c, server, &opts, &cb, p) < 0) {
		free(p);
		return;
	}
	p->next = m->peers;
	m->peers = p;
	if ((fd = conn_fileno(p->c)) >= 0) {
#if defined(__linux__)
		struct ucred cred;
		socklen_t clen = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			uid = cred.uid;
#else
		gid_t gid;

		if (getpeereid(fd, &uid, &gid) < 0)
			uid = (uid_t)-1;
#endif
	}
	if (uid != getuid())
		conn_close(p->c, REXEC_EDENIED, "not the control master's user");
}

/* A frame from the agent: to the run whose session it is. */
static void on_up_frame(struct conn *c, wire_frame *f, void *arg)
{
	struct mux *m = arg;
	struct route *r = route_up(m, f->stream);
	int last;

	if (r == NULL)
		return;
	/* Exit is a session's last frame; an Error on a session stream ends it too. */
	last = f->msg_case == REXEC__V1__FRAME__MSG_EXIT ||
	       f->msg_case == REXEC__V1__FRAME__MSG_ERROR;
	if (r->peer != NULL) {
		f->stream = r->down;
		conn_send(r->peer->c, f);
	}
	if (last)
		route_free(m, r);
}

static void on_up_close(struct conn *c, int err, const char *why, void *arg)
{
	struct mux *m = arg;
	char msg[300];

	m->up = NULL;
	snprintf(msg, sizeof(msg), "%s", why[0] ? why : rexec_strerror(err));
	tell_ready(m, msg);
	leave(m);
}

static void on_tick(uv_timer_t *t)
{
	struct mux *m = t->data;
	uint64_t now = now_ms(m);
	struct route *r;

	for (r = m->routes; r != NULL; r = r->next) {
		if (r->peer == NULL && !r->killed && now - r->gone_at >= KILL_AFTER_MS) {
			send_up_signal(m, r->up, SIGKILL);
			r->killed = 1;
		}
	}
	if (!socket_is_ours(m) && m->peers == NULL) {
		leave(m);
		return;
	}
	if (m->peers == NULL && m->routes == NULL && now - m->idle_since >= m->persist_ms)
		leave(m);
}

/* Connected to the agent: listen on the socket (bound under a temporary name and renamed
 * into place, so a run never finds a socket nobody accepts on), then tell the run. */
static void on_up_ready(struct conn *c, void *arg)
{
	struct mux *m = arg;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char tmp[160], msg[300];
	struct stat st;
	size_t i;
	int ret;

	snprintf(tmp, sizeof(tmp), "%s.%d", m->path, (int)getpid());
	unlink(tmp);
	uv_pipe_init(&m->loop, &m->listener, 0);
	m->listener.data = m;
	m->listening = 1;
	if ((ret = uv_pipe_bind(&m->listener, tmp)) < 0 || (ret = chmod(tmp, 0600)) < 0 ||
	    (ret = uv_listen((uv_stream_t *)&m->listener, 64, on_peer)) < 0 ||
	    (ret = rename(tmp, m->path)) < 0 || (ret = stat(m->path, &st)) < 0) {
		snprintf(msg, sizeof(msg), "listen on %s: %s", m->path,
			 ret == -1 ? strerror(errno) : uv_strerror(ret));
		unlink(tmp);
		tell_ready(m, msg);
		leave(m);
		return;
	}
	m->ino = st.st_ino;
	m->idle_since = now_ms(m);
	uv_timer_init(&m->loop, &m->tick);
	m->tick.data = m;
	m->ticking = 1;
	uv_timer_start(&m->tick, on_tick, TICK_MS, TICK_MS);
	for (i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++) {
		uv_signal_init(&m->loop, &m->sigs[i]);
		m->sigs[i].data = m;
		uv_signal_start(&m->sigs[i], on_signal, sigs[i]);
	}
	tell_ready(m, "ok");
}

int mux_master_main(int argc, char **argv)
{
	struct client_config *cfg = NULL;
	const struct client_host *h;
	struct tls_config *tls = NULL;
	struct sockaddr_storage ss;
	struct dial_creds creds;
	struct conn_opts opts;
	struct conn_cb cb = { on_up_ready, on_up_frame, on_up_close, NULL };
	struct mux m;
	char err[1024], path[128], ticket[4200], agent_sw[64];
	int ret = 255;

	memset(&m, 0, sizeof(m));
	m.ready_fd = argc >= 3 ? atoi(argv[2]) : -1;
	if (argc != 3) {
		tell_ready(&m, "usage: rexec " MUX_MASTER_ARG " CONFIG HOST FD");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (client_config_load(argv[0], &cfg, err, sizeof(err)) < 0) {
		tell_ready(&m, err);
		return 255;
	}
	if ((h = client_config_find_host(cfg, argv[1])) == NULL ||
	    client_mux_path(cfg, h, path, sizeof(path)) == NULL) {
		tell_ready(&m, "no such host, or control_persist is off");
		goto out;
	}
	m.path = path;
	m.persist_ms = cfg->control_persist_ms;
	dial_creds(cfg, h, &creds);
	if (dial_tls(&tls, cfg, &creds, err, sizeof(err)) < 0) {
		tell_ready(&m, err);
		goto out;
	}
	if (dial_resolve(h, &ss, err, sizeof(err)) < 0) {
		tell_ready(&m, err);
		ret = 255;
		goto out;
	}
	uv_loop_init(&m.loop);
	snprintf(m.software, sizeof(m.software), "rexec control master %s", version_string());
	snprintf(agent_sw, sizeof(agent_sw), "rexec %s", version_string());
	dial_conn_opts(&opts, cfg, h, tls, agent_sw, 0, ticket, sizeof(ticket));
	if (conn_connect(&m.up, &m.loop, (const struct sockaddr *)&ss, &opts, &cb, &m) < 0) {
		tell_ready(&m, "out of memory");
	} else {
		uv_run(&m.loop, UV_RUN_DEFAULT);
		ret = 0;
	}
	while (m.routes != NULL)
		route_free(&m, m.routes);
	uv_loop_close(&m.loop);
out:
	tell_ready(&m, "control master failed");
	tls_config_free(tls);
	client_config_free(cfg);
	return ret;
}
