/* main.c: the rexec client's entry point: a subcommand, or exec (the default). */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/cmd_pki.h"
#include "client/exec.h"
#include "proto/log.h"
#include "proto/version.h"

int main(int argc, char **argv)
{
	struct cli_exec cli;
	int ret;

	log_setup("rexec", LOG_LEVEL_WARN);
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		version_print(stdout, "rexec");
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "ca") == 0)
		return cmd_ca(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "cert") == 0)
		return cmd_cert(argc - 1, argv + 1);
	argc--;
	argv++;
	if (argc >= 1 && strcmp(argv[0], "exec") == 0) {
		argc--;
		argv++;
	}
	if ((ret = cli_parse_exec(argc, argv, &cli)) != 0)
		return ret;
	if (cli.verbose >= 2)
		log_setup("rexec", LOG_LEVEL_DEBUG);
	ret = exec_run(&cli);
	cli_exec_free(&cli);
	return ret;
}
