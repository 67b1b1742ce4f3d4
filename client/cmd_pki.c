/* cmd_pki.c: `rexec ca init|crl` and `rexec cert issue|show|revoke`: the command line of
 * lib/pki and lib/pkica. */
#include "client/cmd_pki.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/config.h"
#include "lib/pki.h"
#include "lib/pkica.h"
#include "proto/tls.h"

#define EXIT_USAGE      2
#define DEFAULT_CA_NAME "rexec CA"
#define HELP_SHOWN      (-1) /* parse(): --help printed the usage */
#define ALL_CMDS        ((1u << PKI_N_CMDS) - 1)
#define B(cmd)          (1u << (cmd))
#define STR_(x)         #x
#define STR(x)          STR_(x)

/* One table of subcommands and one of options, as cli.c has for exec/run/attach/ps (and as
 * git's parse-options does): the parser, --help and the manual's check all read them. */
const struct cmd_pki_sub cmd_pki_subs[PKI_N_CMDS] = {
	[PKI_CA_INIT] = { "ca", "init", "DIR [--name CN] [--days N]", "DIR", PKI_POS_DIR,
			  "create a certificate authority in DIR: ca.pem and ca-key.pem (keep "
			  "it secret)" },
	[PKI_CA_CRL] = { "ca", "crl", "--ca DIR [--days N] --out FILE", NULL, PKI_POS_NONE,
			 "write FILE, a CRL signed by the CA in DIR listing what `rexec cert "
			 "revoke`\n  revoked: give it to the agents (crl: FILE)" },
	[PKI_CERT_ISSUE] = { "cert", "issue",
			     "--ca DIR (--agent NAME [--san NAME_OR_IP]... |\n"
			     "                        --client USER [--group GROUP]...) --out "
			     "PREFIX\n"
			     "                        [--days N | --ttl DURATION]",
			     NULL, PKI_POS_NONE,
			     "a certificate signed by the CA in DIR: PREFIX.pem and "
			     "PREFIX-key.pem" },
	[PKI_CERT_SHOW] = { "cert", "show", "[--config FILE] [--host NAME] [CERT.pem]", "CERT.pem",
			    PKI_POS_FILE,
			    "the name, groups, role, serial, issuer and validity of CERT.pem\n"
			    "  (default: the certificate the client configuration gives, or the "
			    "one it gives\n  host NAME)" },
	[PKI_CERT_REVOKE] = { "cert", "revoke", "--ca DIR (CERT.pem | --serial HEX)", "CERT.pem",
			      PKI_POS_FILE,
			      "record in DIR that the certificate (or serial) is revoked; then\n"
			      "  `rexec ca crl` writes the CRL the agents read" },
};

