/* main.c: rexec-agent's entry point: options, then the event loop. */
#include <stdio.h>
#include <string.h>

#include "proto/version.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: rexec-agent --listen ADDR:PORT --cert F --key F --ca F\n"
		     "       rexec-agent --dev --state-dir DIR [--listen ADDR:PORT]\n"
		     "       rexec-agent --version | --help\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		version_print(stdout, "rexec-agent");
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 1;
}
