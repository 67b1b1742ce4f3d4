/* exec.c: `rexec HOST ...`: one session relayed between this terminal (or these pipes) and
 * the agent: raw mode and the ~. escape, resize and signal forwarding, stdin under the
 * agent's credit, output credited back as it is written, and the exit code. */
#include "client/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <uv.h>

#include "client/config.h"
#include "client/dial.h"
#include "client/mux.h"
#include "client/ps.h"
#include "lib/pipesize.h"
#include "lib/strvis.h"
#include "proto/buf.h"
#include "proto/conn.h"
#include "proto/error.h"
#include "proto/log.h"
#include "proto/signame.h"
#include "proto/version.h"

#define STREAM_ID   1
#define IN_READ_MAX (128 * 1024) /* one read of stdin, sent as Data frames of WIRE_DATA_MAX */
/* What our stdin and stdout pipes are grown to: with Linux's 64 KiB, a bulk stream woke us and
 * the program at the pipe's other end every 32 KiB. */
#define PIPE_SIZE (256 * 1024)

/* Signals forwarded to the remote process (without a TTY, the only way they get there). */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

/* An output fd: a libuv stream (pipe, tty) or a plain fd written synchronously (a file). */
struct out {
	int fd;
	int stream_ok;
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
	} h;
};

/* Where stdin comes from and how it is read. */
enum in_kind {
	IN_NONE,
	IN_STREAM, /* a pipe, socket or terminal: uv_read_start */
	IN_POOL,   /* another file (a device that may block): uv_fs_read on the thread pool */
	IN_LOOP,   /* a regular file, or /dev/null to an attach: read() on the loop (uv_idle) */
};

struct exec {
	uv_loop_t *loop;
	const struct cli_exec *cli;
	const char *host;
	struct conn *conn;
	int tty; /* a remote PTY was asked for */
	int raw; /* our terminal is in raw mode */
	int exit_code;
	int done; /* Exit or Error seen */
	int opened;
	int mux;         /* through a control master (client/mux.c), not a connection of our own */
	struct buf list; /* ps: the agent's JSON lines */
	/* stdin */
	enum in_kind in_kind;
	union {
		uv_pipe_t pipe;
		uv_tty_t tty;
		uv_idle_t idle;
	} in;
	uv_fs_t in_req;
	int in_reading, in_eof, in_fs_busy;
	int64_t in_window;
	uint64_t in_off;
	size_t credit_held; /* output written but not yet credited (WIRE_CREDIT_BATCH) */
	uint8_t in_buf[IN_READ_MAX];
	/* ~. escape state */
	int at_line_start, tilde;
	/* output */
	struct out out, err;
	/* Write blocks kept for reuse: freeing them would hand them back to the kernel (musl),
	 * and those munmap calls cost more than the copy. At most a window's worth exist. */
	struct out_write *free_writes;
	uv_signal_t sigs[N_FORWARDED];
	uv_signal_t winch;
};

struct out_write {
	uv_write_t req;
	struct exec *x;
	struct out_write *next_free;
	size_t len;
	uint8_t data[WIRE_DATA_MAX];
};

static void finish(struct exec *x, int code);
static void start_stdin(struct exec *x);

static int send_frame(struct exec *x, wire_frame *f)
{
	f->stream = STREAM_ID;
	return conn_send(x->conn, f);
}

/* The agent may send N more bytes of output: said once a quarter of the window is used. */
static void send_credit(struct exec *x, size_t n)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Credit c = REXEC__V1__CREDIT__INIT;

	if (x->done || x->conn == NULL)
		return;
	x->credit_held += n;
	if (x->credit_held < WIRE_CREDIT_BATCH(WIRE_WINDOW_DEFAULT))
		return;
	c.bytes = (uint32_t)x->credit_held;
	x->credit_held = 0;
	f.msg_case = REXEC__V1__FRAME__MSG_CREDIT;
	f.credit = &c;
	send_frame(x, &f);
}

static void get_winsize(Rexec__V1__WinSize *ws)
{
	struct winsize w;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &w) < 0)
		memset(&w, 0, sizeof(w));
	ws->rows = w.ws_row;
	ws->cols = w.ws_col;
	ws->xpixel = w.ws_xpixel;
	ws->ypixel = w.ws_ypixel;
}