const struct cmd_pki_opt cmd_pki_opts[] = {
	{ PKI_OPT_CA, "--ca", "DIR", B(PKI_CA_CRL) | B(PKI_CERT_ISSUE) | B(PKI_CERT_REVOKE), 1,
	  "the CA's directory (of `rexec ca init`)" },
	{ PKI_OPT_NAME, "--name", "CN", B(PKI_CA_INIT), 1,
	  "the CA's common name (default \"" DEFAULT_CA_NAME "\")" },
	{ PKI_OPT_DAYS, "--days", "N", B(PKI_CA_INIT), 1,
	  "validity in days, 1 to " STR(PKI_MAX_DAYS) " (default " STR(PKI_CA_DAYS) ")" },
	{ PKI_OPT_DAYS, "--days", "N", B(PKI_CA_CRL), 1,
	  "the CRL's validity in days (default " STR(PKICA_CRL_DAYS) ")" },
	{ PKI_OPT_OUT, "--out", "FILE", B(PKI_CA_CRL), 1, "where the CRL goes (PEM)" },
	{ PKI_OPT_AGENT, "--agent", "NAME", B(PKI_CERT_ISSUE), 1,
	  "an agent (server) certificate for host NAME" },
	{ PKI_OPT_SAN, "--san", "NAME_OR_IP", B(PKI_CERT_ISSUE), PKI_MAX_SANS,
	  "another DNS name or IP address of the agent (repeat, or a,b,c)" },
	{ PKI_OPT_CLIENT, "--client", "USER", B(PKI_CERT_ISSUE), 1,
	  "a client certificate for user USER" },
	{ PKI_OPT_GROUP, "--group", "GROUP", B(PKI_CERT_ISSUE), PKI_MAX_GROUPS,
	  "a group of the user (repeat): letters, digits, '.', '_', '-'" },
	{ PKI_OPT_OUT, "--out", "PREFIX", B(PKI_CERT_ISSUE), 1,
	  "write PREFIX.pem and PREFIX-key.pem" },
	{ PKI_OPT_DAYS, "--days", "N", B(PKI_CERT_ISSUE), 1,
	  "validity in days (default " STR(PKI_LEAF_DAYS) ")" },
	{ PKI_OPT_TTL, "--ttl", "DURATION", B(PKI_CERT_ISSUE), 1,
	  "validity as 30s, 90m, 8h, 7d or 2w instead (short-lived)" },
	{ PKI_OPT_CONFIG, "--config", "FILE", B(PKI_CERT_SHOW), 1,
	  "the client configuration (default: $REXEC_CONFIG)" },
	{ PKI_OPT_HOST, "--host", "NAME", B(PKI_CERT_SHOW), 1,
	  "the certificate the configuration gives host NAME" },
	{ PKI_OPT_SERIAL, "--serial", "HEX", B(PKI_CERT_REVOKE), 1,
	  "the serial to revoke (as `rexec cert show` prints it)" },
	{ PKI_OPT_HELP, "--help", NULL, ALL_CMDS, 0, "this text (-h too)" },
};
const size_t cmd_pki_n_opts = sizeof(cmd_pki_opts) / sizeof(cmd_pki_opts[0]);

/* What parse() read: the last value of each single option, every value of a repeated one,
 * and the one positional argument. Strings are borrowed from argv. */
struct pki_args {
	const char *val[PKI_N_OPTS];
	const char *many[PKI_N_OPTS][PKI_MAX_SANS];
	size_t n[PKI_N_OPTS];
	const char *pos;
};

/* The usage of the subcommands of VERB ("ca", "cert"): all of them (ONLY < 0) or command ONLY,
 * each with its options. */
static void print_usage(FILE *f, const char *verb, int only)
{
	int c, first = 1;
	size_t i;

	for (c = 0; c < PKI_N_CMDS; c++) {
		if (strcmp(cmd_pki_subs[c].verb, verb) != 0 || (only >= 0 && c != only))
			continue;
		fprintf(f, "%s rexec %s %s %s\n", first ? "usage:" : "      ", verb,
			cmd_pki_subs[c].sub, cmd_pki_subs[c].synopsis);
		first = 0;
	}
	for (c = 0; c < PKI_N_CMDS; c++) {
		if (strcmp(cmd_pki_subs[c].verb, verb) != 0 || (only >= 0 && c != only))
			continue;
		fprintf(f, "%s: %s.\n", cmd_pki_subs[c].sub, cmd_pki_subs[c].help);
		for (i = 0; i < cmd_pki_n_opts; i++) {
			const struct cmd_pki_opt *o = &cmd_pki_opts[i];
			char left[40];
			if (!(o->cmds & B(c)))
				continue;
			snprintf(left, sizeof(left), "%s%s%s", o->name, o->value ? " " : "",
				 o->value ? o->value : "");
			fprintf(f, "  %-19s %s\n", left, o->help);
		}
	}
}

/* Print an optional complaint and the usage of VERB (command ONLY, or all: -1) to stderr;
 * returns the usage exit code. */
