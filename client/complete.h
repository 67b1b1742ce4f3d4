/* complete.h: `rexec __complete WORD... CUR`, the one back end of the bash, zsh and fish
 * completions (packaging/completions/). As kubectl's and docker's `__complete`, the binary
 * gets the words typed after `rexec` (CUR, the word being completed, last, maybe empty) and
 * prints the candidates that start with CUR, one a line, each optionally followed by a TAB and
 * a description; the last line is a directive for the shell:
 *     ":"       nothing more
 *     ":files"  complete local file names (e.g. after --config)
 *     ":dirs"   complete local directories (e.g. after `ca init`, --ca)
 * The candidates come from the option tables (client/cli.c's cli_opts, ca/cert's options),
 * the inventory (host names, @groups) and the service cache (client/svccache.h): completion
 * reads files only, never dials an agent. A missing or broken config gives no host
 * candidates and no message; a name with anything but letters, digits, '.', '_' and '-' is
 * never printed (a hostile cache or inventory cannot put shell code or escape sequences on
 * the terminal). */
#ifndef REXEC_CLIENT_COMPLETE_H
#define REXEC_CLIENT_COMPLETE_H

#include <stdio.h>

#define COMPLETE_ARG "__complete" /* the hidden verb */

/* Prints the candidates for ARGV (ARGC words, the last the one being completed; none: as
 * if it were "") to OUT. Always returns 0: completion has no errors to show. */
int complete_main(int argc, char **argv, FILE *out);

#endif