/* ---- output ---- */

static void out_init(struct exec *x, struct out *o, int fd)
{
	uv_handle_type t = uv_guess_handle(fd);

	o->fd = fd;
	o->stream_ok = 0;
	if (t == UV_TTY && uv_tty_init(x->loop, &o->h.tty, fd, 0) == 0) {
		o->stream_ok = 1;
	} else if (t == UV_NAMED_PIPE || t == UV_TCP) {
		pipesize_grow(fd, PIPE_SIZE);
		uv_pipe_init(x->loop, &o->h.pipe, 0);
		if (uv_pipe_open(&o->h.pipe, fd) == 0)
			o->stream_ok = 1;
		else
			uv_close((uv_handle_t *)&o->h.pipe, NULL);
	}
	if (o->stream_ok)
		o->h.pipe.data = x;
}

static void on_out_written(uv_write_t *req, int status)
{
	struct out_write *w = (struct out_write *)req;

	struct exec *x = w->x;

	/* Written (or the reader is gone: keep the remote moving rather than stall it). */
	send_credit(x, w->len);
	w->next_free = x->free_writes;
	x->free_writes = w;
}

/* Writes remote output to O; the agent gets the credit back once it is written. */
static void out_write(struct exec *x, struct out *o, const uint8_t *p, size_t n)
{
	if (o->stream_ok) {
		struct out_write *w;
		uv_buf_t b = uv_buf_init((char *)p, (unsigned int)n);
		int done = uv_try_write((uv_stream_t *)&o->h.pipe, &b, 1);
		/* Most writes complete at once: copy only what the reader has not taken. */
		if (done > 0) {
			send_credit(x, (size_t)done);
			p += done;
			n -= (size_t)done;
			if (n == 0)
				return;
		}
		w = x->free_writes;
		if (w != NULL)
			x->free_writes = w->next_free;
		else
			w = malloc(sizeof(*w));
		if (w != NULL) {
			w->x = x;
			w->len = n;
			memcpy(w->data, p, n);
			b = uv_buf_init((char *)w->data, (unsigned int)n);
			if (uv_write(&w->req, (uv_stream_t *)&o->h.pipe, &b, 1, on_out_written) ==
			    0)
				return;
			w->next_free = x->free_writes;
			x->free_writes = w;
		}
	} else {
		size_t done = 0;
		while (done < n) {
			ssize_t r = write(o->fd, p + done, n - done);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			done += (size_t)r;
		}
	}
	send_credit(x, n);
}

/* ---- stdin ---- */

/* N bytes of stdin, as Data frames of at most WIRE_DATA_MAX. */
static void send_stdin(struct exec *x, const uint8_t *p, size_t n)
{
	conn_send_data(x->conn, STREAM_ID, REXEC__V1__FD__FD_STDIN, &x->in_off, p, n, 0);
	x->in_window -= (int64_t)n;
}

static void send_stdin_eof(struct exec *x)
{
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Eof e = REXEC__V1__EOF__INIT;

	if (x->in_eof)
		return;
	x->in_eof = 1;
	e.fd = REXEC__V1__FD__FD_STDIN;
	f.msg_case = REXEC__V1__FRAME__MSG_EOF;
	f.eof = &e;
	send_frame(x, &f);
}

static void drop_session(struct exec *x)
{
	const char *msg = "\r\nrexec: session to %s dropped (~.)\r\n";

	if (!x->raw)
		msg = "\nrexec: session to %s dropped (~.)\n";
	fprintf(stderr, msg, x->host);
	finish(x, 255);
}

/* In TTY mode: ssh's escapes after a newline: "~." drops the session, "~~" sends one "~",
 * "~?" lists them. Everything else goes to the remote as typed. */
