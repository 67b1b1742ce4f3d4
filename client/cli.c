/* cli.c: the table of verbs and options, and the parser and usage text made from it. */
#include "client/cli.h"

#include "client/fleet_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E       CLI_BIT(CLI_EXEC)
#define R       CLI_BIT(CLI_RUN)
#define A       CLI_BIT(CLI_ATTACH)
#define P       CLI_BIT(CLI_PS)
#define ALL     CLI_ALL_VERBS
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x)  STR_(x)

const struct cli_verb_info cli_verbs[] = {
	{ "exec", CLI_EXEC, "[options] HOST [SERVICE] [--] [CMD [ARG...]]",
	  "a new process in a running container (the default verb), or on the host" },
	{ "run", CLI_RUN, "[options] HOST SERVICE [--] [CMD [ARG...]]",
	  "a one-off container from the service's definition" },
	{ "attach", CLI_ATTACH, "[options] HOST SERVICE",
	  "the stdio of the container's main process" },
	{ "ps", CLI_PS, "[options] [HOST]", "the compose containers on the hosts (default: @all)" },
};
const size_t cli_n_verbs = N_OF(cli_verbs);

const struct cli_opt cli_opts[] = {
	{ CLI_OPT_CONFIG, NULL, "--config", CLI_ARG_REQUIRED, "FILE", ALL, 0,
	  "the client configuration (default: $REXEC_CONFIG)" },
	{ CLI_OPT_HELP, "-h", "--help", CLI_ARG_NONE, NULL, ALL, 0, "this text" },
	{ CLI_OPT_VERBOSE, "-v", "--verbose", CLI_ARG_NONE, NULL, E | A | P, 0,
	  "say what happens" },
	{ CLI_OPT_VERBOSE, NULL, "--verbose", CLI_ARG_NONE, NULL, R, 0, "say what happens" },
	{ CLI_OPT_HOST, NULL, "--host", CLI_ARG_NONE, NULL, E, 0,
	  "on the agent's host itself (ssh-style), not in a service" },
	{ CLI_OPT_TTY, "-t", "--tty", CLI_ARG_NONE, NULL, E | R | A, 0,
	  "force a TTY (default: when stdin and stdout are terminals)" },
	{ CLI_OPT_NO_TTY, "-T", "--no-tty", CLI_ARG_NONE, NULL, E | R | A, 0, "never a TTY" },
	{ CLI_OPT_ENV, "-e", "--env", CLI_ARG_REQUIRED, "K=V", E | R, 0,
	  "set a variable (K alone: take it from here)" },
	{ CLI_OPT_USER, "-u", "--user", CLI_ARG_REQUIRED, "USER", E | R, 0, "run as USER" },
	{ CLI_OPT_WORKDIR, "-w", "--workdir", CLI_ARG_REQUIRED, "DIR", E | R, 0, "start in DIR" },
	{ CLI_OPT_PROJECT, NULL, "--project", CLI_ARG_REQUIRED, "P", E | R | A, 0,
	  "the compose project of SERVICE" },
	{ CLI_OPT_CONTAINER, NULL, "--container", CLI_ARG_REQUIRED, "NAME", E | R | A, 0,
	  "a container by name or id instead of SERVICE" },
	{ CLI_OPT_INDEX, NULL, "--index", CLI_ARG_REQUIRED, "N", E | R | A, 0,
	  "replica N of SERVICE (default: the lowest running)" },
	{ CLI_OPT_DETACH, "-d", "--detach", CLI_ARG_NONE, NULL, E | R, 0, "start and return" },
	{ CLI_OPT_PRIVILEGED, NULL, "--privileged", CLI_ARG_NONE, NULL, E, 0,
	  "extended privileges for the process" },
	{ CLI_OPT_NO_STDIN, NULL, "--no-stdin", CLI_ARG_NONE, NULL, A, 0, "do not attach stdin" },
	{ CLI_OPT_SIG_PROXY, NULL, "--sig-proxy", CLI_ARG_INLINE, "=false", A, 0,
	  "=false: signals end the client, not the process" },
	{ CLI_OPT_DETACH_KEYS, NULL, "--detach-keys", CLI_ARG_REQUIRED, "KEYS", A, 0,
	  "the keys that detach (default: ctrl-p,ctrl-q)" },
	{ CLI_OPT_RM, NULL, "--rm", CLI_ARG_NONE, NULL, R, 0, "remove the container afterwards" },
	{ CLI_OPT_NO_DEPS, NULL, "--no-deps", CLI_ARG_NONE, NULL, R, 0,
	  "do not start linked services" },
	{ CLI_OPT_SERVICE_PORTS, NULL, "--service-ports", CLI_ARG_NONE, NULL, R, 0,
	  "publish the service's ports" },
	{ CLI_OPT_USE_ALIASES, NULL, "--use-aliases", CLI_ARG_NONE, NULL, R, 0,
	  "the service's network aliases" },
	{ CLI_OPT_QUIET_PULL, NULL, "--quiet-pull", CLI_ARG_NONE, NULL, R, 0,
	  "pull without progress output" },
	{ CLI_OPT_INTERACTIVE, "-i", "--interactive", CLI_ARG_NONE, NULL, R, 0,
	  "keep stdin open (always, as in compose v2)" },
	{ CLI_OPT_ENTRYPOINT, NULL, "--entrypoint", CLI_ARG_REQUIRED, "CMD", R, 0,
	  "override the image's entrypoint" },
	{ CLI_OPT_NAME, NULL, "--name", CLI_ARG_REQUIRED, "NAME", R, 0, "the container's name" },
	{ CLI_OPT_LABEL, "-l", "--label", CLI_ARG_REQUIRED, "K=V", R, 0,
	  "add a label (repeatable)" },
	{ CLI_OPT_PUBLISH, "-p", "--publish", CLI_ARG_REQUIRED, "SPEC", R, 0,
	  "publish a port (repeatable)" },
	{ CLI_OPT_VOLUME, "-v", "--volume", CLI_ARG_REQUIRED, "SPEC", R, 0,
	  "bind a volume (repeatable)" },
	{ CLI_OPT_PARALLEL, NULL, "--parallel", CLI_ARG_REQUIRED, "N", ALL, 1,
	  "hosts at once (sliding window, default " STR(FLEET_DEFAULT_PARALLEL) ")" },
	{ CLI_OPT_BATCH, NULL, "--batch", CLI_ARG_REQUIRED, "N|P%", ALL, 1,
	  "rolling batches: a batch starts when the previous one ended" },
	{ CLI_OPT_MAX_FAIL, NULL, "--max-fail", CLI_ARG_REQUIRED, "N|P%", ALL, 1,
	  "launch no more hosts once N (or P% of them) failed" },
	{ CLI_OPT_FAIL_FAST, NULL, "--fail-fast", CLI_ARG_NONE, NULL, ALL, 1,
	  "the same as --max-fail 1" },
	{ CLI_OPT_TIMEOUT, NULL, "--timeout", CLI_ARG_REQUIRED, "DUR", ALL, 1,
	  "end each host's remote command after DUR (e.g. 30s, 5m)" },
	{ CLI_OPT_CONNECT_TIMEOUT, NULL, "--connect-timeout", CLI_ARG_REQUIRED, "DUR", ALL, 1,
	  "give up on a host that has not answered after DUR" },
	{ CLI_OPT_GROUP, NULL, "--group", CLI_ARG_NONE, NULL, ALL, 1,
	  "gather hosts with identical output and exit code" },
	{ CLI_OPT_JSON, NULL, "--json", CLI_ARG_NONE, NULL, ALL, 1,
	  "one JSON object per host on stdout (JSON lines)" },
	{ CLI_OPT_ANY, NULL, "--any", CLI_ARG_NONE, NULL, ALL, 1,
	  "a bare SERVICE running on several hosts: use any one" },
};
const size_t cli_n_opts = N_OF(cli_opts);

