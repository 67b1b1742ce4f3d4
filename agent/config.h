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
 * file has replaces CFG's; the others stay. Paths (cert, key, ca, audit_log, state_dir)
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