static void filter_tty_input(struct exec *x, const uint8_t *p, size_t n)
{
	uint8_t out[WIRE_DATA_MAX + 1];
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (x->tilde) {
			x->tilde = 0;
			if (c == '.') {
				send_stdin(x, out, m);
				drop_session(x);
				return;
			}
			if (c == '?') {
				fprintf(stderr, "\r\nSupported escape sequences:\r\n"
						" ~.  - drop the session\r\n"
						" ~~  - send the escape character\r\n"
						" ~?  - this message\r\n");
				continue;
			}
			if (c != '~')
				out[m++] = '~';
			out[m++] = c;
			x->at_line_start = 0;
			continue;
		}
		if (c == '~' && x->at_line_start) {
			x->tilde = 1;
			continue;
		}
		out[m++] = c;
		x->at_line_start = c == '\r' || c == '\n';
	}
	send_stdin(x, out, m);
}

static void on_stdin_data(struct exec *x, const uint8_t *p, size_t n)
{
	if (x->tty && x->raw)
		filter_tty_input(x, p, n);
	else
		send_stdin(x, p, n);
}

static void on_in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct exec *x = h->data;
	size_t n = sizeof(x->in_buf);

	/* Typed input goes through the ~ filter, whose buffer takes one frame. */
	if (x->tty && x->raw)
		n = WIRE_DATA_MAX;
	/* Room for a "~" held back from the last read as well. */
	if (x->in_window < (int64_t)n)
		n = x->in_window > 1 ? (size_t)x->in_window - 1 : 0;
	*buf = uv_buf_init((char *)x->in_buf, (unsigned int)n);
}

static void stop_stdin(struct exec *x)
{
	if (x->in_reading && x->in_kind == IN_STREAM)
		uv_read_stop((uv_stream_t *)&x->in.pipe);
	if (x->in_reading && x->in_kind == IN_LOOP)
		uv_idle_stop(&x->in.idle);
	x->in_reading = 0;
}

static void on_in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct exec *x = s->data;

	if (n > 0) {
		on_stdin_data(x, (const uint8_t *)buf->base, (size_t)n);
		if (!x->done && x->in_window <= 1)
			stop_stdin(x);
		return;
	}
	if (n == 0 || n == UV_ENOBUFS)
		return;
	stop_stdin(x);
	if (!x->done)
		send_stdin_eof(x);
}

static void on_in_fs_read(uv_fs_t *req)
{
	struct exec *x = req->data;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	x->in_fs_busy = 0;
	if (x->done)
		return;
	if (n > 0) {
		send_stdin(x, x->in_buf, (size_t)n);
		start_stdin(x);
		return;
	}
	x->in_reading = 0;
	send_stdin_eof(x);
}

/* A regular file or /dev/null: one read per turn of the loop, on the loop. */
static void on_in_idle(uv_idle_t *h)
{
	struct exec *x = h->data;
	size_t n = sizeof(x->in_buf);
	ssize_t got;

	if (x->in_window < (int64_t)n)
		n = (size_t)x->in_window;
	got = read(STDIN_FILENO, x->in_buf, n);
	if (got < 0 && errno == EINTR)
		return;
	if (got > 0) {
		send_stdin(x, x->in_buf, (size_t)got);
		if (!x->done && x->in_window <= 1)
			stop_stdin(x);
		return;
	}
	stop_stdin(x);
	if (!x->done)
		send_stdin_eof(x);
}

/* Reads stdin while the agent has room for it. */
static void start_stdin(struct exec *x)
{
	if (x->done || x->in_eof || x->in_window <= 1 || !x->opened)
		return;
	if (x->in_kind == IN_STREAM && !x->in_reading) {
		x->in_reading = 1;
		uv_read_start((uv_stream_t *)&x->in.pipe, on_in_alloc, on_in_read);
	} else if (x->in_kind == IN_LOOP && !x->in_reading) {
		x->in_reading = 1;
		uv_idle_start(&x->in.idle, on_in_idle);
	} else if (x->in_kind == IN_POOL && !x->in_fs_busy) {
		size_t n = sizeof(x->in_buf);
		uv_buf_t b;
		if (x->in_window < (int64_t)n)
			n = (size_t)x->in_window;
		b = uv_buf_init((char *)x->in_buf, (unsigned int)n);
		x->in_reading = 1;
		x->in_fs_busy = 1;
		x->in_req.data = x;
		uv_fs_read(x->loop, &x->in_req, STDIN_FILENO, &b, 1, -1, on_in_fs_read);
	}
}