/* The verbs main.c hands to cmd_pki.c or answers itself, for the verb list of --help; their
 * options are cmd_pki.c's (kept here so that cli.c stands alone in unit tests; the manual's
 * test checks these lines against cmd_pki.c's table). */
static const char *const other_verbs[][2] = {
	{ "ca", "init, crl: the fleet's certificate authority (rexec ca --help)" },
	{ "cert", "issue, show, revoke: certificates (rexec cert --help)" },
	{ "version", "rexec's version (--version too)" },
};

/* The verbs of MASK as "exec, run" into BUF. */
static const char *verb_names(unsigned mask, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < cli_n_verbs; i++)
		if (mask & CLI_BIT(cli_verbs[i].verb))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "",
					      cli_verbs[i].name);
	return buf;
}

/* The options of the verbs in MASK (FAN_OUT: the fan-out ones, else the others), one a line;
 * the verbs that take one in brackets when MASK holds more than they do. */
static void print_opts(FILE *f, unsigned mask, int fan_out)
{
	char left[64], names[64];
	size_t i, j;

	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		unsigned verbs = 0;
		int seen = 0;
		if (!(o->verbs & mask) || o->fan_out != fan_out)
			continue;
		/* -v/--verbose and --verbose alone (run's -v is --volume): one line */
		for (j = 0; j < cli_n_opts; j++) {
			if (strcmp(cli_opts[j].long_name, o->long_name) != 0)
				continue;
			seen |= j < i && (cli_opts[j].verbs & mask);
			verbs |= cli_opts[j].verbs & mask;
		}
		if (seen)
			continue;
		snprintf(left, sizeof(left), "%s%s%s%s%s", o->short_name ? o->short_name : "",
			 o->short_name ? ", " : "    ", o->long_name,
			 o->value && o->arg == CLI_ARG_REQUIRED ? " " : "",
			 o->value ? o->value : "");
		fprintf(f, "  %-26s %s", left, o->help);
		if (verbs != mask)
			fprintf(f, " [%s]", verb_names(verbs, names, sizeof(names)));
		fputc('\n', f);
	}
}

