/* complete.c: the candidates of `rexec __complete` (see complete.h). The command line is
 * walked as cli_parse() walks it, over the same option table, so that completion and parser
 * agree on which option takes a value and where HOST, SERVICE and the command stand; the
 * shell scripts only pass words in and candidates out, as kubectl's (cobra's) do. */
#include "client/complete.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "client/cli.h"
#include "client/cmd_pki.h"
#include "client/config.h"
#include "client/select.h"
#include "client/svccache.h"

#define NAME_MAX_LEN 253 /* as the inventory's names (client/config.c) */
#define MAX_SERVICES 256 /* service names offered from the cache, at most */
#define N_OF(a)      (sizeof(a) / sizeof((a)[0]))

enum directive { DIR_NONE, DIR_FILES, DIR_DIRS };

/* The line being completed, what it says so far, and where the candidates go. */
struct comp {
	FILE *out;
	const char *cur;    /* the word being completed */
	const char *config; /* --config of the line; NULL: $REXEC_CONFIG or the default */
	struct client_config *cfg;
	int cfg_tried;
	char path[4096];
	/* services from the cache (on_service()) */
	const char *pre;             /* a comma list's terms before the current one */
	const struct selection *sel; /* the service must run on one of these; NULL: anywhere */
	char *seen[MAX_SERVICES];
	size_t n_seen;
};

/* A name fit to print: what the inventory allows for host and group names (letters, digits,
 * '.', '_', '-', no leading '-'), which compose keeps service names to as well. Anything else
 * (spaces, quotes, '$', newlines, escape sequences) is skipped, never escaped: it cannot be
 * a name rexec would accept anyway. */
static int safe_name(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '-')
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= NAME_MAX_LEN || (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i])))
			return 0;
	return 1;
}

/* Whether PRE, the terms of a comma list already typed, may be printed back: names and the
 * selector characters only. */
static int safe_prefix(const char *pre)
{
	size_t i;

	for (i = 0; pre[i] != '\0'; i++)
		if (!isalnum((unsigned char)pre[i]) && !strchr("._-@,*?[]!", pre[i]))
			return 0;
	return 1;
}

/* Prints PRE WORD (and a TAB and DESC) when it starts with the word being completed. */
static void emit(struct comp *c, const char *pre, const char *word, const char *desc)
{
	size_t np = strlen(pre), nc = strlen(c->cur);

	if (nc <= np ? strncmp(pre, c->cur, nc) != 0
		     : strncmp(pre, c->cur, np) != 0 || strncmp(word, c->cur + np, nc - np) != 0)
		return;
	/* a description is one line: the first of a help text written for the usage */
	fprintf(c->out, "%s%s%s%.*s\n", pre, word, desc ? "\t" : "",
		desc ? (int)strcspn(desc, "\n") : 0, desc ? desc : "");
}

/* The config the line names (loaded once), or NULL when it is missing or broken: then there
 * are no names to offer and nothing to say. Only a regular file is opened: a FIFO would
 * block the shell. */
static const struct client_config *config(struct comp *c)
{
	const char *p = c->config, *home = getenv("HOME");
	char err[1024];
	struct stat st;
	int n;

	if (c->cfg_tried)
		return c->cfg;
	c->cfg_tried = 1;
	if (p != NULL && strncmp(p, "~/", 2) == 0 && home != NULL) {
		/* the shell has not expanded a word still being typed; it will for the run */
		n = snprintf(c->path, sizeof(c->path), "%s%s", home, p + 1);
		p = n > 0 && (size_t)n < sizeof(c->path) ? c->path : NULL;
	} else if (p == NULL) {
		p = client_config_default_path(c->path, sizeof(c->path));
	}
	if (p == NULL || stat(p, &st) < 0 || !S_ISREG(st.st_mode) ||
	    client_config_load(p, &c->cfg, err, sizeof(err)) < 0)
		c->cfg = NULL;
	return c->cfg;
}

