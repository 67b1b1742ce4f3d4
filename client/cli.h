/* cli.h: the exec command line, shaped like `docker compose exec` and `ssh`:
 *   rexec [exec] [options] HOST [SERVICE] [--] [CMD [ARG...]]
 * Options may stand before or after HOST (and SERVICE); the command starts at the first word
 * after them, or after `--`. */
#ifndef REXEC_CLIENT_CLI_H
#define REXEC_CLIENT_CLI_H

#include <stddef.h>

enum cli_tty { CLI_TTY_AUTO, CLI_TTY_FORCE, CLI_TTY_NONE };

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
};

/* Parses ARGV (without the program name and an optional leading "exec"). Returns 0, or 2
 * after printing a usage error. E->env is allocated; free it with cli_exec_free(). */
int cli_parse_exec(int argc, char **argv, struct cli_exec *e);
void cli_exec_free(struct cli_exec *e);

/* The exec usage text. */
void cli_usage(void *stream);

#endif