void cli_usage(void *stream, int verb)
{
	FILE *f = stream;
	unsigned mask = verb < 0 ? CLI_ALL_VERBS : CLI_BIT(verb);
	size_t i;

	for (i = 0; i < cli_n_verbs; i++) {
		if (!(mask & CLI_BIT(cli_verbs[i].verb)))
			continue;
		fprintf(f, "%s rexec [--config FILE] %s%s%s %s\n",
			i == 0 || verb >= 0 ? "usage:" : "      ",
			cli_verbs[i].verb == CLI_EXEC ? "[" : "", cli_verbs[i].name,
			cli_verbs[i].verb == CLI_EXEC ? "]" : "", cli_verbs[i].synopsis);
	}
	if (verb < 0) {
		fprintf(f, "       rexec ca|cert SUBCOMMAND [options] | rexec version\n");
		for (i = 0; i < cli_n_verbs; i++)
			fprintf(f, "  %-8s %s\n", cli_verbs[i].name, cli_verbs[i].help);
		for (i = 0; i < N_OF(other_verbs); i++)
			fprintf(f, "  %-8s %s\n", other_verbs[i][0], other_verbs[i][1]);
		fprintf(f, "  rexec VERB --help: that verb's options; the manual: man rexec\n");
	} else {
		fprintf(f, "  %s\n", cli_verbs[verb].help);
	}
	fprintf(f, "options:\n");
	print_opts(f, mask, 0);
	fprintf(f,
		"exit status: the remote command's; 128+N when killed by signal N; 126/127 when "
		"it\ncould not start; 125 when the agent refused; 255 when rexec itself failed.\n");
	fleet_usage_intro(f);
	print_opts(f, mask, 1);
	fleet_usage_outro(f);
}

static int add_env(struct cli_exec *e, const char *kv)
{
	char **nv = realloc(e->env, (e->n_env + 1) * sizeof(*nv));
	char *v;

	if (nv == NULL)
		return -1;
	e->env = nv;
	if (strchr(kv, '=') == NULL) {
		/* docker's rule: -e NAME passes this side's value, if any. */
		const char *val = getenv(kv);
		if (val == NULL)
			return 0;
		if (asprintf(&v, "%s=%s", kv, val) < 0)
			return -1;
	} else if ((v = strdup(kv)) == NULL) {
		return -1;
	}
	e->env[e->n_env++] = v;
	return 0;
}

