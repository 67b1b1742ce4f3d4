/* cmd_pki.h: the `rexec ca` and `rexec cert` subcommands, the command line of lib/pki. */
#ifndef REXEC_CMD_PKI_H
#define REXEC_CMD_PKI_H

/* `rexec ca init DIR [--name CN] [--days N]`: create a CA. ARGV[0] is "ca". Returns the exit
 * code: 0 done, 1 failed (a `rexec: ...` line on stderr), 2 usage error (usage on stderr). */
int cmd_ca(int argc, char **argv);

/* `rexec cert issue --ca DIR (--agent NAME [--san NAME_OR_IP]... | --client USER) --out PREFIX
 * [--days N]`: issue a certificate. ARGV[0] is "cert". Returns the exit code as cmd_ca(). */
int cmd_cert(int argc, char **argv);

#endif
