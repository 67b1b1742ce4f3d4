/* exec.h: running one exec session against one host. */
#ifndef REXEC_CLIENT_EXEC_H
#define REXEC_CLIENT_EXEC_H

#include <stddef.h>

#include "client/cli.h"
#include "proto/wire.h"

/* The exit code an agent's Error of CODE stands for: 125 refused, 126 could not start, 127
 * command not found, 255 anything else (rexec's own failure). */
int exec_error_exit_code(Rexec__V1__ErrorCode code);

/* The most verb options one Open carries (exec_open_options()). */
#define EXEC_MAX_OPTIONS 20

/* The Open kind of CLI's verb. */
Rexec__V1__Kind exec_open_kind(const struct cli_exec *cli);

/* CLI's verb options (run's --rm, -p..., attach's --detach-keys, exec's -d...) as Open's
 * options map: fills up to EXEC_MAX_OPTIONS entries of O and pointers to them in P, borrowing
 * CLI's strings. Returns how many. */
size_t exec_open_options(const struct cli_exec *cli, Rexec__V1__Open__OptionsEntry *o,
			 Rexec__V1__Open__OptionsEntry **p);

/* Connects to CLI->host, runs the session to its end and returns the exit code to leave
 * with (the remote one, or 125/126/127/255 as cli.h's usage says). */
int exec_run(const struct cli_exec *cli);

#endif