static void stdin_init(struct exec *x)
{
	uv_handle_type t = uv_guess_handle(STDIN_FILENO);
	struct stat st, nul;
	int devnull;

	x->in_kind = IN_NONE;
	devnull = t == UV_FILE && fstat(STDIN_FILENO, &st) == 0 && S_ISCHR(st.st_mode) &&
		  stat("/dev/null", &nul) == 0 && st.st_rdev == nul.st_rdev;
	if (devnull && !x->tty && x->cli->verb != CLI_ATTACH) {
		/* Nothing to send: the process gets /dev/null as its stdin too (ssh -n, docker
		 * exec without -i), and no EOF has to travel after the Open. An attach still
		 * sends its EOF, which the container's open stdin may be waiting for. */
		return;
	}
	if (t == UV_TTY) {
		if (uv_tty_init(x->loop, &x->in.tty, STDIN_FILENO, 1) == 0)
			x->in_kind = IN_STREAM;
	} else if (t == UV_NAMED_PIPE || t == UV_TCP) {
		pipesize_grow(STDIN_FILENO, PIPE_SIZE);
		uv_pipe_init(x->loop, &x->in.pipe, 0);
		if (uv_pipe_open(&x->in.pipe, STDIN_FILENO) == 0)
			x->in_kind = IN_STREAM;
		else
			uv_close((uv_handle_t *)&x->in.pipe, NULL);
	} else if (t == UV_FILE &&
		   (devnull || (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)))) {
		/* A regular file or /dev/null never blocks a read for long: read on the loop,
		 * without the thread pool (four threads started and joined for one EOF). */
		uv_idle_init(x->loop, &x->in.idle);
		x->in_kind = IN_LOOP;
	} else if (t == UV_FILE) {
		x->in_kind = IN_POOL;
	}
	if (x->in_kind == IN_STREAM)
		x->in.pipe.data = x;
	if (x->in_kind == IN_LOOP)
		x->in.idle.data = x;
}

/* ---- session frames ---- */

int exec_error_exit_code(Rexec__V1__ErrorCode code)
{
	switch (code) {
	case REXEC__V1__ERROR_CODE__ERROR_NOT_FOUND:
	case REXEC__V1__ERROR_CODE__ERROR_DENIED:
	case REXEC__V1__ERROR_CODE__ERROR_UNAVAILABLE:
		return 125;
	case REXEC__V1__ERROR_CODE__ERROR_START_FAILED:
		return 126;
	case REXEC__V1__ERROR_CODE__ERROR_NO_COMMAND:
		return 127;
	default:
		return 255;
	}
}

/* The end of a line of our own on stderr: in raw mode the terminal adds no carriage return. */
static const char *eol(const struct exec *x)
{
	return x->raw ? "\r\n" : "\n";
}

/* "rexec: HOST: TEXT" on stderr; TEXT escaped (strvis.h): it comes from the agent,
 * the engine or a container, and must not drive the terminal. */
static void say_remote(const struct exec *x, const char *text)
{
	char vis[4 * WIRE_TEXT_MAX + 1];

	strvis(vis, sizeof(vis), text);
	fprintf(stderr, "rexec: %s: %s%s", x->host, vis, eol(x));
}

static void enter_raw(struct exec *x)
{
	struct termios t;

	if (!x->tty || x->in_kind != IN_STREAM || uv_guess_handle(STDIN_FILENO) != UV_TTY ||
	    x->done || x->raw)
		return;
	if (uv_tty_set_mode(&x->in.tty, UV_TTY_MODE_RAW) != 0)
		return;
	x->raw = 1;
	/* libuv's raw mode keeps output processing (ONLCR): the remote PTY already turned its
	 * newlines into CR LF, so turn ours off, as ssh does. */
	if (tcgetattr(STDIN_FILENO, &t) == 0) {
		t.c_oflag &= ~(tcflag_t)OPOST;
		tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
	}
}