__attribute__((format(printf, 3, 4))) static int usage_error(const char *verb, int only,
							     const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fputs("rexec: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	print_usage(stderr, verb, only);
	return EXIT_USAGE;
}

static int is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* The row of cmd_pki_opts that ARG names for command CMD ("--name VALUE", "--name=VALUE",
 * -h), with *VAL the value written into ARG or NULL; NULL when none. */
static const struct cmd_pki_opt *find_opt(const char *arg, enum cmd_pki_cmd cmd, const char **val)
{
	size_t i, n;

	*val = NULL;
	if (strcmp(arg, "-h") == 0)
		arg = "--help";
	for (i = 0; i < cmd_pki_n_opts; i++) {
		const struct cmd_pki_opt *o = &cmd_pki_opts[i];
		n = strlen(o->name);
		if (!(o->cmds & B(cmd)) || strncmp(arg, o->name, n) != 0 ||
		    (arg[n] != 0 && arg[n] != '='))
			continue;
		if (arg[n] == '=')
			*val = arg + n + 1;
		return o;
	}
	return NULL;
}

/* ARGV[2..] of command CMD into A, by the table. Returns 0; HELP_SHOWN after printing its
 * usage for --help; or EXIT_USAGE after a usage error. */
static int parse(int argc, char **argv, enum cmd_pki_cmd cmd, struct pki_args *a)
{
	const char *verb = cmd_pki_subs[cmd].verb, *val;
	const struct cmd_pki_opt *o;
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if (arg[0] != '-' || arg[1] == '\0') {
			if (cmd_pki_subs[cmd].pos == NULL || a->pos != NULL)
				return usage_error(verb, (int)cmd, "unexpected argument %s", arg);
			a->pos = arg;
			continue;
		}
		if ((o = find_opt(arg, cmd, &val)) == NULL)
			return usage_error(verb, (int)cmd, "unknown option %s", arg);
		if (o->id == PKI_OPT_HELP) {
			if (val != NULL)
				return usage_error(verb, (int)cmd, "--help takes no value");
			print_usage(stdout, verb, (int)cmd);
			return HELP_SHOWN;
		}
		if (val == NULL) {
			if (i + 1 >= argc)
				return usage_error(verb, (int)cmd, "%s needs a value", arg);
			val = argv[++i];
		}
		if (o->max <= 1) {
			a->val[o->id] = val;
			continue;
		}
		if (a->n[o->id] == o->max)
			return usage_error(verb, (int)cmd, "too many %s (at most %u)", o->name,
					   o->max);
		a->many[o->id][a->n[o->id]++] = val;
	}
	return 0;
}

/* Parse a --days value into *DAYS; returns -1 unless it is a whole number in range. */
static int parse_days(const char *s, int *days)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > PKI_MAX_DAYS)
		return -1;
	*days = (int)v;
	return 0;
}

