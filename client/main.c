/* main.c: the rexec client's entry point: global options, then one subcommand. */
#include <stdio.h>
#include <string.h>

#include "proto/version.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: rexec [--config FILE] HOST [SERVICE] [options] [--] [CMD [ARG...]]\n"
		     "       rexec --version | --help\n");
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		version_print(stdout, "rexec");
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 255;
}
