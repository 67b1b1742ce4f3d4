/* exec.h: running one exec session against one host. */
#ifndef REXEC_CLIENT_EXEC_H
#define REXEC_CLIENT_EXEC_H

#include <stddef.h>

#include "client/cli.h"
#include "client/config.h"
#include "proto/conn.h"
#include "proto/wire.h"

/* The exit code an agent's Error of CODE stands for: 125 refused, 126 could not start, 127
 * command not found, 255 anything else (rexec's own failure). */
int exec_error_exit_code(Rexec__V1__ErrorCode code);

/* The most verb options one Open carries. */
#define EXEC_MAX_OPTIONS 20

/* An Open frame built from the command line, and the storage its fields point into. */
struct exec_open {
	Rexec__V1__Open open;
	Rexec__V1__Target target;
	ProtobufCBinaryData *argv;
	Rexec__V1__EnvVar *env, **envp;
	Rexec__V1__Open__OptionsEntry opts[EXEC_MAX_OPTIONS], *optp[EXEC_MAX_OPTIONS];
};

/* Fills EO from CLI for the command CMD (N_CMD words): kind by verb, target (host, container
 * or service, with project and index), argv, -e, -u, -w, the verb options (run's --rm, -p...,
 * attach's --detach-keys, exec's -d...), no TTY and no stdin. Strings are borrowed from CLI
 * and CMD except the variable names. Returns 0 or -ENOMEM; free with exec_open_free(). */
int exec_open_build(struct exec_open *eo, const struct cli_exec *cli, char *const *cmd,
		    size_t n_cmd);
void exec_open_free(struct exec_open *eo);

/* Connects to CLI->host, runs the session to its end and returns the exit code to leave
 * with (the remote one, or 125/126/127/255 as cli.h's usage says). CFG is the config when
 * the caller has read it already (exec_run frees it), or NULL to read it here. */
int exec_run(const struct cli_exec *cli, struct client_config *cfg);

#endif
