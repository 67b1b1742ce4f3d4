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

#define EXIT_USAGE      2
#define DEFAULT_CA_NAME "rexec CA"

static const char ca_usage[] =
	"usage: rexec ca init DIR [--name CN] [--days N]\n"
	"       rexec ca crl --ca DIR [--days N] --out FILE\n"
	"  init: create a certificate authority in DIR: ca.pem and ca-key.pem (keep it secret).\n"
	"  --name CN   the CA's common name (default \"" DEFAULT_CA_NAME "\")\n"
	"  --days N    validity in days (default 3650)\n"
	"  crl: write FILE, a CRL signed by the CA in DIR listing what `rexec cert revoke`\n"
	"  revoked, valid for N days (default 30): give it to the agents (crl: FILE).\n";

static const char cert_usage[] =
	"usage: rexec cert issue --ca DIR (--agent NAME [--san NAME_OR_IP]... |\n"
	"                        --client USER [--group GROUP]...) --out PREFIX\n"
	"                        [--days N | --ttl DURATION]\n"
	"       rexec cert show [--config FILE] [--host NAME] [CERT.pem]\n"
	"       rexec cert revoke --ca DIR (CERT.pem | --serial HEX)\n"
	"  issue: a certificate signed by the CA in DIR: PREFIX.pem and PREFIX-key.pem.\n"
	"  --agent NAME      an agent (server) certificate for host NAME\n"
	"  --san NAME_OR_IP  another DNS name or IP address of the agent (repeat, or a,b,c)\n"
	"  --client USER     a client certificate for user USER\n"
	"  --group GROUP     a group of the user (repeat): letters, digits, '.', '_', '-'\n"
	"  --days N          validity in days (default 825)\n"
	"  --ttl DURATION    validity as 30s, 90m, 8h or 7d instead, for short-lived certificates\n"
	"  show: the name, groups, serial, issuer and validity of CERT.pem (default: the\n"
	"  certificate the client configuration gives, or the one it gives host NAME).\n"
	"  revoke: record in DIR that the certificate (or serial) is revoked; then\n"
	"  `rexec ca crl` writes the CRL the agents read.\n";