static void on_frame(struct conn *c, wire_frame *f, void *arg)
{
	struct exec *x = arg;

	if (f->stream != STREAM_ID || x->done)
		return;
	switch (f->msg_case) {
	case REXEC__V1__FRAME__MSG_OPENED:
		x->opened = 1;
		if (x->cli->verb == CLI_ATTACH) {
			x->tty = x->tty && f->opened->tty;
			enter_raw(x);
		}
		if (x->cli->verbose && f->opened->pid > 0)
			fprintf(stderr, "rexec: session %s open (remote pid %u, via %s)%s",
				f->opened->session_id, f->opened->pid,
				f->opened->via[0] ? f->opened->via : "?", eol(x));
		else if (x->cli->verbose)
			fprintf(stderr, "rexec: session %s open (via %s)%s", f->opened->session_id,
				f->opened->via[0] ? f->opened->via : "?", eol(x));
		start_stdin(x);
		return;
	case REXEC__V1__FRAME__MSG_DATA:
		if (f->data->fd == REXEC__V1__FD__FD_STDERR)
			out_write(x, &x->err, f->data->bytes.data, f->data->bytes.len);
		else if (f->data->fd == REXEC__V1__FD__FD_STDOUT && x->cli->verb == CLI_PS) {
			if (buf_append(&x->list, f->data->bytes.data, f->data->bytes.len) == 0)
				send_credit(x, f->data->bytes.len);
		} else if (f->data->fd == REXEC__V1__FD__FD_STDOUT)
			out_write(x, &x->out, f->data->bytes.data, f->data->bytes.len);
		return;
	case REXEC__V1__FRAME__MSG_CREDIT:
		x->in_window += f->credit->bytes;
		start_stdin(x);
		return;
	case REXEC__V1__FRAME__MSG_EOF:
		return;
	case REXEC__V1__FRAME__MSG_EXIT:
		if (x->cli->verb == CLI_PS && f->exit->code == 0) {
			struct ps_table t = { 0 };
			ps_table_add(&t, x->host, (const char *)buf_peek(&x->list),
				     buf_size(&x->list));
			ps_table_print(&t, stdout, 0);
			ps_table_free(&t);
		}
		if (f->exit->reason[0])
			say_remote(x, f->exit->reason);
		finish(x, f->exit->code & 255);
		return;
	case REXEC__V1__FRAME__MSG_ERROR:
		say_remote(x, f->error->message);
		finish(x, exec_error_exit_code(f->error->code));
		return;
	default:
		return;
	}
}

static size_t open_options(const struct cli_exec *cli, Rexec__V1__Open__OptionsEntry *o,
			   Rexec__V1__Open__OptionsEntry **p)
{
	size_t n = 0;

#define OPT(k, v)                                            \
	do {                                                 \
		rexec__v1__open__options_entry__init(&o[n]); \
		o[n].key = (char *)(k);                      \
		o[n].value = (char *)(v);                    \
		p[n] = &o[n];                                \
		n++;                                         \
	} while (0)
	if (cli->detach)
		OPT("detach", "1");
	if (cli->privileged)
		OPT("privileged", "1");
	if (cli->rm)
		OPT("rm", "1");
	if (cli->no_deps)
		OPT("no-deps", "1");
	if (cli->service_ports)
		OPT("service-ports", "1");
	if (cli->use_aliases)
		OPT("use-aliases", "1");
	if (cli->quiet_pull)
		OPT("quiet-pull", "1");
	if (cli->entrypoint)
		OPT("entrypoint", cli->entrypoint);
	if (cli->name)
		OPT("name", cli->name);
	if (cli->labels)
		OPT("label", cli->labels);
	if (cli->publish)
		OPT("publish", cli->publish);
	if (cli->volumes)
		OPT("volume", cli->volumes);
	if (cli->detach_keys)
		OPT("detach-keys", cli->detach_keys);
	if (cli->verb == CLI_ATTACH)
		OPT("sig-proxy", cli->sig_proxy ? "1" : "0");
#undef OPT
	return n;
}

static Rexec__V1__Kind open_kind(const struct cli_exec *cli)
{
	switch (cli->verb) {
	case CLI_RUN:
		return REXEC__V1__KIND__KIND_RUN;
	case CLI_ATTACH:
		return REXEC__V1__KIND__KIND_ATTACH;
	case CLI_PS:
		return REXEC__V1__KIND__KIND_LIST;
	default:
		return REXEC__V1__KIND__KIND_EXEC;
	}
}

