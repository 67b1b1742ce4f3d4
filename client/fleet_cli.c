/* fleet_cli.c: parsing of the fan-out options and their usage text. */
#include "client/fleet_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yconf.h"

static const char *const opts_with_value[] = {
	"--parallel", "--batch", "--max-fail", "--timeout", "--connect-timeout",
};
static const char *const flags[] = { "--fail-fast", "--group", "--json", "--any" };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

void fleet_usage(void *stream)
{
	fprintf(stream,
		"HOST is a selector: a host name, @GROUP, @all, a glob ('web-*') or a comma list\n"
		"of those; a bare SERVICE (no host of that name) asks the agents which hosts run "
		"it.\n"
		"More than one host selected: fan-out (no TTY, no stdin), with:\n"
		"  --parallel N       hosts at once (sliding window, default %d)\n"
		"  --batch N|P%%       rolling batches: a batch starts when the previous one "
		"ended\n"
		"  --max-fail N|P%%    launch no more hosts once N (or P%% of them) failed\n"
		"  --fail-fast        the same as --max-fail 1\n"
		"  --timeout DUR      end each host's remote command after DUR (e.g. 30s, 5m)\n"
		"  --connect-timeout DUR  give up on a host that has not answered after DUR\n"
		"  --group            gather hosts with identical output and exit code\n"
		"  --json             one JSON object per host on stdout (JSON lines)\n"
		"  --any              a bare SERVICE running on several hosts: use any one of "
		"them\n"
		"  ^C once: the status of every host; twice within a second: cancel everything,\n"
		"  remote commands included.\n"
		"fan-out exit status: 0 when every host's command exited 0; otherwise the sum of\n"
		"  1 some command failed (non-zero exit, signal, --timeout, refused by the agent)\n"
		"  4 some host was unreachable (connect, TLS, lost connection)\n"
		"  8 some hosts were not run (--fail-fast, --max-fail)\n"
		"  and, alone: 2 usage error or no host selected; 125 no selected host runs the\n"
		"  service; 130 cancelled by a second ^C; 255 rexec's own failure (config, TLS).\n",
		FLEET_DEFAULT_PARALLEL);
}

/* The option name ARG starts with, or NULL. */
static const char *match(const char *arg, const char *const *names, size_t n, int with_value)
{
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(names[i]);
		if (strncmp(arg, names[i], len) == 0 &&
		    (arg[len] == 0 || (with_value && arg[len] == '=')))
			return names[i];
	}
	return NULL;
}

int fleet_is_opt(const char *arg)
{
	return match(arg, opts_with_value, N_OF(opts_with_value), 1) != NULL ||
	       match(arg, flags, N_OF(flags), 0) != NULL;
}

/* "N" (1..MAX) or, when PCT may be set, "P%" (1..100). */
static int parse_count(const char *opt, const char *s, unsigned max, unsigned *out, int *pct)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (end == s || errno != 0 || s[0] == '-')
		goto bad;
	if (pct != NULL && *end == '%' && end[1] == 0) {
		if (v < 1 || v > 100)
			goto bad;
		*out = (unsigned)v;
		*pct = 1;
		return 0;
	}
	if (*end != 0 || v < 1 || v > max)
		goto bad;
	*out = (unsigned)v;
	if (pct != NULL)
		*pct = 0;
	return 0;
bad:
	fprintf(stderr, "rexec: %s %s: give a number from 1 to %u%s\n", opt, s, max,
		pct ? " or a percentage (1% to 100%)" : "");
	return -1;
}

static int parse_duration(const char *opt, const char *s, unsigned *ms)
{
	if (yconf_parse_duration(s, ms) < 0 || *ms == 0) {
		fprintf(stderr, "rexec: %s %s: give a duration such as 500ms, 30s, 5m or 1h\n", opt,
			s);
		return -1;
	}
	return 0;
}

int fleet_parse_opt(int argc, char **argv, int *i, struct cli_exec *e)
{
	const char *a = argv[*i], *opt, *val;
	size_t len;

	e->fleet_opts = 1;
	if ((opt = match(a, flags, N_OF(flags), 0)) != NULL) {
		if (strcmp(opt, "--fail-fast") == 0)
			e->fail_fast = 1;
		else if (strcmp(opt, "--group") == 0)
			e->group = 1;
		else if (strcmp(opt, "--json") == 0)
			e->json = 1;
		else
			e->any = 1;
		return 0;
	}
	opt = match(a, opts_with_value, N_OF(opts_with_value), 1);
	if (opt == NULL)
		return -1;
	len = strlen(opt);
	if (a[len] == '=') {
		val = a + len + 1;
	} else if (*i + 1 < argc) {
		val = argv[++*i];
	} else {
		fprintf(stderr, "rexec: %s needs a value\n", opt);
		return -1;
	}
	if (strcmp(opt, "--parallel") == 0)
		return parse_count(opt, val, FLEET_MAX_PARALLEL, &e->parallel, NULL);
	if (strcmp(opt, "--batch") == 0)
		return parse_count(opt, val, 1000000, &e->batch, &e->batch_pct);
	if (strcmp(opt, "--max-fail") == 0)
		return parse_count(opt, val, 1000000, &e->max_fail, &e->max_fail_pct);
	if (strcmp(opt, "--timeout") == 0)
		return parse_duration(opt, val, &e->timeout_ms);
	return parse_duration(opt, val, &e->connect_timeout_ms);
}
