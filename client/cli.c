/* cli.c: parsing of the exec command line. */
#include "client/cli.h"

#include "client/fleet_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(void *stream)
{
	fprintf(stream,
		"usage: rexec [--config FILE] [exec] [options] HOST [SERVICE] [--] [CMD [ARG...]]\n"
		"       rexec ca init DIR | rexec cert issue ... | rexec --version\n"
		"options:\n"
		"  --host             run on the agent's host itself (ssh-style), not in a "
		"service\n"
		"  -t, --tty          force a TTY;  -T, --no-tty: never (default: when stdin and\n"
		"                     stdout are terminals)\n"
		"  -e, --env K=V      set a variable (K alone: take it from here)\n"
		"  -u, --user USER    run as USER\n"
		"  -w, --workdir DIR  start in DIR\n"
		"  -v, --verbose      say what happens\n"
		"exit status: the remote command's; 128+N when killed by signal N; 126/127 when "
		"it\n"
		"could not start; 125 when the agent refused; 255 when rexec itself failed.\n");
	fleet_usage(stream);
}

static int need_value(int argc, char **argv, int *i, const char *opt, const char **out)
{
	size_t n = strlen(opt);

	/* --opt=value, -ovalue */
	if (strncmp(argv[*i], opt, n) == 0 && argv[*i][n] != 0) {
		*out = argv[*i] + n + (argv[*i][n] == '=' ? 1 : 0);
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "rexec: %s needs a value\n", opt);
		return -1;
	}
	*out = argv[++*i];
	return 0;
}

static int is_opt(const char *arg, const char *short_opt, const char *long_opt)
{
	size_t n;

	if (short_opt && strncmp(arg, short_opt, 2) == 0)
		return 1;
	n = strlen(long_opt);
	return strncmp(arg, long_opt, n) == 0 && (arg[n] == 0 || arg[n] == '=');
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

/* The container options (exec, run, attach). Returns 1 when ARGV[*I] was one, 0 when not,
 * -1 after a usage error. */
static int parse_container_opt(int argc, char **argv, int *i, struct cli_exec *e)
{
	const char *a = argv[*i], *v;
	int run = e->verb == CLI_RUN, attach = e->verb == CLI_ATTACH;

	if (is_opt(a, NULL, "--project"))
		return need_value(argc, argv, i, "--project", &e->project) < 0 ? -1 : 1;
	if (is_opt(a, NULL, "--container"))
		return need_value(argc, argv, i, "--container", &e->container) < 0 ? -1 : 1;
	if (is_opt(a, NULL, "--index")) {
		char *end;
		if (need_value(argc, argv, i, "--index", &v) < 0)
			return -1;
		e->index = (unsigned)strtoul(v, &end, 10);
		if (*end || e->index == 0) {
			fprintf(stderr, "rexec: --index wants a replica number (1, 2, ...)\n");
			return -1;
		}
		return 1;
	}
	if (!attach && (strcmp(a, "-d") == 0 || strcmp(a, "--detach") == 0))
		return e->detach = 1;
	if (!run && !attach && strcmp(a, "--privileged") == 0)
		return e->privileged = 1;
	if (attach && strcmp(a, "--no-stdin") == 0)
		return e->no_stdin = 1;
	if (attach && is_opt(a, NULL, "--sig-proxy")) {
		e->sig_proxy = strcmp(a, "--sig-proxy=false") == 0 ? 0 : 1;
		return 1;
	}
	if (attach && is_opt(a, NULL, "--detach-keys"))
		return need_value(argc, argv, i, "--detach-keys", &e->detach_keys) < 0 ? -1 : 1;
	if (!run)
		return 0;
	if (strcmp(a, "--rm") == 0)
		return e->rm = 1;
	if (strcmp(a, "--no-deps") == 0)
		return e->no_deps = 1;
	if (strcmp(a, "--service-ports") == 0)
		return e->service_ports = 1;
	if (strcmp(a, "--use-aliases") == 0)
		return e->use_aliases = 1;
	if (strcmp(a, "--quiet-pull") == 0)
		return e->quiet_pull = 1;
	if (strcmp(a, "-i") == 0 || strcmp(a, "--interactive") == 0)
		return 1; /* stdin is kept open whenever there is one, as in compose v2 */
	if (is_opt(a, NULL, "--entrypoint"))
		return need_value(argc, argv, i, "--entrypoint", &e->entrypoint) < 0 ? -1 : 1;
	if (is_opt(a, NULL, "--name"))
		return need_value(argc, argv, i, "--name", &e->name) < 0 ? -1 : 1;
	if (is_opt(a, "-l", "--label"))
		return need_value(argc, argv, i, a[1] == 'l' ? "-l" : "--label", &v) < 0 ||
				       add_line(&e->labels, v) < 0
			       ? -1
			       : 1;
	if (is_opt(a, "-p", "--publish"))
		return need_value(argc, argv, i, a[1] == 'p' ? "-p" : "--publish", &v) < 0 ||
				       add_line(&e->publish, v) < 0
			       ? -1
			       : 1;
	if (is_opt(a, "-v", "--volume"))
		return need_value(argc, argv, i, a[1] == 'v' ? "-v" : "--volume", &v) < 0 ||
				       add_line(&e->volumes, v) < 0
			       ? -1
			       : 1;
	return 0;
}

int cli_parse_exec(int argc, char **argv, struct cli_exec *e)
{
	const char *val;
	enum cli_verb verb = e->verb;
	int i, r;

	memset(e, 0, sizeof(*e));
	e->verb = verb;
	e->sig_proxy = 1;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == 0) {
			if (e->host == NULL) {
				e->host = a;
				continue;
			}
			if (!e->on_host && e->service == NULL && e->container == NULL) {
				e->service = a;
				continue;
			}
			break; /* the command */
		}
		if (strcmp(a, "--host") == 0) {
			e->on_host = 1;
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--tty") == 0) {
			e->tty = CLI_TTY_FORCE;
		} else if (strcmp(a, "-T") == 0 || strcmp(a, "--no-tty") == 0) {
			e->tty = CLI_TTY_NONE;
		} else if ((e->verb != CLI_RUN && strcmp(a, "-v") == 0) ||
			   strcmp(a, "--verbose") == 0) {
			e->verbose++;
		} else if (is_opt(a, NULL, "--config")) {
			if (need_value(argc, argv, &i, "--config", &e->config) < 0)
				return 2;
		} else if (is_opt(a, "-e", "--env")) {
			if (need_value(argc, argv, &i, a[1] == 'e' ? "-e" : "--env", &val) < 0)
				return 2;
			if (add_env(e, val) < 0)
				return 2;
		} else if (is_opt(a, "-u", "--user")) {
			if (need_value(argc, argv, &i, a[1] == 'u' ? "-u" : "--user", &e->user) < 0)
				return 2;
		} else if (is_opt(a, "-w", "--workdir")) {
			if (need_value(argc, argv, &i, a[1] == 'w' ? "-w" : "--workdir",
				       &e->workdir) < 0)
				return 2;
		} else if ((r = parse_container_opt(argc, argv, &i, e)) != 0) {
			if (r < 0)
				return 2;
		} else if (fleet_is_opt(a)) {
			/* fleet options */
			if (fleet_parse_opt(argc, argv, &i, e) < 0)
				return 2;
		} else {
			fprintf(stderr, "rexec: unknown option %s\n", a);
			cli_usage(stderr);
			return 2;
		}
	}
	if (e->host == NULL) {
		cli_usage(stderr);
		return 2;
	}
	e->cmd = argv + i;
	e->n_cmd = (size_t)(argc - i);
	return 0;
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
