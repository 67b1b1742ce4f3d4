/* fleet.h: fan-out: one command on many hosts of the inventory (a selector: @group, @all, a
 * glob, a comma list), or on the hosts that run a service, through a sliding window of
 * connections (--parallel), in rolling batches (--batch), stopping on failures (--max-fail,
 * --fail-fast), with a per-host --timeout that ends the remote process group. Each host gets
 * one connection; the service query (Open KIND_LIST) and the command share it as two
 * streams. A bare service (`rexec web sh`, "web" being no host and no group) is resolved here
 * too, then run as a single session by exec_run(). */
#ifndef REXEC_CLIENT_FLEET_H
#define REXEC_CLIENT_FLEET_H

#include "client/cli.h"
#include "client/config.h"

/* Whether CLI is for fleet_run() rather than a single exec_run(): a set selector, a fan-out
 * option, or a HOST that names no host of the inventory (a group or a bare service). When
 * not, *CFG is the config it read to tell (the caller's to hand to exec_run), or NULL. */
int fleet_wanted(const struct cli_exec *cli, struct client_config **cfg);

/* Runs CLI over the hosts its selector names and returns the exit code documented in
 * fleet_cli.h (or exec_run()'s, when it comes down to one interactive session). */
int fleet_run(const struct cli_exec *cli);

#endif
