/* fleet_cli.h: the fan-out options of the exec command line (--parallel, --batch,
 * --max-fail, --fail-fast, --timeout, --connect-timeout, --group, --json, --any) and their
 * usage text. cli.c hands every option these recognise to fleet_parse_opt(). */
#ifndef REXEC_CLIENT_FLEET_CLI_H
#define REXEC_CLIENT_FLEET_CLI_H

#include "client/cli.h"

#define FLEET_DEFAULT_PARALLEL 32
#define FLEET_MAX_PARALLEL     4096

/* Exit codes of a fan-out run (documented in fleet_usage() and README). The three bits may
 * combine: 5 = some command failed and some host was unreachable. */
#define FLEET_EXIT_FAILED      1   /* a command exited non-zero, was killed, timed out, refused */
#define FLEET_EXIT_USAGE       2   /* bad options or a selector that matches no host */
#define FLEET_EXIT_UNREACHABLE 4   /* a host could not be reached or its connection was lost */
#define FLEET_EXIT_NOT_RUN     8   /* hosts left out: --fail-fast, --max-fail */
#define FLEET_EXIT_NO_SERVICE  125 /* no selected host runs the service */
#define FLEET_EXIT_CANCELLED   130 /* a second ^C cancelled everything */
#define FLEET_EXIT_OWN         255 /* rexec's own failure before anything ran (config, TLS) */

/* Whether ARG (e.g. "--parallel" or "--timeout=5s") is a fleet option. */
int fleet_is_opt(const char *arg);

/* Parses the fleet option at ARGV[*I] (taking its value from ARGV[*I + 1] when it has no
 * "=VALUE", advancing *I) into E. Returns 0, or -1 after printing a one-line usage error. */
int fleet_parse_opt(int argc, char **argv, int *i, struct cli_exec *e);

/* The fan-out part of the usage text: selectors, options, exit codes. STREAM is a FILE *. */
void fleet_usage(void *stream);

#endif
