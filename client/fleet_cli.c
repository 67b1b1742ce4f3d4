/* fleet_cli.c: the values of the fan-out options (their names are in cli.c's table) and
 * the fan-out part of the usage text. */
#include "client/fleet_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yconf.h"

void fleet_usage_intro(void *stream)
{
	fprintf(stream,
		"HOST is a selector: a host name, @GROUP, @all, a glob ('web-*') or a comma list\n"
		"of those; a bare SERVICE (no host of that name) asks the agents which hosts run "
		"it.\n"
		"More than one host selected: fan-out (no TTY, no stdin), with:\n");
}

void fleet_usage_outro(void *stream)
{
	fprintf(stream,
		"  ^C once: the status of every host; twice within a second: cancel everything,\n"
		"  remote commands included.\n"
		"fan-out exit status: 0 when every host's command exited 0; otherwise the sum of\n"
		"  1 some command failed (non-zero exit, signal, --timeout, refused by the agent)\n"
		"  4 some host was unreachable (connect, TLS, lost connection)\n"
		"  8 some hosts were not run (--fail-fast, --max-fail)\n"
		"  and, alone: 2 usage error or no host selected; 125 no selected host runs the\n"
		"  service; 130 cancelled by a second ^C; 255 rexec's own failure (config, "
		"TLS).\n");
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
	return -EINVAL;
}

static int parse_duration(const char *opt, const char *s, unsigned *ms)
{
	if (yconf_parse_duration(s, ms) < 0 || *ms == 0) {
		fprintf(stderr, "rexec: %s %s: give a duration such as 500ms, 30s, 5m or 1h\n", opt,
			s);
		return -EINVAL;
	}
	return 0;
}

int fleet_set_opt(struct cli_exec *e, enum cli_opt_id id, const char *opt, const char *val)
{
	e->fleet_opts = 1;
	switch (id) {
	case CLI_OPT_FAIL_FAST:
		e->fail_fast = 1;
		return 0;
	case CLI_OPT_GROUP:
		e->group = 1;
		return 0;
	case CLI_OPT_JSON:
		e->json = 1;
		return 0;
	case CLI_OPT_ANY:
		e->any = 1;
		return 0;
	case CLI_OPT_PARALLEL:
		return parse_count(opt, val, FLEET_MAX_PARALLEL, &e->parallel, NULL);
	case CLI_OPT_BATCH:
		return parse_count(opt, val, 1000000, &e->batch, &e->batch_pct);
	case CLI_OPT_MAX_FAIL:
		return parse_count(opt, val, 1000000, &e->max_fail, &e->max_fail_pct);
	case CLI_OPT_TIMEOUT:
		return parse_duration(opt, val, &e->timeout_ms);
	case CLI_OPT_CONNECT_TIMEOUT:
		return parse_duration(opt, val, &e->connect_timeout_ms);
	default:
		return -EINVAL;
	}
}