/* Appends V to the newline-separated list *L. */
static int add_line(char **l, const char *v)
{
	char *n;

	if (asprintf(&n, "%s%s%s", *l ? *l : "", *l ? "\n" : "", v) < 0)
		return -1;
	free(*l);
	*l = n;
	return 0;
}

/* See cli.h. */
const struct cli_opt *cli_find_opt(const char *arg, enum cli_verb verb, const char **val,
				   int *other)
{
	size_t i, n;

	if (other != NULL)
		*other = 0;
	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		const char *v = NULL;
		if (arg[1] == '-') {
			n = strlen(o->long_name);
			if (strncmp(arg, o->long_name, n) != 0 || (arg[n] != 0 && arg[n] != '='))
				continue;
			if (arg[n] == '=')
				v = arg + n + 1;
		} else {
			if (o->short_name == NULL || strncmp(arg, o->short_name, 2) != 0)
				continue;
			if (arg[2] != 0 && o->arg != CLI_ARG_REQUIRED)
				continue;
			if (arg[2] != 0)
				v = arg + 2;
		}
		if (!(o->verbs & CLI_BIT(verb))) {
			if (other != NULL)
				*other = 1;
			continue;
		}
		*val = v;
		return o;
	}
	return NULL;
}

/* Applies option O with value V (NULL for a flag) to E. Returns 0 or -EINVAL after a usage
 * message. */
static int apply(struct cli_exec *e, const struct cli_opt *o, const char *v)
{
	char *end;

	switch (o->id) {
	case CLI_OPT_CONFIG:
		e->config = v;
		return 0;
	case CLI_OPT_HELP:
		return 0; /* cli_parse() */
	case CLI_OPT_VERBOSE:
		e->verbose++;
		return 0;
	case CLI_OPT_HOST:
		e->on_host = 1;
		return 0;
	case CLI_OPT_TTY:
		e->tty = CLI_TTY_FORCE;
		return 0;
	case CLI_OPT_NO_TTY:
		e->tty = CLI_TTY_NONE;
		return 0;
	case CLI_OPT_ENV:
		return add_env(e, v) < 0 ? -ENOMEM : 0;
	case CLI_OPT_USER:
		e->user = v;
		return 0;
	case CLI_OPT_WORKDIR:
		e->workdir = v;
		return 0;
	case CLI_OPT_PROJECT:
		e->project = v;
		return 0;
	case CLI_OPT_CONTAINER:
		e->container = v;
		return 0;
	case CLI_OPT_INDEX:
		e->index = (unsigned)strtoul(v, &end, 10);
		if (*end || e->index == 0 || v[0] == '-') {
			fprintf(stderr, "rexec: --index wants a replica number (1, 2, ...)\n");
			return -EINVAL;
		}
		return 0;
	case CLI_OPT_DETACH:
		e->detach = 1;
		return 0;
	case CLI_OPT_PRIVILEGED:
		e->privileged = 1;
		return 0;
	case CLI_OPT_NO_STDIN:
		e->no_stdin = 1;
		return 0;
	case CLI_OPT_SIG_PROXY:
		e->sig_proxy = !(v != NULL && strcmp(v, "false") == 0);
		return 0;
	case CLI_OPT_DETACH_KEYS:
		e->detach_keys = v;
		return 0;
	case CLI_OPT_RM:
		e->rm = 1;
		return 0;
	case CLI_OPT_NO_DEPS:
		e->no_deps = 1;
		return 0;
	case CLI_OPT_SERVICE_PORTS:
		e->service_ports = 1;
		return 0;
	case CLI_OPT_USE_ALIASES:
		e->use_aliases = 1;
		return 0;
	case CLI_OPT_QUIET_PULL:
		e->quiet_pull = 1;
		return 0;
	case CLI_OPT_INTERACTIVE:
		return 0; /* stdin is kept open whenever there is one, as in compose v2 */
	case CLI_OPT_ENTRYPOINT:
		e->entrypoint = v;
		return 0;
	case CLI_OPT_NAME:
		e->name = v;
		return 0;
	case CLI_OPT_LABEL:
		return add_line(&e->labels, v) < 0 ? -ENOMEM : 0;
	case CLI_OPT_PUBLISH:
		return add_line(&e->publish, v) < 0 ? -ENOMEM : 0;
	case CLI_OPT_VOLUME:
		return add_line(&e->volumes, v) < 0 ? -ENOMEM : 0;
	default:
		return fleet_set_opt(e, o->id, o->long_name, v);
	}
}

