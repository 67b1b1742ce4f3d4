/* cmd_pki.c: `rexec ca init` and `rexec cert issue`: the command line of lib/pki. */
#include "client/cmd_pki.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pki.h"

#define EXIT_USAGE      2
#define DEFAULT_CA_NAME "rexec CA"

static const char ca_usage[] =
	"usage: rexec ca init DIR [--name CN] [--days N]\n"
	"  Create a certificate authority in DIR: ca.pem and ca-key.pem (keep it secret).\n"
	"  --name CN   the CA's common name (default \"" DEFAULT_CA_NAME "\")\n"
	"  --days N    validity in days (default 3650)\n";

static const char cert_usage[] =
	"usage: rexec cert issue --ca DIR (--agent NAME [--san NAME_OR_IP]... | --client USER)\n"
	"                        --out PREFIX [--days N]\n"
	"  Issue a certificate signed by the CA in DIR: PREFIX.pem and PREFIX-key.pem.\n"
	"  --agent NAME      an agent (server) certificate for host NAME\n"
	"  --san NAME_OR_IP  another DNS name or IP address of the agent (repeat, or a,b,c)\n"
	"  --client USER     a client certificate for user USER\n"
	"  --days N          validity in days (default 825)\n";

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

int cmd_cert(int argc, char **argv)
{
	const char *ca = NULL, *agent = NULL, *client = NULL, *out = NULL, *days_arg = NULL;
	const char *san = NULL, *sans[PKI_MAX_SANS];
	char *copies[PKI_MAX_SANS], err[1024];
	size_t n_copies = 0, n_sans = 0, k;
	struct pki_req req;
	int i, m, ret;

	if (argc >= 2 && is_help(argv[1])) {
		fputs(cert_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error(cert_usage, NULL);
	if (strcmp(argv[1], "issue") != 0)
		return usage_error(cert_usage, "unknown command: cert %s", argv[1]);
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
		if (m != 0 || (m = opt_arg(argc, argv, &i, "--ca", &ca)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--agent", &agent)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--client", &client)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--out", &out)) != 0 ||
		    (m = opt_arg(argc, argv, &i, "--days", &days_arg)) != 0) {
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
	if (days_arg != NULL && parse_days(days_arg, &req.days) < 0) {
		ret = usage_error(cert_usage, "--days wants 1 to %d, not %s", PKI_MAX_DAYS,
				  days_arg);
		goto out;
	}

	req.kind = agent != NULL ? PKI_AGENT : PKI_CLIENT;
	req.name = agent != NULL ? agent : client;
	req.sans = sans;
	req.n_sans = n_sans;
	if (pki_issue(ca, &req, out, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec: %s\n", err);
		ret = 1;
		goto out;
	}
	printf("wrote %s.pem (%s certificate for %s, %d days)\n", out,
	       agent != NULL ? "agent" : "client", req.name, req.days);
	printf("wrote %s-key.pem (private key: keep it secret)\n", out);
	ret = 0;
out:
	for (k = 0; k < n_copies; k++)
		free(copies[k]);
	return ret;
}
