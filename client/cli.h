/* cli.h: the rexec command line, shaped like `docker compose exec/run/attach` and `ssh`:
 *   rexec [exec] [options] HOST [SERVICE] [--] [CMD [ARG...]]
 * Options may stand before or after HOST (and SERVICE); the command starts at the first word
 * after them, or after `--`. One table of verbs and options (cli_verbs, cli_opts) drives both
 * the parser and the usage text. */
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
	int cert_checked; /* not an option: the caller (fleet.c) ran dial_check_cert() already */
};

/* The verbs as bits, for the option table's masks. */
#define CLI_BIT(verb)  (1u << (verb))
#define CLI_ALL_VERBS  (CLI_BIT(CLI_EXEC) | CLI_BIT(CLI_RUN) | CLI_BIT(CLI_ATTACH) | CLI_BIT(CLI_PS))
#define CLI_HELP_SHOWN 1 /* cli_parse(): --help printed the usage: exit 0 */

struct cli_verb_info {
	const char *name; /* "exec" */
	enum cli_verb verb;
	const char *synopsis; /* what follows the verb */
	const char *help;     /* one line */
};

enum cli_opt_id {
	CLI_OPT_CONFIG,
	CLI_OPT_HELP,
	CLI_OPT_VERBOSE,
	CLI_OPT_HOST,
	CLI_OPT_TTY,
	CLI_OPT_NO_TTY,
	CLI_OPT_ENV,
	CLI_OPT_USER,
	CLI_OPT_WORKDIR,
	CLI_OPT_PROJECT,
	CLI_OPT_CONTAINER,
	CLI_OPT_INDEX,
	CLI_OPT_DETACH,
	CLI_OPT_PRIVILEGED,
	CLI_OPT_NO_STDIN,
	CLI_OPT_SIG_PROXY,
	CLI_OPT_DETACH_KEYS,
	CLI_OPT_RM,
	CLI_OPT_NO_DEPS,
	CLI_OPT_SERVICE_PORTS,
	CLI_OPT_USE_ALIASES,
	CLI_OPT_QUIET_PULL,
	CLI_OPT_INTERACTIVE,
	CLI_OPT_ENTRYPOINT,
	CLI_OPT_NAME,
	CLI_OPT_LABEL,
	CLI_OPT_PUBLISH,
	CLI_OPT_VOLUME,
	/* the fan-out options (fleet_cli.h) */
	CLI_OPT_PARALLEL,
	CLI_OPT_BATCH,
	CLI_OPT_MAX_FAIL,
	CLI_OPT_FAIL_FAST,
	CLI_OPT_TIMEOUT,
	CLI_OPT_CONNECT_TIMEOUT,
	CLI_OPT_GROUP,
	CLI_OPT_JSON,
	CLI_OPT_ANY,
};

enum cli_arg {
	CLI_ARG_NONE,     /* a flag */
	CLI_ARG_REQUIRED, /* -o VALUE, -oVALUE, --opt VALUE, --opt=VALUE */
	CLI_ARG_INLINE,   /* --opt or --opt=VALUE only */
};

struct cli_opt {
	enum cli_opt_id id;
	const char *short_name; /* "-t", or NULL */
	const char *long_name;  /* "--tty" */
	enum cli_arg arg;
	const char *value; /* the value's name in the usage text ("USER"), NULL for a flag */
	unsigned verbs;    /* CLI_BIT()s of the verbs that take it */
	int fan_out;       /* one of the fan-out options */
	const char *help;  /* one line */
};

/* The one table of verbs and options: the parser, --help (and the manual pages and shell
 * completions, checked against it) come from these. */
extern const struct cli_verb_info cli_verbs[];
extern const size_t cli_n_verbs;
extern const struct cli_opt cli_opts[];
extern const size_t cli_n_opts;

/* The verb ARG names ("run"), or -1. */
int cli_verb_of(const char *arg);

/* The row of CLI_OPTS that ARG names for VERB; *VAL: the value written into ARG ("-uroot",
 * "--user=root"), or NULL. *OTHER (when not NULL): whether another verb would take it. The
 * parser and the shell completion (client/complete.c) read options the same way. */
const struct cli_opt *cli_find_opt(const char *arg, enum cli_verb verb, const char **val,
				   int *other);

/* Parses a whole command line after the program name:
 *   [--config FILE] [VERB] [options] HOST [SERVICE] [--] [CMD [ARG...]]   (exec, run, attach)
 *   [--config FILE] ps [options] [HOST]                                  (HOST: @all)
 * Returns 0; CLI_HELP_SHOWN after printing the usage for --help; or -EINVAL after printing a
 * usage error. E->env and the lists are allocated; free them with cli_exec_free(). */
int cli_parse(int argc, char **argv, struct cli_exec *e);
void cli_exec_free(struct cli_exec *e);

/* The usage text: of every verb (VERB < 0), or of one verb. STREAM is a FILE *. */
void cli_usage(void *stream, int verb);

#endif