int exec_open_build(struct exec_open *eo, const struct cli_exec *cli, char *const *cmd,
		    size_t n_cmd)
{
	Rexec__V1__Open *o = &eo->open;
	Rexec__V1__Target *t = &eo->target;
	size_t i;

	memset(eo, 0, sizeof(*eo));
	rexec__v1__open__init(o);
	rexec__v1__target__init(t);
	eo->argv = calloc(n_cmd + 1, sizeof(*eo->argv));
	eo->env = calloc(cli->n_env + 1, sizeof(*eo->env));
	eo->envp = calloc(cli->n_env + 1, sizeof(*eo->envp));
	if (eo->argv == NULL || eo->env == NULL || eo->envp == NULL)
		goto oom;
	for (i = 0; i < n_cmd; i++) {
		eo->argv[i].data = (uint8_t *)cmd[i];
		eo->argv[i].len = strlen(cmd[i]);
	}
	for (i = 0; i < cli->n_env; i++) {
		const char *eq = strchr(cli->env[i], '=');
		rexec__v1__env_var__init(&eo->env[i]);
		eo->env[i].name = strndup(cli->env[i], (size_t)(eq - cli->env[i]));
		eo->env[i].value = (char *)eq + 1;
		eo->envp[i] = &eo->env[i];
		if (eo->env[i].name == NULL)
			goto oom;
	}
	t->type = cli->on_host     ? REXEC__V1__TARGET_TYPE__TARGET_HOST
		  : cli->container ? REXEC__V1__TARGET_TYPE__TARGET_CONTAINER
				   : REXEC__V1__TARGET_TYPE__TARGET_SERVICE;
	t->service = (char *)(cli->service ? cli->service : "");
	t->project = (char *)(cli->project ? cli->project : "");
	t->container = (char *)(cli->container ? cli->container : "");
	t->index = cli->index;
	o->kind = open_kind(cli);
	o->target = t;
	o->n_options = open_options(cli, eo->opts, eo->optp);
	o->options = eo->optp;
	o->n_argv = n_cmd;
	o->argv = eo->argv;
	o->n_env = cli->n_env;
	o->env = eo->envp;
	o->user = (char *)(cli->user ? cli->user : "");
	o->workdir = (char *)(cli->workdir ? cli->workdir : "");
	o->term = "";
	o->initial_window = WIRE_WINDOW_DEFAULT;
	return 0;
oom:
	exec_open_free(eo);
	return -ENOMEM;
}

void exec_open_free(struct exec_open *eo)
{
	size_t i;

	for (i = 0; eo->env != NULL && i < eo->open.n_env; i++)
		free(eo->env[i].name);
	free(eo->argv);
	free(eo->env);
	free(eo->envp);
	eo->argv = NULL;
	eo->env = NULL;
	eo->envp = NULL;
}

static void send_open(struct exec *x)
{
	const struct cli_exec *cli = x->cli;
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__WinSize ws = REXEC__V1__WIN_SIZE__INIT;
	const char *term = getenv("TERM");
	struct exec_open eo;

	if (exec_open_build(&eo, cli, cli->cmd, cli->n_cmd) < 0) {
		fprintf(stderr, "rexec: out of memory\n");
		finish(x, 255);
		return;
	}
	eo.open.tty = x->tty;
	eo.open.term = (char *)(x->tty && term ? term : "");
	if (x->tty) {
		get_winsize(&ws);
		eo.open.size = &ws;
	}
	eo.open.stdin_open = x->in_kind != IN_NONE && !cli->no_stdin;
	f.msg_case = REXEC__V1__FRAME__MSG_OPEN;
	f.open = &eo.open;
	send_frame(x, &f);
	exec_open_free(&eo);
}

static void on_ready(struct conn *c, void *arg)
{
	struct exec *x = arg;

	if (x->cli->verbose && x->mux)
		fprintf(stderr, "rexec: connected to %s through its control master%s", x->host,
			eol(x));
	else if (x->cli->verbose)
		fprintf(stderr, "rexec: connected to %s (%s, agent %s, %s)%s", x->host,
			conn_peer_addr(c), conn_peer_name(c),
			conn_resumed(c) ? "TLS session resumed" : "full TLS handshake", eol(x));
	send_open(x);
}