/* The inventory's host names, after PRE. */
static void hosts(struct comp *c, const char *pre)
{
	const struct client_config *cfg = config(c);
	size_t i;

	for (i = 0; cfg != NULL && i < cfg->n_hosts; i++)
		if (safe_name(cfg->hosts[i].name))
			emit(c, pre, cfg->hosts[i].name, "host");
}

/* Whether group G of host I was met before in the inventory's order. */
static int group_seen(const struct client_config *cfg, size_t i, size_t g)
{
	const char *name = cfg->hosts[i].groups[g];
	size_t k, j;

	for (k = 0; k <= i; k++)
		for (j = 0; j < (k < i ? cfg->hosts[k].n_groups : g); j++)
			if (strcmp(cfg->hosts[k].groups[j], name) == 0)
				return 1;
	return 0;
}

/* @all and the inventory's @groups, each once, after PRE. */
static void groups(struct comp *c, const char *pre)
{
	const struct client_config *cfg = config(c);
	char word[NAME_MAX_LEN + 2];
	size_t i, g;

	if (cfg == NULL)
		return;
	emit(c, pre, "@all", "every host");
	for (i = 0; i < cfg->n_hosts; i++)
		for (g = 0; g < cfg->hosts[i].n_groups; g++) {
			const char *name = cfg->hosts[i].groups[g];
			if (!safe_name(name) || group_seen(cfg, i, g))
				continue;
			snprintf(word, sizeof(word), "@%s", name);
			emit(c, pre, word, "group");
		}
}

/* Whether one of the hosts in the comma list HOSTS is in C's selection. */
static int runs_on(const struct comp *c, const char *list)
{
	const char *p = list, *end;
	size_t i, n;

	for (; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		for (i = 0; i < c->sel->n; i++) {
			const char *name = c->cfg->hosts[c->sel->idx[i]].name;
			if (strlen(name) == n && strncmp(name, p, n) == 0)
				return 1;
		}
	}
	return 0;
}

/* svccache_each()'s callback: a service of the cache, printed once when its name is safe
 * and it runs where C wants it. */
static void on_service(void *arg, const char *service, const char *list)
{
	struct comp *c = arg;
	size_t i;

	if (!safe_name(service) || c->n_seen >= MAX_SERVICES || (c->sel && !runs_on(c, list)))
		return;
	for (i = 0; i < c->n_seen; i++)
		if (strcmp(c->seen[i], service) == 0)
			return;
	if ((c->seen[c->n_seen] = strdup(service)) == NULL)
		return;
	c->n_seen++;
	emit(c, c->pre, service, "service");
}

/* The services the cache has seen under this config: on the hosts of SEL, or anywhere. */
static void services(struct comp *c, const struct selection *sel)
{
	if (config(c) == NULL)
		return;
	c->pre = "";
	c->sel = sel;
	svccache_each(c->cfg->path, on_service, c);
	c->sel = NULL;
}

/* The services that run on HOST (a host name or a selector); none when HOST is itself a
 * bare service (what follows is the command) or names no host. */
static void services_on(struct comp *c, const char *host)
{
	const struct client_config *cfg = config(c);
	struct selection sel = { 0 };
	char err[256];

	if (cfg == NULL || select_is_bare_name(cfg, host) ||
	    select_expand(cfg, host, &sel, err, sizeof(err)) != 0) {
		selection_free(&sel);
		return;
	}
	services(c, &sel);
	selection_free(&sel);
}

/* The HOST position: hosts, @groups (the last term of a comma list) and, but for ps, the
 * bare services of the cache. */
static void selector(struct comp *c, enum cli_verb verb)
{
	const char *comma = strrchr(c->cur, ',');
	char pre[512];
	size_t n = comma ? (size_t)(comma - c->cur) + 1 : 0;

	if (n >= sizeof(pre))
		return;
	memcpy(pre, c->cur, n);
	pre[n] = '\0';
	if (!safe_prefix(pre))
		return;
	hosts(c, pre);
	groups(c, pre);
	if (verb != CLI_PS && n == 0)
		services(c, NULL);
}

