/* cmd_pki.h: the `rexec ca` and `rexec cert` subcommands, the command line of lib/pki. */
#ifndef REXEC_CMD_PKI_H
#define REXEC_CMD_PKI_H

/* `rexec ca init DIR [--name CN] [--days N]`: create a CA; `rexec ca crl --ca DIR [--days N]
 * --out FILE`: write its CRL. ARGV[0] is "ca". Returns the exit code: 0 done, 1 failed (a
 * `rexec: ...` line on stderr), 2 usage error (usage on stderr). */
int cmd_ca(int argc, char **argv);

/* `rexec cert issue --ca DIR (--agent NAME [--san NAME_OR_IP]... | --client USER [--group G]...)
 * --out PREFIX [--days N | --ttl DURATION]`: issue a certificate; `rexec cert show [--config
 * FILE] [--host NAME] [CERT.pem]`: describe one; `rexec cert revoke --ca DIR (CERT.pem |
 * --serial HEX)`: record a revocation. ARGV[0] is "cert". Returns the exit code as cmd_ca(). */
int cmd_cert(int argc, char **argv);

#endif