static void on_close(struct conn *c, int err, const char *why, void *arg)
{
	struct exec *x = arg;
	char vis[1024];

	x->conn = NULL;
	if (x->done)
		return;
	/* WHY may be the text of the agent's Error. */
	strvis(vis, sizeof(vis), why[0] ? why : rexec_strerror(err));
	if (x->opened)
		fprintf(stderr, "%srexec: connection to %s lost: %s%s", x->raw ? "\r\n" : "",
			x->host, vis, eol(x));
	else
		fprintf(stderr, "rexec: %s: %s%s", x->host, vis, eol(x));
	finish(x, 255);
}

/* ---- signals ---- */

static void on_signal(uv_signal_t *h, int sig)
{
	struct exec *x = h->data;
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Signal s = REXEC__V1__SIGNAL__INIT;

	if (!x->opened || (x->cli->verb == CLI_ATTACH && !x->cli->sig_proxy)) {
		/* Nothing runs remotely yet, or attach --sig-proxy=false: behave as if the
		 * signal were not caught (an attach only detaches when we go). */
		finish(x, 128 + sig);
		return;
	}
	s.name = (char *)signame_from_number(sig);
	f.msg_case = REXEC__V1__FRAME__MSG_SIGNAL;
	f.signal = &s;
	send_frame(x, &f);
}

static void on_winch(uv_signal_t *h, int sig)
{
	struct exec *x = h->data;
	wire_frame f = REXEC__V1__FRAME__INIT;
	Rexec__V1__Resize r = REXEC__V1__RESIZE__INIT;
	Rexec__V1__WinSize ws = REXEC__V1__WIN_SIZE__INIT;

	if (x->conn == NULL)
		return;
	get_winsize(&ws);
	r.size = &ws;
	f.msg_case = REXEC__V1__FRAME__MSG_RESIZE;
	f.resize = &r;
	if (x->opened)
		send_frame(x, &f);
}

/* The session is over: restore the terminal, stop everything that keeps the loop alive but
 * the output still being written, and remember the exit code. */
static void finish(struct exec *x, int code)
{
	size_t i;

	if (x->done)
		return;
	x->done = 1;
	x->exit_code = code;
	if (x->raw) {
		uv_tty_reset_mode();
		x->raw = 0;
	}
	stop_stdin(x);
	if (x->in_kind == IN_STREAM || x->in_kind == IN_LOOP)
		uv_close((uv_handle_t *)&x->in, NULL);
	if (x->in_kind == IN_POOL && x->in_fs_busy)
		uv_cancel((uv_req_t *)&x->in_req);
	x->in_kind = IN_NONE;
	for (i = 0; i < N_FORWARDED; i++)
		uv_close((uv_handle_t *)&x->sigs[i], NULL);
	uv_close((uv_handle_t *)&x->winch, NULL);
	if (x->conn != NULL)
		conn_close(x->conn, 0, "session over");
}

