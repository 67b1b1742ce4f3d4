/* cli.h: the exec command line, shaped like `docker compose exec` and `ssh`:
 *   rexec [exec] [options] HOST [SERVICE] [--] [CMD [ARG...]]
 * Options may stand before or after HOST (and SERVICE); the command starts at the first word
 * after them, or after `--`. */
#ifndef REXEC_CLIENT_CLI_H
#define REXEC_CLIENT_CLI_H

#include <stddef.h>

enum cli_tty { CLI_TTY_AUTO, CLI_TTY_FORCE, CLI_TTY_NONE };

/* exec: a new process in a running container (or on the host with --host); run: a one-off
 * container from the service's definition; attach: the container's main process; ps: the
 * compose containers on the host. */
enum cli_verb { CLI_EXEC, CLI_RUN, CLI_ATTACH, CLI_PS };

struct cli_exec {
	const char *config; /* --config, NULL: $REXEC_CONFIG or the default path */
	const char *host;
	const char *service; /* NULL with --host */
	int on_host;         /* --host: a process on the agent's host, not in a container */
	enum cli_tty tty;
	const char *user;
	const char *workdir;
	char **env; /* "K=V" strings (borrowed from argv or the environment) */
	size_t n_env;
	char **cmd; /* borrowed from argv; n_cmd == 0: the login shell */
	size_t n_cmd;
	int verbose;
	/* container targets and verb options */
	enum cli_verb verb;
	const char *project;   /* --project P */
	unsigned index;        /* --index N: replica N (0: the lowest running) */
	const char *container; /* --container NAME|ID instead of SERVICE */
	int privileged;        /* exec --privileged */
	int detach;            /* -d: start and return */
	const char *entrypoint, *name, *detach_keys;
	char *labels, *publish, *volumes; /* -l, -p, -v: newline-separated lists */
	int rm, no_deps, service_ports, use_aliases, quiet_pull, no_stdin;
	int sig_proxy; /* attach --sig-proxy=false: 0; default 1 */
	/* fleet options (client/fleet.h): fan-out over several hosts */
	unsigned parallel;           /* --parallel N: hosts at once (0: the default, 32) */
	unsigned batch;              /* --batch N|P%: hosts per rolling batch (0: one batch) */
	int batch_pct;               /* batch is a percentage of the selected hosts */
	unsigned max_fail;           /* --max-fail N|P%: stop launching after this many failed */
	int max_fail_pct;            /* max_fail is a percentage */
	int fail_fast;               /* --fail-fast: --max-fail 1 */
	unsigned timeout_ms;         /* --timeout DURATION: end each host's command after it */
	unsigned connect_timeout_ms; /* --connect-timeout DURATION (0: the config's) */
	int group;                   /* --group: gather hosts with identical output */
	int json;                    /* --json: one JSON object per host */
	int any;                     /* --any: a bare service on several hosts: take one */
	int fleet_opts;              /* one of the fan-out options above was given */
};

/* Parses ARGV (without the program name and an optional leading "exec"). Returns 0, or 2
 * after printing a usage error. E->env is allocated; free it with cli_exec_free(). */
int cli_parse_exec(int argc, char **argv, struct cli_exec *e);
void cli_exec_free(struct cli_exec *e);

/* The exec usage text. */
void cli_usage(void *stream);

#endif
