/* policyctl.c: the agent's policy at start-up and on SIGHUP, and --check-policy / --explain
 * (see policyctl.h). As sshd -t checks sshd_config and sudo's visudo -c a sudoers file, a
 * policy can be checked, and each decision explained, by the very code the agent runs. */
#include "agent/policyctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/dev.h"
#include "agent/policy.h"
#include "proto/log.h"

#define MAX_GROUPS  64
#define MAX_TARGETS 8

int policyctl_wanted(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--check-policy") == 0 ||
		    strncmp(argv[i], "--check-policy=", 15) == 0 ||
		    strcmp(argv[i], "--explain") == 0)
			return 1;
	return 0;
}

/* --check-policy FILE. */
static int check_policy(const char *path)
{
	struct policy *p = NULL;
	char err[1024];

	if (policy_load(path, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: %s\n", err);
		return 1;
	}
	printf("%s: ok (%zu rules)\n", path, policy_n_rules(p));
	policy_unref(p);
	return 0;
}

static void explain_usage(void)
{
	fprintf(stderr,
		"usage: rexec-agent --explain --policy FILE --who NAME [--group G]... VERB TARGET\n"
		"           [TARGET...] [--user U] [--default-user U] [--command \"ARGV...\"]\n"
		"           [--option O]...\n"
		"  VERB: exec, run, attach, ps; TARGET: host, PROJECT/SERVICE or container:NAME\n"
		"  (a container matches both its names: give both). Without --user the request\n"
		"  is for the default user, which --default-user names (root when not given).\n"
		"  Options: privileged, volume, publish, entrypoint, env, workdir.\n");
}

enum { X_EXPLAIN = 256, X_POLICY, X_WHO, X_GROUP, X_USER, X_DEFAULT_USER, X_COMMAND, X_OPTION };

/* --explain: the decision for one request, and the rule that made it. */
static int explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "explain", no_argument, NULL, X_EXPLAIN },
		{ "policy", required_argument, NULL, X_POLICY },
		{ "who", required_argument, NULL, X_WHO },
		{ "group", required_argument, NULL, X_GROUP },
		{ "user", required_argument, NULL, X_USER },
		{ "default-user", required_argument, NULL, X_DEFAULT_USER },
		{ "command", required_argument, NULL, X_COMMAND },
		{ "option", required_argument, NULL, X_OPTION },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *user = NULL, *def = "root", *groups[MAX_GROUPS],
		   *targets[MAX_TARGETS];
	struct policy_req r = { .command = "" };
	struct policy_decision d;
	struct policy *p = NULL;
	char err[1024], ubuf[256], rule[1024];
	unsigned bit;
	int c, ret = 2;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case X_EXPLAIN:
			break;
		case X_POLICY:
			path = optarg;
			break;
		case X_WHO:
			r.who = optarg;
			break;
		case X_GROUP:
			if (r.n_groups == MAX_GROUPS) {
				fprintf(stderr, "rexec-agent: at most %d groups\n", MAX_GROUPS);
				return 2;
			}
			groups[r.n_groups++] = optarg;
			break;
		case X_USER:
			user = optarg;
			break;
		case X_DEFAULT_USER:
			def = optarg;
			break;
		case X_COMMAND:
			r.command = optarg;
			break;
		case X_OPTION:
			if (policy_option_parse(optarg, &bit) < 0) {
				fprintf(stderr, "rexec-agent: --option %s: not an option\n",
					optarg);
				explain_usage();
				return 2;
			}
			r.options |= bit;
			break;
		default:
			explain_usage();
			return 2;
		}
	}
	if (path == NULL || r.who == NULL || argc - optind < 2) {
		fprintf(stderr,
			"rexec-agent: --explain needs --policy FILE, --who NAME, a verb and "
			"a target\n");
		explain_usage();
		return 2;
	}
	if (policy_verb_parse(argv[optind], &r.verb) < 0) {
		fprintf(stderr, "rexec-agent: --explain: unknown verb %s (exec, run, attach, ps)\n",
			argv[optind]);
		return 2;
	}
	for (optind++; optind < argc; optind++) {
		if (r.n_targets == MAX_TARGETS) {
			fprintf(stderr, "rexec-agent: at most %d targets\n", MAX_TARGETS);
			return 2;
		}
		targets[r.n_targets++] = argv[optind];
	}
	r.groups = groups;
	r.targets = targets;
	policy_user_literal(user ? user : def, user != NULL, &r.user, ubuf, sizeof(ubuf));
	if (policy_load(path, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: %s\n", err);
		return 2;
	}
	d = policy_decide(p, &r);
	printf("%s\n%s\n", d.allow ? "allow" : "deny",
	       policy_rule_render(p, d.rule, rule, sizeof(rule)));
	ret = d.allow ? 0 : 1;
	policy_unref(p);
	return ret;
}

int policyctl_main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check-policy") == 0) {
			if (i + 1 >= argc || argc != 3) {
				fprintf(stderr, "usage: rexec-agent --check-policy FILE\n");
				return 2;
			}
			return check_policy(argv[i + 1]);
		}
		if (strncmp(argv[i], "--check-policy=", 15) == 0)
			return argc == 2 ? check_policy(argv[i] + 15) : 2;
	}
	return explain(argc, argv);
}

int policyctl_setup(struct agent *a, struct agent_config *cfg)
{
	char err[1024];
	int ret;

	if (cfg->policy != NULL && cfg->allow_all) {
		fprintf(stderr, "rexec-agent: give a policy or --allow-all, not both\n");
		return 2;
	}
	if (cfg->policy == NULL && cfg->dev && !cfg->allow_all &&
	    dev_write_policy(cfg->state_dir, &cfg->policy, err, sizeof(err)) < 0) {
		fprintf(stderr, "rexec-agent: --dev: %s\n", err);
		return 1;
	}
	if (cfg->policy != NULL) {
		if ((ret = policy_load(cfg->policy, &a->policy, err, sizeof(err))) < 0) {
			fprintf(stderr, "rexec-agent: policy: %s\n", err);
			return 2;
		}
		a->policy_path = cfg->policy;
		return 0;
	}
	if (!cfg->allow_all) {
		fprintf(stderr,
			"rexec-agent: no policy: every client of the CA could exec, run and attach "
			"anywhere as anyone. Write a policy (policy: FILE in the config, or "
			"--policy "
			"FILE), test it with `rexec-agent --explain --policy FILE ...`; or start "
			"with --allow-all to accept that\n");
		return 2;
	}
	if ((a->policy = policy_new_allow_all()) == NULL)
		return 1;
	log_warn("--allow-all: no policy; every client of the CA may exec, run and attach "
		 "anywhere as anyone");
	return 0;
}

void policyctl_reload(struct agent *a)
{
	struct policy *p = NULL;
	char err[1024];

	if (a->policy_path == NULL)
		return;
	if (policy_load(a->policy_path, &p, err, sizeof(err)) < 0) {
		log_error("SIGHUP: policy not reloaded, the one loaded before stays in force: %s",
			  err);
		return;
	}
	/* Jobs on the thread pool hold their own reference to the old one. */
	policy_unref(a->policy);
	a->policy = p;
	log_info("SIGHUP: policy %s reloaded (%zu rules)", a->policy_path, policy_n_rules(p));
}