int exec_run(const struct cli_exec *cli, struct client_config *cfg)
{
	const struct client_host *h;
	struct tls_config *tls = NULL;
	struct sockaddr_storage ss;
	struct dial_creds creds;
	struct conn_opts opts;
	struct conn_cb cb = { on_ready, on_frame, on_close, NULL };
	struct exec *x = NULL;
	char path[4096], err[1024], software[64], ticket[4200], mux_path[128];
	const char *cfg_path = cli->config, *mux;
	uv_loop_t loop;
	int ret = 255, r, mux_fd = -1, warned = 0;
	size_t i;

	if (cfg_path == NULL && cfg == NULL)
		cfg_path = client_config_default_path(path, sizeof(path));
	if (cfg == NULL && client_config_load(cfg_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 255;
	}
	h = client_config_find_host(cfg, cli->host);
	if (h == NULL) {
		fprintf(stderr, "rexec: %s: no such host in %s\n", cli->host, cfg->path);
		goto out;
	}
	if (!cli->on_host && cli->service == NULL && cli->container == NULL &&
	    cli->verb != CLI_PS) {
		fprintf(stderr,
			"rexec: name a service after %s (or --container NAME), or --host for the "
			"host itself\n",
			cli->host);
		ret = 2;
		goto out;
	}
	if (cli->verb == CLI_ATTACH && cli->n_cmd > 0) {
		fprintf(stderr, "rexec: attach takes no command (%s ...): use exec\n", cli->cmd[0]);
		ret = 2;
		goto out;
	}
	if (cli->on_host && cli->verb != CLI_EXEC) {
		fprintf(stderr, "rexec: --host only runs commands on the host; name a service\n");
		ret = 2;
		goto out;
	}
	dial_creds(cfg, h, &creds);
	if (!cli->cert_checked && dial_check_cert(creds.cert, &warned, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s: %s\n", cli->host, err);
		goto out;
	}
	snprintf(software, sizeof(software), "rexec %s", version_string());
	dial_conn_opts(&opts, cfg, h, NULL, software, 0, ticket, sizeof(ticket));
	/* A control master (control_persist) for this agent, started when there is none; if
	 * that fails, this run connects by itself. */
	mux = client_mux_path(cfg, h, mux_path, sizeof(mux_path));
	if (mux != NULL && (mux_fd = mux_ensure(mux, cfg->path, cli->host, opts.handshake_ms + 1000,
						err, sizeof(err))) < 0) {
		if (cli->verbose)
			fprintf(stderr, "rexec: %s; connecting directly\n", err);
		mux = NULL;
	}
	if (mux == NULL && dial_tls(&tls, cfg, &creds, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s: TLS set-up: %s\n", cli->host, err);
		goto out;
	}
	opts.tls = tls;

	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	if (mux == NULL && dial_resolve(h, &ss, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s: %s\n", cli->host, err);
		uv_loop_close(&loop);
		goto out;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		goto out;
	x->loop = &loop;
	x->cli = cli;
	x->host = cli->host;
	x->at_line_start = 1;
	x->in_window = WIRE_WINDOW_DEFAULT;
	x->tty = cli->verb != CLI_PS &&
		 (cli->tty == CLI_TTY_FORCE ||
		  (cli->tty == CLI_TTY_AUTO && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)));
	if (cli->verb != CLI_PS)
		stdin_init(x);
	out_init(x, &x->out, STDOUT_FILENO);
	out_init(x, &x->err, STDERR_FILENO);
	for (i = 0; i < N_FORWARDED; i++) {
		uv_signal_init(&loop, &x->sigs[i]);
		x->sigs[i].data = x;
		uv_signal_start(&x->sigs[i], on_signal, forwarded[i]);
	}
	uv_signal_init(&loop, &x->winch);
	x->winch.data = x;
	if (x->tty)
		uv_signal_start(&x->winch, on_winch, SIGWINCH);

	x->mux = mux != NULL;
	if (mux != NULL) {
		opts.keepalive_ms = 0; /* the master keeps the agent connection alive */
		r = conn_open_unix(&x->conn, &loop, mux_fd, &opts, &cb, x);
		mux_fd = -1;
	} else {
		r = conn_connect(&x->conn, &loop, (struct sockaddr *)&ss, &opts, &cb, x);
	}
	if (r < 0) {
		fprintf(stderr, "rexec: %s: cannot connect\n", cli->host);
		finish(x, 255);
	}
	/* Raw mode only once everything that can fail before the session has been tried; an
	 * attach learns from Opened whether the container has a terminal. */
	if (cli->verb != CLI_ATTACH)
		enter_raw(x);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (x->raw)
		uv_tty_reset_mode();
	ret = x->exit_code;
	/* Close what is left (idle output handles) so that the loop can be closed. */
	if (x->out.stream_ok)
		uv_close((uv_handle_t *)&x->out.h.pipe, NULL);
	if (x->err.stream_ok)
		uv_close((uv_handle_t *)&x->err.h.pipe, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	while (x->free_writes != NULL) {
		struct out_write *w = x->free_writes;
		x->free_writes = w->next_free;
		free(w);
	}
out:
	if (mux_fd >= 0)
		close(mux_fd);
	if (x != NULL)
		buf_free(&x->list);
	free(x);
	tls_config_free(tls);
	client_config_free(cfg);
	return ret;
}