/* The verbs, where the first word after the leading --config stands. */
static void verbs(struct comp *c)
{
	size_t i;

	for (i = 0; i < cli_n_verbs; i++)
		emit(c, "", cli_verbs[i].name, cli_verbs[i].help);
	emit(c, "", "ca", "a certificate authority: init, crl");
	emit(c, "", "cert", "certificates: issue, show, revoke");
	emit(c, "", "version", "the version of rexec");
}

/* The options of VERB, from the parser's table. */
static void options(struct comp *c, enum cli_verb verb)
{
	char word[64];
	size_t i;

	for (i = 0; i < cli_n_opts; i++) {
		const struct cli_opt *o = &cli_opts[i];
		if (!(o->verbs & CLI_BIT(verb)))
			continue;
		if (o->short_name != NULL)
			emit(c, "", o->short_name, o->help);
		emit(c, "", o->long_name, o->help);
		if (o->arg == CLI_ARG_INLINE && o->value != NULL) {
			snprintf(word, sizeof(word), "%s%s", o->long_name, o->value);
			emit(c, "", word, o->help);
		}
	}
}

/* exec, run, attach, ps: W (N words) walked as cli_parse() walks them. */
static enum directive complete_cli(struct comp *c, int n, char **w)
{
	enum cli_verb verb = CLI_EXEC;
	const struct cli_opt *o;
	const char *host = NULL, *v;
	int i = 0, service = 0, on_host = 0, container = 0;

	while (i < n && (strcmp(w[i], "--config") == 0 || strncmp(w[i], "--config=", 9) == 0)) {
		if (w[i][8] == '=')
			c->config = w[i] + 9;
		else if (i + 1 < n)
			c->config = w[++i];
		else
			return DIR_FILES; /* the value of --config is being typed */
		i++;
	}
	if (i == n && c->cur[0] == '-') {
		options(c, CLI_EXEC);
		if (i == 0) /* `rexec --version` only stands alone */
			emit(c, "", "--version", "the version of rexec");
		return DIR_NONE;
	}
	if (i == n) {
		verbs(c);
		selector(c, CLI_EXEC);
		return DIR_NONE;
	}
	if (cli_verb_of(w[i]) >= 0)
		verb = (enum cli_verb)cli_verb_of(w[i++]);
	for (; i < n; i++) {
		const char *a = w[i];
		if (strcmp(a, "--") == 0)
			return DIR_NONE; /* the command follows */
		if (a[0] != '-' || a[1] == 0) {
			if (host == NULL)
				host = a;
			else if (verb != CLI_PS && !on_host && !service && !container)
				service = 1;
			else
				return DIR_NONE; /* the command */
			continue;
		}
		if ((o = cli_find_opt(a, verb, &v, NULL)) == NULL)
			continue; /* the parser will say what is wrong with it */
		if (o->arg == CLI_ARG_REQUIRED && v == NULL) {
			if (i + 1 == n) /* its value is being typed */
				return o->id == CLI_OPT_CONFIG ? DIR_FILES : DIR_NONE;
			v = w[++i];
		}
		if (o->id == CLI_OPT_CONFIG)
			c->config = v;
		on_host |= o->id == CLI_OPT_HOST;
		container |= o->id == CLI_OPT_CONTAINER;
	}
	if (c->cur[0] == '-')
		options(c, verb);
	else if (host == NULL)
		selector(c, verb);
	else if (verb != CLI_PS && !on_host && !service && !container)
		services_on(c, host);
	return DIR_NONE;
}

/* ---- ca and cert ---- */

/* What an argument of ca/cert is, for its completion. */
enum pki_value { PV_NONE, PV_TEXT, PV_FILE, PV_DIR, PV_HOST };

/* The kind of value option O takes: from cmd_pki's table, which drives the parser too. */
static enum pki_value pki_opt_value(const struct cmd_pki_opt *o)
{
	if (o->value == NULL)
		return PV_NONE;
	switch (o->id) {
	case PKI_OPT_CA:
		return PV_DIR;
	case PKI_OPT_OUT:
	case PKI_OPT_CONFIG:
		return PV_FILE;
	case PKI_OPT_HOST:
		return PV_HOST;
	default:
		return PV_TEXT;
	}
}

