/* main.c: the rexec client's entry point: a subcommand, or exec (the default). */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/cmd_pki.h"
#include "client/complete.h"
#include "client/exec.h"
#include "client/fleet.h"
#include "client/mux.h"
#include "proto/log.h"
#include "proto/version.h"

int main(int argc, char **argv)
{
	struct client_config *cfg = NULL;
	struct cli_exec cli;
	int ret;

	log_setup("rexec", LOG_LEVEL_WARN);
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
			printf("usage: rexec version | rexec --version\n"
			       "  the version of rexec, its protocol and its libraries\n");
			return 0;
		}
		version_print(stdout, "rexec");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], COMPLETE_ARG) == 0)
		return complete_main(argc - 2, argv + 2, stdout);
	if (argc >= 2 && strcmp(argv[1], MUX_MASTER_ARG) == 0)
		return mux_master_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "ca") == 0)
		return cmd_ca(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "cert") == 0)
		return cmd_cert(argc - 1, argv + 1);
	ret = cli_parse(argc - 1, argv + 1, &cli);
	if (ret != 0) {
		cli_exec_free(&cli);
		return ret == CLI_HELP_SHOWN ? 0 : 2;
	}
	if (cli.verbose >= 2)
		log_setup("rexec", LOG_LEVEL_DEBUG);
	if (fleet_wanted(&cli, &cfg))
		ret = fleet_run(&cli);
	else
		ret = exec_run(&cli, cfg);
	cli_exec_free(&cli);
	return ret;
}
