/* exec.h: running one exec session against one host. */
#ifndef REXEC_CLIENT_EXEC_H
#define REXEC_CLIENT_EXEC_H

#include "client/cli.h"

/* Connects to CLI->host, runs the session to its end and returns the exit code to leave
 * with (the remote one, or 125/126/127/255 as cli.h's usage says). */
int exec_run(const struct cli_exec *cli);

#endif