/* The kind of SUB's positional argument: its table row says, as it says the name the usage
 * shows (the usage's word may change without changing what the shell offers). */
static enum pki_value pki_pos_value(const struct cmd_pki_sub *sub)
{
	switch (sub->pos_kind) {
	case PKI_POS_FILE:
		return PV_FILE;
	case PKI_POS_DIR:
		return PV_DIR;
	default:
		return PV_NONE;
	}
}

/* The completion of a value or positional argument of kind V. */
static enum directive pki_value(struct comp *c, enum pki_value v)
{
	if (v == PV_HOST)
		hosts(c, "");
	return v == PV_FILE ? DIR_FILES : v == PV_DIR ? DIR_DIRS : DIR_NONE;
}

/* The option of subcommand CMD that ARG is (written without "=VALUE"), or NULL. */
static const struct cmd_pki_opt *pki_find(int cmd, const char *arg)
{
	size_t i;

	for (i = 0; i < cmd_pki_n_opts; i++)
		if ((cmd_pki_opts[i].cmds & (1u << cmd)) && strcmp(cmd_pki_opts[i].name, arg) == 0)
			return &cmd_pki_opts[i];
	return NULL;
}

/* `rexec ca ...` and `rexec cert ...`: W[0] is the verb. */
static enum directive complete_pki(struct comp *c, int n, char **w)
{
	const struct cmd_pki_opt *o;
	int i, k, cmd = -1;

	for (i = 0; i < PKI_N_CMDS; i++) {
		if (strcmp(cmd_pki_subs[i].verb, w[0]) != 0)
			continue;
		if (n == 1 && c->cur[0] != '-')
			emit(c, "", cmd_pki_subs[i].sub, cmd_pki_subs[i].help);
		if (n > 1 && strcmp(cmd_pki_subs[i].sub, w[1]) == 0)
			cmd = i;
	}
	if (cmd < 0) {
		if (n == 1 && c->cur[0] == '-') {
			emit(c, "", "-h", "usage");
			emit(c, "", "--help", "usage");
		}
		return DIR_NONE;
	}
	for (k = 2; k < n; k++) {
		if ((o = pki_find(cmd, w[k])) == NULL || o->value == NULL)
			continue;
		if (k + 1 == n) /* its value is being typed */
			return pki_value(c, pki_opt_value(o));
		if (o->id == PKI_OPT_CONFIG)
			c->config = w[k + 1];
		k++;
	}
	if (c->cur[0] != '-')
		return pki_value(c, pki_pos_value(&cmd_pki_subs[cmd]));
	for (i = 0; i < (int)cmd_pki_n_opts; i++)
		if (cmd_pki_opts[i].cmds & (1u << cmd))
			emit(c, "", cmd_pki_opts[i].name, cmd_pki_opts[i].help);
	emit(c, "", "-h", "usage");
	return DIR_NONE;
}

int complete_main(int argc, char **argv, FILE *out)
{
	struct comp c = { .out = out, .cur = argc > 0 ? argv[argc - 1] : "" };
	int n = argc > 0 ? argc - 1 : 0;
	enum directive d = DIR_NONE;
	size_t i;

	if (n > 0 && (strcmp(argv[0], "ca") == 0 || strcmp(argv[0], "cert") == 0))
		d = complete_pki(&c, n, argv);
	else if (n == 0 || (strcmp(argv[0], "version") != 0 && strcmp(argv[0], "--version") != 0 &&
			    strcmp(argv[0], COMPLETE_ARG) != 0))
		d = complete_cli(&c, n, argv);
	fprintf(out, ":%s\n", d == DIR_FILES ? "files" : d == DIR_DIRS ? "dirs" : "");
	for (i = 0; i < c.n_seen; i++)
		free(c.seen[i]);
	client_config_free(c.cfg);
	return 0;
}