/* Print an optional complaint and USAGE to stderr; returns the usage exit code. */
__attribute__((format(printf, 2, 3))) static int usage_error(const char *usage, const char *fmt,
							     ...)
{
	va_list ap;

	if (fmt != NULL) {
		fputs("rexec: ", stderr);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	fputs(usage, stderr);
	return EXIT_USAGE;
}

static int is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* If ARGV[*I] is option NAME ("--name VALUE" or "--name=VALUE"), store its value in *VAL and
 * advance *I past it. Returns 1 when it matched, 0 when not, -1 when the value is missing. */
static int opt_arg(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t n = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
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
	const char *ca = NULL, *out = NULL, *days_arg = NULL;
	int days = PKICA_CRL_DAYS, i, m;
	unsigned long long number = 0;
	char err[1024], until[40];
	size_t n = 0;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if ((m = opt_arg(argc, argv, &i, "--ca", &ca)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--out", &out)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--days", &days_arg)) != 0) {
			if (m < 0)
				return usage_error(ca_usage, "%s needs a value", arg);
			continue;
		}
		if (is_help(arg)) {
			fputs(ca_usage, stdout);
			return 0;
		}
		return usage_error(ca_usage, "%s %s",
				   arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
	}
	if (ca == NULL || out == NULL)
		return usage_error(ca_usage, "ca crl needs --ca DIR and --out FILE");
	if (days_arg != NULL && parse_days(days_arg, &days) < 0)
		return usage_error(ca_usage, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				   days_arg);
	if (pkica_crl(ca, days, out, &n, &number, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	pki_format_time((long long)time(NULL) + (long long)days * 86400, until, sizeof(until));
	printf("wrote %s (CRL number %llu, %zu revoked, next update %s)\n", out, number, n, until);
	return 0;
}

int cmd_ca(int argc, char **argv)
{
	const char *dir = NULL, *name = DEFAULT_CA_NAME, *days_arg = NULL;
	int days = PKI_CA_DAYS, i, m;
	char err[1024];

	if (argc >= 2 && is_help(argv[1])) {
		fputs(ca_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error(ca_usage, NULL);
	if (strcmp(argv[1], "crl") == 0)
		return ca_crl(argc, argv);
	if (strcmp(argv[1], "init") != 0)
		return usage_error(ca_usage, "unknown command: ca %s", argv[1]);
	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if ((m = opt_arg(argc, argv, &i, "--name", &name)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--days", &days_arg)) != 0) {
			if (m < 0)
				return usage_error(ca_usage, "%s needs a value", arg);
			continue;
		}
		if (is_help(arg)) {
			fputs(ca_usage, stdout);
			return 0;
		}
		if (arg[0] == '-' && arg[1] != '\0')
			return usage_error(ca_usage, "unknown option %s", arg);
		if (dir != NULL)
			return usage_error(ca_usage, "unexpected argument %s", arg);
		dir = arg;
	}
	if (dir == NULL)
		return usage_error(ca_usage, "no CA directory given");
	if (days_arg != NULL && parse_days(days_arg, &days) < 0)
		return usage_error(ca_usage, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				   days_arg);

	if (pki_ca_init(dir, name, days, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	printf("wrote %s/" PKI_CA_CERT " (CA certificate, \"%s\", %d days)\n", dir, name, days);
	printf("wrote %s/" PKI_CA_KEY " (CA private key: keep it secret)\n", dir);
	return 0;
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
	const char *ca = NULL, *agent = NULL, *client = NULL, *out = NULL, *days_arg = NULL;
	const char *san = NULL, *sans[PKI_MAX_SANS], *group = NULL, *groups[PKI_MAX_GROUPS];
	const char *ttl_arg = NULL;
	char *copies[PKI_MAX_SANS], err[1024], span[32];
	size_t n_copies = 0, n_sans = 0, n_groups = 0, k;
	struct pki_req req;
	int i, m, ret;

	memset(&req, 0, sizeof(req));
	req.days = PKI_LEAF_DAYS;
	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if ((m = opt_arg(argc, argv, &i, "--san", &san)) > 0) {
			if (n_copies == PKI_MAX_SANS) {
				ret = usage_error(cert_usage, "too many --san (at most %d)",
						  PKI_MAX_SANS);
				goto out;
			}
			if ((copies[n_copies] = strdup(san)) == NULL) {
				fprintf(stderr, "rexec: out of memory\n");
				ret = 1;
				goto out;
			}
			if (split_sans(copies[n_copies++], sans, &n_sans) < 0) {
				ret = usage_error(cert_usage,
						  "--san wants 1 to %d non-empty names, not \"%s\"",
						  PKI_MAX_SANS, san);
				goto out;
			}
			continue;
		}
		if (m == 0 && (m = opt_arg(argc, argv, &i, "--group", &group)) > 0) {
			if (n_groups == PKI_MAX_GROUPS) {
				ret = usage_error(cert_usage, "too many --group (at most %d)",
						  PKI_MAX_GROUPS);
				goto out;
			}
			if (pki_check_group(group, err, sizeof(err)) < 0) {
				ret = usage_error(cert_usage, "%s", err);
				goto out;
			}
			groups[n_groups++] = group;
			continue;
		}
		if (m != 0 || (m = opt_arg(argc, argv, &i, "--ca", &ca)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--agent", &agent)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--client", &client)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--out", &out)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--days", &days_arg)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--ttl", &ttl_arg)) != 0) {
			if (m < 0) {
				ret = usage_error(cert_usage, "%s needs a value", arg);
				goto out;
			}
			continue;
		}
		if (is_help(arg)) {
			fputs(cert_usage, stdout);
			ret = 0;
			goto out;
		}
		ret = usage_error(cert_usage, "%s %s",
				  arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
		goto out;
	}
	if (ca == NULL || out == NULL || (agent == NULL) == (client == NULL)) {
		ret = usage_error(cert_usage, "give --ca, --out and one of --agent or --client");
		goto out;
	}
	if (client != NULL && n_sans > 0) {
		ret = usage_error(cert_usage, "--san is for --agent certificates");
		goto out;
	}
	if (agent != NULL && n_groups > 0) {
		ret = usage_error(cert_usage, "--group is for --client certificates");
		goto out;
	}
	if (days_arg != NULL && ttl_arg != NULL) {
		ret = usage_error(cert_usage, "give --days or --ttl, not both");
		goto out;
	}
	if (days_arg != NULL && parse_days(days_arg, &req.days) < 0) {
		ret = usage_error(cert_usage, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				  days_arg);
		goto out;
	}
	if (ttl_arg != NULL && pki_parse_ttl(ttl_arg, &req.ttl) < 0) {
		ret = usage_error(cert_usage,
				  "--ttl wants a number and a unit (30s, 90m, 8h, 7d) up to %d "
				  "days, not %s",
				  PKI_MAX_DAYS, ttl_arg);
		goto out;
	}

	req.kind = agent != NULL ? PKI_AGENT : PKI_CLIENT;
	req.name = agent != NULL ? agent : client;
	req.sans = sans;
	req.n_sans = n_sans;
	req.groups = groups;
	req.n_groups = n_groups;
	if (pki_issue(ca, &req, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		ret = 1;
		goto out;
	}
	if (req.ttl > 0)
		pki_format_duration(req.ttl, span, sizeof(span));
	else
		snprintf(span, sizeof(span), "%d days", req.days);
	printf("wrote %s.pem (%s certificate for %s", out, agent != NULL ? "agent" : "client",
	       req.name);
	for (k = 0; k < n_groups; k++)
		printf("%s%s", k == 0 ? ", groups " : ",", groups[k]);
	printf(", %s)\n", span);
	printf("wrote %s-key.pem (private key: keep it secret)\n", out);
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
	const char *config = NULL, *host = NULL, *file = NULL;
	char path[4096], err[1024], from[40], to[40], span[32];
	struct pki_cert_info info;
	long long now = (long long)time(NULL);
	size_t k;
	int i, m;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if ((m = opt_arg(argc, argv, &i, "--config", &config)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--host", &host)) != 0) {
			if (m < 0)
				return usage_error(cert_usage, "%s needs a value", arg);
			continue;
		}
		if (is_help(arg)) {
			fputs(cert_usage, stdout);
			return 0;
		}
		if ((arg[0] == '-' && arg[1] != '\0') || file != NULL)
			return usage_error(cert_usage, "%s %s",
					   arg[0] == '-' ? "unknown option" : "unexpected argument",
					   arg);
		file = arg;
	}
	if (file != NULL && (config != NULL || host != NULL))
		return usage_error(cert_usage, "give CERT.pem, or --config/--host, not both");
	if (file == NULL) {
		if (configured_cert(config, host, path, sizeof(path)) != 0)
			return 1;
		file = path;
	}
	if (pki_cert_info(file, &info, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	pki_format_time(info.not_before, from, sizeof(from));
	pki_format_time(info.not_after, to, sizeof(to));
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
	const char *ca = NULL, *serial = NULL, *file = NULL;
	struct pkica_revocation r;
	char err[1024], when[40];
	int i, m, ret;

	for (i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if ((m = opt_arg(argc, argv, &i, "--ca", &ca)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--serial", &serial)) != 0) {
			if (m < 0)
				return usage_error(cert_usage, "%s needs a value", arg);
			continue;
		}
		if (is_help(arg)) {
			fputs(cert_usage, stdout);
			return 0;
		}
		if ((arg[0] == '-' && arg[1] != '\0') || file != NULL)
			return usage_error(cert_usage, "%s %s",
					   arg[0] == '-' ? "unknown option" : "unexpected argument",
					   arg);
		file = arg;
	}
	if (ca == NULL || (file == NULL) == (serial == NULL))
		return usage_error(cert_usage, "cert revoke needs --ca DIR and one of CERT.pem or "
					       "--serial HEX");
	ret = file != NULL ? pkica_revoke_cert(ca, file, &r, err, sizeof(err))
			   : pkica_revoke_serial(ca, serial, &r, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		return 1;
	}
	pki_format_time(r.at, when, sizeof(when));
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
	if (argc >= 2 && is_help(argv[1])) {
		fputs(cert_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error(cert_usage, NULL);
	if (strcmp(argv[1], "issue") == 0)
		return cert_issue(argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return cert_show(argc, argv);
	if (strcmp(argv[1], "revoke") == 0)
		return cert_revoke(argc, argv);
	return usage_error(cert_usage, "unknown command: cert %s", argv[1]);
}
