/* fleet_cli.h: the fan-out options of the exec command line (--parallel, --batch,
 * --max-fail, --fail-fast, --timeout, --connect-timeout, --group, --json, --any): cli.c's
 * table names them and hands their values to fleet_set_opt(). */
#ifndef REXEC_CLIENT_FLEET_CLI_H
#define REXEC_CLIENT_FLEET_CLI_H

#include "client/cli.h"

#define FLEET_DEFAULT_PARALLEL 32
#define FLEET_MAX_PARALLEL     4096

/* Exit codes of a fan-out run (documented in fleet_usage_outro() and README). The three bits may
 * combine: 5 = some command failed and some host was unreachable. */
#define FLEET_EXIT_FAILED      1   /* a command exited non-zero, was killed, timed out, refused */
#define FLEET_EXIT_USAGE       2   /* bad options or a selector that matches no host */
#define FLEET_EXIT_UNREACHABLE 4   /* a host could not be reached or its connection was lost */
#define FLEET_EXIT_NOT_RUN     8   /* hosts left out: --fail-fast, --max-fail */
#define FLEET_EXIT_NO_SERVICE  125 /* no selected host runs the service */
#define FLEET_EXIT_CANCELLED   130 /* a second ^C cancelled everything */
#define FLEET_EXIT_OWN         255 /* rexec's own failure before anything ran (config, TLS) */

/* Sets the fan-out option ID (named OPT, for messages) of cli.c's table from VAL (NULL for a
 * flag). Returns 0, or -EINVAL after printing a one-line usage error. */
int fleet_set_opt(struct cli_exec *e, enum cli_opt_id id, const char *opt, const char *val);

/* The fan-out part of the usage text, around the options' lines: selectors first, then ^C
 * and the exit codes. STREAM is a FILE *. */
void fleet_usage_intro(void *stream);
void fleet_usage_outro(void *stream);

#endif
