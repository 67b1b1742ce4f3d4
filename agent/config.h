/* config.h: rexec-agent's settings: the YAML file of --config FILE and the defaults under it.
 * The file holds the same settings as the flags, with the same names ('-' in a flag is '_'
 * here):
 *
 *     listen: [10.0.0.5:7600, "[fd00::5]:7600"]   # or one ADDR:PORT
 *     cert: agent.pem            # relative paths are relative to this file's directory
 *     key: agent-key.pem
 *     ca: ca.pem
 *     grace: 5s                  # how long a session outlives its vanished client
 *     keepalive: 5s
 *     engine: unix:///var/run/docker.sock
 *     exec_path: auto            # auto | engine | direct (auto: engine, for now)
 *     audit_log: /var/log/rexec/audit.jsonl
 *     dev: false
 *     state_dir: /var/lib/rexec-agent
 *     allow_dual_role_certs: false  # accept client certificates made for agents too
 *     policy: policy.yaml        # who may do what (policy.h); required unless dev or:
 *     allow_all: false           # no policy: every client may do anything (a warning)
 *     limits: { connections: 512, connections_per_address: 64, handshakes: 64,
 *               handshake_timeout: 10s, sessions_per_user: 128, streams_per_connection: 64 }
 *     crl: crl.pem               # revoked client certificates (PEM; one CRL per CA)
 *     record: { dir: /var/log/rexec/casts, input: false }  # asciicast v2 of TTY sessions
 *
 * Use: agent_config_init(), then agent_config_load() for the file, then the flags, each of
 * which replaces its field; agent_config_free() at the end. Unknown keys are errors. */
#ifndef REXEC_AGENT_CONFIG_H
#define REXEC_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_CONFIG_DEFAULT_GRACE_MS     5000
#define AGENT_CONFIG_DEFAULT_KEEPALIVE_MS 5000
#define AGENT_CONFIG_DEFAULT_ENGINE       "unix:///var/run/docker.sock"

/* How an exec in a container is carried out (DESIGN.md, "Direct exec path"). */
enum agent_exec_path {
	AGENT_EXEC_PATH_AUTO = 0, /* for now the engine's: see direct_wanted() in container.c */
	AGENT_EXEC_PATH_ENGINE,
	AGENT_EXEC_PATH_DIRECT,
};

/* What one client may take of the agent (`limits:`; any key may be left out). Defaults hold on a
 * small host (1 GB, the agent raising its soft RLIMIT_NOFILE to the hard one at start-up):
 * - a connection costs one fd and at most ~130 KB touched (its 64 KB read buffer, mbedTLS's two
 *   ~17 KB record buffers, the frame being packed), so 512 connections are at most ~70 MB and
 *   512 fds;
 * - a session costs 1 to 4 fds (a PTY master, or three pipes; an engine stream) and ~80 KB, so
 *   128 per user and 64 per connection keep one user to ~512 fds and ~10 MB, and a few users at
 *   their limit within a soft limit of a few thousand fds (systemd gives 1024 soft, 524288 hard);
 * - a handshake in progress costs a P-256 key exchange and signature check (~2 ms of CPU here)
 *   and is bounded in time by handshake_timeout: 64 at once, and one address holds at most
 *   half of them (so that it never takes them all), as sshd's MaxStartups bounds
 *   unauthenticated connections. */
struct agent_limits {
	unsigned connections;             /* open at once, all addresses */
	unsigned connections_per_address; /* open at once from one IP address */
	unsigned handshakes;              /* TLS handshakes in progress at once */
	unsigned handshake_timeout_ms;    /* TLS + Hello must be done by then */
	unsigned sessions_per_user;       /* sessions of one certificate CN, all connections */
	unsigned streams_per_connection;  /* sessions open at once on one connection */
};

#define AGENT_LIMITS_DEFAULT                                                         \
	{                                                                            \
		.connections = 512, .connections_per_address = 64, .handshakes = 64, \
		.handshake_timeout_ms = 10000, .sessions_per_user = 128,             \
		.streams_per_connection = 64                                         \
	}

/* Plain values, caller-allocated. Every string and the listen array are owned by the struct
 * and freed by agent_config_free(); a field replaced by a flag must be freed first. A NULL
 * string is an unset setting. */
struct agent_config {
	char **listen; /* ADDR:PORT each ("[v6]:PORT" for IPv6) */
	size_t n_listen;
	char *cert, *key, *ca;
	unsigned grace_ms;
	unsigned keepalive_ms;
	char *engine; /* default AGENT_CONFIG_DEFAULT_ENGINE */
	enum agent_exec_path exec_path;
	char *audit_log; /* NULL: no audit log */
	bool dev;
	char *state_dir;
	bool allow_dual_role_certs; /* a client certificate may carry serverAuth too */
	/* The policy (policy.h). */
	char *policy;   /* NULL: none (refused unless dev or allow_all) */
	bool allow_all; /* --allow-all: no policy, everything allowed */
	struct agent_limits limits;
	char *crl; /* the CRL file (PEM, one CRL per CA); NULL: none */
	/* record: { dir, input }: TTY sessions recorded into record_dir (NULL: off), stdin too
	 * with record_input (record.h) */
	char *record_dir;
	bool record_input;
};

/* Fills CFG with the defaults: no listen address, no certificates, grace and keepalive of 5s,
 * the Docker socket, exec path auto, no audit log, not dev, no state dir, no dual-role
 * certificates. Exits on OOM (only at start-up). */
void agent_config_init(struct agent_config *cfg);

/* Reads the YAML file PATH over CFG (which agent_config_init() prepared): each setting the
 * file has replaces CFG's; the others stay. Paths (cert, key, ca, crl, audit_log, state_dir)
 * become relative to the file's directory. Returns 0; or, with a message in ERR (ERRLEN
 * bytes), -ENOENT for a missing file, another -errno when it cannot be read, REXEC_EYAML for a
 * YAML syntax error, REXEC_ECONFIG for a wrong setting ("PATH:LINE: ..."), -ENOMEM. After a
 * failure CFG may hold some of the file's settings; it is still valid for agent_config_free(). */
int agent_config_load(const char *path, struct agent_config *cfg, char *err, size_t errlen);

/* Frees what CFG owns (not CFG itself) and leaves it zeroed. */
void agent_config_free(struct agent_config *cfg);

/* Checks that ADDR has the form ADDR:PORT or [V6]:PORT, PORT 0 to 65535 (0: any free port).
 * Returns 0 or REXEC_ECONFIG. For --listen as well as the file. */
int agent_config_check_listen(const char *addr);

/* "auto", "engine" or "direct" into *OUT. Returns 0 or REXEC_ECONFIG. For --exec-path too. */
int agent_config_exec_path_parse(const char *s, enum agent_exec_path *out);

/* The name of P as agent_config_exec_path_parse() reads it. Static storage. */
const char *agent_config_exec_path_name(enum agent_exec_path p);

#endif
