/* main.c: the rexec client's entry point: a subcommand, or exec (the default). */
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/cmd_pki.h"
#include "client/exec.h"
#include "client/fleet.h"
#include "client/mux.h"
#include "proto/log.h"
#include "proto/version.h"

static int is_verb(const char *w)
{
	return strcmp(w, "exec") == 0 || strcmp(w, "run") == 0 || strcmp(w, "attach") == 0 ||
	       strcmp(w, "ps") == 0;
}

int main(int argc, char **argv)
{
	struct client_config *cfg = NULL;
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
	if (argc >= 2 && strcmp(argv[1], MUX_MASTER_ARG) == 0)
		return mux_master_main(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "ca") == 0)
		return cmd_ca(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "cert") == 0)
		return cmd_cert(argc - 1, argv + 1);
	argc--;
	argv++;
	memset(&cli, 0, sizeof(cli));
	/* `rexec --config F VERB ...`: the verb comes first for what follows. */
	if (argc >= 3 && strcmp(argv[0], "--config") == 0 && is_verb(argv[2])) {
		char *verb = argv[2];
		argv[2] = argv[1];
		argv[1] = argv[0];
		argv[0] = verb;
	}
	if (argc >= 1 && is_verb(argv[0])) {
		cli.verb = argv[0][0] == 'r'   ? CLI_RUN
			   : argv[0][0] == 'a' ? CLI_ATTACH
			   : argv[0][0] == 'p' ? CLI_PS
					       : CLI_EXEC;
		argc--;
		argv++;
	}
	if (cli.verb == CLI_PS) {
		/* ps [HOST]: no service, no command; every host without one. */
		char *ps_argv[8];
		int n = 0, i, has_host = 0;
		for (i = 0; i < argc && n < 6; i++) {
			if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
				ps_argv[n++] = argv[i++];
			else if (argv[i][0] != '-')
				has_host = 1;
			ps_argv[n++] = argv[i];
		}
		if (!has_host)
			ps_argv[n++] = (char *)"@all";
		ps_argv[n] = NULL;
		if ((ret = cli_parse_exec(n, ps_argv, &cli)) != 0)
			return ret;
		if (cli.service != NULL || cli.n_cmd > 0) {
			fprintf(stderr, "usage: rexec ps [--config FILE] [HOST|SELECTOR]\n");
			cli_exec_free(&cli);
			return 2;
		}
	} else if ((ret = cli_parse_exec(argc, argv, &cli)) != 0) {
		return ret;
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