/* See cli.h. */
int cli_verb_of(const char *arg)
{
	size_t i;

	for (i = 0; i < cli_n_verbs; i++)
		if (strcmp(arg, cli_verbs[i].name) == 0)
			return (int)cli_verbs[i].verb;
	return -1;
}

/* Whether ARG is `--config` (with its value in the next word) or `--config=FILE`. */
static int is_config(const char *arg)
{
	return strcmp(arg, "--config") == 0 || strncmp(arg, "--config=", 9) == 0;
}

int cli_parse(int argc, char **argv, struct cli_exec *e)
{
	const char *config = NULL, *v;
	enum cli_verb verb = CLI_EXEC;
	int i = 0, ret, other, help = 0, named = 0;

	memset(e, 0, sizeof(*e));
	e->sig_proxy = 1;
	/* `rexec --config F VERB ...`: options of every verb may come before the verb. */
	while (i < argc && is_config(argv[i])) {
		if (argv[i][8] == '=')
			config = argv[i] + 9;
		else if (i + 1 < argc)
			config = argv[++i];
		i++;
	}
	if (i < argc && cli_verb_of(argv[i]) >= 0) {
		verb = (enum cli_verb)cli_verb_of(argv[i++]);
		named = 1;
	}
	e->verb = verb;
	e->config = config;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const struct cli_opt *o;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == 0) {
			if (e->host == NULL) {
				e->host = a;
				continue;
			}
			if (verb == CLI_PS) {
				fprintf(stderr, "rexec ps: one HOST (or selector) only, not %s\n",
					a);
				goto usage;
			}
			if (!e->on_host && e->service == NULL && e->container == NULL) {
				e->service = a;
				continue;
			}
			break; /* the command */
		}
		o = cli_find_opt(a, verb, &v, &other);
		if (o == NULL && other) {
			fprintf(stderr, "rexec %s: %s is not an option of %s\n",
				cli_verbs[verb].name, a, cli_verbs[verb].name);
			goto usage;
		}
		if (o == NULL) {
			fprintf(stderr, "rexec: unknown option %s\n", a);
			goto usage;
		}
		if (o->arg == CLI_ARG_NONE && v != NULL) {
			fprintf(stderr, "rexec: %s takes no value\n", o->long_name);
			goto usage;
		}
		if (o->arg == CLI_ARG_REQUIRED && v == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rexec: %s needs a value\n", a);
				return -EINVAL;
			}
			v = argv[++i];
		}
		help |= o->id == CLI_OPT_HELP;
		if ((ret = apply(e, o, v)) < 0)
			return ret;
	}
	if (help) {
		cli_usage(stdout, named ? (int)verb : -1);
		return CLI_HELP_SHOWN;
	}
	if (verb == CLI_PS && e->host == NULL)
		e->host = "@all";
	if (e->host == NULL)
		goto usage;
	e->cmd = argv + i;
	e->n_cmd = (size_t)(argc - i);
	if (verb == CLI_PS && e->n_cmd > 0) {
		fprintf(stderr, "rexec ps: no command after --\n");
		goto usage;
	}
	return 0;
usage:
	cli_usage(stderr, named ? (int)verb : -1);
	return -EINVAL;
}

void cli_exec_free(struct cli_exec *e)
{
	size_t i;

	for (i = 0; i < e->n_env; i++)
		free(e->env[i]);
	free(e->env);
	e->env = NULL;
	e->n_env = 0;
	free(e->labels);
	free(e->publish);
	free(e->volumes);
	e->labels = e->publish = e->volumes = NULL;
}