/* `rexec ca crl --ca DIR [--days N] --out FILE`. */
static int ca_crl(int argc, char **argv)
{
	unsigned long long number = 0;
	char err[1024], until[40];
	int days = PKICA_CRL_DAYS, ret;
	struct pki_args a;
	const char *ca, *out;
	size_t n = 0;

	if ((ret = parse(argc, argv, PKI_CA_CRL, &a)) != 0)
		return ret == HELP_SHOWN ? 0 : ret;
	ca = a.val[PKI_OPT_CA];
	out = a.val[PKI_OPT_OUT];
	if (ca == NULL || out == NULL)
		return usage_error("ca", PKI_CA_CRL, "ca crl needs --ca DIR and --out FILE");
	if (a.val[PKI_OPT_DAYS] != NULL && parse_days(a.val[PKI_OPT_DAYS], &days) < 0)
		return usage_error("ca", PKI_CA_CRL, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				   a.val[PKI_OPT_DAYS]);
	if (pkica_crl(ca, days, out, &n, &number, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	tls_format_utc((int64_t)time(NULL) + (int64_t)days * 86400, until, sizeof(until));
	printf("wrote %s (CRL number %llu, %zu revoked, next update %s)\n", out, number, n, until);
	return 0;
}

/* `rexec ca init DIR [--name CN] [--days N]`. */
static int ca_init(int argc, char **argv)
{
	const char *dir, *name;
	int days = PKI_CA_DAYS, ret;
	struct pki_args a;
	char err[1024];

	if ((ret = parse(argc, argv, PKI_CA_INIT, &a)) != 0)
		return ret == HELP_SHOWN ? 0 : ret;
	if ((dir = a.pos) == NULL)
		return usage_error("ca", PKI_CA_INIT, "no CA directory given");
	name = a.val[PKI_OPT_NAME] != NULL ? a.val[PKI_OPT_NAME] : DEFAULT_CA_NAME;
	if (a.val[PKI_OPT_DAYS] != NULL && parse_days(a.val[PKI_OPT_DAYS], &days) < 0)
		return usage_error("ca", PKI_CA_INIT, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				   a.val[PKI_OPT_DAYS]);
	if (pki_ca_init(dir, name, days, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	printf("wrote %s/" PKI_CA_CERT " (CA certificate, \"%s\", %d days)\n", dir, name, days);
	printf("wrote %s/" PKI_CA_KEY " (CA private key: keep it secret)\n", dir);
	return 0;
}

/* The subcommand VERB SUB ("ca", "init") of the table; -1 when there is none. */
static int find_cmd(const char *verb, const char *sub)
{
	int c;

	for (c = 0; c < PKI_N_CMDS; c++)
		if (strcmp(cmd_pki_subs[c].verb, verb) == 0 &&
		    strcmp(cmd_pki_subs[c].sub, sub) == 0)
			return c;
	return -1;
}

/* The subcommand of `rexec VERB ...` (ARGV[0] is VERB): its table index into *CMD, or the
 * exit code of --help (0) or of a usage error (2) as the return, with *CMD = -1. */
static int pick(int argc, char **argv, int *cmd)
{
	*cmd = -1;
	if (argc >= 2 && is_help(argv[1])) {
		print_usage(stdout, argv[0], -1);
		return 0;
	}
	if (argc < 2)
		return usage_error(argv[0], -1, NULL);
	if ((*cmd = find_cmd(argv[0], argv[1])) < 0)
		return usage_error(argv[0], -1, "unknown command: %s %s", argv[0], argv[1]);
	return 0;
}

int cmd_ca(int argc, char **argv)
{
	int cmd, ret = pick(argc, argv, &cmd);

	if (cmd < 0)
		return ret;
	return cmd == PKI_CA_CRL ? ca_crl(argc, argv) : ca_init(argc, argv);
}

/* Split the comma list ARG into SANS[*N..] (pointing into COPY, a copy of ARG that the caller
 * frees). Returns 0, or -1 for an empty name or more than PKI_MAX_SANS names. */
static int split_sans(char *copy, const char **sans, size_t *n)
{
	char *name;

	while ((name = strsep(&copy, ",")) != NULL) {
		if (*name == '\0' || *n == PKI_MAX_SANS)
			return -1;
		sans[(*n)++] = name;
	}
	return 0;
}

/* `rexec cert issue ...` (ARGV[1] is "issue"). */
static int cert_issue(int argc, char **argv)
{
	const char *sans[PKI_MAX_SANS], *agent, *client, *days_arg, *ttl_arg;
	char *copies[PKI_MAX_SANS], err[1024], span[32];
	size_t n_copies = 0, n_sans = 0, k;
	struct pki_req req;
	struct pki_args a;
	int ret;

	if ((ret = parse(argc, argv, PKI_CERT_ISSUE, &a)) != 0)
		return ret == HELP_SHOWN ? 0 : ret;
	agent = a.val[PKI_OPT_AGENT];
	client = a.val[PKI_OPT_CLIENT];
	days_arg = a.val[PKI_OPT_DAYS];
	ttl_arg = a.val[PKI_OPT_TTL];
	memset(&req, 0, sizeof(req));
	req.days = PKI_LEAF_DAYS;
	for (k = 0; k < a.n[PKI_OPT_SAN]; k++) {
		if ((copies[n_copies] = strdup(a.many[PKI_OPT_SAN][k])) == NULL) {
			fprintf(stderr, "rexec: out of memory\n");
			ret = 1;
			goto out;
		}
		if (split_sans(copies[n_copies++], sans, &n_sans) < 0) {
			ret = usage_error("cert", PKI_CERT_ISSUE,
					  "--san wants 1 to %d non-empty names, not \"%s\"",
					  PKI_MAX_SANS, a.many[PKI_OPT_SAN][k]);
			goto out;
		}
	}
	for (k = 0; k < a.n[PKI_OPT_GROUP]; k++) {
		if (pki_check_group(a.many[PKI_OPT_GROUP][k], err, sizeof(err)) < 0) {
			ret = usage_error("cert", PKI_CERT_ISSUE, "%s", err);
			goto out;
		}
	}
	if (a.val[PKI_OPT_CA] == NULL || a.val[PKI_OPT_OUT] == NULL ||
	    (agent == NULL) == (client == NULL)) {
		ret = usage_error("cert", PKI_CERT_ISSUE,
				  "give --ca, --out and one of --agent or --client");
		goto out;
	}
	if (client != NULL && n_sans > 0) {
		ret = usage_error("cert", PKI_CERT_ISSUE, "--san is for --agent certificates");
		goto out;
	}
	if (agent != NULL && a.n[PKI_OPT_GROUP] > 0) {
		ret = usage_error("cert", PKI_CERT_ISSUE, "--group is for --client certificates");
		goto out;
	}
	if (days_arg != NULL && ttl_arg != NULL) {
		ret = usage_error("cert", PKI_CERT_ISSUE, "give --days or --ttl, not both");
		goto out;
	}
	if (days_arg != NULL && parse_days(days_arg, &req.days) < 0) {
		ret = usage_error("cert", PKI_CERT_ISSUE, "--days wants 1 to %d, not %s",
				  PKI_MAX_DAYS, days_arg);
		goto out;
	}
	if (ttl_arg != NULL && pki_parse_ttl(ttl_arg, &req.ttl) < 0) {
		ret = usage_error("cert", PKI_CERT_ISSUE,
				  "--ttl wants a number and a unit (30s, 90m, 8h, 7d) up to %d "
				  "days, not %s",
				  PKI_MAX_DAYS, ttl_arg);
		goto out;
	}

	req.kind = agent != NULL ? PKI_AGENT : PKI_CLIENT;
	req.name = agent != NULL ? agent : client;
	req.sans = sans;
	req.n_sans = n_sans;
	req.groups = a.many[PKI_OPT_GROUP];
	req.n_groups = a.n[PKI_OPT_GROUP];
	if (pki_issue(a.val[PKI_OPT_CA], &req, a.val[PKI_OPT_OUT], err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		ret = 1;
		goto out;
	}
	if (req.ttl > 0)
		pki_format_duration(req.ttl, span, sizeof(span));
	else
		snprintf(span, sizeof(span), "%d days", req.days);
	printf("wrote %s.pem (%s certificate for %s", a.val[PKI_OPT_OUT],
	       agent != NULL ? "agent" : "client", req.name);
	for (k = 0; k < req.n_groups; k++)
		printf("%s%s", k == 0 ? ", groups " : ",", req.groups[k]);
	printf(", %s)\n", span);
	printf("wrote %s-key.pem (private key: keep it secret)\n", a.val[PKI_OPT_OUT]);
	ret = 0;
out:
	for (k = 0; k < n_copies; k++)
		free(copies[k]);
	return ret;
}

/* The certificate `rexec cert show` describes without a FILE: the one the client would use,
 * from the configuration CONFIG (NULL: $REXEC_CONFIG or the default), for HOST when given.
 * Written into BUF (LEN bytes); returns 0, or 1 after a message. */
static int configured_cert(const char *config, const char *host, char *buf, size_t len)
{
	struct client_config *cfg = NULL;
	const struct client_host *h = NULL;
	char path[4096], err[1024];
	const char *cert;
	int ret = 1;

	if (config == NULL && (config = client_config_default_path(path, sizeof(path))) == NULL) {
		fprintf(stderr, "rexec: no configuration ($REXEC_CONFIG, $HOME): give CERT.pem\n");
		return 1;
	}
	if (client_config_load(config, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	if (host != NULL && (h = client_config_find_host(cfg, host)) == NULL) {
		fprintf(stderr, "rexec: %s: no such host in %s\n", host, cfg->path);
		goto out;
	}
	cert = h != NULL && h->cert != NULL ? h->cert : cfg->cert;
	if (cert == NULL) {
		fprintf(stderr, "rexec: %s names no cert: give CERT.pem\n", cfg->path);
		goto out;
	}
	snprintf(buf, len, "%s", cert);
	ret = 0;
out:
	client_config_free(cfg);
	return ret;
}

/* `rexec cert show [--config FILE] [--host NAME] [CERT.pem]`. */
static int cert_show(int argc, char **argv)
{
	const char *config, *host, *file;
	char path[4096], err[1024], from[40], to[40], span[32];
	struct pki_cert_info info;
	long long now = (long long)time(NULL);
	struct pki_args a;
	size_t k;
	int ret;

	if ((ret = parse(argc, argv, PKI_CERT_SHOW, &a)) != 0)
		return ret == HELP_SHOWN ? 0 : ret;
	config = a.val[PKI_OPT_CONFIG];
	host = a.val[PKI_OPT_HOST];
	file = a.pos;
	if (file != NULL && (config != NULL || host != NULL))
		return usage_error("cert", PKI_CERT_SHOW,
				   "give CERT.pem, or --config/--host, not both");
	if (file == NULL) {
		if (configured_cert(config, host, path, sizeof(path)) != 0)
			return 1;
		file = path;
	}
	if (pki_cert_info(file, &info, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	tls_format_utc(info.not_before, from, sizeof(from));
	tls_format_utc(info.not_after, to, sizeof(to));
	printf("file        %s\n", file);
	printf("name (CN)   %s\n", info.cn);
	printf("groups      ");
	for (k = 0; k < info.n_groups; k++)
		printf("%s%s", k > 0 ? ", " : "", info.groups[k]);
	if (info.more_groups > 0)
		printf(" (and %zu more)", info.more_groups);
	printf("%s\n", info.n_groups == 0 ? "(none)" : "");
	printf("role        %s\n", info.client && info.agent ? "client and agent"
				   : info.client             ? "client"
				   : info.agent              ? "agent"
							     : "(no extendedKeyUsage)");
	printf("serial      %s\n", info.serial);
	printf("issuer      %s\n", info.issuer);
	printf("not before  %s\n", from);
	printf("not after   %s\n", to);
	if (now >= info.not_after) {
		pki_format_duration(now - info.not_after, span, sizeof(span));
		printf("state       expired %s ago\n", span);
	} else if (now < info.not_before) {
		pki_format_duration(info.not_before - now, span, sizeof(span));
		printf("state       not valid yet (starts in %s)\n", span);
	} else {
		pki_format_duration(info.not_after - now, span, sizeof(span));
		printf("state       valid, expires in %s\n", span);
	}
	return 0;
}

/* `rexec cert revoke --ca DIR (CERT.pem | --serial HEX)`. */
static int cert_revoke(int argc, char **argv)
{
	const char *ca, *serial, *file;
	struct pkica_revocation r;
	char err[1024], when[40];
	struct pki_args a;
	int ret;

	if ((ret = parse(argc, argv, PKI_CERT_REVOKE, &a)) != 0)
		return ret == HELP_SHOWN ? 0 : ret;
	ca = a.val[PKI_OPT_CA];
	serial = a.val[PKI_OPT_SERIAL];
	file = a.pos;
	if (ca == NULL || (file == NULL) == (serial == NULL))
		return usage_error(
			"cert", PKI_CERT_REVOKE,
			"cert revoke needs --ca DIR and one of CERT.pem or --serial HEX");
	ret = file != NULL ? pkica_revoke_cert(ca, file, &r, err, sizeof(err))
			   : pkica_revoke_serial(ca, serial, &r, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	tls_format_utc(r.at, when, sizeof(when));
	if (r.already)
		printf("serial %s was already revoked on %s: nothing changed\n", r.serial, when);
	else
		printf("revoked serial %s on %s; now write the CRL: rexec ca crl --ca %s --out "
		       "FILE\n",
		       r.serial, when, ca);
	return 0;
}

int cmd_cert(int argc, char **argv)
{
	int cmd, ret = pick(argc, argv, &cmd);

	if (cmd < 0)
		return ret;
	return cmd == PKI_CERT_ISSUE  ? cert_issue(argc, argv)
	       : cmd == PKI_CERT_SHOW ? cert_show(argc, argv)
				      : cert_revoke(argc, argv);
}
