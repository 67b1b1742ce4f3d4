/* cmd_pki.h: the `rexec ca` and `rexec cert` subcommands, the command line of lib/pki. One
 * table of subcommands (cmd_pki_subs) and one of options (cmd_pki_opts) drive the parser and
 * the usage text; the manual's test and the shell completions read the same. */
#ifndef REXEC_CMD_PKI_H
#define REXEC_CMD_PKI_H

#include <stddef.h>

enum cmd_pki_cmd {
	PKI_CA_INIT,
	PKI_CA_CRL,
	PKI_CERT_ISSUE,
	PKI_CERT_SHOW,
	PKI_CERT_REVOKE,
	PKI_N_CMDS
};

/* What a subcommand's positional argument names, for the shell completions. */
enum cmd_pki_pos {
	PKI_POS_NONE, /* it takes none */
	PKI_POS_FILE,
	PKI_POS_DIR,
};

struct cmd_pki_sub {
	const char *verb;          /* "ca", "cert" */
	const char *sub;           /* "init" */
	const char *synopsis;      /* what follows `rexec VERB SUB` */
	const char *pos;           /* the one positional argument it takes ("DIR"), or NULL */
	enum cmd_pki_pos pos_kind; /* what POS names: PKI_POS_NONE exactly when POS is NULL */
	const char *help;          /* what it does, a line or two */
};

enum cmd_pki_opt_id {
	PKI_OPT_CA,
	PKI_OPT_NAME,
	PKI_OPT_DAYS,
	PKI_OPT_OUT,
	PKI_OPT_AGENT,
	PKI_OPT_SAN,
	PKI_OPT_CLIENT,
	PKI_OPT_GROUP,
	PKI_OPT_TTL,
	PKI_OPT_CONFIG,
	PKI_OPT_HOST,
	PKI_OPT_SERIAL,
	PKI_OPT_HELP,
	PKI_N_OPTS,
};

/* One option of some subcommands: `--name VALUE` or `--name=VALUE` (--help: a flag, -h too).
 * An option may have several rows, one per meaning (--days of ca init, ca crl, cert issue). */
struct cmd_pki_opt {
	enum cmd_pki_opt_id id;
	const char *name;  /* "--days" */
	const char *value; /* the value's name in the usage ("N"), NULL for a flag */
	unsigned cmds;     /* 1 << enum cmd_pki_cmd of the subcommands that take it */
	unsigned max;      /* how often it may be given: 1 (the last one counts) or a cap */
	const char *help;  /* one line */
};

extern const struct cmd_pki_sub cmd_pki_subs[PKI_N_CMDS];
extern const struct cmd_pki_opt cmd_pki_opts[];
extern const size_t cmd_pki_n_opts;

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
